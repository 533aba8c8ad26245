// Training that fails loudly (issue 15), on the CPU reference: an update that would leave a parameter
// non-finite or past PARAMETER_LIMIT is refused and the parameters and optimizer state stay exactly as
// before; after max_consecutive_skipped_steps skipped steps in a row the run stops with
// TrainingError('non-finite-update'); `npm run experiment` then exits 1 with one line and exports nothing
// (`--lr 1e30`, and an all-NaN model); the page's run list counts skipped steps and the charts mark them.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { runExperiment } from '../../scripts/experiment.ts';
import { parseSafetensors, writeSafetensors } from '../../src/engine/model/safetensors.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { AdamW, guardedUpdate, Sgd } from '../../src/engine/train/optim.ts';
import { SettingsError } from '../../src/mot/settings.ts';
import { TrainingError } from '../../src/rl/errors.ts';
import type { StepMetrics } from '../../src/rl/metrics.ts';
import { makeGrpoSettings } from '../../src/rl/settings.ts';
import type { GrpoTrainer, TrainerConfigInput } from '../../src/rl/trainer.ts';
import { skippedSteps, skippedStepsOfRuns } from '../../src/store/lib/skippedSteps.ts';
import { Engine } from '../../src/worker/engine.ts';
import { digitReward } from '../helpers/rewards.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'public/models/motg-tiny-random');
const BUILTIN = join(ROOT, 'public/models/motg-builtin');
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'motg-loud-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const grpo = (over: TrainerConfigInput['grpo'] = {}): TrainerConfigInput['grpo'] => ({
  num_generations: 2,
  per_device_train_batch_size: 2,
  gradient_accumulation_steps: 1,
  max_completion_length: 8,
  learning_rate: 3e-4,
  optim: 'adamw',
  max_steps: 8,
  seed: 5,
  ...over,
});

const trainerConfig = (over: TrainerConfigInput['grpo'] = {}): TrainerConfigInput => ({
  preset: 'dirichlet',
  tasks: [{ task: 'chain_sum', level: 'trivial' }],
  mot: { paperTemperature: 'one' },
  grpo: grpo(over),
});

const readMetrics = (out: string): StepMetrics[] =>
  readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as StepMetrics);

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('the run did not fail');
}

describe('guardedUpdate: all or nothing', () => {
  for (const make of [() => new AdamW({ weightDecay: 0 }), () => new Sgd({ momentum: 0.9 })]) {
    it(`${make().kind}: an update past PARAMETER_LIMIT leaves parameters and state exactly as before`, () => {
      const opt = make();
      const params = new Map([
        ['a', Float32Array.from([0.5, -1, 2])],
        ['b', Float32Array.from([3, 4])],
      ]);
      const grads = new Map([
        ['a', Float32Array.from([0.1, 0.2, -0.3])],
        ['b', Float32Array.from([1, -1])],
      ]);
      expect(guardedUpdate(opt, params, grads, 1e-2)).toEqual({ applied: true });
      const before = new Map([...params].map(([k, v]) => [k, v.slice()]));
      const state = opt.state();
      const r = guardedUpdate(opt, params, grads, 1e30);
      expect(r).toEqual({ applied: false, tensor: 'a' });
      for (const [k, v] of params) expect(v).toEqual(before.get(k));
      expect(opt.state()).toEqual(state);
      expect(opt.step).toBe(1);
      // A NaN gradient on the first update: no slot is left behind either.
      const fresh = make();
      const nan = new Map([['b', Float32Array.from([Number.NaN, 0])]]);
      expect(guardedUpdate(fresh, params, nan, 1e-2)).toEqual({ applied: false, tensor: 'b' });
      expect(fresh.state()).toEqual({ kind: fresh.kind, t: 0, slots: {} });
      expect(params.get('b')).toEqual(before.get('b'));
    });
  }
});

