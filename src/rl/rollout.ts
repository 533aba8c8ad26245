// Mixture-of-token rollouts (MOTG.md §1): prompts × G trajectories decoded together in one left-padded batch
// with a KV cache. Every row advances one position per step; a row's step is a mixture step in the thinking
// phase (per the settings) and a discrete step after it, its stop state follows src/mot/stop.ts, and tokens a
// stop rule forces (`</think>`) are fed one per step without a sample. Rows finish at different times (EOS,
// length) and then feed masked padding until the batch is done.
//
// The loop here is backend-agnostic: a RolloutStepper runs the forward and the mixture step. Two exist:
// ReferenceStepper (below: any Backend's forward, logits on the host, the CPU step src/mot/step.ts) and the
// GPU fast path (engine/gpu/mixture.ts: the step in WGSL in the decode's command encoder, only records read
// back). Both draw from the same counters {seed, row, step} — row = prompt · G + g, step = the loop step —
// so the same seed gives the same rollouts on either.
//
// The records are exact to replay: buildTrainingBatch turns trajectories into the training forward's inputs
// (ids for prompt and discrete positions, (ids, weights) mixtures for mixture steps, plus the step's noise),
// and replayLogLikelihoods recomputes every behaviour log-likelihood from them.
import type { Backend, KvCacheHandle } from '../engine/backend.ts';
import { hiddenEntropyForward } from '../engine/ref/logits.ts';
import type { ForwardResult, ModelInput } from '../engine/ref/model.ts';
import { actionLogLikelihood, type EmbeddingContext, embeddingRms } from '../mot/likelihood.ts';
import { makeSettings } from '../mot/presets.ts';
import { type Counters, gaussianNoise } from '../mot/random.ts';
import { type MotSettings, type PresetName, SettingsError } from '../mot/settings.ts';
import { mixtureStep, type Phase, type StepRecord } from '../mot/step.ts';
import {
  advanceStop,
  initialStopState,
  STOP_DEFAULTS,
  type StopEvent,
  type StopSettings,
  type StopState,
  validateStopSettings,
} from '../mot/stop.ts';

/** Default system prompt of a rollout (MOTG.md §3): reasoning in <think>, the answer in <answer>. */
export const ROLLOUT_SYSTEM_PROMPT =
  'You are a helpful assistant. First reason about the question inside <think> </think>, then give only ' +
  'the final answer inside <answer> </answer>.';
/** The assistant turn is prefilled with this (MOTG.md §3). */
export const THINK_PREFILL = '<think>';

/** What chat formatting needs from a tokenizer (engine/model/tokenizer.ts Tokenizer has it). */
export interface ChatFormatter {
  readonly hasChatTemplate: boolean;
  applyChatTemplate(
    messages: { role: string; content: string }[],
    options: { addGenerationPrompt?: boolean },
  ): string;
}

export interface PromptFormat {
  /** Use the chat template (default: when the tokenizer has one). */
  chat?: boolean;
  /** System message (default: the template's own when it asks for `<answer>`, else ROLLOUT_SYSTEM_PROMPT;
   * null: none, the template may insert its own). */
  systemPrompt?: string | null;
  /** Text that opens the assistant turn (default `<think>`). */
  prefill?: string;
}

/**
 * Whether the chat template, given no system message, inserts one that asks for `<answer>` — a model trained on
 * its own prompt format (the built-in model) — so the rollout prompt keeps that prompt instead of ours.
 */
export function templateAsksForAnswer(tok: ChatFormatter): boolean {
  if (!tok.hasChatTemplate) return false;
  const probe = tok.applyChatTemplate([{ role: 'user', content: '\u0000' }], { addGenerationPrompt: false });
  const beforeUser = probe.slice(0, probe.indexOf('\u0000'));
  return /system/.test(beforeUser) && beforeUser.includes('<answer>');
}

/**
 * The prompt text of a question (MOTG.md §3): the system prompt, the question as the user turn, the assistant
 * turn opened and prefilled with `<think>`; without a chat template, the question followed by the prefill.
 * Encode it without added special tokens.
 */
