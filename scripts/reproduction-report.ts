// Summarises GRPO experiment folders (scripts/experiment.ts output: summary.json, eval.jsonl, metrics.jsonl
// per run) into the tables and figures of docs/reproduction.md, with the statistics done here (MOTG.md §5,
// src/experiment/stats.ts): the verdict rules first, then bootstrap 95% intervals over seeds for each cell,
// for before → after (paired by seed) and between modes, each verdict computed from its rule, cells under 5
// seeds flagged, the learning-rate grid and whether it brackets its best value, pass@k and accuracy against
// G when the runs hold them, cost, mixture statistics and the hidden-state entropy curves (SVG).
//   npx tsx scripts/reproduction-report.ts <runs-dir>… [--figures docs/reproduction] [--out file.md]
// Writes the figures and evals.csv (every held-out evaluation of every run) into --figures.
// Runs are grouped into cells by (task, mode, G, lr, likelihood, backend); seeds are the repetitions.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { lineChart } from '../src/experiment/lineChart.ts';
import {
  allOf,
  BOOTSTRAP_RESAMPLES,
  BOOTSTRAP_SEED,
  type BySeed,
  bootstrapMean,
  bootstrapPairedDifference,
  CLAIM_RULES,
  type ClaimRule,
  compareArms,
  gridBest,
  type Interval,
  MIN_SEEDS,
  mean,
  ruleText,
  VerdictTally,
  valuesBySeed,
  verdictOf,
} from '../src/experiment/stats.ts';
import { makeSettings, PRESET_NAMES } from '../src/mot/presets.ts';
import type { MotSettings, PresetName } from '../src/mot/settings.ts';
import type { StepMetrics } from '../src/rl/metrics.ts';
import type { EvalResult } from '../src/rl/trainer.ts';

/** An eval.jsonl record; runs written before pass@k have no evalMode, passAtK or correct. */
type StoredEval = Omit<EvalResult, 'evalMode' | 'passAtK' | 'correct'> & Partial<EvalResult>;

interface Run {
  dir: string;
  task: string;
  preset: string;
  /** The decoding it trained with: the preset, `discrete`, or `discrete top-k` (matched baseline). */
  mode: string;
  mixture: boolean;
  /** Candidates a mixture step mixes (the matched baseline samples from as many). */
  k: number;
  /** Discrete steps sample from the top-k (0: the full vocabulary). */
  topK: number;
  G: number;
  seed: number;
  likelihood: string;
  lr: number;
  backend: string;
  evals: StoredEval[];
  metrics: StepMetrics[];
  wallMs: number;
}

type Say = (s?: string) => void;

/** A heading or paragraph and the blank line after it. */
function para(say: Say, text: string): void {
  say(text);
  say();
}

/** A markdown table's header row and the rule under it. */
function head(say: Say, header: string): void {
  say(header);
  say(`|${'---|'.repeat(header.split('|').length - 2)}`);
}

/** The k of the pass@k tables. */
const PASS_KS = [1, 2, 4, 8, 16, 32];

function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** How a run decodes: its preset's settings with the run's overrides (a preset this checkout does not
 * know is taken as a mixture unless its name says discrete). */
function modeOf(preset: string, mot: Partial<MotSettings>): Pick<Run, 'mode' | 'mixture' | 'k' | 'topK'> {
  const known = (PRESET_NAMES as string[]).includes(preset);
  const s = known ? makeSettings(preset as PresetName, mot) : null;
  const mixture = s ? s.mixture : !preset.startsWith('discrete');
  const topK = s?.discreteTopK ?? 0;
  const k = s?.k ?? 0;
  let mode = mixture ? preset : topK > 0 ? `discrete top-${topK}` : 'discrete';
  if (mixture && s && !s.evalMixture) mode += ' (evaluated discretely)';
  return { mode, mixture, k, topK };
}

