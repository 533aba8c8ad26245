// Every backward and optimizer WGSL kernel against its CPU reference (src/engine/ref *Backward,
// ref/loss.ts, train/optim.ts) on random inputs at awkward sizes. Activation gradients start as NaN
// (an element never written fails); parameter gradients and the residual stream start non-zero, so
// `+=` is checked against `=`.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuTensor } from '../../src/engine/gpu/buffers.ts';
import type { CommandRecorder, GpuContext } from '../../src/engine/gpu/commands.ts';
import { attentionForward as attentionForwardGpu, ropeTable } from '../../src/engine/gpu/ops.ts';
import * as gpu from '../../src/engine/gpu/opsBackward.ts';
import * as optim from '../../src/engine/gpu/opsOptimizer.ts';
import { attentionBackward, attentionForward } from '../../src/engine/ref/attention.ts';
import { denseMixtureBackward, embeddingBackward, mixtureBackward } from '../../src/engine/ref/embedding.ts';
import { linearBackward, linearLoraBackward } from '../../src/engine/ref/linear.ts';
import {
  logprobLossBackward,
  logprobLossForward,
  type WeightedTargets,
  weightedLogprobLoss,
} from '../../src/engine/ref/loss.ts';
import { swigluBackward } from '../../src/engine/ref/mlp.ts';
import { residualBackward } from '../../src/engine/ref/residual.ts';
import { rmsnormBackward, rmsnormForward } from '../../src/engine/ref/rmsnorm.ts';
import { ropeBackward } from '../../src/engine/ref/rope.ts';
import { adamwUpdate, clipGradNorm, globalGradNorm, sgdUpdate } from '../../src/engine/train/optim.ts';
import { actionLogLikelihood, type StepRecord } from '../../src/mot/likelihood.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import {
  expectClose,
  poisoned,
  randomFloats,
  randomInts,
  readF32,
  testContext,
  upload,
} from '../helpers/gpu.ts';

let ctx: GpuContext;

beforeAll(async () => {
  ctx = await testContext();
});

async function run(record: (rec: CommandRecorder) => void): Promise<void> {
  const rec = ctx.recorder('test');
  record(rec);
  await rec.submit();
}

function uploadPlan(plan: gpu.EmbeddingPlan): gpu.GpuEmbeddingPlan {
  return {
    U: plan.U,
    buckets: upload(ctx, 'buckets', plan.buckets),
    rows: upload(ctx, 'rows', plan.rows),
    weights: plan.weights ? upload(ctx, 'plan weights', plan.weights) : null,
  };
}

describe('embedding backward (deterministic scatter-add)', () => {
  const [N, C, V] = [23, 37, 11]; // V small: many repeated ids
  const dout = randomFloats(N * C, 1);
  const wte = randomFloats(V * C, 2);
  const dwte0 = randomFloats(V * C, 3);

  it('ids: dwte += rows of dout, repeated ids add up', async () => {
    const ids = randomInts(N, 4, V);
    const want = dwte0.slice();
    embeddingBackward(want, dout, ids, N, C);
    const dwte = upload(ctx, 'dwte', dwte0);
    const plan = uploadPlan(gpu.planEmbeddingBackward(ids, null));
    await run((r) => gpu.embeddingBackward(r, dwte, upload(ctx, 'dout', dout), plan, C));
    expectClose('dwte', await readF32(ctx, dwte), want);
  });

  it('k-sparse mixture: dwte += weighted rows, dweights = dout · wte[id]', async () => {
    const K = 3;
    const ids = randomInts(N * K, 5, V);
    const weights = randomFloats(N * K, 6);
    weights[4] = 0;
    const wantW = dwte0.slice();
    const wantD = new Float32Array(N * K);
    mixtureBackward(wantW, wantD, dout, ids, weights, wte, N, K, C);
    const dwte = upload(ctx, 'dwte', dwte0);
    const dweights = poisoned(ctx, 'dweights', N * K);
    const plan = uploadPlan(gpu.planEmbeddingBackward(ids, weights, K));
    await run((r) =>
      gpu.mixtureBackward(
        r,
        dwte,
        dweights,
        upload(ctx, 'dout', dout),
        plan,
        upload(ctx, 'ids', ids),
        upload(ctx, 'wte', wte),
        N,
        K,
        C,
        V,
      ),
    );
    expectClose('mixture dwte', await readF32(ctx, dwte), wantW);
    expectClose('mixture dweights', await readF32(ctx, dweights), wantD);
  });

  it('dense mixture: dwte += probsᵀ · dout, dprobs = dout · wteᵀ', async () => {
    const probs = randomFloats(N * V, 7).map(Math.abs);
    const wantW = dwte0.slice();
    const wantP = new Float32Array(N * V);
    denseMixtureBackward(wantW, wantP, dout, probs, wte, N, V, C);
    const dwte = upload(ctx, 'dwte', dwte0);
    const dprobs = poisoned(ctx, 'dprobs', N * V);
    await run((r) =>
      gpu.denseMixtureBackward(
        r,
        dwte,
        dprobs,
        upload(ctx, 'dout', dout),
        upload(ctx, 'probs', probs),
        upload(ctx, 'wte', wte),
        N,
        V,
        C,
      ),
    );
    expectClose('dense dwte', await readF32(ctx, dwte), wantW);
    expectClose('dense dprobs', await readF32(ctx, dprobs), wantP);
  });
});

