// Optimizers on the CPU: the reference for the update kernels. One function per update rule over flat
// f32 arrays (param, grad, state), plus small classes that keep the per-parameter state and step count
// by name (and save / restore it exactly, for checkpoints), gradient-norm clipping, and gradient
// accumulation over micro-batches.
// Conventions follow PyTorch (torch.optim.AdamW, torch.optim.SGD, clip_grad_norm_), so a run can be
// compared with a PyTorch one step for step.

import { EngineError } from '../errors.ts';

export interface AdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay (Loshchilov & Hutter): p ← p − lr · wd · p, separate from the gradient. */
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = {
  lr: 1e-5, // RL fine-tuning of a small LM; the schedule overrides it per step
  beta1: 0.9, // PyTorch default
  beta2: 0.999, // PyTorch default
  eps: 1e-8, // PyTorch default
  weightDecay: 0.01, // PyTorch AdamW default
};

/**
 * One AdamW step on one tensor, in place. `step` is 1-based (the number of updates including this one).
 *   m ← β1 m + (1 − β1) g;  v ← β2 v + (1 − β2) g²
 *   m̂ = m / (1 − β1^step);  v̂ = v / (1 − β2^step)
 *   p ← p − lr · (m̂ / (√v̂ + eps) + wd · p)
 */
export function adamwUpdate(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  step: number,
  o: AdamWOptions,
): void {
  if (!(step >= 1)) throw new RangeError(`adamwUpdate: step must be ≥ 1, got ${step}`);
  const bc1 = 1 - o.beta1 ** step;
  const bc2 = 1 - o.beta2 ** step;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i];
    const mi = o.beta1 * m[i] + (1 - o.beta1) * g;
    const vi = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const mhat = mi / bc1;
    const vhat = vi / bc2;
    param[i] -= o.lr * (mhat / (Math.sqrt(vhat) + o.eps) + o.weightDecay * param[i]);
  }
}

export interface SgdOptions {
  lr: number;
  /** 0 = plain SGD (no state). */
  momentum: number;
  /** PyTorch's dampening: buf ← μ buf + (1 − dampening) g after the first step. */
  dampening: number;
  /** L2 weight decay added to the gradient (coupled, as torch.optim.SGD). */
  weightDecay: number;
  nesterov: boolean;
}

export const SGD_DEFAULTS: SgdOptions = {
  lr: 1e-3,
  momentum: 0,
  dampening: 0,
  weightDecay: 0,
  nesterov: false,
};

/**
 * One SGD step on one tensor, in place (torch.optim.SGD). `buf` is the momentum buffer (null when
 * momentum is 0); `step` is 1-based — on step 1 the buffer is set to the gradient.
 *   g ← g + wd · p;  buf ← g (step 1) or μ buf + (1 − dampening) g;  d = nesterov ? g + μ buf : buf
 *   p ← p − lr · d
 */
export function sgdUpdate(
  param: Float32Array,
  grad: Float32Array,
  buf: Float32Array | null,
  step: number,
  o: SgdOptions,
): void {
  if (o.momentum !== 0 && !buf) throw new Error('sgdUpdate: momentum needs a buffer');
  for (let i = 0; i < param.length; i++) {
    let g = grad[i] + o.weightDecay * param[i];
    if (buf && o.momentum !== 0) {
      const b = step <= 1 ? g : o.momentum * buf[i] + (1 - o.dampening) * g;
      buf[i] = b;
      g = o.nesterov ? g + o.momentum * b : b;
    }
    param[i] -= o.lr * g;
  }
}

/** √(Σ g²) over every tensor, in f64. */
export function globalGradNorm(grads: Iterable<Float32Array>): number {
  let ss = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
  return Math.sqrt(ss);
}

/**
 * Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_): when the total norm exceeds maxNorm,
 * every gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm before clipping.
 */
export function clipGradNorm(grads: Iterable<Float32Array>, maxNorm: number): number {
  const list = [...grads];
  const norm = globalGradNorm(list);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const g of list) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return norm;
}

/**
 * Sums gradients over micro-batches into one buffer per name. `add(grads, w)` does acc += w · grads;
 * `mean()` divides by the number of micro-batches added (for losses that were not already scaled by
 * 1 / micro-batches); `zero()` starts the next step. The backward can also accumulate by itself
 * (qwen2Backward's `grads` option): this is for when micro-batch gradients arrive separately.
 */
export class GradientAccumulator {
  readonly sums = new Map<string, Float32Array>();
  count = 0;

  add(grads: ReadonlyMap<string, Float32Array>, weight = 1): void {
    for (const [name, g] of grads) {
      let acc = this.sums.get(name);
      if (!acc) {
        acc = new Float32Array(g.length);
        this.sums.set(name, acc);
      } else if (acc.length !== g.length) {
        throw new Error(`GradientAccumulator: ${name} has ${g.length} elements, earlier ${acc.length}`);
      }
      for (let i = 0; i < g.length; i++) acc[i] += weight * g[i];
    }
    this.count++;
  }

