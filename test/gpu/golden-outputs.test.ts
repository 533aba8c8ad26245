// Nothing computed changed (issue 11): WebGPU reproduces, within tolerance, the rollouts and GRPO steps that
// test/golden/record.ts --gpu wrote from the code before the engine was reshaped (token ids exactly; floats
// within 2e-4 + 2e-3·|x|, the spread of GPU-vs-CPU GRPO parity).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../src/node/webgpu.ts';
import type { Engine } from '../../src/worker/engine.ts';
import {
  decodeRuns,
  GOLDEN_DIR,
  goldenEngine,
  grpoCases,
  grpoRun,
  jsonDifferences,
} from '../helpers/goldenRuns.ts';

const golden = JSON.parse(readFileSync(resolve(GOLDEN_DIR, 'outputs-webgpu.json'), 'utf8'));
const TOL = { atol: 2e-4, rtol: 2e-3, skip: new Set(['sha256']) };
let engine: Engine | null = null;
async function gpu(): Promise<Engine> {
  engine ??= await goldenEngine(await nodeGpu());
  return engine;
}
afterAll(async () => {
  await engine?.dispose();
});

describe('golden outputs on WebGPU (within tolerance)', () => {
  it('rollouts of every preset, seeded and greedy, and generate', async () => {
    expect(jsonDifferences(await decodeRuns(await gpu()), golden.decode, TOL)).toEqual([]);
  }, 300_000);

  for (const c of grpoCases('webgpu'))
    it(`5 GRPO steps: ${c.name}`, async () => {
      expect(jsonDifferences(await grpoRun(await gpu(), c), golden.grpo[c.name], TOL)).toEqual([]);
    }, 300_000);
});
