// The report's statistics (src/experiment/stats.ts): percentile-bootstrap intervals on known data, paired
// and unpaired differences, the verdict rules, the grid's edge check — and scripts/reproduction-report.ts on
// synthetic run folders (rules printed before the results, verdicts from them, few seeds flagged, the
// learning-rate grid, pass@k and accuracy against G).
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  allOf,
  bootstrapDifference,
  bootstrapMean,
  bootstrapPairedDifference,
  bootstrapUnpairedDifference,
  CLAIM_RULES,
  gridBest,
  type Interval,
  quantile,
  ruleText,
  type VerdictRule,
  verdictOf,
} from '../../src/experiment/stats.ts';
import { passAtKCurve } from '../../src/rl/passAtK.ts';

/** n values spread evenly over [0, 1] (a fixed population: mean 0.5, sd ≈ 0.29). */
const even = (n: number) => Array.from({ length: n }, (_, i) => (i + 0.5) / n);
const width = (i: Interval) => i.hi - i.lo;

describe('bootstrap intervals', () => {
  it('contain the mean, lie within the data, and are the same for the same seed', () => {
    const xs = [0.31, 0.42, 0.38, 0.55, 0.47, 0.36, 0.5];
    const i = bootstrapMean(xs);
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(i.estimate).toBeCloseTo(m, 15);
    expect(i.lo).toBeLessThan(m);
    expect(i.hi).toBeGreaterThan(m);
    expect(i.lo).toBeGreaterThanOrEqual(Math.min(...xs));
    expect(i.hi).toBeLessThanOrEqual(Math.max(...xs));
    expect(bootstrapMean(xs)).toEqual(i);
    expect(bootstrapMean(xs, { seed: 2 })).not.toEqual(i);
    expect(i.n).toBe(7);
  });

  it('shrink as 1/√n and match the normal interval for large n', () => {
    const w = [10, 40, 160, 640].map((n) => width(bootstrapMean(even(n))));
    for (let j = 1; j < w.length; j++) expect(w[j] / w[j - 1]).toBeCloseTo(0.5, 1); // 4× the data, half as wide
    const xs = even(640);
    const sd = Math.sqrt(xs.reduce((a, x) => a + (x - 0.5) ** 2, 0) / xs.length);
    expect(w[3] / ((2 * 1.96 * sd) / Math.sqrt(640))).toBeCloseTo(1, 1);
  });

  it('degenerate data: one value gives a zero-width interval, none gives NaN', () => {
    expect(bootstrapMean([0.4])).toEqual({ estimate: 0.4, lo: 0.4, hi: 0.4, n: 1 });
    const none = bootstrapMean([]);
    expect(Number.isNaN(none.estimate) && Number.isNaN(none.lo) && Number.isNaN(none.hi)).toBe(true);
  });

  it('quantiles interpolate between order statistics (R type 7)', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 0)).toBe(1);
    expect(quantile([1, 2, 3, 4], 1)).toBe(4);
    expect(quantile([10, 20], 0.025)).toBeCloseTo(10.25, 12);
  });

  it('pairing by seed removes the seeds’ shared spread', () => {
    // Seeds differ a lot; within a seed the second arm is 3 points lower, give or take 0.5.
    const seedLevel = [0.2, 0.5, 0.35, 0.7, 0.45, 0.6];
    const a = seedLevel.map((s, i) => s + 0.03 + (i % 2 ? 0.005 : -0.005));
    const b = seedLevel;
    const paired = bootstrapPairedDifference(a, b);
    const unpaired = bootstrapUnpairedDifference(a, b);
    expect(paired.estimate).toBeCloseTo(0.03, 12);
    expect(unpaired.estimate).toBeCloseTo(0.03, 12);
    expect(paired.lo).toBeGreaterThan(0); // excludes 0
    expect(unpaired.lo).toBeLessThan(0); // the seeds' spread swamps it
    expect(width(paired)).toBeLessThan(width(unpaired) / 10);
    expect(() => bootstrapPairedDifference([1, 2], [1])).toThrow(RangeError);
    // Exact shifts give a zero-width interval.
    expect(bootstrapPairedDifference([1.5, 2.5, 4], [1, 2, 3.5])).toMatchObject({ lo: 0.5, hi: 0.5 });
  });

  it('bootstrapDifference pairs when both arms have the same seeds, and only then', () => {
    const a = new Map([
      [0, 0.6],
      [1, 0.7],
      [2, 0.65],
    ]);
    const same = new Map([
      [2, 0.55],
      [0, 0.5],
      [1, 0.6],
    ]);
    const p = bootstrapDifference(a, same);
    expect(p.paired).toBe(true);
    expect(p.lo).toBeCloseTo(0.1, 12); // every pair differs by exactly 0.1, matched by seed not by order
    expect(p.hi).toBeCloseTo(0.1, 12);
    const other = new Map([
      [3, 0.5],
      [4, 0.6],
      [5, 0.55],
    ]);
    const u = bootstrapDifference(a, other);
    expect(u.paired).toBe(false);
    expect(u.estimate).toBeCloseTo(0.1, 12);
    expect(width(u)).toBeGreaterThan(0);
  });
});

