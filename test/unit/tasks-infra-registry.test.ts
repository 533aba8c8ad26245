// Registry, dataset import/generation, and the rg-check script's output contract.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DatasetParseError,
  generateDataset,
  loadJsonlFile,
  loadJsonlUrl,
  parseJsonl,
  resolveConfig,
  UnknownLevelError,
} from '../../src/tasks/dataset.ts';
import {
  getTask,
  hasTask,
  oracleAnswer,
  scoreEntry,
  TASK_NAMES,
  TASKS,
  UnknownTaskError,
} from '../../src/tasks/registry.ts';
import { RG_DIR } from '../helpers/fixtures.ts';

describe('registry', () => {
  it('holds tasks under their own names', () => {
    for (const name of ['basic_arithmetic', 'chain_sum', 'products', 'gcd', 'lcm', 'count_bits']) {
      expect(getTask(name).name).toBe(name);
    }
    for (const [name, task] of Object.entries(TASKS)) expect(task.name).toBe(name);
    expect(TASK_NAMES).toEqual([...TASK_NAMES].sort());
  });

  it('throws a typed error naming the unknown task', () => {
    expect(hasTask('no_such_task')).toBe(false);
    expect(hasTask('toString')).toBe(false);
    expect(() => getTask('no_such_task')).toThrow(UnknownTaskError);
    expect(() => getTask('no_such_task')).toThrow(/unknown task "no_such_task".*chain_sum/);
  });

  it('scores through scoreEntry, strict or not', () => {
    const entry = { question: 'q', answer: '-23', metadata: {} };
    expect(scoreEntry('chain_sum', 'The answer is -23', entry)).toEqual({ score: 3 / 17 });
    expect(scoreEntry('chain_sum', 'The answer is -23', entry, { strict: true })).toEqual({ score: 0 });
    expect(scoreEntry('chain_sum', '-23.0', entry, { strict: true })).toEqual({ score: 1 });
    expect(oracleAnswer(getTask('chain_sum'), entry)).toBe('-23');
    expect(() => oracleAnswer(getTask('chain_sum'), { ...entry, answer: null })).toThrow(/no answer/);
  });
});

describe('dataset import', () => {
  const good = [
    JSON.stringify({
      task: 'x',
      question: 'q1',
      answer: '1',
      metadata: { source_dataset: 'chain_sum', source_index: 0 },
    }),
    '',
    JSON.stringify({ task: 'gcd', question: 'q2', answer: null, metadata: {}, scores: [] }),
  ].join('\n');

  it('takes the task from metadata.source_dataset, else the task field', () => {
    const items = parseJsonl(good, 'mem');
    expect(items.map((i) => [i.task, i.line])).toEqual([
      ['chain_sum', 1],
      ['gcd', 3],
    ]);
    expect(items[0].entry).toEqual({
      question: 'q1',
      answer: '1',
      metadata: { source_dataset: 'chain_sum', source_index: 0 },
    });
    expect(items[1].raw?.scores).toEqual([]);
  });

  it.each([
    ['{not json', /mem:2: invalid JSON/],
    ['[1,2]', /mem:2: expected a JSON object/],
    ['{"question": 1, "answer": "1", "metadata": {}, "task": "t"}', /mem:2: "question" must be a string/],
    [
      '{"question": "q", "answer": 5, "metadata": {}, "task": "t"}',
      /mem:2: "answer" must be a string or null/,
    ],
    ['{"question": "q", "answer": "1", "task": "t"}', /mem:2: "metadata" must be an object/],
    ['{"question": "q", "answer": "1", "metadata": {}}', /mem:2: no task name/],
  ])('rejects %s with a typed error naming the line', (bad, message) => {
    const text = `${JSON.stringify({ task: 't', question: 'q', answer: 'a', metadata: {} })}\n${bad}`;
    expect(() => parseJsonl(text, 'mem')).toThrow(DatasetParseError);
    expect(() => parseJsonl(text, 'mem')).toThrow(message);
    try {
      parseJsonl(text, 'mem');
    } catch (e) {
      expect((e as DatasetParseError).line).toBe(2);
    }
  });

  it('reads a fixture file in Node', async () => {
    const items = await loadJsonlFile(join(RG_DIR, 'chain_sum.jsonl'));
    expect(items).toHaveLength(25);
    expect(items.every((i) => i.task === 'chain_sum')).toBe(true);
    expect(items[0].entry.answer).toBe('-23');
  });

  it('fetches a URL with the given fetch', async () => {
    const fakeFetch = (async (url: string) =>
      url.endsWith('ok.jsonl')
        ? new Response(good)
        : new Response('nope', { status: 404, statusText: 'Not Found' })) as typeof fetch;
    expect(await loadJsonlUrl('https://x/ok.jsonl', fakeFetch)).toHaveLength(2);
    await expect(loadJsonlUrl('https://x/missing.jsonl', fakeFetch)).rejects.toThrow(/HTTP 404/);
  });
});

