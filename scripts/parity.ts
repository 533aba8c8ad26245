// npm run parity -- <folder> [--backend cpu|webgpu|all] [--rel 1e-4]
// Checks the CPU reference and the WebGPU engine against a folder in the golden fixtures' format and
// prints one line per check (`PASS <backend> <tensor> max_abs_err=<e> tol=<t>` or `FAIL …`): first the
// forward tensors of each backend, then the gradients (loss, log-probs, grad.*, mixgrad.*, lora_grad.*)
// of each backend; `loss.value` / `loss.logp` appear once, among the forward lines; then, when the folder
// has a model.onnx, each backend's logits against onnxruntime-web's (wasm EP) at a few shapes
// (`ort.logits(B=…,T=…,seed=…)`). The last line is `<N> passed, <M> failed`. Exit status 1 if anything
// fails. The checks themselves live in src/check/ (parity.ts, gradParity.ts, parityBackends.ts, ortParity.ts).
import { resolve } from 'node:path';
import { gradientParity } from '../src/check/gradParity.ts';
import { closeOrtParity, openOrtParity, ortParity } from '../src/check/ortParity.ts';
import { forwardParity, forwardTensorNames, loadGoldenSet } from '../src/check/parity.ts';
import {
  cpuFactory,
  gpuFactory,
  gpuGradientParity,
  loadParityModel,
  parityBackends,
} from '../src/check/parityBackends.ts';
import { DEFAULT_REL_TOL, formatCheck, type TensorCheck } from '../src/check/tensorCheck.ts';
import { type EngineDevice, requestEngineDevice } from '../src/engine/gpu/device.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
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
  const cpu = which === 'cpu' || which === 'all';
  const webgpu = which === 'webgpu' || which === 'all';
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
  const setupFailed = (what: string, e: unknown) => {
    console.log(`FAIL webgpu ${what} ${(e as Error).message}`);
    failed++;
  };

  // Forward tensors.
  if (cpu) report('cpu', await forwardParity(golden, await parityBackends(dir, dir, cpuFactory), rel));
  let device: EngineDevice | null = null;
  if (webgpu) {
    try {
      device = await requestEngineDevice(await nodeGpu());
      report('webgpu', await forwardParity(golden, await parityBackends(dir, dir, gpuFactory(device)), rel));
    } catch (e) {
      setupFailed('setup', e);
    }
  }

  // Gradients (without the loss lines the forward list already has).
  const forwardNames = new Set(forwardTensorNames(golden));
  const gradientsOnly = (checks: TensorCheck[]) => checks.filter((c) => !forwardNames.has(c.name));
  const { config, weights, adapter } = await loadParityModel(dir);
  if (cpu) report('cpu', gradientsOnly(gradientParity(golden, { config, weights }, adapter, rel)));
  if (device) {
    try {
      report('webgpu', gradientsOnly(await gpuGradientParity(golden, device, config, weights, adapter, rel)));
    } catch (e) {
      setupFailed('gradients', e);
    }
  }

  // Logits against onnxruntime-web, on the folder's f32 weights (no adapter).
  const ort = await openOrtParity(new DirModelSource(dir));
  if (ort) {
    try {
      if (cpu) report('cpu', await ortParity(await cpuFactory(ort.config, ort.weights, null), ort, rel));
      if (device) {
        try {
          const gpu = await gpuFactory(device)(ort.config, ort.weights, null);
          report('webgpu', await ortParity(gpu, ort, rel));
          gpu.dispose();
        } catch (e) {
          setupFailed('ort', e);
        }
      }
    } finally {
      await closeOrtParity(ort);
    }
  }
  device?.destroy();
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
