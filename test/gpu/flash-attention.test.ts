// Flash-style attention for training: the forward's output and per-query log-sum-exp (ops.ts
// attentionForward with `lse`) and the backward that recomputes the probabilities from it tile by tile
// (opsBackward.ts attentionBackward), against the CPU reference (ref/attention.ts) at awkward sizes: T
// not a multiple of the tile, GQA, head dims 8 to 256 (tiles 8, 7, 3), left padding, a fully padded row,
// queries at an offset. Outputs start as NaN, so an element never written fails. Last, the training
// activations hold no (B, H, T, T) buffer: they grow linearly with T.
import { beforeAll, describe, expect, it } from 'vitest';
import type { CommandRecorder, GpuContext } from '../../src/engine/gpu/commands.ts';
import { attentionForward as attentionForwardGpu } from '../../src/engine/gpu/ops.ts';
import {
  attentionBackward as attentionBackwardGpu,
  attentionBackwardTile,
} from '../../src/engine/gpu/opsBackward.ts';
import {
  allocTrainActivations,
  releaseTrainActivations,
  type TrainActivations,
} from '../../src/engine/gpu/trainActivations.ts';
import { attentionBackward, attentionForward } from '../../src/engine/ref/attention.ts';
import { expectClose, poisoned, randomFloats, readF32, testContext, upload } from '../helpers/gpu.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

async function run(record: (rec: CommandRecorder) => void): Promise<void> {
  const rec = ctx.recorder('test');
  record(rec);
  await rec.submit();
}

interface Case {
  name: string;
  B: number;
  Tq: number;
  Tk: number;
  qStart: number;
  H: number;
  KVH: number;
  D: number;
  /** Left padding of each row: its first pads[b] keys are masked. */
  pads: number[];
  /** Queries (b, i) that see no key. */
  blind: number;
}

/** A case: [B, Tq, Tk, qStart, H, KVH, D], each row's left padding, the queries that see no key. */
function shape(name: string, dims: number[], pads: number[], blind: number): Case {
  const [B, Tq, Tk, qStart, H, KVH, D] = dims;
  return { name, B, Tq, Tk, qStart, H, KVH, D, pads, blind };
}

const cases: Case[] = [
  shape('T = 13, GQA 4/2, D = 8, left padding', [2, 13, 13, 0, 4, 2, 8], [0, 3], 3),
  shape('T = 19, GQA 4/2, D = 16, a fully padded row', [2, 19, 19, 0, 4, 2, 16], [19, 5], 24),
  shape('T = 70 over many tiles, GQA 6/2, D = 16', [1, 70, 70, 0, 6, 2, 16], [4], 4),
  shape('D = 128 (tile 7), T = 16, GQA 4/1', [1, 16, 16, 0, 4, 1, 128], [2], 2),
  shape('D = 256 (tile 3), T = 8, no GQA', [1, 8, 8, 0, 2, 2, 256], [0], 0),
  shape('queries at an offset (Tq 5 < Tk 12), D = 8', [2, 5, 12, 7, 4, 2, 8], [0, 9], 2),
];

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
  mask: Uint32Array;
}

function inputs(c: Case, seed: number): Inputs {
  const { B, Tq, Tk, H, KVH, D } = c;
  const mask = new Uint32Array(B * Tk).fill(1);
  for (let b = 0; b < B; b++) mask.fill(0, b * Tk, b * Tk + c.pads[b]);
  return {
    // Scores of a few units: peaked softmax rows, not uniform ones.
    q: randomFloats(B * Tq * H * D, seed, 1.5),
    k: randomFloats(B * Tk * KVH * D, seed + 1, 1.5),
    v: randomFloats(B * Tk * KVH * D, seed + 2),
    dout: randomFloats(B * Tq * H * D, seed + 3),
    mask,
  };
}

/** Whether query i of row b sees at least one key. */
function seesAKey(c: Case, x: Inputs, b: number, i: number): boolean {
  const last = Math.min(c.qStart + i, c.Tk - 1);
  for (let j = 0; j <= last; j++) if (x.mask[b * c.Tk + j] !== 0) return true;
  return false;
}

/** Reference log-sum-exp of each query's scaled scores over its visible keys (B, H, Tq), 0 if none. */
function referenceLse(c: Case, x: Inputs): Float32Array {
  const { B, Tq, Tk, qStart, H, KVH, D } = c;
  const out = new Float32Array(B * H * Tq);
  const scale = 1 / Math.sqrt(D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Tq; i++) {
        const scores: number[] = [];
        for (let j = 0; j <= Math.min(qStart + i, Tk - 1); j++) {
          if (x.mask[b * Tk + j] === 0) continue;
          let s = 0;
          const kvh = Math.floor(h / (H / KVH));
          for (let d = 0; d < D; d++)
            s += x.q[((b * Tq + i) * H + h) * D + d] * x.k[((b * Tk + j) * KVH + kvh) * D + d];
          scores.push(s * scale);
        }
        if (scores.length === 0) continue;
        const m = Math.max(...scores);
        out[(b * H + h) * Tq + i] = m + Math.log(scores.reduce((a, s) => a + Math.exp(s - m), 0));
      }
  return out;
}

