// GpuTrainer's optimizer on the device: the trained tensors with their gradient buffers and optimizer state
// (AdamW m, v; SGD's momentum buffer), the step (global gradient norm, clipping, the LR schedule, the
// update kernels of opsOptimizer.ts on the parameters in place), and the state's round trip to the host
// for checkpoints. One submit per step, all or nothing (see step); the norm and a refused flag come back.
import { EngineError } from '../errors.ts';
import {
  ADAMW_DEFAULTS,
  type AdamWOptions,
  PARAMETER_LIMIT,
  SGD_DEFAULTS,
  type SgdOptions,
} from '../train/optim.ts';
import { type LrSchedule, learningRate } from '../train/schedule.ts';
import type { GpuTensor } from './buffers.ts';
import type { CommandRecorder, GpuContext } from './commands.ts';
import { adamwUpdate, gradNorm, gradNormPartials, sgdUpdate, type UpdateGuard } from './opsOptimizer.ts';

export type GpuOptimizerConfig =
  | ({ kind: 'adamw' } & Partial<AdamWOptions>)
  | ({ kind: 'sgd' } & Partial<SgdOptions>);

export interface GpuStepOptions {
  /** Overrides the schedule for this step. */
  lr?: number;
  /** Multiplies the gradients before clipping and the update (1 / micro-batches for a mean). */
  gradScale?: number;
}

export interface GpuStepResult {
  /** Steps taken, including this one. */
  step: number;
  lr: number;
  /** ‖gradScale · gradients‖₂ before clipping. */
  gradNorm: number;
  /** False when the update would have left a parameter non-finite or past `parameterLimit` (or optimizer
   * state or the norm non-finite): nothing was written and the step count did not advance. */
  applied: boolean;
}

/** GpuTrainer's optimizer state on the host (readOptimizerState / writeOptimizerState). */
export interface GpuOptimizerState {
  kind: 'adamw' | 'sgd';
  /** Optimizer steps taken (`step`): every trained tensor is updated on every step, so this one count is
   * each tensor's AdamW bias-correction step (and SGD's first-step rule) and the schedule's position. */
  step: number;
  /** By trained tensor (`names`): AdamW [m, v]; SGD with momentum [momentum buffer]; plain SGD []. */
  buffers: Map<string, Float32Array[]>;
}

export interface GpuOptimizerOptions {
  /** Default AdamW with train/optim.ts ADAMW_DEFAULTS. */
  optimizer?: GpuOptimizerConfig;
  /** Which parameters get weight decay (by name). Default all, as torch's optimizers. */
  decay?: (name: string) => boolean;
  /** Global gradient-norm clipping (torch clip_grad_norm_); 0 or absent = off. */
  clipNorm?: number;
  /** Learning rate per step (0-based steps taken); default the optimizer's constant lr. */
  schedule?: LrSchedule;
  /** The largest |parameter| a step may leave (default train/optim.ts PARAMETER_LIMIT). */
  parameterLimit?: number;
}

interface Trainable {
  name: string; // HF name (full) or peft name (LoRA)
  param: GpuTensor;
  grad: GpuTensor;
  n: number;
  /** AdamW m, v; SGD with momentum: buf; plain SGD: none. */
  state: GpuTensor[];
  decay: boolean;
}

/** Read tensors back by name, in one submit. */
export async function readTensors(
  ctx: GpuContext,
  list: [string, GpuTensor][],
): Promise<Map<string, Float32Array>> {
  const rec = ctx.recorder('trainer read');
  for (const [, t] of list) rec.read(t);
  const bufs = await rec.submit();
  return new Map(list.map(([name], i) => [name, new Float32Array(bufs[i])]));
}

