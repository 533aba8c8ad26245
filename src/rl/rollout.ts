// Mixture-of-token rollouts (MOTG.md §1): prompts × G trajectories decoded together in one left-padded batch
// with a KV cache. Every row advances one position per step; a row's step is a mixture step in the thinking
// phase (per the settings) and a discrete step after it, its stop state follows src/mot/stop.ts, and tokens a
// stop rule forces (`</think>`) are fed one per step without a sample. Rows finish at different times (EOS,
// length) and then feed masked padding until the batch is done.
//
// The loop here is backend-agnostic: a RolloutStepper runs the forward and the mixture step. Two exist:
// ReferenceStepper (engine/decode/referenceStepper.ts: any Backend's forward, logits on the host, the CPU step
// src/mot/step.ts) and the GPU fast path (engine/gpu/mixture.ts: the step in WGSL in the decode's command
// encoder, only records read back). Both draw from the same counters {seed, row, step} — row = prompt · G + g,
// step = the loop step — so the same seed gives the same rollouts on either. The prefill (step 0) runs each
// prompt once: the stepper copies the prompt's cache rows and last-position logits to its G rows, which then
// sample with their own counters (PrefillRequest.G; `sharePrefill: false` runs the prompt on every row).
//
// The records are exact to replay: trainingBatch.ts turns trajectories into the training forward's inputs and
// recomputes every behaviour log-likelihood from them. The prompt format lives in prompt.ts: the loop takes ids.
import type {
  PrefillRequest,
  RolloutStepper,
  RowInput,
  RowMode,
  RowStep,
  StepperConfig,
  StepRequest,
} from '../engine/decode/stepper.ts';
import { embeddingRms } from '../mot/likelihood.ts';
import { makeSettings, stopDefaultsFor } from '../mot/presets.ts';
import { type MotSettings, type PresetName, SettingsError } from '../mot/settings.ts';
import type { Phase, StepRecord } from '../mot/step.ts';
import {
  advanceStop,
  initialStopState,
  STOP_DEFAULTS,
  type StopEvent,
  type StopSettings,
  type StopState,
  validateStopSettings,
} from '../mot/stop.ts';

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
  /** The scale-free hidden-state entropy of those residual streams (mot/diagnostics.ts energyEntropy); empty
   * or absent when not asked for. */
  hiddenEntropyScaleFree?: number[];
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
  /** Prefill each prompt once and share its cache and logits with its G rows (default true); false runs
   * the prompt on every row (the same rollout, G times the prefill's work). */
  sharePrefill?: boolean;
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

/** The batch a rollout decodes: its prompts, G rows each (row = prompt · G + g), and its rows' state. */
interface RolloutBatch {
  prompts: number[][];
  G: number;
  rows: RowState[];
  /** Longest prompt: the prefill's width (shorter prompts are left-padded). */
  Tp: number;
  opts: RolloutLoopOptions;
}

/** Timings and counts of a finished loop. */
interface LoopTotals {
  prefillMs: number;
  /** The last loop step that fed the model (0: only the prefill ran). */
  lastStep: number;
  /** Completion positions fed after the prefill (all rows). */
  positionsDone: number;
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
  checkRolloutRequest(prompts, opts);
  const { G } = opts;
  const B = prompts.length * G;
  const Tp = Math.max(...prompts.map((p) => p.length));
  const cfg: StepperConfig = {
    B,
    capacity: Tp + opts.maxNewTokens,
    settings: opts.settings,
    seed: opts.seed >>> 0,
    lora: opts.lora ?? false,
    hiddenEntropy: opts.hiddenEntropy ?? true,
    noiseStd: opts.noiseStd ?? 0,
  };
  const rows = Array.from({ length: B }, () => newRowState(opts.text));
  const batch: RolloutBatch = { prompts, G, rows, Tp, opts };

  const stepper = makeStepper(cfg);
  const t0 = performance.now();
  let totals: LoopTotals;
  try {
    totals = await decodeLoop(stepper, batch, t0);
  } finally {
    stepper.dispose();
  }
  const decodeMs = performance.now() - t0 - totals.prefillMs;
  return {
    trajectories: rows.map((r, b) => toTrajectory(batch, r, b)),
    path: stepper.path,
    steps: totals.lastStep + 1,
    prefillMs: totals.prefillMs,
    decodeMs,
    tokensPerSecond: decodeMs > 0 ? (totals.positionsDone * 1000) / decodeMs : 0,
  };
}

