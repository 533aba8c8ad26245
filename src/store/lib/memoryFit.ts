// The memory the chosen settings need, BEFORE anything is allocated, checked against what the adapter
// can hold. Inference: the weights (WebGPU: the matrices in the storage dtype the weights setting picks,
// `auto` reading config.json's torch_dtype; the CPU: f32), the KV cache
// for G sequences of N tokens, and the prefill logits. Training: the plan of engine/train/memory.ts for
// the backend that will train (WebGPU's buffers in the pool's size classes, or the CPU reference's).
// The hard limits are per buffer (maxBufferSize, maxStorageBufferBindingSize); WebGPU does not report
// total GPU memory, so totals are compared with a stated budget only where one is known.

import { configBoundsProblem, parameterKinds, type Qwen2Config } from '../../engine/config.ts';
import type { WeightDtype } from '../../engine/gpu/buffers.ts';
import type { WeightDtypeSetting } from '../../engine/gpu/streamLoad.ts';
import { formatBytes, MEMORY_GROUPS, type MemoryPlan, memoryPlan } from '../../engine/train/memory.ts';
import type { AdapterInfo } from '../../worker/api.ts';
import type { MemorySettings } from '../types.ts';

export interface BufferNeed {
  name: string;
  bytes: number;
}

export interface FitReport {
  parameters: number;
  /** How the weight matrices would be stored (norms and biases: f32). */
  weightDtype: WeightDtype;
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

/** The storage the weights setting gives: the CPU keeps f32; `auto` follows config.json's torch_dtype. */
export function weightStorageFor(
  setting: WeightDtypeSetting,
  torchDtype: unknown,
  adapter: AdapterInfo | null,
): WeightDtype {
  if (!adapter || adapter.backend === 'cpu') return 'f32';
  if (setting !== 'auto') return setting;
  return torchDtype === 'bfloat16' ? 'bf16' : torchDtype === 'float16' ? 'f16' : 'f32';
}

function perBuffer(shape: string, bytes: number, L: number): number {
  // Plan items group per-layer buffers `(L, …)` and repeated ones `3 × (…)`; a buffer is one of them.
  const times = /^(\d+) ×/.exec(shape);
  let b = times ? bytes / Number(times[1]) : bytes;
  if (/^(\d+ × )?\(L\+1,/.test(shape)) b /= L + 1;
  else if (/^(\d+ × )?\(L,/.test(shape)) b /= L;
  return b;
}

/** The report for a config outside CONFIG_BOUNDS: refused at once, nothing sized from it. */
function outOfBoundsReport(problem: string, weightDtype: WeightDtype, bufferLimit: number): FitReport {
  const none: BufferNeed = { name: '', bytes: 0 };
  const groups = Object.fromEntries(MEMORY_GROUPS.map((g) => [g, 0])) as MemoryPlan['groups'];
  const plan: MemoryPlan = { items: [], groups, total: 0, trainableElements: 0 };
  const why = `The model's config is out of range (${problem}).`;
  return {
    parameters: 0,
    weightDtype,
    weightBytes: 0,
    inference: { weights: 0, kvCache: 0, logits: 0, total: 0, largest: none },
    training: { plan, largest: none },
    bufferLimit,
    totalBudget: null,
    fits: false,
    trainingFits: false,
    problems: [why],
    trainingProblems: [why],
  };
}

export function fitReport(
  cfg: Qwen2Config,
  adapter: AdapterInfo | null,
  mem: MemorySettings,
  deviceMemoryGiB?: number,
  torchDtype?: unknown,
): FitReport {
  const f32 = 4;
  const weightDtype = weightStorageFor(mem.weightDtype ?? 'auto', torchDtype, adapter);
  // Everything below is sized by the config (a list of its parameters, the training plan): bound it first.
  const outOfBounds = configBoundsProblem(cfg);
  if (outOfBounds) {
    const limit =
      adapter && adapter.backend !== 'cpu'
        ? Math.min(adapter.maxBufferSize, adapter.maxStorageBufferBindingSize)
        : CPU_BUFFER_LIMIT;
    return outOfBoundsReport(outOfBounds, weightDtype, limit);
  }
  let parameters = 0;
  let weights = 0;
  let largest: BufferNeed = { name: '', bytes: 0 };
  // By kind (each layer's tensors once, times the layers): the same cost for any number of layers.
  for (const [name, shape, count] of parameterKinds(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = shape.length === 2 && weightDtype !== 'f32' ? 4 * Math.ceil(n / 2) : n * f32;
    parameters += count * n;
    weights += count * bytes;
    if (bytes > largest.bytes) largest = { name, bytes };
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
  const inference = { weights, kvCache, logits, total: weights + kvCache + logits, largest };

  const cpu = !adapter || adapter.backend === 'cpu';
  const plan = memoryPlan(cfg, {
    group: G,
    tokens: N,
    lora: mem.loraRank > 0 ? { r: mem.loraRank } : null,
    recompute: mem.recompute,
    backend: cpu ? 'cpu' : 'webgpu',
    dtype: weightDtype,
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
    weightDtype,
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
