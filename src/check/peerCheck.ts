// Our engine against onnxruntime-web on the same model: logits agreement and speed. Used by the check
// page (check.html, in a browser: our WebGPU backend vs ORT's WebGPU EP) and by the Node benchmark
// (bench/engine.bench.ts: CPU reference / WebGPU vs ORT's wasm EP). No DOM and no `node:` imports.
import type { Backend } from '../engine/backend.ts';
import { CpuBackend } from '../engine/cpuBackend.ts';
import { type AdapterReport, requestEngineDevice } from '../engine/gpu/device.ts';
import { GpuBackend } from '../engine/gpuBackend.ts';
import { UrlModelSource } from '../engine/model/source.ts';
import { loadModel } from '../engine/model/weights.ts';
import { seededIds } from './ortParity.ts';
import {
  createOrtSession,
  type OrtExecutionProvider,
  type OrtPeerSession,
  ortLogits,
  releaseOrtSession,
} from './ortPeer.ts';
import { checkTensor, DEFAULT_REL_TOL } from './tensorCheck.ts';

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Timing {
  /** Median wall time of the timed runs (ms). */
  medianMs: number;
  minMs: number;
  runsMs: number[];
  warmup: number;
}

/** `warmup` untimed calls, then `runs` timed ones (each awaited to completion). */
export async function timeRuns(fn: () => Promise<unknown>, warmup: number, runs: number): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    runsMs.push(performance.now() - t0);
  }
  return { medianMs: median(runsMs), minMs: Math.min(...runsMs), runsMs, warmup };
}

export interface ForwardTiming extends Timing {
  B: number;
  T: number;
  /** B·T / median seconds. */
  tokensPerSecond: number;
}

/** Full forward (no cache) with the logits read back, as ORT's `input_ids → logits` does. */
export async function timeForward(
  backend: Backend,
  ids: Int32Array,
  B: number,
  T: number,
  warmup: number,
  runs: number,
): Promise<ForwardTiming> {
  const t = await timeRuns(() => backend.forward({ kind: 'ids', ids }, B, T), warmup, runs);
  return { ...t, B, T, tokensPerSecond: (B * T * 1000) / t.medianMs };
}

export async function timeOrtForward(
  peer: OrtPeerSession,
  ids: Int32Array,
  B: number,
  T: number,
  warmup: number,
  runs: number,
): Promise<ForwardTiming> {
  const t = await timeRuns(() => ortLogits(peer, ids, B, T), warmup, runs);
  return { ...t, B, T, tokensPerSecond: (B * T * 1000) / t.medianMs };
}

export interface DecodeTiming {
  B: number;
  promptLength: number;
  newTokens: number;
  /** Prefill of the prompt into the KV cache (also picks the first new token), ms. */
  prefillMs: number;
  /** The `newTokens` one-token steps after the prefill (median over the timed runs), ms. */
  decodeMs: number;
  /** B · newTokens / decode seconds. */
  tokensPerSecond: number;
  runs: number;
}

/**
 * Greedy generation with a KV cache: prefill `promptLength` positions per row, then `newTokens` steps of
 * one position each, feeding back each row's argmax. One untimed warm-up generation compiles the pipelines.
 */
export async function timeDecode(
  backend: Backend,
  B: number,
  promptLength: number,
  newTokens: number,
  V: number,
  runs = 1,
  seed = 5,
): Promise<DecodeTiming> {
  const prompt = seededIds(B * promptLength, seed, V);
  const once = async (): Promise<{ prefillMs: number; decodeMs: number }> => {
    const cache = backend.createCache(B, promptLength + newTokens + 1);
    try {
      const opts = { greedy: true, temperature: 0, seed: 0, step: 0 };
      const t0 = performance.now();
      let next = await backend.decode(cache, { kind: 'ids', ids: prompt }, promptLength, opts);
      const t1 = performance.now();
      for (let s = 1; s <= newTokens; s++) {
        next = await backend.decode(cache, { kind: 'ids', ids: next }, 1, { ...opts, step: s });
      }
      const t2 = performance.now();
      return { prefillMs: t1 - t0, decodeMs: t2 - t1 };
    } finally {
      cache.dispose();
    }
  };
  await once();
  const all: { prefillMs: number; decodeMs: number }[] = [];
  for (let i = 0; i < Math.max(1, runs); i++) all.push(await once());
  const decodeMs = median(all.map((r) => r.decodeMs));
  return {
    B,
    promptLength,
    newTokens,
    prefillMs: median(all.map((r) => r.prefillMs)),
    decodeMs,
    tokensPerSecond: (B * newTokens * 1000) / decodeMs,
    runs: all.length,
  };
}

export interface LogitsComparison {
  maxAbsErr: number;
  maxAbsLogit: number;
  /** rel × max|ORT logit|. */
  tol: number;
  rel: number;
  pass: boolean;
}

