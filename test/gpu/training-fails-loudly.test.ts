// The GPU optimizer step is all or nothing (gpu/optimizer.ts, kernels/optim.wgsl.ts): an update that would
// leave a parameter past PARAMETER_LIMIT or non-finite (lr 1e30), or one from an overflowing gradient, writes
// nothing — parameters, optimizer state and step count stay bit for bit — and says so (applied: false,
// one flag read back); the next finite step applies as before.
import { beforeAll, describe, expect, it } from 'vitest';
import type { EngineDevice } from '../../src/engine/gpu/device.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import { GpuTrainer, type TrainBatch } from '../../src/engine/gpu/train.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { randomInts, testDevice } from '../helpers/gpu.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

let dev: EngineDevice;
beforeAll(async () => {
  dev = await testDevice();
});

const config = tinyConfig();
const [B, T] = [2, 5];
const batch = (coef: number): TrainBatch => ({
  input: { kind: 'ids', ids: randomInts(B * T, 3, config.vocabSize) },
  B,
  T,
  targets: randomInts(B * T, 4, config.vocabSize),
  coef: new Float32Array(B * T).fill(coef),
});

const same = (a: Map<string, Float32Array>, b: Map<string, Float32Array>) => {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, v] of a) expect(v, k).toEqual(b.get(k));
};

describe.each([
  { kind: 'adamw' as const, weightDecay: 0.1 },
  { kind: 'sgd' as const, momentum: 0.9 },
])('GPU optimizer step, all or nothing ($kind)', (optimizer) => {
  it('lr 1e30 and an infinite gradient are refused with nothing written; a finite step still applies', async () => {
    const model = await GpuModel.create(dev, config, initQwen2Weights(config, 9, 0.2, 0.1));
    const trainer = await GpuTrainer.create(model, { mode: 'full', clipNorm: 1, optimizer });
    try {
      const first = await trainer.trainStep([batch(1 / (B * T))], { lr: 1e-3 });
      expect(first.applied).toBe(true);
      expect(first.step).toBe(1);
      const params = await trainer.readParams();
      const state = await trainer.readOptimizerState();

      const huge = await trainer.trainStep([batch(1 / (B * T))], { lr: 1e30 });
      expect(huge.applied).toBe(false);
      expect(Number.isFinite(huge.gradNorm)).toBe(true);
      expect(huge.step).toBe(1);
      same(await trainer.readParams(), params);
      const stateAfter = await trainer.readOptimizerState();
      expect(stateAfter.step).toBe(1);
      for (const [k, bufs] of state.buffers) expect(stateAfter.buffers.get(k), k).toEqual(bufs);

      // Coefficients near f32's largest: the gradients overflow (a NaN coefficient would give zero ones).
      const inf = await trainer.trainStep([batch(3e38)], { lr: 1e-3 });
      expect(inf.applied).toBe(false);
      expect(Number.isFinite(inf.gradNorm)).toBe(false);
      same(await trainer.readParams(), params);

      const next = await trainer.trainStep([batch(1 / (B * T))], { lr: 1e-3 });
      expect(next.applied).toBe(true);
      expect(next.step).toBe(2);
      const after = await trainer.readParams();
      expect([...after].some(([k, v]) => v.some((x, i) => x !== params.get(k)?.[i]))).toBe(true);
      for (const [k, v] of after) expect(v.every(Number.isFinite), k).toBe(true);
    } finally {
      trainer.dispose();
      model.dispose();
    }
  }, 120_000);
});