describe('dataset generation', () => {
  it('resolves level names and overrides on top of the defaults', () => {
    const gcd = getTask('gcd');
    expect(resolveConfig(gcd)).toEqual(gcd.defaults);
    expect(resolveConfig(gcd, 'trivial').max_value).toBe(20);
    expect(resolveConfig(gcd, { max_value: 50 })).toEqual({ ...gcd.defaults, max_value: 50 });
    expect(() => resolveConfig(gcd, 'nightmare')).toThrow(UnknownLevelError);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = generateDataset('chain_sum', 'easy', 1, 20);
    const b = generateDataset(getTask('chain_sum'), 'easy', 1, 20);
    const c = generateDataset('chain_sum', 'easy', 2, 20);
    expect(a).toEqual(b);
    expect(a.map((i) => i.entry.question)).not.toEqual(c.map((i) => i.entry.question));
    expect(a.map((i) => i.entry.metadata.source_index)).toEqual([...Array(20).keys()]);
  });
});

describe('rg-check script', () => {
  it('prints one MISMATCH line per failure and the counts last, exiting non-zero', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-check-'));
    const entry = { question: 'q', answer: '42', metadata: { source_dataset: 'gcd', source_index: 7 } };
    const line = {
      task: 'gcd',
      index: 7,
      ...entry,
      scores: [
        { candidate: '42', score: 1.0, kind: 'oracle' },
        { candidate: ' 42', score: 0.5, kind: 'bad_record' }, // we compute 2/3
        { candidate: 'x', score: null, kind: 'raised', error: 'ValueError: x' }, // we raise nothing
      ],
      extraction: {
        completion: '<answer>42</answer>',
        extracted: '42',
        score_of_extracted: 1.0,
        variants: [{ name: 'no_tags', completion: '42', strip: true, extracted: null }],
      },
    };
    const other = {
      task: 'not_a_task',
      index: 0,
      question: 'q',
      answer: 'a',
      metadata: {},
      scores: [{ candidate: 'a', score: 1.0, kind: 'oracle' }],
    };
    writeFileSync(join(dir, 'a.jsonl'), `${JSON.stringify(line)}\n${JSON.stringify(other)}\n`);
    let out = '';
    let status = 0;
    try {
      out = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/rg-check.ts', dir], {
        encoding: 'utf8',
      });
    } catch (e) {
      const err = e as { stdout: string; status: number };
      out = err.stdout;
      status = err.status;
    }
    const lines = out.trim().split('\n');
    expect(status).toBe(1);
    expect(lines).toContain('MISMATCH gcd 7 bad_record want=0.5 got=0.6666666666666666');
    expect(lines).toContain('MISMATCH gcd 7 raised want=error got=0.0');
    expect(lines).toContain('MISMATCH not_a_task 0 oracle want=1.0 got=task-not-registered');
    expect(lines.filter((l) => l.startsWith('MISMATCH'))).toHaveLength(3);
    expect(lines.at(-1)).toBe('4 passed, 3 failed');
  });
});