function findRuns(root: string): Run[] {
  const out: Run[] = [];
  const walk = (dir: string) => {
    if (existsSync(join(dir, 'summary.json'))) {
      const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
      const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      const mot = cfg.resolved?.mot ?? {};
      out.push({
        dir,
        task: s.tasks.map((t: { task: string }) => t.task).join('+'),
        preset: s.preset,
        ...modeOf(s.preset, mot),
        G: s.G,
        seed: s.seed,
        likelihood: mot.likelihood === 'exact' ? 'exact' : 'paper',
        lr: cfg.resolved?.grpo?.learning_rate,
        backend: String(s.backend).split(' ')[0],
        evals: readJsonl<StoredEval>(join(dir, 'eval.jsonl')),
        metrics: readJsonl<StepMetrics>(join(dir, 'metrics.jsonl')),
        wallMs: s.wallMs,
      });
      return;
    }
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

const pct = (x: number) => (100 * x).toFixed(1);
const points = (x: number) => `${x > 0 ? '+' : ''}${(100 * x).toFixed(1)}`;
/** An interval in % (or points): `47.3 [41.0, 53.6]`. */
const ci = (i: Interval, f: (x: number) => string = pct) =>
  Number.isFinite(i.estimate) ? `${f(i.estimate)} [${f(i.lo)}, ${f(i.hi)}]` : '–';

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
}

// ---- Cells and their per-seed values ------------------------------------------------------------------

/** Runs of one setting; its seeds are the repetitions. */
type Cell = Pick<Run, 'task' | 'mode' | 'mixture' | 'k' | 'topK' | 'G' | 'lr' | 'likelihood' | 'backend'> & {
  runs: Run[];
};

function cellsOf(runs: Run[]): Cell[] {
  const groups = groupBy(runs, (r) => [r.task, r.mode, r.G, r.lr, r.likelihood, r.backend].join('|'));
  return [...groups]
    .sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))
    .map(([, rs]) => ({ ...rs[0], runs: rs }));
}

const before = (r: Run) => r.evals[0]?.accuracy ?? Number.NaN;
const after = (r: Run) => r.evals.at(-1)?.accuracy ?? Number.NaN;
const gain = (r: Run) => after(r) - before(r);
/** A step's hidden-state entropy, mean over layers (and the reasoning). */
const layerMean = (m: StepMetrics) => mean(m.hiddenEntropy);
/** The scale-free companion (MOTG.md §5), NaN for runs written before it. */
const layerMeanScaleFree = (m: StepMetrics) => mean(m.hiddenEntropyScaleFree ?? [Number.NaN]);
const lateEntropy = (r: Run) => mean(r.metrics.slice(-10).map(layerMean));
/** pass@k of an evaluation over all its items (undefined: not recorded, or k > its samples). */
const passAt = (e: StoredEval | undefined, k: number) => e?.passAtK?.overall[String(k)];

/** The cell's finite values by seed. */
const bySeed = (c: Cell, f: (r: Run) => number | undefined) => valuesBySeed(c.runs, f);

const seedsNote = (c: Cell) => {
  const seeds = c.runs.map((r) => r.seed).join(',');
  return c.runs.length < MIN_SEEDS ? `${seeds} ⚠ ${c.runs.length} < ${MIN_SEEDS}` : seeds;
};

// ---- Verdict rules: stated as data, printed before any result ------------------------------------------

const fmtOf = (r: ClaimRule) => (r.scale === 'points' ? points : (x: number) => x.toFixed(4));

function rulesSection(say: Say): void {
  para(say, '## Verdict rules (stated before the results)');
  para(
    say,
    `Intervals are percentile-bootstrap 95% intervals over seeds (${BOOTSTRAP_RESAMPLES.toLocaleString('en')} ` +
      `resamples, seed ${BOOTSTRAP_SEED}). Differences between arms are paired by seed when both arms ran the ` +
      `same seeds (same held-out items, same training prompts), unpaired otherwise. Accuracy differences are ` +
      `in points. A cell with fewer than ${MIN_SEEDS} seeds is flagged ⚠ and its verdicts are inconclusive.`,
  );
  for (const r of Object.values(CLAIM_RULES))
    say(
      `- **${r.id}** ${r.claim}. Rule: ${ruleText(r, (x) => (r.scale === 'points' ? points(x) : String(x)))}.`,
    );
  para(
    say,
    '- **R6** (half the trajectories) holds if R6a and R6b both hold for the same task, G and baseline; does ' +
      'not hold if either does not hold; inconclusive otherwise.',
  );
}