/** Record the training forward (output and lse) and, when asked, the backward on fresh NaN buffers. */
async function runGpu(c: Case, x: Inputs, backward: boolean) {
  const { B, Tq, Tk, qStart, H, KVH, D } = c;
  const [q, k, v, dout] = [x.q, x.k, x.v, x.dout].map((a, i) => upload(ctx, `in${i}`, a));
  const mask = upload(ctx, 'mask', x.mask);
  const out = poisoned(ctx, 'out', B * Tq * H * D);
  const lse = poisoned(ctx, 'lse', B * H * Tq);
  const dq = poisoned(ctx, 'dq', B * Tq * H * D);
  const dk = poisoned(ctx, 'dk', B * Tk * KVH * D);
  const dv = poisoned(ctx, 'dv', B * Tk * KVH * D);
  const delta = poisoned(ctx, 'delta', B * H * Tq);
  await run((r) => {
    attentionForwardGpu(r, out, q, k, v, mask, B, Tq, Tk, qStart, H, KVH, D, Tk, lse);
    if (backward)
      attentionBackwardGpu(r, dq, dk, dv, delta, dout, lse, q, k, v, mask, B, Tq, Tk, qStart, H, KVH, D);
  });
  const read = (t: typeof out) => readF32(ctx, t);
  if (!backward) return { out: await read(out), lse: await read(lse) };
  return {
    out: await read(out),
    lse: await read(lse),
    dq: await read(dq),
    dk: await read(dk),
    dv: await read(dv),
  };
}

describe('attentionBackwardTile: the largest tile ≤ 8 whose tiles fit 16 KiB of workgroup memory', () => {
  it('8 up to D = 100, 7 at D = 128, 3 at D = 256', () => {
    expect([6, 8, 16, 64, 100, 128, 256].map(attentionBackwardTile)).toEqual([8, 8, 8, 8, 8, 7, 3]);
  });
});

describe('attention forward with log-sum-exp (training)', () => {
  for (const [n, c] of cases.entries()) {
    it(c.name, async () => {
      const { B, Tq, Tk, qStart, H, KVH, D } = c;
      const x = inputs(c, 10 * n + 1);
      const want = new Float32Array(B * Tq * H * D);
      attentionForward(want, null, x.q, x.k, x.v, x.mask, B, Tq, Tk, qStart, H, KVH, D);
      const got = await runGpu(c, x, false);
      expectClose('out', got.out, want);
      const wantLse = referenceLse(c, x);
      expectClose('lse', got.lse, wantLse);
      // The inference path (no lse) writes the very same output.
      const inference = poisoned(ctx, 'out', B * Tq * H * D);
      const [q, k, v] = [x.q, x.k, x.v].map((a, i) => upload(ctx, `inf${i}`, a));
      const mask = upload(ctx, 'mask', x.mask);
      await run((r) => attentionForwardGpu(r, inference, q, k, v, mask, B, Tq, Tk, qStart, H, KVH, D));
      expect(Array.from(await readF32(ctx, inference))).toEqual(Array.from(got.out));
    });
  }
});

describe('flash attention backward (probabilities recomputed from lse, no (T, T) buffer)', () => {
  for (const [n, c] of cases.entries()) {
    it(c.name, async () => {
      const { B, Tq, Tk, qStart, H, KVH, D } = c;
      const x = inputs(c, 10 * n + 5);
      const att = new Float32Array(B * H * Tq * Tk);
      attentionForward(
        new Float32Array(B * Tq * H * D),
        att,
        x.q,
        x.k,
        x.v,
        x.mask,
        B,
        Tq,
        Tk,
        qStart,
        H,
        KVH,
        D,
      );
      const want = {
        dq: new Float32Array(B * Tq * H * D),
        dk: new Float32Array(B * Tk * KVH * D),
        dv: new Float32Array(B * Tk * KVH * D),
      };
      attentionBackward(want.dq, want.dk, want.dv, x.dout, x.q, x.k, x.v, att, B, Tq, Tk, qStart, H, KVH, D);
      const got = await runGpu(c, x, true);
      expectClose('dq', got.dq!, want.dq);
      expectClose('dk', got.dk!, want.dk);
      expectClose('dv', got.dv!, want.dv);
      // A query with no visible key: zero output, lse 0, zero dq; a padded key: zero dk, dv.
      let blind = 0;
      for (let b = 0; b < B; b++)
        for (let i = 0; i < Tq; i++) {
          if (seesAKey(c, x, b, i)) continue;
          blind++;
          const row = (b * Tq + i) * H * D;
          expect(got.out.subarray(row, row + H * D).every((e) => e === 0)).toBe(true);
          expect(got.dq!.subarray(row, row + H * D).every((e) => e === 0)).toBe(true);
          for (let h = 0; h < H; h++) expect(got.lse[(b * H + h) * Tq + i]).toBe(0);
        }
      expect(blind).toBe(c.blind);
      const zeroKeys = (g: Float32Array) =>
        c.pads.every((p, b) => g.subarray(b * Tk * KVH * D, (b * Tk + p) * KVH * D).every((e) => e === 0));
      expect(zeroKeys(got.dk!) && zeroKeys(got.dv!)).toBe(true);
    });
  }
});

describe('training activations', () => {
  const bytes = (a: TrainActivations) => {
    let total = 0;
    for (const x of a.res) total += x.bytes;
    for (const l of a.layers) for (const x of Object.values(l)) total += x.bytes;
    for (const [k, x] of Object.entries(a))
      if (k !== 'res' && k !== 'layers' && typeof x === 'object') total += x.bytes;
    return total;
  };
  it.each([false, true])('grow linearly with T (recompute %s): no (B, H, T, T) buffer', (recompute) => {
    // At T = 512 one (B, H, T, T) buffer of this config would outweigh everything else.
    const config = tinyConfig();
    const sizes = [256, 512].map((T) => {
      const a = allocTrainActivations(ctx, config, 1, T, 1, recompute);
      const n = bytes(a);
      releaseTrainActivations(ctx, a);
      return n;
    });
    expect(sizes[1]).toBeLessThanOrEqual(2 * sizes[0]);
  });
});