describe('verdict rules', () => {
  const above: VerdictRule = { claim: 'x > 0', quantity: 'x', holdsIf: { above: 0 }, minSeeds: 5 };
  const below: VerdictRule = { ...above, holdsIf: { below: 0 } };
  const within: VerdictRule = { ...above, holdsIf: { within: 0.02 } };
  const iv = (lo: number, hi: number): Interval => ({ estimate: (lo + hi) / 2, lo, hi, n: 5 });

  it('holds / does not hold / inconclusive from where the interval lies', () => {
    expect(verdictOf(above, iv(0.01, 0.05), 5).verdict).toBe('holds');
    expect(verdictOf(above, iv(-0.05, -0.01), 5).verdict).toBe('does not hold');
    expect(verdictOf(above, iv(-0.05, 0), 5).verdict).toBe('does not hold');
    expect(verdictOf(above, iv(-0.01, 0.05), 5).verdict).toBe('inconclusive');
    expect(verdictOf(below, iv(-0.05, -0.01), 5).verdict).toBe('holds');
    expect(verdictOf(below, iv(0.01, 0.05), 5).verdict).toBe('does not hold');
    expect(verdictOf(within, iv(-0.01, 0.015), 5).verdict).toBe('holds');
    expect(verdictOf(within, iv(0.03, 0.05), 5).verdict).toBe('does not hold');
    expect(verdictOf(within, iv(-0.01, 0.05), 5).verdict).toBe('inconclusive');
  });

  it('too few seeds or no data: inconclusive, saying what the interval alone would give', () => {
    const v = verdictOf(above, iv(0.01, 0.05), 2);
    expect(v.verdict).toBe('inconclusive');
    expect(v.why).toBe('2 seeds < 5 (the interval alone: holds)');
    expect(verdictOf(above, bootstrapMean([]), 9).verdict).toBe('inconclusive');
  });

  it('a claim of several rules, and the rules in words', () => {
    expect(allOf(['holds', 'holds'])).toBe('holds');
    expect(allOf(['holds', 'inconclusive'])).toBe('inconclusive');
    expect(allOf(['inconclusive', 'does not hold'])).toBe('does not hold');
    expect(allOf([])).toBe('inconclusive');
    const text = ruleText(CLAIM_RULES.halfG, (x) => (100 * x).toFixed(1));
    expect(text).toContain('entirely above -2.0');
    expect(text).toContain('fewer than 5 seeds');
    expect(ruleText(within)).toContain('inside (−0.02, 0.02)');
    for (const r of Object.values(CLAIM_RULES)) expect(r.minSeeds).toBe(5);
  });

  it('a grid whose best value is at an edge is not bracketed', () => {
    const grid = (scores: number[]) => [3e-4, 1e-3, 3e-3].map((value, i) => ({ value, score: scores[i] }));
    expect(gridBest(grid([0.12, 0.04, -0.26]))).toEqual({ best: 3e-4, score: 0.12, edge: 'lower' });
    expect(gridBest(grid([0.02, 0.04, 0.06]))?.edge).toBe('upper');
    expect(gridBest(grid([0.02, 0.09, 0.06]))).toEqual({ best: 1e-3, score: 0.09, edge: null });
    expect(gridBest([])).toBeNull();
  });
});

