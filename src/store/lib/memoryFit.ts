// The memory the chosen settings need, BEFORE anything is allocated, checked against what the adapter
// can hold. Inference: the f32 weights (the engine keeps f32 whatever the file's dtype), the KV cache
// for G sequences of N tokens, and the prefill logits. Training: the plan of engine/train/memory.ts for
// the backend that will train (WebGPU's buffers in the pool's size classes, or the CPU reference's).
// The hard limits are per buffer (maxBufferSize, maxStorageBufferBindingSize); WebGPU does not report
// total GPU memory, so totals are compared with a stated budget only where one is known.

import { expectedParameters, type Qwen2Config } from '../../engine/config.ts';
import { formatBytes, type MemoryPlan, memoryPlan } from '../../engine/train/memory.ts';
import type { AdapterInfo } from '../../worker/api.ts';
import type { MemorySettings } from '../types.ts';

export interface BufferNeed {
  name: string;
  bytes: number;
}

export interface FitReport {
  parameters: number;
  weightBytes: number;
  inference: { weights: number; kvCache: number; logits: number; total: number; largest: BufferNeed };
  training: { plan: MemoryPlan; largest: BufferNeed };
  /** Per-buffer limit of the adapter (the smaller of its two limits). */
  bufferLimit: number;
  /** A total budget where one is known (the CPU path), else null. */
  totalBudget: number | null;
  /** Loading and decoding fit. */
  fits: boolean;
  /** Training with these settings fits (warning only: the trainer allocates later). */
  trainingFits: boolean;
  /** Why not, in words, first problem first. */
  problems: string[];
  trainingProblems: string[];
}

/** CPU path: one Float32Array per tensor; V8 caps a typed array well below this, and a tab's heap too. */
const CPU_BUFFER_LIMIT = 2 * 1024 ** 3;
const CPU_TOTAL_DEFAULT = 4 * 1024 ** 3;

function perBuffer(shape: string, bytes: number, L: number): number {
  // Plan items group per-layer buffers `(L, …)` and repeated ones `3 × (…)`; a buffer is one of them.
  const times = /^(\d+) ×/.exec(shape);
  let b = times ? bytes / Number(times[1]) : bytes;
  if (/^(\d+ × )?\(L\+1,/.test(shape)) b /= L + 1;
  else if (/^(\d+ × )?\(L,/.test(shape)) b /= L;
  return b;
}

export function fitReport(
  cfg: Qwen2Config,
  adapter: AdapterInfo | null,
  mem: MemorySettings,
  deviceMemoryGiB?: number,
): FitReport {
  const f32 = 4;
  let parameters = 0;
  let largest: BufferNeed = { name: '', bytes: 0 };
  for (const [name, shape] of expectedParameters(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    parameters += n;
    if (n * f32 > largest.bytes) largest = { name, bytes: n * f32 };
  }
  const G = mem.group;
  const N = mem.tokens;
  const L = cfg.numHiddenLayers;
  const kvCache = 2 * L * G * N * cfg.numKeyValueHeads * cfg.headDim * f32;
  const logits = G * N * cfg.vocabSize * f32;
  if (logits > largest.bytes)
    largest = { name: `prefill logits (${G} × ${N} × ${cfg.vocabSize})`, bytes: logits };
  const kvOne = kvCache / (2 * L);
  if (kvOne > largest.bytes) largest = { name: 'KV cache of one layer', bytes: kvOne };
  const weights = parameters * f32;
  const inference = { weights, kvCache, logits, total: weights + kvCache + logits, largest };

  const cpu = !adapter || adapter.backend === 'cpu';
  const plan = memoryPlan(cfg, {
    group: G,
    tokens: N,
    lora: mem.loraRank > 0 ? { r: mem.loraRank } : null,
    recompute: mem.recompute,
    backend: cpu ? 'cpu' : 'webgpu',
  });
  let tLargest: BufferNeed = { name: '', bytes: 0 };
  for (const it of plan.items) {
    const b = perBuffer(it.shape, it.bytes, L);
    if (b > tLargest.bytes) tLargest = { name: `${it.name} ${it.shape}`, bytes: b };
  }

  const bufferLimit = cpu
    ? CPU_BUFFER_LIMIT
    : Math.min(adapter.maxBufferSize, adapter.maxStorageBufferBindingSize);
  const totalBudget = cpu
    ? deviceMemoryGiB
      ? Math.min(CPU_TOTAL_DEFAULT, (deviceMemoryGiB * 1024 ** 3) / 2)
      : CPU_TOTAL_DEFAULT
    : null;
  const where = cpu ? 'the CPU path' : "this GPU's per-buffer limit";
  const problems: string[] = [];
  if (largest.bytes > bufferLimit)
    problems.push(
      `${largest.name} needs ${formatBytes(largest.bytes)}, over ${where} (${formatBytes(bufferLimit)}).`,
    );
  if (totalBudget !== null && inference.total > totalBudget)
    problems.push(
      `Loading and decoding need ${formatBytes(inference.total)}, over the ${formatBytes(totalBudget)} a tab can use on the CPU path.`,
    );
  if (N > cfg.maxPositionEmbeddings)
    problems.push(
      `${N} tokens per sequence exceed the model's max_position_embeddings ${cfg.maxPositionEmbeddings}.`,
    );
  const trainingProblems: string[] = [];
  if (tLargest.bytes > bufferLimit)
    trainingProblems.push(
      `Training buffer ${tLargest.name} needs ${formatBytes(tLargest.bytes)}, over ${where} (${formatBytes(bufferLimit)}).`,
    );
  if (totalBudget !== null && plan.total > totalBudget)
    trainingProblems.push(`Training needs ${formatBytes(plan.total)}, over ${formatBytes(totalBudget)}.`);
  return {
    parameters,
    weightBytes: weights,
    inference,
    training: { plan, largest: tLargest },
    bufferLimit,
    totalBudget,
    fits: problems.length === 0,
    trainingFits: trainingProblems.length === 0,
    problems,
    trainingProblems,
  };
}

export { formatBytes };