describe('rmsnorm backward', () => {
  for (const [N, C] of [
    [7, 37],
    [3, 301],
    [70, 5],
  ]) {
    it(`N=${N} C=${C}: dinp += (residual), dweight +=`, async () => {
      const inp = randomFloats(N * C, 10, 2);
      const w = randomFloats(C, 11);
      const dout = randomFloats(N * C, 12);
      const rstd = new Float32Array(N);
      rmsnormForward(new Float32Array(N * C), rstd, inp, w, N, C, 1e-6);
      const dinp0 = randomFloats(N * C, 13);
      const dw0 = randomFloats(C, 14);
      const wantI = dinp0.slice();
      const wantW = dw0.slice();
      rmsnormBackward(wantI, wantW, dout, inp, w, rstd, N, C);
      const dinp = upload(ctx, 'dinp', dinp0);
      const dw = upload(ctx, 'dw', dw0);
      await run((r) =>
        gpu.rmsnormBackward(
          r,
          dinp,
          dw,
          upload(ctx, 'dout', dout),
          upload(ctx, 'inp', inp),
          upload(ctx, 'w', w),
          upload(ctx, 'rstd', rstd),
          N,
          C,
        ),
      );
      expectClose('rmsnorm dinp', await readF32(ctx, dinp), wantI);
      expectClose('rmsnorm dweight', await readF32(ctx, dw), wantW);
    });
  }
});

