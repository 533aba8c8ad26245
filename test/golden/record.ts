// Records the golden outputs of test/helpers/goldenRuns.ts (run once, on the code before the reshape):
//   npx tsx test/golden/record.ts [--gpu]
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  decodeRuns,
  evaluateRuns,
  GOLDEN_DIR,
  goldenEngine,
  grpoCases,
  grpoRun,
} from '../helpers/goldenRuns.ts';

const useGpu = process.argv.includes('--gpu');
const gpu = useGpu ? await (await import('../../src/node/webgpu.ts')).nodeGpu() : null;
const e = await goldenEngine(gpu);
const backend = useGpu ? 'webgpu' : 'cpu';
const out: Record<string, unknown> = { decode: await decodeRuns(e), grpo: {} };
for (const c of grpoCases(backend)) {
  const t0 = Date.now();
  (out.grpo as Record<string, unknown>)[c.name] = await grpoRun(e, c);
  console.error(`${c.name}: ${Date.now() - t0} ms`);
}
if (!useGpu) out.evaluate = await evaluateRuns(e);
await e.dispose();
writeFileSync(resolve(GOLDEN_DIR, `outputs-${backend}.json`), `${JSON.stringify(out)}\n`);
console.error(`wrote outputs-${backend}.json`);
