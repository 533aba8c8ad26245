// Training memory plan: the bytes each buffer group needs for a Qwen2 config, a group of G sequences
// of N tokens, full fine-tuning or LoRA, with or without recomputing the layer internals. The tables
// follow llm.c's ParameterTensors / ActivationTensors (one line per buffer kind with its shape). Two
// backends, which keep different buffers:
// - 'webgpu' (the default: what a browser run allocates): exactly the buffers GpuTrainer takes from the
//   pool (gpu/trainActivations.ts, gpu/optimizer.ts, gpu/kvCache.ts), each rounded up to the pool's size
//   class (gpu/buffers.ts sizeClass; parameters and adapters are uploaded exactly). The attention
//   probabilities are not saved: the forward keeps each query's log-sum-exp (G, H, N) and the backward
//   recomputes them tile by tile (flash attention), so nothing is (N, N). test/gpu/memory-plan.test.ts
//   checks the total against the pool's high-water mark of a real training step.
// - 'cpu': exactly what the CPU reference keeps (ref/backward.ts TrainActivations, every layer's attention
//   probabilities included; a test checks it); the backward scratch is qwen2Backward's named buffers plus
//   one layer's (G, H, N, N) attention-probability gradient.
// `recompute`: the WebGPU trainer's activation recompute (GpuTrainer option `recompute`): every layer's input
// residual kept, its internals in one shared set re-recorded before each layer's backward (memory-plan.test.ts
// checks this case too). The CPU reference does not recompute: for 'cpu' it states what that would need.
// The WebGPU head works over the vocabulary in chunks of Vc rows (gpu/headChunks.ts, option `headChunk`):
// one (BT, Vc) chunk of logits instead of the CPU's (BT, V), plus O(BT · K) for K targets per position.
// Shapes: L layers, C hidden, H heads, KVH key/value heads, D head dim, I MLP width, V vocabulary,
// Vc head chunk, K targets per position, BT = G · N token positions, r LoRA rank.
import { expectedParameters, parameterKinds, type Qwen2Config } from '../config.ts';
import { alignTo, sizeClass, type WeightDtype } from '../gpu/buffers.ts';
import { DEFAULT_HEAD_CHUNK, headChunkRows } from '../gpu/headChunks.ts';
import { gradNormPartials } from '../gpu/opsOptimizer.ts';

export type MemoryGroup =
  | 'parameters'
  | 'gradients'
  | 'optimizer'
  | 'activations'
  | 'backward scratch'
  | 'kv cache';

export const MEMORY_GROUPS: readonly MemoryGroup[] = [
  'parameters',
  'gradients',
  'optimizer',
  'activations',
  'backward scratch',
  'kv cache',
];

export type OptimizerKind = 'adamw' | 'sgd' | 'sgd-momentum';

/** Optimizer state per trainable element: AdamW m and v; SGD with momentum one buffer; plain SGD none. */
export const OPTIMIZER_STATE_PER_PARAM: Record<OptimizerKind, number> = {
  adamw: 2,
  'sgd-momentum': 1,
  sgd: 0,
};

/** The projections a LoRA adapter targets by default (every linear layer, as the golden adapters). */
export const LORA_ALL_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

export interface MemoryOptions {
  /** G: sequences trained together (a GRPO group). */
  group: number;
  /** N: tokens per sequence (prompt + completion). */
  tokens: number;
  /** LoRA rank and targets; null or absent = full fine-tuning. */
  lora?: { r: number; targets?: string[] } | null;
  optimizer?: OptimizerKind;
  /** Keep only each layer's input; recompute attention and MLP internals one layer at a time in the
   * backward (one layer's worth of workspace instead of L): GpuTrainer's `recompute` (WebGPU only). */
  recompute?: boolean;
  /** Full fine-tuning: train the embedding (and a tied head). Default true. */
  trainEmbeddings?: boolean;
  /** Bytes per element of activations, gradients and optimizer state; the engine keeps them in f32. */
  bytesPerElement?: number;
  /** Storage of the frozen weight matrices (GpuModel's weightDtype): f16 / bf16 take 2 bytes per element.
   * Full fine-tuning keeps f32 master weights whatever this says (the trainer refuses 16-bit weights). */
  dtype?: WeightDtype;
  /** Which engine's buffers the plan states (see the header). Default 'webgpu'. */
  backend?: MemoryBackend;
  /** WebGPU: vocabulary rows per chunk of the head's logits (GpuTrainer `headChunk`, a multiple of 128,
   * clamped to V). Default DEFAULT_HEAD_CHUNK, the trainer's. */
  headChunk?: number;
  /** Targets each position's loss scores (mixture presets: k). Default 1. */
  targetsPerPosition?: number;
}