describe('matmul (linear) backward', () => {
  const shapes: [number, number, number][] = [
    [3, 37, 53],
    [1, 6, 5],
    [70, 130, 67],
    [17, 100, 129],
  ];
  for (const [N, IC, OC] of shapes) {
    it(`N=${N} IC=${IC} OC=${OC}: dinp =, then +=; dweight +=, dbias +=`, async () => {
      const inp = randomFloats(N * IC, 20 + N);
      const w = randomFloats(OC * IC, 21 + IC);
      const dout = randomFloats(N * OC, 22 + OC);
      const dw0 = randomFloats(OC * IC, 23);
      const db0 = randomFloats(OC, 24);
      const wantI = new Float32Array(N * IC);
      const wantW = dw0.slice();
      const wantB = db0.slice();
      linearBackward(wantI, wantW, wantB, dout, inp, w, N, IC, OC);
      const dinp = poisoned(ctx, 'dinp', N * IC);
      const dw = upload(ctx, 'dw', dw0);
      const db = upload(ctx, 'db', db0);
      const t = { inp: upload(ctx, 'inp', inp), w: upload(ctx, 'w', w), dout: upload(ctx, 'dout', dout) };
      await run((r) => gpu.matmulBackward(r, dinp, dw, db, t.dout, t.inp, t.w, N, IC, OC));
      expectClose('dinp', await readF32(ctx, dinp), wantI);
      expectClose('dweight', await readF32(ctx, dw), wantW);
      expectClose('dbias', await readF32(ctx, db), wantB);
      // Frozen weight (null gradients), input gradient accumulated: dinp += dout · W.
      await run((r) =>
        gpu.matmulBackward(r, dinp, null, null, t.dout, t.inp, t.w, N, IC, OC, { accumulate: true }),
      );
      expectClose(
        'dinp accumulated',
        await readF32(ctx, dinp),
        wantI.map((x) => 2 * x),
      );
      expectClose('dweight untouched when frozen', await readF32(ctx, dw), wantW);
    });
  }

  it('LoRA: dA +=, dB +=, dinp = dout · W + du · A (base frozen)', async () => {
    const [N, IC, OC, r, scale] = [19, 37, 29, 3, 1.7];
    const inp = randomFloats(N * IC, 30);
    const w = randomFloats(OC * IC, 31);
    const A = randomFloats(r * IC, 32);
    const B = randomFloats(OC * r, 33);
    const dout = randomFloats(N * OC, 34);
    const dA0 = randomFloats(r * IC, 35);
    const dB0 = randomFloats(OC * r, 36);
    const wantI = new Float32Array(N * IC);
    const wantA = dA0.slice();
    const wantB = dB0.slice();
    linearLoraBackward(wantI, wantA, wantB, dout, inp, w, A, B, scale, N, IC, OC, r);
    const dinp = poisoned(ctx, 'dinp', N * IC);
    const dA = upload(ctx, 'dA', dA0);
    const dB = upload(ctx, 'dB', dB0);
    await run((rec) =>
      gpu.matmulLoraBackward(
        rec,
        dinp,
        dA,
        dB,
        upload(ctx, 'dout', dout),
        upload(ctx, 'inp', inp),
        upload(ctx, 'w', w),
        upload(ctx, 'A', A),
        upload(ctx, 'B', B),
        scale,
        N,
        IC,
        OC,
        r,
        poisoned(ctx, 'u', N * r),
        poisoned(ctx, 'du', N * r),
      ),
    );
    expectClose('lora dinp', await readF32(ctx, dinp), wantI);
    expectClose('lora dA', await readF32(ctx, dA), wantA);
    expectClose('lora dB', await readF32(ctx, dB), wantB);
  });
});

describe('rope backward', () => {
  for (const [N, nH, D, theta] of [
    [7, 3, 6, 10000],
    [5, 2, 64, 1e6],
  ]) {
    it(`N=${N} nH=${nH} D=${D}: the inverse rotation`, async () => {
      const dout = randomFloats(N * nH * D, 40);
      const pos = Array.from({ length: N }, (_, i) => (i * 7) % 13);
      const want = new Float32Array(N * nH * D);
      ropeBackward(want, dout, pos, N, nH, D, theta);
      const dinp = poisoned(ctx, 'dinp', N * nH * D);
      const cs = upload(ctx, 'cs', ropeTable(pos, N, D, theta));
      await run((r) => gpu.ropeBackward(r, dinp, upload(ctx, 'dout', dout), cs, N, nH, D));
      expectClose('rope backward', await readF32(ctx, dinp), want);
    });
  }
});

