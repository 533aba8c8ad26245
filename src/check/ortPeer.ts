// onnxruntime-web as an independent check and a speed peer: runs an exported `input_ids → logits` ONNX
// model (no KV cache) and returns the logits, for comparison with the engine's own forward pass.
//
// Which onnxruntime-web entry point is loaded (dynamically, so only the one used is bundled/fetched):
// - 'wasm'   → `onnxruntime-web`. In Node this resolves (export condition "node") to `dist/ort.node.min.mjs`,
//              which loads `dist/ort-wasm-simd-threaded.{mjs,wasm}` from node_modules next to itself: no
//              network, nothing to configure. Node supports only single-threaded wasm, so numThreads = 1 there.
//              In a browser/Vite build it resolves to `dist/ort.bundle.min.mjs` (JSEP build: wasm + WebGPU
//              via JSEP), which references `ort-wasm-simd-threaded.jsep.wasm` with
//              `new URL(..., import.meta.url)`; Vite emits that .wasm as an asset of the worker chunk.
// - 'webgpu' → `onnxruntime-web/webgpu` (`dist/ort.webgpu.bundle.min.mjs`: the native WebGPU EP build, wasm
//              file `ort-wasm-simd-threaded.asyncify.wasm`, referenced the same way). This is the entry
//              point onnxruntime recommends for WebGPU; it needs `navigator.gpu` (Chromium, workers included).
// `onnxruntime-web` must stay in Vite's `optimizeDeps.exclude` (it is) so the `new URL` asset reference survives
// dev-mode pre-bundling. To serve the .wasm/.mjs from elsewhere (a CDN, `public/`), pass `wasmPaths`: it is
// written to `ort.env.wasm.wasmPaths` (a URL prefix ending in '/', or `{ wasm, mjs }` full URLs) before the
// first session. ORT's env is global per entry point and read once, when its wasm is first initialised.
// No DOM, no `node:` imports: runs in a worker and in Node.
import type { InferenceSession } from 'onnxruntime-web';
import { EngineError } from '../engine/errors.ts';

export type OrtExecutionProvider = 'wasm' | 'webgpu';
type OrtModule = typeof import('onnxruntime-web');

export interface OrtSessionOptions {
  executionProvider: OrtExecutionProvider;
  /** Sets `ort.env.wasm.wasmPaths` (prefix ending in '/', or `{ wasm, mjs }` URLs). Default: ORT's own. */
  wasmPaths?: string | { wasm?: string; mjs?: string };
  /** wasm threads. Default: 1 in Node (the only supported value there), ORT's default elsewhere. */
  numThreads?: number;
  /** File name used in error messages. Default 'model.onnx'. */
  file?: string;
}