/** Typed errors for a request the loop cannot run. */
function checkRolloutRequest(prompts: number[][], opts: RolloutLoopOptions): void {
  const { G, maxNewTokens } = opts;
  if (!Number.isInteger(G) || G < 1) throw new SettingsError('non-positive', 'G', `must be ≥ 1, got ${G}`);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1)
    throw new SettingsError('non-positive', 'maxNewTokens', `must be ≥ 1, got ${maxNewTokens}`);
  if (prompts.length === 0) throw new SettingsError('shape-mismatch', 'prompts', 'no prompts');
  for (const [i, p] of prompts.entries())
    if (p.length === 0) throw new SettingsError('shape-mismatch', 'prompts', `prompt ${i} is empty`);
}

function newRowState(text: TextCodec | undefined): RowState {
  return {
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
    stream: text?.stream?.() ?? null,
  };
}

function promptOf(batch: RolloutBatch, b: number): number[] {
  return batch.prompts[Math.floor(b / batch.G)];
}

/** Transcript text of tokens a row appended (its incremental decoder keeps state, so call in order). */
function textOf(r: RowState, ids: number[], text: TextCodec | undefined): string {
  const stream = r.stream;
  if (stream) return ids.map((id) => stream.push(id)).join('');
  return text ? text.decode(ids) : '';
}

function modeOf(r: RowState): RowMode {
  return r.done || r.feed.length > 1 ? 'skip' : r.stop.phase === 'answer' ? 'answer' : 'thinking';
}

/** The prefill, then one step per loop step until every row is done or the caller cancels. */
async function decodeLoop(stepper: RolloutStepper, batch: RolloutBatch, t0: number): Promise<LoopTotals> {
  const { rows, opts } = batch;
  let out = await stepper.prefill(prefillRequest(batch));
  const prefillMs = performance.now() - t0;
  let lastStep = 0;
  let positionsDone = 0;
  for (let step = 0; ; step++) {
    const updates: RolloutRowUpdate[] = [];
    for (let b = 0; b < rows.length; b++) {
      if (rows[b].done) continue;
      const update = advanceRow(batch, b, out[b], step);
      if (update) updates.push(update);
    }
    const active = rows.filter((r) => !r.done).length;
    await opts.onStep?.({ step, updates, active });
    if (active === 0) break;
    if (opts.shouldCancel?.()) {
      cancelRunningRows(rows, step);
      break;
    }
    const next = nextStepRequest(batch, step);
    positionsDone += next.fed;
    out = await stepper.step(next.request);
    lastStep = next.request.step;
  }
  return { prefillMs, lastStep, positionsDone };
}

/** Step 0: the left-padded prompts, one row each when the G rows of a prompt share its prefill. */
function prefillRequest(batch: RolloutBatch): PrefillRequest {
  const { Tp, rows, prompts } = batch;
  const G = batch.opts.sharePrefill === false ? 1 : batch.G;
  const promptRows = rows.length / G;
  const ids = new Int32Array(promptRows * Tp);
  const positions = new Int32Array(promptRows * Tp);
  const mask = new Uint8Array(promptRows * Tp);
  for (let r = 0; r < promptRows; r++) {
    const p = prompts[Math.floor((r * G) / batch.G)];
    const pad = Tp - p.length;
    for (let t = 0; t < Tp; t++) {
      ids[r * Tp + t] = t < pad ? batch.opts.padId : p[t - pad];
      positions[r * Tp + t] = Math.max(0, t - pad);
      mask[r * Tp + t] = t < pad ? 0 : 1;
    }
  }
  return { ids, T: Tp, positions, mask, G, modes: rows.map(() => 'thinking'), step: 0 };
}

/**
 * One running row at loop step `step`: consume the input the step fed, take the sampled record (if the row
 * sampled), apply the stop rules and the length limit. Returns the row's update, or null when it did not
 * sample.
 */
function advanceRow(
  batch: RolloutBatch,
  b: number,
  o: RowStep | null,
  step: number,
): RolloutRowUpdate | null {
  const r = batch.rows[b];
  if (step > 0) r.feed.shift(); // the input this step fed
  let update: RolloutRowUpdate | null = null;
  if (o) {
    const rec: RolloutRecord = {
      ...o.record,
      phase: r.stop.phase === 'answer' ? 'answer' : 'thinking',
      step,
      position: promptOf(batch, b).length - 1 + step,
      hiddenEntropy: o.hiddenEntropy,
      hiddenEntropyScaleFree: o.hiddenEntropyScaleFree ?? [],
    };
    r.records.push(rec);
    update = { row: b, record: rec, tokens: [], text: '', done: false, stopReason: null };
    takeRecord(r, rec, update, batch.opts.stop);
    cutAtLength(r, update, batch.opts.maxNewTokens);
    update.text = textOf(r, update.tokens, batch.opts.text);
    update.done = r.done;
    update.stopReason = r.stopReason;
  }
  if (r.done) {
    // The last action (and anything queued) is never fed; drop it from the inputs.
    const fed = step; // inputs fed so far (one per step after the prefill)
    r.inputs.length = Math.min(r.inputs.length, fed);
    r.feed = [];
  }
  return update;
}