export function compareLogits(
  ours: Float32Array,
  theirs: Float32Array,
  rel = DEFAULT_REL_TOL,
): LogitsComparison {
  const c = checkTensor('logits', ours, theirs, rel);
  return { maxAbsErr: c.maxAbsErr, maxAbsLogit: c.tol / rel, tol: c.tol, rel, pass: c.pass };
}

export interface PeerCheckOptions {
  /** URL of the model folder: config.json, model.safetensors, model.onnx. */
  baseUrl: string;
  /** (B, T) ids; default seeded random ids in [0, vocab). */
  ids?: number[];
  B?: number;
  T?: number;
  seed?: number;
  /** ORT execution provider: 'webgpu' (default) or 'wasm'. */
  ortEp?: OrtExecutionProvider;
  /** ORT's wasm/mjs location (ort.env.wasm.wasmPaths); default: the files the bundler emitted. */
  wasmPaths?: string;
  /** Untimed forwards before timing (default 2) and timed forwards (default 5), each side. */
  warmup?: number;
  runs?: number;
  /** Greedy KV-cache decode on our backend: batch (default 1), prompt length (8), new tokens (32); 0 skips it. */
  decodeB?: number;
  decodePrompt?: number;
  decodeTokens?: number;
  /** Relative tolerance (default 1e-4). */
  rel?: number;
  /** ORT graph optimisation level (default: createOrtSession's, 'all'); a diagnostic knob. */
  ortOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Also run ORT's wasm EP in the page (a second, CPU peer: default true). */
  alsoWasm?: boolean;
  /** Also run our CPU reference on the ids and compare both sides with it (default true). */
  reference?: boolean;
}

export interface PeerCheckResult {
  model: string;
  adapter: AdapterReport;
  /** SwiftShader / lavapipe / fallback: correct but slow, and WGSL built-ins at the spec's minimum precision. */
  adapterIsSoftware: boolean;
  /** max |WGSL cos/sin − Math.cos/sin| on this adapter for x in [0, T) (the arguments RoPE sees at T
   * positions). ORT's WebGPU EP computes RoPE's cos/sin with them; we build the table on the CPU. */
  wgslSinCosMaxErr: number;
  config: { vocabSize: number; hiddenSize: number; layers: number; heads: number; kvHeads: number };
  B: number;
  T: number;
  ortEp: OrtExecutionProvider;
  /** Our WebGPU logits vs ORT's (tol = rel × max|ORT logit|). */
  compare: LogitsComparison;
  /** Both against our CPU reference (float32 maths in JS), to tell which side drifts. */
  reference: { oursVsCpu: LogitsComparison; ortVsCpu: LogitsComparison } | null;
  ours: ForwardTiming;
  ort: ForwardTiming;
  /** ORT median ms / our median ms: > 1 means ours is faster. */
  speedupVsOrt: number;
  /** ORT's wasm EP in the same page: its logits vs ours and its forward time (null with alsoWasm false). */
  ortWasm: { compare: LogitsComparison; forward: ForwardTiming } | null;
  decode: DecodeTiming | null;
  /** Setup costs (ms): our weight load + upload, ORT session creation. */
  setupMs: { oursLoad: number; ortSession: number };
}

/** Max |cos(x) − Math.cos(x)|, |sin(x) − Math.sin(x)| of WGSL's built-ins for x in [0, maxX), 4096 points. */
export async function wgslSinCosError(device: GPUDevice, maxX: number): Promise<number> {
  const N = 4096;
  const xs = Float32Array.from({ length: N }, (_, i) => (i / N) * maxX);
  const module = device.createShaderModule({
    label: 'sin/cos probe',
    code: `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  let i = g.x;
  if (i >= arrayLength(&x)) { return; }
  y[2u * i] = cos(x[i]);
  y[2u * i + 1u] = sin(x[i]);
}`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bx = device.createBuffer({ size: N * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const by = device.createBuffer({ size: N * 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const rb = device.createBuffer({ size: N * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    device.queue.writeBuffer(bx, 0, xs);
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: bx } },
          { binding: 1, resource: { buffer: by } },
        ],
      }),
    );
    pass.dispatchWorkgroups(N / 64);
    pass.end();
    enc.copyBufferToBuffer(by, 0, rb, 0, N * 8);
    device.queue.submit([enc.finish()]);
    await rb.mapAsync(GPUMapMode.READ);
    const y = new Float32Array(rb.getMappedRange().slice(0));
    rb.unmap();
    let err = 0;
    for (let i = 0; i < N; i++) {
      err = Math.max(err, Math.abs(y[2 * i] - Math.cos(xs[i])), Math.abs(y[2 * i + 1] - Math.sin(xs[i])));
    }
    return err;
  } finally {
    bx.destroy();
    by.destroy();
    rb.destroy();
  }
}

/** Like createOrtSession, at a chosen graph optimisation level (createOrtSession always uses 'all'). */
async function ortSessionAt(
  bytes: Uint8Array,
  ep: OrtExecutionProvider,
  level: NonNullable<PeerCheckOptions['ortOptimization']>,
  wasmPaths: string | undefined,
): Promise<OrtPeerSession> {
  const ort = ep === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web');
  if (wasmPaths !== undefined) ort.env.wasm.wasmPaths = wasmPaths;
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: [ep],
    graphOptimizationLevel: level,
  });
  return { session, ort, executionProvider: ep, inputName: 'input_ids', outputName: 'logits' };
}