export class GpuOptimizer {
  /** In the order given (which is the order of the norm's partial sums). */
  readonly trainables: Trainable[] = [];
  private readonly byName = new Map<string, Trainable>();
  private readonly gnorm: GpuTensor; // (2) norm, clip factor
  private readonly partials: GpuTensor;
  /** (1 u32) set by a step's check pass when its update must not be applied. */
  private readonly refuse: GpuTensor;
  private readonly settings: ({ kind: 'adamw' } & AdamWOptions) | ({ kind: 'sgd' } & SgdOptions);
  /** Optimizer steps taken. */
  steps = 0;

  /** Gradient and state buffers (uninitialised: record clearAll before use) for `tensors` by name. */
  constructor(
    private readonly ctx: GpuContext,
    tensors: readonly [string, GpuTensor][],
    private readonly options: GpuOptimizerOptions,
  ) {
    const o = options.optimizer ?? { kind: 'adamw' };
    this.settings =
      o.kind === 'sgd' ? { ...SGD_DEFAULTS, ...o, kind: 'sgd' } : { ...ADAMW_DEFAULTS, ...o, kind: 'adamw' };
    const decay = options.decay ?? (() => true);
    const nState =
      this.settings.kind === 'adamw' ? 2 : this.settings.kind === 'sgd' && this.settings.momentum ? 1 : 0;
    const pool = ctx.pool;
    for (const [name, param] of tensors) {
      const n = param.bytes / 4;
      const t: Trainable = {
        name,
        param,
        grad: pool.tensor(`grad ${name}`, n),
        n,
        state: Array.from({ length: nState }, (_, i) => pool.tensor(`optimizer state ${i} ${name}`, n)),
        decay: decay(name),
      };
      this.trainables.push(t);
      this.byName.set(name, t);
    }
    this.gnorm = pool.tensor('grad norm', 2);
    this.partials = pool.tensor('grad norm partials', gradNormPartials(this.trainables.map((t) => t.n)));
    this.refuse = pool.tensor('optimizer step refused', 1);
  }

  get kind(): 'adamw' | 'sgd' {
    return this.settings.kind;
  }

  /** The gradient of a trained tensor, or null when `name` is not trained. */
  gradOf(name: string): GpuTensor | null {
    return this.byName.get(name)?.grad ?? null;
  }

  /** The trained tensor `name`, or undefined. */
  paramOf(name: string): GpuTensor | undefined {
    return this.byName.get(name)?.param;
  }

  /** Bytes of gradients and optimizer state. */
  stateBytes(): number {
    return this.trainables.reduce((a, t) => a + t.grad.bytes + t.state.reduce((b, s) => b + s.bytes, 0), 0);
  }

  clearGrads(rec: CommandRecorder): void {
    for (const t of this.trainables) rec.clear(t.grad);
  }

  clearState(rec: CommandRecorder): void {
    for (const t of this.trainables) for (const s of t.state) rec.clear(s);
  }

  /**
   * Gradient norm, clipping and one update of every trained tensor, in one submit — all or nothing: a check
   * pass over every tensor first flags an update that would leave anything non-finite (or a parameter past
   * parameterLimit), and the update pass then writes nothing. The norm and the flag come back.
   */
  async step(opts: GpuStepOptions): Promise<GpuStepResult> {
    const step = this.steps + 1;
    const lr =
      opts.lr ?? (this.options.schedule ? learningRate(this.options.schedule, this.steps) : this.settings.lr);
    const gradScale = opts.gradScale ?? 1;
    const rec = this.ctx.recorder('optimizer step');
    const grads = this.trainables.map((t) => ({ t: t.grad, n: t.n }));
    gradNorm(rec, this.gnorm, this.partials, grads, gradScale, this.options.clipNorm ?? 0);
    rec.clear(this.refuse);
    const limit = this.options.parameterLimit ?? PARAMETER_LIMIT;
    for (const mode of ['check', 'apply'] as const)
      for (const t of this.trainables)
        this.recordUpdate(rec, t, { lr, step, gradScale }, { flag: this.refuse, mode, limit });
    rec.read(this.gnorm, 4);
    rec.read(this.refuse, 4);
    const [norm, refused] = await rec.submit();
    const applied = new Uint32Array(refused)[0] === 0;
    if (applied) this.steps = step;
    return { step: this.steps, lr, gradNorm: new Float32Array(norm)[0], applied };
  }