// ---- The report on synthetic runs ---------------------------------------------------------------------

const ROOT = resolve(import.meta.dirname, '../..');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface SyntheticRun {
  preset: string;
  mot?: Record<string, unknown>;
  G: number;
  seed: number;
  lr: number;
  before: number;
  after: number;
}

/** A run folder as scripts/experiment.ts writes it, with evaluations of 10 items × 8 samples (the accuracy as
 * given; the items' counts near it, for pass@k). */
function writeRun(root: string, r: SyntheticRun): void {
  const dir = join(root, `${r.preset}-${JSON.stringify(r.mot ?? {}).length}-G${r.G}-lr${r.lr}-s${r.seed}`);
  mkdirSync(dir, { recursive: true });
  const summary = { preset: r.preset, G: r.G, seed: r.seed, backend: 'cpu', tasks: [{ task: 'chain_sum' }] };
  writeFileSync(join(dir, 'summary.json'), JSON.stringify({ ...summary, wallMs: 1000 }));
  const resolved = { preset: r.preset, mot: r.mot ?? {}, grpo: { learning_rate: r.lr } };
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ resolved }));
  const evaluation = (step: number, acc: number) => {
    const correct = Array.from({ length: 10 }, (_, i) => Math.round(8 * acc + (i % 3) - 1));
    const items = correct.map((c) => ({ n: 8, c: Math.max(0, Math.min(8, c)) }));
    const curve = passAtKCurve(items);
    return {
      step,
      accuracy: acc,
      rewardMean: acc,
      byTask: {},
      items: 10,
      n: 8,
      evalMode: r.preset,
      passAtK: { overall: curve, byTask: { chain_sum: curve } },
      correct: { chain_sum: items.map((it) => it.c) },
    };
  };
  writeFileSync(
    join(dir, 'eval.jsonl'),
    `${JSON.stringify(evaluation(0, r.before))}\n${JSON.stringify(evaluation(20, r.after))}\n`,
  );
  // Training-prompt accuracy: `before` for the first 20 steps, `after` for the last 20.
  const metric = (step: number) => ({
    step,
    accuracy: step <= 20 ? r.before : r.after,
    hiddenEntropy: [0.5 + r.after / 10, 0.6],
    hiddenEntropyByPosition: [0.5, 0.55, 0.6],
    entropy: 1,
    tokensPerSecond: 100,
    wallMs: 50,
    mixtureRate: r.preset === 'dirichlet' ? 0.5 : 0,
    effectiveTokens: 1.1,
    representativeNotArgmax: 0.05,
    completionLength: 20,
  });
  writeFileSync(
    join(dir, 'metrics.jsonl'),
    `${Array.from({ length: 40 }, (_, i) => JSON.stringify(metric(i + 1))).join('\n')}\n`,
  );
}

