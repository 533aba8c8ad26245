// The training memory plan (engine/train/memory.ts, backend 'webgpu') against the buffer pool's high-water
// mark (gpu/buffers.ts peakBytes) of a real GRPO-shaped step on a small random model: the rollouts' KV cache
// for G sequences of N tokens held, then GpuTrainer with AdamW — forwardLogLikelihoods, backwardFrom and
// stepOptimizer — in full fine-tuning and in LoRA (every linear layer), with and without activation
// recompute (one layer's internals kept instead of L), the head's logits in vocabulary chunks of HEAD_CHUNK
// rows (the last one partial) as the plan is told. The model is big enough for its
// buffers to dwarf the fixed ones (uniform arenas, readback staging, per-call inputs) and small enough for
// lavapipe; its vocabulary and MLP width are not powers of two, so the pool's size classes show.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectedParameters, parseQwen2Config } from '../../src/engine/config.ts';
import type { WeightDtype } from '../../src/engine/gpu/buffers.ts';
import type { EngineDevice } from '../../src/engine/gpu/device.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import { GpuTrainer } from '../../src/engine/gpu/train.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import type { LoraWeights } from '../../src/engine/ref/model.ts';
import { tensor } from '../../src/engine/tensor.ts';
import { formatBytes, LORA_ALL_LINEAR, loraTargets, memoryPlan } from '../../src/engine/train/memory.ts';
import { randomFloats, randomInts, testDevice } from '../helpers/gpu.ts';

const config = parseQwen2Config({
  model_type: 'qwen2',
  vocab_size: 3000,
  hidden_size: 256,
  intermediate_size: 688,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  max_position_embeddings: 128,
});
const [G, N] = [4, 80];
const R = 8;
const HEAD_CHUNK = 1024;

let dev: EngineDevice;
let model: GpuModel | null = null;
beforeAll(async () => {
  dev = await testDevice();
});
afterEach(() => {
  model?.dispose();
  model = null;
});

function adapter(r: number): LoraWeights {
  const layers: LoraWeights['layers'] = new Map();
  let s = 100;
  for (const [name, [o, i]] of loraTargets(config, LORA_ALL_LINEAR))
    layers.set(name, {
      A: tensor([r, i], randomFloats(r * i, s++, 0.05)),
      B: tensor([o, r], new Float32Array(o * r)),
    });
  return { r, scale: 2, layers };
}

/** The pool's high-water mark over model upload, the held KV cache and one AdamW training step. */
async function measuredPeak(
  mode: 'full' | 'lora',
  recompute: boolean,
  weightDtype: WeightDtype = 'f32',
): Promise<number> {
  const weights = initQwen2Weights(config, 7, 0.02);
  model = await GpuModel.create(dev, config, weights, mode === 'lora' ? adapter(R) : null, { weightDtype });
  const cache = model.createKvCache(G, N);
  const optimizer = { kind: 'adamw' as const, lr: 1e-4 };
  const trainer = await GpuTrainer.create(model, { mode, optimizer, recompute, headChunk: HEAD_CHUNK });
  const BT = G * N;
  const batch = {
    input: { kind: 'ids' as const, ids: randomInts(BT, 1, config.vocabSize) },
    B: G,
    T: N,
    targets: randomInts(BT, 2, config.vocabSize),
  };
  const { logp } = await trainer.forwardLogLikelihoods(batch);
  expect(logp.every(Number.isFinite)).toBe(true);
  await trainer.backwardFrom(batch, randomFloats(BT, 3));
  const { gradNorm } = await trainer.stepOptimizer();
  expect(gradNorm).toBeGreaterThan(0);
  const peak = model.ctx.pool.peakBytes;
  trainer.dispose();
  cache.dispose();
  return peak;
}

describe('memory plan vs the buffer pool of a real training step (within 10%)', () => {
  it('the pool counts what it holds: parameters exactly after upload, nothing after destroy', async () => {
    const weights = initQwen2Weights(config, 7, 0.02);
    model = await GpuModel.create(dev, config, weights);
    const pool = model.ctx.pool;
    let params = 0;
    for (const shape of expectedParameters(config).values()) params += 4 * shape.reduce((a, b) => a * b, 1);
    expect(pool.allocatedBytes).toBe(params);
    expect(pool.peakBytes).toBe(params);
    const t = pool.tensor('probe', 1000);
    expect(pool.allocatedBytes).toBe(params + 4096);
    pool.release(t);
    pool.trim();
    expect(pool.allocatedBytes).toBe(params);
    expect(pool.peakBytes).toBe(params + 4096);
    pool.resetPeak();
    expect(pool.peakBytes).toBe(params);
  });

  const peaks = new Map<string, number>();
  it.each([
    ['full', false],
    ['lora', false],
    ['full', true],
    ['lora', true],
  ] as const)('%s fine-tuning, recompute %s, AdamW, G × N tokens', async (mode, recompute) => {
    const peak = await measuredPeak(mode, recompute);
    peaks.set(`${mode} ${recompute}`, peak);
    const lora = mode === 'lora' ? { r: R } : null;
    const plan = memoryPlan(config, { group: G, tokens: N, lora, recompute, headChunk: HEAD_CHUNK });
    const diff = (peak - plan.total) / plan.total;
    const saved = recompute ? peaks.get(`${mode} false`) : undefined;
    console.log(
      `memory plan ${mode}${recompute ? ' recompute' : ''}: plan ${plan.total} B (${formatBytes(plan.total)}), ` +
        `pool high-water ${peak} B (${formatBytes(peak)}), ${(100 * diff).toFixed(2)}%` +
        (saved ? `; saves ${saved - peak} B (${formatBytes(saved - peak)}) vs recompute off` : ''),
    );
    expect(Math.abs(diff)).toBeLessThan(0.1);
    if (saved) expect(peak).toBeLessThan(saved);
  });

  it.each(['f16', 'bf16'] as const)(
    'LoRA over %s base weights (recompute): the plan told --dtype',
    async (dtype) => {
      const peak = await measuredPeak('lora', true, dtype);
      const plan = memoryPlan(config, {
        group: G,
        tokens: N,
        lora: { r: R },
        recompute: true,
        headChunk: HEAD_CHUNK,
        dtype,
      });
      const f32 = memoryPlan(config, {
        group: G,
        tokens: N,
        lora: { r: R },
        recompute: true,
        headChunk: HEAD_CHUNK,
      });
      const diff = (peak - plan.total) / plan.total;
      console.log(
        `memory plan lora recompute ${dtype}: plan ${plan.total} B, pool high-water ${peak} B, ${(100 * diff).toFixed(2)}%`,
      );
      expect(Math.abs(diff)).toBeLessThan(0.1);
      // the base matrices take half the bytes: the saving is real, in the plan and in the pool
      expect(f32.groups.parameters - plan.groups.parameters).toBeGreaterThan(0.45 * f32.groups.parameters);
      const f32Peak = peaks.get('lora true');
      if (f32Peak) expect(f32Peak - peak).toBeGreaterThan(0.9 * (f32.total - plan.total));
    },
  );
});