/** The stop rules on a sampled record: EOS ends the row; otherwise its representative, then any forced tokens. */
function takeRecord(r: RowState, rec: RolloutRecord, update: RolloutRowUpdate, stop: StopSettings): void {
  const decision = advanceStop(r.stop, rec, stop);
  r.stop = decision.state;
  if (decision.event === 'eos') {
    r.done = true;
    r.stopReason = 'eos';
    return;
  }
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

/** The length limit (it counts the EOS token too): ends the row, cutting forced tokens past the limit. */
function cutAtLength(r: RowState, update: RolloutRowUpdate, maxNewTokens: number): void {
  const used = r.tokens.length + (r.stopReason === 'eos' ? 1 : 0);
  if (r.done || used < maxNewTokens) return;
  r.done = true;
  r.stopReason = 'length';
  const over = used - maxNewTokens;
  if (over <= 0) return;
  r.tokens.length -= over;
  r.inputs.length -= over;
  update.tokens.length -= over;
  r.forced -= over;
  r.thinkingTokens = Math.min(r.thinkingTokens, r.tokens.length);
  if (r.switchToken !== null && r.switchToken > r.tokens.length) r.switchToken = null;
}

/** The caller cancelled after step `step`: running rows end with the inputs fed so far. */
function cancelRunningRows(rows: RowState[], step: number): void {
  for (const r of rows) {
    if (r.done) continue;
    r.done = true;
    r.stopReason = 'cancelled';
    r.inputs.length = Math.min(r.inputs.length, step);
  }
}

/** Step s + 1 feeds each running row's next input at position |prompt| + s; finished rows feed masked padding. */
function nextStepRequest(batch: RolloutBatch, step: number): { request: StepRequest; fed: number } {
  const { rows } = batch;
  const B = rows.length;
  const inputs: RowInput[] = [];
  const positions = new Int32Array(B);
  const mask = new Uint8Array(B);
  let fed = 0;
  for (let b = 0; b < B; b++) {
    const r = rows[b];
    positions[b] = promptOf(batch, b).length + step;
    mask[b] = r.done ? 0 : 1;
    inputs.push(r.done ? { kind: 'id', id: batch.opts.padId } : r.feed[0]);
    if (!r.done) fed++;
  }
  return { request: { inputs, positions, mask, modes: rows.map(modeOf), step: step + 1 }, fed };
}

function toTrajectory(batch: RolloutBatch, r: RowState, b: number): Trajectory {
  const { text } = batch.opts;
  const thinkingIds = r.tokens.slice(0, r.thinkingTokens);
  const answerIds = r.tokens.slice(r.thinkingTokens);
  return {
    row: b,
    promptIndex: Math.floor(b / batch.G),
    g: b % batch.G,
    promptIds: promptOf(batch, b).slice(),
    records: r.records,
    inputs: r.inputs,
    tokens: r.tokens,
    completion: text ? text.decode(r.tokens) : '',
    thinking: text ? text.decode(thinkingIds) : '',
    answer: text ? text.decode(answerIds) : '',
    stopReason: r.stopReason ?? 'length',
    stats: trajectoryStats(r),
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

/**
 * Stop settings from the token ids of `</think>` and EOS plus overrides, validated against V; with a preset,
 * over that preset's defaults (soft-thinking: Cold Stop on).
 */
export function rolloutStopSettings(
  thinkEnd: number[],
  eos: number[],
  overrides: Partial<StopSettings> = {},
  V?: number,
  preset?: PresetName,
): StopSettings {
  const defaults = preset ? stopDefaultsFor(preset) : STOP_DEFAULTS;
  return validateStopSettings({ ...defaults, thinkEnd, eos, ...overrides }, V);
}

/** The absolute σ of the noise on e_t: σ, or σ · RMS(E) for `embedding-rms`; 0 when off or no mixture. */
export function noiseStdOf(settings: MotSettings, E: Float32Array | null): number {
  if (!settings.mixture || settings.noiseSigma === 0) return 0;
  if (settings.noiseScale === 'absolute') return settings.noiseSigma;
  if (!E) throw new Error('noiseScale "embedding-rms" needs the embedding matrix');
  return settings.noiseSigma * embeddingRms(E);
}
