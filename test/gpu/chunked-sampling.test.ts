// Split-V decoding (kernels/chunkedSample.wgsl.ts): argmax, sampling and entropy with a row's V logits spread
// over (row, chunk) workgroups must choose what the one-workgroup-per-row kernels (sample.wgsl.ts,
// logits.wgsl.ts) and the CPU twins (engine/sampling.ts, ref/logits.ts) choose, at V not a multiple of the
// chunk (5003; Qwen's 151,936 with 1024- and 4096-wide chunks).
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuTensor } from '../../src/engine/gpu/buffers.ts';
import type { CommandRecorder, GpuContext } from '../../src/engine/gpu/commands.ts';
import {
  VOCAB_CHUNKS_MAX,
  VOCAB_SPLIT_ABOVE,
  VOCAB_SPLIT_CHUNK,
  type VocabSplit,
  vocabChunkWidth,
} from '../../src/engine/gpu/kernels/chunkedSample.wgsl.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import * as gpu from '../../src/engine/gpu/ops.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { entropyForward } from '../../src/engine/ref/logits.ts';
import { argmax, sampleToken } from '../../src/engine/sampling.ts';
import { counterUniform } from '../../src/mot/rng.ts';
import { randomFloats, testContext, testDevice, upload } from '../helpers/gpu.ts';
import { builtinLikeConfig } from '../helpers/tinyConfig.ts';

let ctx: GpuContext;

beforeAll(async () => {
  ctx = await testContext();
});

const UNCHUNKED: VocabSplit = { chunked: false };
const chunked = (chunk: number): VocabSplit => ({ chunked: true, chunk });

/** Record with split-V forced as `split`, read `out` (n words) back in the same submit. */
async function runWith(
  split: VocabSplit,
  out: GpuTensor,
  n: number,
  record: (rec: CommandRecorder) => void,
): Promise<ArrayBuffer> {
  const rec = ctx.recorder('chunked sampling test');
  // A NaN / 0xffffffff fill first, so an output the kernel never writes fails.
  rec.copy(upload(ctx, 'poison', new Uint32Array(n).fill(0xffffffff)), out, 0, 0, n * 4);
  gpu.forceVocabSplit(ctx, split);
  try {
    record(rec);
  } finally {
    gpu.forceVocabSplit(ctx, null);
  }
  rec.read(out, n * 4);
  const [buf] = await rec.submit();
  return buf;
}

describe('choosing split-V', () => {
  it('automatic above VOCAB_SPLIT_ABOVE, forced either way, at most VOCAB_CHUNKS_MAX chunks', () => {
    expect(vocabChunkWidth(VOCAB_SPLIT_ABOVE, true)).toBe(0);
    expect(vocabChunkWidth(VOCAB_SPLIT_ABOVE + 1, true)).toBe(VOCAB_SPLIT_CHUNK);
    expect(vocabChunkWidth(151936, false)).toBe(0); // many rows (entropy of a scored sequence)
    expect(vocabChunkWidth(151936, true, UNCHUNKED)).toBe(0);
    expect(vocabChunkWidth(37, false, chunked(8))).toBe(8);
    expect(vocabChunkWidth(151936, true, chunked(64))).toBe(Math.ceil(151936 / VOCAB_CHUNKS_MAX));
    expect(() => vocabChunkWidth(100, true, chunked(0))).toThrow(/chunk/);
  });

  it('a chunked argmax / sampler / entropy records one dispatch more than the unchunked', () => {
    const x = upload(ctx, 'x', new Float32Array(2 * 5003));
    const ids = upload(ctx, 'ids', new Uint32Array(2));
    const count = (split: VocabSplit, record: (rec: CommandRecorder) => void) => {
      const rec = ctx.recorder('count');
      gpu.forceVocabSplit(ctx, split);
      record(rec);
      gpu.forceVocabSplit(ctx, null);
      return rec.dispatchCount;
    };
    for (const record of [
      (r: CommandRecorder) => gpu.argmaxForward(r, ids, x, 2, 5003),
      (r: CommandRecorder) => gpu.sampleForward(r, ids, x, 2, 5003, 0.8, 1, 2),
      (r: CommandRecorder) => gpu.entropyForward(r, ids, x, 2, 5003),
    ]) {
      expect(count(UNCHUNKED, record)).toBe(1);
      expect(count(chunked(1024), record)).toBe(2);
    }
  });
});