export type MemoryBackend = 'webgpu' | 'cpu';

export interface MemoryItem {
  group: MemoryGroup;
  name: string;
  /** Shape in symbols, llm.c style, e.g. `(L, BT, C)`. */
  shape: string;
  elements: number;
  bytes: number;
}

export interface MemoryPlan {
  items: MemoryItem[];
  /** Bytes by group. */
  groups: Record<MemoryGroup, number>;
  total: number;
  /** Trainable parameter elements (all parameters, or the adapter's). */
  trainableElements: number;
}

/** The base linear weights a LoRA with these targets adapts, with their [out, in] shapes. */
export function loraTargets(cfg: Qwen2Config, targets: string[] = LORA_ALL_LINEAR): [string, number[]][] {
  const out: [string, number[]][] = [];
  for (const [name, shape] of expectedParameters(cfg)) {
    if (loraTarget(name, shape, targets)) out.push([name, shape]);
  }
  return out;
}

function loraTarget(name: string, shape: number[], targets: string[]): boolean {
  if (shape.length !== 2 || name === 'model.embed_tokens.weight' || name === 'lm_head.weight') return false;
  const module = name.replace(/\.weight$/, '');
  return targets.some((t) => module === t || module.endsWith(`.${t}`));
}

/** loraTargets by kind: one entry per adapted projection with the number of layers that hold it. */
function loraTargetKinds(cfg: Qwen2Config, targets: string[]): [string, number[], number][] {
  return parameterKinds(cfg).filter(([name, shape]) => loraTarget(name, shape, targets));
}

interface PlanShape {
  cfg: Qwen2Config;
  G: number;
  T: number;
  BT: number;
  gpu: boolean;
  lora: { r: number; targets?: string[] } | null;
  /** WebGPU head: vocabulary rows per chunk, targets per position. */
  Vc: number;
  K: number;
  /** Bytes per element of the frozen weight matrices. */
  matrixBytes: number;
  /** Add `count` buffers of `per` elements each (size-classed on the GPU unless `exact`), `eb` bytes each. */
  add: (
    group: MemoryGroup,
    name: string,
    shape: string,
    count: number,
    per: number,
    exact?: boolean,
    eb?: number,
  ) => void;
}

/** name, shape, buffers, elements per buffer, trainable in full fine-tuning. */
type ParamRow = [string, string, number, number, boolean];

/** A weight matrix (2-D per layer): '(V, C)', '(L, I, C)'; not a norm or bias: '(C)', '(L, C)'. */
function isMatrixRow(shape: string): boolean {
  const dims = shape.split(',').length;
  return dims - (shape.startsWith('(L,') ? 1 : 0) === 2;
}