describe('max_consecutive_skipped_steps', () => {
  it('defaults to 5 and must be an integer ≥ 1', () => {
    expect(makeGrpoSettings().max_consecutive_skipped_steps).toBe(5);
    for (const bad of [0, 1.5, Number.NaN])
      expect(() => makeGrpoSettings({ max_consecutive_skipped_steps: bad })).toThrow(
        expect.objectContaining({ field: 'max_consecutive_skipped_steps' }),
      );
    expect(() => makeGrpoSettings({ max_consecutive_skipped_steps: 0 })).toThrow(SettingsError);
  });
});

describe('a run that cannot make a finite update stops with a typed error and exports nothing', () => {
  it('--lr 1e30 (CPU): each update is refused, no weight moves, the run stops after 5 skipped steps', async () => {
    const out = join(tempDir(), 'run');
    const e = await failure(
      runExperiment({
        cpu: true,
        model: BUILTIN,
        out,
        evalItems: 1,
        evalN: 1,
        // G = 4 at T = 2: the built-in model is sure enough that most groups of 2 at T ≤ 1.5 tie in reward
        // (a zero gradient, whose update passes).
        trainer: trainerConfig({
          learning_rate: 1e30,
          max_completion_length: 24,
          seed: 0,
          temperature: 2,
          num_generations: 4,
          per_device_train_batch_size: 4,
        }),
      }),
    );
    expect(e).toBeInstanceOf(TrainingError);
    expect(e.code).toBe('non-finite-update');
    expect(e.message).not.toContain('\n');
    expect(e.message).toMatch(/5 steps in a row skipped \(steps \d+–\d+.*past ±1e\+15 or non-finite/);
    const metrics = readMetrics(out);
    expect(metrics.slice(-5).every((m) => m.skipped)).toBe(true);
    expect(metrics.at(-1)?.skippedTotal).toBeGreaterThanOrEqual(5);
    expect(metrics.length).toBeLessThan(8);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(out, 'checkpoint.safetensors'))).toBe(false);
  }, 120_000);

  it('an all-NaN model (CPU): refused with a typed one-line error, no weights written', async () => {
    const model = tempDir();
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'])
      copyFileSync(join(TINY, f), join(model, f));
    const st = parseSafetensors(readFileSync(join(TINY, 'model.safetensors')), 'model.safetensors');
    const nan = new Map(
      [...st].map(([k, t]) => [
        k,
        { shape: t.shape, data: new Float32Array(t.data.length).fill(Number.NaN) },
      ]),
    );
    writeFileSync(join(model, 'model.safetensors'), writeSafetensors(nan, { format: 'pt' }));
    const out = join(tempDir(), 'run');
    const e = await failure(
      runExperiment({ cpu: true, model, out, evalItems: 1, evalN: 1, trainer: trainerConfig() }),
    );
    // Refused at load (a non-finite tensor, named) or after 5 steps whose loss is NaN: typed either way.
    expect(['TrainingError', 'EngineError']).toContain(e.name);
    expect(e.message).toMatch(/non-finite|not finite|NaN/i);
    expect(e.message).not.toContain('\n');
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    if (e instanceof TrainingError) {
      expect(e.message).toContain('because the loss is not finite');
      expect(readMetrics(out).map((m) => m.skipped)).toEqual([true, true, true, true, true]);
    }
  }, 120_000);

  it('`npm run experiment -- --cpu --lr 1e30` exits 1 with one line on stderr and no model.safetensors', async () => {
    const out = join(tempDir(), 'run');
    // G = 4 at T = 2 (a config file: the CLI has no temperature flag), so that groups differ in reward.
    const config = join(tempDir(), 'hot.json');
    writeFileSync(config, JSON.stringify({ trainer: { grpo: { temperature: 2 } } }));
    const args = [
      '--import',
      'tsx',
      'scripts/experiment.ts',
      config,
      '--cpu',
      '--lr',
      '1e30',
      '--group',
      '4',
    ];
    const r = await promisify(execFile)(process.execPath, [...args, '--steps', '8', '--out', out], {
      cwd: ROOT,
    }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(r?.code).toBe(1);
    const lines = (r?.stderr ?? '').trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^TrainingError: training stopped: 5 steps in a row skipped/);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
  }, 120_000);
});

