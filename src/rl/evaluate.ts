// The one held-out evaluator (MOTG.md §4): items → prompts → completions → scores → accuracy per task.
// `npm run evaluate` (builtin/evaluate.ts), the page's Evaluate view (store/lib/evalRun.ts) and the GRPO
// trainer all measure accuracy here, so they agree on what it means: per item, the fraction of its samples
// scoring 1; per task, the mean of that over the task's items. Each caller keeps its own decoding path — it
// injects how a question becomes prompt ids and how prompts become completions (Engine.generate, the worker
// client's rollout, runRollout in process) — and the evaluator does the rest in a fixed order, so the same
// completions always give the same numbers.
import type { RolloutStepper, StepperConfig } from '../engine/decode/stepper.ts';
import { generateDataset } from '../tasks/dataset.ts';
import { getTask } from '../tasks/registry.ts';
import {
  computeReward,
  type RewardBreakdown,
  type RewardPresetName,
  type RewardSettings,
} from '../tasks/reward.ts';
import type { TaskEntry } from '../tasks/types.ts';
import { type RolloutLoopOptions, runRollout, type Trajectory } from './rollout.ts';

/** The reward an evaluation scores with unless told otherwise (its `total` is the reported mean reward). */
export const EVAL_REWARD: RewardPresetName = 'tiny';

/** One held-out question. */
export interface EvalItem {
  task: string;
  /** Curriculum level it was drawn at (reported with its task). */
  level?: string;
  /** Its index among its task's items: the seeds of its samples derive from it. */
  index: number;
  entry: TaskEntry;
}

/** An item with its prompt, as the decoder receives it. */
export interface EvalPrompt {
  item: EvalItem;
  promptIds: number[];
}

/** One completion of a prompt, as the caller's decoding produced it. */
export interface EvalCompletion {
  /** What the reward reads: the text after the prompt (prefill and stop token excluded). */
  completion: string;
  /** Tokens generated, as the caller counts them. */
  tokens: number;
  /** 'cancelled' stops the evaluation before this batch counts. */
  stopReason?: string;
}

/** What scoring a completion yields. */
export interface EvalScore {
  /** The extracted answer (null: none). */
  answer: string | null;
  /** The task's score, 0..1 (partial credit included). */
  score: number;
  /** The reward's total. */
  reward: number;
  /** The reward's format check passed. */
  format: boolean;
}

export type ScoredCompletion = EvalCompletion & EvalScore & { correct: boolean };

/** Completions for a batch of prompts: `samples` per prompt, in prompt order. */
export type EvalDecoder = (prompts: EvalPrompt[], samples: number) => Promise<EvalCompletion[][]>;
export type EvalScorer = (completion: string, item: EvalItem) => EvalScore;

/** One task's row (the page keeps these as its EvalTaskResult). */
export interface TaskAccuracy {
  task: string;
  level: string;
  /** Items evaluated so far. */
  questions: number;
  /** Samples per item. */
  samples: number;
  /** Mean over items of the fraction of samples scoring 1. */
  accuracy: number;
  meanScore: number;
  formatRate: number;
  meanReward: number;
  tokens: number;
  /** Per item, in order: how many of its `samples` scored 1 (pass@k is computed from these: passAtK.ts). */
  correct: number[];
}

/** Over all items of every task. */
export interface EvalTotals {
  items: number;
  completions: number;
  /** Mean over items of the fraction of samples scoring 1. */
  accuracy: number;
  meanScore: number;
  formatRate: number;
  /** Mean reward over all completions. */
  meanReward: number;
  tokens: number;
}

/** After each item. */
export interface EvalProgress {
  item: EvalItem;
  /** The item's completions, scored, in sample order. */
  completions: ScoredCompletion[];
  /** Rows so far: the same objects keep updating, the row of the item's task included. */
  tasks: TaskAccuracy[];
  itemsDone: number;
  /** Completions scored so far, and in all. */
  done: number;
  total: number;
}

