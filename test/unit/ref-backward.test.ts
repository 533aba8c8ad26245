// Every backward in the CPU reference against central finite differences of its forward, on small
// random shapes chosen to be awkward (odd widths, GQA groups, padding, repeated ids), and the whole
// model's loss against finite differences for a sample of every parameter tensor.
//
// The reference computes in f32 arrays, so a difference quotient carries rounding noise of about
// 1e-7 · |f| / h. Layers that are linear in the checked input use a large step (exact up to rounding);
// nonlinear ones use h ≈ 1e-3..1e-2. A check passes when max |numeric − analytic| ≤ tol · max|analytic|,
// with tol well below what a wrong term (a missing factor, a transposed index) produces — the last
// test shows a 2 % error is caught.
import { describe, expect, it } from 'vitest';
import { expectedParameters, type Qwen2Config } from '../../src/engine/config.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { attentionBackward, attentionForward } from '../../src/engine/ref/attention.ts';
import {
  loraGradName,
  qwen2Backward,
  qwen2ForwardTrain,
  qwen2LossAndGrads,
} from '../../src/engine/ref/backward.ts';
import {
  denseMixtureBackward,
  denseMixtureForward,
  embeddingBackward,
  embeddingForward,
  mixtureBackward,
  mixtureForward,
} from '../../src/engine/ref/embedding.ts';
import {
  linearBackward,
  linearForward,
  linearLoraBackward,
  linearLoraForward,
} from '../../src/engine/ref/linear.ts';
import { logprobLoss, logprobLossBackward, logprobLossForward } from '../../src/engine/ref/loss.ts';
import { swigluBackward, swigluForward } from '../../src/engine/ref/mlp.ts';
import {
  type LoraWeights,
  type ModelInput,
  qwen2Forward,
  type RefModel,
} from '../../src/engine/ref/model.ts';
import { residualBackward } from '../../src/engine/ref/residual.ts';
import { rmsnormBackward, rmsnormForward } from '../../src/engine/ref/rmsnorm.ts';
import { ropeBackward, ropeForward } from '../../src/engine/ref/rope.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

// ---- helpers ---------------------------------------------------------------------------------------

/** Deterministic normal(0, 1) samples (mulberry32 + Box–Muller). */
function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return Float32Array.from(
    { length: n },
    () => scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()),
  );
}

/** Σ r_i · out_i in f64: a scalar whose gradient with respect to `out` is r. */
function dot(out: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * r[i];
  return s;
}

interface FdResult {
  maxErr: number;
  maxRef: number;
  checked: number;
}

/**
 * Central differences of `loss` with respect to x[i] for the given indices (all by default), against
 * `analytic`. The perturbed values are rounded to f32, and the quotient uses the step actually taken.
 */
function finiteDiff(
  x: Float32Array,
  loss: () => number,
  analytic: ArrayLike<number>,
  h: number,
  indices?: number[],
): FdResult {
  const idx = indices ?? Array.from({ length: x.length }, (_, i) => i);
  let maxErr = 0;
  let maxRef = 0;
  for (const i of idx) {
    const x0 = x[i];
    const xp = Math.fround(x0 + h);
    const xm = Math.fround(x0 - h);
    x[i] = xp;
    const lp = loss();
    x[i] = xm;
    const lm = loss();
    x[i] = x0;
    const num = (lp - lm) / (xp - xm);
    maxErr = Math.max(maxErr, Math.abs(num - analytic[i]));
    maxRef = Math.max(maxRef, Math.abs(analytic[i]));
  }
  return { maxErr, maxRef, checked: idx.length };
}

function expectClose(what: string, r: FdResult, tol: number): void {
  if (process.env.FD_LOG)
    console.log(`${what}: max err / max|grad| = ${(r.maxErr / r.maxRef).toExponential(2)} (tol ${tol})`);
  expect(r.maxRef, `${what}: the gradient is all zero, so the check proves nothing`).toBeGreaterThan(0);
  expect(
    r.maxErr,
    `${what}: max err ${r.maxErr.toExponential(2)} vs max|grad| ${r.maxRef.toExponential(2)}`,
  ).toBeLessThanOrEqual(tol * r.maxRef);
}

