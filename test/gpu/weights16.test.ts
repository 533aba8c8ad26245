// Weights kept in 16 bits on the GPU (f16 / bf16, two per u32; arithmetic in f32). Three levels:
// 1. every kernel that reads a weight matrix reads exactly the rounded values: matmul v1–v6 (both layouts),
//    the token / mixture embeddings and the mixture input's backward, against the CPU on rounded weights;
// 2. a model stored in 16 bits computes exactly what the f32 model of the SAME rounded values computes
//    (logits, decoded tokens, LoRA gradients: bit for bit), so 16-bit storage adds nothing but the rounding;
// 3. against the transformers goldens: bf16 storage of model.bf16.safetensors reproduces `bf16.logits`
//    (the bf16 weights upcast) with the f32 tolerance, and f16 storage of the f32 model stays within the
//    tolerance that f16 rounding of the weights itself causes (stated below).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Qwen2Config } from '../../src/engine/config.ts';
import { type GpuTensor, WEIGHT_DTYPES, type WeightDtype } from '../../src/engine/gpu/buffers.ts';
import type { GpuContext } from '../../src/engine/gpu/commands.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import { embeddingForward, matmulForward, mixtureForward } from '../../src/engine/gpu/ops.ts';
import { mixtureBackward } from '../../src/engine/gpu/opsBackward.ts';
import { GpuTrainer } from '../../src/engine/gpu/train.ts';
import { type HalfDtype, packHalves, roundToHalf } from '../../src/engine/model/halfFloat.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { parseSafetensors } from '../../src/engine/model/safetensors.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import { type ModelInput, qwen2Forward } from '../../src/engine/ref/model.ts';
import { tensor, type WeightMap } from '../../src/engine/tensor.ts';
import { HF_GOLDEN_DIR } from '../helpers/fixtures.ts';
import {
  expectClose,
  poisoned,
  randomFloats,
  randomInts,
  readF32,
  testContext,
  testDevice,
} from '../helpers/gpu.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

const HALVES: HalfDtype[] = ['f16', 'bf16'];

/** A weight in `dtype` on the GPU: packed halves, or f32. */
function uploadAs(ctx: GpuContext, name: string, data: Float32Array, dtype: WeightDtype): GpuTensor {
  return dtype === 'f32'
    ? ctx.pool.upload(name, data)
    : ctx.pool.uploadHalves(name, packHalves(data, dtype), dtype);
}

/** The weights with every 2-D matrix rounded to `dtype` (norms and biases stay f32, as the GPU keeps them). */
function roundMatrices(weights: WeightMap, dtype: HalfDtype): WeightMap {
  const out: WeightMap = new Map();
  for (const [name, t] of weights)
    out.set(name, t.shape.length === 2 ? tensor([...t.shape], roundToHalf(t.data, dtype)) : t);
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('kernels read 16-bit weights exactly', () => {
  let ctx: GpuContext;
  beforeAll(async () => {
    ctx = await testContext();
  });
  afterAll(() => ctx.destroy());

  /** out (N, OC) = inp · Wᵀ (+ bias) on the CPU in f64, W (OC, IC) or (IC, OC). */
  function linear(
    inp: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    N: number,
    IC: number,
    OC: number,
    inOut: boolean,
  ) {
    const out = new Float32Array(N * OC);
    for (let n = 0; n < N; n++)
      for (let o = 0; o < OC; o++) {
        let s = bias ? bias[o] : 0;
        for (let k = 0; k < IC; k++) s += inp[n * IC + k] * (inOut ? w[k * OC + o] : w[o * IC + k]);
        out[n * OC + o] = s;
      }
    return out;
  }

  for (const dtype of HALVES)
    for (const version of [1, 2, 3, 4, 5, 6] as const)
      for (const inOut of version <= 3 ? [false, true] : [false])
        it(`matmul v${version} ${dtype}${inOut ? ' [in, out]' : ''}`, async () => {
          const [N, IC, OC] = version >= 5 ? [5, 44, 37] : [7, 37, 29]; // odd element counts: a padded last u32
          const w = randomFloats(IC * OC, 3 + version, 0.5);
          const inp = randomFloats(N * IC, 4, 1);
          const bias = inOut ? null : randomFloats(OC, 5, 0.3);
          const weight = uploadAs(ctx, 'w', w, dtype);
          const out = poisoned(ctx, 'out', N * OC);
          const rec = ctx.recorder();
          matmulForward(
            rec,
            out,
            ctx.pool.upload('inp', inp),
            weight,
            bias ? ctx.pool.upload('b', bias) : null,
            N,
            IC,
            OC,
            {
              version,
              wInOut: inOut,
            },
          );
          await rec.submit();
          const want = linear(inp, roundToHalf(w, dtype), bias, N, IC, OC, inOut);
          expectClose(`v${version} ${dtype}`, await readF32(ctx, out, N * OC), want, 1e-5);
          // ... and not the unrounded weights: the rounding is visible at this size.
          expect(
            maxAbsDiff(await readF32(ctx, out, N * OC), linear(inp, w, bias, N, IC, OC, inOut)),
          ).toBeGreaterThan(1e-5);
        });

  for (const dtype of HALVES)
    it(`token and mixture embeddings, and the mixture weights' gradient (${dtype})`, async () => {
      const [V, C, N, K] = [23, 13, 6, 3];
      const wte = randomFloats(V * C, 8, 1);
      const rounded = roundToHalf(wte, dtype);
      const gw = uploadAs(ctx, 'wte', wte, dtype);
      const ids = randomInts(N * K, 9, V);
      const weights = randomFloats(N * K, 10, 1);
      const dout = randomFloats(N * C, 11, 1);
      const tokOut = poisoned(ctx, 'tok', N * C);
      const mixOut = poisoned(ctx, 'mix', N * C);
      const dweights = poisoned(ctx, 'dw', N * K);
      const rec = ctx.recorder();
      embeddingForward(rec, tokOut, ctx.pool.upload('ids', ids.subarray(0, N)), gw, N, C, V);
      const gids = ctx.pool.upload('mids', ids);
      mixtureForward(rec, mixOut, gids, ctx.pool.upload('mw', weights), gw, N, K, C, V);
      mixtureBackward(rec, null, dweights, ctx.pool.upload('dout', dout), null, gids, gw, N, K, C, V);
      await rec.submit();
      const tok = new Float32Array(N * C);
      const mix = new Float32Array(N * C);
      const dw = new Float32Array(N * K);
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++) {
          tok[n * C + c] = rounded[ids[n] * C + c];
          for (let j = 0; j < K; j++) mix[n * C + c] += weights[n * K + j] * rounded[ids[n * K + j] * C + c];
        }
      for (let e = 0; e < N * K; e++)
        for (let c = 0; c < C; c++) dw[e] += dout[Math.floor(e / K) * C + c] * rounded[ids[e] * C + c];
      expect(Array.from(await readF32(ctx, tokOut, N * C))).toEqual(Array.from(tok));
      expectClose('mixture', await readF32(ctx, mixOut, N * C), mix, 1e-6);
      expectClose('dweights', await readF32(ctx, dweights, N * K), dw, 1e-5);
    });
});

