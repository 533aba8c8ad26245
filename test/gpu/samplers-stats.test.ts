// The GPU mixture-step kernel's samplers against their definitions, over 10⁴ independent draws in one
// dispatch (10⁴ rows with the same logits and distinct counters): chi-square for categorical sampling and
// for sampling without replacement (Plackett–Luce inclusion of pairs), and the Dirichlet weights' mean and
// variance at concentrations below 1. Thresholds: chi-square at p = 0.001; moments within 5 standard errors.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/engine/gpu/commands.ts';
import { type RowCounters, runMixtureStep } from '../../src/engine/gpu/mixture.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import { testContext } from '../helpers/gpu.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

const V = 6;
const N = 10_000;
const ROW_LOGITS = [1.2, 0.4, -0.3, 0.9, -1.0, 0.1];
const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};
const P = softmax(ROW_LOGITS);

function batch(): { logits: Float32Array; rows: RowCounters[] } {
  const logits = new Float32Array(N * V);
  for (let b = 0; b < N; b++) logits.set(ROW_LOGITS, b * V);
  const rows: RowCounters[] = Array.from({ length: N }, (_, b) => ({ mode: 'thinking', row: b, step: 3 }));
  return { logits, rows };
}

function chiSquare(observed: number[], expected: number[]): number {
  return observed.reduce((acc, o, i) => acc + (o - expected[i]) ** 2 / expected[i], 0);
}

describe('GPU samplers against their definitions (10⁴ draws)', () => {
  it('categorical sampling at T = 1: chi-square over the 6 ids (df 5, p = 0.001 → 20.5)', async () => {
    const { logits, rows } = batch();
    const settings = makeSettings('discrete', { temperature: 1 }, V);
    const records = await runMixtureStep(ctx, logits, V, settings, 77, rows);
    const counts = new Array(V).fill(0);
    for (const r of records) counts[r!.representative]++;
    const chi2 = chiSquare(
      counts,
      P.map((p) => p * N),
    );
    expect(chi2).toBeLessThan(20.5);
  });

  it('k = 2 without replacement: chi-square over the 15 unordered pairs vs Plackett–Luce (df 14 → 36.1)', async () => {
    const { logits, rows } = batch();
    const settings = makeSettings('different-tokens', { temperature: 1, k: 2 }, V);
    const records = await runMixtureStep(ctx, logits, V, settings, 91, rows);
    const pairs: [number, number][] = [];
    for (let i = 0; i < V; i++) for (let j = i + 1; j < V; j++) pairs.push([i, j]);
    const counts = new Array(pairs.length).fill(0);
    for (const r of records) {
      const ids = r!.ids.slice().sort((a, b) => a - b);
      expect(ids).toHaveLength(2);
      counts[pairs.findIndex(([i, j]) => i === ids[0] && j === ids[1])]++;
    }
    const expected = pairs.map(([i, j]) => N * (P[i] * (P[j] / (1 - P[i])) + P[j] * (P[i] / (1 - P[j]))));
    expect(chiSquare(counts, expected)).toBeLessThan(36.1);
  });

  it.each([1, 0.3])(
    'Dirichlet(c · p̃) weights over the top-2, c = %s (α < 1): mean and variance',
    async (c) => {
      const { logits, rows } = batch();
      const settings = makeSettings('dirichlet', { temperature: 1, k: 2, concentration: c }, V);
      const records = await runMixtureStep(ctx, logits, V, settings, 5 + c, rows);
      // Top-2 of p are ids 0 and 3; w on id 0 ~ Beta(c·a, c·(1−a)) with a = p0 / (p0 + p3).
      const a = P[0] / (P[0] + P[3]);
      const xs = records.map((r) => r!.weights[r!.ids.indexOf(0)]);
      const mean = xs.reduce((s, x) => s + x, 0) / N;
      const variance = xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (N - 1);
      const wantVar = (a * (1 - a)) / (c + 1);
      expect(Math.abs(mean - a)).toBeLessThan(5 * Math.sqrt(wantVar / N));
      // Standard error of the sample variance of a bounded variable ≤ sqrt(E[(x−μ)⁴]/N) ≤ sqrt(wantVar/N).
      expect(Math.abs(variance - wantVar)).toBeLessThan(5 * Math.sqrt(wantVar / N));
      for (const r of records) expect(r!.ids.slice().sort()).toEqual([0, 3]);
    },
  );
});