/** A few indices spread over [0, n), always including the first and last. */
function sample(n: number, count: number, seed: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const out = new Set<number>([0, n - 1]);
  const r = randn(count * 2, seed);
  for (let i = 0; out.size < count && i < r.length; i++) out.add(Math.floor(Math.abs(r[i] * 7919)) % n);
  return [...out];
}

/** The entry of largest |g| added to `idx`, so a check is judged against the tensor's real scale. */
function withLargest(g: ArrayLike<number>, idx: number[]): number[] {
  let big = 0;
  for (let i = 0; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[big])) big = i;
  return [big, ...idx];
}

// ---- layers ------------------------------------------------------------------------------------------

describe('embedding backward', () => {
  it('scatter-adds into the rows of repeated ids', () => {
    const V = 9;
    const C = 7;
    const N = 6;
    const ids = [3, 0, 3, 8, 3, 0];
    const wte = randn(V * C, 1);
    const r = randn(N * C, 2);
    const out = new Float32Array(N * C);
    const dwte = new Float32Array(V * C);
    embeddingBackward(dwte, r, ids, N, C);
    const loss = () => {
      embeddingForward(out, ids, wte, N, C);
      return dot(out, r);
    };
    expectClose('dwte', finiteDiff(wte, loss, dwte, 0.25), 1e-5);
    // Row 3 collects three positions; rows never used stay zero.
    for (let c = 0; c < C; c++) expect(dwte[3 * C + c]).toBeCloseTo(r[c] + r[2 * C + c] + r[4 * C + c], 6);
    expect(dwte.subarray(1 * C, 2 * C).every((g) => g === 0)).toBe(true);
  });

  it.each([
    [5, 3, 11, 13],
    [4, 1, 6, 5],
  ])('k-sparse mixture: N=%i K=%i V=%i C=%i, d wte and d weights', (N, K, V, C) => {
    const wte = randn(V * C, 3);
    const ids = Array.from({ length: N * K }, (_, i) => (i * 7 + 2) % V);
    ids[1 % (N * K)] = ids[0]; // the same token twice in one mixture
    const weights = Float32Array.from(randn(N * K, 4), (x) => Math.abs(x));
    const r = randn(N * C, 5);
    const out = new Float32Array(N * C);
    const loss = () => {
      mixtureForward(out, ids, weights, wte, N, K, C);
      return dot(out, r);
    };
    const dwte = new Float32Array(V * C);
    const dw = new Float32Array(N * K);
    mixtureBackward(dwte, dw, r, ids, weights, wte, N, K, C);
    expectClose('dwte', finiteDiff(wte, loss, dwte, 0.25), 1e-5);
    expectClose('dweights', finiteDiff(weights, loss, dw, 0.25), 1e-5);
    // Frozen embedding: only the weights' gradient.
    const dw2 = new Float32Array(N * K);
    mixtureBackward(null, dw2, r, ids, weights, wte, N, K, C);
    expect(Array.from(dw2)).toEqual(Array.from(dw));
  });

  it('dense mixture: d wte and d probs', () => {
    const N = 3;
    const V = 10;
    const C = 7;
    const wte = randn(V * C, 6);
    const probs = randn(N * V, 7, 0.3);
    probs[4] = 0; // a zero probability still gets a gradient
    const r = randn(N * C, 8);
    const out = new Float32Array(N * C);
    const loss = () => {
      denseMixtureForward(out, probs, wte, N, V, C);
      return dot(out, r);
    };
    const dwte = new Float32Array(V * C);
    const dprobs = new Float32Array(N * V);
    denseMixtureBackward(dwte, dprobs, r, probs, wte, N, V, C);
    expectClose('dwte', finiteDiff(wte, loss, dwte, 0.25), 1e-5);
    expectClose('dprobs', finiteDiff(probs, loss, dprobs, 0.25), 1e-5);
    expect(dprobs[4]).not.toBe(0);
  });
});