describe.each(HALVES)('a model stored in %s = the f32 model of the rounded weights, bit for bit', (dtype) => {
  const config: Qwen2Config = tinyConfig({ attention_bias: true });
  const weights = initQwen2Weights(config, 21, 0.3, 0.1);
  const { vocabSize: V } = config;
  const [B, T] = [2, 7];
  const N = B * T;
  let half: GpuModel;
  let wide: GpuModel;
  beforeAll(async () => {
    const dev = await testDevice();
    half = await GpuModel.create(dev, config, weights, null, { weightDtype: dtype });
    wide = await GpuModel.create(dev, config, roundMatrices(weights, dtype), null);
  });
  afterAll(() => {
    half?.dispose();
    wide?.dispose();
  });

  it('stores the matrices in 16 bits, norms and biases in f32', () => {
    expect(half.weightDtype).toBe(dtype);
    const named = half.parameterTensors();
    const wte = named.get('model.embed_tokens.weight')!;
    expect(wte.dtype).toBe(dtype);
    expect(wte.bytes).toBe(V * config.hiddenSize * 2);
    expect(named.get('model.norm.weight')!.dtype ?? 'f32').toBe('f32');
    expect(named.get('model.layers.0.self_attn.q_proj.bias')!.dtype ?? 'f32').toBe('f32');
  });

  const inputs: [string, ModelInput][] = [
    ['ids', { kind: 'ids', ids: randomInts(N, 30, V) }],
    [
      'mixture',
      { kind: 'mixture', k: 3, ids: randomInts(N * 3, 31, V), weights: randomFloats(N * 3, 32, 1) },
    ],
    ['dense', { kind: 'dense', probs: randomFloats(N * V, 33, 1).map(Math.abs) }],
  ];
  for (const [name, input] of inputs)
    it(`forward: ${name} input`, async () => {
      const a = await half.forward(input, B, T);
      const b = await wide.forward(input, B, T);
      expect(a.logits).toEqual(b.logits);
      // and the CPU reference on the rounded weights agrees within the usual GPU tolerance
      const ref = qwen2Forward({ config, weights: roundMatrices(weights, dtype) }, input, B, T);
      expectClose(`${name} vs CPU`, a.logits, ref.logits, 1e-4);
    });

  it('greedy and sampled decoding give the same tokens', async () => {
    for (const greedy of [true, false]) {
      const run = async (m: GpuModel) => {
        const cache = m.createKvCache(B, 12);
        const out: number[] = [];
        let next = await m.decode(cache, { kind: 'ids', ids: randomInts(N, 40, V) }, T, {
          greedy,
          temperature: 0.8,
          seed: 5,
          step: 0,
        });
        for (let s = 1; s < 5; s++) {
          out.push(...next);
          next = await m.decode(cache, { kind: 'ids', ids: Array.from(next) }, 1, {
            greedy,
            temperature: 0.8,
            seed: 5,
            step: s,
          });
        }
        cache.dispose();
        return out;
      };
      expect(await run(half)).toEqual(await run(wide));
    }
  });

  it('LoRA gradients over a 16-bit base equal those over the rounded f32 base; full fine-tuning is refused', async () => {
    const r = 2;
    const { hiddenSize: C, numAttentionHeads: H, headDim: D } = config;
    const lora = {
      r,
      scale: 2,
      layers: new Map([
        [
          'model.layers.0.self_attn.q_proj.weight',
          {
            A: tensor([r, C], randomFloats(r * C, 50, 0.2)),
            B: tensor([H * D, r], randomFloats(H * D * r, 51, 0.2)),
          },
        ],
        [
          'model.layers.1.mlp.down_proj.weight',
          {
            A: tensor([r, config.intermediateSize], randomFloats(r * config.intermediateSize, 52, 0.2)),
            B: tensor([C, r], randomFloats(C * r, 53, 0.2)),
          },
        ],
      ]),
    };
    await half.setLora(lora);
    await wide.setLora(lora);
    const batch = {
      input: { kind: 'ids', ids: randomInts(N, 60, V) } as ModelInput,
      B,
      T,
      targets: randomInts(N, 61, V),
      coef: randomFloats(N, 62, 1),
    };
    const grads: Map<string, Float32Array>[] = [];
    for (const m of [half, wide]) {
      const t = await GpuTrainer.create(m, { mode: 'lora' });
      try {
        await t.backward(batch);
        grads.push(await t.readGrads());
      } finally {
        t.dispose();
      }
    }
    expect(grads[0]).toEqual(grads[1]);
    await expect(GpuTrainer.create(half, { mode: 'full' })).rejects.toMatchObject({
      code: 'invalid-argument',
    });
    await half.setLora(null);
    await wide.setLora(null);
  });
});

