// Dataset import (issue 15): unknown tasks (and `__proto__`), invalid UTF-8, empty files and lines over the
// size cap are refused with a DatasetParseError naming the line; a leading BOM is dropped.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DatasetParseError,
  loadJsonlFile,
  MAX_LINE_BYTES,
  parseJsonl,
  parseJsonlBytes,
} from '../../src/tasks/dataset.ts';

const dir = mkdtempSync(join(tmpdir(), 'motg-dataset-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entry = (task: string) =>
  JSON.stringify({ question: 'q', answer: '1', metadata: { source_dataset: task } });
const GOOD = entry('chain_sum');
const enc = (s: string) => new TextEncoder().encode(s);

function refused(run: () => unknown, line: number, message: RegExp): void {
  expect(run).toThrow(DatasetParseError);
  expect(run).toThrow(message);
  try {
    run();
  } catch (e) {
    expect((e as DatasetParseError).line).toBe(line);
  }
}

describe('dataset import', () => {
  it('refuses unknown tasks and __proto__, naming the line', () => {
    refused(() => parseJsonl(`${GOOD}\n${entry('chain_summ')}`, 'd'), 2, /^d:2: unknown task "chain_summ"/);
    refused(() => parseJsonl(`${GOOD}\n\n${entry('__proto__')}`, 'd'), 3, /d:3: unknown task "__proto__"/);
    refused(() => parseJsonl(`${entry('constructor')}`, 'd'), 1, /unknown task "constructor"/);
    // rg-check keeps them (it reports each as a mismatch).
    expect(parseJsonl(entry('not_a_task'), 'd', { allowUnknownTasks: true })[0].task).toBe('not_a_task');
  });

  it('refuses invalid UTF-8, naming the line', () => {
    const bytes = new Uint8Array([...enc(`${GOOD}\n${GOOD}\n`), 0x7b, 0xff, 0xfe, 0x7d, 0x0a]);
    refused(() => parseJsonlBytes(bytes, 'd'), 3, /^d:3: not valid UTF-8$/);
  });

  it('refuses empty and blank files', () => {
    refused(() => parseJsonl('', 'd'), 0, /^d:0: empty: no JSONL entries/);
    refused(() => parseJsonlBytes(enc('\n  \r\n'), 'd'), 0, /empty/);
  });

  it('refuses a line over the size cap before parsing it', () => {
    const long = `{"question": "${'x'.repeat(MAX_LINE_BYTES)}", "answer": "1", "metadata": {}}`;
    refused(() => parseJsonlBytes(enc(`${GOOD}\n${long}\n`), 'd'), 2, /d:2: line longer than 1048576 bytes/);
    refused(() => parseJsonl(`${GOOD}\n${long}`, 'd'), 2, /d:2: line longer than 1048576 characters/);
  });

  it('drops a leading BOM; a BOM elsewhere is shown escaped, not as an invisible character', () => {
    expect(parseJsonlBytes(enc(`\ufeff${GOOD}\n`), 'd')).toHaveLength(1);
    expect(parseJsonl(`\ufeff${GOOD}`, 'd')[0].task).toBe('chain_sum');
    refused(() => parseJsonl(`${GOOD}\n\ufeff${GOOD}`, 'd'), 2, /d:2: invalid JSON .*\\ufeff/);
    try {
      parseJsonl(`${GOOD}\n\ufeff${GOOD}`, 'd');
    } catch (e) {
      expect((e as Error).message).not.toContain('\ufeff');
    }
  });

  it('reads files as bytes with the same checks, and names a missing file', async () => {
    const p = join(dir, 'a.jsonl');
    writeFileSync(p, Buffer.from([...enc(`\ufeff${GOOD}\n`), 0xc3, 0x28, 0x0a]));
    await expect(loadJsonlFile(p)).rejects.toThrow(`${p}:2: not valid UTF-8`);
    await expect(loadJsonlFile(join(dir, 'none.jsonl'))).rejects.toThrow(
      /none.jsonl:0: cannot read \(ENOENT\)/,
    );
  });
});