/** Parameters, gradients and optimizer state; returns the trainable element count. */
function addParameters(p: PlanShape, optimizer: OptimizerKind, trainEmbeddings: boolean): number {
  const { cfg, add, lora } = p;
  const { vocabSize: V, hiddenSize: C, intermediateSize: I, numAttentionHeads: H } = cfg;
  const { numKeyValueHeads: KVH, headDim: D, numHiddenLayers: L } = cfg;
  const params: ParamRow[] = [
    ['embed_tokens', '(V, C)', 1, V * C, trainEmbeddings],
    ...(cfg.tieWordEmbeddings ? [] : ([['lm_head', '(V, C)', 1, V * C, true]] as ParamRow[])),
    ['input_layernorm', '(L, C)', L, C, true],
    ['q_proj', '(L, H·D, C)', L, H * D * C, true],
    ['k_proj', '(L, KVH·D, C)', L, KVH * D * C, true],
    ['v_proj', '(L, KVH·D, C)', L, KVH * D * C, true],
    ...(cfg.attentionBias
      ? ([
          ['q_proj.bias', '(L, H·D)', L, H * D, true],
          ['k_proj.bias', '(L, KVH·D)', L, KVH * D, true],
          ['v_proj.bias', '(L, KVH·D)', L, KVH * D, true],
        ] as ParamRow[])
      : []),
    ['o_proj', '(L, C, H·D)', L, C * H * D, true],
    ['post_attention_layernorm', '(L, C)', L, C, true],
    ['gate_proj', '(L, I, C)', L, I * C, true],
    ['up_proj', '(L, I, C)', L, I * C, true],
    ['down_proj', '(L, C, I)', L, C * I, true],
    ['norm', '(C)', 1, C, true],
  ];
  // Uploaded exactly (BufferPool.upload); gradients and state are pooled, so size-classed on the GPU. With
  // LoRA the base is frozen: its matrices take the storage dtype (norms stay f32).
  for (const [name, shape, count, per] of params) {
    add('parameters', name, shape, count, per, true, lora && isMatrixRow(shape) ? p.matrixBytes : undefined);
  }
  const trained: [string, string, number, number][] = [];
  if (lora) {
    // Adapter matrices per projection, one pair per layer: A (r, in), B (out, r).
    const per = new Map<string, { a: number; b: number; shapeA: string; shapeB: string; n: number }>();
    for (const [name, [o, i], layers] of loraTargetKinds(cfg, lora.targets ?? LORA_ALL_LINEAR)) {
      const short = name.replace(/\.weight$/, '').replace(/^.*\./, '');
      const e = per.get(short) ?? {
        a: lora.r * i,
        b: o * lora.r,
        shapeA: `(L, r, ${i})`,
        shapeB: `(L, ${o}, r)`,
        n: 0,
      };
      e.n += layers;
      per.set(short, e);
    }
    for (const [short, e] of per) {
      add('parameters', `${short}.lora_A`, e.shapeA, e.n, e.a, true);
      add('parameters', `${short}.lora_B`, e.shapeB, e.n, e.b, true);
      trained.push([`${short}.lora_A`, e.shapeA, e.n, e.a], [`${short}.lora_B`, e.shapeB, e.n, e.b]);
    }
  } else {
    for (const [name, shape, count, per, train] of params) if (train) trained.push([name, shape, count, per]);
  }
  const sizes: number[] = [];
  for (const [name, shape, count, per] of trained) {
    add('gradients', `d ${name}`, shape, count, per);
    for (let i = 0; i < count; i++) sizes.push(per);
  }
  const state = OPTIMIZER_STATE_PER_PARAM[optimizer];
  const what = optimizer === 'adamw' ? 'AdamW m, v' : 'SGD momentum';
  for (const [name, shape, count, per] of trained)
    if (state > 0) add('optimizer', `${what} of ${name}`, `${state} × ${shape}`, state * count, per);
  if (p.gpu) {
    add('optimizer', 'grad norm, clip factor', '(2)', 1, 2);
    add('optimizer', 'grad norm partial sums', '(≤ 64 per tensor)', 1, gradNormPartials(sizes));
  }
  return sizes.reduce((a, n) => a + n, 0);
}

/** What the forward keeps for the backward, and the backward's scratch. */
function addActivations(p: PlanShape, recompute: boolean): void {
  const { cfg, add, G, T, BT, gpu } = p;
  const { vocabSize: V, hiddenSize: C, intermediateSize: I, numAttentionHeads: H } = cfg;
  const { numKeyValueHeads: KVH, headDim: D, numHiddenLayers: L } = cfg;
  const layer: [string, string, number][] = [
    ['rstd1', '(BT)', BT],
    ['normed1', '(BT, C)', BT * C],
    ['q', '(BT, H·D)', BT * H * D],
    ['k', '(BT, KVH·D)', BT * KVH * D],
    ['v', '(BT, KVH·D)', BT * KVH * D],
    // The CPU keeps every layer's probabilities; the GPU their log-sum-exp, to recompute them from.
    gpu
      ? (['attention lse', '(G, H, N)', G * H * T] as [string, string, number])
      : (['att', '(G, H, N, N)', G * H * T * T] as [string, string, number]),
    ['attOut', '(BT, H·D)', BT * H * D],
    ['resMid', '(BT, C)', BT * C],
    ['rstd2', '(BT)', BT],
    ['normed2', '(BT, C)', BT * C],
    ['gate', '(BT, I)', BT * I],
    ['up', '(BT, I)', BT * I],
    ['act', '(BT, I)', BT * I],
  ];
  add('activations', 'residual (embeds + each layer output)', '(L+1, BT, C)', L + 1, BT * C);
  for (const [name, shape, n] of layer) {
    if (recompute) add('activations', `${name} (recomputed, one layer)`, shape, 1, n);
    else add('activations', name, `(L, ${shape.slice(1)}`, L, n);
  }
  add('activations', 'rstdF', '(BT)', 1, BT);
  add('activations', 'normedF', '(BT, C)', 1, BT * C);
  if (gpu) {
    // The chunked head (gpu/headChunks.ts): one chunk's logits, each row's [lse, s], the per-call targets
    // and their logits, which become their gradient weights.
    add('activations', 'logits of one vocabulary chunk (dlogits in place)', '(BT, Vc)', 1, BT * p.Vc);
    add('activations', 'head lse, s', '(BT, 2)', 1, BT * 2);
    add('activations', 'targets, target logits / gradient weights', '2 × (BT, K)', 2, BT * p.K);
  } else add('activations', 'logits (dlogits written in place)', '(BT, V)', 1, BT * V);
  if (gpu) {
    add('activations', 'logp', '(BT)', 1, BT);
    add('activations', 'mask', '(BT)', 1, BT);
    add('activations', 'rope cos/sin', '(BT, D)', 1, BT * D);
    add('activations', 'q before rope', '(BT, H·D)', 1, BT * H * D);
    add('activations', 'k before rope', '(BT, KVH·D)', 1, BT * KVH * D);
    // GpuTrainer's backward scratch (gpu/trainActivations.ts), reused across layers.
    add('backward scratch', 'dres, dnormed', '2 × (BT, C)', 2, BT * C);
    add('backward scratch', 'dact, dgate, dup', '3 × (BT, I)', 3, BT * I);
    add('backward scratch', 'dattOut, dq, dq before rope', '3 × (BT, H·D)', 3, BT * H * D);
    add('backward scratch', 'dk, dv, dk before rope', '3 × (BT, KVH·D)', 3, BT * KVH * D);
    add('backward scratch', 'attention delta (Σ p·dp per query)', '(G, H, N)', 1, G * H * T);
    add('backward scratch', 'lora x·Aᵀ, d(x·Aᵀ)', '2 × (BT, r)', 2, BT * Math.max(1, p.lora?.r ?? 1));
    return;
  }
  // qwen2Backward's activation gradients, reused across layers.
  add('backward scratch', 'dres, dnormed, tmp', '3 × (BT, C)', 3, BT * C);
  add('backward scratch', 'dact, dgate, dup', '3 × (BT, I)', 3, BT * I);
  add('backward scratch', 'dattOut, dq', '2 × (BT, H·D)', 2, BT * H * D);
  add('backward scratch', 'dk, dv', '2 × (BT, KVH·D)', 2, BT * KVH * D);
  add('backward scratch', 'datt (softmax backward, one layer)', '(G, H, N, N)', 1, G * H * T * T);
}