interface Draw {
  row: number;
  goal: number; // u · total of the CPU twin's float64 CDF
  chunked: number;
  unchunked: number;
  cpu: number;
}

/** `combos` (seed, step, temperature) × N rows of draws from rows r · 2 + 1 of x (the last of 2 positions). */
async function drawAll(
  x: Float32Array,
  V: number,
  chunk: number,
  N: number,
  combos: number,
): Promise<Draw[]> {
  const T = 2;
  const tx = upload(ctx, 'x', x);
  const ids = upload(ctx, 'ids', new Uint32Array(N));
  const rows = { stride: T, offset: T - 1 };
  const draws: Draw[] = [];
  for (let k = 0; k < combos; k++) {
    const [seed, step, temperature] = [1000 + 7919 * k, k * 3, [0.3, 0.7, 1, 1.6][k % 4]];
    const record = (r: CommandRecorder) => gpu.sampleForward(r, ids, tx, N, V, temperature, seed, step, rows);
    const got = new Uint32Array(await runWith(chunked(chunk), ids, N, record));
    const want = new Uint32Array(await runWith(UNCHUNKED, ids, N, record));
    for (let row = 0; row < N; row++) {
      const base = (row * T + T - 1) * V;
      const cpu = sampleToken(x, base, V, { greedy: false, temperature, seed, row, step });
      draws.push({
        row: base,
        goal: counterUniform(seed, row, step),
        chunked: got[row],
        unchunked: want[row],
        cpu,
      });
    }
  }
  return draws;
}