/** The binomial standard error of one evaluation's accuracy (its own sampling noise), in points. */
const evalSe = (e: StoredEval | undefined) =>
  e ? Math.sqrt((e.accuracy * (1 - e.accuracy)) / Math.max(1, e.items * e.n)) : Number.NaN;

/** 1. Held-out accuracy before and after per cell, with intervals and R1's verdict. */
function accuracyTable(cells: Cell[], tally: VerdictTally, say: Say): void {
  para(say, '## Held-out accuracy before and after GRPO');
  para(
    say,
    'Mean over seeds [95% interval] in %; Δ in points, paired by seed. "eval SE": the binomial standard error ' +
      'of one evaluation (items × samples), the noise of a single run’s number.',
  );
  head(
    say,
    '| task | mode | G | lr | likelihood | backend | seeds | before | after | Δ | Δ per seed | eval SE (points) | R1 |',
  );
  for (const c of cells) {
    const b = c.runs.map(before);
    const a = c.runs.map(after);
    const d = bootstrapPairedDifference(a, b);
    const v = verdictOf(CLAIM_RULES.gain, d, c.runs.length);
    tally.add(CLAIM_RULES.gain.id, v.verdict);
    const se = mean(c.runs.map((r) => evalSe(r.evals.at(-1))));
    say(
      `| ${c.task} | ${c.mode} | ${c.G} | ${c.lr} | ${c.likelihood} | ${c.backend} | ${seedsNote(c)} | ` +
        `${ci(bootstrapMean(b))} | ${ci(bootstrapMean(a))} | ${ci(d, points)} | ` +
        `${c.runs.map((r) => points(gain(r))).join(', ')} | ${(100 * se).toFixed(1)} | ${v.verdict} |`,
    );
  }
  say();
}

/** The mean of a run's training-prompt accuracy (metrics.jsonl `accuracy`) over its first or last `n` steps. */
function trainingAccuracy(r: Run, which: 'first' | 'last', n = TRAIN_WINDOW): number {
  const ms = which === 'first' ? r.metrics.slice(0, n) : r.metrics.slice(-n);
  return mean(ms.map((m) => m.accuracy));
}
const TRAIN_WINDOW = 20;

/** 1b. What GRPO does to the prompts it trains on, beside what it does to held-out ones (descriptive). */
function trainingAccuracyTable(cells: Cell[], say: Say): void {
  para(say, '## Accuracy on the training prompts');
  para(
    say,
    `The share of correct completions among the rollouts GRPO trains on (metrics.jsonl \`accuracy\`), mean of ` +
      `the first and of the last ${TRAIN_WINDOW} steps, mean over seeds [95% interval] in %; Δ paired by seed. ` +
      'Descriptive: no claim is judged on it. Set beside the held-out table, it separates "GRPO learns nothing" ' +
      'from "GRPO learns the training questions but it does not carry over".',
  );
  head(say, '| task | mode | G | lr | likelihood | seeds | first steps | last steps | Δ |');
  for (const c of cells) {
    const first = c.runs.map((r) => trainingAccuracy(r, 'first'));
    const last = c.runs.map((r) => trainingAccuracy(r, 'last'));
    say(
      `| ${c.task} | ${c.mode} | ${c.G} | ${c.lr} | ${c.likelihood} | ${c.runs.length} | ${ci(bootstrapMean(first))} | ` +
        `${ci(bootstrapMean(last))} | ${ci(bootstrapPairedDifference(last, first), points)} |`,
    );
  }
  say();
}

// ---- Differences between modes ------------------------------------------------------------------------

/** The discrete cells of the same task, lr, likelihood and backend at G: top-k matched to the mixture's k,
 * and full-vocabulary. */
