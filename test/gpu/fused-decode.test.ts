// The fused kernels of an inference decode step (kernels/fusedDecode.wgsl.ts, recorded by forward.ts when
// nothing is kept for a backward and the rows are few): each against the separate kernels it replaces (the
// norm, the matmuls, RoPE, the cache scatter, SwiGLU; themselves checked against the CPU reference in
// kernels.test.ts), with f32, f16 and bf16 weights and awkward sizes; then whole decode steps against the
// CPU reference (qwen2Forward with a RefKvCache), the dispatch count of a step, and the unfused fallbacks
// (C % 4 ≠ 0, a LoRA adapter) still matching.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Qwen2Config } from '../../src/engine/config.ts';
import { type GpuTensor, WEIGHT_DTYPES, type WeightDtype } from '../../src/engine/gpu/buffers.ts';
import type { GpuContext } from '../../src/engine/gpu/commands.ts';
import type { EngineDevice } from '../../src/engine/gpu/device.ts';
import type { FusedVariant } from '../../src/engine/gpu/kernels/fusedDecode.wgsl.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import {
  fusedNormLinearForward,
  fusedNormSwigluForward,
  fusedQkvRopeForward,
  matmulForward,
  rmsnormForward,
  ropeForward,
  ropeTable,
  scatterRows,
  swigluForward,
} from '../../src/engine/gpu/ops.ts';
import { packHalves, roundToHalf } from '../../src/engine/model/halfFloat.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { type LoraWeights, qwen2Forward, RefKvCache } from '../../src/engine/ref/model.ts';
import { tensor, type WeightMap } from '../../src/engine/tensor.ts';
import { expectClose, randomFloats, randomInts, readF32, testContext, testDevice } from '../helpers/gpu.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

const SENTINEL = 1234.5;
const VARIANTS: FusedVariant[] = ['lanes', 'serial']; // what a cache element the step must not touch holds before and after

function uploadWeight(ctx: GpuContext, name: string, data: Float32Array, dtype: WeightDtype): GpuTensor {
  return dtype === 'f32'
    ? ctx.pool.upload(name, data)
    : ctx.pool.uploadHalves(name, packHalves(data, dtype), dtype);
}