/** One evaluated item's samples and how many scored 1 (what pass@k is computed from: passAtK.ts). */
export interface ItemCount {
  task: string;
  /** The item's index among its task's items. */
  index: number;
  /** Samples drawn. */
  n: number;
  /** Samples scoring 1. */
  c: number;
}

export interface EvalReport {
  /** Per task, in order of its first item. */
  tasks: TaskAccuracy[];
  overall: EvalTotals;
  /** Per item evaluated, in evaluation order. */
  items: ItemCount[];
  /** Stopped early (cancelled): the rows cover the items done. */
  interrupted: boolean;
}

export interface EvaluatorOptions {
  /** Completions per item. */
  samples: number;
  /** Item → prompt ids (the caller's prompt format and tokenizer). */
  prompt: (item: EvalItem) => number[] | Promise<number[]>;
  decode: EvalDecoder;
  /** Default: the task's reward at EVAL_REWARD (rewardScorer()). */
  score?: EvalScorer;
  /** Items per decode call (default 1; the trainer decodes them all in one batched rollout). */
  itemsPerDecode?: number;
  /** Checked before each decode call: true stops the evaluation (what was done is kept). */
  cancelled?: () => boolean;
  onItem?: (progress: EvalProgress) => void;
}

/** `n` held-out items of a task at a level (tasks/dataset.ts generateDataset: item i from (seed, i)). */
export function datasetItems(task: string, level: string, seed: number, n: number): EvalItem[] {
  return generateDataset(task, level, seed, n).map((d, index) => ({ task, level, index, entry: d.entry }));
}

/** A reward breakdown as an evaluation score. */
export function rewardScore(r: RewardBreakdown): EvalScore {
  return { answer: r.answer, score: r.score, reward: r.total, format: r.format > 0 };
}

/** Score one completion of a task item with the task's reward. */
export function scoreCompletion(
  completion: string,
  task: string,
  entry: TaskEntry,
  reward: RewardPresetName | Partial<RewardSettings> = EVAL_REWARD,
): EvalScore {
  return rewardScore(computeReward(completion, getTask(task), entry, reward));
}

export function rewardScorer(reward: RewardPresetName | Partial<RewardSettings> = EVAL_REWARD): EvalScorer {
  return (completion, item) => scoreCompletion(completion, item.task, item.entry, reward);
}

/** Completions per prompt of a rollout's trajectories (row = prompt · G + g). */
export function completionsByPrompt(
  trajectories: Pick<Trajectory, 'promptIndex' | 'completion' | 'tokens' | 'stopReason'>[],
  prompts: number,
): EvalCompletion[][] {
  const out: EvalCompletion[][] = Array.from({ length: prompts }, () => []);
  for (const t of trajectories)
    out[t.promptIndex].push({ completion: t.completion, tokens: t.tokens.length, stopReason: t.stopReason });
  return out;
}

/** A decoder over the rollout loop in process: all prompts of a call in one batch, `samples` rows each. */
export function rolloutDecoder(
  makeStepper: (cfg: StepperConfig) => RolloutStepper,
  loop: Omit<RolloutLoopOptions, 'G'>,
): EvalDecoder {
  return async (prompts, samples) => {
    const run = await runRollout(
      makeStepper,
      prompts.map((p) => p.promptIds),
      { ...loop, G: samples },
    );
    return completionsByPrompt(run.trajectories, prompts.length);
  };
}

/** Running sums of a set of items; the means are taken from them in one place. */
class Tally {
  items = 0;
  completions = 0;
  correctFractions = 0;
  scoreSum = 0;
  formatSum = 0;
  rewardSum = 0;
  tokens = 0;

  add(completions: readonly ScoredCompletion[]): void {
    let correct = 0;
    for (const c of completions) {
      if (c.correct) correct++;
      this.scoreSum += c.score;
      this.rewardSum += c.reward;
      this.formatSum += c.format ? 1 : 0;
      this.tokens += c.tokens;
      this.completions++;
    }
    this.correctFractions += correct / completions.length;
    this.items++;
  }

