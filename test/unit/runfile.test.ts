// Run files keep the Train panel's GRPO runs: written by export and the page's autosave, read back from
// untrusted files (checked, NaN-safe), older files without training still read, train.csv has one row
// per (run, step) with every metric.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { StepMetrics } from '../../src/rl/metrics.ts';
import {
  newRun,
  parseRunFile,
  RunFileError,
  STEP_NULLABLE_ARRAYS,
  STEP_NULLABLE_SCALARS,
  STEP_SCALARS,
  trainCsv,
} from '../../src/store/lib/runFile.ts';
import { DEFAULT_SETTINGS } from '../../src/store/settings.ts';
import { DEFAULT_TRAIN_FORM } from '../../src/store/trainForm.ts';
import type { RunFile, TrainRunRecord } from '../../src/store/types.ts';

function metrics(step: number): StepMetrics {
  const m: Record<string, unknown> = { step, skipped: false, hiddenEntropy: [1.5, 2.25] };
  for (const k of STEP_SCALARS) if (k !== 'step') m[k] = step / 10;
  m.hiddenEntropyByPosition = [0.5];
  for (const k of [...STEP_NULLABLE_SCALARS, ...STEP_NULLABLE_ARRAYS]) m[k] = null;
  return m as unknown as StepMetrics;
}

function trainRun(patch: Partial<TrainRunRecord> = {}): TrainRunRecord {
  return {
    id: 'train-a',
    label: '#1 dirichlet G=2',
    form: { ...DEFAULT_TRAIN_FORM, G: 2, steps: 3 },
    backend: 'webgpu',
    status: 'finished',
    maxSteps: 3,
    history: [metrics(1), metrics(2), metrics(3)],
    latest: {
      G: 2,
      rollouts: [
        {
          task: 'chain_sum',
          question: 'What is 1 + 2?',
          completion: 'x </think> <answer>3</answer>',
          reward: 1.2,
          answer: '3',
          score: 1,
          advantage: 0.7,
          length: 8,
          stopReason: 'eos',
        },
      ],
    },
    ...patch,
  };
}

function runWith(train: TrainRunRecord[]): RunFile {
  const r = newRun('test', DEFAULT_SETTINGS, 'test', null);
  r.train = train;
  return r;
}

describe('training runs in a run file', () => {
  it('a new run has no training runs', () => {
    expect(newRun('x', DEFAULT_SETTINGS, 'y', null).train).toEqual([]);
  });

  it('round-trips through JSON, NaN included (written as null)', () => {
    const t = trainRun();
    t.history[1].gradNorm = Number.NaN;
    const back = parseRunFile(JSON.stringify(runWith([t])));
    expect(back.train).toHaveLength(1);
    expect(back.train[0].history).toHaveLength(3);
    expect(Number.isNaN(back.train[0].history[1].gradNorm)).toBe(true);
    expect(back.train[0].history[2]).toEqual(t.history[2]);
    expect(back.train[0].form).toEqual(t.form);
    expect(back.train[0].latest).toEqual(t.latest);
    expect(back.train[0].status).toBe('finished');
  });

  it('files without `train` (older exports) read with none', () => {
    const old = runWith([]) as Partial<RunFile>;
    delete old.train;
    expect(parseRunFile(JSON.stringify(old)).train).toEqual([]);
  });

  it('the bundled example reads with its two finished GRPO runs (the matched discrete-top-k baseline and the default preset)', () => {
    const example = parseRunFile(readFileSync('public/example-run.json', 'utf8'));
    expect(example.train.map((r) => r.form.preset)).toEqual(['discrete-top-k', 'dirichlet']);
    for (const r of example.train) {
      expect(r.status).toBe('finished');
      expect(r.history).toHaveLength(r.maxSteps);
    }
  });

  it('untrusted content is checked: bad shapes refused, bad values replaced', () => {
    const bad = (train: unknown) => JSON.stringify({ ...runWith([]), train });
    expect(() => parseRunFile(bad('no'))).toThrow(RunFileError);
    expect(() => parseRunFile(bad([{ id: 'x' }]))).toThrow(/train\[0\]: needs a history/);
    expect(() => parseRunFile(bad([{ history: [{ rewardMean: 1 }] }]))).toThrow(/needs a step number/);
    const [t] = parseRunFile(
      bad([
        {
          history: [{ step: 1, kl: 'big', hiddenEntropy: 'x', skipped: 'yes' }],
          status: 'hacked',
          form: { G: 1e9, tasks: [{ task: 'nope', level: 'trivial', weight: 1 }] },
          maxSteps: -1,
          latest: { G: 2, rollouts: [{ completion: 'a'.repeat(5000), reward: '1' }, 7] },
        },
      ]),
    ).train;
    expect(t.id).toBe('train-1');
    expect(t.status).toBe('interrupted');
    expect(t.form).toEqual(DEFAULT_TRAIN_FORM);
    expect(t.maxSteps).toBe(1);
    expect(Number.isNaN(t.history[0].kl)).toBe(true);
    expect(t.history[0].hiddenEntropy).toEqual([]);
    expect(t.history[0].skipped).toBe(false);
    expect(t.latest?.rollouts).toHaveLength(1);
    expect(t.latest?.rollouts[0].completion.length).toBe(2000);
    expect(Number.isNaN(t.latest?.rollouts[0].reward)).toBe(true);
  });

  it('a run that was running when the file was written reads as interrupted', () => {
    const back = parseRunFile(JSON.stringify(runWith([trainRun({ status: 'running' })])));
    expect(back.train[0].status).toBe('interrupted');
  });
});

