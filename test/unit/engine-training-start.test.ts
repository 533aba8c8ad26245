// Where a GRPO run of the engine starts: from the model as loaded by default (so runs overlaid in the page
// are comparable), from the previous run's weights only when asked ('current'), and a run continued from a
// periodic checkpoint (what the page keeps for a reload) ends with the uninterrupted run's metrics.

import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { deterministicMetrics, type StepMetrics } from '../../src/rl/metrics.ts';
import type { TrainingState } from '../../src/rl/session.ts';
import type { TrainingSettings } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';

const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-builtin');

async function engineWithModel(): Promise<Engine> {
  const engine = new Engine({
    gpu: null,
    resolveSource: (loc) => new DirModelSource((loc as { baseUrl: string }).baseUrl),
  });
  await engine.init({ backend: 'cpu' });
  await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
  return engine;
}

const settings = (
  mode: 'full' | 'lora',
  steps: number,
  extra: Partial<TrainingSettings> = {},
): TrainingSettings => ({
  preset: 'dirichlet',
  tasks: [{ task: 'chain_sum', level: 'trivial' }],
  mode,
  ...(mode === 'lora' ? { lora: { r: 2, alpha: 4 } } : {}),
  grpo: {
    num_generations: 4,
    per_device_train_batch_size: 4,
    max_completion_length: 24,
    learning_rate: 1e-2,
    optim: 'adamw',
    max_grad_norm: 1,
    max_steps: steps,
    seed: 3,
    warmup_ratio: 0,
  },
  ...extra,
});

async function finished(engine: Engine): Promise<TrainingState> {
  for (;;) {
    const st = await engine.trainingState();
    if (st && st.status !== 'running' && st.status !== 'idle') return st;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const same = (a: StepMetrics[]) => a.map(deterministicMetrics);

describe('where a training run starts', () => {
  it('a second run starts from the base model unless asked to continue', async () => {
    const engine = await engineWithModel();
    await engine.startTraining(settings('full', 2));
    const first = await finished(engine);
    expect(first.status).toBe('finished');
    await engine.startTraining(settings('full', 2));
    const again = await finished(engine);
    // From the base: the same seed gives the same two steps.
    expect(same(again.history)).toEqual(same(first.history));
    await engine.startTraining(settings('full', 1, { startFrom: 'current' }));
    const continued = await finished(engine);
    // From the trained weights: the first step's rollouts are scored by another policy.
    expect(deterministicMetrics(continued.history[0])).not.toEqual(deterministicMetrics(first.history[0]));
  }, 60_000);

  it('a full fine-tune after a LoRA run drops the run-made adapter', async () => {
    const engine = await engineWithModel();
    await engine.startTraining(settings('full', 1));
    const full = await finished(engine);
    await engine.startTraining(settings('lora', 1));
    await finished(engine);
    await engine.startTraining(settings('full', 1));
    const fullAgain = await finished(engine);
    expect(same(fullAgain.history)).toEqual(same(full.history));
  }, 60_000);
});

describe('resuming a run from its checkpoint', () => {
  it('continues from step 2 of 4 and ends with the uninterrupted metrics, on a fresh engine', async () => {
    const engine = await engineWithModel();
    const checkpoints: { step: number; bytes: Uint8Array }[] = [];
    await engine.startTraining(settings('full', 4, { checkpointEvery: 2 }), undefined, (bytes, step) => {
      checkpoints.push({ step, bytes });
    });
    const whole = await finished(engine);
    expect(whole.status).toBe('finished');
    expect(checkpoints.map((c) => c.step)).toEqual([2, 4]);

    // A new page: another engine, the base model, the step-2 checkpoint and the first two steps' metrics.
    const later = await engineWithModel();
    const st = await later.startTraining(settings('full', 4, { checkpointEvery: 2 }), undefined, undefined, {
      checkpoint: checkpoints[0].bytes,
      history: whole.history.slice(0, 2),
    });
    expect(st.step).toBe(2);
    const resumed = await finished(later);
    expect(resumed.status).toBe('finished');
    expect(same(resumed.history)).toEqual(same(whole.history));
  }, 90_000);

  it('refuses a checkpoint that does not fit the run, with typed errors', async () => {
    const engine = await engineWithModel();
    const checkpoints: Uint8Array[] = [];
    await engine.startTraining(settings('full', 2, { checkpointEvery: 1 }), undefined, (bytes) => {
      checkpoints.push(bytes);
    });
    const run = await finished(engine);
    const ck = checkpoints[0];
    const code = (p: Promise<unknown>) =>
      p.then(
        () => 'accepted',
        (e: { code?: string }) => e.code,
      );
    // Metrics that do not run up to the checkpoint's step.
    expect(
      await code(
        engine.startTraining(settings('full', 2), undefined, undefined, { checkpoint: ck, history: [] }),
      ),
    ).toBe('bad-checkpoint');
    // Another seed than the checkpoint's run.
    const other = settings('full', 2);
    other.grpo = { ...other.grpo, seed: 4 };
    expect(
      await code(
        engine.startTraining(other, undefined, undefined, {
          checkpoint: ck,
          history: run.history.slice(0, 1),
        }),
      ),
    ).toBe('bad-checkpoint');
    // Another held-out pool (it decides which training items are redrawn).
    expect(
      await code(
        engine.startTraining(settings('full', 2, { heldOut: { count: 4 } }), undefined, undefined, {
          checkpoint: ck,
          history: run.history.slice(0, 1),
        }),
      ),
    ).toBe('bad-checkpoint');
    // Flipped bits.
    const bad = ck.slice();
    bad[bad.length - 3] ^= 0xff;
    expect(
      await code(
        engine.startTraining(settings('full', 2), undefined, undefined, {
          checkpoint: bad,
          history: run.history.slice(0, 1),
        }),
      ),
    ).toBe('bad-checkpoint');
  }, 60_000);
});