describe('16-bit storage against the transformers goldens (qwen2-tiny-a)', () => {
  const dir = join(HF_GOLDEN_DIR, 'qwen2-tiny-a');
  const golden = parseSafetensors(readFileSync(join(dir, 'golden.safetensors')), 'golden.safetensors');
  const ids = golden.get('ids')!;
  const [B, T] = ids.shape;
  const input: ModelInput = { kind: 'ids', ids: Array.from(ids.data) };

  it('bf16 storage of model.bf16.safetensors reproduces bf16.logits with the f32 tolerance', async () => {
    const m = await loadModel(new DirModelSource(dir), { weightsFile: 'model.bf16.safetensors' });
    const model = await GpuModel.create(await testDevice(), m.config, m.weights, null, {
      weightDtype: 'bf16',
    });
    try {
      const { logits } = await model.forward(input, B, T);
      expectClose('bf16.logits', logits, golden.get('bf16.logits')!.data, 1e-4);
    } finally {
      model.dispose();
    }
  });

  it('f16 storage of the f32 model: within what rounding the weights to f16 costs', async () => {
    const m = await loadModel(new DirModelSource(dir));
    const want = golden.get('logits')!.data;
    // The tolerance: how far the exact computation on f16-rounded weights (CPU, f64 accumulation of f32)
    // lands from the f32 goldens, plus the f32 GPU-vs-CPU atol. Stated, and checked to be a real effect.
    const rounding = maxAbsDiff(
      qwen2Forward({ config: m.config, weights: roundMatrices(m.weights, 'f16') }, input, B, T).logits,
      want,
    );
    expect(rounding).toBeGreaterThan(1e-6);
    // f16 keeps 11 significant bits (relative error ≤ 2⁻¹¹ ≈ 4.9e-4 per weight); through the layers that
    // stays well under 1% of the largest logit.
    const scale = maxAbsDiff(want, new Float32Array(want.length));
    expect(rounding / scale).toBeLessThan(1e-2);
    const model = await GpuModel.create(await testDevice(), m.config, m.weights, null, {
      weightDtype: 'f16',
    });
    try {
      const { logits } = await model.forward(input, B, T);
      expect(maxAbsDiff(logits, want)).toBeLessThanOrEqual(rounding + 2e-4);
    } finally {
      model.dispose();
    }
  });
});

it('WEIGHT_DTYPES lists the three storage dtypes', () => {
  expect(WEIGHT_DTYPES).toEqual(['f32', 'f16', 'bf16']);
});