describe('split-V sampling draws the unchunked kernel’s and the CPU twin’s ids', () => {
  // Every id comes from the same u = counterUniform(seed, row, step); the three samplers differ only in the
  // rounding of the running mass (f32 sums in different orders; float64 on the CPU). They can disagree only
  // when u · total falls within that rounding of a CDF boundary, so the chance per draw is about
  // (boundaries) × (relative rounding, ~1e-7 per term summed). With V dense random logits every id is a
  // boundary and that is percent-level at V = 151,936 (the 'dense' cases below: each disagreement checked to
  // be such a tie). With the mass on 48 ids per row (the rest at −1e30, whose exp is exactly 0 everywhere)
  // the chance is ~1e-5 per draw, so over thousands of draws the ids must agree exactly: any error in the
  // chunk walk (wrong chunk, offset or mass) moves a large fraction of them.
  const LIVE = 48;
  const sparse = [
    { V: 5003, chunk: 1024, N: 40, combos: 50 }, // 2000 draws; the last chunk 907 wide
    { V: 5003, chunk: 4096, N: 40, combos: 10 }, // 2 chunks, the second 907 wide
    { V: 151936, chunk: 1024, N: 8, combos: 32 }, // 149 chunks, the last 384 wide
    { V: 151936, chunk: 4096, N: 8, combos: 32 }, // 38 chunks, the last 400 wide
  ];
  for (const { V, chunk, N, combos } of sparse) {
    it(`V=${V} chunk=${chunk}, ${LIVE} live ids per row: ${N * combos} draws, none differ`, async () => {
      const x = new Float32Array(2 * N * V).fill(-1e30);
      const logit = randomFloats(2 * N * LIVE, 5 + V + chunk, 2);
      const where = randomFloats(2 * N * LIVE, 6 + V + chunk, 1);
      for (let r = 0; r < 2 * N; r++)
        for (let j = 0; j < LIVE; j++) {
          // spread over the row, one always in the last (partial) chunk
          const id = j === 0 ? V - 1 : Math.floor(((where[r * LIVE + j] + 1) / 2) * V);
          x[r * V + id] = logit[r * LIVE + j];
        }
      const draws = await drawAll(x, V, chunk, N, combos);
      const differ = draws.filter((d) => d.chunked !== d.unchunked || d.chunked !== d.cpu).length;
      expect(differ).toBe(0);
      // The draws fall on many of the live ids, in many chunks.
      expect(new Set(draws.map((d) => Math.floor(d.chunked / chunk))).size).toBeGreaterThan(
        Math.min(10, V / chunk),
      );
    });
  }

  const dense = [
    { V: 5003, chunk: 1024, N: 40, combos: 25 },
    { V: 151936, chunk: 1024, N: 8, combos: 12 },
    { V: 151936, chunk: 4096, N: 8, combos: 12 },
  ];
  for (const { V, chunk, N, combos } of dense) {
    it(`V=${V} chunk=${chunk}, dense random logits: ids differ only by rounding ties`, async () => {
      const x = randomFloats(2 * N * V, 7 + V + chunk, 4);
      const draws = await drawAll(x, V, chunk, N, combos);
      let differ = 0;
      for (const d of draws) {
        const ids = [d.chunked, d.unchunked, d.cpu];
        const lo = Math.min(...ids);
        if (Math.max(...ids) === lo) continue;
        differ++;
        // A tie: the float64 CDF just after lo and just before the highest id both within 1e-5 of u (relative
        // to the total), i.e. the ids between them carry almost no mass and u sits on their boundary.
        const hi = Math.max(...ids);
        const temperature = [0.3, 0.7, 1, 1.6][Math.floor(draws.indexOf(d) / N) % 4];
        let mx = Number.NEGATIVE_INFINITY;
        for (let v = 0; v < V; v++) mx = Math.max(mx, x[d.row + v] / temperature);
        let total = 0;
        let throughLo = 0;
        let beforeHi = 0;
        for (let v = 0; v < V; v++) {
          if (v === hi) beforeHi = total;
          total += Math.exp(x[d.row + v] / temperature - mx);
          if (v === lo) throughLo = total;
        }
        expect(Math.abs(throughLo / total - d.goal)).toBeLessThan(1e-5);
        expect(Math.abs(beforeHi / total - d.goal)).toBeLessThan(1e-5);
      }
      expect(differ).toBeLessThan(draws.length * 0.05);
    });
  }
});

describe('split-V argmax is torch.argmax: the first index of the largest logit', () => {
  for (const [V, chunk] of [
    [5003, 1024],
    [151936, 4096],
  ]) {
    it(`V=${V} chunk=${chunk}, ties within and across chunks`, async () => {
      const N = 6;
      const x = randomFloats(N * V, 11 + V, 3);
      const at = (row: number, i: number, v: number) => {
        x[row * V + i] = v;
      };
      // row 0: a tie across chunks 3 and 1 (the lower index, in chunk 1, wins) and a later one in chunk 3
      for (const i of [3 * chunk + 5, chunk + 17, 3 * chunk + 2]) at(0, i, 9);
      // row 1: a tie inside one chunk, the later index written first
      for (const i of [2 * chunk + 300, 2 * chunk + 1]) at(1, i, 9);
      // row 2: the max in the last, partial chunk, at V − 1
      at(2, V - 1, 9);
      // row 3: every logit equal: index 0
      x.fill(0.5, 3 * V, 4 * V);
      // row 4: the max at a chunk's first index, tied with the previous chunk's last index
      for (const i of [2 * chunk, 2 * chunk - 1]) at(4, i, 9);
      // row 5: whole chunks very negative, max at index 0 tied with the last entry
      x.fill(-1e30, 5 * V + chunk, 5 * V + 3 * chunk);
      at(5, 0, 9);
      at(5, V - 1, 9);
      const tx = upload(ctx, 'x', x);
      const ids = upload(ctx, 'ids', new Uint32Array(N));
      const record = (r: CommandRecorder) => gpu.argmaxForward(r, ids, tx, N, V);
      const got = Array.from(new Uint32Array(await runWith(chunked(chunk), ids, N, record)));
      const unchunked = Array.from(new Uint32Array(await runWith(UNCHUNKED, ids, N, record)));
      const cpu = Array.from({ length: N }, (_, row) => argmax(x, row * V, V));
      expect(cpu).toEqual([chunk + 17, 2 * chunk + 1, V - 1, 0, 2 * chunk - 1, 0]);
      expect(got).toEqual(cpu);
      expect(unchunked).toEqual(cpu);
    });
  }
});

