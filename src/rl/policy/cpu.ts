// The CPU reference policy for GRPO (any likelihood mode): qwen2ForwardTrain → ℓ and dℓ/dlogits of every
// action from its GradTerms → qwen2Backward with that dense dlogits, accumulated over micro-batches; then
// global-norm clipping and an SGD / AdamW step of train/optim.ts, whose state a checkpoint saves exactly.

import type { Qwen2Config } from '../../engine/config.ts';
import { CpuBackend } from '../../engine/cpuBackend.ts';
import { ReferenceStepper } from '../../engine/decode/referenceStepper.ts';
import type { RolloutStepper, StepperConfig } from '../../engine/decode/stepper.ts';
import { EngineError } from '../../engine/errors.ts';
import { loraGradName, qwen2Backward, qwen2ForwardTrain } from '../../engine/ref/backward.ts';
import type { LoraWeights, RefModel } from '../../engine/ref/model.ts';
import { cloneWeights, type WeightMap } from '../../engine/tensor.ts';
import {
  AdamW,
  globalGradNorm,
  guardedUpdate,
  type OptimizerState,
  PARAMETER_LIMIT,
  Sgd,
} from '../../engine/train/optim.ts';
import { denseFromTerms, type EmbeddingContext } from '../../mot/likelihood.ts';
import type { MotSettings } from '../../mot/settings.ts';
import { TrainingError } from '../errors.ts';
import type { TrainingBatch } from '../trainingBatch.ts';
import { actionTerms, type GrpoPolicy, type PolicyState, type PolicyUpdate } from './policy.ts';

export interface CpuPolicyOptions {
  mode: 'full' | 'lora';
  optim: 'sgd' | 'adamw';
  /** Full fine-tuning: train the embedding (and a tied head). Default true. */
  trainEmbeddings?: boolean;
}

/** The CPU reference policy: any likelihood mode. Trains `weights` (or `adapter`) in place. */
export class CpuPolicy implements GrpoPolicy {
  readonly kind = 'cpu' as const;
  readonly embedding: Float32Array | null;
  private readonly model: RefModel;
  private readonly refModel: RefModel;
  private readonly backend: CpuBackend;
  private readonly params = new Map<string, Float32Array>();
  private readonly grads = new Map<string, Float32Array>();
  /** PyTorch's defaults, no weight decay (TRL's GRPO default), the rate set per update by the schedule. */
  private readonly optimizer: AdamW | Sgd;

  constructor(
    readonly config: Qwen2Config,
    weights: WeightMap,
    private readonly adapter: LoraWeights | null,
    private readonly o: CpuPolicyOptions,
  ) {
    if (o.mode === 'lora' && !adapter)
      throw new TrainingError('no-adapter', "mode 'lora' needs a loaded LoRA adapter");
    this.model = { config, weights };
    this.backend = new CpuBackend(config, weights, o.mode === 'lora' ? adapter : null);
    this.embedding = weights.get('model.embed_tokens.weight')?.data ?? null;
    // Reference: the starting model (LoRA: the base, adapter off; full: a frozen copy).
    this.refModel = o.mode === 'lora' ? this.model : { config, weights: cloneWeights(weights) };
    if (o.mode === 'lora' && adapter) {
      for (const [base, pair] of adapter.layers) {
        this.params.set(loraGradName(base, 'A'), pair.A.data);
        this.params.set(loraGradName(base, 'B'), pair.B.data);
      }
    } else {
      for (const [name, t] of weights) {
        if (name === 'model.embed_tokens.weight' && o.trainEmbeddings === false) continue;
        this.params.set(name, t.data);
      }
    }
    this.optimizer = o.optim === 'adamw' ? new AdamW({ weightDecay: 0 }) : new Sgd();
  }

  makeStepper(cfg: StepperConfig): RolloutStepper {
    const C = this.config.hiddenSize;
    return new ReferenceStepper(
      this.backend,
      { vocabSize: this.config.vocabSize, hiddenSize: C, numHiddenLayers: this.config.numHiddenLayers },
      { ...cfg, lora: this.o.mode === 'lora' },
      this.embedding,
    );
  }

  private ctx(): { embedding?: EmbeddingContext } {
    return this.embedding ? { embedding: { E: this.embedding, C: this.config.hiddenSize } } : {};
  }

  async referenceLogLikelihoods(batch: TrainingBatch, s: MotSettings): Promise<Float64Array> {
    const acts = qwen2ForwardTrain(this.refModel, batch.input, batch.B, batch.T, {
      positionIds: batch.positionIds,
      attentionMask: batch.attentionMask,
      lora: null,
    });
    return actionTerms(acts.logits, this.config.vocabSize, batch, s, this.ctx(), false).values;
  }

