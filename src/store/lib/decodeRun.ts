// One side of a side-by-side decode (discrete, or a MoT-G preset) on anything that implements the
// engine's API: the page's comlink proxy or an in-process Engine (scripts/make-example-run.ts). DOM-free.

import { makeSettings } from '../../mot/presets.ts';
import type { MotSettings } from '../../mot/settings.ts';
import type { StopSettings } from '../../mot/stop.ts';
import { completionsByPrompt, type EvalCompletion, scoreCompletion } from '../../rl/evaluate.ts';
import type { RolloutRecord, RolloutStepEvent } from '../../rl/rollout.ts';
import { extractAnswer } from '../../tasks/extract.ts';
import type { TaskEntry } from '../../tasks/types.ts';
import type { EngineApi, TokenEvent } from '../../worker/api.ts';
import type { DecodeMode, DecodeSettings, DrawnItem, SideResult, StepView } from '../types.ts';

export type DecodeEngine = Pick<EngineApi, 'generate' | 'score' | 'detokenize' | 'rollout'>;

/** Marks a callback for the transport (comlink.proxy in the page, identity in process). */
export type WrapCallback = <F extends (...args: never[]) => unknown>(fn: F) => F;
export const identityWrap: WrapCallback = (fn) => fn;

/** Token id → text, filled lazily (one detokenize per new id), one cache per loaded model. */
export class TokenTexts {
  private readonly map = new Map<number, string>();
  get(id: number): string {
    return this.map.get(id) ?? '';
  }
  async fill(engine: Pick<EngineApi, 'detokenize'>, ids: Iterable<number>): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.map.has(id));
    const texts = await Promise.all(missing.map((id) => engine.detokenize([id])));
    missing.forEach((id, i) => {
      this.map.set(id, texts[i]);
    });
  }
}

export class RolloutUnavailableError extends Error {
  constructor(mode: string) {
    super(
      `${mode} needs Engine.rollout (mixture rollouts), which this engine does not have yet; the discrete side runs with generate.`,
    );
    this.name = 'RolloutUnavailableError';
  }
}

/** MoT-G settings of a mode with the page's knobs applied (the preset's own values where it fixes them). */
export function motSettingsFor(mode: DecodeMode, s: DecodeSettings, V?: number): MotSettings {
  if (mode === 'discrete') return makeSettings('discrete', { temperature: s.temperature }, V);
  if (mode === 'discrete-top-k') return makeSettings(mode, { temperature: s.temperature, k: s.k }, V);
  const overrides: Partial<MotSettings> = {
    temperature: s.temperature,
    k: s.k,
    concentration: s.concentration,
    topP: s.topP,
    minP: s.minP,
    gumbelTau: s.gumbelTau,
    moiBeta: s.moiBeta,
  };
  if (mode === 'soft-tokens') overrides.noiseSigma = s.noiseSigma;
  return makeSettings(mode, overrides, V);
}

/** What Engine.rollout takes as overrides of a preset: the page's knobs that the preset uses. */
export function overridesFor(mode: DecodeMode, s: DecodeSettings): Partial<MotSettings> {
  if (mode === 'discrete') return { temperature: s.temperature };
  const o: Partial<MotSettings> = { temperature: s.temperature };
  if (mode !== 'soft-tokens') o.k = s.k;
  if (mode === 'dirichlet') o.concentration = s.concentration;
  if (mode === 'soft-thinking') Object.assign(o, { topP: s.topP, minP: s.minP });
  if (mode === 'mixture-of-inputs') o.moiBeta = s.moiBeta;
  if (mode === 'soft-tokens') o.noiseSigma = s.noiseSigma;
  return o;
}

/** What Engine.rollout takes as overrides of the preset's stop settings: Cold Stop is soft-thinking's knob. */
export function stopOverridesFor(mode: DecodeMode, s: DecodeSettings): Partial<StopSettings> {
  return mode === 'soft-thinking' ? { coldStop: s.coldStop } : {};
}

/** The knobs that matter for a mode, for labels and CSV. */
export function paramsFor(mode: DecodeMode, s: DecodeSettings): Record<string, number | string | boolean> {
  const base = { mode, temperature: s.temperature, seed: s.seed, maxNewTokens: s.maxNewTokens };
  switch (mode) {
    case 'discrete':
      return base;
    case 'discrete-top-k':
      return { ...base, k: s.k };
    case 'dirichlet':
      return { ...base, k: s.k, concentration: s.concentration };
    case 'different-tokens':
      return { ...base, k: s.k };
    case 'soft-thinking':
      return { ...base, k: s.k, topP: s.topP, minP: s.minP, coldStop: s.coldStop };
    case 'mixture-of-inputs':
      return { ...base, k: s.k, beta: s.moiBeta };
    case 'soft-tokens':
      return { ...base, sigma: s.noiseSigma };
  }
}

