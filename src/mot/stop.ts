// When mixing stops (MOTG.md §1): a trajectory leaves the thinking phase for good when its representative
// tokens spell `</think>` (one id or several), optionally when the argmax tokens do, or by Cold Stop
// (entropy below a threshold for N consecutive steps forces `</think>`). EOS ends it in either phase.
// After the switch every step is discrete. A pure state machine: advanceStop returns a new state.
import { checkFinite, checkInteger, checkOneOf, SettingsError } from './settings.ts';

/**
 * `representative`: the representative tokens spell `</think>` (the paper's code).
 * `argmax`: that, or the argmax tokens spell it (then `</think>` is forced into the transcript).
 */
export type StopRule = 'representative' | 'argmax';

export interface StopSettings {
  /** Token ids of `</think>` (one id in Qwen3 and our tokenizers; several in Qwen2.5). */
  thinkEnd: number[];
  /** End-of-sequence ids; any of them ends the trajectory. */
  eos: number[];
  rule: StopRule;
  /** Cold Stop: a run of low-entropy steps ends the thinking phase (on by default only in `soft-thinking`). */
  coldStop: boolean;
  /** Cold Stop: entropy (nats) below this counts as a cold step. */
  coldStopThreshold: number;
  /** Cold Stop: this many consecutive cold steps force `</think>`. */
  coldStopSteps: number;
}

/** Defaults of the token-independent stop settings, each with its reason. */
export const STOP_DEFAULTS: Readonly<Omit<StopSettings, 'thinkEnd' | 'eos'>> = Object.freeze({
  rule: 'representative', // the paper's code checks the representative tokens
  coldStop: false, // not in the MoT-G paper; `soft-thinking` turns it on (presets.ts PRESET_STOP)
  coldStopThreshold: 0.01, // MOTG.md, and Soft Thinking's scripts: entropy < 0.01
  // (ours) long enough that a few confident tokens in a row do not end the reasoning; Soft Thinking's scripts
  // use 256, longer than a whole completion here
  coldStopSteps: 16,
});

export type StopPhase = 'thinking' | 'answer' | 'done';
export type StopEvent = 'none' | 'think-end' | 'argmax-think-end' | 'cold-stop' | 'eos';

export interface StopState {
  phase: StopPhase;
  /** Steps seen so far. */
  steps: number;
  /** The last |thinkEnd| representative and argmax tokens of the thinking phase. */
  repTail: number[];
  argTail: number[];
  /** Consecutive cold steps. */
  coldRun: number;
  /** Index of the step after which the thinking phase ended (null while thinking). */
  switchedAt: number | null;
  /** Why the thinking phase ended, or why the trajectory ended. */
  reason: StopEvent;
}

/** The fields of a step record the stop rules read. */
export interface StopInput {
  representative: number;
  argmax: number;
  entropy: number;
}

export interface StopDecision {
  state: StopState;
  event: StopEvent;
  /** Tokens the caller must append (as discrete inputs, no likelihood) before the next step. */
  force: number[];
}

export function validateStopSettings(s: StopSettings, V?: number): StopSettings {
  if (!Array.isArray(s.thinkEnd) || s.thinkEnd.length === 0)
    throw new SettingsError('incompatible', 'thinkEnd', 'needs at least one token id');
  for (const [field, ids] of [
    ['thinkEnd', s.thinkEnd],
    ['eos', s.eos],
  ] as const) {
    for (const id of ids) {
      checkInteger(field, id, 0);
      if (V !== undefined && id >= V)
        throw new SettingsError('k-exceeds-vocab', field, `id ${id} ≥ V = ${V}`);
    }
  }
  checkOneOf('rule', s.rule, ['representative', 'argmax']);
  checkFinite('coldStopThreshold', s.coldStopThreshold);
  if (s.coldStopThreshold < 0)
    throw new SettingsError('non-positive', 'coldStopThreshold', `must be ≥ 0, got ${s.coldStopThreshold}`);
  checkInteger('coldStopSteps', s.coldStopSteps, 1);
  return s;
}

/** The state at the first generated position (the assistant turn is prefilled with `<think>`). */
export function initialStopState(): StopState {
  return {
    phase: 'thinking',
    steps: 0,
    repTail: [],
    argTail: [],
    coldRun: 0,
    switchedAt: null,
    reason: 'none',
  };
}

function pushTail(tail: number[], id: number, n: number): number[] {
  const out = tail.concat(id);
  return out.length > n ? out.slice(out.length - n) : out;
}

function spells(tail: number[], target: number[]): boolean {
  if (tail.length !== target.length) return false;
  for (let i = 0; i < target.length; i++) if (tail[i] !== target[i]) return false;
  return true;
}

/**
 * Advance the stop state by one step. In the thinking phase, in this order: EOS as representative ends the
 * trajectory; the representative tokens spelling `</think>` switch to the answer phase; with rule `argmax`,
 * the argmax tokens spelling it switch and force `</think>`; with Cold Stop, N consecutive steps with
 * entropy < threshold switch and force `</think>`. In the answer phase only EOS matters. After `done`,
 * further calls change nothing.
 */
export function advanceStop(state: StopState, step: StopInput, s: StopSettings): StopDecision {
  if (state.phase === 'done') return { state, event: 'none', force: [] };
  const next: StopState = { ...state, steps: state.steps + 1 };
  const idx = state.steps;
  if (s.eos.includes(step.representative)) {
    next.phase = 'done';
    next.reason = 'eos';
    return { state: next, event: 'eos', force: [] };
  }
  if (state.phase === 'answer') return { state: next, event: 'none', force: [] };

  const n = s.thinkEnd.length;
  next.repTail = pushTail(state.repTail, step.representative, n);
  next.argTail = pushTail(state.argTail, step.argmax, n);
  next.coldRun = step.entropy < s.coldStopThreshold ? state.coldRun + 1 : 0;

  let event: StopEvent = 'none';
  let force: number[] = [];
  if (spells(next.repTail, s.thinkEnd)) {
    event = 'think-end';
  } else if (s.rule === 'argmax' && spells(next.argTail, s.thinkEnd)) {
    event = 'argmax-think-end';
    force = s.thinkEnd.slice();
  } else if (s.coldStop && next.coldRun >= s.coldStopSteps) {
    event = 'cold-stop';
    force = s.thinkEnd.slice();
  }
  if (event !== 'none') {
    next.phase = 'answer';
    next.switchedAt = idx;
    next.reason = event;
  }
  return { state: next, event, force };
}