describe('split-V entropy', () => {
  for (const [V, chunk, temperature] of [
    [5003, 1024, 1],
    [5003, 4096, 0.7],
    [151936, 1024, 1],
    [151936, 4096, 0.6],
  ]) {
    it(`V=${V} chunk=${chunk} temperature=${temperature}: the CPU reference within 1e-5 relative`, async () => {
      const N = 5;
      const x = randomFloats(N * V, 23 + V + chunk, 5);
      x.fill(-1e30, 2 * V, 2 * V + 2 * chunk); // row 2: two chunks carry no mass
      x.fill(40, 3 * V + chunk, 3 * V + chunk + 3); // row 3: three ids hold almost all the mass
      const tx = upload(ctx, 'x', x);
      const out = upload(ctx, 'entropy', new Float32Array(N));
      const record = (r: CommandRecorder) => gpu.entropyForward(r, out, tx, N, V, temperature);
      const got = new Float32Array(await runWith(chunked(chunk), out, N, record));
      const unchunked = new Float32Array(await runWith(UNCHUNKED, out, N, record));
      const want = new Float32Array(N);
      entropyForward(want, x, N, V, temperature);
      for (let row = 0; row < N; row++) {
        expect(Math.abs(got[row] - want[row]), `row ${row}`).toBeLessThanOrEqual(1e-5 * Math.abs(want[row]));
        expect(Math.abs(got[row] - unchunked[row])).toBeLessThanOrEqual(1e-5 * Math.abs(want[row]));
      }
      expect(want[3]).toBeLessThan(1.2); // ≈ log 3: the rows differ, so the comparison means something
      expect(want[0]).toBeGreaterThan(5);
    });
  }
});

describe('GpuModel.decode with split-V', () => {
  it('chooses the same ids as one workgroup per row, with one dispatch more per step', async () => {
    const V = 600;
    const config = builtinLikeConfig(V);
    const model = await GpuModel.create(await testDevice(), config, initQwen2Weights(config, 5), null);
    const [B, T] = [3, 4];
    const prompt = Int32Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % V);
    const steps = async (split: VocabSplit, greedy: boolean) => {
      const cache = model.createKvCache(B, T + 6);
      const got: number[][] = [];
      const dispatches: number[] = [];
      let ids: Int32Array = prompt;
      let len = T;
      for (let step = 0; step < 5; step++) {
        gpu.forceVocabSplit(model.ctx, split);
        const opts = { greedy, temperature: 1.3, seed: 77, step };
        try {
          ids = await model.decode(cache, { kind: 'ids', ids }, len, opts);
        } finally {
          gpu.forceVocabSplit(model.ctx, null);
        }
        dispatches.push(model.ctx.lastSubmit.dispatches);
        got.push(Array.from(ids));
        len = 1;
      }
      cache.dispose();
      return { got, dispatches };
    };
    try {
      for (const greedy of [true, false]) {
        const one = await steps(UNCHUNKED, greedy);
        const split = await steps(chunked(128), greedy); // 5 chunks, the last 88 wide
        expect(split.got).toEqual(one.got);
        expect(split.dispatches).toEqual(one.dispatches.map((d) => d + 1));
        if (!greedy) expect(new Set(one.got.flat()).size).toBeGreaterThan(5);
      }
    } finally {
      model.dispose();
    }
  });
});
