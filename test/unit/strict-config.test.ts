// Strict experiment configs and flags (issue 15): unknown keys are refused with the closest valid name, a
// top-level array is refused, ranges are checked before any work, bad JSON names the file; the CLIs print
// one clean line (no stack trace) and exit non-zero on bad input.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../scripts/experiment.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { checkExperimentConfig, checkRunnable } from '../../src/experiment/schema.ts';
import { SettingsError } from '../../src/mot/settings.ts';
import { TrainingError } from '../../src/rl/errors.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'motg-strict-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('experiment config schema', () => {
  it('refuses a typo with the closest valid name, naming the file and the field', () => {
    const p = file('typo.json', JSON.stringify({ trainer: { grpo: { max_step: 1 } } }));
    expect(() => parseArgs([p])).toThrow(SettingsError);
    expect(() => parseArgs([p])).toThrow(
      `${p}: trainer.grpo.max_step: unknown key; did you mean "max_steps"?`,
    );
    const top = file('top.json', JSON.stringify({ evalevery: 2 }));
    expect(() => parseArgs([top])).toThrow(/evalevery: unknown key; did you mean "evalEvery"\?/);
  });

  it('refuses a top-level array, __proto__ keys and wrongly typed values', () => {
    expect(() => parseArgs([file('array.json', '[{"trainer": {}}]')])).toThrow(
      /array.json: \(top level\): must be a JSON object, got an array/,
    );
    expect(() => parseArgs([file('proto.json', '{"__proto__": {"cpu": true}}')])).toThrow(
      /__proto__: unknown key/,
    );
    expect(() => parseArgs([file('type.json', '{"evalN": "4"}')])).toThrow(/evalN: .* not a finite number/);
    expect(() => parseArgs([file('matrix.json', '{"matrix": {"preset": ["dirichlett"]}}')])).toThrow(
      /matrix.preset\[0\]: "dirichlett" is not one of/,
    );
    expect(() => parseArgs([file('zero.json', '{"trainer": {"grpo": {"max_steps": 0}}}')])).toThrow(
      /max_steps: must be ≥ 1/,
    );
  });

  it('bad JSON and a missing file name the file', () => {
    const p = file('bad.json', '{"trainer": ');
    expect(() => parseArgs([p])).toThrow(EngineError);
    expect(() => parseArgs([p])).toThrow(`${p}: invalid JSON`);
    expect(() => parseArgs([join(dir, 'none.json')])).toThrow(/none.json: cannot read the config \(ENOENT\)/);
  });

  it('accepts a run’s own config.json (its `resolved` is ignored) and the ready-made configs', () => {
    const p = file('asrun.json', JSON.stringify({ evalEvery: 2, resolved: { anything: 1 }, trainer: {} }));
    expect(parseArgs([p]).evalEvery).toBe(2);
    for (const f of ['tiny-protocol', 'builtin-protocol', 'paper-protocol'])
      expect(() => parseArgs([join(ROOT, 'experiments', `${f}.json`)])).not.toThrow();
  });

  it('a value nested 20,000 lists deep is refused, not a RangeError (found by the fuzz suite)', () => {
    const deep = JSON.parse(`${'['.repeat(20_000)}1${']'.repeat(20_000)}`);
    for (const cfg of [{ evalN: deep }, { trainer: { grpo: { max_steps: deep } } }])
      expect(() => checkRunnable(checkExperimentConfig(cfg, 'x.json'))).toThrow(
        /x\.json: \(top level\): nested more than 32 levels deep/,
      );
  });

  it('checkRunnable of a config file without a trainer checks the defaults (fuzz: was a TypeError)', () => {
    const cfg = checkExperimentConfig({ name: 'no-trainer', evalEvery: 1 }, 'x.json');
    expect(() => checkRunnable(cfg)).not.toThrow();
    const bad = checkExperimentConfig({ trainer: { mode: 'half' } }, 'x.json');
    expect(() => checkRunnable(bad)).toThrow(SettingsError);
  });
});

describe('experiment flags', () => {
  it.each([
    [['--eval-every', '-1'], /--eval-every: must be ≥ 0, got -1/],
    [['--eval-n', '0'], /--eval-n: must be ≥ 1, got 0/],
    [['--steps', '2.5'], /--steps: must be an integer/],
    [['--group', 'x'], /--group: NaN is not a finite number/],
    [['--lr', '-1'], /--lr: must be > 0/],
    [['--checkpoint-every', '-2'], /--checkpoint-every: must be ≥ 0/],
    [['--preset', 'dirichlett'], /--preset: "dirichlett" is not one of/],
    [['--stpes', '3'], /--stpes: unknown argument; did you mean "--steps"\?/],
    [['--steps'], /--steps: needs a value/],
  ])('%j is refused at start', (args, message) => {
    expect(() => parseArgs(args)).toThrow(SettingsError);
    expect(() => parseArgs(args)).toThrow(message);
  });

  it('an unknown task is refused at start', () => {
    expect(() => parseArgs(['--task', 'chain_summ'])).toThrow(TrainingError);
    expect(() => parseArgs(['--task', '__proto__'])).toThrow(/unknown task "__proto__"/);
  });

  it('sets --checkpoint-every and --resume', () => {
    const cfg = parseArgs(['--checkpoint-every', '2', '--resume']);
    expect(cfg.checkpointEvery).toBe(2);
    expect(cfg.resume).toBe(true);
  });
});

function cli(script: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((ok) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT }, (err, _out, stderr) =>
      ok({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr }),
    );
  });
}

describe('CLIs print one clean line on bad input', () => {
  it.each([
    ['scripts/experiment.ts', ['--cpu', '--eval-n', '0'], /^SettingsError: --eval-n: must be ≥ 1, got 0$/],
    ['scripts/experiment.ts', ['{missing}.json'], /^EngineError: \{missing\}.json: cannot read the config/],
    ['scripts/rg-check.ts', ['/nonexistent/folder'], /^cannot read folder \/nonexistent\/folder \(ENOENT\)$/],
    ['scripts/evaluate.ts', ['--bogus', '1'], /^Error: unknown option --bogus/],
  ])(
    '%s %j',
    async (script, args, message) => {
      const r = await cli(script, args);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim()).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    },
    60_000,
  );

  it('rg-check with a bad file names the file and line', async () => {
    const bad = mkdtempSync(join(dir, 'rg-'));
    writeFileSync(
      join(bad, 'x.jsonl'),
      '{"task": "gcd", "question": "q", "answer": "1", "metadata": {}}\n{oops\n',
    );
    const r = await cli('scripts/rg-check.ts', [bad]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^DatasetParseError: .*x\.jsonl:2: invalid JSON/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);
});