export function rolloutPromptText(question: string, tok: ChatFormatter, f: PromptFormat = {}): string {
  const prefill = f.prefill ?? THINK_PREFILL;
  if (!(f.chat ?? tok.hasChatTemplate)) return question + prefill;
  const system =
    f.systemPrompt !== undefined ? f.systemPrompt : templateAsksForAnswer(tok) ? null : ROLLOUT_SYSTEM_PROMPT;
  const messages = [
    ...(system === null ? [] : [{ role: 'system', content: system }]),
    { role: 'user', content: question },
  ];
  return tok.applyChatTemplate(messages, { addGenerationPrompt: true }) + prefill;
}

/** One step's record (MOTG.md §1) with where it sits in its trajectory. */
export interface RolloutRecord extends StepRecord {
  /** `thinking`: the step followed the settings; `answer`: a discrete step after the thinking phase. */
  phase: Phase;
  /** The loop step that produced it (= counters.step). */
  step: number;
  /** Index, in the trajectory's unpadded sequence (prompt then completion inputs), of the position whose
   * logits produced this action. */
  position: number;
  /** Entropy (nats) of softmax over the C hidden dimensions of the residual stream after each layer, at that
   * position (MOTG.md §4); empty when not asked for. */
  hiddenEntropy: number[];
}

/** What one completion position fed to the model: the action of record `record`, or a token (forced `</think>`). */
export type CompletionInput = { kind: 'action'; record: number } | { kind: 'token'; id: number };

export interface TrajectoryStats {
  /** Completion tokens: representatives and forced tokens (EOS not counted). */
  length: number;
  /** Sampled steps (records), the EOS step included. */
  steps: number;
  mixtureSteps: number;
  forcedTokens: number;
  /** Record index after which the thinking phase ended (null: it never did). */
  switchStep: number | null;
  /** Completion tokens before the answer phase (the `</think>` tokens included); null: never switched. */
  switchToken: number | null;
  /** Why the thinking phase ended ('none': it did not). */
  switchReason: StopEvent;
  /** Mean effective number of mixed tokens 1/Σw² over mixture steps (0 without mixture steps). */
  meanEffectiveTokens: number;
  /** Mixture steps whose representative is not the argmax. */
  representativeNotArgmax: number;
  /** Distinct token ids among the completion tokens. */
  distinctTokens: number;
  /** Mean next-token entropy over the steps (nats). */
  meanEntropy: number;
}

export interface Trajectory {
  /** Batch row: promptIndex · G + g (also counters.row of its records). */
  row: number;
  promptIndex: number;
  g: number;
  promptIds: number[];
  records: RolloutRecord[];
  /** Completion inputs in position order: promptIds.length + i is the position of inputs[i]. */
  inputs: CompletionInput[];
  /** Completion token ids (representatives and forced tokens), EOS excluded. */
  tokens: number[];
  /** Text of `tokens`: the completion after the prefilled `<think>` (what the reward reads). */
  completion: string;
  /** Text of the thinking-phase tokens (representatives, and a forced `</think>`). */
  thinking: string;
  /** Text of the answer-phase tokens. */
  answer: string;
  stopReason: 'eos' | 'length' | 'cancelled';
  stats: TrajectoryStats;
}

/** What changed in one row at one step (for a UI following the rollout). */
export interface RolloutRowUpdate {
  row: number;
  /** The record sampled at this step, if any. */
  record: RolloutRecord | null;
  /** Tokens appended to the transcript (the representative unless EOS, then forced tokens). */
  tokens: number[];
  text: string;
  done: boolean;
  stopReason: Trajectory['stopReason'] | null;
}

export interface RolloutStepEvent {
  step: number;
  updates: RolloutRowUpdate[];
  /** Rows still running after this step. */
  active: number;
}

// ---- Steppers ---------------------------------------------------------------------------------------

/** What a row does at a step: nothing (finished, or forced tokens still to feed), or sample by phase. */
export type RowMode = 'skip' | 'thinking' | 'answer';

/** A row's input at a step after the prompt: its previous action (mixture or token), or a given token id. */
export type RowInput = { kind: 'action' } | { kind: 'id'; id: number };