describe('linear backward', () => {
  it.each([
    [3, 7, 5, true],
    [4, 9, 1, false],
    [1, 1, 6, true],
  ])(
    'N=%i IC=%i OC=%i bias=%s: d inp, d weight, d bias; parameters +=, activations =',
    (N, IC, OC, withBias) => {
      const inp = randn(N * IC, 10);
      const weight = randn(OC * IC, 11);
      const bias = withBias ? randn(OC, 12) : null;
      const r = randn(N * OC, 13);
      const out = new Float32Array(N * OC);
      const loss = () => {
        linearForward(out, inp, weight, bias, N, IC, OC);
        return dot(out, r);
      };
      const dinp = new Float32Array(N * IC).fill(99); // overwritten
      const dweight = new Float32Array(OC * IC);
      const dbias = withBias ? new Float32Array(OC) : null;
      linearBackward(dinp, dweight, dbias, r, inp, weight, N, IC, OC);
      expectClose('dinp', finiteDiff(inp, loss, dinp, 0.25), 1e-5);
      expectClose('dweight', finiteDiff(weight, loss, dweight, 0.25), 1e-5);
      if (bias && dbias) expectClose('dbias', finiteDiff(bias, loss, dbias, 0.25), 1e-5);
      // A second call adds to the parameter gradients and overwrites the activation gradient.
      const first = dweight.slice();
      const firstInp = dinp.slice();
      linearBackward(dinp, dweight, dbias, r, inp, weight, N, IC, OC);
      for (let i = 0; i < dweight.length; i++) expect(dweight[i]).toBeCloseTo(2 * first[i], 5);
      expect(Array.from(dinp)).toEqual(Array.from(firstInp));
    },
  );

  it.each([
    [4, 7, 5, 2],
    [3, 6, 9, 1],
  ])('LoRA N=%i IC=%i OC=%i r=%i: d inp, d A, d B with the base frozen', (N, IC, OC, r) => {
    const inp = randn(N * IC, 20);
    const weight = randn(OC * IC, 21);
    const bias = randn(OC, 22);
    const A = randn(r * IC, 23);
    const B = randn(OC * r, 24);
    const scale = 1.75;
    const rr = randn(N * OC, 25);
    const out = new Float32Array(N * OC);
    const loss = () => {
      linearLoraForward(out, inp, weight, bias, A, B, scale, N, IC, OC, r);
      return dot(out, rr);
    };
    const dinp = new Float32Array(N * IC);
    const dA = new Float32Array(r * IC);
    const dB = new Float32Array(OC * r);
    const W0 = weight.slice();
    linearLoraBackward(dinp, dA, dB, rr, inp, weight, A, B, scale, N, IC, OC, r);
    expect(Array.from(weight)).toEqual(Array.from(W0));
    expectClose('dinp', finiteDiff(inp, loss, dinp, 0.25), 1e-4);
    expectClose('dA', finiteDiff(A, loss, dA, 0.25), 1e-4);
    expectClose('dB', finiteDiff(B, loss, dB, 0.25), 1e-4);
  });
});

