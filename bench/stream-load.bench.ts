// Heap measurement of the streamed GPU load (not a test): writes a Qwen2.5-0.5B-shaped folder (the REAL
// config, test/fixtures-local/qwen2.5-0.5b.config.json, random BF16 weights) into a temp dir, streams it
// onto the WebGPU device Node has (lavapipe here) with bf16 storage, and reports the peak of
// process.memoryUsage() heapUsed + arrayBuffers above the baseline taken just before the load (sampled
// after every tensor and on a 2 ms timer) against the largest tensor's bytes. Target: < 1.5 × largest.
// A device whose limits refuse the real shape (lavapipe binds at most 128 MiB; the bf16 embedding of the
// 0.5B model is 260 MiB) refuses it from the headers (EngineError 'model-too-large', reported); the heap is
// then measured on the same shape with the vocabulary cut until the embedding fits (reported as such).
//   npm run bench:stream-load [-- --config PATH] [--vocab N]
// Prints a table, then one JSON line, also written to bench/results/stream-load-<host>.json.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expectedParameters, parseQwen2Config } from '../src/engine/config.ts';
import { EngineError } from '../src/engine/errors.ts';
import { type EngineDevice, requestEngineDevice } from '../src/engine/gpu/device.ts';
import { streamModelToGpu } from '../src/engine/gpu/streamLoad.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { openModelStream } from '../src/engine/model/stream.ts';
import { nodeGpu } from '../src/node/webgpu.ts';
import { writeHalfSafetensorsFile } from '../test/helpers/halfModel.ts';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const configPath = resolve(
  opt('config') ?? resolve(import.meta.dirname, '../test/fixtures-local/qwen2.5-0.5b.config.json'),
);
const gc = (globalThis as { gc?: () => void }).gc;
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
const heap = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

function writeFolder(dir: string, raw: Record<string, unknown>): void {
  const shapes = expectedParameters(parseQwen2Config(raw));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw, null, 2));
  const largest = Math.max(...[...shapes.values()].map((s) => s.reduce((a, b) => a * b, 1)));
  // One buffer of random bf16 values of magnitude [2^-7, 2^-6), reused for every tensor (a load cares
  // about bytes, not values); norms get the same random bits.
  let bits: Uint16Array | null = new Uint16Array(largest);
  let s = 0x9e3779b9;
  for (let i = 0; i < bits.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    bits[i] = 0x3c00 | (s & 0x807f);
  }
  const fill = bits;
  writeHalfSafetensorsFile(join(dir, 'model.safetensors'), shapes, 'BF16', (_n, numel) =>
    fill.subarray(0, numel),
  );
  bits = null;
}

interface Measured {
  vocabSize: number;
  refused?: string;
  row?: Record<string, unknown> & { pass: boolean };
}

async function measure(dev: EngineDevice, raw: Record<string, unknown>): Promise<Measured> {
  const dir = mkdtempSync(join(tmpdir(), 'motg-stream-load-'));
  const vocabSize = raw.vocab_size as number;
  try {
    const t0 = performance.now();
    writeFolder(dir, raw);
    const writeMs = performance.now() - t0;
    gc?.();
    gc?.();
    const baseline = heap();
    let peak = baseline;
    const sample = () => {
      peak = Math.max(peak, heap());
    };
    const timer = setInterval(sample, 2);
    const t1 = performance.now();
    const stream = await openModelStream(new DirModelSource(dir));
    let loaded: Awaited<ReturnType<typeof streamModelToGpu>>;
    try {
      loaded = await streamModelToGpu(dev, stream, { weightDtype: 'auto', onTensor: sample });
    } catch (e) {
      clearInterval(timer);
      if (e instanceof EngineError && e.code === 'model-too-large') return { vocabSize, refused: e.message };
      throw e;
    }
    const { model, plan } = loaded;
    await dev.device.queue.onSubmittedWorkDone();
    const loadMs = performance.now() - t1;
    sample();
    clearInterval(timer);
    model.dispose();
    const largestFile = Math.max(...stream.parameters.map((p) => p.end - p.start));
    const above = peak - baseline;
    const row = {
      vocabSize,
      tensors: stream.parameters.length,
      storage: plan.storage,
      gpuWeightBytes: plan.totalBytes,
      largestTensor: plan.largest?.name,
      largestTensorBytes: largestFile,
      baselineBytes: baseline,
      peakAboveBaselineBytes: above,
      ratioToLargest: above / largestFile,
      pass: above < 1.5 * largestFile,
      writeMs: Math.round(writeMs),
      loadMs: Math.round(loadMs),
    };
    console.log(
      `vocab ${vocabSize}: ${row.storage}, ${row.tensors} tensors, ${mib(row.gpuWeightBytes)} on the GPU`,
    );
    console.log(`  largest tensor   ${row.largestTensor}: ${mib(largestFile)}`);
    console.log(`  heap baseline    ${mib(baseline)}`);
    console.log(
      `  peak above it    ${mib(above)} = ${row.ratioToLargest.toFixed(3)} × largest (target < 1.5)`,
    );
    console.log(
      `  load             ${(loadMs / 1000).toFixed(1)} s (folder written in ${(writeMs / 1000).toFixed(1)} s)`,
    );
    return { vocabSize, row };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The config with a smaller vocabulary; the special-token ids (outside it) moved inside or dropped. */
function withVocab(raw: Record<string, unknown>, V: number): Record<string, unknown> {
  return { ...raw, vocab_size: V, bos_token_id: null, eos_token_id: V - 1 };
}

async function main(): Promise<void> {
  const real = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  const vocab = opt('vocab');
  const dev = await requestEngineDevice(await nodeGpu());
  const runs: Measured[] = [];
  runs.push(await measure(dev, vocab ? withVocab(real, Number(vocab)) : real));
  const first = runs[0];
  if (first.refused) {
    console.log(`refused before any upload: ${first.refused}`);
    // The largest vocabulary (a multiple of 128) whose bf16 embedding this device can bind.
    const { maxBufferSize, maxStorageBufferBindingSize } = dev.limits;
    const cap = Math.min(maxBufferSize, maxStorageBufferBindingSize);
    const fits = Math.floor(cap / ((real.hidden_size as number) * 2) / 128) * 128;
    runs.push(await measure(dev, withVocab(real, Math.min(fits, first.vocabSize))));
  }
  const result = {
    host: hostname(),
    adapter: dev.adapter.description || dev.adapter.device,
    limits: {
      maxBufferSize: dev.limits.maxBufferSize,
      maxStorageBufferBindingSize: dev.limits.maxStorageBufferBindingSize,
    },
    config: configPath,
    gcExposed: gc !== undefined,
    target: 1.5,
    runs,
  };
  console.log(JSON.stringify(result));
  const out = resolve(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, `stream-load-${result.host.replace(/[^A-Za-z0-9._-]/g, '_')}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  dev.destroy();
  if (runs.some((r) => r.row && !r.row.pass)) process.exitCode = 1;
}

await main();