export interface StepperConfig {
  B: number;
  /** KV cache positions per row (padded prompt + new tokens). */
  capacity: number;
  settings: MotSettings;
  seed: number;
  /** Use the loaded LoRA adapter. */
  lora: boolean;
  /** Compute the hidden-state entropy per layer. */
  hiddenEntropy: boolean;
  /** Absolute σ of the Gaussian noise on e_t (σ · RMS(E) for `embedding-rms`); 0 when off. */
  noiseStd: number;
}

export interface RowStep {
  record: StepRecord;
  hiddenEntropy: number[];
}

export interface PrefillRequest {
  /** (B, T) left-padded prompt ids. */
  ids: Int32Array;
  T: number;
  positions: Int32Array;
  mask: Uint8Array;
  modes: RowMode[];
  step: number;
}

export interface StepRequest {
  inputs: RowInput[];
  /** (B) position id of the new position. */
  positions: Int32Array;
  /** (B) 1 = a real token, 0 = padding (finished rows). */
  mask: Uint8Array;
  modes: RowMode[];
  step: number;
}

/** Runs the model and the mixture step for the whole batch; one call per loop step. */
export interface RolloutStepper {
  readonly path: 'reference' | 'gpu';
  prefill(req: PrefillRequest): Promise<(RowStep | null)[]>;
  step(req: StepRequest): Promise<(RowStep | null)[]>;
  dispose(): void;
}

export interface ModelShape {
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
}

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

  async prefill(req: PrefillRequest): Promise<(RowStep | null)[]> {
    const res = await this.backend.forward({ kind: 'ids', ids: req.ids }, this.cfg.B, req.T, {
      cache: this.cache,
      positionIds: req.positions,
      attentionMask: req.mask,
      hiddenStates: this.cfg.hiddenEntropy,
      lora: this.cfg.lora,
    });
    return this.sample(res, req.T, req.modes, req.step);
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
    return this.sample(res, 1, req.modes, req.step);
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

  private sample(res: ForwardResult, T: number, modes: RowMode[], step: number): (RowStep | null)[] {
    const { vocabSize: V, hiddenSize: C, numHiddenLayers: L } = this.shape;
    const out: (RowStep | null)[] = [];
    const h = new Float32Array(1);
    for (let b = 0; b < this.cfg.B; b++) {
      const mode = modes[b];
      if (mode === 'skip') {
        out.push(null);
        continue;
      }
      const at = b * T + T - 1;
      const logits = res.logits.subarray(at * V, (at + 1) * V);
      const record = mixtureStep(
        logits,
        V,
        this.cfg.settings,
        { seed: this.cfg.seed, row: b, step },
        { phase: mode === 'answer' ? 'answer' : 'thinking', hiddenSize: C },
      );
      const hiddenEntropy: number[] = [];
      if (this.cfg.hiddenEntropy && res.hidden) {
        for (let l = 0; l < L; l++) {
          hiddenEntropyForward(h, res.hidden.layers[l].subarray(at * C, (at + 1) * C), 1, C);
          hiddenEntropy.push(h[0]);
        }
      }
      this.last[b] = record;
      out.push({ record, hiddenEntropy });
    }
    return out;
  }
}

// ---- The loop ---------------------------------------------------------------------------------------

/** Text for the transcript: a whole-sequence decoder and, optionally, an incremental one per row. */
export interface TextCodec {
  decode(ids: number[]): string;
  stream?(): { push(id: number): string };
}

export interface RolloutLoopOptions {
  settings: MotSettings;
  stop: StopSettings;
  /** Completion tokens per trajectory at most (the EOS token counts). */
  maxNewTokens: number;
  seed: number;
  G: number;
  /** Id fed at padded positions (left padding of prompts, finished rows). */
  padId: number;
  lora?: boolean;
  hiddenEntropy?: boolean;
  noiseStd?: number;
  text?: TextCodec;
  onStep?: (ev: RolloutStepEvent) => void | Promise<void>;
  /** Checked before each step: true ends the rollout (unfinished rows: 'cancelled'). */
  shouldCancel?: () => boolean;
}

export interface RolloutRun {
  trajectories: Trajectory[];
  path: 'reference' | 'gpu';
  /** Loop steps run (the prefill is step 0). */
  steps: number;
  prefillMs: number;
  decodeMs: number;
  /** Completion positions processed per second after the prefill (all rows). */
  tokensPerSecond: number;
}

