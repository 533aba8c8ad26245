// Strict scoring, documented side by side with the faithful one in docs/TASKS.md.
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

/**
 * The strict score: all or nothing. A task's own scoreStrict where it has one (it also closes gaps
 * such as puzzle24 not checking the numbers); otherwise 1 only when the faithful score is exactly 1.
 * This removes every partial credit — substring ratios, 0.01/0.05 consolation scores, per-cell credit.
 */
export function strictScore(task: TaskDefinition, answer: string | null, entry: TaskEntry): ScoreResult {
  if (task.scoreStrict) return task.scoreStrict(answer, entry);
  const r = task.score(answer, entry);
  return r.score === 1 ? r : { ...r, score: 0 };
}