export interface SideRequest {
  mode: DecodeMode;
  /** Decode through Engine.rollout (records, hidden-state entropy); false: generate + score (discrete only). */
  useRollout?: boolean;
  /** `eval`: the engine's evaluation settings (evalMixture) apply. */
  purpose?: 'train' | 'eval';
  settings: DecodeSettings;
  promptIds: number[];
  eos: readonly number[];
  item: DrawnItem | null;
  entry: TaskEntry | null;
  texts: TokenTexts;
  wrap?: WrapCallback;
  /** Each step as it arrives (entropy may be NaN until the run ends). */
  onStep?: (step: StepView, index: number) => void;
}

/** Answer, score and reward of a completion (score and reward only for task items, scored as the evaluator
 * scores them: rl/evaluate.ts). */
export function judge(
  completion: string,
  item: DrawnItem | null,
  entry: TaskEntry | null,
): Pick<SideResult, 'answer' | 'score' | 'reward'> & { format: boolean } {
  if (!item || !entry) return { answer: extractAnswer(completion), score: null, reward: null, format: false };
  const { answer, score, reward, format } = scoreCompletion(completion, item.task, entry);
  return { answer, score, reward, format };
}

/** The discrete side through generate (streamed), then one score() pass for the next-token entropy. */
async function discreteViaGenerate(engine: DecodeEngine, req: SideRequest): Promise<SideResult> {
  const { settings: s, promptIds, texts } = req;
  const wrap = req.wrap ?? identityWrap;
  const steps: StepView[] = [];
  const onToken = wrap((ev: TokenEvent) => {
    const step: StepView = {
      mode: 'discrete',
      ids: [ev.id],
      weights: [1],
      texts: [ev.text],
      representative: ev.id,
      repText: ev.text,
      entropy: Number.NaN,
      hidden: null,
    };
    steps[ev.step] = step;
    req.onStep?.(step, ev.step);
  });
  const t0 = performance.now();
  const res = await engine.generate(
    promptIds,
    { maxNewTokens: s.maxNewTokens, temperature: s.temperature, greedy: s.temperature === 0, seed: s.seed },
    onToken,
  );
  const ms = performance.now() - t0;
  await texts.fill(engine, res.ids);
  let entropy: number[] = [];
  if (res.ids.length > 0) entropy = (await engine.score([...promptIds, ...res.ids])).entropy;
  const out: StepView[] = res.ids.map((id, i) => {
    const t = texts.get(id);
    return {
      mode: 'discrete',
      ids: [id],
      weights: [1],
      texts: [t],
      representative: id,
      repText: t,
      entropy: entropy[promptIds.length - 1 + i] ?? Number.NaN,
      hidden: null,
    };
  });
  const eos = new Set(req.eos);
  const body = res.ids.length > 0 && eos.has(res.ids[res.ids.length - 1]) ? res.ids.slice(0, -1) : res.ids;
  const completion = body.length > 0 ? await engine.detokenize(body) : '';
  const j = judge(completion, req.item, req.entry);
  return {
    mode: 'discrete',
    via: 'generate',
    params: paramsFor('discrete', s),
    steps: out,
    text: completion,
    stopReason: res.stopReason,
    mixingOffAt: null,
    answer: j.answer,
    score: j.score,
    reward: j.reward,
    format: req.item ? j.format : null,
    ms,
    tokensPerSecond: res.tokensPerSecond,
    interrupted: res.stopReason === 'cancelled',
  };
}

/** Ids a step view keeps (a dense mixture has one per vocabulary entry): the heaviest, by weight. */
export const MAX_VIEW_IDS = 8;

function heaviest(rec: RolloutRecord): { ids: number[]; weights: number[]; rest?: StepView['rest'] } {
  if (rec.ids.length <= MAX_VIEW_IDS) return { ids: rec.ids, weights: rec.weights };
  const order = rec.ids.map((_, j) => j).sort((a, b) => rec.weights[b] - rec.weights[a]);
  const keep = order.slice(0, MAX_VIEW_IDS);
  let restWeight = 0;
  for (const j of order.slice(MAX_VIEW_IDS)) restWeight += rec.weights[j];
  return {
    ids: keep.map((j) => rec.ids[j]),
    weights: keep.map((j) => rec.weights[j]),
    rest: { count: rec.ids.length - MAX_VIEW_IDS, weight: restWeight },
  };
}

function recordView(rec: RolloutRecord, texts: TokenTexts): StepView {
  const { ids, weights, rest } = heaviest(rec);
  return {
    mode: rec.mode,
    ids,
    weights,
    ...(rest ? { rest } : {}),
    texts: ids.map((id) => texts.get(id)),
    representative: rec.representative,
    repText: texts.get(rec.representative),
    argmax: rec.argmax,
    entropy: rec.entropy,
    hidden: rec.hiddenEntropy.length > 0 ? rec.hiddenEntropy : null,
    phase: rec.phase,
  };
}