describe('scripts/reproduction-report.ts on synthetic runs', () => {
  it('prints the rules first, computes the verdicts, flags few seeds, checks the grid, tables pass@k and G', async () => {
    const root = mkdtempSync(join(tmpdir(), 'motg-report-'));
    dirs.push(root);
    const runs = join(root, 'runs');
    const jitter = (s: number) => [0.01, -0.01, 0.02, 0, -0.02][s];
    for (let seed = 0; seed < 5; seed++) {
      const base = 0.3 + jitter(seed);
      // dirichlet beats the matched top-2 baseline by 10 points at G = 5 on every seed.
      writeRun(runs, { preset: 'dirichlet', G: 5, seed, lr: 3e-4, before: base, after: base + 0.25 });
      writeRun(runs, { preset: 'discrete-top-k', G: 5, seed, lr: 3e-4, before: base, after: base + 0.15 });
      writeRun(runs, { preset: 'discrete-top-k', G: 10, seed, lr: 3e-4, before: base, after: base + 0.2 });
    }
    // Two seeds of full-vocabulary discrete and a learning-rate sweep whose best rate is the lowest.
    for (const seed of [0, 1]) {
      writeRun(runs, { preset: 'discrete', G: 5, seed, lr: 3e-4, before: 0.3, after: 0.4 + seed / 10 });
      writeRun(runs, { preset: 'discrete', G: 5, seed, lr: 1e-3, before: 0.3, after: 0.35 });
    }
    const figures = join(root, 'figures');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/reproduction-report.ts', runs, '--figures', figures],
      { cwd: ROOT, maxBuffer: 1 << 24 },
    );
    const at = (s: string) => {
      const i = stdout.indexOf(s);
      expect(i, s).toBeGreaterThanOrEqual(0);
      return i;
    };
    // The rules come before any result.
    expect(at('## Verdict rules')).toBeLessThan(at('## Held-out accuracy'));
    for (const r of Object.values(CLAIM_RULES)) expect(at(`**${r.id}**`)).toBeLessThan(at('## Held-out'));
    // Few seeds flagged.
    expect(stdout).toMatch(/⚠ 2 of 5 cells have fewer than 5 seeds/);
    expect(stdout).toContain('0,1 ⚠ 2 < 5');
    // Training-prompt accuracy, first vs last 20 steps: +25 points for dirichlet on every seed.
    expect(stdout.slice(at('## Accuracy on the training prompts'), at('## Claims'))).toMatch(
      /\| chain_sum \| dirichlet \| 5 \| 0\.0003 \| paper \| 5 \| [\d.]+ \[[\d., ]+\] \| [\d.]+ \[[\d., ]+\] \| \+25\.0 \[\+25\.0, \+25\.0\] \|/,
    );
    // R2: dirichlet vs matched top-2 at G = 5, paired by seed: exactly +10 points on every seed.
    const r2 = stdout.slice(at('### R2'), at('### R3'));
    expect(r2).toMatch(
      /\| dirichlet \| discrete top-2 \| 5 \| \+10\.0 \[\+10\.0, \+10\.0\] \| by seed \| \*\*holds\*\*/,
    );
    // R3 against the two-seed full-vocabulary cell: inconclusive for want of seeds.
    expect(stdout.slice(at('### R3'), at('### R4'))).toMatch(/\*\*inconclusive\*\* \| 2 seeds < 5/);
    // R6: dirichlet at G = 5 vs top-2 at G = 10 (+5 points: holds), control top-2 G 5 vs 10 (−5: holds).
    expect(stdout.slice(at('### R6'), at('### Verdicts by rule'))).toMatch(/\| \*\*holds\*\* \|/);
    // The grid: the best rate is its lowest.
    expect(stdout).toMatch(/best rate is 0\.0003 .*does not bracket it \(no: best at the lowest rate\)/);
    // pass@k up to the 8 samples per item, and accuracy against G.
    const pass = stdout.slice(at('## pass@k'));
    expect(pass).toContain('| pass@1 | pass@2 | pass@4 | pass@8 |');
    expect(pass).not.toContain('pass@16');
    expect(stdout).toMatch(
      /\| chain_sum \| discrete top-2 \| 0\.0003 \| paper \| cpu \| [\d.]+ \[[\d., ]+\] \| [\d.]+ \[/,
    );
    // evals.csv keeps its columns and adds the mode and pass@k.
    const csv = readFileSync(join(figures, 'evals.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe(
      'run,task,preset,G,lr,likelihood,backend,seed,step,accuracy,reward_mean,items,samples,mode,eval_mode,pass@1,pass@2,pass@4,pass@8,pass@16,pass@32',
    );
    expect(csv).toHaveLength(1 + 2 * 19 + 1);
  }, 120_000);
});
