// The schema of experiment configs (and so of the CLI's flags, which set the same fields): every key is
// known (a typo is refused with the closest valid name: `max_step` → did you mean `max_steps`?), every
// value has its type and range, and the trainer settings pass makeTrainerConfig — all before any work.
// Errors are SettingsError naming the file and the dotted field.

import { jsonForMessage, nestedDeeperThan } from '../engine/errors.ts';
import { DEFAULTS as MOT_DEFAULTS, PRESET_NAMES } from '../mot/presets.ts';
import { checkInteger, checkOneOf, SettingsError } from '../mot/settings.ts';
import { STOP_DEFAULTS } from '../mot/stop.ts';
import { GRPO_DEFAULTS } from '../rl/settings.ts';
import { makeTrainerConfig } from '../rl/trainer.ts';
import { PAPER_REWARD, REWARD_PRESETS } from '../tasks/reward.ts';
import { type ExperimentConfig, runTrainerConfig } from './run.ts';

/** Levenshtein distance (small strings: config keys and flags). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** ` (did you mean "x"?)` when a valid name is close to `name`, else a list of the valid names. */
export function suggestion(name: string, valid: readonly string[]): string {
  let best = '';
  let bestD = Number.POSITIVE_INFINITY;
  for (const v of valid) {
    const d = distance(name.toLowerCase(), v.toLowerCase());
    if (d < bestD) [best, bestD] = [v, d];
  }
  if (best && bestD <= Math.max(2, Math.floor(best.length / 3))) return `did you mean "${best}"?`;
  return `valid: ${valid.join(', ')}`;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a config value of one kind; `at` is the dotted field (`trainer.grpo`). */
type Check = (v: unknown, at: string) => void;

const fail = (at: string, msg: string): never => {
  throw new SettingsError('unknown-value', at, msg);
};
const typeName = (v: unknown) => (Array.isArray(v) ? 'an array' : v === null ? 'null' : `a ${typeof v}`);

const str: Check = (v, at) => {
  if (typeof v !== 'string') fail(at, `must be a string, got ${typeName(v)}`);
};
const bool: Check = (v, at) => {
  if (typeof v !== 'boolean') fail(at, `must be true or false, got ${jsonForMessage(v)}`);
};
const int =
  (min: number): Check =>
  (v, at) =>
    checkInteger(at, v as number, min);
const anything: Check = () => {};

function object(fields: Record<string, Check>): Check {
  const names = Object.keys(fields);
  return (v, at) => {
    if (!isObj(v)) return fail(at, `must be a JSON object, got ${typeName(v)}`);
    for (const [k, x] of Object.entries(v)) {
      const field = at ? `${at}.${k}` : k;
      // Object.hasOwn: `__proto__` / `constructor` are unknown keys, not inherited checks.
      if (!Object.hasOwn(fields, k)) fail(field, `unknown key; ${suggestion(k, names)}`);
      if (x !== undefined) fields[k](x, field);
    }
  };
}

function list(item: Check, minLength = 0): Check {
  return (v, at) => {
    if (!Array.isArray(v)) return fail(at, `must be a list, got ${typeName(v)}`);
    if (v.length < minLength)
      fail(at, `must have at least ${minLength} entr${minLength === 1 ? 'y' : 'ies'}`);
    v.forEach((x, i) => {
      item(x, `${at}[${i}]`);
    });
  };
}

/** Keys of a defaults object, each checked later by the settings' own validation. */
const keysOf = (o: object, extra: string[] = []): Record<string, Check> =>
  Object.fromEntries([...Object.keys(o), ...extra].map((k) => [k, anything]));

const preset: Check = (v, at) => {
  str(v, at);
  checkOneOf(at, v as string, PRESET_NAMES);
};

const reward: Check = (v, at) => {
  if (typeof v === 'string') return checkOneOf(at, v, Object.keys(REWARD_PRESETS));
  object(keysOf(PAPER_REWARD))(v, at);
};

const TRAINER = object({
  grpo: object(keysOf(GRPO_DEFAULTS)),
  preset,
  mot: object(keysOf(MOT_DEFAULTS)),
  stop: object(keysOf(STOP_DEFAULTS, ['thinkEnd', 'eos'])),
  tasks: list(object({ task: str, level: str, weight: anything }), 1),
  reward,
  mode: str,
  lora: object({ r: anything, alpha: anything, targetModules: list(str) }),
  dataSeed: int(0),
  heldOut: object({ count: int(0) }),
  hiddenEntropy: bool,
  injectNonFiniteAtStep: int(1),
});

/** Every field of ExperimentConfig (`resolved`: what a run's config.json adds; ignored on input). */
const EXPERIMENT = object({
  name: str,
  model: str,
  trainer: TRAINER,
  evalEvery: int(0),
  evalN: int(1),
  evalItems: int(1),
  checkpointEvery: int(0),
  cpu: bool,
  browser: bool,
  resume: bool,
  out: str,
  resolved: anything,
  matrix: object({
    task: list(str, 1),
    preset: list(preset, 1),
    num_generations: list(int(2), 1),
    seed: list(int(0), 1),
  }),
});

/** Deeper than any real config (they nest 3 levels). */
const MAX_CONFIG_DEPTH = 32;

/** A config file's parsed JSON, checked: SettingsError naming `file` and the field otherwise. */
export function checkExperimentConfig(json: unknown, file: string): ExperimentConfig {
  try {
    if (!isObj(json)) fail('(top level)', `must be a JSON object, got ${typeName(json)}`);
    // The settings' checks format values into messages (`${x}` recurses into a list): no deep lists.
    if (nestedDeeperThan(json, MAX_CONFIG_DEPTH))
      fail('(top level)', `nested more than ${MAX_CONFIG_DEPTH} levels deep`);
    EXPERIMENT(json, '');
  } catch (e) {
    if (e instanceof SettingsError)
      throw new SettingsError(e.code, `${file}: ${e.field}`, e.message.slice(e.field.length + 2));
    throw e;
  }
  const { resolved: _ignored, ...cfg } = json as Obj;
  return cfg as unknown as ExperimentConfig;
}

/** The trainer settings of a run: SettingsError / TrainingError naming the field when they cannot run. */
export function checkRunnable(cfg: ExperimentConfig): void {
  EXPERIMENT(cfg, '');
  // A config file may leave `trainer` out (the CLI fills in its defaults): checked as the defaults.
  makeTrainerConfig(runTrainerConfig(cfg));
}