interface RowState {
  stop: StopState;
  done: boolean;
  stopReason: Trajectory['stopReason'] | null;
  /** Inputs still to feed, in order; the row samples once this queue is empty after a feed. */
  feed: RowInput[];
  records: RolloutRecord[];
  inputs: CompletionInput[];
  tokens: number[];
  /** Tokens that belong to the thinking phase. */
  thinkingTokens: number;
  switchToken: number | null;
  switchReason: StopEvent;
  forced: number;
  stream: { push(id: number): string } | null;
}

/**
 * Decode prompts × G trajectories (row = prompt · G + g) with the stepper `makeStepper` builds for the batch.
 * Prompts are token ids (chat formatting is the caller's: see Engine.rollout).
 */
export async function runRollout(
  makeStepper: (cfg: StepperConfig) => RolloutStepper,
  prompts: number[][],
  opts: RolloutLoopOptions,
): Promise<RolloutRun> {
  const { G, maxNewTokens, settings, stop } = opts;
  if (!Number.isInteger(G) || G < 1) throw new SettingsError('non-positive', 'G', `must be ≥ 1, got ${G}`);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1)
    throw new SettingsError('non-positive', 'maxNewTokens', `must be ≥ 1, got ${maxNewTokens}`);
  if (prompts.length === 0) throw new SettingsError('shape-mismatch', 'prompts', 'no prompts');
  for (const [i, p] of prompts.entries())
    if (p.length === 0) throw new SettingsError('shape-mismatch', 'prompts', `prompt ${i} is empty`);
  const B = prompts.length * G;
  const promptOf = (b: number) => prompts[Math.floor(b / G)];
  const Tp = Math.max(...prompts.map((p) => p.length));
  const capacity = Tp + maxNewTokens;
  const cfg: StepperConfig = {
    B,
    capacity,
    settings,
    seed: opts.seed >>> 0,
    lora: opts.lora ?? false,
    hiddenEntropy: opts.hiddenEntropy ?? true,
    noiseStd: opts.noiseStd ?? 0,
  };

  const rows: RowState[] = Array.from({ length: B }, () => ({
    stop: initialStopState(),
    done: false,
    stopReason: null,
    feed: [],
    records: [],
    inputs: [],
    tokens: [],
    thinkingTokens: 0,
    switchToken: null,
    switchReason: 'none',
    forced: 0,
    stream: opts.text?.stream?.() ?? null,
  }));
  const textOf = (r: RowState, ids: number[]): string => {
    if (r.stream) return ids.map((id) => r.stream!.push(id)).join('');
    return opts.text ? opts.text.decode(ids) : '';
  };
  const modeOf = (r: RowState): RowMode =>
    r.done || r.feed.length > 1 ? 'skip' : r.stop.phase === 'answer' ? 'answer' : 'thinking';

  const stepper = makeStepper(cfg);
  const t0 = performance.now();
  let prefillMs = 0;
  let steps = 0;
  let positionsDone = 0;
  try {
    // Step 0: the left-padded prompts.
    const ids = new Int32Array(B * Tp);
    const positions = new Int32Array(B * Tp);
    const mask = new Uint8Array(B * Tp);
    for (let b = 0; b < B; b++) {
      const p = promptOf(b);
      const pad = Tp - p.length;
      for (let t = 0; t < Tp; t++) {
        ids[b * Tp + t] = t < pad ? opts.padId : p[t - pad];
        positions[b * Tp + t] = Math.max(0, t - pad);
        mask[b * Tp + t] = t < pad ? 0 : 1;
      }
    }
    let out = await stepper.prefill({
      ids,
      T: Tp,
      positions,
      mask,
      modes: rows.map(() => 'thinking'),
      step: 0,
    });
    prefillMs = performance.now() - t0;
    for (let step = 0; ; step++) {
      const updates: RolloutRowUpdate[] = [];
      for (let b = 0; b < B; b++) {
        const r = rows[b];
        if (r.done) continue;
        const o = out[b];
        const update: RolloutRowUpdate = {
          row: b,
          record: null,
          tokens: [],
          text: '',
          done: false,
          stopReason: null,
        };
        if (step > 0) r.feed.shift(); // the input this step fed
        if (o) {
          const rec: RolloutRecord = {
            ...o.record,
            phase: r.stop.phase === 'answer' ? 'answer' : 'thinking',
            step,
            position: promptOf(b).length - 1 + step,
            hiddenEntropy: o.hiddenEntropy,
          };
          r.records.push(rec);
          update.record = rec;
          const decision = advanceStop(r.stop, rec, stop);
          r.stop = decision.state;
          if (decision.event === 'eos') {
            r.done = true;
            r.stopReason = 'eos';
          } else {
            const wasThinking = rec.phase === 'thinking';
            r.tokens.push(rec.representative);
            update.tokens.push(rec.representative);
            r.feed.push({ kind: 'action' });
            r.inputs.push({ kind: 'action', record: r.records.length - 1 });
            for (const id of decision.force) {
              r.tokens.push(id);
              update.tokens.push(id);
              r.feed.push({ kind: 'id', id });
              r.inputs.push({ kind: 'token', id });
              r.forced++;
            }
            if (wasThinking) r.thinkingTokens = r.tokens.length;
            if (wasThinking && r.stop.phase === 'answer') {
              r.switchToken = r.tokens.length;
              r.switchReason = decision.event;
            }
          }
          // The length limit counts the EOS token too.
          const used = r.tokens.length + (r.stopReason === 'eos' ? 1 : 0);
          if (!r.done && used >= maxNewTokens) {
            r.done = true;
            r.stopReason = 'length';
            const over = used - maxNewTokens;
            if (over > 0) {
              // Forced tokens past the limit are cut.
              r.tokens.length -= over;
              r.inputs.length -= over;
              update.tokens.length -= over;
              r.forced -= over;
              r.thinkingTokens = Math.min(r.thinkingTokens, r.tokens.length);
              if (r.switchToken !== null && r.switchToken > r.tokens.length) r.switchToken = null;
            }
          }
          update.text = textOf(r, update.tokens);
          update.done = r.done;
          update.stopReason = r.stopReason;
          updates.push(update);
        }
        if (r.done) {
          // The last action (and anything queued) is never fed; drop it from the inputs.
          const fed = step; // inputs fed so far (one per step after the prefill)
          r.inputs.length = Math.min(r.inputs.length, fed);
          r.feed = [];
        }
      }
      const active = rows.filter((r) => !r.done).length;
      await opts.onStep?.({ step, updates, active });
      if (active === 0) break;
      if (opts.shouldCancel?.()) {
        for (const r of rows) {
          if (r.done) continue;
          r.done = true;
          r.stopReason = 'cancelled';
          r.inputs.length = Math.min(r.inputs.length, step);
        }
        break;
      }
      // Step s + 1 feeds each running row's next input at position |prompt| + s.
      const next = step + 1;
      const inputs: RowInput[] = [];
      const pos = new Int32Array(B);
      const m = new Uint8Array(B);
      for (let b = 0; b < B; b++) {
        const r = rows[b];
        pos[b] = promptOf(b).length + step;
        m[b] = r.done ? 0 : 1;
        inputs.push(r.done ? { kind: 'id', id: opts.padId } : r.feed[0]);
        if (!r.done) positionsDone++;
      }
      out = await stepper.step({ inputs, positions: pos, mask: m, modes: rows.map(modeOf), step: next });
      steps = next;
    }
  } finally {
    stepper.dispose();
  }
  const decodeMs = performance.now() - t0 - prefillMs;

  const trajectories = rows.map((r, b): Trajectory => {
    const thinkingIds = r.tokens.slice(0, r.thinkingTokens);
    const answerIds = r.tokens.slice(r.thinkingTokens);
    return {
      row: b,
      promptIndex: Math.floor(b / G),
      g: b % G,
      promptIds: promptOf(b).slice(),
      records: r.records,
      inputs: r.inputs,
      tokens: r.tokens,
      completion: opts.text ? opts.text.decode(r.tokens) : '',
      thinking: opts.text ? opts.text.decode(thinkingIds) : '',
      answer: opts.text ? opts.text.decode(answerIds) : '',
      stopReason: r.stopReason ?? 'length',
      stats: trajectoryStats(r),
    };
  });
  return {
    trajectories,
    path: stepper.path,
    steps: steps + 1,
    prefillMs,
    decodeMs,
    tokensPerSecond: decodeMs > 0 ? (positionsDone * 1000) / decodeMs : 0,
  };
}

