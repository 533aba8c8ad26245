// A few hundred supervised steps on a toy corpus lower the loss on both backends, and the two backends'
// losses agree step by step for the first steps (AdamW on the host; forward/backward on each backend).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQwen2Config } from '../../src/engine/config.ts';
import { type EngineDevice, requestEngineDevice } from '../../src/engine/gpu/device.ts';
import { GpuSftBackend } from '../../src/engine/gpuSft.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import type { WeightMap } from '../../src/engine/tensor.ts';
import { CpuSftBackend, trainSft } from '../../src/engine/train/sft.ts';
import { nodeGpu } from '../../src/node/webgpu.ts';

// Toy corpus: "a b = (a+b) mod 10" over 10 digit tokens and a few markers; the loss covers the answer.
const config = parseQwen2Config({
  model_type: 'qwen2',
  vocab_size: 16,
  hidden_size: 24,
  intermediate_size: 40,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  max_position_embeddings: 16,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: true,
});
const corpus = Array.from({ length: 100 }, (_, i) => {
  const a = i % 10;
  const b = Math.floor(i / 10);
  return { ids: [12, a, 13, b, 14, (a + b) % 10, 15], lossStart: 5 };
});

const copy = (w: WeightMap): WeightMap =>
  new Map([...w].map(([k, t]) => [k, { shape: t.shape, data: t.data.slice() }]));

let dev: EngineDevice;
beforeAll(async () => {
  dev = await requestEngineDevice(await nodeGpu());
});
afterAll(() => dev?.destroy());

describe('supervised training on a toy corpus, CPU reference and WebGPU', () => {
  it('300 steps lower the loss on both backends; the first steps agree', async () => {
    const opts = { batchSize: 16, steps: 300, lr: 1e-2, warmupSteps: 10, seed: 11, padId: 0 };
    const init = initQwen2Weights(config, 21, 0.2);
    const cpu = await trainSft(new CpuSftBackend(config, copy(init)), corpus, opts);
    const gpuBackend = await GpuSftBackend.create(dev, config, copy(init));
    try {
      const gpu = await trainSft(gpuBackend, corpus, opts);
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      for (const run of [cpu, gpu]) {
        expect(run.losses).toHaveLength(300);
        expect(mean(run.losses.slice(-20))).toBeLessThan(0.5 * mean(run.losses.slice(0, 20)));
      }
      // Step by step for the first 10 steps: the same losses to f32 rounding.
      for (let s = 0; s < 10; s++)
        expect(Math.abs(gpu.losses[s] - cpu.losses[s])).toBeLessThan(1e-4 * Math.max(1, cpu.losses[s]));
    } finally {
      gpuBackend.dispose();
    }
  });
});