function baselinesOf(cells: Cell[], m: Cell, G: number): { matched?: Cell; full?: Cell } {
  const setting = (c: Cell) => [c.task, c.lr, c.likelihood, c.backend].join('|');
  const same = cells.filter((c) => !c.mixture && c.G === G && setting(c) === setting(m));
  return { matched: same.find((c) => c.topK > 0 && c.topK === m.k), full: same.find((c) => c.topK === 0) };
}

const preferred = (b: { matched?: Cell; full?: Cell }) => b.matched ?? b.full;

/** One row of a claim: two arms' values by seed. */
interface Comparison {
  where: string;
  mixture: string;
  baseline: string;
  a: BySeed;
  b: BySeed;
}

const whereOf = (c: Cell, G = `${c.G}`) => `${c.task} · G ${G} · lr ${c.lr} · ${c.likelihood} · ${c.backend}`;

const compare = (r: ClaimRule, x: Comparison) => compareArms(r, x.a, x.b);

/** A claim's rows: the difference's interval and the verdict its rule gives. */
function claimTable(r: ClaimRule, rows: Comparison[], tally: VerdictTally, say: Say): void {
  para(say, `### ${r.id}: ${r.claim}`);
  if (rows.length === 0) {
    para(say, 'No pair of cells in these runs to compare.');
    return;
  }
  head(say, '| where | mixture | baseline | seeds | difference [95% CI] | pairing | verdict | why |');
  for (const x of rows) {
    const v = compare(r, x);
    tally.add(r.id, v.verdict);
    say(
      `| ${x.where} | ${x.mixture} | ${x.baseline} | ${v.seeds} | ${ci(v.interval, fmtOf(r))} | ` +
        `${v.seeds === 0 ? '–' : v.interval.paired ? 'by seed' : 'unpaired'} | **${v.verdict}** | ${v.why} |`,
    );
  }
  say();
}

/** The largest k of PASS_KS (≥ 2) whose pass@k every run of both cells recorded in its final evaluation. */
function commonPassK(a: Cell, b: Cell): number | null {
  const runs = [...a.runs, ...b.runs];
  for (const k of [...PASS_KS].reverse())
    if (k > 1 && runs.every((r) => passAt(r.evals.at(-1), k) !== undefined)) return k;
  return null;
}

/** R2–R5 and R7: each mixture cell against its discrete baselines. */
function modeClaims(cells: Cell[], tally: VerdictTally, say: Say): void {
  const { matched, full, gainVs, passAtK, entropy } = CLAIM_RULES;
  const rows = new Map<ClaimRule, Comparison[]>();
  const add = (r: ClaimRule, x: Comparison) => rows.set(r, [...(rows.get(r) ?? []), x]);
  for (const m of cells.filter((c) => c.mixture)) {
    const bs = baselinesOf(cells, m, m.G);
    const pair = (base: Cell, f: (r: Run) => number | undefined, what = ''): Comparison => ({
      where: whereOf(m),
      mixture: `${m.mode}${what}`,
      baseline: `${base.mode}${what}`,
      a: bySeed(m, f),
      b: bySeed(base, f),
    });
    if (bs.matched) add(matched, pair(bs.matched, after));
    if (bs.full) add(full, pair(bs.full, after));
    const base = preferred(bs);
    if (!base) continue;
    add(gainVs, pair(base, gain));
    add(entropy, pair(base, lateEntropy));
    const k = commonPassK(m, base);
    if (k !== null)
      add(
        passAtK,
        pair(base, (r) => passAt(r.evals.at(-1), k), ` (pass@${k})`),
      );
  }
  for (const r of [matched, full, gainVs, passAtK, entropy]) claimTable(r, rows.get(r) ?? [], tally, say);
}

