// What one decode step reads back from the GPU, counted by the GpuContext (commands.ts bytesRead): a discrete
// decode step (GpuModel.decode) reads each row's next id, a mixture rollout step (GpuMixtureStepper, the GPU
// fast path) each row's record (its k ids and weights, a few words, and the hidden-state entropy per layer)
// — never the logits, so two random models that differ only in the vocabulary size read back the same bytes.
// (Soft-tokens, which mixes over the whole vocabulary, records V weights per step by design; not measured.)
import { describe, expect, it } from 'vitest';
import { GpuMixtureStepper } from '../../src/engine/gpu/mixture.ts';
import { GpuBackend } from '../../src/engine/gpuBackend.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import type { PresetName } from '../../src/mot/settings.ts';
import { testDevice } from '../helpers/gpu.ts';
import { builtinLikeConfig } from '../helpers/tinyConfig.ts';

const [B, T] = [3, 5];

async function backendFor(V: number): Promise<GpuBackend> {
  const config = builtinLikeConfig(V);
  return GpuBackend.create(await testDevice(), config, initQwen2Weights(config, 9), null);
}

/** Bytes read back by the 2nd..4th discrete decode steps (after a prefill), per step. */
async function discreteStepBytes(V: number): Promise<number[]> {
  const backend = await backendFor(V);
  const ctx = backend.model.ctx;
  const cache = backend.createCache(B, 16);
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % V);
  let next = await backend.decode(cache, { kind: 'ids', ids }, T, {
    greedy: false,
    temperature: 1,
    seed: 1,
    step: 0,
  });
  const out: number[] = [];
  for (let s = 1; s <= 3; s++) {
    const before = ctx.bytesRead;
    next = await backend.decode(cache, { kind: 'ids', ids: next }, 1, {
      greedy: false,
      temperature: 1,
      seed: 1,
      step: s,
    });
    out.push(ctx.bytesRead - before);
  }
  cache.dispose();
  backend.dispose();
  return out;
}

/** Bytes read back by the prefill and three mixture steps of the GPU rollout stepper, per call. */
async function mixtureStepBytes(V: number, preset: PresetName): Promise<number[]> {
  const backend = await backendFor(V);
  const ctx = backend.model.ctx;
  const shape = { vocabSize: V, hiddenSize: 64, numHiddenLayers: 2 };
  const stepper = new GpuMixtureStepper(backend.model, shape, {
    B,
    capacity: T + 4,
    settings: makeSettings(preset, {}, V),
    seed: 3,
    lora: false,
    hiddenEntropy: true,
    noiseStd: 0,
  });
  const modes = new Array(B).fill('thinking');
  const mask = new Uint8Array(B * T).fill(1);
  const positions = Int32Array.from({ length: B * T }, (_, i) => i % T);
  const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % V);
  const out: number[] = [];
  let before = ctx.bytesRead;
  await stepper.prefill({ ids, T, positions, mask, modes, step: 0 });
  out.push(ctx.bytesRead - before);
  for (let s = 1; s <= 3; s++) {
    before = ctx.bytesRead;
    await stepper.step({
      inputs: new Array(B).fill({ kind: 'action' }),
      positions: Int32Array.from({ length: B }, () => T + s - 1),
      mask: new Uint8Array(B).fill(1),
      modes,
      step: s,
    });
    out.push(ctx.bytesRead - before);
  }
  stepper.dispose();
  backend.dispose();
  return out;
}

describe('decode readback does not grow with the vocabulary', () => {
  it('a discrete decode step reads back B ids', async () => {
    const small = await discreteStepBytes(519);
    const large = await discreteStepBytes(2053);
    expect(small).toEqual(large);
    for (const b of small) expect(b).toBe(B * 4);
  });

  for (const preset of ['dirichlet', 'different-tokens', 'mixture-of-inputs'] as PresetName[])
    it(`a ${preset} rollout step reads back the same bytes at V = 519 and V = 2053`, async () => {
      const small = await mixtureStepBytes(519, preset);
      const large = await mixtureStepBytes(2053, preset);
      expect(small).toEqual(large);
      // O(B) records: well under one row of logits per step.
      for (const b of small) expect(b).toBeLessThan(B * 519);
    });
});
