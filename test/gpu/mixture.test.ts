// The mixture-step kernel against the CPU step (src/mot/step.ts) on the same logits and counters: every preset,
// both likelihood modes, the filters, every representative rule, α < 1 Dirichlet, Gumbel-softmax, greedy and
// T = 1 likelihoods, ties, peaked and flat rows, rows in the answer phase and skipped rows. Ids, representatives,
// argmax and sampled ids must be equal; weights, log-likelihoods and entropies within f32 rounding. Then the
// embedding-mixture kernel (next inputs, noise, given tokens) against rl/rollout.ts mixtureEmbedding, and the
// training forward's mixture + input_noise kernels against it (the same noisy inputs, rebuilt from counters).

import { beforeAll, describe, expect, it } from 'vitest';
import { mixtureEmbedding } from '../../src/engine/decode/referenceStepper.ts';
import type { GpuContext } from '../../src/engine/gpu/commands.ts';
import { CTRL_STRIDE, META_STRIDE, NO_ID } from '../../src/engine/gpu/kernels/mixtureStep.wgsl.ts';
import { mixtureEmbedForward, type RowCounters, runMixtureStep } from '../../src/engine/gpu/mixture.ts';
import { inputNoiseForward, mixtureForward } from '../../src/engine/gpu/ops.ts';
import { NOISE_STRIDE, mixtureForward as refMixtureForward } from '../../src/engine/ref/embedding.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import type { MotSettings, PresetName } from '../../src/mot/settings.ts';
import { mixtureStep, type StepRecord } from '../../src/mot/step.ts';
import { randomFloats, readF32, testContext } from '../helpers/gpu.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

const SEED = 1234;
const C = 12;

/** B rows of V logits: flat, medium, peaked, with ties (rounded), one dominant id, and a wide row. */
function testLogits(V: number, seed: number): Float32Array {
  const rows = [
    randomFloats(V, seed, 1),
    randomFloats(V, seed + 1, 3),
    randomFloats(V, seed + 2, 8),
    Float32Array.from(randomFloats(V, seed + 3, 3), (z) => Math.round(z)),
    Float32Array.from(randomFloats(V, seed + 4, 1), (z, i) => (i === 7 ? z + 12 : z)),
    randomFloats(V, seed + 5, 20),
  ];
  const out = new Float32Array(rows.length * V);
  rows.forEach((r, b) => {
    out.set(r, b * V);
  });
  return out;
}

function expectSameRecord(label: string, gpu: StepRecord | null, cpu: StepRecord | null): void {
  if (cpu === null || gpu === null) {
    expect(gpu, label).toBe(cpu);
    return;
  }
  expect(gpu.mode, `${label} mode`).toBe(cpu.mode);
  expect(gpu.ids, `${label} ids`).toEqual(cpu.ids);
  expect(gpu.representative, `${label} representative`).toBe(cpu.representative);
  expect(gpu.argmax, `${label} argmax`).toBe(cpu.argmax);
  expect(gpu.sampled, `${label} sampled`).toBe(cpu.sampled);
  expect(gpu.temperature, `${label} temperature`).toBe(cpu.temperature);
  expect(gpu.noise, `${label} noise`).toEqual(cpu.noise);
  expect(gpu.counters, `${label} counters`).toEqual(cpu.counters);
  expect(gpu.weights.length).toBe(cpu.weights.length);
  gpu.weights.forEach((w, j) => {
    expect(Math.abs(w - cpu.weights[j]), `${label} weight ${j}: ${w} vs ${cpu.weights[j]}`).toBeLessThan(
      2e-6 + 1e-4 * Math.abs(cpu.weights[j]),
    );
  });
  const ll = cpu.logLikelihood;
  expect(
    Math.abs(gpu.logLikelihood - ll),
    `${label} logLikelihood ${gpu.logLikelihood} vs ${ll}`,
  ).toBeLessThan(2e-4 * Math.max(1, Math.abs(ll)));
  expect(Math.abs(gpu.entropy - cpu.entropy), `${label} entropy`).toBeLessThan(
    2e-5 * Math.max(1, cpu.entropy),
  );
}