describe('fused decode kernels match the separate kernels they replace', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await testContext();
  });
  afterAll(() => ctx.destroy());

  const eps = 1e-6;
  const x = (n: number, seed: number, scale = 1) => randomFloats(n, seed, scale);
  const up = (name: string, data: Float32Array | Uint32Array) => ctx.pool.upload(name, data);

  /** The serial variant repeats the separate kernels' arithmetic (rmsnorm, matmul v1) in their order: on a
   * software adapter bit for bit; elsewhere a driver may contract differently, so within rounding. */
  const tolerance = (variant: FusedVariant) => (variant === 'serial' && ctx.dev.isSoftware ? 0 : 1e-5);
  const v1 = { version: 1 as const };

  for (const [variant, dtype] of VARIANTS.flatMap((v) => WEIGHT_DTYPES.map((d) => [v, d] as const))) {
    const tol = () => tolerance(variant);
    const opts = { variant };
    // C = 44 (% 4 = 0 as the fused kernels need, % 8 ≠ 0), GQA 6 / 2 heads of D = 6 (odd half), 11 rows:
    // two passes of the kernels' 8 rows; B = 11, T = 1 written at slot 3 of a 7-slot cache.
    it(`q/k/v + bias + RoPE + cache write, ${dtype} weights (one bias absent), ${variant}`, async () => {
      const [N, C, H, KVH, D, cap, start] = [11, 44, 6, 2, 6, 7, 3];
      const inp = up('inp', x(N * C, 1, 2));
      const lnw = up('ln', x(C, 2, 1.5));
      const w = {
        qw: uploadWeight(ctx, 'qw', x(H * D * C, 3, 0.3), dtype),
        kw: uploadWeight(ctx, 'kw', x(KVH * D * C, 4, 0.3), dtype),
        vw: uploadWeight(ctx, 'vw', x(KVH * D * C, 5, 0.3), dtype),
        qb: up('qb', x(H * D, 6)),
        kb: null,
        vb: up('vb', x(KVH * D, 7)),
      };
      const positions = Array.from({ length: N }, (_, i) => start + ((i * 5) % 9));
      const cs = up('cs', ropeTable(positions, N, D, 10000));
      const place = { T: 1, outT: cap, outStart: start };
      const cacheNumel = N * cap * KVH * D;
      const fresh = () => up('cache', new Float32Array(cacheNumel).fill(SENTINEL));
      const [kF, vF, kU, vU] = [fresh(), fresh(), fresh(), fresh()];
      const qF = up('qF', new Float32Array(N * H * D).fill(Number.NaN));
      const qU = ctx.pool.tensor('qU', N * H * D);
      const normed = ctx.pool.tensor('normed', N * C);
      const [qraw, kraw, vraw] = [H * D, KVH * D, KVH * D].map((w) => ctx.pool.tensor('raw', N * w));
      const rec = ctx.recorder('qkv');
      fusedQkvRopeForward(rec, qF, kF, vF, inp, lnw, w, cs, N, C, H, KVH, D, eps, place, opts);
      rmsnormForward(rec, normed, null, inp, lnw, N, C, eps);
      matmulForward(rec, qraw, normed, w.qw, w.qb, N, C, H * D, v1);
      matmulForward(rec, kraw, normed, w.kw, null, N, C, KVH * D, v1);
      matmulForward(rec, vraw, normed, w.vw, w.vb, N, C, KVH * D, v1);
      ropeForward(rec, qU, qraw, cs, N, H, D);
      ropeForward(rec, kU, kraw, cs, N, KVH, D, place);
      scatterRows(rec, vU, vraw, N, KVH * D, place);
      expect(rec.dispatchCount).toBe(8);
      await rec.submit();
      expectClose(`q (${dtype})`, await readF32(ctx, qF), await readF32(ctx, qU), tol());
      const [kf, ku, vf, vu] = await Promise.all([kF, kU, vF, vU].map((t) => readF32(ctx, t)));
      expectClose(`k cache (${dtype})`, kf, ku, tol());
      expectClose(`v cache (${dtype})`, vf, vu, tol());
      // Only slot `start` of each row was written.
      const row = KVH * D;
      for (let i = 0; i < cacheNumel; i++) {
        const written = Math.floor(i / row) % cap === start;
        expect(kf[i] !== SENTINEL).toBe(written);
        expect(vf[i] !== SENTINEL).toBe(written);
      }
    });

    it(`norm + gate/up + SwiGLU, ${dtype} weights, ${variant}`, async () => {
      const [N, C, I] = [13, 36, 50];
      const inp = up('inp', x(N * C, 11, 3));
      const lnw = up('ln', x(C, 12, 1.2));
      const gate = uploadWeight(ctx, 'gate', x(I * C, 13, 0.4), dtype);
      const upw = uploadWeight(ctx, 'up', x(I * C, 14, 0.4), dtype);
      const actF = up('actF', new Float32Array(N * I).fill(Number.NaN));
      const [normed, g, u, actU] = [N * C, N * I, N * I, N * I].map((n) => ctx.pool.tensor('t', n));
      const rec = ctx.recorder('mlp');
      fusedNormSwigluForward(rec, actF, inp, lnw, gate, upw, N, C, I, eps, opts);
      rmsnormForward(rec, normed, null, inp, lnw, N, C, eps);
      matmulForward(rec, g, normed, gate, null, N, C, I, v1);
      matmulForward(rec, u, normed, upw, null, N, C, I, v1);
      swigluForward(rec, actU, g, u, N * I);
      await rec.submit();
      expectClose(`act (${dtype})`, await readF32(ctx, actF), await readF32(ctx, actU), tol());
    });

    it(`final norm + lm_head on each row's last position, ${dtype} weights, ${variant}`, async () => {
      const [B, T, C, V] = [3, 4, 20, 77];
      const inp = up('inp', x(B * T * C, 21, 2));
      const lnw = up('ln', x(C, 22, 1.3));
      const head = uploadWeight(ctx, 'lm_head', x(V * C, 23, 0.5), dtype);
      const outF = up('outF', new Float32Array(B * V).fill(Number.NaN));
      const last = ctx.pool.tensor('last', B * C);
      const [normed, outU] = [B * C, B * V].map((n) => ctx.pool.tensor('t', n));
      const rec = ctx.recorder('head');
      fusedNormLinearForward(rec, outF, inp, lnw, head, B, C, V, eps, { stride: T, offset: T - 1 }, opts);
      for (let b = 0; b < B; b++) rec.copy(inp, last, (b * T + T - 1) * C * 4, b * C * 4, C * 4);
      rmsnormForward(rec, normed, null, last, lnw, B, C, eps);
      matmulForward(rec, outU, normed, head, null, B, C, V, v1);
      await rec.submit();
      expectClose(`logits (${dtype})`, await readF32(ctx, outF), await readF32(ctx, outU), tol());
    });
  }
});