describe('attention backward (probabilities recomputed from the log-sum-exp, GQA, mask, causal)', () => {
  const cases = [
    { name: 'left padding, GQA 6/2', B: 2, Tq: 7, Tk: 7, qStart: 0, H: 6, KVH: 2, D: 6, pad: 3 },
    { name: 'chunked keys (T > 64), D = 100', B: 1, Tq: 70, Tk: 70, qStart: 0, H: 2, KVH: 1, D: 100, pad: 0 },
    { name: 'queries at an offset (Tq < Tk)', B: 2, Tq: 3, Tk: 9, qStart: 6, H: 4, KVH: 4, D: 10, pad: 2 },
    { name: 'a fully padded row', B: 2, Tq: 5, Tk: 5, qStart: 0, H: 2, KVH: 1, D: 32, pad: 5 },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { B, Tq, Tk, qStart, H, KVH, D } = c;
      const q = randomFloats(B * Tq * H * D, 50, 1.5);
      const k = randomFloats(B * Tk * KVH * D, 51, 1.5);
      const v = randomFloats(B * Tk * KVH * D, 52);
      const dout = randomFloats(B * Tq * H * D, 53);
      const mask = new Uint32Array(B * Tk).fill(1);
      for (let j = 0; j < c.pad; j++) mask[(B - 1) * Tk + j] = 0;
      const att = new Float32Array(B * H * Tq * Tk);
      attentionForward(new Float32Array(B * Tq * H * D), att, q, k, v, mask, B, Tq, Tk, qStart, H, KVH, D);
      const want = {
        dq: new Float32Array(B * Tq * H * D),
        dk: new Float32Array(B * Tk * KVH * D),
        dv: new Float32Array(B * Tk * KVH * D),
      };
      attentionBackward(want.dq, want.dk, want.dv, dout, q, k, v, att, B, Tq, Tk, qStart, H, KVH, D);
      const dq = poisoned(ctx, 'dq', B * Tq * H * D);
      const dk = poisoned(ctx, 'dk', B * Tk * KVH * D);
      const dv = poisoned(ctx, 'dv', B * Tk * KVH * D);
      // The backward recomputes the probabilities from the forward's log-sum-exp, next to its output.
      const out = poisoned(ctx, 'out', B * Tq * H * D);
      const lse = poisoned(ctx, 'lse', B * H * Tq);
      const [gq, gk, gv, gmask] = [q, k, v, mask].map((x, i) => upload(ctx, `in${i}`, x));
      await run((r) => {
        attentionForwardGpu(r, out, gq, gk, gv, gmask, B, Tq, Tk, qStart, H, KVH, D, Tk, lse);
        gpu.attentionBackward(
          r,
          dq,
          dk,
          dv,
          poisoned(ctx, 'delta', B * H * Tq),
          upload(ctx, 'dout', dout),
          lse,
          gq,
          gk,
          gv,
          gmask,
          B,
          Tq,
          Tk,
          qStart,
          H,
          KVH,
          D,
        );
      });
      expectClose('dq', await readF32(ctx, dq), want.dq);
      expectClose('dk', await readF32(ctx, dk), want.dk);
      expectClose('dv', await readF32(ctx, dv), want.dv);
    });
  }
});

describe('elementwise backward', () => {
  const n = 101;
  it('swiglu', async () => {
    const g = randomFloats(n, 60, 30);
    const u = randomFloats(n, 61);
    const dout = randomFloats(n, 62);
    const wantG = new Float32Array(n);
    const wantU = new Float32Array(n);
    swigluBackward(wantG, wantU, dout, g, u, n);
    const dg = poisoned(ctx, 'dg', n);
    const du = poisoned(ctx, 'du', n);
    await run((r) =>
      gpu.swigluBackward(r, dg, du, upload(ctx, 'dout', dout), upload(ctx, 'g', g), upload(ctx, 'u', u), n),
    );
    expectClose('dgate', await readF32(ctx, dg), wantG);
    expectClose('dup', await readF32(ctx, du), wantU);
  });
  it('residual: both branches accumulate; one branch alone', async () => {
    const dout = randomFloats(n, 63);
    const a0 = randomFloats(n, 64);
    const b0 = randomFloats(n, 65);
    const wantA = a0.slice();
    const wantB = b0.slice();
    residualBackward(wantA, wantB, dout, n);
    const da = upload(ctx, 'da', a0);
    const db = upload(ctx, 'db', b0);
    const td = upload(ctx, 'dout', dout);
    await run((r) => gpu.residualBackward(r, da, db, td, n));
    expectClose('da', await readF32(ctx, da), wantA);
    expectClose('db', await readF32(ctx, db), wantB);
    residualBackward(wantA, null, dout, n);
    await run((r) => gpu.residualBackward(r, da, null, td, n));
    expectClose('da alone', await readF32(ctx, da), wantA);
    expectClose('db untouched', await readF32(ctx, db), wantB);
  });
});