  /** Divide the sums by the number of micro-batches, in place; returns them. */
  mean(): Map<string, Float32Array> {
    if (this.count > 1)
      for (const acc of this.sums.values()) for (let i = 0; i < acc.length; i++) acc[i] /= this.count;
    this.count = Math.min(this.count, 1);
    return this.sums;
  }

  zero(): void {
    for (const acc of this.sums.values()) acc.fill(0);
    this.count = 0;
  }
}

export type OptimizerKind = 'adamw' | 'sgd';

/**
 * An optimizer's state as plain data, restored bit for bit by `load` (GRPO checkpoints, src/rl/checkpoint.ts;
 * the GPU policy reads and writes GpuTrainer's state in this format too, so checkpoints cross backends).
 */
export interface OptimizerState {
  kind: OptimizerKind;
  /** Updates made (the optimizer's `step`). */
  t: number;
  /** By parameter name: its own step count and buffers (AdamW [m, v]; SGD with momentum [buf]; plain
   * SGD []). A parameter never updated has no slot. */
  slots: Record<string, { steps: number; bufs: Float32Array[] }>;
}

/** The interface the trainer drives: parameters by name, updated from gradients by name. */
export interface Optimizer {
  readonly kind: OptimizerKind;
  /** Number of steps taken. */
  readonly step: number;
  /** Apply one update; `lr` overrides the configured rate (for a schedule). Names absent from `grads`
   * are left alone (a frozen parameter). */
  update(
    params: ReadonlyMap<string, Float32Array>,
    grads: ReadonlyMap<string, Float32Array>,
    lr?: number,
  ): void;
  /** Bytes of optimizer state held (for the memory plan and the UI). */
  stateBytes(): number;
  /** A copy of the state (step count, per-parameter steps and buffers). */
  state(): OptimizerState;
  /** Replace the state with a copy of `s` (what `state()` returned, maybe from another backend). Throws
   * EngineError('invalid-argument') for another optimizer's state or a wrong number of buffers. */
  load(s: OptimizerState): void;
}

/** Per-parameter state, created on a parameter's first update; each parameter counts its own steps
 * (as PyTorch's state['step']), so one left out of some updates still gets the right bias correction. */
interface Slot {
  steps: number;
  bufs: Float32Array[];
}

function slotFor(slots: Map<string, Slot>, name: string, size: number, nBufs: number): Slot {
  let s = slots.get(name);
  if (!s) {
    s = { steps: 0, bufs: Array.from({ length: nBufs }, () => new Float32Array(size)) };
    slots.set(name, s);
  }
  return s;
}

function paramFor(
  who: string,
  params: ReadonlyMap<string, Float32Array>,
  name: string,
  g: Float32Array,
): Float32Array {
  const p = params.get(name);
  if (!p) throw new Error(`${who}: gradient for unknown parameter ${name}`);
  if (p.length !== g.length)
    throw new Error(`${who}: ${name} has ${p.length} elements but its gradient ${g.length}`);
  return p;
}

function slotBytes(slots: Map<string, Slot>): number {
  let n = 0;
  for (const s of slots.values()) for (const b of s.bufs) n += b.byteLength;
  return n;
}

/** The state as plain data; buffers copied, so later updates do not reach it. */
function exportState(kind: OptimizerKind, t: number, slots: Map<string, Slot>): OptimizerState {
  const out: OptimizerState['slots'] = {};
  for (const [k, s] of slots) out[k] = { steps: s.steps, bufs: s.bufs.map((b) => b.slice()) };
  return { kind, t, slots: out };
}

/** Checks `s` against the optimizer that loads it and refills `slots` with copies of its buffers. */
function importState(kind: OptimizerKind, nBufs: number, s: OptimizerState, slots: Map<string, Slot>): void {
  if (s.kind !== kind)
    throw new EngineError('invalid-argument', `optimizer state of ${s.kind}, this optimizer is ${kind}`);
  if (!Number.isInteger(s.t) || s.t < 0)
    throw new EngineError('invalid-argument', `optimizer state: step must be an integer ≥ 0, got ${s.t}`);
  for (const [k, v] of Object.entries(s.slots))
    if (v.bufs.length !== nBufs)
      throw new EngineError(
        'invalid-argument',
        `optimizer state: ${k} has ${v.bufs.length} buffers, ${kind} keeps ${nBufs}`,
      );
  slots.clear();
  for (const [k, v] of Object.entries(s.slots))
    slots.set(k, { steps: v.steps, bufs: v.bufs.map((b) => b.slice()) });
}

