// The statistics of the reproduction report (MOTG.md §5): percentile-bootstrap 95% intervals of a cell's
// mean over seeds and of differences (paired by seed, or between independent groups), verdict rules stated
// as data and applied to those intervals, and whether a hyper-parameter grid brackets its best value.
// Every resampling is seeded, so the same runs always give the same report.

/** A bootstrap interval of a statistic: its value on the data and the percentile interval. */
export interface Interval {
  /** The statistic on the data themselves (a mean or a difference of means). */
  estimate: number;
  lo: number;
  hi: number;
  /** Values resampled (pairs for a paired difference; the smaller group for an unpaired one). */
  n: number;
}

export interface BootstrapOptions {
  /** Resamples drawn (default 10,000). */
  resamples?: number;
  /** Seed of the resampling (default 1). */
  seed?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
}

export const BOOTSTRAP_RESAMPLES = 10_000;
export const BOOTSTRAP_SEED = 1;

/** mulberry32: a small seeded generator of uniforms in [0, 1); enough to pick resampling indices. */
function uniforms(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const mean = (xs: readonly number[]): number =>
  xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;

/** The q-quantile of sorted values, linearly interpolated between order statistics (R's type 7). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const i = Math.floor(h);
  const j = Math.min(i + 1, sorted.length - 1);
  return sorted[i] + (h - i) * (sorted[j] - sorted[i]);
}

/** Mean of `xs.length` values drawn from `xs` with replacement. */
function resampledMean(xs: readonly number[], next: () => number): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[Math.floor(next() * xs.length)];
  return s / xs.length;
}

/** The percentile interval of `draw()` over the resamples. */
function percentileInterval(
  estimate: number,
  n: number,
  draw: (next: () => number) => number,
  opts: BootstrapOptions,
): Interval {
  if (n === 0 || !Number.isFinite(estimate))
    return { estimate: Number.NaN, lo: Number.NaN, hi: Number.NaN, n };
  const R = opts.resamples ?? BOOTSTRAP_RESAMPLES;
  const level = opts.level ?? 0.95;
  const next = uniforms(opts.seed ?? BOOTSTRAP_SEED);
  const stats = new Float64Array(R);
  for (let r = 0; r < R; r++) stats[r] = draw(next);
  stats.sort();
  return { estimate, lo: quantile(stats, (1 - level) / 2), hi: quantile(stats, (1 + level) / 2), n };
}

/** Bootstrap interval of the mean of `xs` (e.g. a cell's final accuracy over its seeds). */
export function bootstrapMean(xs: readonly number[], opts: BootstrapOptions = {}): Interval {
  return percentileInterval(mean(xs), xs.length, (next) => resampledMean(xs, next), opts);
}

/** Bootstrap interval of mean(a − b) over pairs (a[i], b[i]): before → after of the same seed. */
export function bootstrapPairedDifference(
  a: readonly number[],
  b: readonly number[],
  opts: BootstrapOptions = {},
): Interval {
  if (a.length !== b.length) throw new RangeError(`paired difference of ${a.length} and ${b.length} values`);
  return bootstrapMean(
    a.map((x, i) => x - b[i]),
    opts,
  );
}

/** Bootstrap interval of mean(a) − mean(b), each group resampled on its own (independent arms). */
export function bootstrapUnpairedDifference(
  a: readonly number[],
  b: readonly number[],
  opts: BootstrapOptions = {},
): Interval {
  const n = a.length && b.length ? Math.min(a.length, b.length) : 0;
  return percentileInterval(
    mean(a) - mean(b),
    n,
    (next) => resampledMean(a, next) - resampledMean(b, next),
    opts,
  );
}

/** A value per seed. */
export type BySeed = ReadonlyMap<number, number>;

/** mean(a) − mean(b): paired by seed when both arms have the same seeds, unpaired otherwise. */
export function bootstrapDifference(
  a: BySeed,
  b: BySeed,
  opts: BootstrapOptions = {},
): Interval & { paired: boolean } {
  const seeds = [...a.keys()];
  const paired = seeds.length > 0 && seeds.length === b.size && seeds.every((s) => b.has(s));
  if (paired)
    return {
      ...bootstrapPairedDifference(
        seeds.map((s) => a.get(s) as number),
        seeds.map((s) => b.get(s) as number),
        opts,
      ),
      paired,
    };
  return { ...bootstrapUnpairedDifference([...a.values()], [...b.values()], opts), paired };
}

