// Skipped GRPO steps of a run (a step whose loss, gradient or update was not finite: its parameters stayed
// as before the step), for the Train panel's run list and the marks on its charts.
import type { TrainRunRecord } from '../types.ts';

/** The steps of `run` that were skipped, in order. */
export function skippedSteps(run: Pick<TrainRunRecord, 'history'>): number[] {
  return run.history.filter((m) => m.skipped).map((m) => m.step);
}

/** The steps skipped in any of `runs`, each once, in order (the charts mark each). */
export function skippedStepsOfRuns(runs: readonly Pick<TrainRunRecord, 'history'>[]): number[] {
  return [...new Set(runs.flatMap(skippedSteps))].sort((a, b) => a - b);
}
