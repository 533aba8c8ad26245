// Learning-rate schedules, as functions of the 0-based optimizer step (the update about to be made).
// Warm-up is linear from lr / warmupSteps at step 0 to lr at step warmupSteps − 1 (llm.c / nanoGPT:
// lr · (step + 1) / warmup), so the first update is never made with a zero rate.

export type LrSchedule =
  | { kind: 'constant'; lr: number }
  /** Linear warm-up, then constant. */
  | { kind: 'linear-warmup'; lr: number; warmupSteps: number }
  /** Linear warm-up, then a half cosine from lr down to minLr at totalSteps, then minLr. */
  | { kind: 'cosine'; lr: number; warmupSteps: number; totalSteps: number; minLr: number };

export function learningRate(s: LrSchedule, step: number): number {
  if (!(step >= 0) || !Number.isInteger(step))
    throw new RangeError(`learningRate: step must be an integer ≥ 0, got ${step}`);
  if (s.kind === 'constant') return s.lr;
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'linear-warmup') return s.lr;
  const decaySteps = s.totalSteps - s.warmupSteps;
  if (step >= s.totalSteps || decaySteps <= 0) return s.minLr;
  const ratio = (step - s.warmupSteps) / decaySteps;
  return s.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.lr - s.minLr);
}