async function compare(V: number, settings: MotSettings, steps: number[], seed = SEED): Promise<number> {
  const logits = testLogits(V, V + steps[0]);
  const B = logits.length / V;
  let mixtureRows = 0;
  for (const step of steps) {
    const rows: RowCounters[] = Array.from({ length: B }, (_, b) => ({
      mode: b === 2 && step % 2 === 1 ? 'skip' : b === 4 ? 'answer' : 'thinking',
      row: b + 3,
      step,
    }));
    const gpu = await runMixtureStep(ctx, logits, V, settings, seed, rows, C);
    for (let b = 0; b < B; b++) {
      const r = rows[b];
      const cpu =
        r.mode === 'skip'
          ? null
          : mixtureStep(
              logits.subarray(b * V, (b + 1) * V),
              V,
              settings,
              { seed, row: r.row, step },
              { phase: r.mode === 'answer' ? 'answer' : 'thinking', hiddenSize: C },
            );
      if (cpu?.mode === 'mixture') mixtureRows++;
      expectSameRecord(`${settings.preset} V=${V} step ${step} row ${b}`, gpu[b], cpu);
    }
  }
  return mixtureRows;
}

const VARIANTS: [string, PresetName, Partial<MotSettings>][] = [
  ['discrete', 'discrete', {}],
  [
    'discrete, filtered, exact',
    'discrete',
    { discreteTopK: 7, discreteTopP: 0.8, discreteMinP: 0.02, likelihood: 'exact' },
  ],
  ['discrete-top-k (the matched baseline), exact', 'discrete-top-k', { likelihood: 'exact' }],
  ['dirichlet (paper)', 'dirichlet', {}],
  ['dirichlet exact, k=4, c=0.05 (α < 1)', 'dirichlet', { likelihood: 'exact', k: 4, concentration: 0.05 }],
  ['dirichlet exact, c=3, top-p 0.9', 'dirichlet', { likelihood: 'exact', concentration: 3, topP: 0.9 }],
  ['different-tokens (paper, weighted ids)', 'different-tokens', {}],
  ['different-tokens exact (Plackett–Luce), k=3', 'different-tokens', { likelihood: 'exact', k: 3 }],
  ['different-tokens, the author-code quirk', 'different-tokens', { representative: 'weighted-topk-quirk' }],
  ['soft-thinking', 'soft-thinking', {}],
  ['soft-thinking exact, min-p 0.05', 'soft-thinking', { likelihood: 'exact', minP: 0.05 }],
  ['mixture-of-inputs', 'mixture-of-inputs', {}],
  ['mixture-of-inputs exact, β=0.5', 'mixture-of-inputs', { likelihood: 'exact', moiBeta: 0.5 }],
  ['soft-tokens (dense, noise) paper', 'soft-tokens', {}],
  ['soft-tokens exact (noise term)', 'soft-tokens', { likelihood: 'exact' }],
  [
    'gumbel-softmax over 3 draws, exact, max-weight',
    'different-tokens',
    { weights: 'gumbel-softmax', gumbelTau: 0.7, likelihood: 'exact', k: 3, representative: 'max-weight' },
  ],
  ['sample k=1 with MoI weights', 'mixture-of-inputs', { select: 'sample', k: 1 }],
  [
    'mixture temperature 0.6, likelihood at T = 1',
    'dirichlet',
    { mixtureTemperature: 0.6, paperTemperature: 'one', temperature: 1.3 },
  ],
  ['greedy (T = 0) mixture and answer', 'dirichlet', { temperature: 0 }],
  ['greedy, paper likelihood at T = 1', 'different-tokens', { temperature: 0, paperTemperature: 'one' }],
  ['thinking without mixture (the baseline)', 'dirichlet', { mixture: false, discreteTopK: 5 }],
];

