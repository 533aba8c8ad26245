// Training on WebGPU: the full-sequence forward that keeps what the backward needs, the log-prob loss
// and its backward inline, the backward walking the layers in reverse (llm.c's gpt2_forward /
// gpt2_backward; ref/backward.ts is the CPU reference with the same structure), gradient buffers, and
// the optimizer (AdamW or SGD, global-norm clipping, LR schedule) as kernels on the model's own
// parameter buffers — so after a step, GpuModel's forward and decode use the new weights.
//
// Full fine-tuning trains every parameter (gradients by HF name; a tied lm_head is the embedding, which
// then gets gradient from both ends); LoRA trains only the adapter's A and B (gradients by peft name,
// ref/backward.ts loraGradName) on whichever projections the loaded adapter has, the base frozen.
// Accumulation rule: see the backward section of gpu/ops.ts. Gradients add up over backward() calls
// (micro-batches) until step(), after which the next backward() starts them from zero.
// One submit per backward() (forward + loss + backward; the log-probs come back) and one per step()
// (norm + clip + update; the norm comes back).
import { expectedParameters, type Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import type { LoraAdapter } from '../model/lora.ts';
import { writeLoraAdapter } from '../model/lora.ts';
import { loraGradName } from '../ref/backward.ts';
import type { ModelInput } from '../ref/model.ts';
import { ADAMW_DEFAULTS, type AdamWOptions, SGD_DEFAULTS, type SgdOptions } from '../train/optim.ts';
import { type LrSchedule, learningRate } from '../train/schedule.ts';
import type { GpuTensor } from './buffers.ts';
import type { CommandRecorder, GpuContext } from './commands.ts';
import type { GpuModel } from './model.ts';
import {
  adamwUpdate,
  attentionBackward,
  attentionForward,
  denseMixtureBackward,
  denseMixtureForward,
  type EmbeddingPlan,
  embeddingBackward,
  embeddingForward,
  type GpuEmbeddingPlan,
  gradNorm,
  gradNormPartials,
  inputNoiseForward,
  logprobLossBackward,
  matmulBackward,
  matmulForward,
  matmulLoraBackward,
  mixtureBackward,
  mixtureForward,
  planEmbeddingBackward,
  rmsnormBackward,
  rmsnormForward,
  ropeBackward,
  ropeForward,
  ropeTable,
  sgdUpdate,
  swigluBackward,
  swigluForward,
} from './ops.ts';

export type GpuOptimizerConfig =
  | ({ kind: 'adamw' } & Partial<AdamWOptions>)
  | ({ kind: 'sgd' } & Partial<SgdOptions>);

export interface GpuTrainerOptions {
  /** 'full': every parameter; 'lora': only the loaded adapter's A and B (the forward applies it). */
  mode: 'full' | 'lora';
  /** Full fine-tuning: also train model.embed_tokens.weight (and so a tied head). Default true. */
  trainEmbeddings?: boolean;
  /** Default AdamW with train/optim.ts ADAMW_DEFAULTS. */
  optimizer?: GpuOptimizerConfig;
  /** Which parameters get weight decay (by HF or peft name). Default all, as torch's optimizers. */
  decay?: (name: string) => boolean;
  /** Global gradient-norm clipping (torch clip_grad_norm_); 0 or absent = off. */
  clipNorm?: number;
  /** Learning rate per step (0-based steps taken); default the optimizer's constant lr. */
  schedule?: LrSchedule;
}

/**
 * One micro-batch: B rows of T positions, a loss coefficient and k targets per position (usually one).
 * Each position's log-likelihood is ℓ = log p(target), or over k weighted targets ℓ = Σ_j w_j log p(target_j),
 * or with `renormalise` ℓ = Σ_j q_j log p(target_j), q_j ∝ w_j p(target_j) under the current policy.
 */
export interface TrainBatch {
  input: ModelInput;
  B: number;
  T: number;
  /** (B, T, k) the tokens each position's loss scores. */
  targets: ArrayLike<number>;
  /** (B, T) loss = −Σ coef · ℓ; 0 = no loss (prompt, padding). */
  coef: ArrayLike<number>;
  /** Targets per position (default 1). */
  k?: number;
  /** (B, T, k) the targets' weights (default all 1); weight 0 pads a position's list to k. */
  weights?: ArrayLike<number>;
  /** The weights are renormalised by the current policy, not detached (MOTG.md §2 `weighted-ids`):
   * q_j = w_j p(target_j) / Σ_l w_l p(target_l); weights must be ≥ 0. */
  renormalise?: boolean;
  /** (B, T) 1 = real token, 0 = padding; default all ones. */
  attentionMask?: ArrayLike<number>;
  /** (B, T) positions; default 0..T−1 in every row. */
  positionIds?: ArrayLike<number>;
}

export interface GpuBackwardOptions {
  /** Multiplies every coefficient in the backward (not the reported loss); default 1. */
  dloss?: number;
  /** Also read back d loss / d inputs: dembeds (N, C), and dmixWeights / dprobs for those inputs. */
  inputGrads?: boolean;
}

export interface GpuBackwardResult {
  /** −Σ coef · logp (f64 sum of the read-back log-probs). */
  loss: number;
  /** (B, T) ℓ of each position: log_softmax(logits)[target], or the (renormalised) weighted sum over k targets. */
  logp: Float32Array;
  dembeds?: Float32Array;
  dmixWeights?: Float32Array;
  dprobs?: Float32Array;
}

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

interface Trainable {
  name: string; // HF name (full) or peft name (LoRA)
  param: GpuTensor;
  grad: GpuTensor;
  n: number;
  /** AdamW m, v; SGD with momentum: buf; plain SGD: none. */
  state: GpuTensor[];
  decay: boolean;
}

/** What one decoder layer keeps for its backward (N = B·T), as ref/backward.ts LayerActivations. */
interface LayerActs {
  rstd1: GpuTensor; // (N)        input_layernorm 1/rms
  normed1: GpuTensor; // (N, C)   input of q/k/v_proj
  q: GpuTensor; // (N, H·D)       after RoPE
  k: GpuTensor; // (N, KVH·D)     after RoPE
  v: GpuTensor; // (N, KVH·D)
  attOut: GpuTensor; // (N, H·D)  input of o_proj
  resMid: GpuTensor; // (N, C)    residual stream after attention
  rstd2: GpuTensor; // (N)        post_attention_layernorm 1/rms
  normed2: GpuTensor; // (N, C)   input of gate/up_proj
  gate: GpuTensor; // (N, I)
  up: GpuTensor; // (N, I)
  act: GpuTensor; // (N, I)       silu(gate) · up: input of down_proj
}

/** Saved activations and backward scratch for one (B, T), sized once and reused. */
interface TrainActs {
  B: number;
  T: number;
  res: GpuTensor[]; // (L + 1) × (N, C): res[0] the input embeddings, res[l + 1] after layer l
  layers: LayerActs[]; // L
  rstdF: GpuTensor; // (N)        model.norm 1/rms
  normedF: GpuTensor; // (N, C)   input of lm_head
  logits: GpuTensor; // (N, V)    logits, overwritten in place by d loss / d logits
  logp: GpuTensor; // (N)
  cs: GpuTensor; // (N, D)        RoPE cos/sin
  mask: GpuTensor; // (B, T) u32
  qraw: GpuTensor; // (N, H·D)    q before RoPE (forward scratch)
  kraw: GpuTensor; // (N, KVH·D)
  loraU: GpuTensor; // (N, r)     x · Aᵀ
  loraDu: GpuTensor; // (N, r)    scale · dout · B
  dres: GpuTensor; // (N, C)      d loss / d residual stream (accumulated through the layers)
  dnormed: GpuTensor; // (N, C)
  dact: GpuTensor; // (N, I)
  dgate: GpuTensor; // (N, I)
  dup: GpuTensor; // (N, I)
  dattOut: GpuTensor; // (N, H·D)
  dq: GpuTensor; // (N, H·D)      w.r.t. q after RoPE
  dk: GpuTensor; // (N, KVH·D)
  dv: GpuTensor; // (N, KVH·D)
  dqraw: GpuTensor; // (N, H·D)   w.r.t. q before RoPE
  dkraw: GpuTensor; // (N, KVH·D)
  att: GpuTensor; // (B, H, T, T) recomputed probabilities
  dscore: GpuTensor; // (B, H, T, T)
}

const BIAS = /\.weight$/;

export class GpuTrainer {
  private readonly ctx: GpuContext;
  private readonly config: Qwen2Config;
  private readonly trainables: Trainable[] = [];
  private readonly byName = new Map<string, Trainable>();
  private readonly params: Map<string, GpuTensor>;
  private readonly lora: ReturnType<GpuModel['loraTensors']>;
  private readonly gnorm: GpuTensor; // (2) norm, clip factor
  private readonly partials: GpuTensor;
  private readonly optimizer: ({ kind: 'adamw' } & AdamWOptions) | ({ kind: 'sgd' } & SgdOptions);
  private acts: TrainActs | null = null;
  private callInputs: GpuTensor[] = [];
  private zeroPending = false;
  private steps = 0;
  private disposed = false;

  private constructor(
    readonly model: GpuModel,
    readonly options: GpuTrainerOptions,
  ) {
    this.ctx = model.ctx;
    this.config = model.config;
    this.params = model.parameterTensors();
    this.lora = options.mode === 'lora' ? model.loraTensors() : null;
    const o = options.optimizer ?? { kind: 'adamw' };
    this.optimizer =
      o.kind === 'sgd' ? { ...SGD_DEFAULTS, ...o, kind: 'sgd' } : { ...ADAMW_DEFAULTS, ...o, kind: 'adamw' };
    const decay = options.decay ?? (() => true);
    const nState =
      this.optimizer.kind === 'adamw' ? 2 : this.optimizer.kind === 'sgd' && this.optimizer.momentum ? 1 : 0;
    const pool = this.ctx.pool;
    const add = (name: string, param: GpuTensor) => {
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
    };
    if (options.mode === 'lora') {
      if (!this.lora)
        throw new EngineError('invalid-argument', 'GpuTrainer: LoRA training needs an adapter on the model');
      for (const [base, { A, B }] of this.lora.pairs) {
        add(loraGradName(base, 'A'), A);
        add(loraGradName(base, 'B'), B);
      }
    } else {
      const trainEmbeddings = options.trainEmbeddings !== false;
      for (const name of expectedParameters(this.config).keys()) {
        if (name === 'model.embed_tokens.weight' && !trainEmbeddings) continue;
        const p = this.params.get(name);
        if (p) add(name, p);
      }
    }
    this.gnorm = pool.tensor('grad norm', 2);
    this.partials = pool.tensor('grad norm partials', gradNormPartials(this.trainables.map((t) => t.n)));
  }

  /** A trainer on `model`'s parameters (or adapter). Zeroes the gradients and the optimizer state. */
  static async create(model: GpuModel, options: GpuTrainerOptions): Promise<GpuTrainer> {
    return model.exclusive(async () => {
      const t = new GpuTrainer(model, options);
      try {
        const rec = t.ctx.recorder('trainer init');
        for (const x of t.trainables) {
          rec.clear(x.grad);
          for (const s of x.state) rec.clear(s);
        }
        await rec.submit();
      } catch (e) {
        t.releaseAll();
        throw e;
      }
      return t;
    });
  }

  /** Names of the trained tensors (HF names, or peft names in LoRA mode), in parameter order. */
  get names(): string[] {
    return this.trainables.map((t) => t.name);
  }

  /** Optimizer steps taken. */
  get step(): number {
    return this.steps;
  }

  /** Bytes of gradients and optimizer state this trainer holds (not the saved activations). */
  stateBytes(): number {
    return this.trainables.reduce((a, t) => a + t.grad.bytes + t.state.reduce((b, s) => b + s.bytes, 0), 0);
  }

  /** Start the next backward() from zero gradients (step() does this too). */
  zeroGrad(): void {
    this.zeroPending = true;
  }

  /** Forward, loss and backward of one micro-batch; gradients add into the trainer's buffers. */
  backward(batch: TrainBatch, opts: GpuBackwardOptions = {}): Promise<GpuBackwardResult> {
    return this.model.exclusive(() => this.backwardNow(batch, opts));
  }

  /** Gradient norm, clipping and one optimizer update of every trained tensor. */
  stepOptimizer(opts: GpuStepOptions = {}): Promise<GpuStepResult> {
    return this.model.exclusive(() => this.stepNow(opts));
  }

  /** zeroGrad, backward over the micro-batches (their coefficients should already be normalised over
   * the whole batch, as makeSftBatch/sliceSftBatch do), then one optimizer step. */
  async trainStep(
    micro: readonly TrainBatch[],
    opts: GpuStepOptions = {},
  ): Promise<GpuStepResult & { loss: number }> {
    this.zeroGrad();
    let loss = 0;
    for (const b of micro) loss += (await this.backward(b)).loss;
    return { ...(await this.stepOptimizer(opts)), loss };
  }

  /** The accumulated gradients by name. */
  readGrads(): Promise<Map<string, Float32Array>> {
    return this.model.exclusive(() => this.readTensors(this.trainables.map((t) => [t.name, t.grad])));
  }

  /** The trained tensors' current values by name. */
  readParams(): Promise<Map<string, Float32Array>> {
    return this.model.exclusive(() => this.readTensors(this.trainables.map((t) => [t.name, t.param])));
  }

  /** Overwrite parameters on the device: any model parameter by HF name, or a trained tensor by name. */
  writeParams(values: ReadonlyMap<string, Float32Array>): Promise<void> {
    return this.model.exclusive(async () => {
      this.checkAlive();
      for (const [name, data] of values) {
        const t = this.byName.get(name)?.param ?? this.params.get(name);
        if (!t) throw new EngineError('invalid-argument', `writeParams: unknown parameter ${name}`);
        if (data.length * 4 !== t.bytes)
          throw new EngineError('tensor-shape', `writeParams: ${name} has ${data.length} elements`);
        this.ctx.device.queue.writeBuffer(t.buffer, t.offset, data.buffer, data.byteOffset, data.byteLength);
      }
    });
  }

  /** Zero the optimizer state and the step count (the schedule starts over). */
  resetOptimizer(): Promise<void> {
    return this.model.exclusive(async () => {
      this.checkAlive();
      const rec = this.ctx.recorder('optimizer reset');
      for (const t of this.trainables) for (const s of t.state) rec.clear(s);
      await rec.submit();
      this.steps = 0;
    });
  }

  /**
   * The optimizer state read back from the device (checkpoints): with the parameters, what makes a
   * resumed run continue exactly. Read a tensor group at a time (≤ 64 MiB of staging per submit).
   */
  readOptimizerState(): Promise<GpuOptimizerState> {
    return this.model.exclusive(async () => {
      this.checkAlive();
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
        const read = list.length ? await this.readTensors(list) : new Map<string, Float32Array>();
        for (const t of group)
          buffers.set(
            t.name,
            t.state.map((_, j) => read.get(`${t.name}\0${j}`) as Float32Array),
          );
      }
      return { kind: this.optimizer.kind, step: this.steps, buffers };
    });
  }

  /**
   * Restore what readOptimizerState returned (the same optimizer kind and trained tensors). Every tensor
   * that has state must be given, with the right number and sizes of buffers; everything is checked before
   * anything is written. Gradients and parameters are left as they are.
   */
  writeOptimizerState(s: GpuOptimizerState): Promise<void> {
    return this.model.exclusive(async () => {
      this.checkAlive();
      if (s.kind !== this.optimizer.kind)
        throw new EngineError(
          'invalid-argument',
          `writeOptimizerState: state of ${s.kind}, this trainer uses ${this.optimizer.kind}`,
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
    });
  }

  /** The trained adapter read back from the device (LoRA mode). `alpha` defaults to scale · r. */
  async loraAdapter(meta: { alpha?: number; useRslora?: boolean; targetModules?: string[] } = {}) {
    const lora = this.lora;
    if (!lora) throw new EngineError('invalid-argument', 'loraAdapter: this trainer is not training LoRA');
    const values = await this.readParams();
    const layers: LoraAdapter['layers'] = new Map();
    const modules = new Set<string>();
    for (const [base, { A, B }] of lora.pairs) {
      const OC = B.bytes / 4 / lora.r;
      const IC = A.bytes / 4 / lora.r;
      layers.set(base, {
        A: { shape: [lora.r, IC], data: values.get(loraGradName(base, 'A'))! },
        B: { shape: [OC, lora.r], data: values.get(loraGradName(base, 'B'))! },
      });
      const module = base.replace(BIAS, '');
      modules.add(module.slice(module.lastIndexOf('.') + 1));
    }
    const adapter: LoraAdapter = {
      r: lora.r,
      alpha: meta.alpha ?? lora.scale * lora.r,
      scale: lora.scale,
      useRslora: meta.useRslora ?? false,
      targetModules: meta.targetModules ?? [...modules],
      layers,
    };
    return adapter;
  }

  /** The trained adapter in peft's format (adapter_config.json text, adapter_model.safetensors bytes). */
  async saveLoraAdapter(
    baseModelName: string | null,
    meta: { alpha?: number; useRslora?: boolean; targetModules?: string[] } = {},
  ): Promise<{ configJson: string; safetensors: Uint8Array }> {
    return writeLoraAdapter(await this.loraAdapter(meta), baseModelName);
  }

  /** Release the gradients, optimizer state and activations (the model's parameters stay). */
  dispose(): void {
    if (this.disposed) return;
    if (!this.model.isDisposed) this.releaseAll();
    this.disposed = true;
  }

  // ---------------------------------------------------------------------------------------------

  private releaseAll(): void {
    const pool = this.ctx.pool;
    for (const t of this.trainables) {
      pool.release(t.grad);
      for (const s of t.state) pool.release(s);
    }
    pool.release(this.gnorm);
    pool.release(this.partials);
    this.releaseActs();
  }

  private checkAlive(): void {
    if (this.disposed) throw new EngineError('not-loaded', 'GpuTrainer was disposed');
    if (this.options.mode === 'lora' && this.model.loraTensors() !== this.lora)
      throw new EngineError('invalid-argument', 'GpuTrainer: the adapter was replaced; make a new trainer');
  }

  private async readTensors(list: [string, GpuTensor][]): Promise<Map<string, Float32Array>> {
    this.checkAlive();
    const rec = this.ctx.recorder('trainer read');
    for (const [, t] of list) rec.read(t);
    const bufs = await rec.submit();
    return new Map(list.map(([name], i) => [name, new Float32Array(bufs[i])]));
  }

  private async stepNow(opts: GpuStepOptions): Promise<GpuStepResult> {
    this.checkAlive();
    const step = this.steps + 1;
    const lr =
      opts.lr ??
      (this.options.schedule ? learningRate(this.options.schedule, this.steps) : this.optimizer.lr);
    const gradScale = opts.gradScale ?? 1;
    const rec = this.ctx.recorder('optimizer step');
    gradNorm(
      rec,
      this.gnorm,
      this.partials,
      this.trainables.map((t) => ({ t: t.grad, n: t.n })),
      gradScale,
      this.options.clipNorm ?? 0,
    );
    const o = this.optimizer;
    for (const t of this.trainables) {
      if (o.kind === 'adamw') {
        adamwUpdate(rec, t.param, t.grad, t.state[0], t.state[1], this.gnorm, t.n, {
          lr,
          beta1: o.beta1,
          beta2: o.beta2,
          eps: o.eps,
          weightDecay: t.decay ? o.weightDecay : 0,
          step,
          gradScale,
        });
      } else {
        sgdUpdate(rec, t.param, t.grad, t.state[0] ?? null, this.gnorm, t.n, {
          lr,
          momentum: o.momentum,
          dampening: o.dampening,
          weightDecay: t.decay ? o.weightDecay : 0,
          nesterov: o.nesterov,
          step,
          gradScale,
        });
      }
    }
    rec.read(this.gnorm, 4);
    const [norm] = await rec.submit();
    this.steps = step;
    this.zeroPending = true;
    return { step, lr, gradNorm: new Float32Array(norm)[0] };
  }

  private async backwardNow(batch: TrainBatch, opts: GpuBackwardOptions): Promise<GpuBackwardResult> {
    this.checkAlive();
    const { B, T } = batch;
    const N = B * T;
    const { vocabSize: V, hiddenSize: C } = this.config;
    if (!(Number.isInteger(B) && B >= 1 && Number.isInteger(T) && T >= 1))
      throw new EngineError('invalid-argument', `backward: B = ${B}, T = ${T}`);
    const K = batch.k ?? 1;
    if (!(Number.isInteger(K) && K >= 1)) throw new EngineError('invalid-argument', `backward: k = ${K}`);
    if (batch.targets.length !== N * K || batch.coef.length !== N)
      throw new EngineError(
        'invalid-argument',
        `backward: targets need B·T·k = ${N * K} entries and coef B·T = ${N}`,
      );
    if (batch.weights && batch.weights.length !== N * K)
      throw new EngineError('invalid-argument', `backward: weights need B·T·k = ${N * K} entries`);
    const acts = this.activations(B, T);
    const rec = this.ctx.recorder('train backward');
    const reads = { logp: -1, dembeds: -1, dmix: -1, dprobs: -1 };
    let bufs: ArrayBuffer[];
    try {
      if (this.zeroPending) for (const t of this.trainables) rec.clear(t.grad);
      const useLora = this.options.mode === 'lora';
      const input = this.recordForward(rec, batch, acts, useLora);
      const targets = this.uploadIds('targets', batch.targets, N * K, V);
      const coef = this.uploadInput('loss coef', Float32Array.from(batch.coef));
      const weights = batch.weights
        ? this.uploadInput('target weights', Float32Array.from(batch.weights))
        : null;
      const multi =
        K > 1 || weights || batch.renormalise
          ? { K, weights, renormalise: batch.renormalise === true }
          : null;
      logprobLossBackward(rec, acts.logits, acts.logp, targets, coef, N, V, opts.dloss ?? 1, multi);
      reads.logp = rec.read(acts.logp, N * 4);
      const inGrads = this.recordBackward(rec, batch, acts, useLora, input, opts.inputGrads === true);
      if (opts.inputGrads) {
        reads.dembeds = rec.read(acts.dres, N * C * 4);
        if (inGrads.dmix) reads.dmix = rec.read(inGrads.dmix);
        if (inGrads.dprobs) reads.dprobs = rec.read(inGrads.dprobs);
      }
      bufs = await rec.submit();
      this.zeroPending = false;
    } finally {
      for (const t of this.callInputs) this.ctx.pool.release(t);
      this.callInputs = [];
    }
    const logp = new Float32Array(bufs[reads.logp]);
    let loss = 0;
    for (let n = 0; n < N; n++) loss -= batch.coef[n] * logp[n];
    const out: GpuBackwardResult = { loss, logp };
    if (reads.dembeds >= 0) out.dembeds = new Float32Array(bufs[reads.dembeds]);
    if (reads.dmix >= 0) out.dmixWeights = new Float32Array(bufs[reads.dmix]);
    if (reads.dprobs >= 0) out.dprobs = new Float32Array(bufs[reads.dprobs]);
    return out;
  }

  /** What the input's backward needs from its forward. */
  private recordForward(
    rec: CommandRecorder,
    batch: TrainBatch,
    a: TrainActs,
    useLora: boolean,
  ): { ids?: GpuTensor; plan?: GpuEmbeddingPlan; probs?: GpuTensor } {
    const cfg = this.config;
    const {
      hiddenSize: C,
      intermediateSize: I,
      numAttentionHeads: H,
      numKeyValueHeads: KVH,
      headDim: D,
      vocabSize: V,
    } = cfg;
    const { B, T } = batch;
    const N = B * T;
    const queue = this.ctx.device.queue;
    const eps = cfg.rmsNormEps;
    const p = (name: string) => this.params.get(name)!;

    const positions = new Float64Array(N);
    const mask = new Uint32Array(N);
    if (batch.positionIds && batch.positionIds.length !== N)
      throw new EngineError('invalid-argument', `positionIds: ${batch.positionIds.length} != B·T = ${N}`);
    if (batch.attentionMask && batch.attentionMask.length !== N)
      throw new EngineError('invalid-argument', `attentionMask: ${batch.attentionMask.length} != B·T = ${N}`);
    for (let n = 0; n < N; n++) {
      positions[n] = batch.positionIds ? batch.positionIds[n] : n % T;
      mask[n] = batch.attentionMask ? (batch.attentionMask[n] ? 1 : 0) : 1;
    }
    const cs = ropeTable(positions, N, D, cfg.ropeTheta);
    queue.writeBuffer(a.cs.buffer, 0, cs.buffer, 0, cs.byteLength);
    queue.writeBuffer(a.mask.buffer, 0, mask.buffer, 0, mask.byteLength);

    const wte = p('model.embed_tokens.weight');
    const input = batch.input;
    const saved: { ids?: GpuTensor; plan?: GpuEmbeddingPlan; probs?: GpuTensor } = {};
    const embedTrained = this.byName.has('model.embed_tokens.weight');
    switch (input.kind) {
      case 'ids': {
        const ids = this.uploadIds('input ids', input.ids, N, V);
        embeddingForward(rec, a.res[0], ids, wte, N, C, V);
        if (embedTrained) saved.plan = this.uploadPlan(planEmbeddingBackward(input.ids, null));
        break;
      }
      case 'mixture': {
        const K = input.k;
        if (input.weights.length !== N * K)
          throw new EngineError('invalid-argument', `mixture weights: ${input.weights.length} != B·T·k`);
        const ids = this.uploadIds('mixture ids', input.ids, N * K, V);
        const w = this.uploadInput('mixture weights', Float32Array.from(input.weights));
        mixtureForward(rec, a.res[0], ids, w, wte, N, K, C, V);
        // The rollout's noise on e_t, regenerated from its counters (a constant: the backward below is
        // mixtureBackward's alone, so E still gets its gradient through the weights).
        if (input.noise)
          inputNoiseForward(rec, a.res[0], input.noise, N, C, (n, d) => this.uploadInput(n, d));
        saved.ids = ids;
        if (embedTrained) saved.plan = this.uploadPlan(planEmbeddingBackward(input.ids, input.weights, K));
        break;
      }
      case 'dense': {
        if (input.probs.length < N * V)
          throw new EngineError('invalid-argument', `dense probs: ${input.probs.length} < B·T·V = ${N * V}`);
        const probs = this.uploadInput('dense probs', input.probs.subarray(0, N * V));
        denseMixtureForward(rec, a.res[0], probs, wte, N, V, C);
        saved.probs = probs;
        break;
      }
      case 'embeds': {
        if (input.embeds.length < N * C)
          throw new EngineError('invalid-argument', `embeds: ${input.embeds.length} < B·T·C = ${N * C}`);
        queue.writeBuffer(a.res[0].buffer, 0, input.embeds.buffer, input.embeds.byteOffset, N * C * 4);
        break;
      }
    }

    const lora = useLora ? this.lora : null;
    const linear = (out: GpuTensor, inp: GpuTensor, name: string, IC: number, OC: number, beta = 0) => {
      const bias = this.params.get(name.replace(BIAS, '.bias')) ?? null;
      matmulForward(rec, out, inp, p(name), bias, N, IC, OC, { beta });
      const pair = lora?.pairs.get(name);
      if (pair && lora) {
        matmulForward(rec, a.loraU, inp, pair.A, null, N, IC, lora.r);
        matmulForward(rec, out, a.loraU, pair.B, null, N, lora.r, OC, { alpha: lora.scale, beta: 1 });
      }
    };
    for (let l = 0; l < cfg.numHiddenLayers; l++) {
      const s = a.layers[l];
      const pre = `model.layers.${l}`;
      rmsnormForward(rec, s.normed1, s.rstd1, a.res[l], p(`${pre}.input_layernorm.weight`), N, C, eps);
      linear(a.qraw, s.normed1, `${pre}.self_attn.q_proj.weight`, C, H * D);
      linear(a.kraw, s.normed1, `${pre}.self_attn.k_proj.weight`, C, KVH * D);
      linear(s.v, s.normed1, `${pre}.self_attn.v_proj.weight`, C, KVH * D);
      ropeForward(rec, s.q, a.qraw, a.cs, N, H, D);
      ropeForward(rec, s.k, a.kraw, a.cs, N, KVH, D);
      attentionForward(rec, s.attOut, s.q, s.k, s.v, a.mask, B, T, T, 0, H, KVH, D, T);
      rec.copy(a.res[l], s.resMid, 0, 0, N * C * 4);
      linear(s.resMid, s.attOut, `${pre}.self_attn.o_proj.weight`, H * D, C, 1);
      rmsnormForward(
        rec,
        s.normed2,
        s.rstd2,
        s.resMid,
        p(`${pre}.post_attention_layernorm.weight`),
        N,
        C,
        eps,
      );
      linear(s.gate, s.normed2, `${pre}.mlp.gate_proj.weight`, C, I);
      linear(s.up, s.normed2, `${pre}.mlp.up_proj.weight`, C, I);
      swigluForward(rec, s.act, s.gate, s.up, N * I);
      rec.copy(s.resMid, a.res[l + 1], 0, 0, N * C * 4);
      linear(a.res[l + 1], s.act, `${pre}.mlp.down_proj.weight`, I, C, 1);
    }
    const L = cfg.numHiddenLayers;
    rmsnormForward(rec, a.normedF, a.rstdF, a.res[L], p('model.norm.weight'), N, C, eps);
    matmulForward(rec, a.logits, a.normedF, this.headWeight(), null, N, C, V);
    return saved;
  }

  private headWeight(): GpuTensor {
    return this.params.get(this.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight')!;
  }

  /** The backward from d loss / d logits (already in a.logits) down to the input embeddings. */
  private recordBackward(
    rec: CommandRecorder,
    batch: TrainBatch,
    a: TrainActs,
    useLora: boolean,
    saved: { ids?: GpuTensor; plan?: GpuEmbeddingPlan; probs?: GpuTensor },
    inputGrads: boolean,
  ): { dmix?: GpuTensor; dprobs?: GpuTensor } {
    const cfg = this.config;
    const {
      hiddenSize: C,
      intermediateSize: I,
      numAttentionHeads: H,
      numKeyValueHeads: KVH,
      headDim: D,
      vocabSize: V,
    } = cfg;
    const { B, T } = batch;
    const N = B * T;
    const p = (name: string) => this.params.get(name)!;
    const gradOf = (name: string): GpuTensor | null =>
      useLora ? null : (this.byName.get(name)?.grad ?? null);
    const lora = useLora ? this.lora : null;
    // dinp (= or, with accumulate, +=) and the trained gradients of one linear layer.
    const linearBack = (
      dinp: GpuTensor | null,
      dout: GpuTensor,
      inp: GpuTensor,
      name: string,
      IC: number,
      OC: number,
      accumulate = false,
    ) => {
      const pair = lora?.pairs.get(name);
      if (pair && lora) {
        const dA = this.byName.get(loraGradName(name, 'A'))!.grad;
        const dB = this.byName.get(loraGradName(name, 'B'))!.grad;
        matmulLoraBackward(
          rec,
          dinp,
          dA,
          dB,
          dout,
          inp,
          p(name),
          pair.A,
          pair.B,
          lora.scale,
          N,
          IC,
          OC,
          lora.r,
          a.loraU,
          a.loraDu,
          { accumulate },
        );
      } else {
        const dbias = gradOf(name.replace(BIAS, '.bias'));
        matmulBackward(rec, dinp, gradOf(name), dbias, dout, inp, p(name), N, IC, OC, { accumulate });
      }
    };

    // Head and final norm; dres accumulates the residual stream's gradient through the layers.
    const headName = cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    matmulBackward(rec, a.dnormed, gradOf(headName), null, a.logits, a.normedF, p(headName), N, C, V);
    rec.clear(a.dres);
    const L = cfg.numHiddenLayers;
    rmsnormBackward(
      rec,
      a.dres,
      gradOf('model.norm.weight'),
      a.dnormed,
      a.res[L],
      p('model.norm.weight'),
      a.rstdF,
      N,
      C,
    );
    for (let l = L - 1; l >= 0; l--) {
      const s = a.layers[l];
      const pre = `model.layers.${l}`;
      // res[l + 1] = resMid + down(act): dres is both d resMid and d(down output).
      linearBack(a.dact, a.dres, s.act, `${pre}.mlp.down_proj.weight`, I, C);
      swigluBackward(rec, a.dgate, a.dup, a.dact, s.gate, s.up, N * I);
      linearBack(a.dnormed, a.dgate, s.normed2, `${pre}.mlp.gate_proj.weight`, C, I);
      linearBack(a.dnormed, a.dup, s.normed2, `${pre}.mlp.up_proj.weight`, C, I, true);
      const ln2 = `${pre}.post_attention_layernorm.weight`;
      rmsnormBackward(rec, a.dres, gradOf(ln2), a.dnormed, s.resMid, p(ln2), s.rstd2, N, C);
      // resMid = res[l] + o_proj(attention(...)).
      linearBack(a.dattOut, a.dres, s.attOut, `${pre}.self_attn.o_proj.weight`, H * D, C);
      attentionBackward(
        rec,
        a.dq,
        a.dk,
        a.dv,
        a.att,
        a.dscore,
        a.dattOut,
        s.q,
        s.k,
        s.v,
        a.mask,
        B,
        T,
        T,
        0,
        H,
        KVH,
        D,
      );
      ropeBackward(rec, a.dqraw, a.dq, a.cs, N, H, D);
      ropeBackward(rec, a.dkraw, a.dk, a.cs, N, KVH, D);
      linearBack(a.dnormed, a.dqraw, s.normed1, `${pre}.self_attn.q_proj.weight`, C, H * D);
      linearBack(a.dnormed, a.dkraw, s.normed1, `${pre}.self_attn.k_proj.weight`, C, KVH * D, true);
      linearBack(a.dnormed, a.dv, s.normed1, `${pre}.self_attn.v_proj.weight`, C, KVH * D, true);
      const ln1 = `${pre}.input_layernorm.weight`;
      rmsnormBackward(rec, a.dres, gradOf(ln1), a.dnormed, a.res[l], p(ln1), s.rstd1, N, C);
    }

    // dres is now d loss / d input embeddings: into the embedding matrix through the input.
    const dwte = gradOf('model.embed_tokens.weight');
    const wte = p('model.embed_tokens.weight');
    const input = batch.input;
    const out: { dmix?: GpuTensor; dprobs?: GpuTensor } = {};
    switch (input.kind) {
      case 'ids':
        if (dwte && saved.plan) embeddingBackward(rec, dwte, a.dres, saved.plan, C);
        break;
      case 'mixture': {
        const dmix = inputGrads ? this.callTensor('d mixture weights', N * input.k) : null;
        mixtureBackward(rec, dwte, dmix, a.dres, saved.plan ?? null, saved.ids!, wte, N, input.k, C, V);
        if (dmix) out.dmix = dmix;
        break;
      }
      case 'dense': {
        const dprobs = inputGrads ? this.callTensor('d dense probs', N * V) : null;
        denseMixtureBackward(rec, dwte, dprobs, a.dres, saved.probs!, wte, N, V, C);
        if (dprobs) out.dprobs = dprobs;
        break;
      }
      case 'embeds':
        break;
    }
    return out;
  }

  private uploadPlan(plan: EmbeddingPlan): GpuEmbeddingPlan {
    return {
      U: plan.U,
      buckets: this.uploadInput('embedding buckets', plan.buckets),
      rows: this.uploadInput('embedding rows', plan.rows),
      weights: plan.weights ? this.uploadInput('embedding weights', plan.weights) : null,
    };
  }

  private uploadIds(name: string, ids: ArrayLike<number>, n: number, V: number): GpuTensor {
    if (ids.length !== n)
      throw new EngineError('invalid-argument', `${name}: ${ids.length} ids, expected ${n}`);
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (!(Number.isInteger(id) && id >= 0 && id < V))
        throw new EngineError('invalid-argument', `${name}: token id ${id} at ${i} is outside [0, ${V})`);
      out[i] = id;
    }
    return this.uploadInput(name, out);
  }

  /** A per-call tensor, released after the submit. */
  private callTensor(name: string, numel: number): GpuTensor {
    const t = this.ctx.pool.tensor(name, numel);
    this.callInputs.push(t);
    return t;
  }

  private uploadInput(name: string, data: Float32Array | Uint32Array): GpuTensor {
    const t = this.callTensor(name, data.length);
    if (data.length > 0)
      this.ctx.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  }

  private activations(B: number, T: number): TrainActs {
    if (this.acts && this.acts.B === B && this.acts.T === T) return this.acts;
    this.releaseActs();
    const {
      hiddenSize: C,
      intermediateSize: I,
      numAttentionHeads: H,
      numKeyValueHeads: KVH,
      headDim: D,
      vocabSize: V,
      numHiddenLayers: L,
    } = this.config;
    const N = B * T;
    const t = (name: string, numel: number) => this.ctx.pool.tensor(`train ${name}`, numel);
    const r = Math.max(1, this.lora?.r ?? 1);
    this.acts = {
      B,
      T,
      res: Array.from({ length: L + 1 }, (_, l) => t(`residual ${l}`, N * C)),
      layers: Array.from({ length: L }, (_, l) => ({
        rstd1: t(`rstd1[${l}]`, N),
        normed1: t(`normed1[${l}]`, N * C),
        q: t(`q[${l}]`, N * H * D),
        k: t(`k[${l}]`, N * KVH * D),
        v: t(`v[${l}]`, N * KVH * D),
        attOut: t(`attOut[${l}]`, N * H * D),
        resMid: t(`resMid[${l}]`, N * C),
        rstd2: t(`rstd2[${l}]`, N),
        normed2: t(`normed2[${l}]`, N * C),
        gate: t(`gate[${l}]`, N * I),
        up: t(`up[${l}]`, N * I),
        act: t(`act[${l}]`, N * I),
      })),
      rstdF: t('rstdF', N),
      normedF: t('normedF', N * C),
      logits: t('logits', N * V),
      logp: t('logp', N),
      cs: t('rope cos/sin', N * D),
      mask: t('mask', N),
      qraw: t('qraw', N * H * D),
      kraw: t('kraw', N * KVH * D),
      loraU: t('lora u', N * r),
      loraDu: t('lora du', N * r),
      dres: t('dres', N * C),
      dnormed: t('dnormed', N * C),
      dact: t('dact', N * I),
      dgate: t('dgate', N * I),
      dup: t('dup', N * I),
      dattOut: t('dattOut', N * H * D),
      dq: t('dq', N * H * D),
      dk: t('dk', N * KVH * D),
      dv: t('dv', N * KVH * D),
      dqraw: t('dqraw', N * H * D),
      dkraw: t('dkraw', N * KVH * D),
      att: t('att', B * H * T * T),
      dscore: t('dscore', B * H * T * T),
    };
    return this.acts;
  }

  private releaseActs(): void {
    const a = this.acts;
    if (!a) return;
    const pool = this.ctx.pool;
    for (const x of a.res) pool.release(x);
    for (const l of a.layers) for (const x of Object.values(l)) pool.release(x);
    for (const [k, x] of Object.entries(a)) {
      if (k === 'res' || k === 'layers' || typeof x === 'number') continue;
      pool.release(x as GpuTensor);
    }
    this.acts = null;
  }
}
