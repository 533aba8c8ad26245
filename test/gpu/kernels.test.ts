// Every WGSL kernel against its CPU reference (src/engine/ref) on random inputs, at awkward sizes
// (nothing a multiple of 4, 16 or 64 where avoidable). Outputs start as NaN so unwritten elements fail.
import { beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/errors.ts';
import { GpuContext } from '../../src/engine/gpu/commands.ts';
import { requestEngineDevice } from '../../src/engine/gpu/device.ts';
import * as gpu from '../../src/engine/gpu/ops.ts';
import type { KernelDef } from '../../src/engine/gpu/pipelines.ts';
import { attentionForward } from '../../src/engine/ref/attention.ts';
import { denseMixtureForward, embeddingForward, mixtureForward } from '../../src/engine/ref/embedding.ts';
import { linearForward } from '../../src/engine/ref/linear.ts';
import {
  entropyForward,
  gatherLogprobsForward,
  hiddenEntropyForward,
  logSoftmaxForward,
} from '../../src/engine/ref/logits.ts';
import { swigluForward } from '../../src/engine/ref/mlp.ts';
import { residualForward } from '../../src/engine/ref/residual.ts';
import { rmsnormForward } from '../../src/engine/ref/rmsnorm.ts';
import { ropeForward } from '../../src/engine/ref/rope.ts';
import { argmax, sampleToken } from '../../src/engine/sampling.ts';
import { nodeGpu } from '../../src/node/webgpu.ts';
import {
  expectClose,
  poisoned,
  randomFloats,
  randomInts,
  readF32,
  readU32,
  testContext,
  upload,
} from '../helpers/gpu.ts';

let ctx: GpuContext;

beforeAll(async () => {
  ctx = await testContext();
});

async function run(record: (rec: ReturnType<GpuContext['recorder']>) => void): Promise<void> {
  const rec = ctx.recorder('test');
  record(rec);
  await rec.submit();
}

describe('infrastructure', () => {
  it('reports the adapter and raised limits', async () => {
    const dev = ctx.dev;
    expect(typeof dev.adapter.isFallbackAdapter).toBe('boolean');
    expect(dev.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(dev.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
  });

  it('a WGSL error throws gpu-shader naming the kernel', async () => {
    const bad: KernelDef = {
      name: 'broken_kernel',
      bindings: [['out', 'storage']],
      params: [['n', 'u32']],
      source:
        'struct Params { n: u32 }\n@group(0) @binding(0) var<uniform> p: Params;\n@group(0) @binding(1) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1) fn main() { out[0] = undefined_thing; }',
    };
    const err = await ctx.pipelines.get(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('gpu-shader');
    expect((err as EngineError).message).toContain('broken_kernel');
  });

  it('a tensor over the device limits throws gpu-limit naming the tensor', () => {
    const huge = ctx.dev.limits.maxStorageBufferBindingSize + 4;
    let err: unknown;
    try {
      ctx.pool.acquire('model.embed_tokens.weight', huge);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toBe('gpu-limit');
    expect((err as EngineError).tensor).toBe('model.embed_tokens.weight');
    expect((err as EngineError).message).toContain('model.embed_tokens.weight');
  });

  it('the pool reuses released buffers by size class', () => {
    const a = ctx.pool.acquire('a', 1000);
    ctx.pool.release(a);
    const b = ctx.pool.acquire('b', 900);
    expect(b).toBe(a);
    ctx.pool.release(b);
    expect(() => ctx.pool.release(b)).toThrow();
  });
});

describe('embeddings', () => {
  const N = 7;
  const C = 37;
  const V = 101;
  const wte = randomFloats(V * C, 1);

  it('embedding', async () => {
    const ids = randomInts(N, 2, V);
    const want = new Float32Array(N * C);
    embeddingForward(want, ids, wte, N, C);
    const out = poisoned(ctx, 'out', N * C);
    await run((r) => gpu.embeddingForward(r, out, upload(ctx, 'ids', ids), upload(ctx, 'wte', wte), N, C, V));
    expectClose('embedding', await readF32(ctx, out), want);
  });

  it('k-sparse mixture', async () => {
    const K = 3;
    const ids = randomInts(N * K, 3, V);
    const weights = randomFloats(N * K, 4);
    const want = new Float32Array(N * C);
    mixtureForward(want, ids, weights, wte, N, K, C);
    const out = poisoned(ctx, 'out', N * C);
    await run((r) =>
      gpu.mixtureForward(
        r,
        out,
        upload(ctx, 'ids', ids),
        upload(ctx, 'w', weights),
        upload(ctx, 'wte', wte),
        N,
        K,
        C,
        V,
      ),
    );
    expectClose('mixture', await readF32(ctx, out), want);
  });

  it('dense mixture', async () => {
    const probs = randomFloats(N * V, 5).map(Math.abs);
    const want = new Float32Array(N * C);
    denseMixtureForward(want, probs, wte, N, V, C);
    const out = poisoned(ctx, 'out', N * C);
    await run((r) =>
      gpu.denseMixtureForward(r, out, upload(ctx, 'probs', probs), upload(ctx, 'wte', wte), N, V, C),
    );
    expectClose('dense mixture', await readF32(ctx, out), want);
  });
});

describe('rmsnorm', () => {
  for (const [N, C] of [
    [7, 37],
    [3, 301],
  ]) {
    it(`N=${N} C=${C}`, async () => {
      const inp = randomFloats(N * C, 6, 2);
      const w = randomFloats(C, 7);
      const want = new Float32Array(N * C);
      const wantR = new Float32Array(N);
      rmsnormForward(want, wantR, inp, w, N, C, 1e-6);
      const out = poisoned(ctx, 'out', N * C);
      const rstd = poisoned(ctx, 'rstd', N);
      await run((r) =>
        gpu.rmsnormForward(r, out, rstd, upload(ctx, 'inp', inp), upload(ctx, 'w', w), N, C, 1e-6),
      );
      expectClose('rmsnorm', await readF32(ctx, out), want);
      expectClose('rstd', await readF32(ctx, rstd), wantR);
    });
  }
});

describe('matmul (linear, HF [out, in] layout)', () => {
  const shapes: [number, number, number][] = [
    [3, 37, 53],
    [1, 6, 5],
    [70, 130, 67],
    [17, 100, 129],
  ];
  for (const version of [1, 2, 3, 4, 5, 6] as const) {
    for (const [N, IC, OC] of shapes) {
      if (version >= 5 && IC % 4 !== 0) continue;
      it(`v${version} N=${N} IC=${IC} OC=${OC}, bias, then accumulate without bias`, async () => {
        const inp = randomFloats(N * IC, 10 + N);
        const w = randomFloats(OC * IC, 11 + IC);
        const b = randomFloats(OC, 12);
        const want = new Float32Array(N * OC);
        linearForward(want, inp, w, b, N, IC, OC);
        const out = poisoned(ctx, 'out', N * OC);
        const ti = upload(ctx, 'inp', inp);
        const tw = upload(ctx, 'w', w);
        await run((r) => gpu.matmulForward(r, out, ti, tw, upload(ctx, 'b', b), N, IC, OC, { version }));
        expectClose(`matmul v${version}`, await readF32(ctx, out), want);
        // out += 0.5 · inp · Wᵀ (beta = 1, no bias): the residual / LoRA accumulation.
        const extra = new Float32Array(N * OC);
        linearForward(extra, inp, w, null, N, IC, OC);
        for (let i = 0; i < want.length; i++) want[i] += 0.5 * extra[i];
        await run((r) =>
          gpu.matmulForward(r, out, ti, tw, null, N, IC, OC, { version, alpha: 0.5, beta: 1 }),
        );
        expectClose(`matmul v${version} accumulate`, await readF32(ctx, out), want);
      });
    }
  }
  for (const lanes of [8, 32, 256]) {
    it(`v6 with ${lanes} lanes per output, N=11 IC=132 OC=37`, async () => {
      const [N, IC, OC] = [11, 132, 37];
      const inp = randomFloats(N * IC, 15);
      const w = randomFloats(OC * IC, 16);
      const b = randomFloats(OC, 17);
      const want = new Float32Array(N * OC);
      linearForward(want, inp, w, b, N, IC, OC);
      const out = poisoned(ctx, 'out', N * OC);
      await run((r) =>
        gpu.matmulForward(
          r,
          out,
          upload(ctx, 'i', inp),
          upload(ctx, 'w', w),
          upload(ctx, 'b', b),
          N,
          IC,
          OC,
          { version: 6, lanes },
        ),
      );
      expectClose(`matmul v6/${lanes}`, await readF32(ctx, out), want);
    });
  }
  for (const version of [1, 2, 3] as const) {
    it(`v${version} weight in [in, out] layout`, async () => {
      const [N, IC, OC] = [9, 41, 70];
      const inp = randomFloats(N * IC, 13);
      const wIO = randomFloats(IC * OC, 14);
      const wHF = new Float32Array(OC * IC);
      for (let k = 0; k < IC; k++) for (let o = 0; o < OC; o++) wHF[o * IC + k] = wIO[k * OC + o];
      const want = new Float32Array(N * OC);
      linearForward(want, inp, wHF, null, N, IC, OC);
      const out = poisoned(ctx, 'out', N * OC);
      await run((r) =>
        gpu.matmulForward(r, out, upload(ctx, 'i', inp), upload(ctx, 'w', wIO), null, N, IC, OC, {
          version,
          wInOut: true,
        }),
      );
      expectClose(`matmul v${version} in-out`, await readF32(ctx, out), want);
    });
  }
});

describe('rope and the KV-cache append', () => {
  it('rotate-half with explicit positions, same rows', async () => {
    const [N, nH, D] = [7, 3, 6];
    const inp = randomFloats(N * nH * D, 20);
    const pos = Array.from({ length: N }, (_, i) => (i * 5) % 11);
    const want = new Float32Array(N * nH * D);
    ropeForward(want, inp, pos, N, nH, D, 10000);
    const out = poisoned(ctx, 'out', N * nH * D);
    const cs = upload(ctx, 'cs', gpu.ropeTable(pos, N, D, 10000));
    await run((r) => gpu.ropeForward(r, out, upload(ctx, 'inp', inp), cs, N, nH, D));
    expectClose('rope', await readF32(ctx, out), want);
  });

  it('rope and scatter into cache rows (B=2, T=3 at offset 2 of capacity 5)', async () => {
    const [B, T, nH, D, cap, start] = [2, 3, 2, 10, 5, 2];
    const N = B * T;
    const W = nH * D;
    const inp = randomFloats(N * W, 21);
    const pos = [2, 3, 4, 0, 1, 2];
    const roped = new Float32Array(N * W);
    ropeForward(roped, inp, pos, N, nH, D, 1e6);
    const cs = upload(ctx, 'cs', gpu.ropeTable(pos, N, D, 1e6));
    const kCache = upload(ctx, 'k', new Float32Array(B * cap * W).fill(7));
    const vCache = upload(ctx, 'v', new Float32Array(B * cap * W).fill(7));
    const ti = upload(ctx, 'inp', inp);
    const place = { T, outT: cap, outStart: start };
    await run((r) => {
      gpu.ropeForward(r, kCache, ti, cs, N, nH, D, place);
      gpu.scatterRows(r, vCache, ti, N, W, place);
    });
    const wantK = new Float32Array(B * cap * W).fill(7);
    const wantV = new Float32Array(B * cap * W).fill(7);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        wantK.set(roped.subarray((b * T + t) * W, (b * T + t + 1) * W), (b * cap + start + t) * W);
        wantV.set(inp.subarray((b * T + t) * W, (b * T + t + 1) * W), (b * cap + start + t) * W);
      }
    }
    expectClose('k cache', await readF32(ctx, kCache), wantK);
    expectClose('v cache', await readF32(ctx, vCache), wantV);
  });
});

describe('attention (causal GQA, key mask, query offset, cache stride)', () => {
  const cases = [
    {
      name: 'full forward with left padding',
      B: 2,
      Tq: 7,
      Tk: 7,
      qStart: 0,
      H: 6,
      KVH: 2,
      D: 6,
      stride: 7,
      padRow1: 3,
    },
    {
      name: 'decode step over a cache',
      B: 3,
      Tq: 1,
      Tk: 9,
      qStart: 8,
      H: 4,
      KVH: 1,
      D: 10,
      stride: 11,
      padRow1: 2,
    },
    {
      name: 'chunked keys (Tk > 64)',
      B: 1,
      Tq: 3,
      Tk: 130,
      qStart: 127,
      H: 2,
      KVH: 2,
      D: 8,
      stride: 131,
      padRow1: 0,
    },
    {
      name: 'appended block of 4 on a cache of 5',
      B: 2,
      Tq: 4,
      Tk: 9,
      qStart: 5,
      H: 2,
      KVH: 1,
      D: 32,
      stride: 12,
      padRow1: 2,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const { B, Tq, Tk, qStart, H, KVH, D, stride } = c;
      const q = randomFloats(B * Tq * H * D, 30, 2);
      const k = randomFloats(B * stride * KVH * D, 31, 2);
      const v = randomFloats(B * stride * KVH * D, 32);
      const mask = new Uint32Array(B * stride).fill(1);
      // row 1 (if any) is left-padded; positions past Tk are garbage the kernel must not read as keys
      for (let b = 1; b < B; b++) for (let j = 0; j < c.padRow1; j++) mask[b * stride + j] = 0;
      const want = new Float32Array(B * Tq * H * D);
      attentionForward(want, null, q, k, v, mask, B, Tq, Tk, qStart, H, KVH, D, stride);
      const out = poisoned(ctx, 'out', B * Tq * H * D);
      await run((r) =>
        gpu.attentionForward(
          r,
          out,
          upload(ctx, 'q', q),
          upload(ctx, 'k', k),
          upload(ctx, 'v', v),
          upload(ctx, 'm', mask),
          B,
          Tq,
          Tk,
          qStart,
          H,
          KVH,
          D,
          stride,
        ),
      );
      expectClose('attention', await readF32(ctx, out), want);
    });
  }
});

describe('elementwise', () => {
  const n = 101;
  it('swiglu', async () => {
    const g = randomFloats(n, 40, 30); // large |g| exercises the overflow-free sigmoid
    const u = randomFloats(n, 41);
    const want = new Float32Array(n);
    swigluForward(want, g, u, n);
    const out = poisoned(ctx, 'out', n);
    await run((r) => gpu.swigluForward(r, out, upload(ctx, 'g', g), upload(ctx, 'u', u), n));
    expectClose('swiglu', await readF32(ctx, out), want);
  });
  it('residual', async () => {
    const a = randomFloats(n, 42);
    const b = randomFloats(n, 43);
    const want = new Float32Array(n);
    residualForward(want, a, b, n);
    const out = poisoned(ctx, 'out', n);
    await run((r) => gpu.residualForward(r, out, upload(ctx, 'a', a), upload(ctx, 'b', b), n));
    expectClose('residual', await readF32(ctx, out), want);
  });
});

describe('logits: log-softmax, gathered log-probs, entropy, hidden entropy', () => {
  for (const [N, V] of [
    [3, 101],
    [2, 1001],
  ]) {
    it(`N=${N} V=${V}`, async () => {
      const x = randomFloats(N * V, 50 + V, 8);
      const tx = upload(ctx, 'x', x);
      const targets = randomInts(N, 51, V);
      const wantLs = new Float32Array(N * V);
      logSoftmaxForward(wantLs, x, N, V);
      const wantG = new Float32Array(N);
      gatherLogprobsForward(wantG, x, targets, N, V);
      const wantE = new Float32Array(N);
      entropyForward(wantE, x, N, V, 0.7);
      const ls = poisoned(ctx, 'ls', N * V);
      const g = poisoned(ctx, 'g', N);
      const e = poisoned(ctx, 'e', N);
      await run((r) => {
        gpu.logSoftmaxForward(r, ls, tx, N, V);
        gpu.gatherLogprobsForward(r, g, tx, upload(ctx, 't', targets), N, V);
        gpu.entropyForward(r, e, tx, N, V, 0.7);
      });
      expectClose('log_softmax', await readF32(ctx, ls), wantLs);
      expectClose('gather_logprobs', await readF32(ctx, g), wantG);
      expectClose('entropy', await readF32(ctx, e), wantE);
      // K = 3 targets per row: each is the one-target gather of its own column of targets.
      const K = 3;
      const targetsK = randomInts(N * K, 52, V);
      const gK = poisoned(ctx, 'gK', N * K);
      await run((r) => gpu.gatherLogprobsForward(r, gK, tx, upload(ctx, 'tK', targetsK), N, V, K));
      const wantK = new Float32Array(N * K);
      for (let k = 0; k < K; k++) {
        const col = Uint32Array.from({ length: N }, (_, n) => targetsK[n * K + k]);
        const one = new Float32Array(N);
        gatherLogprobsForward(one, x, col, N, V);
        one.forEach((v, n) => {
          wantK[n * K + k] = v;
        });
      }
      expectClose('gather_logprobs (K = 3)', await readF32(ctx, gK), wantK);
    });
  }
  it('hidden-state entropy N=7 C=37', async () => {
    const [N, C] = [7, 37];
    const h = randomFloats(N * C, 55, 3);
    const want = new Float32Array(N);
    hiddenEntropyForward(want, h, N, C);
    const out = poisoned(ctx, 'out', N);
    await run((r) => gpu.hiddenEntropyForward(r, out, upload(ctx, 'h', h), N, C));
    expectClose('hidden entropy', await readF32(ctx, out), want);
  });
});

describe('decoding: argmax and counter-RNG sampling return ids', () => {
  it('argmax, first index on ties, last position of each row', async () => {
    const [N, T, V] = [3, 2, 301];
    const x = randomFloats(N * T * V, 60);
    x[(0 * T + 1) * V + 17] = 5;
    x[(0 * T + 1) * V + 200] = 5; // tie: 17 wins
    const ids = upload(ctx, 'ids', new Uint32Array(N).fill(999999));
    await run((r) => gpu.argmaxForward(r, ids, upload(ctx, 'x', x), N, V, { stride: T, offset: T - 1 }));
    const got = await readU32(ctx, ids);
    const want = Array.from({ length: N }, (_, b) => argmax(x, (b * T + T - 1) * V, V));
    expect(Array.from(got)).toEqual(want);
    expect(got[0]).toBe(17);
  });

  for (const [V, temperature] of [
    [37, 1],
    [1001, 0.6],
  ]) {
    it(`sample V=${V} T=${temperature} matches the CPU sampler (engine/sampling.ts)`, async () => {
      const N = 64;
      const x = randomFloats(N * V, 61 + V, 3);
      const tx = upload(ctx, 'x', x);
      const ids = upload(ctx, 'ids', new Uint32Array(N).fill(999999));
      let mismatches = 0;
      for (const [seed, step] of [
        [1, 0],
        [1234567, 42],
      ]) {
        await run((r) => gpu.sampleForward(r, ids, tx, N, V, temperature, seed, step));
        const got = await readU32(ctx, ids);
        for (let row = 0; row < N; row++) {
          const want = sampleToken(x, row * V, V, { greedy: false, temperature, seed, row, step });
          if (got[row] !== want) mismatches++;
        }
      }
      // f32 chunk sums vs a float64 scan may differ only when u·total sits on a CDF boundary.
      expect(mismatches).toBeLessThanOrEqual(1);
    });
  }
});

describe('device loss', () => {
  it('a destroyed device resolves `lost` with gpu-device-lost; later calls throw it; onLost is not called for our own destroy', async () => {
    let called = false;
    const dev2 = await requestEngineDevice(await nodeGpu(), {
      onLost: () => {
        called = true;
      },
    });
    const ctx2 = new GpuContext(dev2);
    const t = ctx2.pool.upload('x', new Float32Array(8));
    dev2.destroy();
    const lost = await dev2.lost;
    expect(lost).toBeInstanceOf(EngineError);
    expect(lost.code).toBe('gpu-device-lost');
    const rec = ctx2.recorder('after loss');
    rec.read(t);
    await expect(rec.submit()).rejects.toMatchObject({ code: 'gpu-device-lost' });
    expect(called).toBe(false);
  });
});