function trajectoryStats(r: RowState): TrajectoryStats {
  let mixtureSteps = 0;
  let eff = 0;
  let notArgmax = 0;
  let entropy = 0;
  for (const rec of r.records) {
    entropy += rec.entropy;
    if (rec.mode !== 'mixture') continue;
    mixtureSteps++;
    let s = 0;
    for (const w of rec.weights) s += w * w;
    eff += s > 0 ? 1 / s : 0;
    if (rec.representative !== rec.argmax) notArgmax++;
  }
  return {
    length: r.tokens.length,
    steps: r.records.length,
    mixtureSteps,
    forcedTokens: r.forced,
    switchStep: r.stop.switchedAt,
    switchToken: r.switchToken,
    switchReason: r.switchReason,
    meanEffectiveTokens: mixtureSteps > 0 ? eff / mixtureSteps : 0,
    representativeNotArgmax: notArgmax,
    distinctTokens: new Set(r.tokens).size,
    meanEntropy: r.records.length > 0 ? entropy / r.records.length : 0,
  };
}

// ---- Settings -----------------------------------------------------------------------------------------

/**
 * The step settings of a rollout: preset ∘ overrides, validated against V; for an evaluation rollout with
 * `evalMixture: false`, the thinking phase decodes discretely.
 */
export function rolloutSettings(
  preset: PresetName,
  overrides: Partial<MotSettings> = {},
  V?: number,
  purpose: 'train' | 'eval' = 'train',
): MotSettings {
  const s = makeSettings(preset, overrides, V);
  return purpose === 'eval' && !s.evalMixture ? { ...s, mixture: false } : s;
}