export interface OrtPeerSession {
  readonly session: InferenceSession;
  readonly ort: OrtModule;
  readonly executionProvider: OrtExecutionProvider;
  readonly inputName: string;
  readonly outputName: string;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

function hasWebGpu(): boolean {
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  return nav?.gpu !== undefined && nav.gpu !== null;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function loadOrt(ep: OrtExecutionProvider): Promise<OrtModule> {
  return ep === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web');
}

/** Creates an onnxruntime-web session from ONNX bytes on the chosen execution provider. */
export async function createOrtSession(
  modelBytes: Uint8Array,
  options: OrtSessionOptions,
): Promise<OrtPeerSession> {
  const ep = options.executionProvider;
  const file = options.file ?? 'model.onnx';
  if (ep !== 'wasm' && ep !== 'webgpu') {
    throw new EngineError('invalid-argument', `createOrtSession: unknown execution provider "${String(ep)}"`);
  }
  if (!(modelBytes instanceof Uint8Array) || modelBytes.byteLength === 0) {
    throw new EngineError('invalid-argument', `${file}: expected non-empty ONNX bytes`, { file });
  }
  if (ep === 'webgpu' && !hasWebGpu()) {
    throw new EngineError(
      'webgpu-unavailable',
      'onnxruntime-web WebGPU EP: navigator.gpu is not available here',
    );
  }
  const ort = await loadOrt(ep);
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
  if (options.numThreads !== undefined) ort.env.wasm.numThreads = options.numThreads;
  else if (isNode()) ort.env.wasm.numThreads = 1;

  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      executionProviders: [ep],
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    throw new EngineError(
      'invalid-argument',
      `${file}: onnxruntime-web (${ep}) could not load it (${errorText(e)})`,
      {
        file,
      },
    );
  }
  const inputName = session.inputNames.includes('input_ids') ? 'input_ids' : null;
  const outputName = session.outputNames.includes('logits') ? 'logits' : null;
  if (inputName === null || outputName === null) {
    await session.release();
    throw new EngineError(
      'invalid-argument',
      `${file}: expected input "input_ids" and output "logits", found inputs [${session.inputNames.join(', ')}] ` +
        `and outputs [${session.outputNames.join(', ')}]`,
      { file },
    );
  }
  return { session, ort, executionProvider: ep, inputName, outputName };
}

function toInt64(ids: Int32Array | number[][], B: number, T: number): BigInt64Array {
  if (!Number.isInteger(B) || !Number.isInteger(T) || B <= 0 || T <= 0) {
    throw new EngineError(
      'invalid-argument',
      `ortLogits: B and T must be positive integers, got B=${B} T=${T}`,
    );
  }
  const out = new BigInt64Array(B * T);
  if (ids instanceof Int32Array) {
    if (ids.length !== B * T) {
      throw new EngineError(
        'invalid-argument',
        `ortLogits: ids has ${ids.length} entries, expected B*T = ${B * T}`,
      );
    }
    for (let i = 0; i < ids.length; i++) out[i] = BigInt(ids[i]);
    return out;
  }
  if (!Array.isArray(ids) || ids.length !== B) {
    throw new EngineError('invalid-argument', `ortLogits: ids must have B = ${B} rows`);
  }
  for (let b = 0; b < B; b++) {
    const row = ids[b];
    if (!Array.isArray(row) || row.length !== T) {
      throw new EngineError('invalid-argument', `ortLogits: row ${b} of ids must have T = ${T} entries`);
    }
    for (let t = 0; t < T; t++) {
      const v = row[t];
      if (!Number.isSafeInteger(v)) {
        throw new EngineError('invalid-argument', `ortLogits: ids[${b}][${t}] = ${v} is not an integer`);
      }
      out[b * T + t] = BigInt(v);
    }
  }
  return out;
}

/** Runs `input_ids` int64 [B, T] → `logits` and returns them as a row-major Float32Array [B, T, V]. */
export async function ortLogits(
  peer: OrtPeerSession,
  ids: Int32Array | number[][],
  B: number,
  T: number,
): Promise<Float32Array> {
  const input = new peer.ort.Tensor('int64', toInt64(ids, B, T), [B, T]);
  const results = await peer.session.run({ [peer.inputName]: input });
  const logits = results[peer.outputName];
  try {
    if (logits === undefined || logits.type !== 'float32') {
      throw new EngineError(
        'invalid-argument',
        `ortLogits: "${peer.outputName}" is ${logits?.type}, expected float32`,
      );
    }
    const dims = logits.dims;
    if (dims.length !== 3 || dims[0] !== B || dims[1] !== T) {
      throw new EngineError(
        'invalid-argument',
        `ortLogits: logits have shape [${dims.join(', ')}], expected [${B}, ${T}, V]`,
      );
    }
    const data = (await logits.getData()) as Float32Array;
    return new Float32Array(data);
  } finally {
    for (const t of Object.values(results)) t.dispose();
    input.dispose();
  }
}

/** Frees the session's native memory. */
export async function releaseOrtSession(peer: OrtPeerSession): Promise<void> {
  await peer.session.release();
}