describe('log-prob loss, fused forward + backward in place', () => {
  for (const [N, V, dloss] of [
    [5, 101, 1],
    [3, 1001, 0.5],
  ]) {
    it(`N=${N} V=${V} dloss=${dloss}`, async () => {
      const logits = randomFloats(N * V, 70 + V, 8);
      const targets = randomInts(N, 71, V);
      const coef = randomFloats(N, 72);
      coef[1] = 0; // a masked position: zero gradient row
      const wantLogp = new Float32Array(N);
      const loss = logprobLossForward(wantLogp, logits, targets, coef, N, V);
      const wantD = new Float32Array(N * V);
      logprobLossBackward(wantD, logits, targets, coef, N, V, dloss);
      const d = upload(ctx, 'logits', logits);
      const logp = poisoned(ctx, 'logp', N);
      await run((r) =>
        gpu.logprobLossBackward(r, d, logp, upload(ctx, 't', targets), upload(ctx, 'c', coef), N, V, dloss),
      );
      const gotLogp = await readF32(ctx, logp);
      expectClose('logp', gotLogp, wantLogp);
      let gotLoss = 0;
      for (let n = 0; n < N; n++) gotLoss -= coef[n] * gotLogp[n];
      expectClose('loss', [gotLoss], [loss]);
      const gotD = await readF32(ctx, d);
      expectClose('dlogits', gotD, wantD);
      expect(gotD.subarray(V, 2 * V).every((x) => x === 0)).toBe(true);
    });
  }
});

describe('row scaling of the loss gradient (GpuTrainer.backwardFrom)', () => {
  const [N, V, dloss] = [6, 1001, 0.75];
  const logits = randomFloats(N * V, 90, 8);
  const targets = randomInts(N, 91, V);
  const coef = randomFloats(N, 92);
  coef[2] = 0; // a masked position: an exact zero row

  it('row n ×= dloss · coef[n] (CPU), a zero factor writes 0 even over NaN', async () => {
    const x = randomFloats(N * V, 93);
    x[2 * V + 5] = Number.NaN;
    const want = Float32Array.from(x, (v, i) => {
      const c = Math.fround(dloss * coef[Math.floor(i / V)]);
      return c === 0 ? 0 : c * v;
    });
    const d = upload(ctx, 'd', x);
    await run((r) => gpu.scaleRows(r, d, upload(ctx, 'c', coef), N, V, dloss));
    const got = await readF32(ctx, d);
    expectClose('scaled rows', got, want);
    expect(got.subarray(2 * V, 3 * V).every((v) => v === 0)).toBe(true);
  });

  it('the loss at unit coefficients, then scaled, is the loss at coef bit for bit', async () => {
    const at = async (c: Float32Array, scale: boolean) => {
      const d = upload(ctx, 'logits', logits);
      const logp = poisoned(ctx, 'logp', N);
      const tc = upload(ctx, 'c', c);
      await run((r) => {
        gpu.logprobLossBackward(r, d, logp, upload(ctx, 't', targets), tc, N, V, scale ? 1 : dloss);
        if (scale) gpu.scaleRows(r, d, upload(ctx, 'c2', coef), N, V, dloss);
      });
      return { logp: await readF32(ctx, logp), d: await readF32(ctx, d) };
    };
    const direct = await at(coef, false);
    const split = await at(new Float32Array(N).fill(1), true);
    expect(split.logp).toEqual(direct.logp);
    expect(split.d).toEqual(direct.d);
  });
});