/** Stop settings from the token ids of `</think>` and EOS plus overrides, validated against V. */
export function rolloutStopSettings(
  thinkEnd: number[],
  eos: number[],
  overrides: Partial<StopSettings> = {},
  V?: number,
): StopSettings {
  return validateStopSettings({ ...STOP_DEFAULTS, thinkEnd, eos, ...overrides }, V);
}

/** The absolute σ of the noise on e_t: σ, or σ · RMS(E) for `embedding-rms`; 0 when off or no mixture. */
export function noiseStdOf(settings: MotSettings, E: Float32Array | null): number {
  if (!settings.mixture || settings.noiseSigma === 0) return 0;
  if (settings.noiseScale === 'absolute') return settings.noiseSigma;
  if (!E) throw new Error('noiseScale "embedding-rms" needs the embedding matrix');
  return settings.noiseSigma * embeddingRms(E);
}

// ---- Replay: the training forward on the recorded inputs ----------------------------------------------

export interface TrainingAction {
  /** Row of the batch (index into the trajectories given). */
  row: number;
  /** Position (0-based, within the row) whose logits produced the action. */
  position: number;
  record: RolloutRecord;
}

/** The training forward's inputs for a batch of trajectories, right-padded to T. */
export interface TrainingBatch {
  B: number;
  T: number;
  /** 'mixture' (B, T, K) — prompt and discrete positions as [id] with weight 1 — or 'embeds' (B, T, C)
   * when any fed step carries noise. */
  input: ModelInput;
  /** (B, T) 1 = a real position. */
  attentionMask: Uint8Array;
  /** (B, T) 0, 1, … from each row's first token. */
  positionIds: Int32Array;
  /** Real positions per row: prompt + completion inputs. */
  lengths: number[];
  /** Every recorded action, with where its logits are. */
  actions: TrainingAction[];
}

export interface TrainingBatchOptions {
  padId: number;
  /** Needed when any fed step carries noise: the embedding matrix, C, and the noise's absolute σ. */
  embedding?: { E: Float32Array; C: number; noiseStd: number };
}

/**
 * The inputs that reproduce the rollout's forward for the given trajectories (any subset, e.g. one GRPO
 * micro-batch): prompt ids, then per completion position the fed action (discrete id, or the recorded ids and
 * f32 weights of a mixture, plus its Gaussian noise) or forced token. The actions are every record, each at
 * the position whose logits produced it.
 */
