// Decode benchmark (not a test): greedy decode tokens/s with the KV cache for every model folder under
// --models (default public/models: the built-in model), on the CPU reference and on WebGPU (Node + Dawn,
// whatever adapter is present), batch 1 and 8.
//   npx tsx bench/decode.bench.ts [--models DIR] [--tag NAME] [--tokens N] [--prompt N] [--runs N]
// Prints a table, then one JSON line, also written to bench/results/decode-<tag>.json.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { type DecodeTiming, timeDecode } from '../src/check/peerCheck.ts';
import type { Backend } from '../src/engine/backend.ts';
import { CpuBackend } from '../src/engine/cpuBackend.ts';
import { requestEngineDevice } from '../src/engine/gpu/device.ts';
import { GpuBackend } from '../src/engine/gpuBackend.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { loadModel } from '../src/engine/model/weights.ts';
import { nodeGpu } from '../src/node/webgpu.ts';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const modelsDir = resolve(opt('models') ?? resolve(import.meta.dirname, '../public/models'));
const tag = (opt('tag') ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '_');
const newTokens = Number(opt('tokens') ?? 64);
const promptLength = Number(opt('prompt') ?? 32);
const runs = Number(opt('runs') ?? 3);

interface Row extends DecodeTiming {
  model: string;
  backend: 'cpu' | 'webgpu';
}

async function main(): Promise<void> {
  const folders = readdirSync(modelsDir).filter((d) => existsSync(join(modelsDir, d, 'config.json')));
  const device = await requestEngineDevice(await nodeGpu());
  console.log(
    `adapter: ${device.adapter.description || device.adapter.device} (software: ${device.adapter.isFallbackAdapter})`,
  );
  const rows: Row[] = [];
  for (const name of folders) {
    const m = await loadModel(new DirModelSource(join(modelsDir, name)));
    const backends: [Row['backend'], Backend][] = [
      ['cpu', new CpuBackend(m.config, m.weights)],
      ['webgpu', await GpuBackend.create(device, m.config, m.weights, null)],
    ];
    for (const [kind, backend] of backends) {
      for (const B of [1, 8]) {
        await timeDecode(backend, B, promptLength, 4, m.config.vocabSize, 1); // warm-up: pipelines, JIT
        rows.push({
          model: name,
          backend: kind,
          ...(await timeDecode(backend, B, promptLength, newTokens, m.config.vocabSize, runs)),
        });
      }
      backend.dispose();
    }
  }
  device.destroy();
  console.log('model                backend   B   prefill ms   decode tokens/s');
  for (const r of rows) {
    console.log(
      `${r.model.padEnd(20)} ${r.backend.padEnd(9)} ${String(r.B).padEnd(3)} ${r.prefillMs.toFixed(1).padStart(10)} ${r.tokensPerSecond.toFixed(0).padStart(17)}`,
    );
  }
  const result = {
    bench: 'decode',
    tag,
    date: new Date().toISOString(),
    adapter: device.adapter,
    newTokens,
    promptLength,
    rows,
  };
  mkdirSync(resolve(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(
    resolve(import.meta.dirname, `results/decode-${tag}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
