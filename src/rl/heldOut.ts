// Held-out evaluation items that training never sees (MOTG.md §5 "held-out means unseen text").
//
// A pool per (task, level): the first `count` distinct question texts of the task's generator under a
// seed fixed by the task and level name alone — not by the run's seed — so the same pool can be left out
// of the built-in model's SFT data (builtin/data.ts) and of every GRPO run. Texts are compared normalised:
// trimmed, every run of whitespace made one space, lower-cased (normaliseQuestion).
//
// Training draws whose normalised text is in a pool are drawn again (the trainer's promptsFor, through
// drawOutside) from the same counter-based RNG with a further counter, so a step's prompts stay a function
// of (seed, step, i) and checkpoints resume exactly.
//
// Refusals (TrainingError 'held-out-too-large', naming task and level): the level's generator does not
// give `count` distinct texts within POOL_GENERATIONS items, or fewer than MIN_OUTSIDE_SHARE of
// training-like draws fall outside the pool (then the bounded redraw could fail, and training would
// revisit a handful of questions).

import { pcgHash } from '../mot/rng.ts';
import { resolveConfig } from '../tasks/dataset.ts';
import { getTask } from '../tasks/registry.ts';
import type { TaskEntry } from '../tasks/types.ts';
import { TrainingError } from './errors.ts';

/** The most items a pool may hold (each costs a generation; a config's typo must not hang the run). */
export const MAX_HELD_OUT = 10_000;
/** Collecting a pool stops once this many items were generated for the `found` distinct texts so far:
 * past it, a level's question space is spent (a uniform space of K texts is all seen after 20·K draws
 * with probability 1 − K·e^−20). */
export const POOL_GENERATIONS = (found: number): number => 1000 + 20 * found;
/** Training-like draws that measure how much of a level's question mass lies outside its pool. */
export const PROBE_DRAWS = 2000;
/** Smallest share of draws outside the pool a level may keep: with it, MAX_REDRAWS attempts all land in
 * the pool with probability ≤ 0.75^256 ≈ 1e-32. */
export const MIN_OUTSIDE_SHARE = 0.25;
/** Attempts of one training draw before it fails with 'held-out-too-large'. */
export const MAX_REDRAWS = 256;

/** A question as compared for disjointness: trimmed, whitespace runs collapsed to one space, lower-cased. */
export function normaliseQuestion(question: string): string {
  return question.trim().replace(/\s+/g, ' ').toLowerCase();
}

export interface HeldOutPool {
  task: string;
  /** The level's name (the last level's — the defaults — when the mix entry names none). */
  level: string;
  /** The held-out items in generation order: item i has the i-th distinct text. */
  entries: readonly TaskEntry[];
  /** Their normalised question texts. */
  texts: ReadonlySet<string>;
  /** Share of PROBE_DRAWS training-like draws whose text lies outside the pool. */
  outsideShare: number;
}

/** The level a mix entry means: its name, or the last level's (which equals the task's defaults). */
export function levelName(task: string, level?: string): string {
  return level ?? getTask(task).levels.at(-1)?.name ?? 'default';
}

/** FNV-1a of a string, then pcgHash: the pool's seed from the task and level name alone. */
function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return pcgHash(h >>> 0);
}

const pools = new Map<string, HeldOutPool>();

/**
 * The held-out pool of `count` items of `task` at `level` (deterministic from the three; a pool of n is the
 * first n items of a larger one). Throws TrainingError('held-out-too-large') when the level cannot hold
 * them out (see the module comment).
 */