describe('rmsnorm, rope, swiglu, residual backward', () => {
  it.each([
    [3, 7],
    [2, 2],
    [5, 36],
  ])('rmsnorm N=%i C=%i: d inp accumulates (residual stream), d weight', (N, C) => {
    const inp = randn(N * C, 30);
    const weight = randn(C, 31, 0.5).map((x) => 1 + x);
    const eps = 1e-6;
    const r = randn(N * C, 32);
    const out = new Float32Array(N * C);
    const rstd = new Float32Array(N);
    const loss = () => {
      rmsnormForward(out, rstd, inp, weight, N, C, eps);
      return dot(out, r);
    };
    loss();
    const base = randn(N * C, 33);
    const dinp = base.slice();
    const dweight = new Float32Array(C);
    rmsnormBackward(dinp, dweight, r, inp, weight, rstd, N, C);
    const added = dinp.map((x, i) => x - base[i]);
    expectClose('dinp', finiteDiff(inp, loss, added, 1e-3), 2e-3);
    expectClose('dweight', finiteDiff(weight, loss, dweight, 0.25), 1e-5);
  });

  it('rope: the inverse rotation, in place, at large and odd positions', () => {
    const N = 4;
    const nH = 3;
    const D = 6;
    const theta = 1e6;
    const positions = [0, 7, 1000, 3];
    const inp = randn(N * nH * D, 40);
    const r = randn(N * nH * D, 41);
    const out = new Float32Array(N * nH * D);
    const loss = () => {
      ropeForward(out, inp, positions, N, nH, D, theta);
      return dot(out, r);
    };
    const dinp = r.slice();
    ropeBackward(dinp, dinp, positions, N, nH, D, theta);
    expectClose('dinp', finiteDiff(inp, loss, dinp, 0.25), 1e-5);
    // Rotating forward then backward is the identity.
    const back = new Float32Array(N * nH * D);
    ropeForward(out, inp, positions, N, nH, D, theta);
    ropeBackward(back, out, positions, N, nH, D, theta);
    for (let i = 0; i < inp.length; i++) expect(back[i]).toBeCloseTo(inp[i], 5);
  });

  it('swiglu: d gate and d up', () => {
    const n = 23;
    const gate = randn(n, 50, 2);
    const up = randn(n, 51);
    const r = randn(n, 52);
    const out = new Float32Array(n);
    const loss = () => {
      swigluForward(out, gate, up, n);
      return dot(out, r);
    };
    const dgate = new Float32Array(n);
    const dup = new Float32Array(n);
    swigluBackward(dgate, dup, r, gate, up, n);
    expectClose('dgate', finiteDiff(gate, loss, dgate, 1e-3), 2e-3);
    expectClose('dup', finiteDiff(up, loss, dup, 0.25), 1e-5);
  });

  it('residual: both inputs accumulate the output gradient', () => {
    const da = Float32Array.from([1, 2]);
    const db = new Float32Array(2);
    residualBackward(da, db, Float32Array.from([0.5, -1]), 2);
    expect(Array.from(da)).toEqual([1.5, 1]);
    expect(Array.from(db)).toEqual([0.5, -1]);
  });
});

describe('attention backward', () => {
  it.each([
    // B, T, H, KVH, D, left padding of the last row
    [2, 5, 6, 2, 6, 2],
    [1, 4, 3, 3, 4, 0],
    [3, 3, 4, 1, 2, 1],
  ])('B=%i T=%i H=%i KVH=%i D=%i pad=%i: d q, d k, d v (causal, masked, GQA)', (B, T, H, KVH, D, pad) => {
    const q = randn(B * T * H * D, 60);
    const k = randn(B * T * KVH * D, 61);
    const v = randn(B * T * KVH * D, 62);
    const mask = new Uint8Array(B * T).fill(1);
    for (let t = 0; t < pad; t++) mask[(B - 1) * T + t] = 0;
    const r = randn(B * T * H * D, 63);
    const out = new Float32Array(B * T * H * D);
    const att = new Float32Array(B * H * T * T);
    const loss = () => {
      attentionForward(out, att, q, k, v, mask, B, T, T, 0, H, KVH, D);
      return dot(out, r);
    };
    loss();
    const dq = new Float32Array(q.length);
    const dk = new Float32Array(k.length);
    const dv = new Float32Array(v.length);
    attentionBackward(dq, dk, dv, r, q, k, v, att, B, T, T, 0, H, KVH, D);
    expectClose('dq', finiteDiff(q, loss, dq, 1e-3), 3e-3);
    expectClose('dk', finiteDiff(k, loss, dk, 1e-3), 3e-3);
    expectClose('dv', finiteDiff(v, loss, dv, 0.25), 1e-5);
    // Padded keys get no gradient.
    for (let t = 0; t < pad; t++) {
      const base = ((B - 1) * T + t) * KVH * D;
      expect(dk.subarray(base, base + KVH * D).every((g) => g === 0)).toBe(true);
      expect(dv.subarray(base, base + KVH * D).every((g) => g === 0)).toBe(true);
    }
  });

  it('a chunk of queries after cached keys (Tq < Tk, qStart > 0)', () => {
    const [B, Tq, Tk, H, KVH, D] = [2, 2, 5, 2, 1, 4];
    const qStart = Tk - Tq;
    const q = randn(B * Tq * H * D, 70);
    const k = randn(B * Tk * KVH * D, 71);
    const v = randn(B * Tk * KVH * D, 72);
    const r = randn(B * Tq * H * D, 73);
    const out = new Float32Array(B * Tq * H * D);
    const att = new Float32Array(B * H * Tq * Tk);
    const loss = () => {
      attentionForward(out, att, q, k, v, null, B, Tq, Tk, qStart, H, KVH, D);
      return dot(out, r);
    };
    loss();
    const dq = new Float32Array(q.length);
    const dk = new Float32Array(k.length);
    const dv = new Float32Array(v.length);
    attentionBackward(dq, dk, dv, r, q, k, v, att, B, Tq, Tk, qStart, H, KVH, D);
    expectClose('dq', finiteDiff(q, loss, dq, 1e-3), 3e-3);
    expectClose('dk', finiteDiff(k, loss, dk, 1e-3), 3e-3);
    expectClose('dv', finiteDiff(v, loss, dv, 0.25), 1e-5);
  });
});