describe('log-prob loss over K weighted targets per position', () => {
  const [N, V, K, dloss] = [7, 101, 3, 0.75];
  const logits = randomFloats(N * V, 80, 6);
  const targets = randomInts(N * K, 81, V);
  targets[1 * K + 2] = targets[1 * K]; // a repeated id
  targets[4 * K + 1] = targets[4 * K + 2] = targets[4 * K]; // one id three times
  const coef = randomFloats(N, 82);
  coef[3] = 0; // a masked position: zero gradient row
  // Weights in [0, 1.5): no row sums to 1; entry 2 of rows 0 and 5 pads (weight 0).
  const weights = Float32Array.from(randomFloats(N * K, 83), (x) => 0.75 * (x + 1));
  weights[0 * K + 2] = weights[5 * K + 2] = 0;

  async function gpuLoss(
    t: Uint32Array,
    multi: { K: number; weights: Float32Array | null; renormalise?: boolean } | null,
  ): Promise<{ logp: Float32Array; dlogits: Float32Array }> {
    const d = upload(ctx, 'logits', logits);
    const logp = poisoned(ctx, 'logp', N);
    const w = multi?.weights ? upload(ctx, 'w', multi.weights) : null;
    await run((r) =>
      gpu.logprobLossBackward(
        r,
        d,
        logp,
        upload(ctx, 't', t),
        upload(ctx, 'c', coef),
        N,
        V,
        dloss,
        multi ? { K: multi.K, weights: w, renormalise: multi.renormalise } : null,
      ),
    );
    return { logp: await readF32(ctx, logp), dlogits: await readF32(ctx, d) };
  }

  function check(got: { logp: Float32Array; dlogits: Float32Array }, multi: WeightedTargets): void {
    const want = weightedLogprobLoss(logits, targets, coef, N, V, multi, dloss);
    expectClose('logp', got.logp, want.logp);
    let loss = 0;
    for (let n = 0; n < N; n++) loss -= coef[n] * got.logp[n];
    expectClose('loss', [loss], [want.loss]);
    expectClose('dlogits', got.dlogits, want.dlogits);
    expect(got.dlogits.subarray(3 * V, 4 * V).every((x) => x === 0)).toBe(true);
  }

  it('fixed weights: ℓ = Σ w log p(target), repeated ids add up, weight 0 pads', async () => {
    const multi = { K, weights };
    check(await gpuLoss(targets, multi), multi);
  });

  it('renormalised weights: the weighted-ids rule of mot/likelihood.ts', async () => {
    const multi = { K, weights, renormalise: true };
    const got = await gpuLoss(targets, multi);
    check(got, multi);
    // Unit weights on the step's ids: ℓ and dℓ/dlogits are those of actionLogLikelihood (paper, weighted-ids).
    const ones = new Float32Array(N * K).fill(1);
    const unit = await gpuLoss(targets, { K, weights: ones, renormalise: true });
    const settings = makeSettings('different-tokens', { paperTemperature: 'one' }, V);
    expect(settings.paperRule).toBe('weighted-ids');
    const wantLogp = new Float32Array(N);
    const wantD = new Float32Array(N * V);
    for (let n = 0; n < N; n++) {
      const ids = Array.from(targets.subarray(n * K, (n + 1) * K));
      const record: StepRecord = {
        mode: 'mixture',
        ids,
        weights: ids.map(() => 1 / K),
        representative: ids[0],
        temperature: 0.7, // paperTemperature 'one' scores at T = 1 whatever the sampling temperature
        logLikelihood: 0,
        entropy: 0,
        argmax: 0,
        sampled: null,
        noise: null,
        counters: { seed: 0, row: 0, step: 0 },
      };
      const ll = actionLogLikelihood(logits.subarray(n * V, (n + 1) * V), V, record, settings);
      wantLogp[n] = ll.value;
      const c = dloss * coef[n];
      for (let v = 0; v < V; v++) wantD[n * V + v] = c === 0 ? 0 : -c * ll.grad[v];
    }
    expectClose('logp (likelihood.ts)', unit.logp, wantLogp);
    expectClose('dlogits (likelihood.ts)', unit.dlogits, wantD);
  });

  it('K = 1 is the one-target loss, bit for bit; zero-weight padding to K = 3 changes nothing', async () => {
    const one = Uint32Array.from({ length: N }, (_, n) => targets[n * K]);
    const plain = await gpuLoss(one, null);
    const wantLogp = new Float32Array(N);
    logprobLossForward(wantLogp, logits, one, coef, N, V);
    const wantD = new Float32Array(N * V);
    logprobLossBackward(wantD, logits, one, coef, N, V, dloss);
    expectClose('logp', plain.logp, wantLogp);
    expectClose('dlogits', plain.dlogits, wantD);
    const pad = new Float32Array(N * K);
    for (let n = 0; n < N; n++) pad[n * K] = 1;
    for (const renormalise of [false, true]) {
      const padded = await gpuLoss(targets, { K, weights: pad, renormalise });
      expect(padded.logp).toEqual(plain.logp);
      expect(padded.dlogits).toEqual(plain.dlogits);
    }
    const unit = await gpuLoss(one, { K: 1, weights: new Float32Array(N).fill(1) });
    expect(unit.logp).toEqual(plain.logp);
    expect(unit.dlogits).toEqual(plain.dlogits);
  });
});

