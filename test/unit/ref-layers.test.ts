// The CPU reference, layer by layer, on cases whose answer is known by hand.
import { describe, expect, it } from 'vitest';
import { attentionForward } from '../../src/engine/ref/attention.ts';
import { denseMixtureForward, embeddingForward, mixtureForward } from '../../src/engine/ref/embedding.ts';
import { linearForward, linearLoraForward } from '../../src/engine/ref/linear.ts';
import {
  entropyForward,
  gatherLogprobsForward,
  hiddenEntropyForward,
  logSoftmaxForward,
} from '../../src/engine/ref/logits.ts';
import { swigluForward } from '../../src/engine/ref/mlp.ts';
import { rmsnormForward } from '../../src/engine/ref/rmsnorm.ts';
import { ropeForward } from '../../src/engine/ref/rope.ts';

const rand = (n: number, seed = 1) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
};

describe('embeddings', () => {
  const V = 7;
  const C = 5;
  const wte = rand(V * C);
  it('a one-hot mixture equals the token embedding', () => {
    const a = new Float32Array(2 * C);
    const b = new Float32Array(2 * C);
    embeddingForward(a, [3, 6], wte, 2, C);
    mixtureForward(b, [3, 0, 6, 1], [1, 0, 1, 0], wte, 2, 2, C);
    expect(Array.from(b)).toEqual(Array.from(a));
    const probs = new Float32Array(2 * V);
    probs[3] = 1;
    probs[V + 6] = 1;
    const d = new Float32Array(2 * C);
    denseMixtureForward(d, probs, wte, 2, V, C);
    expect(Array.from(d)).toEqual(Array.from(a));
  });
  it('a mixture is the weighted sum of rows', () => {
    const out = new Float32Array(C);
    mixtureForward(out, [1, 2], [0.25, 0.75], wte, 1, 2, C);
    for (let c = 0; c < C; c++) expect(out[c]).toBeCloseTo(0.25 * wte[C + c] + 0.75 * wte[2 * C + c], 6);
  });
  it('rejects ids outside the vocabulary', () => {
    expect(() => embeddingForward(new Float32Array(C), [V], wte, 1, C)).toThrow(/outside the vocabulary/);
  });
});

describe('rmsnorm, linear, swiglu', () => {
  it('rmsnorm normalises the root mean square to the weight', () => {
    const x = Float32Array.from([3, 4]);
    const out = new Float32Array(2);
    const rstd = new Float32Array(1);
    rmsnormForward(out, rstd, x, Float32Array.from([1, 2]), 1, 2, 0);
    const r = 1 / Math.sqrt(12.5);
    expect(rstd[0]).toBeCloseTo(r, 6);
    expect(out[0]).toBeCloseTo(3 * r, 6);
    expect(out[1]).toBeCloseTo(8 * r, 6);
  });
  it('linear uses the [out, in] layout and adds the bias', () => {
    const out = new Float32Array(2);
    linearForward(
      out,
      Float32Array.from([1, 2, 3]),
      Float32Array.from([1, 0, 0, 0, 1, 1]),
      Float32Array.from([10, 20]),
      1,
      3,
      2,
    );
    expect(Array.from(out)).toEqual([11, 25]);
  });
  it('LoRA adds scale · B A x', () => {
    const x = Float32Array.from([1, 2]);
    const W = Float32Array.from([1, 0, 0, 1]);
    const A = Float32Array.from([1, 1]); // r = 1
    const B = Float32Array.from([2, -1]);
    const out = new Float32Array(2);
    linearLoraForward(out, x, W, null, A, B, 0.5, 1, 2, 2, 1);
    expect(Array.from(out)).toEqual([1 + 0.5 * 2 * 3, 2 + 0.5 * -1 * 3]);
  });
  it('swiglu is silu(gate) · up', () => {
    const out = new Float32Array(2);
    swigluForward(out, Float32Array.from([0, 2]), Float32Array.from([5, 3]), 2);
    expect(out[0]).toBe(0);
    expect(out[1]).toBeCloseTo((2 / (1 + Math.exp(-2))) * 3, 6);
  });
});