describe('mixture step: GPU kernel = CPU step (src/mot/step.ts)', () => {
  it.each(VARIANTS)('%s', async (_label, preset, overrides) => {
    for (const V of [101, 300]) {
      const settings = makeSettings(preset, overrides, V);
      const mixtureRows = await compare(V, settings, [0, 1, 2]);
      if (settings.mixture && settings.temperature !== 0) expect(mixtureRows).toBeGreaterThan(5);
    }
  });

  it('a different seed changes the draws (the counters reach the kernel)', async () => {
    const V = 101;
    const s = makeSettings('different-tokens', {}, V);
    const logits = testLogits(V, 9);
    const rows: RowCounters[] = [0, 1, 2, 3, 4, 5].map((b) => ({ mode: 'thinking', row: b, step: 0 }));
    const a = await runMixtureStep(ctx, logits, V, s, 1, rows);
    const b = await runMixtureStep(ctx, logits, V, s, 2, rows);
    expect(a.map((r) => r?.ids)).not.toEqual(b.map((r) => r?.ids));
  });
});

describe('embedding-mixture kernel', () => {
  it('writes Σ w E[ids] + σ n for recorded rows and E[id] for given tokens', async () => {
    const V = 37;
    const B = 3;
    const K = 4;
    const wte = randomFloats(V * C, 5, 0.5);
    const ids = Uint32Array.from([3, 9, 30, 1, 5, 0, 0, 0, 11, 12, 13, 14]);
    const w = Float32Array.from([0.5, 0.25, 0.125, 0.125, 1, 0, 0, 0, 0.1, 0.2, 0.3, 0.4]);
    const meta = new Uint32Array(B * META_STRIDE);
    const n = [4, 1, 4];
    n.forEach((x, b) => {
      meta[b * META_STRIDE] = x;
      meta[b * META_STRIDE + 4] = 1;
    });
    const ctrl = new Uint32Array(B * CTRL_STRIDE);
    const given = [NO_ID, NO_ID, 17];
    given.forEach((g, b) => {
      ctrl[b * CTRL_STRIDE + 1] = b + 10; // counter row
      ctrl[b * CTRL_STRIDE + 3] = g;
      ctrl[b * CTRL_STRIDE + 4] = 6; // counter step of the fed record
    });
    const t = {
      ctrl: ctx.pool.upload('ctrl', ctrl),
      recIds: ctx.pool.upload('ids', ids),
      recW: ctx.pool.upload('w', w),
      meta: ctx.pool.upload('meta', meta),
      sk: ctx.dummy,
      sv: ctx.dummy,
    };
    const wt = ctx.pool.upload('wte', wte);
    const out = ctx.pool.upload('out', new Float32Array(B * C).fill(Number.NaN));
    const std = 0.3;
    const rec = ctx.recorder('embed test');
    mixtureEmbedForward(rec, out, t, wt, B, C, K, V, SEED, std);
    await rec.submit();
    const got = await readF32(ctx, out, B * C);
    const want = new Float32Array(B * C);
    for (let b = 0; b < B; b++) {
      if (given[b] !== NO_ID) {
        want.set(wte.subarray(given[b] * C, given[b] * C + C), b * C);
        continue;
      }
      const row = { seed: SEED, row: b + 10, step: 6 };
      mixtureEmbedding(
        want,
        b * C,
        Array.from(ids.subarray(b * K, b * K + n[b])),
        Array.from(w.subarray(b * K, b * K + n[b])),
        wte,
        C,
        { std, counters: row },
      );
    }
    for (let i = 0; i < B * C; i++) expect(Math.abs(got[i] - want[i]), `element ${i}`).toBeLessThan(1e-5);
    // The noise is there: without it row 0 differs.
    const plain = new Float32Array(C);
    mixtureEmbedding(plain, 0, [3, 9, 30, 1], [0.5, 0.25, 0.125, 0.125], wte, C, null);
    expect(Math.max(...plain.map((v, c) => Math.abs(v - got[c])))).toBeGreaterThan(0.05);
    for (const x of [t.ctrl, t.recIds, t.recW, t.meta, wt, out]) ctx.pool.release(x);
  });

  it("the training forward's mixture + input_noise rebuilds the rollout's noisy inputs", async () => {
    // The rollout's embedding-mixture kernel fed rows 0 and 1 (a noisy mixture, and a mixture the settings
    // left without noise); the training forward writes the same rows from (ids, weights) and the counters.
    const V = 37;
    const B = 2;
    const K = 4;
    const wte = randomFloats(V * C, 8, 0.5);
    const ids = Uint32Array.from([3, 9, 30, 1, 5, 6, 0, 0]);
    const w = Float32Array.from([0.4, 0.3, 0.2, 0.1, 0.75, 0.25, 0, 0]);
    const meta = new Uint32Array(B * META_STRIDE);
    const ctrl = new Uint32Array(B * CTRL_STRIDE);
    const counters = new Uint32Array(B * NOISE_STRIDE);
    [4, 2].forEach((n, b) => {
      meta[b * META_STRIDE] = n;
      meta[b * META_STRIDE + 4] = b === 0 ? 1 : 0;
      ctrl[b * CTRL_STRIDE + 1] = b + 3;
      ctrl[b * CTRL_STRIDE + 3] = NO_ID;
      ctrl[b * CTRL_STRIDE + 4] = 9;
      counters.set([b === 0 ? 1 : 0, SEED, b + 3, 9], b * NOISE_STRIDE);
    });
    const std = 0.25;
    const t = {
      ctrl: ctx.pool.upload('ctrl', ctrl),
      recIds: ctx.pool.upload('ids', ids),
      recW: ctx.pool.upload('w', w),
      meta: ctx.pool.upload('meta', meta),
      sk: ctx.dummy,
      sv: ctx.dummy,
    };
    const wt = ctx.pool.upload('wte', wte);
    const fed = ctx.pool.upload('fed', new Float32Array(B * C).fill(Number.NaN));
    const train = ctx.pool.upload('train', new Float32Array(B * C).fill(Number.NaN));
    const rec = ctx.recorder('input noise test');
    mixtureEmbedForward(rec, fed, t, wt, B, C, K, V, SEED, std);
    mixtureForward(rec, train, t.recIds, t.recW, wt, B, K, C, V);
    let cnt = ctx.dummy;
    inputNoiseForward(rec, train, { std, counters }, B, C, (name, data) => {
      cnt = ctx.pool.upload(name, data);
      return cnt;
    });
    await rec.submit();
    const a = await readF32(ctx, fed, B * C);
    const b = await readF32(ctx, train, B * C);
    for (let i = 0; i < B * C; i++) expect(Math.abs(b[i] - a[i]), `element ${i}`).toBeLessThanOrEqual(1e-6);
    // The CPU reference input (ref/embedding.ts mixtureForward with the same InputNoise) agrees too.
    const cpu = new Float32Array(B * C);
    refMixtureForward(cpu, ids, w, wte, B, K, C, { std, counters });
    for (let i = 0; i < B * C; i++) expect(Math.abs(b[i] - cpu[i]), `element ${i}`).toBeLessThan(1e-5);
    const plain = new Float32Array(B * C);
    refMixtureForward(plain, ids, w, wte, B, K, C);
    expect(Math.max(...plain.subarray(0, C).map((v, c) => Math.abs(v - b[c])))).toBeGreaterThan(0.05);
    expect(Array.from(b.subarray(C)).every((v, c) => Math.abs(v - plain[C + c]) < 1e-6)).toBe(true);
    for (const x of [t.ctrl, t.recIds, t.recW, t.meta, wt, fed, train, cnt]) ctx.pool.release(x);
  });
});