/** Every 2-D weight rounded to `dtype`, as the GPU stores it (norms and biases stay f32). */
function roundMatrices(weights: WeightMap, dtype: WeightDtype): WeightMap {
  if (dtype === 'f32') return weights;
  const out: WeightMap = new Map();
  for (const [name, t] of weights)
    out.set(name, t.shape.length === 2 ? tensor([...t.shape], roundToHalf(t.data, dtype)) : t);
  return out;
}

/** A rank-2 adapter on q_proj and gate_proj of layer 0 and down_proj of the last layer. */
function smallLora(config: Qwen2Config): LoraWeights {
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: H, headDim: D } = config;
  const L = config.numHiddenLayers;
  const r = 2;
  const pair = (OC: number, IC: number, seed: number) => ({
    A: tensor([r, IC], randomFloats(r * IC, seed, 0.3)),
    B: tensor([OC, r], randomFloats(OC * r, seed + 1, 0.3)),
  });
  const layers = new Map([
    ['model.layers.0.self_attn.q_proj.weight', pair(H * D, C, 31)],
    ['model.layers.0.mlp.gate_proj.weight', pair(I, C, 33)],
    [`model.layers.${L - 1}.mlp.down_proj.weight`, pair(C, I, 35)],
  ]);
  return { r, scale: 1.5, layers };
}