/** R6: MoT-G at G against discrete at 2G, with its control (discrete at G against discrete at 2G). */
function halfTrajectoriesClaim(cells: Cell[], tally: VerdictTally, say: Say): void {
  para(say, `### R6: ${CLAIM_RULES.halfG.claim}`);
  const lines: string[] = [];
  for (const m of cells.filter((c) => c.mixture)) {
    const at2G = baselinesOf(cells, m, 2 * m.G);
    const base2G = preferred(at2G);
    if (!base2G) continue;
    const atG = baselinesOf(cells, m, m.G);
    const baseG = base2G === at2G.matched ? atG.matched : atG.full;
    const side = (a: Cell, b: Cell, r: ClaimRule) =>
      compare(r, { where: '', mixture: '', baseline: '', a: bySeed(a, after), b: bySeed(b, after) });
    const r6a = side(m, base2G, CLAIM_RULES.halfG);
    const r6b = baseG ? side(baseG, base2G, CLAIM_RULES.halfGControl) : null;
    const verdict = allOf([r6a.verdict, r6b?.verdict ?? 'inconclusive']);
    tally.add('R6', verdict);
    lines.push(
      `| ${whereOf(m, `${m.G} vs ${2 * m.G}`)} | ${m.mode} | ${base2G.mode} | ${ci(r6a.interval, points)} (${r6a.verdict}) | ` +
        `${r6b ? `${ci(r6b.interval, points)} (${r6b.verdict})` : 'no discrete run at G'} | **${verdict}** |`,
    );
  }
  if (lines.length === 0) say('No mixture cell with a discrete cell at twice its G in these runs.');
  else {
    head(
      say,
      '| where | mixture | baseline | R6a: mixture at G − baseline at 2G | R6b: baseline at G − at 2G | R6 |',
    );
    for (const l of lines) say(l);
  }
  say();
}

function verdictSummary(tally: VerdictTally, say: Say): void {
  para(say, '### Verdicts by rule');
  head(say, '| rule | holds | does not hold | inconclusive |');
  for (const [id, t] of [...tally.counts].sort(([a], [b]) => a.localeCompare(b)))
    say(`| ${id} | ${t.holds} | ${t['does not hold']} | ${t.inconclusive} |`);
  say();
}

// ---- Learning-rate grid, pass@k, accuracy against G ---------------------------------------------------

/** The rates of each setting with their mean gain, the best rate, and whether the grid brackets it. */
function lrGrid(runs: Run[], say: Say): void {
  para(say, '## Learning-rate grid');
  const lrs = [...new Set(runs.map((r) => r.lr))].sort((a, b) => a - b);
  if (lrs.length < 2) {
    para(
      say,
      `One learning rate in these runs (${lrs.join(', ')}): no grid, so whether it brackets the optimum ` +
        'cannot be told from them.',
    );
    return;
  }
  para(
    say,
    'Mean gain over seeds (final − initial accuracy, points; seeds in parentheses) at each rate. A best rate ' +
      'at the edge of the grid is not bracketed: the optimum may lie beyond it.',
  );
  head(say, `| task | mode | G | likelihood | backend | ${lrs.join(' | ')} | best | bracketed |`);
  const row = (label: string, rs: Run[]) => {
    const at = lrs.map((lr) => rs.filter((r) => r.lr === lr).map(gain));
    const best = gridBest(lrs.flatMap((lr, i) => (at[i].length ? [{ value: lr, score: mean(at[i]) }] : [])));
    const tested = at.filter((x) => x.length > 0).length;
    const bracket =
      tested < 2
        ? 'one rate'
        : best?.edge
          ? `no: best at the ${best.edge === 'lower' ? 'lowest' : 'highest'} rate`
          : 'yes';
    const cells = at.map((x) => (x.length ? `${points(mean(x))} (${x.length})` : ''));
    say(`| ${label} | ${cells.join(' | ')} | ${best?.best ?? '–'} | ${bracket} |`);
    return { best, bracket };
  };
  const groups = groupBy(runs, (r) => [r.task, r.mode, r.G, r.likelihood, r.backend].join(' | '));
  for (const [key, rs] of [...groups].sort(([a], [b]) => a.localeCompare(b))) row(key, rs);
  const pooled = row('all runs | | | |', runs);
  say();
  para(
    say,
    `Over all runs the best rate is ${pooled.best?.best} (mean gain ${points(pooled.best?.score ?? Number.NaN)} points); ` +
      `the grid ${pooled.bracket === 'yes' ? 'brackets it' : `does not bracket it (${pooled.bracket})`}.`,
  );
}