describe('log-prob loss', () => {
  it('dlogits = coef · (softmax − onehot), row by row; in place; zero-coef rows are zero', () => {
    const N = 5;
    const V = 13;
    const logits = randn(N * V, 80, 3);
    const targets = [0, 12, 5, 5, 7];
    const coef = Float32Array.from([0.5, -1.25, 0, 2, 0.1]);
    const { loss, logp, dlogits } = logprobLoss(logits, targets, coef, N, V);
    const f = () => logprobLossForward(null, logits, targets, coef, N, V);
    expect(loss).toBeCloseTo(f(), 10);
    let want = 0;
    for (let n = 0; n < N; n++) want -= coef[n] * logp[n];
    expect(loss).toBeCloseTo(want, 6);
    expectClose('dlogits', finiteDiff(logits, f, dlogits, 1e-3), 2e-3);
    expect(dlogits.subarray(2 * V, 3 * V).every((g) => g === 0)).toBe(true);
    // Each row of dlogits sums to zero (softmax minus a one-hot, scaled).
    for (let n = 0; n < N; n++)
      expect(Math.abs(dot(dlogits.subarray(n * V, (n + 1) * V), new Float32Array(V).fill(1)))).toBeLessThan(
        1e-6,
      );
    const inPlace = logits.slice();
    logprobLossBackward(inPlace, inPlace, targets, coef, N, V);
    expect(Array.from(inPlace)).toEqual(Array.from(dlogits));
  });
});

// ---- the whole model -----------------------------------------------------------------------------

function randomModel(cfg: Qwen2Config, seed: number): RefModel {
  const weights = initQwen2Weights(cfg, seed, 0.35, 0.1);
  for (const [name, t] of weights) {
    if (name.endsWith('norm.weight'))
      t.data.set(randn(t.data.length, seed + t.data.length, 0.2).map((x) => 1 + x));
  }
  return { config: cfg, weights };
}

function randomLora(cfg: Qwen2Config, r: number, seed: number): LoraWeights {
  const layers: LoraWeights['layers'] = new Map();
  let s = seed;
  for (const [name, shape] of expectedParameters(cfg)) {
    if (shape.length !== 2 || name.includes('embed') || name === 'lm_head.weight') continue;
    if (name.includes('k_proj')) continue; // one projection left without an adapter
    const [out, inp] = shape;
    layers.set(name, {
      A: { shape: [r, inp], data: randn(r * inp, s++, 0.3) },
      B: { shape: [out, r], data: randn(out * r, s++, 0.3) },
    });
  }
  return { r, scale: 2, layers };
}