  async accumulate(
    batch: TrainingBatch,
    s: MotSettings,
    coefOf: (logp: Float64Array) => Float64Array,
  ): Promise<Float64Array> {
    const V = this.config.vocabSize;
    const saved = qwen2ForwardTrain(this.model, batch.input, batch.B, batch.T, {
      positionIds: batch.positionIds,
      attentionMask: batch.attentionMask,
      lora: this.o.mode === 'lora' ? this.adapter : null,
    });
    const { values, terms } = actionTerms(saved.logits, V, batch, s, this.ctx(), true);
    const coef = coefOf(values);
    const dlogits = new Float32Array(saved.logits.length);
    batch.actions.forEach((a, i) => {
      const c = coef[i];
      if (c === 0) return;
      const at = a.row * batch.T + a.position;
      const row = saved.logits.subarray(at * V, (at + 1) * V);
      const d = denseFromTerms(terms[i], row, V);
      for (let v = 0; v < V; v++) dlogits[at * V + v] += c * d[v];
    });
    qwen2Backward(saved, dlogits, {
      lora: this.o.mode === 'lora',
      grads: this.grads,
      trainEmbeddings: this.o.trainEmbeddings,
    });
    return values;
  }

  async update(lr: number, maxGradNorm: number): Promise<PolicyUpdate> {
    // Only the trained parameters' gradients (the backward may also fill a frozen embedding's).
    const grads = new Map([...this.grads].filter(([k]) => this.params.has(k)));
    const norm = globalGradNorm(grads.values());
    if (!Number.isFinite(norm)) {
      this.discardGrads();
      return { gradNorm: norm, applied: false, reason: 'the gradient is not finite' };
    }
    if (maxGradNorm > 0 && norm > maxGradNorm) {
      const f = maxGradNorm / (norm + 1e-6); // torch clip_grad_norm_
      for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= f;
    }
    // Refused when it would leave a parameter non-finite or past PARAMETER_LIMIT: nothing changes.
    const r = guardedUpdate(this.optimizer, this.params, grads, lr);
    this.discardGrads();
    if (r.applied) return { gradNorm: norm, applied: true };
    const limit = PARAMETER_LIMIT.toExponential(0);
    return {
      gradNorm: norm,
      applied: false,
      reason: `the update would leave ${r.tensor} past ±${limit} or non-finite`,
    };
  }

  discardGrads(): void {
    for (const g of this.grads.values()) g.fill(0);
  }

  /** The accumulated gradients (tests). */
  peekGrads(): ReadonlyMap<string, Float32Array> {
    return this.grads;
  }

  async exportState(opts: { optimizer?: boolean } = {}): Promise<PolicyState> {
    const params: Record<string, Float32Array> = {};
    for (const [k, p] of this.params) params[k] = p.slice();
    return { params, optimizer: opts.optimizer === false ? null : this.optimizer.state() };
  }

  /** Everything is checked before anything is written: a refused checkpoint changes nothing. */
  async importState(s: PolicyState): Promise<void> {
    for (const [k, p] of this.params) {
      const v = s.params[k];
      if (!v || v.length !== p.length)
        throw new TrainingError('bad-checkpoint', `checkpoint lacks ${k} or its shape differs`);
    }
    // No optimizer state saved: it starts over (as GpuPolicy's).
    this.loadOptimizer(s.optimizer ?? { kind: this.optimizer.kind, t: 0, slots: {} });
    for (const [k, p] of this.params) p.set(s.params[k]);
  }

  private loadOptimizer(o: OptimizerState): void {
    if (o.kind !== this.optimizer.kind)
      throw new TrainingError(
        'bad-checkpoint',
        `checkpoint optimizer ${o.kind}, run uses ${this.optimizer.kind}`,
      );
    for (const [k, slot] of Object.entries(o.slots)) {
      const p = this.params.get(k);
      if (p && slot.bufs.some((b) => b.length !== p.length))
        throw new TrainingError('bad-checkpoint', `checkpoint optimizer: ${k}'s state has the wrong size`);
    }
    try {
      this.optimizer.load(o);
    } catch (e) {
      if (e instanceof EngineError && e.code === 'invalid-argument')
        throw new TrainingError('bad-checkpoint', `checkpoint optimizer: ${e.message}`);
      throw e;
    }
  }

  dispose(): void {}
}
