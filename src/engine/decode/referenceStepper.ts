// The correct rollout stepper on any backend (the contract: stepper.ts): the backend's forward with a KV cache,
// logits and hidden states read back, and the CPU mixture step (src/mot/step.ts) on each row.
import { energyEntropy } from '../../mot/diagnostics.ts';
import { type Counters, gaussianNoise } from '../../mot/random.ts';
import { mixtureStep, type StepRecord } from '../../mot/step.ts';
import type { Backend, ForwardOptions, KvCacheHandle } from '../backend.ts';
import { hiddenEntropyForward } from '../ref/logits.ts';
import type { ForwardResult, ModelInput } from '../ref/model.ts';
import {
  groupRowCopies,
  type ModelShape,
  type PrefillRequest,
  promptRowsOf,
  type RolloutStepper,
  type RowInput,
  type RowMode,
  type RowStep,
  type StepperConfig,
  type StepRequest,
} from './stepper.ts';

/**
 * e_t of one position into out[offset .. offset + C): Σ_j fround(w_j) · E[ids_j] (accumulated in doubles)
 * plus std · n with n from the counters (random.ts gaussianNoise), rounded to f32.
 */
export function mixtureEmbedding(
  out: Float32Array,
  offset: number,
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  E: Float32Array,
  C: number,
  noise: { std: number; counters: Counters } | null,
): void {
  const acc = new Float64Array(C);
  for (let j = 0; j < ids.length; j++) {
    const w = Math.fround(weights[j]);
    const base = ids[j] * C;
    for (let c = 0; c < C; c++) acc[c] += w * E[base + c];
  }
  if (noise && noise.std > 0) {
    const n = gaussianNoise(noise.counters, C);
    for (let c = 0; c < C; c++) acc[c] += noise.std * n[c];
  }
  for (let c = 0; c < C; c++) out[offset + c] = acc[c];
}

/**
 * The correct path on any backend: the backend's forward with the cache, the logits (and hidden states) read
 * back, and src/mot/step.ts on each row. Next inputs are built on the host: a 'mixture' input, or 'embeds'
 * when a step adds noise.
 */
export class ReferenceStepper implements RolloutStepper {
  readonly path = 'reference' as const;
  private readonly cache: KvCacheHandle;
  private readonly last: (StepRecord | null)[];

  constructor(
    private readonly backend: Backend,
    private readonly shape: ModelShape,
    private readonly cfg: StepperConfig,
    /** The embedding matrix (V, C); needed only when steps add noise. */
    private readonly E: Float32Array | null,
  ) {
    this.cache = backend.createCache(cfg.B, cfg.capacity);
    this.last = new Array(cfg.B).fill(null);
  }

  /** The prompts once each (one row per prompt, in a cache of their own), their cache rows copied to the
   * G batch rows of each, and every batch row sampled from its prompt's last-position logits. */
  async prefill(req: PrefillRequest): Promise<(RowStep | null)[]> {
    const { B } = this.cfg;
    const P = promptRowsOf(req, B);
    const input: ModelInput = { kind: 'ids', ids: req.ids };
    const opts: ForwardOptions = {
      positionIds: req.positions,
      attentionMask: req.mask,
      hiddenStates: this.cfg.hiddenEntropy,
      lora: this.cfg.lora,
    };
    if (P === B) {
      const res = await this.backend.forward(input, B, req.T, { ...opts, cache: this.cache });
      return this.sample(res, req.T, req.modes, req.step, 1);
    }
    const prompts = this.backend.createCache(P, req.T);
    try {
      const res = await this.backend.forward(input, P, req.T, { ...opts, cache: prompts });
      await this.backend.copyCacheRows(prompts, this.cache, groupRowCopies(P, B / P), req.T);
      return this.sample(res, req.T, req.modes, req.step, B / P);
    } finally {
      prompts.dispose();
    }
  }

  async step(req: StepRequest): Promise<(RowStep | null)[]> {
    const input = this.buildInput(req.inputs);
    const res = await this.backend.forward(input, this.cfg.B, 1, {
      cache: this.cache,
      positionIds: req.positions,
      attentionMask: req.mask,
      hiddenStates: this.cfg.hiddenEntropy,
      lora: this.cfg.lora,
    });
    return this.sample(res, 1, req.modes, req.step, 1);
  }

  dispose(): void {
    this.cache.dispose();
  }

  private buildInput(inputs: RowInput[]): ModelInput {
    const { B } = this.cfg;
    const C = this.shape.hiddenSize;
    const rows = inputs.map((inp, b) => {
      if (inp.kind === 'id') return { ids: [inp.id], weights: [1], noise: null };
      const r = this.last[b];
      if (!r) throw new Error(`rollout: row ${b} has no previous action to feed`);
      const noise =
        r.noise !== null && this.cfg.noiseStd > 0 ? { std: this.cfg.noiseStd, counters: r.counters } : null;
      return { ids: r.ids, weights: r.weights, noise };
    });
    if (rows.some((r) => r.noise !== null)) {
      if (!this.E) throw new Error('rollout: noisy steps need the embedding matrix');
      const embeds = new Float32Array(B * C);
      const E = this.E;
      rows.forEach((r, b) => {
        mixtureEmbedding(embeds, b * C, r.ids, r.weights, E, C, r.noise);
      });
      return { kind: 'embeds', embeds };
    }
    const K = Math.max(...rows.map((r) => r.ids.length));
    const ids = new Int32Array(B * K);
    const weights = new Float32Array(B * K);
    rows.forEach((r, b) => {
      for (let j = 0; j < r.ids.length; j++) {
        ids[b * K + j] = r.ids[j];
        weights[b * K + j] = r.weights[j];
      }
      for (let j = r.ids.length; j < K; j++) ids[b * K + j] = r.ids[0];
    });
    return { kind: 'mixture', ids, weights, k: K };
  }

  /** Each batch row b's record from row ⌊b / G⌋ of the forward (G batch rows per forward row). */
  private sample(
    res: ForwardResult,
    T: number,
    modes: RowMode[],
    step: number,
    G: number,
  ): (RowStep | null)[] {
    const { vocabSize: V, hiddenSize: C, numHiddenLayers: L } = this.shape;
    const out: (RowStep | null)[] = [];
    const h = new Float32Array(1);
    for (let b = 0; b < this.cfg.B; b++) {
      const mode = modes[b];
      if (mode === 'skip') {
        out.push(null);
        continue;
      }
      const at = Math.floor(b / G) * T + T - 1;
      const logits = res.logits.subarray(at * V, (at + 1) * V);
      const record = mixtureStep(
        logits,
        V,
        this.cfg.settings,
        { seed: this.cfg.seed, row: b, step },
        { phase: mode === 'answer' ? 'answer' : 'thinking', hiddenSize: C },
      );
      const hiddenEntropy: number[] = [];
      const hiddenEntropyScaleFree: number[] = [];
      if (this.cfg.hiddenEntropy && res.hidden) {
        for (let l = 0; l < L; l++) {
          hiddenEntropyForward(h, res.hidden.layers[l].subarray(at * C, (at + 1) * C), 1, C);
          hiddenEntropy.push(h[0]);
          hiddenEntropyScaleFree.push(energyEntropy(res.hidden.layers[l], at * C, C));
        }
      }
      this.last[b] = record;
      out.push({ record, hiddenEntropy, hiddenEntropyScaleFree });
    }
    return out;
  }
}