  private recordUpdate(
    rec: CommandRecorder,
    t: Trainable,
    s: { lr: number; step: number; gradScale: number },
    guard: UpdateGuard,
  ): void {
    const o = this.settings;
    const weightDecay = t.decay ? o.weightDecay : 0;
    if (o.kind === 'adamw') {
      const { beta1, beta2, eps } = o;
      const update = { ...s, beta1, beta2, eps, weightDecay };
      adamwUpdate(rec, t.param, t.grad, t.state[0], t.state[1], this.gnorm, t.n, update, guard);
    } else {
      const { momentum, dampening, nesterov } = o;
      const update = { ...s, momentum, dampening, weightDecay, nesterov };
      sgdUpdate(rec, t.param, t.grad, t.state[0] ?? null, this.gnorm, t.n, update, guard);
    }
  }

  /** The state read back a tensor group at a time (≤ 64 MiB of staging per submit). */
  async readState(): Promise<GpuOptimizerState> {
    const buffers = new Map<string, Float32Array[]>();
    const READ_CHUNK = 64 << 20;
    for (let i = 0; i < this.trainables.length; ) {
      const group: Trainable[] = [];
      let bytes = 0;
      do {
        const t = this.trainables[i++];
        group.push(t);
        bytes += t.state.reduce((a, s) => a + s.bytes, 0);
      } while (i < this.trainables.length && bytes < READ_CHUNK);
      const list: [string, GpuTensor][] = group.flatMap((t) =>
        t.state.map((s, j): [string, GpuTensor] => [`${t.name}\0${j}`, s]),
      );
      const read = list.length ? await readTensors(this.ctx, list) : new Map<string, Float32Array>();
      for (const t of group)
        buffers.set(
          t.name,
          t.state.map((_, j) => read.get(`${t.name}\0${j}`) as Float32Array),
        );
    }
    return { kind: this.settings.kind, step: this.steps, buffers };
  }

  /** Restore readState's result; everything is checked before anything is written. */
  writeState(s: GpuOptimizerState): void {
    if (s.kind !== this.settings.kind)
      throw new EngineError(
        'invalid-argument',
        `writeOptimizerState: state of ${s.kind}, this trainer uses ${this.settings.kind}`,
      );
    if (!Number.isInteger(s.step) || s.step < 0)
      throw new EngineError(
        'invalid-argument',
        `writeOptimizerState: step must be an integer ≥ 0, got ${s.step}`,
      );
    for (const name of s.buffers.keys())
      if (!this.byName.has(name))
        throw new EngineError('invalid-argument', `writeOptimizerState: ${name} is not a trained tensor`);
    for (const t of this.trainables) {
      const bufs = s.buffers.get(t.name) ?? [];
      if (bufs.length !== t.state.length)
        throw new EngineError(
          'invalid-argument',
          `writeOptimizerState: ${t.name} needs ${t.state.length} state buffers, got ${bufs.length}`,
        );
      for (const b of bufs)
        if (b.length !== t.n)
          throw new EngineError(
            'tensor-shape',
            `writeOptimizerState: ${t.name} state has ${b.length} elements, expected ${t.n}`,
          );
    }
    const q = this.ctx.device.queue;
    for (const t of this.trainables) {
      const bufs = s.buffers.get(t.name) ?? [];
      t.state.forEach((d, j) => {
        const b = bufs[j];
        q.writeBuffer(d.buffer, d.offset, b.buffer, b.byteOffset, b.byteLength);
      });
    }
    this.steps = s.step;
  }

  release(): void {
    const pool = this.ctx.pool;
    for (const t of this.trainables) {
      pool.release(t.grad);
      for (const s of t.state) pool.release(s);
    }
    pool.release(this.gnorm);
    pool.release(this.partials);
    pool.release(this.refuse);
  }
}
