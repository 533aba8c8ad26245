// Engine benchmark (not a test): forward and greedy-decode tokens/s of our CPU reference and our WebGPU
// backend (Node + Dawn, whatever adapter is present) on the tiny fixture models, and our forward against
// onnxruntime-web's on qwen2-tiny-a/model.onnx in the same run. Node has only ORT's wasm (CPU) EP, so
// ORT-wasm is compared with our CPU reference (same class of backend) and, for reference, our WebGPU.
//   npm run bench                              full shapes (B=1,T=12 and B=4,T=64; decode B=1,4 × 64 tokens)
//   npm run bench -- --quick                   small shapes, fewer runs (software adapters)
// Options: --fixtures DIR (default $MOTG_FIXTURES or ../shared/fixtures), --tag NAME (default hostname),
// --runs N, --warmup N, --no-gpu. Timings: median of the timed runs after the warm-up; a forward reads the
// logits back (as ORT's session.run does). Prints a table, then one JSON line, also written to
// bench/results/engine-<tag>.json.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { seededIds } from '../src/check/ortParity.ts';
import { createOrtSession, ortLogits, releaseOrtSession } from '../src/check/ortPeer.ts';
import {
  compareLogits,
  type DecodeTiming,
  type ForwardTiming,
  timeDecode,
  timeForward,
  timeOrtForward,
} from '../src/check/peerCheck.ts';
import type { Backend } from '../src/engine/backend.ts';
import { CpuBackend } from '../src/engine/cpuBackend.ts';
import { type AdapterReport, type EngineDevice, requestEngineDevice } from '../src/engine/gpu/device.ts';
import { GpuBackend } from '../src/engine/gpuBackend.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { loadModel } from '../src/engine/model/weights.ts';
import { nodeGpu } from '../src/node/webgpu.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('quick');
const fixtures = resolve(
  opt('fixtures') ?? process.env.MOTG_FIXTURES ?? resolve(import.meta.dirname, '../../shared/fixtures'),
);
const tag = (opt('tag') ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '_');
const warmup = Number(opt('warmup') ?? (quick ? 1 : 2));
const runs = Number(opt('runs') ?? (quick ? 3 : 7));
const MODELS = ['qwen2-tiny-a', 'qwen2-tiny-c'];
const FORWARD: [number, number][] = quick
  ? [
      [1, 12],
      [2, 16],
    ]
  : [
      [1, 12],
      [4, 64],
    ];
const DECODE_B = [1, 4];
const DECODE_TOKENS = quick ? 16 : 64;
const DECODE_PROMPT = 8;
const DECODE_RUNS = quick ? 1 : 3;

type BackendName = 'cpu' | 'webgpu' | 'ort-wasm';
interface ForwardRow extends ForwardTiming {
  model: string;
  backend: BackendName;
}
interface DecodeRow extends DecodeTiming {
  model: string;
  backend: Exclude<BackendName, 'ort-wasm'>;
}
interface Agreement {
  model: string;
  B: number;
  T: number;
  /** max |Δ| / max |ORT logit|. */
  cpuVsOrt: number;
  webgpuVsOrt: number | null;
}
interface Ratio {
  model: string;
  B: number;
  T: number;
  ortWasmMs: number;
  cpuMs: number;
  webgpuMs: number | null;
  /** ORT ms / ours ms: > 1 means ours is faster. */
  ortOverCpu: number;
  ortOverWebgpu: number | null;
}

const forwardRows: ForwardRow[] = [];
const decodeRows: DecodeRow[] = [];
const agreement: Agreement[] = [];
const ratios: Ratio[] = [];

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

