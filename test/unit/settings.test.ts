// The experiment settings in a link (URL hash) and from untrusted objects (imported runs): round trips,
// only non-defaults in the hash, invalid values dropped, the GRPO form's fields (`g.*`) included.
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  sanitizeSettings,
  sanitizeTrainForm,
  settingsFromHash,
  settingsToHash,
} from '../../src/store/settings.ts';
import { DEFAULT_TRAIN_FORM, type TrainForm, trainingSettingsOf } from '../../src/store/trainForm.ts';
import type { ExperimentSettings } from '../../src/store/types.ts';

const withTrain = (patch: Partial<TrainForm>): ExperimentSettings => ({
  ...DEFAULT_SETTINGS,
  train: { ...DEFAULT_TRAIN_FORM, ...patch },
});

describe('settings in the URL hash', () => {
  it('the defaults make an empty hash and read back as the defaults', () => {
    expect(settingsToHash(DEFAULT_SETTINGS)).toBe('');
    expect(settingsFromHash('')).toEqual(DEFAULT_SETTINGS);
  });

  it('decode, eval and memory fields round-trip', () => {
    const s: ExperimentSettings = {
      model: { kind: 'hub', id: 'org/model', revision: 'v2' },
      memory: { ...DEFAULT_SETTINGS.memory, group: 2, recompute: true },
      decode: { ...DEFAULT_SETTINGS.decode, temperature: 0.5, preset: 'soft-tokens', text: 'a & b=c' },
      eval: { ...DEFAULT_SETTINGS.eval, tasks: ['chain_sum'], n: 3 },
      train: DEFAULT_TRAIN_FORM,
    };
    const hash = settingsToHash(s);
    expect(hash).toContain('t=0.5');
    expect(hash).toContain('m.g=2');
    expect(settingsFromHash(hash)).toEqual(s);
  });

  it('every GRPO form field round-trips under its g. key', () => {
    const train: TrainForm = {
      tasks: [
        { task: 'chain_sum', level: 'trivial', weight: 1 },
        { task: 'leg_counting', level: 'trivial', weight: 2.5 },
      ],
      preset: 'soft-tokens',
      likelihood: 'exact',
      G: 2,
      prompts: 3,
      maxCompletion: 8,
      temperature: 0.7,
      learningRate: 3e-6,
      optim: 'sgd',
      beta: 0.04,
      epsilon: 0.3,
      steps: 3,
      seed: 7,
      mode: 'lora',
      loraRank: 16,
      checkpointEvery: 3,
      continueRun: true,
    };
    const hash = settingsToHash({ ...DEFAULT_SETTINGS, train });
    const p = new URLSearchParams(hash.slice(1));
    expect(p.get('g.tasks')).toBe('chain_sum:trivial:1,leg_counting:trivial:2.5');
    expect(p.get('g.G')).toBe('2');
    expect(p.get('g.steps')).toBe('3');
    expect(p.get('g.new')).toBe('8');
    expect(p.get('g.mode')).toBe('lora');
    expect(p.get('g.r')).toBe('16');
    expect(p.get('g.lr')).toBe(String(3e-6));
    expect(p.get('g.opt')).toBe('sgd');
    expect(settingsFromHash(hash).train).toEqual(train);
  });

  it('only the GRPO fields that differ from the defaults land in the hash', () => {
    expect(settingsToHash(withTrain({ G: 2, steps: 3 }))).toBe('#g.G=2&g.steps=3');
  });

  it('invalid GRPO values are dropped (the field keeps its default)', () => {
    const s = settingsFromHash(
      '#g.G=1&g.steps=2.5&g.p=0&g.new=-1&g.t=9&g.lr=0&g.beta=x&g.eps=1&g.seed=-3&g.mode=qlora&g.r=0' +
        '&g.preset=nope&g.lik=sometimes&g.opt=adam',
    );
    expect(s.train).toEqual(DEFAULT_TRAIN_FORM);
    // Valid ones beside invalid ones still apply.
    expect(settingsFromHash('#g.G=65&g.steps=4').train).toEqual({ ...DEFAULT_TRAIN_FORM, steps: 4 });
  });

  it('a task mix drops unknown tasks and levels, weights that are not > 0 and repeats', () => {
    const s = settingsFromHash(
      `#g.tasks=${encodeURIComponent(
        'no_such_task:trivial:1,chain_sum:nope:1,leg_counting:trivial:0,basic_arithmetic:trivial:-2,' +
          'chain_sum:trivial:x,chain_sum:trivial,chain_sum:trivial:1:9,leg_counting:trivial:2,' +
          'leg_counting:trivial:3,chain_sum:trivial:0.5',
      )}`,
    );
    expect(s.train.tasks).toEqual([
      { task: 'leg_counting', level: 'trivial', weight: 2 },
      { task: 'chain_sum', level: 'trivial', weight: 0.5 },
    ]);
    // A mix with nothing valid left keeps the default mix.
    expect(settingsFromHash('#g.tasks=bogus:x:1').train.tasks).toEqual(DEFAULT_TRAIN_FORM.tasks);
  });

  it('a link over other settings resets what it leaves out (the base is not mutated)', () => {
    const base = withTrain({ G: 8 });
    const s = settingsFromHash('#g.steps=5', base);
    expect(s.train.G).toBe(8);
    expect(s.train.steps).toBe(5);
    s.train.tasks[0].weight = 9;
    expect(base.train.tasks[0].weight).toBe(1);
  });
});

describe('settings from untrusted objects (imported runs)', () => {
  it('non-objects give the defaults', () => {
    expect(sanitizeSettings(null)).toEqual(DEFAULT_SETTINGS);
    expect(sanitizeSettings('x')).toEqual(DEFAULT_SETTINGS);
  });

  it('a file without a train section gets the default form', () => {
    const { train: _drop, ...old } = withTrain({ G: 2 });
    expect(sanitizeSettings(old).train).toEqual(DEFAULT_TRAIN_FORM);
  });

  it('valid train values are kept, invalid ones and wrong types replaced by defaults', () => {
    const form = sanitizeTrainForm({
      tasks: [
        { task: 'chain_sum', level: 'trivial', weight: 2 },
        { task: 'evil', level: 'trivial', weight: 1 },
        'chain_sum:trivial:1',
        { task: 'leg_counting', level: 'trivial', weight: Number.POSITIVE_INFINITY },
      ],
      G: 3,
      steps: 'many',
      mode: 'lora',
      loraRank: -4,
      preset: { toString: () => 'dirichlet' },
      learningRate: 1e-4,
      extra: 'ignored',
    });
    expect(form).toEqual({
      ...DEFAULT_TRAIN_FORM,
      tasks: [{ task: 'chain_sum', level: 'trivial', weight: 2 }],
      G: 3,
      mode: 'lora',
      learningRate: 1e-4,
    });
    expect(sanitizeTrainForm({ tasks: 'chain_sum:trivial:3' })).toEqual(DEFAULT_TRAIN_FORM);
    expect(sanitizeTrainForm(undefined)).toEqual(DEFAULT_TRAIN_FORM);
  });
});

describe('the GRPO form as engine settings', () => {
  it('LoRA runs ask for a fresh adapter of the form rank; full runs for none', () => {
    expect(trainingSettingsOf({ ...DEFAULT_TRAIN_FORM, mode: 'lora', loraRank: 4 }).lora).toEqual({ r: 4 });
    const full = trainingSettingsOf(DEFAULT_TRAIN_FORM);
    expect(full.mode).toBe('full');
    expect(full.lora).toBeUndefined();
    expect(full.grpo?.num_generations).toBe(DEFAULT_TRAIN_FORM.G);
  });
});