describe('optimizer kernels vs train/optim.ts over several steps', () => {
  const sizes = [1000, 37, 20000];
  const grads = (step: number) => sizes.map((n, i) => randomFloats(n, 100 + 10 * step + i, 0.3));

  async function readAll(ts: GpuTensor[]): Promise<Float32Array[]> {
    return Promise.all(ts.map((t) => readF32(ctx, t)));
  }

  it('global gradient norm and the clip factor', async () => {
    const gs = grads(0);
    const ts = gs.map((g, i) => ({ t: upload(ctx, `g${i}`, g), n: g.length }));
    const gnorm = poisoned(ctx, 'gnorm', 2);
    const partials = poisoned(ctx, 'partials', optim.gradNormPartials(sizes));
    for (const [scale, maxNorm] of [
      [1, 0],
      [0.5, 1],
      [1, 1e6],
    ]) {
      await run((r) => optim.gradNorm(r, gnorm, partials, ts, scale, maxNorm));
      const [norm, clip] = await readF32(ctx, gnorm);
      const want = globalGradNorm(gs.map((g) => g.map((x) => x * scale)));
      expectClose('norm', [norm], [want], 1e-5);
      const wantClip = maxNorm > 0 ? Math.min(1, maxNorm / (want + 1e-6)) : 1;
      expectClose('clip', [clip], [wantClip], 1e-5);
    }
  });

  it('AdamW, 4 steps with clipping and weight decay = adamwUpdate after clipGradNorm', async () => {
    const o = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05 };
    const maxNorm = 2;
    const params = sizes.map((n, i) => randomFloats(n, 200 + i));
    const ms = sizes.map((n) => new Float32Array(n));
    const vs = sizes.map((n) => new Float32Array(n));
    const tp = params.map((p, i) => upload(ctx, `p${i}`, p));
    const tm = sizes.map((n, i) => upload(ctx, `m${i}`, new Float32Array(n)));
    const tv = sizes.map((n, i) => upload(ctx, `v${i}`, new Float32Array(n)));
    const gnorm = poisoned(ctx, 'gnorm', 2);
    const partials = poisoned(ctx, 'partials', optim.gradNormPartials(sizes));
    for (let step = 1; step <= 4; step++) {
      const gs = grads(step);
      const tg = gs.map((g, i) => upload(ctx, `g${i}`, g));
      await run((r) => {
        optim.gradNorm(
          r,
          gnorm,
          partials,
          tg.map((t, i) => ({ t, n: sizes[i] })),
          1,
          maxNorm,
        );
        sizes.forEach((n, i) => {
          optim.adamwUpdate(r, tp[i], tg[i], tm[i], tv[i], gnorm, n, { ...o, step });
        });
      });
      clipGradNorm(gs, maxNorm);
      sizes.forEach((_, i) => {
        adamwUpdate(params[i], gs[i], ms[i], vs[i], step, o);
      });
      tg.forEach((t) => {
        ctx.pool.release(t);
      });
    }
    const [gp, gm, gv] = await Promise.all([readAll(tp), readAll(tm), readAll(tv)]);
    sizes.forEach((_, i) => {
      expectClose(`adamw param ${i}`, gp[i], params[i], 1e-5);
      expectClose(`adamw m ${i}`, gm[i], ms[i], 1e-5);
      expectClose(`adamw v ${i}`, gv[i], vs[i], 1e-5);
    });
  });

  for (const sgd of [
    { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01, nesterov: false },
    { lr: 0.05, momentum: 0.8, dampening: 0, weightDecay: 0, nesterov: true },
  ]) {
    it(`SGD ${JSON.stringify(sgd)}, 3 steps with gradScale 0.5`, async () => {
      const n = sizes[0];
      const param = randomFloats(n, 300);
      const buf = new Float32Array(n);
      const tp = upload(ctx, 'p', param);
      const tb = upload(ctx, 'buf', buf);
      const gnorm = upload(ctx, 'gnorm', new Float32Array([0, 1]));
      for (let step = 1; step <= 3; step++) {
        const g = randomFloats(n, 310 + step);
        const tg = upload(ctx, 'g', g);
        await run((r) =>
          optim.sgdUpdate(r, tp, tg, sgd.momentum ? tb : null, gnorm, n, { ...sgd, step, gradScale: 0.5 }),
        );
        sgdUpdate(
          param,
          g.map((x) => 0.5 * x),
          sgd.momentum ? buf : null,
          step,
          sgd,
        );
        ctx.pool.release(tg);
      }
      expectClose('sgd param', await readF32(ctx, tp), param, 1e-5);
      if (sgd.momentum) expectClose('sgd buf', await readF32(ctx, tb), buf, 1e-5);
    });
  }
});
