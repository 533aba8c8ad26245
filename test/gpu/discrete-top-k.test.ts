// The matched baseline `discrete-top-k` on the GPU's mixture-step kernel (the WebGPU rollouts' sampler): with
// k = 2 every row draws one of its two most probable ids, in the thinking and the answer phase, the same id as
// the CPU step at the same counters, and over many rows the top id's frequency is p̃_1 within 4 SE.
import { beforeAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/engine/gpu/commands.ts';
import { type RowCounters, runMixtureStep } from '../../src/engine/gpu/mixture.ts';
import { rowDistribution } from '../../src/mot/choice.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import { mixtureStep } from '../../src/mot/step.ts';
import { randomFloats, testContext } from '../helpers/gpu.ts';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await testContext();
});

const V = 97;
const B = 256;

describe('discrete-top-k on the GPU mixture-step kernel', () => {
  it('with k = 2 draws only top-2 ids, as the CPU step does', async () => {
    const s = makeSettings('discrete-top-k', {}, V);
    const logits = randomFloats(B * V, 21, 3);
    const rows: RowCounters[] = Array.from({ length: B }, (_, b) => ({
      mode: b % 2 ? 'answer' : 'thinking',
      row: b,
      step: 4,
    }));
    const gpu = await runMixtureStep(ctx, logits, V, s, 9, rows);
    for (let b = 0; b < B; b++) {
      const z = logits.subarray(b * V, (b + 1) * V);
      const top2 = Array.from(rowDistribution(z, V, s.temperature).order.subarray(0, 2));
      const rec = gpu[b];
      expect(rec?.mode).toBe('discrete');
      expect(top2).toContain(rec?.ids[0]);
      const phase = rows[b].mode === 'answer' ? 'answer' : 'thinking';
      expect(rec?.ids[0], `row ${b}`).toBe(
        mixtureStep(z, V, s, { seed: 9, row: b, step: 4 }, { phase }).ids[0],
      );
    }
  });

  it('draws the top id with probability p̃_1 (one row, 4 × 256 counters)', async () => {
    const s = makeSettings('discrete-top-k', {}, V);
    const row = randomFloats(V, 5, 2);
    const logits = new Float32Array(B * V);
    for (let b = 0; b < B; b++) logits.set(row, b * V);
    const d = rowDistribution(row, V, s.temperature);
    const [i1, i2] = [d.order[0], d.order[1]];
    const p1 = d.p[i1] / (d.p[i1] + d.p[i2]);
    let top = 0;
    let n = 0;
    for (const step of [0, 1, 2, 3]) {
      const rows: RowCounters[] = Array.from({ length: B }, (_, b) => ({ mode: 'thinking', row: b, step }));
      for (const rec of await runMixtureStep(ctx, logits, V, s, 3, rows)) {
        expect([i1, i2]).toContain(rec?.ids[0]);
        if (rec?.ids[0] === i1) top++;
        n++;
      }
    }
    expect(Math.abs(top / n - p1)).toBeLessThan(4 * Math.sqrt((p1 * (1 - p1)) / n));
  });
});