describe('the trainer (CPU): skipped steps keep the parameters; the skip limit', () => {
  async function trainer(model: string, over: TrainerConfigInput['grpo'], inject?: number) {
    const e = new Engine({
      gpu: null,
      resolveSource: (loc) => new DirModelSource((loc as { baseUrl: string }).baseUrl),
    });
    await e.init({ backend: 'cpu' });
    await e.loadModel({ kind: 'url', baseUrl: model });
    const t = await e.createTrainer({ ...trainerConfig(over), injectNonFiniteAtStep: inject });
    t.host.reward = (c) => digitReward(c); // rewards that vary within a group: non-zero gradients
    return { e, t };
  }
  const params = async (t: GrpoTrainer) => (await t.host.policy.exportState({ optimizer: false })).params;

  it('lr 1e30: every refused update leaves the weights bit for bit, none ever past 1e20', async () => {
    const { e, t } = await trainer(BUILTIN, { learning_rate: 1e30, warmup_ratio: 0, temperature: 2 });
    let before = await params(t);
    for (let i = 0; i < 4; i++) {
      const m = (await t.trainStep()).metrics;
      const now = await params(t);
      for (const [k, v] of Object.entries(now)) {
        expect(
          v.every((x) => Math.abs(x) <= 1e20),
          k,
        ).toBe(true);
        if (m.skipped) expect(v, k).toEqual(before[k]);
      }
      before = now;
    }
    // A group whose rewards tie has a zero gradient: its update (0 with AdamW's state at 0) may pass.
    expect(t.snapshot().skipped).toBeGreaterThanOrEqual(1);
    await e.dispose();
  }, 120_000);

  it('NaN parameters: every step is skipped for its loss, and the 6th is refused', async () => {
    const { e, t } = await trainer(TINY, {});
    const nan = Object.fromEntries(
      Object.entries(await params(t)).map(([k, v]) => [k, new Float32Array(v.length).fill(Number.NaN)]),
    );
    await t.host.policy.importState({ params: nan, optimizer: null });
    const skipped: boolean[] = [];
    for (let i = 0; i < 5; i++) skipped.push((await t.trainStep()).metrics.skipped);
    expect(skipped).toEqual([true, true, true, true, true]);
    expect(() => t.checkSkippedSteps()).toThrow(
      /5 steps in a row skipped \(steps 1–5.*the loss is not finite/,
    );
    await expect(t.trainStep()).rejects.toBeInstanceOf(TrainingError);
    await e.dispose();
  }, 120_000);

  it('a finite step resets the count; the limit counts steps in a row', async () => {
    const a = await trainer(TINY, { max_consecutive_skipped_steps: 2 }, 2);
    for (let i = 0; i < 4; i++) await a.t.trainStep(); // step 2 skipped, 3 and 4 not
    expect(a.t.snapshot().skipped).toBe(1);
    expect(() => a.t.checkSkippedSteps()).not.toThrow();
    await a.e.dispose();
    const b = await trainer(TINY, { max_consecutive_skipped_steps: 1 }, 2);
    await b.t.trainStep();
    expect((await b.t.trainStep()).metrics.skipped).toBe(true);
    expect(() => b.t.checkSkippedSteps()).toThrow(/1 step in a row skipped \(steps 2–2.*loss is not finite/);
    await expect(b.t.trainStep()).rejects.toMatchObject({ code: 'non-finite-update' });
    expect(b.t.step).toBe(2);
    await b.e.dispose();
  }, 120_000);
});

const runOf = (skipped: boolean[]) => ({
  history: skipped.map((s, i) => ({ step: i + 1, skipped: s }) as StepMetrics),
});

describe('the Train panel: skipped steps a run list counts and the reward / loss charts mark', () => {
  it('lists the skipped steps of a run, and of several runs once each in order', () => {
    expect(skippedSteps(runOf([false, true, false, true, true]))).toEqual([2, 4, 5]);
    expect(skippedSteps(runOf([false, false]))).toEqual([]);
    expect(skippedStepsOfRuns([runOf([false, false, true, true]), runOf([true, false, true])])).toEqual([
      1, 3, 4,
    ]);
    expect(skippedStepsOfRuns([])).toEqual([]);
  });
});
