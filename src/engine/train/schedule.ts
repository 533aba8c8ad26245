// Learning-rate schedules, as functions of the 0-based optimizer step (the update about to be made): the one
// place every trainer (GRPO in src/rl/trainer.ts, SFT in sft.ts, GpuTrainer's `schedule` option) takes its
// rate from. The names and the warm-up follow Hugging Face (transformers' get_scheduler, which TRL's GRPO
// uses): warm-up is linear from 0 at step 0 to lr at step warmupSteps, lr · (step / warmupSteps), so the
// first update of a warmed-up run is made at rate 0.
//
// One exception keeps llm.c's warm-up, lr · (step + 1) / warmupSteps (never a zero rate): the built-in
// model's SFT recipe (`npm run train:builtin`), whose committed weights must be reproducible byte for byte,
// was trained with it. It is `cosine_with_min_lr` with `warmup: 'llm.c'`, a flavour of its own so that no
// HF-named schedule silently means something else.

export type LrSchedule =
  /** lr at every step (HF `constant`: no warm-up). */
  | { kind: 'constant'; lr: number }
  /** Linear warm-up, then lr (HF `constant_with_warmup`). */
  | { kind: 'constant_with_warmup'; lr: number; warmupSteps: number }
  /** Linear warm-up, then linear decay to 0 at totalSteps (HF `linear`). */
  | { kind: 'linear'; lr: number; warmupSteps: number; totalSteps: number }
  /** Linear warm-up, then a half cosine from lr to 0 at totalSteps (HF `cosine`, one half-cycle). */
  | { kind: 'cosine'; lr: number; warmupSteps: number; totalSteps: number }
  /** Linear warm-up, then a half cosine from lr down to minLr at totalSteps, then minLr (HF
   * `cosine_with_min_lr` with `min_lr`). `warmup`: 'hf' (lr · step / W) or 'llm.c' (lr · (step + 1) / W,
   * the SFT recipe of the built-in model, kept so its weights reproduce). */
  | {
      kind: 'cosine_with_min_lr';
      lr: number;
      warmupSteps: number;
      totalSteps: number;
      minLr: number;
      warmup: 'hf' | 'llm.c';
    };

/** The HF scheduler names a run's settings can pick (TRL's `lr_scheduler_type`). */
export type HfSchedulerName = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

/** The schedule HF's get_scheduler(name, warmup, total) makes, for a peak rate lr. */
export function hfSchedule(
  name: HfSchedulerName,
  o: { lr: number; warmupSteps: number; totalSteps: number },
): LrSchedule {
  if (name === 'constant') return { kind: 'constant', lr: o.lr };
  if (name === 'constant_with_warmup')
    return { kind: 'constant_with_warmup', lr: o.lr, warmupSteps: o.warmupSteps };
  return { kind: name, lr: o.lr, warmupSteps: o.warmupSteps, totalSteps: o.totalSteps };
}

export function learningRate(s: LrSchedule, step: number): number {
  if (!(step >= 0) || !Number.isInteger(step))
    throw new RangeError(`learningRate: step must be an integer ≥ 0, got ${step}`);
  if (s.kind === 'constant') return s.lr;
  if (step < s.warmupSteps) {
    // The float order of each: HF multiplies the base rate by the factor step / W; llm.c divides lr·(step+1).
    if (s.kind === 'cosine_with_min_lr' && s.warmup === 'llm.c') return (s.lr * (step + 1)) / s.warmupSteps;
    return s.lr * (step / s.warmupSteps);
  }
  if (s.kind === 'constant_with_warmup') return s.lr;
  if (s.kind === 'cosine_with_min_lr') return cosineToMinLr(s, step);
  // Fraction of the decay done; held at 1 past totalSteps (HF's linear stops at 0 there; its cosine would
  // climb back, which no run here reaches). Equal to HF's formulas up to float rounding.
  const frac = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  if (s.kind === 'cosine') return s.lr * 0.5 * (1 + Math.cos(Math.PI * frac));
  return s.lr * (1 - frac); // linear
}

/** The decay of cosine_with_min_lr, past the warm-up (llm.c's arithmetic; HF's mathematically). */
function cosineToMinLr(s: Extract<LrSchedule, { kind: 'cosine_with_min_lr' }>, step: number): number {
  const decaySteps = s.totalSteps - s.warmupSteps;
  if (step >= s.totalSteps || decaySteps <= 0) return s.minLr;
  const ratio = (step - s.warmupSteps) / decaySteps;
  return s.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.lr - s.minLr);
}