describe('decode steps through the fused kernels', () => {
  let dev: EngineDevice;
  beforeAll(async () => {
    dev = await testDevice();
  });

  /** Prefill 3 positions of 2 rows (N = 6, fused), then 3 greedy steps; the logits of every call against the
   * CPU reference; returns the dispatch count of the last step. */
  async function decodeAgainstReference(
    config: Qwen2Config,
    dtype: WeightDtype,
    lora: LoraWeights | null = null,
  ): Promise<number> {
    const weights = initQwen2Weights(config, 5);
    const model = await GpuModel.create(dev, config, weights, lora, { weightDtype: dtype });
    try {
      const ref = { config, weights: roundMatrices(weights, dtype) };
      const V = config.vocabSize;
      const B = 2;
      const cache = model.createKvCache(B, 8);
      const refCache = new RefKvCache(config, B, 8);
      let ids = Array.from(randomInts(B * 3, 41, V));
      let T = 3;
      let dispatches = 0;
      for (let step = 0; step < 4; step++) {
        const next = await model.decode(cache, { kind: 'ids', ids }, T, {
          greedy: true,
          temperature: 0,
          seed: 0,
          step,
          lora: lora !== null,
        });
        dispatches = model.ctx.lastSubmit.dispatches; // before readDecodeLogits' own submit
        const got = await model.readDecodeLogits();
        const all = qwen2Forward(ref, { kind: 'ids', ids }, B, T, { cache: refCache, lora }).logits;
        const want = new Float32Array(B * V);
        for (let b = 0; b < B; b++) want.set(all.subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
        expectClose(`step ${step} logits (${dtype})`, got, want, 2e-4);
        for (let b = 0; b < B; b++) {
          let best = 0;
          for (let v = 1; v < V; v++) if (want[b * V + v] > want[b * V + best]) best = v;
          expect(next[b]).toBe(best);
        }
        ids = Array.from(next);
        T = 1;
      }
      cache.dispose();
      return dispatches;
    } finally {
      model.dispose();
    }
  }

  for (const dtype of WEIGHT_DTYPES) {
    it(`GQA with biases, ${dtype} storage: logits and ids as the CPU reference, 5·L + 3 dispatches`, async () => {
      const config = tinyConfig({ hidden_size: 36, num_hidden_layers: 3 });
      const dispatches = await decodeAgainstReference(config, dtype);
      // embedding, 5 per layer (q/k/v+RoPE+cache, attention, o_proj, norm+gate/up+SwiGLU, down_proj),
      // the final norm + lm_head, argmax
      expect(dispatches).toBe(5 * config.numHiddenLayers + 3);
    });
  }

  it('tied embeddings without q/k/v biases (Qwen2.5 small models tie lm_head)', async () => {
    const config = tinyConfig({ hidden_size: 24, tie_word_embeddings: true, attention_bias: false });
    const weights = initQwen2Weights(config, 5);
    expect([...weights.keys()].some((name) => name.endsWith('_proj.bias'))).toBe(false);
    const model = await GpuModel.create(dev, config, weights);
    try {
      const cache = model.createKvCache(1, 4);
      const refCache = new RefKvCache(config, 1, 4);
      const ref = { config, weights };
      let dispatches = 0;
      for (const id of [7, 3, 50]) {
        await model.decode(cache, { kind: 'ids', ids: [id] }, 1, {
          greedy: true,
          temperature: 0,
          seed: 0,
          step: 0,
        });
        dispatches = model.ctx.lastSubmit.dispatches;
        const want = qwen2Forward(ref, { kind: 'ids', ids: [id] }, 1, 1, { cache: refCache }).logits;
        expectClose(`tied, id ${id}`, await model.readDecodeLogits(), want, 2e-4);
      }
      expect(dispatches).toBe(5 * 2 + 3);
      cache.dispose();
    } finally {
      model.dispose();
    }
  });

  it('C % 4 ≠ 0 falls back to the separate kernels, still as the CPU reference', async () => {
    const config = tinyConfig({ hidden_size: 30, num_attention_heads: 3, num_key_value_heads: 1 });
    const dispatches = await decodeAgainstReference(config, 'f32');
    // rmsnorm, q/k/v, 2 RoPE, scatter, attention, o_proj, rmsnorm, gate, up, SwiGLU, down_proj
    expect(dispatches).toBe(14 * config.numHiddenLayers + 4);
  });

  it('a LoRA adapter: the adapted projections run unfused with their terms, the rest stays fused', async () => {
    const config = tinyConfig({ hidden_size: 36 });
    const lora = smallLora(config);
    const dispatches = await decodeAgainstReference(config, 'f32', lora);
    // layer 0: q/k/v unfused (rmsnorm, 3 matmuls + 2 for q's term, 2 RoPE, scatter) and the MLP input
    // unfused (rmsnorm, gate + 2, up, SwiGLU); the last layer's down_proj + 2; otherwise as without.
    const L = config.numHiddenLayers;
    expect(dispatches).toBe(5 * L + 3 + (9 - 1) + (6 - 1) + 2);
  });
});