export function memoryPlan(cfg: Qwen2Config, opts: MemoryOptions): MemoryPlan {
  const G = opts.group;
  const T = opts.tokens;
  const BT = G * T;
  const bpe = opts.bytesPerElement ?? 4;
  const gpu = (opts.backend ?? 'webgpu') === 'webgpu';
  const items: MemoryItem[] = [];
  const add: PlanShape['add'] = (group, name, shape, count, per, exact = false, eb = bpe) => {
    const elements = count * per;
    const bytes = gpu && !exact ? count * sizeClass(per * eb) : count * alignTo(per * eb, gpu ? 4 : 1);
    items.push({ group, name, shape, elements, bytes });
  };
  const matrixBytes = opts.dtype === 'f16' || opts.dtype === 'bf16' ? 2 : 4;
  const Vc = gpu ? headChunkRows(cfg.vocabSize, opts.headChunk ?? DEFAULT_HEAD_CHUNK) : cfg.vocabSize;
  const K = opts.targetsPerPosition ?? 1;
  const p: PlanShape = { cfg, G, T, BT, gpu, lora: opts.lora ?? null, matrixBytes, Vc, K, add };
  const trainable = addParameters(p, opts.optimizer ?? 'adamw', opts.trainEmbeddings !== false);
  addActivations(p, opts.recompute === true);

  // KV cache for generating the group's rollouts (gpu/kvCache.ts; the GPU one has a mask too).
  const L = cfg.numHiddenLayers;
  const kvRow = cfg.numKeyValueHeads * cfg.headDim;
  add('kv cache', 'k, v', '2 × (L, G, N, KVH·D)', 2 * L, BT * kvRow);
  if (gpu) add('kv cache', 'mask', '(G, N)', 1, BT);

  const groups = Object.fromEntries(MEMORY_GROUPS.map((g) => [g, 0])) as Record<MemoryGroup, number>;
  for (const it of items) groups[it.group] += it.bytes;
  const total = items.reduce((s, it) => s + it.bytes, 0);
  return { items, groups, total, trainableElements: trainable };
}

/** 1536 → "1.50 KiB"; binary units. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(2)} ${units[u]}`;
}

/** The plan as a text table: one line per buffer, a subtotal per group, and the total. */
export function formatMemoryTable(plan: MemoryPlan): string {
  const rows: string[][] = [['group', 'buffer', 'shape', 'elements', 'bytes']];
  for (const g of MEMORY_GROUPS) {
    const its = plan.items.filter((it) => it.group === g);
    if (its.length === 0) continue;
    for (const it of its) rows.push([g, it.name, it.shape, String(it.elements), formatBytes(it.bytes)]);
    rows.push([g, '= subtotal', '', '', formatBytes(plan.groups[g])]);
  }
  rows.push(['total', '', '', '', formatBytes(plan.total)]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) => r.map((cell, c) => (c >= 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  '))
    .join('\n');
}