export function buildTrainingBatch(trajectories: Trajectory[], opts: TrainingBatchOptions): TrainingBatch {
  const B = trajectories.length;
  if (B === 0) throw new SettingsError('shape-mismatch', 'trajectories', 'no trajectories');
  type Pos = { ids: number[]; weights: number[]; noise: Counters | null };
  const seqs: Pos[][] = trajectories.map((tr) => {
    const seq: Pos[] = tr.promptIds.map((id) => ({ ids: [id], weights: [1], noise: null }));
    for (const inp of tr.inputs) {
      if (inp.kind === 'token') seq.push({ ids: [inp.id], weights: [1], noise: null });
      else {
        const rec = tr.records[inp.record];
        seq.push({ ids: rec.ids, weights: rec.weights, noise: rec.noise ? rec.counters : null });
      }
    }
    return seq;
  });
  const lengths = seqs.map((s) => s.length);
  const T = Math.max(...lengths);
  const attentionMask = new Uint8Array(B * T);
  const positionIds = new Int32Array(B * T);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      attentionMask[b * T + t] = t < lengths[b] ? 1 : 0;
      positionIds[b * T + t] = t;
    }
  const actions: TrainingAction[] = [];
  trajectories.forEach((tr, b) => {
    for (const record of tr.records) {
      if (record.position >= lengths[b])
        throw new SettingsError('shape-mismatch', 'trajectories', `record at ${record.position} ≥ length`);
      actions.push({ row: b, position: record.position, record });
    }
  });
  const noisy = seqs.some((s) => s.some((p) => p.noise !== null));
  let input: ModelInput;
  if (noisy) {
    const emb = opts.embedding;
    if (!emb)
      throw new SettingsError('missing-context', 'embedding', 'noisy steps need the embedding matrix');
    const embeds = new Float32Array(B * T * emb.C);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const p = seqs[b][t] ?? { ids: [opts.padId], weights: [1], noise: null };
        const noise = p.noise ? { std: emb.noiseStd, counters: p.noise } : null;
        mixtureEmbedding(embeds, (b * T + t) * emb.C, p.ids, p.weights, emb.E, emb.C, noise);
      }
    input = { kind: 'embeds', embeds };
  } else {
    const K = Math.max(...seqs.map((s) => Math.max(...s.map((p) => p.ids.length))));
    const ids = new Int32Array(B * T * K);
    const weights = new Float32Array(B * T * K);
    for (let b = 0; b < B; b++)
      for (let t = 0; t < T; t++) {
        const p = seqs[b][t] ?? { ids: [opts.padId], weights: [1], noise: null };
        const at = (b * T + t) * K;
        for (let j = 0; j < K; j++) {
          ids[at + j] = j < p.ids.length ? p.ids[j] : p.ids[0];
          weights[at + j] = j < p.ids.length ? p.weights[j] : 0;
        }
      }
    input = { kind: 'mixture', ids, weights, k: K };
  }
  return { B, T, input, attentionMask, positionIds, lengths, actions };
}

/**
 * The log-likelihood of every action of the batch under the backend's current weights (src/mot/likelihood.ts
 * on the training forward's logits), in batch.actions order. With the rollout's weights this reproduces the
 * records' behaviour log-likelihoods. The exact likelihood of noisy steps needs `embedding`.
 */
export async function replayLogLikelihoods(
  backend: Backend,
  batch: TrainingBatch,
  settings: MotSettings,
  V: number,
  opts: { lora?: boolean; embedding?: EmbeddingContext } = {},
): Promise<Float64Array> {
  const { logits } = await backend.forward(batch.input, batch.B, batch.T, {
    attentionMask: batch.attentionMask,
    positionIds: batch.positionIds,
    lora: opts.lora,
  });
  const out = new Float64Array(batch.actions.length);
  batch.actions.forEach((a, i) => {
    const at = a.row * batch.T + a.position;
    out[i] = actionLogLikelihood(logits.subarray(at * V, (at + 1) * V), V, a.record, settings, {
      embedding: opts.embedding,
    }).value;
  });
  return out;
}