describe('whole-model backward against finite differences', () => {
  const B = 2;
  const T = 5;
  const N = B * T;
  const targets = Array.from({ length: N }, (_, i) => (i * 37 + 11) % 101);
  const coef = randn(N, 90);
  coef[0] = 0;
  // Left padding on the second row, HF-style position ids.
  const mask = [1, 1, 1, 1, 1, 0, 0, 1, 1, 1];
  const positionIds = [0, 1, 2, 3, 4, 0, 0, 0, 1, 2];
  coef[5] = 0;
  coef[6] = 0;
  // Measured worst cases: ~7e-4 (parameters, h = 3e-3), ~2e-4 (d probs, h = 1e-3, where the loss is
  // most curved); a wrong term gives errors of order 1.
  const H_STEP = 3e-3;
  const TOL = 5e-3;

  const lossOf = (model: RefModel, input: ModelInput, lora: LoraWeights | null) => () => {
    const out = qwen2Forward(model, input, B, T, { positionIds, attentionMask: mask, lora });
    return logprobLossForward(null, out.logits, targets, coef, N, model.config.vocabSize);
  };

  it.each([
    ['tied, ids', true, 'ids'],
    ['untied, k-sparse mixture', false, 'mixture'],
  ] as const)('%s: every parameter tensor, sampled', (_label, tied, kind) => {
    const cfg = tinyConfig({ tie_word_embeddings: tied, rope_theta: 1e4 });
    const model = randomModel(cfg, tied ? 3 : 4);
    const K = 3;
    const mixIds = Array.from({ length: N * K }, (_, i) => (i * 13 + 5) % cfg.vocabSize);
    const mixW = Float32Array.from(randn(N * K, 91), (x) => 0.2 + Math.abs(x));
    const input: ModelInput =
      kind === 'ids'
        ? { kind: 'ids', ids: targets.map((t) => (t * 3 + 1) % cfg.vocabSize) }
        : { kind: 'mixture', ids: mixIds, weights: mixW, k: K };
    const r = qwen2LossAndGrads(model, input, B, T, targets, coef, { positionIds, attentionMask: mask });
    expect([...r.grads.keys()]).toEqual([...expectedParameters(cfg).keys()]);
    const loss = lossOf(model, input, null);
    expect(r.loss).toBeCloseTo(loss(), 10);
    for (const [name, t] of model.weights) {
      const g = r.grads.get(name);
      if (!g) throw new Error(`no gradient for ${name}`);
      const fd = finiteDiff(t.data, loss, g, H_STEP, withLargest(g, sample(g.length, 6, name.length)));
      expectClose(name, fd, TOL);
    }
    if (kind === 'mixture' && r.dmixWeights) {
      expectClose(
        'd mixture weights',
        finiteDiff(mixW, loss, r.dmixWeights, H_STEP, withLargest(r.dmixWeights, sample(N * K, 12, 5))),
        TOL,
      );
    } else expect(kind).toBe('ids');
  });

  it('dense mixture input: d probs and d embedding', () => {
    const cfg = tinyConfig({ tie_word_embeddings: true });
    const model = randomModel(cfg, 5);
    const V = cfg.vocabSize;
    const probs = Float32Array.from(randn(N * V, 92), (x) => Math.abs(x) / V);
    const input: ModelInput = { kind: 'dense', probs };
    const r = qwen2LossAndGrads(model, input, B, T, targets, coef, { positionIds, attentionMask: mask });
    const loss = lossOf(model, input, null);
    if (!r.dprobs) throw new Error('no dprobs');
    expectClose(
      'dprobs',
      finiteDiff(probs, loss, r.dprobs, 1e-3, withLargest(r.dprobs, sample(N * V, 12, 6))),
      TOL,
    );
    const wte = model.weights.get('model.embed_tokens.weight');
    const g = r.grads.get('model.embed_tokens.weight');
    if (!wte || !g) throw new Error('no embedding');
    expectClose('dwte', finiteDiff(wte.data, loss, g, H_STEP, withLargest(g, sample(g.length, 12, 7))), TOL);
  });

  it('LoRA: only adapter gradients, in peft names, matching finite differences', () => {
    const cfg = tinyConfig({ tie_word_embeddings: false });
    const model = randomModel(cfg, 6);
    const lora = randomLora(cfg, 3, 100);
    const input: ModelInput = { kind: 'ids', ids: targets.map((t) => (t * 5 + 2) % cfg.vocabSize) };
    const r = qwen2LossAndGrads(
      model,
      input,
      B,
      T,
      targets,
      coef,
      { positionIds, attentionMask: mask, lora },
      { lora: true },
    );
    const want = [...lora.layers.keys()].flatMap((b) => [loraGradName(b, 'A'), loraGradName(b, 'B')]);
    expect([...r.grads.keys()]).toEqual(want);
    expect(want[0]).toBe('model.layers.0.self_attn.q_proj.lora_A.default.weight');
    const loss = lossOf(model, input, lora);
    for (const [base, pair] of lora.layers) {
      for (const [which, t] of [
        ['A', pair.A],
        ['B', pair.B],
      ] as const) {
        const g = r.grads.get(loraGradName(base, which));
        if (!g) throw new Error(`missing ${base} ${which}`);
        expectClose(
          `${base} ${which}`,
          finiteDiff(t.data, loss, g, H_STEP, withLargest(g, sample(g.length, 6, base.length))),
          TOL,
        );
      }
    }
  });

  it('the training forward gives qwen2Forward logits; gradients accumulate across calls', () => {
    const cfg = tinyConfig({ tie_word_embeddings: true });
    const model = randomModel(cfg, 7);
    const input: ModelInput = { kind: 'ids', ids: targets };
    const saved = qwen2ForwardTrain(model, input, B, T, { positionIds, attentionMask: mask });
    const plain = qwen2Forward(model, input, B, T, { positionIds, attentionMask: mask });
    expect(Array.from(saved.logits)).toEqual(Array.from(plain.logits));
    const { dlogits } = logprobLoss(saved.logits, targets, coef, N, cfg.vocabSize);
    const once = qwen2Backward(saved, dlogits).grads;
    const acc = qwen2Backward(saved, dlogits).grads;
    qwen2Backward(saved, dlogits, { grads: acc });
    for (const [name, g] of once) {
      const a = acc.get(name);
      if (!a) throw new Error(name);
      for (let i = 0; i < g.length; i += 7) expect(a[i]).toBeCloseTo(2 * g[i], 5);
    }
    // A frozen embedding gets no gradient; the rest is unchanged.
    const frozen = qwen2Backward(saved, dlogits, { trainEmbeddings: false }).grads;
    expect(frozen.has('model.embed_tokens.weight')).toBe(false);
    expect(Array.from(frozen.get('model.norm.weight') ?? [])).toEqual(
      Array.from(once.get('model.norm.weight') ?? [1]),
    );
  });

  it('the finite-difference check catches a 2% error in one gradient', () => {
    const N2 = 3;
    const IC = 5;
    const OC = 4;
    const inp = randn(N2 * IC, 95);
    const weight = randn(OC * IC, 96);
    const r = randn(N2 * OC, 97);
    const out = new Float32Array(N2 * OC);
    const dweight = new Float32Array(OC * IC);
    linearBackward(null, dweight, null, r, inp, weight, N2, IC, OC);
    let big = 0;
    for (let i = 0; i < dweight.length; i++) if (Math.abs(dweight[i]) > Math.abs(dweight[big])) big = i;
    dweight[big] *= 1.02;
    const fd = finiteDiff(
      weight,
      () => {
        linearForward(out, inp, weight, null, N2, IC, OC);
        return dot(out, r);
      },
      dweight,
      0.25,
    );
    expect(fd.maxErr).toBeGreaterThan(TOL * fd.maxRef);
  });
});