// ---- Verdict rules ------------------------------------------------------------------------------------

export type Verdict = 'holds' | 'does not hold' | 'inconclusive';

/** Where the interval must lie for the claim to hold. */
export type Criterion = { above: number } | { below: number } | { within: number };

/** A claim and the rule that decides it, stated before any result is read. */
export interface VerdictRule {
  claim: string;
  /** What the interval is of (e.g. "final accuracy: mixture − matched discrete, paired by seed"). */
  quantity: string;
  holdsIf: Criterion;
  /** Fewer seeds than this in any arm: inconclusive whatever the interval. */
  minSeeds: number;
}

const num = (x: number) => `${x}`;

/** The rule in words: when the claim holds, when it does not, and when the data cannot say. */
export function ruleText(rule: VerdictRule, fmt: (x: number) => string = num): string {
  const c = rule.holdsIf;
  let cases: string;
  if ('above' in c)
    cases = `holds if the 95% interval lies entirely above ${fmt(c.above)}; does not hold if it lies entirely at or below ${fmt(c.above)}`;
  else if ('below' in c)
    cases = `holds if the 95% interval lies entirely below ${fmt(c.below)}; does not hold if it lies entirely at or above ${fmt(c.below)}`;
  else
    cases = `holds if the 95% interval lies inside (−${fmt(c.within)}, ${fmt(c.within)}); does not hold if it lies entirely outside it`;
  return `${rule.quantity}: ${cases}; inconclusive otherwise, or with fewer than ${rule.minSeeds} seeds in an arm`;
}

/** Where the interval sits against the criterion, ignoring the number of seeds. */
function intervalVerdict(c: Criterion, i: Interval): Verdict {
  if ('above' in c) return i.lo > c.above ? 'holds' : i.hi <= c.above ? 'does not hold' : 'inconclusive';
  if ('below' in c) return i.hi < c.below ? 'holds' : i.lo >= c.below ? 'does not hold' : 'inconclusive';
  if (i.lo > -c.within && i.hi < c.within) return 'holds';
  return i.lo >= c.within || i.hi <= -c.within ? 'does not hold' : 'inconclusive';
}

/** The rule applied to an interval from arms with `seeds` seeds (the smallest arm's count). */
export function verdictOf(
  rule: VerdictRule,
  interval: Interval,
  seeds: number,
): { verdict: Verdict; why: string } {
  if (!Number.isFinite(interval.lo) || !Number.isFinite(interval.hi))
    return { verdict: 'inconclusive', why: 'no data' };
  const byInterval = intervalVerdict(rule.holdsIf, interval);
  if (seeds < rule.minSeeds)
    return {
      verdict: 'inconclusive',
      why: `${seeds} seed${seeds === 1 ? '' : 's'} < ${rule.minSeeds} (the interval alone: ${byInterval})`,
    };
  return { verdict: byInterval, why: 'by the interval' };
}

/** Verdict of a claim made of several rules: holds if all hold, does not hold if any does not. */
export function allOf(verdicts: readonly Verdict[]): Verdict {
  if (verdicts.length === 0) return 'inconclusive';
  if (verdicts.includes('does not hold')) return 'does not hold';
  return verdicts.every((v) => v === 'holds') ? 'holds' : 'inconclusive';
}

// ---- Hyper-parameter grids ----------------------------------------------------------------------------

/** The best value of a grid (highest score) and whether the grid brackets it. */
export interface GridBest {
  best: number;
  score: number;
  /** 'lower' / 'upper': the best value is the grid's smallest / largest, so the optimum may lie beyond. */
  edge: 'lower' | 'upper' | null;
}

/** Best grid value by score; a grid of one value has its best at both edges (reported as 'lower'). */
export function gridBest(points: readonly { value: number; score: number }[]): GridBest | null {
  const ok = points.filter((p) => Number.isFinite(p.score));
  if (ok.length === 0) return null;
  const sorted = [...ok].sort((a, b) => a.value - b.value);
  let best = sorted[0];
  for (const p of sorted) if (p.score > best.score) best = p;
  const edge = best === sorted[0] ? 'lower' : best === sorted[sorted.length - 1] ? 'upper' : null;
  return { best: best.value, score: best.score, edge };
}