function forcedView(id: number, texts: TokenTexts): StepView {
  const t = texts.get(id);
  return {
    mode: 'discrete',
    ids: [id],
    weights: [1],
    texts: [t],
    representative: id,
    repText: t,
    entropy: Number.NaN,
    hidden: null,
    phase: 'answer',
    forced: true,
  };
}

/**
 * Steps of row 0 from its per-step updates: each sampled record, then the tokens a stop rule forced after
 * it. The first answer-phase step (or forced `</think>`) is where mixing switched off.
 */
function stepsFromUpdates(
  updates: { record: RolloutRecord | null; tokens: number[] }[],
  texts: TokenTexts,
  mixture: boolean,
): { steps: StepView[]; mixingOffAt: number | null } {
  const steps: StepView[] = [];
  let off: number | null = null;
  for (const u of updates) {
    let rest = u.tokens;
    if (u.record) {
      if (mixture && off === null && u.record.phase === 'answer') off = steps.length;
      steps.push(recordView(u.record, texts));
      if (rest[0] === u.record.representative) rest = rest.slice(1);
    }
    for (const id of rest) {
      if (mixture && off === null) off = steps.length;
      steps.push(forcedView(id, texts));
    }
  }
  return { steps, mixingOffAt: off };
}

function idsOf(updates: { record: RolloutRecord | null; tokens: number[] }[]): number[] {
  return updates.flatMap((u) => [
    ...(u.record ? [...heaviest(u.record).ids, u.record.representative] : []),
    ...u.tokens,
  ]);
}

/** A side through Engine.rollout (G = 1): every step's record, hidden-state entropy included. */
async function viaRollout(engine: DecodeEngine, req: SideRequest): Promise<SideResult> {
  const { settings: s, texts } = req;
  const wrap = req.wrap ?? identityWrap;
  const updates: { record: RolloutRecord | null; tokens: number[] }[] = [];
  const mixture = req.mode !== 'discrete' && req.mode !== 'discrete-top-k';
  let emitted = 0;
  const onStep = wrap(async (ev: RolloutStepEvent) => {
    const u = ev.updates.find((x) => x.row === 0);
    if (!u) return;
    updates.push({ record: u.record, tokens: u.tokens });
    if (!req.onStep) return;
    await texts.fill(engine, idsOf([u]));
    const { steps } = stepsFromUpdates(updates, texts, mixture);
    for (; emitted < steps.length; emitted++) req.onStep(steps[emitted], emitted);
  });
  const t0 = performance.now();
  const res = await engine.rollout(
    {
      prompts: [{ ids: req.promptIds }],
      G: 1,
      preset: req.mode,
      settings: overridesFor(req.mode, s),
      stop: stopOverridesFor(req.mode, s),
      maxNewTokens: s.maxNewTokens,
      seed: s.seed,
      purpose: req.purpose ?? 'train',
      hiddenEntropy: true,
    },
    onStep,
  );
  const ms = performance.now() - t0;
  const traj = res.trajectories[0];
  await texts.fill(engine, idsOf(updates));
  const { steps, mixingOffAt } = stepsFromUpdates(updates, texts, mixture);
  const j = judge(traj.completion, req.item, req.entry);
  return {
    mode: req.mode,
    via: 'rollout',
    params: paramsFor(req.mode, s),
    steps,
    text: traj.completion,
    stopReason: traj.stopReason,
    mixingOffAt,
    answer: j.answer,
    score: j.score,
    reward: j.reward,
    format: req.item ? j.format : null,
    ms,
    tokensPerSecond: res.tokensPerSecond,
    interrupted: traj.stopReason === 'cancelled',
  };
}

/** One side of the comparison: through the engine's rollout, or (discrete only) generate + score. */
export async function decodeSide(engine: DecodeEngine, req: SideRequest): Promise<SideResult> {
  motSettingsFor(req.mode, req.settings); // a typed SettingsError for bad knobs before anything runs
  if (req.useRollout !== false) return viaRollout(engine, req);
  if (req.mode === 'discrete') return discreteViaGenerate(engine, req);
  throw new RolloutUnavailableError(req.mode);
}

/** G completions of one prompt in one batched rollout (evaluation): the texts the reward reads. */
export async function completionsOf(
  engine: DecodeEngine,
  req: {
    mode: DecodeMode;
    settings: DecodeSettings;
    promptIds: number[];
    G: number;
    purpose?: 'train' | 'eval';
  },
): Promise<EvalCompletion[]> {
  const res = await engine.rollout({
    prompts: [{ ids: req.promptIds }],
    G: req.G,
    preset: req.mode,
    settings: overridesFor(req.mode, req.settings),
    stop: stopOverridesFor(req.mode, req.settings),
    maxNewTokens: req.settings.maxNewTokens,
    seed: req.settings.seed,
    purpose: req.purpose ?? 'eval',
    hiddenEntropy: false,
  });
  return completionsByPrompt(res.trajectories, 1)[0];
}
