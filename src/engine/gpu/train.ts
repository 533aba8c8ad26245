// Training on WebGPU: GpuTrainer records, per micro-batch, THE forward (forward.ts, training mode: every
// layer's activations kept), the fused log-prob loss and THE backward (backward.ts), in one submit (the
// log-probs come back) — or split in two on the same kept activations when the coefficients depend on ℓ
// (GRPO): forwardLogLikelihoods (forward and ℓ; only ℓ comes back, what the loss's backward needs stays
// on the GPU) then backwardFrom (the loss's backward at the coefficients, then the backward) —
// and steps its optimizer (optimizer.ts: AdamW or SGD, global-norm clipping, LR
// schedule) on the model's own parameter buffers, in one submit (the norm comes back) — so after a step,
// GpuModel's forward and decode use the new weights.
//
// The head works over the vocabulary in chunks (headChunks.ts, option `headChunk`): no (B·T, V) logits
// buffer exists; the backward recomputes each chunk's logits from the kept final-norm output.
//
// With `recompute` (activation checkpointing), the training forward keeps only each layer's input residual
// stream (and the head's tensors); every layer's internals go into one shared set (trainActivations.ts),
// and the backward re-records each layer's forward (forward.ts recordLayer, the same kernels on the same
// inputs, so the results are bit-identical) just before that layer's backward — except the last layer,
// whose internals the forward left in the shared set.
//
// Full fine-tuning trains every parameter (gradients by HF name, kept as a table of the parameters'
// shape; a tied lm_head is the embedding, which then gets gradient from both ends); LoRA trains only the
// adapter's A and B (gradients by peft name, ref/backward.ts loraGradName) on whichever projections the
// loaded adapter has, the base frozen. Accumulation rule: see opsBackward.ts. Gradients add up over
// backward() calls (micro-batches) until step(), after which the next backward() starts them from zero.
import { expectedParameters, type Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import { packHalves } from '../model/halfFloat.ts';
import { type LoraAdapter, writeLoraAdapter } from '../model/lora.ts';
import { loraGradName } from '../ref/backward.ts';
import type { ModelInput } from '../ref/model.ts';
import { recordBackward } from './backward.ts';
import { alignTo, type GpuTensor } from './buffers.ts';
import { CallTensors } from './callTensors.ts';
import type { CommandRecorder, GpuContext } from './commands.ts';
import { type EmbeddedInput, type LayerPass, recordForward, recordLayer } from './forward.ts';
import {
  type ChunkedHead,
  type HeadTargets,
  headChunkRows,
  recordHeadBackward,
  recordHeadLoss,
} from './headChunks.ts';
import { type LoraExportMeta, loraAdapterOf } from './loraExport.ts';
import type { GpuModel } from './model.ts';
import {
  GpuOptimizer,
  type GpuOptimizerOptions,
  type GpuOptimizerState,
  type GpuStepOptions,
  type GpuStepResult,
  readTensors,
} from './optimizer.ts';
import {
  type GradientTensors,
  LINEAR_KEYS,
  type LoraGradients,
  type LoraTensors,
  layerParamName,
  mapParameters,
  namedParameters,
  type ParameterTensors,
} from './params.ts';
import {
  allocTrainActivations,
  releaseTrainActivations,
  type TrainActivations,
  trainLayer,
} from './trainActivations.ts';

export type {
  GpuOptimizerConfig,
  GpuOptimizerState,
  GpuStepOptions,
  GpuStepResult,
} from './optimizer.ts';

export interface GpuTrainerOptions extends GpuOptimizerOptions {
  /** 'full': every parameter; 'lora': only the loaded adapter's A and B (the forward applies it). */
  mode: 'full' | 'lora';
  /** Full fine-tuning: also train model.embed_tokens.weight (and so a tied head). Default true. */
  trainEmbeddings?: boolean;
  /** Keep only each layer's input residual stream and recompute the layer's internals in the backward
   * (one layer's activations instead of L; results bit-identical). Default false. */
  recompute?: boolean;
  /** Vocabulary rows per chunk of the head's logits (a multiple of 128, clamped to V): training holds
   * (B·T, headChunk) logits at a time, never (B·T, V). Default DEFAULT_HEAD_CHUNK (headChunks.ts). */
  headChunk?: number;
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

/** A micro-batch without its coefficients: what forwardLogLikelihoods scores. */
export type LikelihoodBatch = Omit<TrainBatch, 'coef'>;

/** What forwardLogLikelihoods keeps for backwardFrom besides the activations: the forward's uploaded
 * inputs (the backward reads them), the targets' gradient weights and the ℓ it read back. */
interface KeptForward {
  batch: LikelihoodBatch;
  inputs: CallTensors;
  embedded: EmbeddedInput;
  targets: HeadTargets;
  logp: Float32Array;
}

/** What forwardLogLikelihoods reads back. */
export interface LikelihoodResult {
  /** (B, T) ℓ of each position, as GpuBackwardResult.logp. */
  logp: Float32Array;
  /** (B, T, k) log_softmax(logits)[target] of each target, when asked for. */
  targetLogprobs?: Float32Array;
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

/** The adapter's gradients (trained by peft name) as a table by layer and projection. */
function loraGradients(lora: LoraTensors, gradOf: (peftName: string) => GpuTensor): LoraGradients {
  return lora.layers.map((pairs, l) => {
    const out: LoraGradients[number] = {};
    for (const key of LINEAR_KEYS) {
      if (!pairs[key]) continue;
      const base = layerParamName(l, key);
      out[key] = { dA: gradOf(loraGradName(base, 'A')), dB: gradOf(loraGradName(base, 'B')) };
    }
    return out;
  });
}

export class GpuTrainer {
  private readonly ctx: GpuContext;
  private readonly config: Qwen2Config;
  private readonly params: ParameterTensors;
  /** Every parameter by HF name (writeParams). */
  private readonly named: Map<string, GpuTensor>;
  private readonly lora: LoraTensors | null;
  private readonly optim: GpuOptimizer;
  /** The model's gradients (full fine-tuning; all null in LoRA mode). */
  private readonly grads: GradientTensors;
  /** The adapter's gradients (LoRA mode), by layer and projection. */
  private readonly loraGrads: LoraGradients | null;
  private acts: TrainActivations | null = null;
  /** The last forwardLogLikelihoods, until its backwardFrom (or anything that overwrites it). */
  private kept: KeptForward | null = null;
  private zeroPending = false;
  private disposed = false;

  private constructor(
    readonly model: GpuModel,
    readonly options: GpuTrainerOptions,
  ) {
    this.ctx = model.ctx;
    this.config = model.config;
    this.params = model.parameters();
    const tied = this.config.tieWordEmbeddings;
    this.named = namedParameters(this.params, tied);
    this.lora = options.mode === 'lora' ? model.loraTensors() : null;
    const trained: [string, GpuTensor][] = [];
    if (options.mode === 'lora') {
      if (!this.lora)
        throw new EngineError('invalid-argument', 'GpuTrainer: LoRA training needs an adapter on the model');
      for (const [base, { A, B }] of this.lora.pairs)
        trained.push([loraGradName(base, 'A'), A], [loraGradName(base, 'B'), B]);
    } else {
      const trainEmbeddings = options.trainEmbeddings !== false;
      for (const name of expectedParameters(this.config).keys()) {
        if (name === 'model.embed_tokens.weight' && !trainEmbeddings) continue;
        const p = this.named.get(name);
        // AdamW updates the weights in place: full fine-tuning keeps f32 master weights.
        if (p?.dtype && p.dtype !== 'f32')
          throw new EngineError(
            'invalid-argument',
            `full fine-tuning needs f32 weights, but ${name} is stored as ${p.dtype}: load the model with f32 weights, or train a LoRA adapter`,
          );
        if (p) trained.push([name, p]);
      }
    }
    headChunkRows(this.config.vocabSize, options.headChunk); // refuse a bad chunk before allocating
    this.optim = new GpuOptimizer(this.ctx, trained, options);
    const lora = this.lora;
    this.grads = mapParameters(this.params, tied, (name) => (lora ? null : this.optim.gradOf(name)));
    this.loraGrads = lora ? loraGradients(lora, (name) => this.optim.gradOf(name)!) : null;
  }

  /** A trainer on `model`'s parameters (or adapter). Zeroes the gradients and the optimizer state. */
  static async create(model: GpuModel, options: GpuTrainerOptions): Promise<GpuTrainer> {
    return model.exclusive(async () => {
      const t = new GpuTrainer(model, options);
      try {
        const rec = t.ctx.recorder('trainer init');
        t.optim.clearGrads(rec);
        t.optim.clearState(rec);
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
    return this.optim.trainables.map((t) => t.name);
  }

  /** Optimizer steps taken. */
  get step(): number {
    return this.optim.steps;
  }

  /** Bytes of gradients and optimizer state this trainer holds (not the saved activations). */
  stateBytes(): number {
    return this.optim.stateBytes();
  }

  /** Start the next backward() from zero gradients (step() does this too). */
  zeroGrad(): void {
    this.zeroPending = true;
  }

  /** Forward, loss and backward of one micro-batch; gradients add into the trainer's buffers. */
  backward(batch: TrainBatch, opts: GpuBackwardOptions = {}): Promise<GpuBackwardResult> {
    return this.model.exclusive(() => this.backwardNow(batch, opts));
  }

  /**
   * The training forward of one micro-batch and ℓ of every position (B·T floats, TrainBatch's rule over its
   * k targets), the only thing read back — with `targetLogprobs`, also log_softmax[target] of each of the k
   * targets (B·T·k floats, as GpuModel.forward's `targets`); the activations and what the loss's backward
   * needs (each position's log-sum-exp and its targets' gradient weights) stay on the GPU for backwardFrom.
   */
  forwardLogLikelihoods(
    batch: LikelihoodBatch,
    opts: { targetLogprobs?: boolean } = {},
  ): Promise<LikelihoodResult> {
    return this.model.exclusive(() => this.forwardLogLikelihoodsNow(batch, opts.targetLogprobs === true));
  }

  /**
   * The backward of the micro-batch the last forwardLogLikelihoods scored (the same `batch` object), at
   * coefficients `coef` (B, T): gradients of −Σ coef · ℓ add into the trainer's buffers, exactly as
   * backward() with these coefficients. Refused (EngineError 'invalid-argument') without that forward, or
   * for another batch; either way the kept forward is used up.
   */
  backwardFrom(
    batch: LikelihoodBatch,
    coef: ArrayLike<number>,
    opts: GpuBackwardOptions = {},
  ): Promise<GpuBackwardResult> {
    return this.model.exclusive(() => this.backwardFromNow(batch, coef, opts));
  }

  /** Gradient norm, clipping and one optimizer update of every trained tensor. */
  stepOptimizer(opts: GpuStepOptions = {}): Promise<GpuStepResult> {
    return this.model.exclusive(async () => {
      this.checkAlive();
      this.dropKept(); // its activations were made with the parameters this step changes
      const result = await this.optim.step(opts);
      this.zeroPending = true;
      return result;
    });
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
    return this.model.exclusive(() => this.read(this.optim.trainables.map((t) => [t.name, t.grad])));
  }

  /** The trained tensors' current values by name. */
  readParams(): Promise<Map<string, Float32Array>> {
    return this.model.exclusive(() => this.read(this.optim.trainables.map((t) => [t.name, t.param])));
  }

  /** Overwrite parameters on the device: any model parameter by HF name, or a trained tensor by name. */
  writeParams(values: ReadonlyMap<string, Float32Array>): Promise<void> {
    return this.model.exclusive(async () => {
      this.checkAlive();
      this.dropKept();
      for (const [name, data] of values) {
        const t = this.optim.paramOf(name) ?? this.named.get(name);
        if (!t) throw new EngineError('invalid-argument', `writeParams: unknown parameter ${name}`);
        const half = t.dtype === 'f16' || t.dtype === 'bf16' ? t.dtype : null;
        const bytes = half ? alignTo(data.length * 2, 4) : data.length * 4;
        if (bytes !== t.bytes)
          throw new EngineError('tensor-shape', `writeParams: ${name} has ${data.length} elements`);
        const host = half ? packHalves(data, half) : data;
        this.ctx.device.queue.writeBuffer(t.buffer, t.offset, host.buffer, host.byteOffset, host.byteLength);
      }
    });
  }

  /** Zero the optimizer state and the step count (the schedule starts over). */
  resetOptimizer(): Promise<void> {
    return this.model.exclusive(async () => {
      this.checkAlive();
      const rec = this.ctx.recorder('optimizer reset');
      this.optim.clearState(rec);
      await rec.submit();
      this.optim.steps = 0;
    });
  }

  /**
   * The optimizer state read back from the device (checkpoints): with the parameters, what makes a
   * resumed run continue exactly. Read a tensor group at a time (≤ 64 MiB of staging per submit).
   */
  readOptimizerState(): Promise<GpuOptimizerState> {
    return this.model.exclusive(async () => {
      this.checkAlive();
      return this.optim.readState();
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
      this.optim.writeState(s);
    });
  }

  /** The trained adapter read back from the device (LoRA mode). `alpha` defaults to scale · r. */
  async loraAdapter(meta: LoraExportMeta = {}): Promise<LoraAdapter> {
    const lora = this.lora;
    if (!lora) throw new EngineError('invalid-argument', 'loraAdapter: this trainer is not training LoRA');
    return loraAdapterOf(lora, await this.readParams(), meta);
  }

  /** The trained adapter in peft's format (adapter_config.json text, adapter_model.safetensors bytes). */
  async saveLoraAdapter(
    baseModelName: string | null,
    meta: LoraExportMeta = {},
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
    this.optim.release();
    this.dropKept();
    this.releaseActs();
  }

  /** Forget the kept forward (its inputs go back to the pool). */
  private dropKept(): void {
    this.kept?.inputs.releaseAll();
    this.kept = null;
  }

  private checkAlive(): void {
    if (this.disposed) throw new EngineError('not-loaded', 'GpuTrainer was disposed');
    if (this.options.mode === 'lora' && this.model.loraTensors() !== this.lora)
      throw new EngineError('invalid-argument', 'GpuTrainer: the adapter was replaced; make a new trainer');
  }

  private read(list: [string, GpuTensor][]): Promise<Map<string, Float32Array>> {
    this.checkAlive();
    return readTensors(this.ctx, list);
  }

  /** Checks a batch's shapes (and `coef`'s, when given) before anything is recorded. */
  private checkBatch(batch: LikelihoodBatch, coef: ArrayLike<number> | null): void {
    const { B, T } = batch;
    const N = B * T;
    if (!(Number.isInteger(B) && B >= 1 && Number.isInteger(T) && T >= 1))
      throw new EngineError('invalid-argument', `backward: B = ${B}, T = ${T}`);
    const K = batch.k ?? 1;
    if (!(Number.isInteger(K) && K >= 1)) throw new EngineError('invalid-argument', `backward: k = ${K}`);
    if (batch.targets.length !== N * K)
      throw new EngineError('invalid-argument', `backward: targets need B·T·k = ${N * K} entries`);
    if (coef && coef.length !== N)
      throw new EngineError('invalid-argument', `backward: coef needs B·T = ${N} entries`);
    if (batch.weights && batch.weights.length !== N * K)
      throw new EngineError('invalid-argument', `backward: weights need B·T·k = ${N * K} entries`);
  }

  private async backwardNow(batch: TrainBatch, opts: GpuBackwardOptions): Promise<GpuBackwardResult> {
    this.checkAlive();
    this.checkBatch(batch, batch.coef);
    this.dropKept();
    const N = batch.B * batch.T;
    const acts = this.activations(batch.B, batch.T);
    const rec = this.ctx.recorder('train backward');
    const inputs = new CallTensors(this.ctx);
    let logp = -1;
    let bufs: ArrayBuffer[];
    let read: (bufs: ArrayBuffer[], out: GpuBackwardResult) => void;
    try {
      if (this.zeroPending) this.optim.clearGrads(rec);
      const embedded = this.recordForward(rec, inputs, batch, acts);
      const targets = this.recordLoss(rec, inputs, batch, acts, null);
      logp = rec.read(acts.logp, N * 4);
      const coef = inputs.upload('loss coef', Float32Array.from(batch.coef));
      const head = { targets, coef, dloss: opts.dloss ?? 1 };
      read = this.recordBackward(rec, inputs, batch, acts, embedded, head, opts.inputGrads === true);
      bufs = await rec.submit();
      this.zeroPending = false;
    } finally {
      inputs.releaseAll();
    }
    return this.result(batch.coef, new Float32Array(bufs[logp]), bufs, read);
  }

  private async forwardLogLikelihoodsNow(
    batch: LikelihoodBatch,
    targetLogprobs: boolean,
  ): Promise<LikelihoodResult> {
    this.checkAlive();
    this.checkBatch(batch, null);
    this.dropKept();
    const { B, T } = batch;
    const [N, K] = [B * T, batch.k ?? 1];
    const acts = this.activations(B, T);
    const rec = this.ctx.recorder('train forward (log-likelihoods)');
    const inputs = new CallTensors(this.ctx);
    try {
      const embedded = this.recordForward(rec, inputs, batch, acts);
      const tlp = targetLogprobs ? inputs.tensor('target logprobs', N * K) : null;
      const targets = this.recordLoss(rec, inputs, batch, acts, tlp);
      if (tlp) rec.read(tlp, N * K * 4);
      rec.read(acts.logp, N * 4);
      const bufs = await rec.submit();
      const logp = new Float32Array(bufs[bufs.length - 1]);
      this.kept = { batch, inputs, embedded, targets, logp };
      return targetLogprobs ? { logp, targetLogprobs: new Float32Array(bufs[0]) } : { logp };
    } catch (e) {
      inputs.releaseAll();
      throw e;
    }
  }

  private async backwardFromNow(
    batch: LikelihoodBatch,
    coef: ArrayLike<number>,
    opts: GpuBackwardOptions,
  ): Promise<GpuBackwardResult> {
    this.checkAlive();
    const kept = this.kept;
    this.kept = null;
    try {
      if (!kept)
        throw new EngineError('invalid-argument', 'backwardFrom: no forwardLogLikelihoods to continue from');
      if (kept.batch !== batch)
        throw new EngineError(
          'invalid-argument',
          'backwardFrom: the batch is not the one the last forwardLogLikelihoods scored',
        );
      this.checkBatch(batch, coef);
      const acts = this.activations(batch.B, batch.T);
      const rec = this.ctx.recorder('train backward (kept forward)');
      if (this.zeroPending) this.optim.clearGrads(rec);
      const coefT = kept.inputs.upload('loss coef', Float32Array.from(coef));
      const head = { targets: kept.targets, coef: coefT, dloss: opts.dloss ?? 1 };
      const inputGrads = opts.inputGrads === true;
      const read = this.recordBackward(rec, kept.inputs, batch, acts, kept.embedded, head, inputGrads);
      const bufs = await rec.submit();
      this.zeroPending = false;
      return this.result(coef, kept.logp, bufs, read);
    } finally {
      kept?.inputs.releaseAll();
    }
  }

  /** The loss −Σ coef · ℓ (f64) and what the backward read back. */
  private result(
    coef: ArrayLike<number>,
    logp: Float32Array,
    bufs: ArrayBuffer[],
    read: (bufs: ArrayBuffer[], out: GpuBackwardResult) => void,
  ): GpuBackwardResult {
    let loss = 0;
    for (let n = 0; n < logp.length; n++) loss -= coef[n] * logp[n];
    const out: GpuBackwardResult = { loss, logp };
    read(bufs, out);
    return out;
  }

  /** What a training layer's recording reads: the whole sequence from position 0, no cache. */
  private layerPass(batch: LikelihoodBatch, a: TrainActivations): LayerPass {
    const { config, params, lora } = this;
    const kv = { mask: a.mask, start: 0, capacity: batch.T };
    return { config, params, lora, B: batch.B, T: batch.T, kv, cs: a.cs, loraTmp: a.loraU };
  }

  /** The forward (forward.ts, training mode): the whole sequence, every layer's activations kept (or,
   * with recompute, every layer's input residual stream and one shared set of internals). */
  private recordForward(
    rec: CommandRecorder,
    inputs: CallTensors,
    batch: LikelihoodBatch,
    a: TrainActivations,
  ): EmbeddedInput {
    return recordForward(rec, {
      ...this.layerPass(batch, a),
      inputs,
      input: batch.input,
      positionIds: batch.positionIds,
      attentionMask: batch.attentionMask,
      layer: (l) => trainLayer(a, l),
      head: { rstd: a.rstdF, normed: a.normedF, logits: null, lastRows: null },
    });
  }

  /** The head of the training forward (headChunks.ts, a vocabulary chunk at a time): ℓ into a.logp and,
   * with `tlp` (N, K), each target's log-prob; returns the targets with what the loss's backward needs. */
  private recordLoss(
    rec: CommandRecorder,
    inputs: CallTensors,
    batch: LikelihoodBatch,
    a: TrainActivations,
    tlp: GpuTensor | null,
  ): HeadTargets {
    const V = this.config.vocabSize;
    const N = batch.B * batch.T;
    const K = batch.k ?? 1;
    const targets: HeadTargets = {
      K,
      targets: inputs.ids('targets', batch.targets, N * K, V),
      weights: batch.weights ? inputs.upload('target weights', Float32Array.from(batch.weights)) : null,
      renormalise: batch.renormalise === true,
      gathered: inputs.tensor('target logits / gradient weights', N * K),
    };
    recordHeadLoss(rec, this.head(N, a), targets, a.logp, tlp);
    return targets;
  }

  /** The chunked head's tensors for N positions. */
  private head(N: number, a: TrainActivations): ChunkedHead {
    const { hiddenSize: C, vocabSize: V } = this.config;
    const Vc = headChunkRows(V, this.options.headChunk);
    return {
      N,
      C,
      V,
      Vc,
      normed: a.normedF,
      lmHead: this.params.lmHead,
      chunk: a.logits,
      stats: a.headStats,
    };
  }

  /** The backward (backward.ts) into the model's or the adapter's gradients, with the reads of d loss /
   * d inputs when asked for; returns how to put those reads into the result. */
  private recordBackward(
    rec: CommandRecorder,
    inputs: CallTensors,
    batch: LikelihoodBatch,
    acts: TrainActivations,
    embedded: EmbeddedInput,
    head: { targets: HeadTargets; coef: GpuTensor; dloss: number },
    inputGrads: boolean,
  ): (bufs: ArrayBuffer[], out: GpuBackwardResult) => void {
    const lora = this.lora && this.loraGrads ? { tensors: this.lora, grads: this.loraGrads } : null;
    const N = batch.B * batch.T;
    const headBackward = () =>
      recordHeadBackward(
        rec,
        this.head(N, acts),
        head.targets,
        head.coef,
        head.dloss,
        acts.dnormed,
        this.grads.lmHead,
      );
    // Recompute: the shared set holds the last layer's internals (the forward wrote it last); every other
    // layer is re-recorded from its kept input residual just before its backward.
    const last = this.config.numHiddenLayers - 1;
    const pass = acts.recompute ? this.layerPass(batch, acts) : null;
    const recomputeLayer = pass
      ? (l: number) => {
          if (l !== last) recordLayer(rec, pass, l, trainLayer(acts, l));
        }
      : undefined;
    const grads = recordBackward(rec, {
      config: this.config,
      params: this.params,
      grads: this.grads,
      lora,
      B: batch.B,
      T: batch.T,
      acts,
      input: batch.input,
      embedded,
      inputs,
      inputGrads,
      recomputeLayer,
      headBackward,
    });
    if (!inputGrads) return () => {};
    const C = this.config.hiddenSize;
    const dembeds = rec.read(acts.dres, batch.B * batch.T * C * 4);
    const dmix = grads.dmix ? rec.read(grads.dmix) : -1;
    const dprobs = grads.dprobs ? rec.read(grads.dprobs) : -1;
    return (bufs, out) => {
      out.dembeds = new Float32Array(bufs[dembeds]);
      if (dmix >= 0) out.dmixWeights = new Float32Array(bufs[dmix]);
      if (dprobs >= 0) out.dprobs = new Float32Array(bufs[dprobs]);
    };
  }

  private activations(B: number, T: number): TrainActivations {
    if (this.acts && this.acts.B === B && this.acts.T === T) return this.acts;
    this.releaseActs();
    const recompute = this.options.recompute === true;
    const chunk = headChunkRows(this.config.vocabSize, this.options.headChunk);
    this.acts = allocTrainActivations(this.ctx, this.config, B, T, this.lora?.r ?? 1, recompute, chunk);
    return this.acts;
  }

  private releaseActs(): void {
    if (this.acts) releaseTrainActivations(this.ctx, this.acts);
    this.acts = null;
  }
}