describe('rope', () => {
  it('is the identity at position 0 and a rotation that keeps norms elsewhere', () => {
    const D = 8;
    const x = rand(2 * D, 3);
    const out = new Float32Array(2 * D);
    ropeForward(out, x, [0, 5], 2, 1, D, 10000);
    for (let i = 0; i < D; i++) expect(out[i]).toBeCloseTo(x[i], 7);
    const norm = (a: Float32Array, o: number) => Math.hypot(...Array.from(a.subarray(o, o + D)));
    expect(norm(out, D)).toBeCloseTo(norm(x, D), 5);
    // Pair (0, D/2) rotates by angle pos · θ^0 = 5 radians.
    expect(out[D]).toBeCloseTo(x[D] * Math.cos(5) - x[D + D / 2] * Math.sin(5), 6);
  });
});

describe('attention', () => {
  it('the first query sees only the first value; masked keys are skipped; GQA shares kv heads', () => {
    const B = 1;
    const T = 3;
    const H = 2;
    const KVH = 1;
    const D = 2;
    const q = rand(T * H * D, 5);
    const k = rand(T * KVH * D, 6);
    const v = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const out = new Float32Array(T * H * D);
    attentionForward(out, null, q, k, v, null, B, T, T, 0, H, KVH, D);
    expect(Array.from(out.subarray(0, 4))).toEqual([1, 2, 1, 2]);
    // Masking key 1 for the last query: its output mixes only values 0 and 2.
    const masked = new Float32Array(T * H * D);
    attentionForward(masked, null, q, k, v, [1, 0, 1], B, T, T, 0, H, KVH, D);
    const s0 = (q[8] * k[0] + q[9] * k[1]) / Math.sqrt(2);
    const s2 = (q[8] * k[4] + q[9] * k[5]) / Math.sqrt(2);
    const p0 = 1 / (1 + Math.exp(s2 - s0));
    expect(masked[8]).toBeCloseTo(p0 * 1 + (1 - p0) * 5, 5);
  });
  it('saves probabilities that sum to one over visible keys', () => {
    const B = 2;
    const T = 4;
    const H = 2;
    const D = 3;
    const att = new Float32Array(B * H * T * T);
    attentionForward(
      new Float32Array(B * T * H * D),
      att,
      rand(B * T * H * D, 7),
      rand(B * T * H * D, 8),
      rand(B * T * H * D, 9),
      null,
      B,
      T,
      T,
      0,
      H,
      H,
      D,
    );
    for (let r = 0; r < B * H * T; r++) {
      const i = r % T;
      const row = att.subarray(r * T, r * T + T);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      for (let j = i + 1; j < T; j++) expect(row[j]).toBe(0);
    }
  });
});

describe('distributions', () => {
  it('log-softmax, gathered log-probs and entropy agree', () => {
    const V = 5;
    const logits = Float32Array.from([1, 2, 3, 0, -1]);
    const lsm = new Float32Array(V);
    logSoftmaxForward(lsm, logits, 1, V);
    expect(Array.from(lsm).reduce((a, b) => a + Math.exp(b), 0)).toBeCloseTo(1, 6);
    const lp = new Float32Array(1);
    gatherLogprobsForward(lp, logits, [2], 1, V);
    expect(lp[0]).toBeCloseTo(lsm[2], 6);
    const h = new Float32Array(1);
    entropyForward(h, logits, 1, V);
    expect(h[0]).toBeCloseTo(-Array.from(lsm).reduce((a, b) => a + Math.exp(b) * b, 0), 6);
  });
  it('uniform logits have entropy log V, also for hidden states', () => {
    const h = new Float32Array(1);
    entropyForward(h, new Float32Array(10).fill(3), 1, 10);
    expect(h[0]).toBeCloseTo(Math.log(10), 6);
    hiddenEntropyForward(h, new Float32Array(16).fill(-2), 1, 16);
    expect(h[0]).toBeCloseTo(Math.log(16), 6);
  });
});
