// Nothing computed changed (issue 11): the CPU reference reproduces, bit for bit, the rollouts, GRPO steps and
// evaluations that test/golden/record.ts wrote from the code before the engine was reshaped.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/worker/engine.ts';
import {
  decodeRuns,
  evaluateRuns,
  GOLDEN_DIR,
  goldenEngine,
  grpoCases,
  grpoRun,
} from '../helpers/goldenRuns.ts';

const golden = JSON.parse(readFileSync(resolve(GOLDEN_DIR, 'outputs-cpu.json'), 'utf8'));
let engine: Engine | null = null;
async function cpu(): Promise<Engine> {
  engine ??= await goldenEngine(null);
  return engine;
}
afterAll(async () => {
  await engine?.dispose();
});

describe('golden outputs on the CPU reference (bit-identical)', () => {
  it('rollouts of every preset, seeded and greedy, and generate', async () => {
    expect(await decodeRuns(await cpu())).toEqual(golden.decode);
  }, 120_000);

  for (const c of grpoCases('cpu'))
    it(`5 GRPO steps: ${c.name}`, async () => {
      const run = (await grpoRun(await cpu(), c)) as { params: { sha256: string } };
      expect(run).toEqual(golden.grpo[c.name]);
      expect(run.params.sha256).toBe(golden.grpo[c.name].params.sha256);
    }, 120_000);

  it('the evaluator (npm run evaluate)', async () => {
    expect(await evaluateRuns(await cpu())).toEqual(golden.evaluate);
  }, 120_000);
});