// ---- The claims of the reproduction report (scripts/reproduction-report.ts), fixed before its runs ------

/** A claim with its rule; `scale` says how its numbers print (accuracy differences in points). */
export interface ClaimRule extends VerdictRule {
  id: string;
  scale: 'points' | 'nats';
}

/** Fewer seeds than this in an arm make a verdict inconclusive (MOTG.md §5: at least 5 per cell). */
export const MIN_SEEDS = 5;
/** Largest shortfall in accuracy of MoT-G at G against discrete at 2G that still counts as matching it:
 * below one evaluation's own sampling noise (≈ 2.5 points at 100 items × 4 samples). */
export const MATCH_MARGIN = 0.02;

const BASELINE = 'the discrete baseline (matched top-k where run, else full-vocabulary)';

const claim = (
  id: string,
  text: string,
  quantity: string,
  holdsIf: Criterion,
  scale: ClaimRule['scale'] = 'points',
): ClaimRule => ({ id, claim: text, quantity, holdsIf, minSeeds: MIN_SEEDS, scale });

export const CLAIM_RULES = {
  gain: claim('R1', 'GRPO raises held-out accuracy (each cell)', 'final − initial accuracy, paired by seed', {
    above: 0,
  }),
  matched: claim(
    'R2',
    'After GRPO, MoT-G is more accurate than discrete sampling from the same top-k (matched baseline)',
    'final accuracy, mixture − matched discrete (same task, G, lr, likelihood, backend)',
    { above: 0 },
  ),
  full: claim(
    'R3',
    'After GRPO, MoT-G is more accurate than full-vocabulary discrete sampling',
    'final accuracy, mixture − full-vocabulary discrete',
    { above: 0 },
  ),
  gainVs: claim(
    'R4',
    'GRPO raises MoT-G more than it raises discrete decoding',
    `(final − initial) of the mixture − (final − initial) of ${BASELINE}`,
    { above: 0 },
  ),
  passAtK: claim(
    'R5',
    'After GRPO, MoT-G has a higher pass@k at large k than discrete decoding',
    `final pass@k at the largest k ∈ {32, 16, 8, 4, 2} both arms report, mixture − ${BASELINE}`,
    { above: 0 },
  ),
  halfG: claim(
    'R6a',
    'MoT-G with G trajectories per prompt matches discrete with 2G',
    `final accuracy, mixture at G − ${BASELINE} at 2G`,
    { above: -MATCH_MARGIN },
  ),
  halfGControl: claim(
    'R6b',
    'Control for R6a: discrete with G is less accurate than discrete with 2G (else matching 2G saves nothing)',
    `final accuracy, ${BASELINE} at G − the same at 2G`,
    { below: 0 },
  ),
  entropy: claim(
    'R7',
    'Mixture reasoning keeps hidden states more entropic',
    `hidden-state entropy (mean over layers and reasoning steps, last 10 GRPO steps), mixture − ${BASELINE}`,
    { above: 0 },
    'nats',
  ),
} as const satisfies Record<string, ClaimRule>;

/** Verdicts counted per rule id, for a report's summary. */
export class VerdictTally {
  readonly counts = new Map<string, Record<Verdict, number>>();

  add(id: string, v: Verdict): void {
    const t = this.counts.get(id) ?? { holds: 0, 'does not hold': 0, inconclusive: 0 };
    t[v]++;
    this.counts.set(id, t);
  }
}

/** The finite values of `f` over runs, keyed by each run's seed. */
export function valuesBySeed<R extends { seed: number }>(
  runs: readonly R[],
  f: (r: R) => number | undefined,
): Map<number, number> {
  const m = new Map<number, number>();
  for (const r of runs) {
    const v = f(r);
    if (v !== undefined && Number.isFinite(v)) m.set(r.seed, v);
  }
  return m;
}

/** A rule applied to the difference of two arms (bootstrapDifference; seeds: the smaller arm's). */
export function compareArms(rule: VerdictRule, a: BySeed, b: BySeed, opts: BootstrapOptions = {}) {
  const interval = bootstrapDifference(a, b, opts);
  const seeds = Math.min(a.size, b.size);
  return { interval, seeds, ...verdictOf(rule, interval, seeds) };
}