export class AdamW implements Optimizer {
  readonly kind = 'adamw' as const;
  readonly options: AdamWOptions;
  private readonly slots = new Map<string, Slot>();
  private t = 0;

  /** `decay(name)` picks which parameters get weight decay (default all, as torch's AdamW). */
  constructor(
    options: Partial<AdamWOptions> = {},
    private readonly decay: (name: string) => boolean = () => true,
  ) {
    this.options = { ...ADAMW_DEFAULTS, ...options };
  }

  get step(): number {
    return this.t;
  }

  update(
    params: ReadonlyMap<string, Float32Array>,
    grads: ReadonlyMap<string, Float32Array>,
    lr = this.options.lr,
  ): void {
    this.t++;
    for (const [name, g] of grads) {
      const p = paramFor('AdamW', params, name, g);
      const s = slotFor(this.slots, name, p.length, 2);
      s.steps++;
      const wd = this.decay(name) ? this.options.weightDecay : 0;
      adamwUpdate(p, g, s.bufs[0], s.bufs[1], s.steps, { ...this.options, lr, weightDecay: wd });
    }
  }

  stateBytes(): number {
    return slotBytes(this.slots);
  }

  state(): OptimizerState {
    return exportState(this.kind, this.t, this.slots);
  }

  load(s: OptimizerState): void {
    importState(this.kind, 2, s, this.slots);
    this.t = s.t;
  }
}

export class Sgd implements Optimizer {
  readonly kind = 'sgd' as const;
  readonly options: SgdOptions;
  private readonly slots = new Map<string, Slot>();
  private t = 0;

  constructor(options: Partial<SgdOptions> = {}) {
    this.options = { ...SGD_DEFAULTS, ...options };
  }

  get step(): number {
    return this.t;
  }

  /** Momentum buffers per parameter: one with momentum, none for plain SGD. */
  private get nBufs(): number {
    return this.options.momentum !== 0 ? 1 : 0;
  }

  update(
    params: ReadonlyMap<string, Float32Array>,
    grads: ReadonlyMap<string, Float32Array>,
    lr = this.options.lr,
  ): void {
    this.t++;
    const nBufs = this.nBufs;
    for (const [name, g] of grads) {
      const p = paramFor('Sgd', params, name, g);
      const s = slotFor(this.slots, name, p.length, nBufs);
      s.steps++;
      sgdUpdate(p, g, s.bufs[0] ?? null, s.steps, { ...this.options, lr });
    }
  }

  stateBytes(): number {
    return slotBytes(this.slots);
  }

  state(): OptimizerState {
    return exportState(this.kind, this.t, this.slots);
  }

  load(s: OptimizerState): void {
    importState(this.kind, this.nBufs, s, this.slots);
    this.t = s.t;
  }
}

/**
 * The largest |parameter| an update may leave. No trained weight comes near it; past it, squares of weights
 * (norms, AdamW's v, a forward's sums of products) approach f32's 3.4e38, so the next step overflows. An
 * update that would cross it (e.g. at a learning rate of 1e30) is refused like a non-finite one.
 */
export const PARAMETER_LIMIT = 1e15;

/** Name of the first tensor with an element that is non-finite or (`limit`) past ±limit; null when none. */
export function firstNonFiniteTensor(
  tensors: Iterable<[string, Float32Array]>,
  limit = Number.POSITIVE_INFINITY,
): string | null {
  for (const [name, t] of tensors)
    for (let i = 0; i < t.length; i++) if (!(Math.abs(t[i]) <= limit)) return name;
  return null;
}

/**
 * One update that either leaves every updated parameter finite and within PARAMETER_LIMIT and every
 * optimizer buffer finite, or changes nothing: the parameters and the optimizer state (step counts
 * included) are put back exactly as they were. Returns the first offending tensor's name when refused.
 */
export function guardedUpdate(
  optimizer: Optimizer,
  params: ReadonlyMap<string, Float32Array>,
  grads: ReadonlyMap<string, Float32Array>,
  lr?: number,
): { applied: true } | { applied: false; tensor: string } {
  const before = new Map(
    [...grads.keys()].flatMap((k) => (params.has(k) ? [[k, params.get(k)!.slice()]] : [])),
  );
  const state = optimizer.state();
  optimizer.update(params, grads, lr);
  const updated = [...before.keys()].map((k): [string, Float32Array] => [k, params.get(k)!]);
  const buffers = Object.entries(optimizer.state().slots).flatMap(([k, s]) =>
    s.bufs.map((b, j): [string, Float32Array] => [`${k} (optimizer state ${j})`, b]),
  );
  const bad = firstNonFiniteTensor(updated, PARAMETER_LIMIT) ?? firstNonFiniteTensor(buffers);
  if (bad === null) return { applied: true };
  for (const [k, p] of before) params.get(k)!.set(p);
  optimizer.load(state);
  return { applied: false, tensor: bad };
}
