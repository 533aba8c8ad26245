// The hidden-state entropies of the GPU rollout (engine/gpu/kernels/mixtureEmbed.wgsl.ts hiddenEntropyKernel):
// the kernel's softmax and scale-free entropies against the CPU references (engine/ref/logits.ts,
// mot/diagnostics.ts energyEntropy) on strided rows, scaled rows included; then a GPU fast-path rollout's
// records (shared prefill: G rows per prompt row) against the CPU reference path's on the same seed.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/engine/gpu/commands.ts';
import { hiddenEntropyRowsForward } from '../../src/engine/gpu/mixture.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { hiddenEntropyForward } from '../../src/engine/ref/logits.ts';
import { energyEntropy } from '../../src/mot/diagnostics.ts';
import { nodeGpu } from '../../src/node/webgpu.ts';
import type { RolloutRequest } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';
import { expectClose, poisoned, randomFloats, readF32, testContext, upload } from '../helpers/gpu.ts';

const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');
const resolveSource = (loc: { kind: string; baseUrl?: string }) => {
  if (loc.kind !== 'url' || !loc.baseUrl) throw new Error('node test: url locations only');
  return new DirModelSource(loc.baseUrl);
};

let ctx: GpuContext;
let cpu: Engine;
let gpu: Engine;
beforeAll(async () => {
  ctx = await testContext();
  cpu = new Engine({ gpu: null, resolveSource });
  await cpu.init({ backend: 'cpu' });
  await cpu.loadModel({ kind: 'url', baseUrl: BUILTIN });
  gpu = new Engine({ gpu: await nodeGpu(), resolveSource });
  expect((await gpu.init({ backend: 'webgpu' })).backend).toBe('webgpu');
  await gpu.loadModel({ kind: 'url', baseUrl: BUILTIN });
});
afterAll(async () => {
  await gpu?.dispose();
  await cpu?.dispose();
});

describe('hidden-state entropy kernel: softmax and scale-free', () => {
  it('B=5 rows of C=37 at stride 3, offset 2, layer 1 of L=2; a row scaled by 1e3 and one by 1e-3', async () => {
    const [B, C, stride, offset, L, layer] = [5, 37, 3, 2, 2, 1];
    const h = randomFloats(B * stride * C, 91, 3);
    const rowAt = (b: number) => (b * stride + offset) * C;
    // Rows 3 and 4 are row 0 scaled: the scale-free entropy must not move, the softmax one does.
    for (const [b, a] of [
      [3, 1e3],
      [4, 1e-3],
    ])
      for (let c = 0; c < C; c++) h[rowAt(b) + c] = a * h[rowAt(0) + c];
    const out = poisoned(ctx, 'out', 2 * B * L);
    const rec = ctx.recorder('hidden entropy');
    hiddenEntropyRowsForward(rec, out, upload(ctx, 'h', h), B, C, stride, offset, L, layer);
    await rec.submit();
    const got = await readF32(ctx, out);
    const softmax = new Float32Array(B);
    const scaleFree = new Float32Array(B);
    for (let b = 0; b < B; b++) {
      const row = h.subarray(rowAt(b), rowAt(b) + C);
      hiddenEntropyForward(softmax.subarray(b, b + 1), row, 1, C);
      scaleFree[b] = energyEntropy(row);
    }
    const pick = (half: number) =>
      Float32Array.from({ length: B }, (_, b) => got[(half * B + b) * L + layer]);
    expectClose('softmax entropy', pick(0), softmax);
    expectClose('scale-free entropy', pick(1), scaleFree);
    expect(Math.abs(pick(1)[3] - pick(1)[0])).toBeLessThan(1e-5);
    expect(Math.abs(pick(1)[4] - pick(1)[0])).toBeLessThan(1e-5);
    expect(Math.abs(pick(0)[3] - pick(0)[0])).toBeGreaterThan(0.1);
    // The other layer's slots are left alone.
    expect(Number.isNaN(got[0])).toBe(true);
  });
});

describe('rollout records: GPU fast path = CPU reference path', () => {
  it('dirichlet, 2 prompts × G = 2 (shared prefill)', async () => {
    const request: RolloutRequest = {
      prompts: ['2+3?', { question: 'Sort: b a c' }],
      G: 2,
      preset: 'dirichlet',
      maxNewTokens: 6,
      seed: 21,
      systemPrompt: 'Think, then answer.',
    };
    const fast = await gpu.rollout(request);
    expect(fast.path).toBe('gpu');
    const ref = await cpu.rollout(request);
    expect(ref.path).toBe('reference');
    let compared = 0;
    fast.trajectories.forEach((t, i) => {
      const want = ref.trajectories[i];
      expect(t.tokens, `row ${i} tokens`).toEqual(want.tokens);
      t.records.forEach((r, s) => {
        const q = want.records[s];
        expect(r.hiddenEntropyScaleFree, `row ${i} record ${s}`).toHaveLength(2);
        // rollout.test.ts's rule: a mixed input carries f32 rounding forward, so 2e-4 of max(1, |x|).
        const near = (a: number[], b: number[]) =>
          a.length === b.length &&
          a.every((x, l) => Math.abs(x - b[l]) <= 2e-4 * Math.max(1, Math.abs(b[l])));
        const sf = [r.hiddenEntropyScaleFree ?? [], q.hiddenEntropyScaleFree ?? []];
        expect(near(sf[0], sf[1]), `row ${i} record ${s} scale-free ${sf[0]} vs ${sf[1]}`).toBe(true);
        expect(near(r.hiddenEntropy, q.hiddenEntropy), `row ${i} record ${s} softmax`).toBe(true);
        compared++;
      });
    });
    expect(compared).toBeGreaterThan(8);
  }, 300_000);
});