  totals(): EvalTotals {
    const n = this.completions;
    return {
      items: this.items,
      completions: n,
      accuracy: this.items > 0 ? this.correctFractions / this.items : 0,
      meanScore: n > 0 ? this.scoreSum / n : 0,
      formatRate: n > 0 ? this.formatSum / n : 0,
      meanReward: n > 0 ? this.rewardSum / n : 0,
      tokens: this.tokens,
    };
  }
}

/** A task's row and its sums. */
interface TaskTally {
  row: TaskAccuracy;
  tally: Tally;
}

function newTaskTally(item: EvalItem, samples: number): TaskTally {
  return {
    row: {
      task: item.task,
      level: item.level ?? '',
      questions: 0,
      samples,
      accuracy: 0,
      meanScore: 0,
      formatRate: 0,
      meanReward: 0,
      tokens: 0,
      correct: [],
    },
    tally: new Tally(),
  };
}

/** The row's figures from its sums. */
function refreshRow(t: TaskTally): void {
  const s = t.tally.totals();
  t.row.questions = s.items;
  t.row.accuracy = s.accuracy;
  t.row.meanScore = s.meanScore;
  t.row.formatRate = s.formatRate;
  t.row.meanReward = s.meanReward;
  t.row.tokens = s.tokens;
}

/**
 * Evaluate items in order: per decode call (`itemsPerDecode` items), the rows of their tasks, the cancel
 * check, the prompts, the decoding; then per item its completions scored and counted (a completion is
 * correct when its score is ≥ 1), and `onItem`. A batch with a cancelled completion is not counted.
 */
export async function evaluateItems(items: readonly EvalItem[], opts: EvaluatorOptions): Promise<EvalReport> {
  const perDecode = opts.itemsPerDecode ?? 1;
  if (!Number.isInteger(perDecode) || perDecode < 1)
    throw new RangeError(`itemsPerDecode must be an integer ≥ 1, got ${perDecode}`);
  const score = opts.score ?? rewardScorer();
  const total = items.length * opts.samples;
  const byTask = new Map<string, TaskTally>();
  const tasks: TaskAccuracy[] = [];
  const overall = new Tally();
  const counts: ItemCount[] = [];
  const report = (interrupted: boolean): EvalReport => ({
    tasks,
    overall: overall.totals(),
    items: counts,
    interrupted,
  });
  let done = 0;
  for (let start = 0; start < items.length; start += perDecode) {
    const batch = items.slice(start, start + perDecode);
    for (const item of batch) {
      if (byTask.has(item.task)) continue;
      const t = newTaskTally(item, opts.samples);
      byTask.set(item.task, t);
      tasks.push(t.row);
    }
    if (opts.cancelled?.()) return report(true);
    const prompts: EvalPrompt[] = [];
    for (const item of batch) prompts.push({ item, promptIds: await opts.prompt(item) });
    const outs = await opts.decode(prompts, opts.samples);
    if (outs.length !== batch.length)
      throw new RangeError(
        `the decoder returned ${outs.length} completion lists for ${batch.length} prompts`,
      );
    if (outs.some((o) => o.some((c) => c.stopReason === 'cancelled'))) return report(true);
    batch.forEach((item, i) => {
      const completions = outs[i].map((c): ScoredCompletion => {
        const s = score(c.completion, item);
        return { ...c, ...s, correct: s.score >= 1 };
      });
      const t = byTask.get(item.task) as TaskTally;
      t.tally.add(completions);
      refreshRow(t);
      overall.add(completions);
      const c = completions.filter((x) => x.correct).length;
      counts.push({ task: item.task, index: item.index, n: completions.length, c });
      t.row.correct.push(c);
      done += completions.length;
      opts.onItem?.({ item, completions, tasks, itemsDone: overall.items, done, total });
    });
  }
  return report(false);
}
