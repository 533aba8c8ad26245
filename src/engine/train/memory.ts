// Training memory plan: the bytes each buffer group needs for a Qwen2 config, a group of G sequences
// of N tokens, full fine-tuning or LoRA, with or without recomputing the layer internals. The tables
// follow llm.c's ParameterTensors / ActivationTensors (one line per buffer with its shape). The saved
// activations are exactly what the CPU reference keeps (ref/backward.ts TrainActivations; a test
// checks it); the backward scratch is qwen2Backward's named buffers plus the (G, H, N, N) attention
// gradient a GPU kernel materialises (the CPU one works row by row).
// Shapes: L layers, C hidden, H heads, KVH key/value heads, D head dim, I MLP width, V vocabulary,
// BT = G · N token positions.
import { expectedParameters, type Qwen2Config } from '../config.ts';

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
   * backward (one layer's worth of workspace instead of L). */
  recompute?: boolean;
  /** Full fine-tuning: train the embedding (and a tied head). Default true. */
  trainEmbeddings?: boolean;
  /** Bytes per element; the engine keeps everything in f32. */
  bytesPerElement?: number;
}

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
    if (shape.length !== 2 || name === 'model.embed_tokens.weight' || name === 'lm_head.weight') continue;
    const module = name.replace(/\.weight$/, '');
    if (targets.some((t) => module === t || module.endsWith(`.${t}`))) out.push([name, shape]);
  }
  return out;
}

export function memoryPlan(cfg: Qwen2Config, opts: MemoryOptions): MemoryPlan {
  const {
    vocabSize: V,
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
  } = cfg;
  const L = cfg.numHiddenLayers;
  const G = opts.group;
  const T = opts.tokens;
  const BT = G * T;
  const bpe = opts.bytesPerElement ?? 4;
  const optimizer = opts.optimizer ?? 'adamw';
  const lora = opts.lora ?? null;
  const trainEmbeddings = opts.trainEmbeddings !== false;
  const items: MemoryItem[] = [];
  const add = (group: MemoryGroup, name: string, shape: string, elements: number) => {
    items.push({ group, name, shape, elements, bytes: elements * bpe });
  };
  const bias = cfg.attentionBias;

  // ParameterTensors (HF names in the comments of config.ts's expectedParameters).
  const params: [string, string, number, boolean][] = [
    // name, shape, elements, trainable in full fine-tuning
    ['embed_tokens', '(V, C)', V * C, trainEmbeddings],
    ...(cfg.tieWordEmbeddings
      ? []
      : ([['lm_head', '(V, C)', V * C, true]] as [string, string, number, boolean][])),
    ['input_layernorm', '(L, C)', L * C, true],
    ['q_proj', '(L, H·D, C)', L * H * D * C, true],
    ['k_proj', '(L, KVH·D, C)', L * KVH * D * C, true],
    ['v_proj', '(L, KVH·D, C)', L * KVH * D * C, true],
    ...((bias
      ? [
          ['q_proj.bias', '(L, H·D)', L * H * D, true],
          ['k_proj.bias', '(L, KVH·D)', L * KVH * D, true],
          ['v_proj.bias', '(L, KVH·D)', L * KVH * D, true],
        ]
      : []) as [string, string, number, boolean][]),
    ['o_proj', '(L, C, H·D)', L * C * H * D, true],
    ['post_attention_layernorm', '(L, C)', L * C, true],
    ['gate_proj', '(L, I, C)', L * I * C, true],
    ['up_proj', '(L, I, C)', L * I * C, true],
    ['down_proj', '(L, C, I)', L * C * I, true],
    ['norm', '(C)', C, true],
  ];
  for (const [name, shape, n] of params) add('parameters', name, shape, n);

  let trainable = 0;
  if (lora) {
    // Adapter matrices, summed over layers per projection: A (r, in), B (out, r).
    const per = new Map<string, { a: number; b: number; shapeA: string; shapeB: string }>();
    for (const [name, [o, i]] of loraTargets(cfg, lora.targets)) {
      const short = name.replace(/\.weight$/, '').replace(/^.*\./, '');
      const e = per.get(short) ?? { a: 0, b: 0, shapeA: `(L, r, ${i})`, shapeB: `(L, ${o}, r)` };
      e.a += lora.r * i;
      e.b += o * lora.r;
      per.set(short, e);
    }
    for (const [short, e] of per) {
      add('parameters', `${short}.lora_A`, e.shapeA, e.a);
      add('parameters', `${short}.lora_B`, e.shapeB, e.b);
      add('gradients', `d ${short}.lora_A`, e.shapeA, e.a);
      add('gradients', `d ${short}.lora_B`, e.shapeB, e.b);
      trainable += e.a + e.b;
    }
  } else {
    for (const [name, shape, n, train] of params) {
      if (!train) continue;
      add('gradients', `d ${name}`, shape, n);
      trainable += n;
    }
  }
  const state = OPTIMIZER_STATE_PER_PARAM[optimizer];
  if (state > 0)
    add(
      'optimizer',
      optimizer === 'adamw' ? 'AdamW m, v' : 'SGD momentum',
      `${state} × trainable`,
      state * trainable,
    );

  // ActivationTensors: what qwen2ForwardTrain keeps for the backward.
  const layer: [string, string, number][] = [
    ['rstd1', '(BT)', BT],
    ['normed1', '(BT, C)', BT * C],
    ['q', '(BT, H·D)', BT * H * D],
    ['k', '(BT, KVH·D)', BT * KVH * D],
    ['v', '(BT, KVH·D)', BT * KVH * D],
    ['att', '(G, H, N, N)', G * H * T * T],
    ['attOut', '(BT, H·D)', BT * H * D],
    ['resMid', '(BT, C)', BT * C],
    ['rstd2', '(BT)', BT],
    ['normed2', '(BT, C)', BT * C],
    ['gate', '(BT, I)', BT * I],
    ['up', '(BT, I)', BT * I],
    ['act', '(BT, I)', BT * I],
  ];
  add('activations', 'residual (embeds + each layer output)', '(L+1, BT, C)', (L + 1) * BT * C);
  if (opts.recompute) {
    for (const [name, shape, n] of layer) add('activations', `${name} (recomputed, one layer)`, shape, n);
  } else {
    for (const [name, shape, n] of layer) add('activations', name, `(L, ${shape.slice(1)}`, L * n);
  }
  add('activations', 'rstdF', '(BT)', BT);
  add('activations', 'normedF', '(BT, C)', BT * C);
  add('activations', 'logits (dlogits written in place)', '(BT, V)', BT * V);

  // qwen2Backward's activation gradients, reused across layers.
  add('backward scratch', 'dres, dnormed, tmp', '3 × (BT, C)', 3 * BT * C);
  add('backward scratch', 'dact, dgate, dup', '3 × (BT, I)', 3 * BT * I);
  add('backward scratch', 'dattOut, dq', '2 × (BT, H·D)', 2 * BT * H * D);
  add('backward scratch', 'dk, dv', '2 × (BT, KVH·D)', 2 * BT * KVH * D);
  add('backward scratch', 'datt (softmax backward, one layer)', '(G, H, N, N)', G * H * T * T);

  // KV cache for generating the group's rollouts.
  add('kv cache', 'k, v', '2 × (L, G, N, KVH·D)', 2 * L * BT * KVH * D);

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