/** Runs on the given GPU object (navigator.gpu in a page). Plain JSON out. */
export async function runPeerCheck(gpu: GPU | undefined, opts: PeerCheckOptions): Promise<PeerCheckResult> {
  const ep = opts.ortEp ?? 'webgpu';
  const warmup = opts.warmup ?? 2;
  const runs = opts.runs ?? 5;
  const source = new UrlModelSource(opts.baseUrl);

  const t0 = performance.now();
  const dev = await requestEngineDevice(gpu);
  const loaded = await loadModel(source);
  const { config } = loaded;
  const ours = await GpuBackend.create(dev, config, loaded.weights, null);
  const oursLoad = performance.now() - t0;

  const B = opts.B ?? (opts.ids ? 1 : 2);
  const T = opts.T ?? (opts.ids ? opts.ids.length / B : 12);
  if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) {
    throw new Error(`motgPeerCheck: B = ${B}, T = ${T}`);
  }
  const ids = opts.ids ? Int32Array.from(opts.ids) : seededIds(B * T, opts.seed ?? 1, config.vocabSize);
  if (ids.length !== B * T) throw new Error(`motgPeerCheck: ${ids.length} ids, expected B·T = ${B * T}`);

  const t1 = performance.now();
  const onnx = await source.readFile('model.onnx');
  if (!onnx) throw new Error(`motgPeerCheck: no model.onnx in ${opts.baseUrl}`);
  const peer = opts.ortOptimization
    ? await ortSessionAt(onnx, ep, opts.ortOptimization, opts.wasmPaths)
    : await createOrtSession(onnx, { executionProvider: ep, wasmPaths: opts.wasmPaths });
  const ortSession = performance.now() - t1;

  try {
    const mine = (await ours.forward({ kind: 'ids', ids }, B, T)).logits;
    const theirs = await ortLogits(peer, ids, B, T);
    const rel = opts.rel ?? DEFAULT_REL_TOL;
    const compare = compareLogits(mine, theirs, rel);
    let reference: PeerCheckResult['reference'] = null;
    if (opts.reference ?? true) {
      const cpu = new CpuBackend(config, loaded.weights);
      const ref = (await cpu.forward({ kind: 'ids', ids }, B, T)).logits;
      reference = { oursVsCpu: compareLogits(mine, ref, rel), ortVsCpu: compareLogits(theirs, ref, rel) };
    }
    const oursT = await timeForward(ours, ids, B, T, warmup, runs);
    const ortT = await timeOrtForward(peer, ids, B, T, warmup, runs);
    let ortWasm: PeerCheckResult['ortWasm'] = null;
    if ((opts.alsoWasm ?? true) && ep !== 'wasm') {
      const wasm = await createOrtSession(onnx, { executionProvider: 'wasm', wasmPaths: opts.wasmPaths });
      try {
        const logits = await ortLogits(wasm, ids, B, T);
        ortWasm = {
          compare: compareLogits(mine, logits, rel),
          forward: await timeOrtForward(wasm, ids, B, T, warmup, runs),
        };
      } finally {
        await releaseOrtSession(wasm);
      }
    }
    const decodeTokens = opts.decodeTokens ?? 32;
    const decode =
      decodeTokens > 0
        ? await timeDecode(ours, opts.decodeB ?? 1, opts.decodePrompt ?? 8, decodeTokens, config.vocabSize)
        : null;
    return {
      model: opts.baseUrl,
      adapter: dev.adapter,
      adapterIsSoftware: dev.isSoftware,
      wgslSinCosMaxErr: await wgslSinCosError(dev.device, T),
      config: {
        vocabSize: config.vocabSize,
        hiddenSize: config.hiddenSize,
        layers: config.numHiddenLayers,
        heads: config.numAttentionHeads,
        kvHeads: config.numKeyValueHeads,
      },
      B,
      T,
      ortEp: ep,
      compare,
      reference,
      ours: oursT,
      ort: ortT,
      speedupVsOrt: ortT.medianMs / oursT.medianMs,
      ortWasm,
      decode,
      setupMs: { oursLoad, ortSession },
    };
  } finally {
    await releaseOrtSession(peer);
    ours.dispose();
    dev.destroy();
  }
}