describe('metrics that may not apply (null)', () => {
  it('round-trip as numbers, lists or null, absent ones read as null, and have CSV columns', () => {
    const mixed = {
      ...metrics(1),
      mixingStepFraction: 0.25,
      weightEntropy: null,
      mixNormRatio: 0.98,
      mixNearestCosine: null,
      hiddenEntropyScaleFree: [3.5, 3.25],
      hiddenEntropyByReasoningQuarter: [0.5, Number.NaN, 0.25, 1],
      hiddenEntropyScaleFreeByReasoningQuarter: null,
    } as StepMetrics;
    const back = parseRunFile(JSON.stringify(runWith([trainRun({ history: [mixed] })]))).train[0].history[0];
    expect(back).toEqual(mixed);
    const old = parseRunFile(JSON.stringify(runWith([trainRun({ history: [metrics(2)] })]))).train[0]
      .history[0];
    expect(old.mixNormRatio).toBeNull();
    expect(old.hiddenEntropyScaleFree).toBeNull();
    const lines = trainCsv(runWith([trainRun({ history: [mixed] })]))
      .trim()
      .split('\n');
    const header = lines[0].split(',');
    const row = lines[1].split(',');
    expect(row[header.indexOf('mixing_step_fraction')]).toBe('0.25');
    expect(row[header.indexOf('weight_entropy')]).toBe('');
    expect(row[header.indexOf('hidden_entropy_scale_free')]).toBe('3.500000 3.250000');
  });
});

describe('train.csv', () => {
  it('has a header and one row per (run, step) with every scalar metric and the per-layer list', () => {
    const csv = trainCsv(runWith([trainRun(), trainRun({ id: 'train-b', history: [metrics(1)] })]));
    const lines = csv.trim().split('\n');
    expect(lines).toHaveLength(1 + 3 + 1);
    const header = lines[0].split(',');
    for (const col of ['run', 'step', 'reward_mean', 'kl', 'grad_norm', 'tokens_per_second', 'skipped'])
      expect(header).toContain(col);
    expect(header).toContain('hidden_entropy_per_layer');
    expect(header.length).toBeGreaterThanOrEqual(STEP_SCALARS.length + 10);
    const row = lines[3].split(',');
    expect(row).toHaveLength(header.length);
    expect(row[header.indexOf('run')]).toBe('train-a');
    expect(row[header.indexOf('label')]).toBe('#1 dirichlet G=2');
    expect(row[header.indexOf('step')]).toBe('3');
    expect(row[header.indexOf('kl')]).toBe('0.3');
    expect(row[header.indexOf('hidden_entropy_per_layer')]).toBe('1.500000 2.250000');
    expect(lines[4].split(',')[0]).toBe('train-b');
  });

  it('a run without training runs still has the header', () => {
    expect(trainCsv(runWith([])).trim().split('\n')).toHaveLength(1);
  });
});
