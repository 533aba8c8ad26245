// gradient_checkpointing (GRPO setting, HF's name) on WebGPU: the trainer recomputes each layer in the
// backward instead of keeping its activations, and a run gives exactly the same metrics and parameters as
// the same run without it — full fine-tuning and LoRA.
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { nodeGpu } from '../../src/node/webgpu.ts';
import type { GpuPolicy } from '../../src/rl/policy/gpu.ts';
import type { TrainerConfigInput } from '../../src/rl/trainer.ts';
import { Engine } from '../../src/worker/engine.ts';
import { hashReward } from '../helpers/rewards.ts';

const MODEL = resolve(import.meta.dirname, '../../public/models/motg-builtin');
let engine: Engine | null = null;
afterAll(async () => {
  await engine?.dispose();
});

async function run(input: TrainerConfigInput, checkpointing: boolean) {
  if (!engine) {
    engine = new Engine({ gpu: await nodeGpu(), resolveSource: () => new DirModelSource(MODEL) });
    await engine.init({ backend: 'webgpu' });
  }
  await engine.loadModel({ kind: 'url', baseUrl: MODEL });
  const t = await engine.createTrainer({
    ...input,
    grpo: { ...input.grpo, gradient_checkpointing: checkpointing },
  });
  expect((t.host.policy as GpuPolicy).recomputes).toBe(checkpointing);
  t.host.reward = (c) => hashReward(c);
  const metrics = [];
  for (let i = 0; i < 2; i++) {
    const { loss, gradNorm, kl, rewardMean } = (await t.trainStep()).metrics;
    metrics.push({ loss, gradNorm, kl, rewardMean });
  }
  const params = (await t.host.policy.exportState({ optimizer: false })).params;
  return { metrics, params };
}

describe('GRPO with gradient_checkpointing (WebGPU)', () => {
  for (const mode of ['full', 'lora'] as const)
    it(`${mode}: the same metrics and parameters as without it`, async () => {
      const input: TrainerConfigInput = {
        preset: 'dirichlet',
        mode,
        ...(mode === 'lora' ? { lora: { r: 4 } } : {}),
        mot: { paperTemperature: 'one' },
        tasks: [{ task: 'chain_sum', level: 'trivial' }],
        grpo: {
          num_generations: 4,
          per_device_train_batch_size: 4,
          gradient_accumulation_steps: 1,
          max_completion_length: 10,
          learning_rate: 3e-3,
          optim: 'adamw',
          beta: 0.04,
          max_steps: 2,
          warmup_ratio: 0,
          seed: 5,
        },
      };
      const plain = await run(input, false);
      const recomputed = await run(input, true);
      expect(plain.metrics.some((m) => m.gradNorm > 0)).toBe(true);
      expect(recomputed.metrics).toEqual(plain.metrics);
      expect(Object.keys(recomputed.params).sort()).toEqual(Object.keys(plain.params).sort());
      for (const k of Object.keys(plain.params)) expect(recomputed.params[k]).toEqual(plain.params[k]);
    }, 300_000);
});
