// npm run parity -- <folder> [--backend cpu|webgpu|all] [--rel 1e-4]
// Checks the CPU reference and the WebGPU engine against a folder in the golden fixtures' format and
// prints one line per check (`PASS <backend> <tensor> max_abs_err=<e> tol=<t>` or `FAIL …`), then
// `<N> passed, <M> failed`. Exit status 1 if anything fails.
import { resolve } from 'node:path';
import { DEFAULT_REL_TOL, formatCheck, type TensorCheck } from '../src/engine/check.ts';
import { requestEngineDevice } from '../src/engine/gpu/device.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { forwardParity, loadGoldenSet } from '../src/engine/parity.ts';
import { cpuFactory, gpuFactory, parityBackends } from '../src/node/parityBackends.ts';
import { nodeGpu } from '../src/node/webgpu.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

async function main(): Promise<number> {
  const folder = process.argv
    .slice(2)
    .find((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
  if (!folder) {
    console.error('usage: npm run parity -- <fixture folder> [--backend cpu|webgpu|all] [--rel 1e-4]');
    return 2;
  }
  const dir = resolve(folder);
  const which = arg('backend', 'all');
  const rel = Number(arg('rel', String(DEFAULT_REL_TOL)));
  const golden = await loadGoldenSet(new DirModelSource(dir));
  let passed = 0;
  let failed = 0;
  const report = (backend: string, checks: TensorCheck[]) => {
    for (const c of checks) {
      console.log(formatCheck(backend, c));
      if (c.pass) passed++;
      else failed++;
    }
  };
  if (which === 'cpu' || which === 'all') {
    report('cpu', await forwardParity(golden, await parityBackends(dir, dir, cpuFactory), rel));
  }
  if (which === 'webgpu' || which === 'all') {
    try {
      const device = await requestEngineDevice(await nodeGpu());
      report('webgpu', await forwardParity(golden, await parityBackends(dir, dir, gpuFactory(device)), rel));
      device.destroy();
    } catch (e) {
      console.log(`FAIL webgpu setup ${(e as Error).message}`);
      failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(2);
  },
);