export function heldOutPool(task: string, level: string | undefined, count: number): HeldOutPool {
  const name = levelName(task, level);
  const key = `${task}\u0000${name}\u0000${count}`;
  const cached = pools.get(key);
  if (cached) return cached;
  const label = `${task}:${name}`;
  const fewer = 'hold out fewer items per task (evalItems / trainer.heldOut.count) or use a harder level';
  if (count > MAX_HELD_OUT)
    throw new TrainingError(
      'held-out-too-large',
      `${label}: ${count} held-out items asked, at most ${MAX_HELD_OUT}`,
    );
  const def = getTask(task);
  const config = resolveConfig(def, level);
  const seed = seedOf(`held-out:${task}:${name}`);
  const entries: TaskEntry[] = [];
  const texts = new Set<string>();
  let generated = 0;
  while (entries.length < count && generated < POOL_GENERATIONS(entries.length)) {
    const entry = def.generate(config, seed, generated++);
    const text = normaliseQuestion(entry.question);
    if (texts.has(text)) continue;
    texts.add(text);
    entries.push(entry);
  }
  if (entries.length < count)
    throw new TrainingError(
      'held-out-too-large',
      `${label}: only ${entries.length} distinct questions in ${generated} generated items; cannot hold ` +
        `out ${count}; ${fewer}`,
    );
  const probeSeed = pcgHash((seed ^ 0x5bd1e995) >>> 0);
  let outside = 0;
  for (let i = 0; i < PROBE_DRAWS; i++)
    if (!texts.has(normaliseQuestion(def.generate(config, probeSeed, i).question))) outside++;
  const outsideShare = outside / PROBE_DRAWS;
  if (outsideShare < MIN_OUTSIDE_SHARE)
    throw new TrainingError(
      'held-out-too-large',
      `${label}: holding out ${count} questions leaves ${(100 * outsideShare).toFixed(1)}% of training ` +
        `draws outside the held-out pool (at least ${100 * MIN_OUTSIDE_SHARE}% needed); ${fewer}`,
    );
  const pool: HeldOutPool = { task, level: name, entries, texts, outsideShare };
  pools.set(key, pool);
  return pool;
}

/** The first `count` held-out items of `task` at `level`, as the evaluator takes them. */
export function heldOutEvalItems(
  task: string,
  level: string,
  count: number,
): { task: string; level: string; index: number; entry: TaskEntry }[] {
  return heldOutPool(task, level, count).entries.map((entry, index) => ({ task, level, index, entry }));
}

/** The pools of a task mix (one per distinct task and level) and the union of their texts. */
export class HeldOutSet {
  readonly pools: readonly HeldOutPool[];
  private readonly texts = new Set<string>();

  constructor(
    mix: readonly { task: string; level?: string }[],
    readonly count: number,
  ) {
    const byKey = new Map<string, HeldOutPool>();
    for (const t of mix) {
      const key = `${t.task}\u0000${levelName(t.task, t.level)}`;
      if (count > 0 && !byKey.has(key)) byKey.set(key, heldOutPool(t.task, t.level, count));
    }
    this.pools = [...byKey.values()];
    for (const p of this.pools) for (const x of p.texts) this.texts.add(x);
  }

  /** Whether a question's normalised text is held out (by any pool of the mix). */
  has(question: string): boolean {
    return this.texts.has(normaliseQuestion(question));
  }

  /** The first `n` held-out items of a task at a level of the mix. */
  itemsFor(task: string, level: string | undefined, n: number): TaskEntry[] {
    const name = levelName(task, level);
    const pool = this.pools.find((p) => p.task === task && p.level === name);
    if (!pool || n > pool.entries.length)
      throw new TrainingError(
        'held-out-too-large',
        `${task}:${name}: ${n} held-out items asked, the trainer holds out ${pool?.entries.length ?? 0} ` +
          '(trainer.heldOut.count)',
      );
    return pool.entries.slice(0, n);
  }
}

/**
 * The first of draw(0), draw(1), … whose question is not held out. Throws TrainingError
 * ('held-out-too-large') naming `label` (task:level) after MAX_REDRAWS attempts.
 */
export function drawOutside(
  heldOut: HeldOutSet,
  label: string,
  draw: (attempt: number) => TaskEntry,
): TaskEntry {
  for (let attempt = 0; attempt < MAX_REDRAWS; attempt++) {
    const entry = draw(attempt);
    if (!heldOut.has(entry.question)) return entry;
  }
  throw new TrainingError(
    'held-out-too-large',
    `${label}: ${MAX_REDRAWS} draws in a row were held-out questions; training cannot draw outside the ` +
      'held-out pool (hold out fewer items per task or use a harder level)',
  );
}