/** pass@k per cell before and after training, when the runs recorded it. */
function passAtKTables(cells: Cell[], say: Say): void {
  const withPass = cells.filter((c) => c.runs.some((r) => r.evals.some((e) => e.passAtK)));
  if (withPass.length === 0) return;
  const ks = PASS_KS.filter((k) =>
    withPass.some((c) => c.runs.some((r) => passAt(r.evals[0], k) !== undefined)),
  );
  para(say, '## pass@k');
  para(
    say,
    'Unbiased estimator (Chen et al. 2021) over each evaluation’s items, mean over seeds [95% interval], in %; ' +
      'before: the first evaluation, after: the last. Blank: k above the samples per item.',
  );
  for (const [task, cs] of groupBy(withPass, (c) => c.task)) {
    head(
      say,
      `| ${task}: mode | G | lr | likelihood | backend | seeds | eval | ${ks.map((k) => `pass@${k}`).join(' | ')} |`,
    );
    for (const c of cs)
      for (const [label, pick] of [
        ['before', (r: Run) => r.evals[0]],
        ['after', (r: Run) => r.evals.at(-1)],
      ] as const) {
        const vals = ks.map((k) => {
          const xs = [...bySeed(c, (r) => passAt(pick(r), k)).values()];
          return xs.length ? ci(bootstrapMean(xs)) : '';
        });
        say(
          `| ${c.mode} | ${c.G} | ${c.lr} | ${c.likelihood} | ${c.backend} | ${seedsNote(c)} | ${label} | ${vals.join(' | ')} |`,
        );
      }
    say();
  }
}