async function gpuDevice(): Promise<EngineDevice | null> {
  if (flag('no-gpu')) return null;
  try {
    return await requestEngineDevice(await nodeGpu());
  } catch (e) {
    log(`WebGPU unavailable (${(e as Error).message}): CPU and ORT only`);
    return null;
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const dev = await gpuDevice();
  const adapter: AdapterReport | null = dev?.adapter ?? null;
  log(
    `fixtures ${fixtures}; ${quick ? 'quick' : 'full'}: warm-up ${warmup}, ${runs} timed runs; ` +
      `WebGPU adapter: ${adapter ? `${adapter.description || adapter.vendor} (${adapter.architecture}, ${dev?.isSoftware ? 'software' : 'hardware'})` : 'none'}`,
  );

  for (const name of MODELS) {
    const dir = resolve(fixtures, 'hf-golden', name);
    if (!existsSync(resolve(dir, 'config.json'))) {
      log(`${name}: not found in ${dir}, skipped`);
      continue;
    }
    const { config, weights } = await loadModel(new DirModelSource(dir));
    const V = config.vocabSize;
    const backends: [Exclude<BackendName, 'ort-wasm'>, Backend][] = [
      ['cpu', new CpuBackend(config, weights)],
    ];
    if (dev) backends.push(['webgpu', await GpuBackend.create(dev, config, weights, null)]);
    const onnxPath = resolve(dir, 'model.onnx');
    const peer = existsSync(onnxPath)
      ? await createOrtSession(new Uint8Array(readFileSync(onnxPath)), { executionProvider: 'wasm' })
      : null;
    try {
      for (const [B, T] of FORWARD) {
        const ids = seededIds(B * T, 100 + B * T, V);
        const got = new Map<BackendName, ForwardRow>();
        for (const [kind, be] of backends) {
          const row = { model: name, backend: kind, ...(await timeForward(be, ids, B, T, warmup, runs)) };
          forwardRows.push(row);
          got.set(kind, row);
          log(`  ${name} forward B=${B} T=${T} ${kind}: ${row.medianMs.toFixed(2)} ms`);
        }
        if (peer) {
          const row = {
            model: name,
            backend: 'ort-wasm' as const,
            ...(await timeOrtForward(peer, ids, B, T, warmup, runs)),
          };
          forwardRows.push(row);
          log(`  ${name} forward B=${B} T=${T} ort-wasm: ${row.medianMs.toFixed(2)} ms`);
          const theirs = await ortLogits(peer, ids, B, T);
          const relErr = async (be: Backend) => {
            const c = compareLogits((await be.forward({ kind: 'ids', ids }, B, T)).logits, theirs);
            return c.maxAbsErr / c.maxAbsLogit;
          };
          const gpuBe = backends.find(([k]) => k === 'webgpu')?.[1];
          agreement.push({
            model: name,
            B,
            T,
            cpuVsOrt: await relErr(backends[0][1]),
            webgpuVsOrt: gpuBe ? await relErr(gpuBe) : null,
          });
          const cpu = got.get('cpu')!;
          const gpu = got.get('webgpu') ?? null;
          ratios.push({
            model: name,
            B,
            T,
            ortWasmMs: row.medianMs,
            cpuMs: cpu.medianMs,
            webgpuMs: gpu?.medianMs ?? null,
            ortOverCpu: row.medianMs / cpu.medianMs,
            ortOverWebgpu: gpu ? row.medianMs / gpu.medianMs : null,
          });
        }
      }
      for (const [kind, be] of backends) {
        for (const B of DECODE_B) {
          const d = await timeDecode(be, B, DECODE_PROMPT, DECODE_TOKENS, V, DECODE_RUNS);
          decodeRows.push({ model: name, backend: kind, ...d });
          log(`  ${name} decode B=${B} ${kind}: ${d.tokensPerSecond.toFixed(1)} tok/s`);
        }
      }
    } finally {
      if (peer) await releaseOrtSession(peer);
      for (const [, be] of backends) be.dispose();
    }
  }

  const totalS = (performance.now() - t0) / 1000;
  printTables(adapter);
  const result = {
    bench: 'engine',
    tag,
    host: hostname(),
    date: new Date().toISOString(),
    node: process.version,
    quick,
    warmup,
    runs,
    adapter,
    adapterIsSoftware: dev?.isSoftware ?? null,
    forward: forwardRows.map(({ runsMs, ...r }) => ({ ...r, runsMs: runsMs.map((x) => +x.toFixed(3)) })),
    decode: decodeRows,
    agreement,
    ratios,
    totalSeconds: +totalS.toFixed(1),
  };
  const outDir = resolve(import.meta.dirname, 'results');
  mkdirSync(outDir, { recursive: true });
  const file = resolve(outDir, `engine-${tag}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  log(`written ${file} (${totalS.toFixed(1)} s in all)`);
  console.log(JSON.stringify(result));
  dev?.destroy();
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
function lpad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}
function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? pad(c, w[i]) : lpad(c, w[i]))).join('  ');
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

function printTables(adapter: AdapterReport | null): void {
  console.log(
    `\nWebGPU adapter: ${adapter ? `${adapter.description || adapter.vendor} [${adapter.architecture}]` : 'none'}`,
  );
  console.log('\nForward (no cache, logits read back), median of timed runs:');
  console.log(
    table(
      ['model', 'backend', 'B×T', 'median ms', 'min ms', 'tokens/s'],
      forwardRows.map((r) => [
        r.model,
        r.backend,
        `${r.B}×${r.T}`,
        r.medianMs.toFixed(2),
        r.minMs.toFixed(2),
        r.tokensPerSecond.toFixed(0),
      ]),
    ),
  );
  console.log(`\nGreedy decode with KV cache (prompt ${DECODE_PROMPT}, ${DECODE_TOKENS} new tokens):`);
  console.log(
    table(
      ['model', 'backend', 'B', 'prefill ms', 'decode ms', 'tokens/s'],
      decodeRows.map((r) => [
        r.model,
        r.backend,
        String(r.B),
        r.prefillMs.toFixed(2),
        r.decodeMs.toFixed(1),
        r.tokensPerSecond.toFixed(1),
      ]),
    ),
  );
  if (ratios.length > 0) {
    console.log(
      '\nOurs vs onnxruntime-web (wasm EP, 1 thread) on model.onnx: ORT ms / ours ms (> 1: ours faster)',
    );
    console.log(
      table(
        [
          'model',
          'B×T',
          'ORT wasm ms',
          'our CPU ms',
          'ORT/CPU',
          'our WebGPU ms',
          'ORT/WebGPU',
          'rel err CPU',
          'rel err GPU',
        ],
        ratios.map((r) => {
          const a = agreement.find((x) => x.model === r.model && x.B === r.B && x.T === r.T);
          return [
            r.model,
            `${r.B}×${r.T}`,
            r.ortWasmMs.toFixed(2),
            r.cpuMs.toFixed(2),
            `${r.ortOverCpu.toFixed(2)}×`,
            r.webgpuMs === null ? '-' : r.webgpuMs.toFixed(2),
            r.ortOverWebgpu === null ? '-' : `${r.ortOverWebgpu.toFixed(2)}×`,
            a ? a.cpuVsOrt.toExponential(1) : '-',
            a?.webgpuVsOrt != null ? a.webgpuVsOrt.toExponential(1) : '-',
          ];
        }),
      ),
    );
  }
  console.log('');
}

await main();