/** Final accuracy against G for each mode, when some mode was run at two G or more. */
function accuracyVsG(cells: Cell[], say: Say): void {
  const groups = groupBy(cells, (c) => [c.task, c.mode, c.lr, c.likelihood, c.backend].join(' | '));
  if (![...groups.values()].some((g) => g.length >= 2)) return;
  const Gs = [...new Set(cells.map((c) => c.G))].sort((a, b) => a - b);
  para(say, '## Final accuracy against trajectories per prompt (G)');
  para(say, `Mean over seeds [95% interval], in %; ⚠: fewer than ${MIN_SEEDS} seeds.`);
  head(say, `| task | mode | lr | likelihood | backend | ${Gs.map((G) => `G = ${G}`).join(' | ')} |`);
  for (const [key, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const vals = Gs.map((G) => {
      const c = g.find((x) => x.G === G);
      return c ? `${ci(bootstrapMean(c.runs.map(after)))}${c.runs.length < MIN_SEEDS ? ' ⚠' : ''}` : '';
    });
    say(`| ${key} | ${vals.join(' | ')} |`);
  }
  say();
}

/** The cells whose seeds are too few for a verdict. */
function seedsFlag(cells: Cell[], say: Say): void {
  const few = cells.filter((c) => c.runs.length < MIN_SEEDS);
  if (few.length === 0) say(`Every cell has at least ${MIN_SEEDS} seeds.`);
  else
    say(
      `⚠ ${few.length} of ${cells.length} cells have fewer than ${MIN_SEEDS} seeds (their verdicts are ` +
        `inconclusive): ${few.map((c) => `${c.task} ${c.mode} G ${c.G} lr ${c.lr} ${c.likelihood} (${c.runs.length})`).join('; ')}.`,
    );
  say();
}

// ---- Cost, mixture statistics and the figures ---------------------------------------------------------

/** Cost of each mode, and its mixture statistics. */
function costTable(runs: Run[], say: Say): void {
  para(say, '## Cost and mixture statistics');
  head(
    say,
    '| mode | G | likelihood | backend | runs | rollout tokens/s | step (ms) | run wall (s) | mixture steps | 1/Σw² | 1/Σw² ≥ 1.3 | rep ≠ argmax | completion length |',
  );
  const modes = groupBy(runs, (r) => `${r.mode}|${r.G}|${r.likelihood}|${r.backend}`);
  for (const [key, rs] of [...modes].sort(([a], [b]) => a.localeCompare(b))) {
    const [mode, G, lik, backend] = key.split('|');
    const ms = rs.flatMap((r) => r.metrics);
    const avg = (f: (m: StepMetrics) => number) => mean(ms.map(f));
    const mixes = rs.some((r) => r.mixture);
    say(
      `| ${mode} | ${G} | ${lik} | ${backend} | ${rs.length} | ${avg((m) => m.tokensPerSecond).toFixed(0)} | ${avg((m) => m.wallMs).toFixed(0)} | ` +
        `${(mean(rs.map((r) => r.wallMs)) / 1000).toFixed(0)} | ${pct(avg((m) => m.mixtureRate))}% | ` +
        // Discrete runs mix nothing: their mixture statistics are null, not 0.
        `${mixes ? avg((m) => m.effectiveTokens).toFixed(2) : '–'} | ${mixes ? `${pct(avg((m) => m.mixingStepFraction ?? Number.NaN))}%` : '–'} | ${mixes ? `${pct(avg((m) => m.representativeNotArgmax))}%` : '–'} | ` +
        `${avg((m) => m.completionLength).toFixed(1)} |`,
    );
  }
  say();
}
/** Mean over seeds of a per-step series (steps aligned by index), smoothed over `window` steps. */
function meanSeries(runs: Run[], f: (m: StepMetrics) => number, window = 5): [number, number][] {
  const n = Math.min(...runs.map((r) => r.metrics.length));
  const raw: number[] = [];
  for (let i = 0; i < n; i++) raw.push(mean(runs.map((r) => f(r.metrics[i]))));
  return raw.map((_, i) => [i + 1, mean(raw.slice(Math.max(0, i - window + 1), i + 1))]);
}

/** Hidden-state entropy by completion position, mean over the first or last 10 steps of a group's runs
 * (positions seen in fewer than 3 steps left out). */
function entropyAlongPosition(g: Run[], which: 'first' | 'last'): [number, number][] {
  const pick = (r: Run) => (which === 'first' ? r.metrics.slice(0, 10) : r.metrics.slice(-10));
  const ms = g.flatMap(pick);
  const n = Math.max(...ms.map((m) => m.hiddenEntropyByPosition?.length ?? 0));
  const pts: [number, number][] = [];
  for (let t = 0; t < n; t++) {
    const vs = ms
      .map((m) => m.hiddenEntropyByPosition?.[t])
      .filter((v): v is number => v !== undefined && v > 0);
    if (vs.length >= 3) pts.push([t, mean(vs)]);
  }
  return pts;
}

/** Held-out accuracy at each evaluation, mean over the group's seeds. */
function accuracySeries(g: Run[]): [number, number][] {
  const n = Math.min(...g.map((r) => r.evals.length));
  return Array.from(
    { length: n },
    (_, i) => [g[0].evals[i].step, mean(g.map((r) => r.evals[i].accuracy))] as [number, number],
  );
}

/** 3. One task's figures (written into `figures`, linked relative to `linkBase`) and its entropy table:
 * hidden-state entropy along training (mean over layers and the reasoning) and along the reasoning. */
function taskSection(task: string, rs: Run[], figures: string, linkBase: string, say: Say): void {
  const byMode = groupBy(
    rs.filter((r) => r.likelihood === 'paper'),
    (r) => `${r.mode} G=${r.G}`,
  );
  const series = [...byMode].sort(([a], [b]) => a.localeCompare(b));
  const svg1 = lineChart(
    `${task}: hidden-state entropy during training (mean over layers, reasoning steps, seeds)`,
    'GRPO step',
    'entropy (nats)',
    series.map(([label, g]) => ({ label, points: meanSeries(g, layerMean) })),
  );
  const f1 = join(figures, `${task}-entropy-training.svg`);
  writeFileSync(f1, svg1);
  const svg2 = lineChart(
    `${task}: hidden-state entropy along the reasoning (last 10 steps)`,
    'completion step',
    'entropy (nats)',
    series
      .filter(([l]) => l.endsWith('G=5'))
      .map(([label, g]) => ({ label, points: entropyAlongPosition(g, 'last') })),
  );
  const f2 = join(figures, `${task}-entropy-position.svg`);
  writeFileSync(f2, svg2);
  const svg3 = lineChart(
    `${task}: held-out accuracy (mean over seeds)`,
    'GRPO step',
    'accuracy',
    series.map(([label, g]) => ({ label, points: accuracySeries(g) })),
  );
  const f3 = join(figures, `${task}-accuracy.svg`);
  writeFileSync(f3, svg3);
  const rel = (f: string) => relative(linkBase, f);
  para(
    say,
    `![${task} accuracy](${rel(f3)}) ![${task} entropy during training](${rel(f1)}) ![${task} entropy along the reasoning](${rel(f2)})`,
  );
  head(
    say,
    `| ${task}: mode | hidden entropy, first 10 steps | last 10 steps | scale-free, first 10 | last 10 | next-token entropy, first 10 | last 10 |`,
  );
  for (const [label, g] of series) {
    const first = g.flatMap((r) => r.metrics.slice(0, 10));
    const last = g.flatMap((r) => r.metrics.slice(-10));
    say(
      `| ${label} | ${mean(first.map(layerMean)).toFixed(4)} | ${mean(last.map(layerMean)).toFixed(4)} | ` +
        `${mean(first.map(layerMeanScaleFree)).toFixed(4)} | ${mean(last.map(layerMeanScaleFree)).toFixed(4)} | ` +
        `${mean(first.map((m) => m.entropy)).toFixed(3)} | ${mean(last.map((m) => m.entropy)).toFixed(3)} |`,
    );
  }
  say();
}

/** Every held-out evaluation of every run, for anyone who wants other statistics. */
function writeEvalsCsv(runs: Run[], figures: string): void {
  const csv = [
    'run,task,preset,G,lr,likelihood,backend,seed,step,accuracy,reward_mean,items,samples,mode,eval_mode,' +
      PASS_KS.map((k) => `pass@${k}`).join(','),
  ];
  for (const r of runs) {
    const run = [
      relative(process.cwd(), r.dir),
      r.task,
      r.preset,
      r.G,
      r.lr,
      r.likelihood,
      r.backend,
      r.seed,
    ];
    for (const e of r.evals) {
      const evaluation = [e.step, e.accuracy, e.rewardMean, e.items, e.n, r.mode, e.evalMode ?? ''];
      csv.push([...run, ...evaluation, ...PASS_KS.map((k) => passAt(e, k) ?? '')].join(','));
    }
  }
  writeFileSync(join(figures, 'evals.csv'), `${csv.join('\n')}\n`);
}

function main(): void {
  const args = process.argv.slice(2);
  const opt = (name: string, d: string) => {
    const i = args.indexOf(`--${name}`);
    if (i < 0) return d;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const figures = resolve(opt('figures', 'docs/reproduction'));
  const outFile = opt('out', '');
  const runs = args.flatMap((d) => findRuns(resolve(d)));
  if (runs.length === 0) throw new Error('no runs found (folders with summary.json)');
  mkdirSync(figures, { recursive: true });
  const lines: string[] = [];
  const say = (s = '') => lines.push(s);
  const cells = cellsOf(runs);
  const tally = new VerdictTally();
  rulesSection(say);
  seedsFlag(cells, say);
  accuracyTable(cells, tally, say);
  trainingAccuracyTable(cells, say);
  para(say, '## Claims between modes');
  modeClaims(cells, tally, say);
  halfTrajectoriesClaim(cells, tally, say);
  verdictSummary(tally, say);
  lrGrid(runs, say);
  passAtKTables(cells, say);
  accuracyVsG(cells, say);
  costTable(runs, say);
  // Figure links are relative to the report's folder (or the working directory when it goes to stdout).
  const linkBase = outFile ? resolve(outFile, '..') : process.cwd();
  for (const [task, rs] of groupBy(runs, (r) => r.task)) taskSection(task, rs, figures, linkBase, say);
  writeEvalsCsv(runs, figures);
  const text = `${lines.join('\n')}\n`;
  if (outFile) writeFileSync(outFile, text);
  else process.stdout.write(text);
}

main();
