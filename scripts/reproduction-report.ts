// Summarises GRPO experiment folders (scripts/experiment.ts output: summary.json, eval.jsonl, metrics.jsonl
// per run) into the tables and figures of docs/reproduction.md: held-out accuracy before/after with the
// seed-to-seed spread, cost per mode, mixture statistics, and hidden-state entropy curves (SVG).
//   npx tsx scripts/reproduction-report.ts <runs-dir>… [--figures docs/reproduction] [--out file.md]
// Writes the figures and evals.csv (every held-out evaluation of every run) into --figures.
// Runs are grouped by (task, preset, G, likelihood); seeds are the repetitions.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { StepMetrics } from '../src/rl/metrics.ts';
import type { EvalResult } from '../src/rl/trainer.ts';

interface Run {
  dir: string;
  task: string;
  preset: string;
  G: number;
  seed: number;
  likelihood: string;
  lr: number;
  backend: string;
  evals: EvalResult[];
  metrics: StepMetrics[];
  wallMs: number;
}

function readJsonl<T>(path: string): T[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
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
        G: s.G,
        seed: s.seed,
        likelihood: mot.likelihood === 'exact' ? 'exact' : 'paper',
        lr: cfg.resolved?.grpo?.learning_rate,
        backend: String(s.backend).split(' ')[0],
        evals: readJsonl<EvalResult>(join(dir, 'eval.jsonl')),
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

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const sd = (xs: number[]) => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};
const pct = (x: number) => (100 * x).toFixed(1);
const pm = (xs: number[]) => `${pct(mean(xs))} ± ${pct(sd(xs))}`;

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) m.set(key(x), [...(m.get(key(x)) ?? []), x]);
  return m;
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];

/** A plain line chart: series of (x, y) points, axes labelled, legend on top. */
function lineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: { label: string; points: [number, number][] }[],
): string {
  const W = 640;
  const H = 340;
  const pad = { l: 60, r: 16, t: 60, b: 44 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  const span = y1 - y0 || Math.abs(y1) || 1;
  y0 -= 0.05 * span;
  y1 += 0.05 * span;
  const xPos = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const yPos = (y: number) => pad.t + (1 - (y - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${pad.l}" y="16" font-size="13">${title}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const y = y0 + ((y1 - y0) * k) / 4;
    parts.push(
      `<line x1="${pad.l}" x2="${W - pad.r}" y1="${yPos(y).toFixed(1)}" y2="${yPos(y).toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.l - 6}" y="${(yPos(y) + 4).toFixed(1)}" text-anchor="end">${y.toPrecision(3)}</text>`,
    );
    const x = x0 + ((x1 - x0) * k) / 4;
    parts.push(
      `<text x="${xPos(x).toFixed(1)}" y="${H - pad.b + 16}" text-anchor="middle">${Math.round(x)}</text>`,
    );
  }
  parts.push(
    `<rect x="${pad.l}" y="${pad.t}" width="${W - pad.l - pad.r}" height="${H - pad.t - pad.b}" fill="none" stroke="#9ca3af"/>`,
    `<text x="${(pad.l + W - pad.r) / 2}" y="${H - 8}" text-anchor="middle">${xLabel}</text>`,
    `<text transform="translate(14 ${(pad.t + H - pad.b) / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const d = s.points
      .filter(([, y]) => Number.isFinite(y))
      .map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${xPos(x).toFixed(1)},${yPos(y).toFixed(1)}`)
      .join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    // Three legend entries per row.
    const lx = pad.l + (i % 3) * 190;
    const ly = 26 + Math.floor(i / 3) * 14;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="14" height="4" fill="${color}"/>`,
      `<text x="${lx + 18}" y="${ly + 5}">${s.label}</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}

/** Mean over seeds of a per-step series (steps aligned by index), smoothed over `window` steps. */
function meanSeries(runs: Run[], f: (m: StepMetrics) => number, window = 5): [number, number][] {
  const n = Math.min(...runs.map((r) => r.metrics.length));
  const raw: number[] = [];
  for (let i = 0; i < n; i++) raw.push(mean(runs.map((r) => f(r.metrics[i]))));
  return raw.map((_, i) => [i + 1, mean(raw.slice(Math.max(0, i - window + 1), i + 1))]);
}

type Say = (s?: string) => void;

/** 1. Held-out accuracy before and after, spread across seeds. */
function accuracyTable(runs: Run[], say: Say): void {
  say(
    '| task | preset | G | lr | likelihood | backend | seeds | before (%) | after (%) | Δ (points) | Δ per seed | Δ > spread |',
  );
  say('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const groups = groupBy(runs, (r) => `${r.task}|${r.preset}|${r.G}|${r.lr}|${r.likelihood}|${r.backend}`);
  for (const [key, rs] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const [task, preset, G, lr, lik, backend] = key.split('|');
    const before = rs.map((r) => r.evals[0]?.accuracy ?? Number.NaN);
    const after = rs.map((r) => r.evals.at(-1)?.accuracy ?? Number.NaN);
    const delta = rs.map((_, i) => after[i] - before[i]);
    // The margin must beat the seed-to-seed spread of the result and of the change.
    const spread = Math.max(sd(after), sd(delta));
    const ok = mean(delta) > spread && delta.every((d) => d > 0);
    say(
      `| ${task} | ${preset} | ${G} | ${lr} | ${lik} | ${backend} | ${rs.map((r) => r.seed).join(',')} | ${pm(before)} | ${pm(after)} | ` +
        `${(100 * mean(delta)).toFixed(1)} ± ${(100 * sd(delta)).toFixed(1)} | ${delta.map((d) => (100 * d).toFixed(1)).join(', ')} | ${ok ? 'yes' : 'no'} |`,
    );
  }
  say();
}

/** 2. Cost of each mode, and its mixture statistics. */
function costTable(runs: Run[], say: Say): void {
  say(
    '| preset | G | likelihood | backend | runs | rollout tokens/s | step (ms) | run wall (s) | mixture steps | 1/Σw² | rep ≠ argmax | completion length |',
  );
  say('|---|---|---|---|---|---|---|---|---|---|---|---|');
  const modes = groupBy(runs, (r) => `${r.preset}|${r.G}|${r.likelihood}|${r.backend}`);
  for (const [key, rs] of [...modes].sort(([a], [b]) => a.localeCompare(b))) {
    const [preset, G, lik, backend] = key.split('|');
    const ms = rs.flatMap((r) => r.metrics);
    const avg = (f: (m: StepMetrics) => number) => mean(ms.map(f));
    say(
      `| ${preset} | ${G} | ${lik} | ${backend} | ${rs.length} | ${avg((m) => m.tokensPerSecond).toFixed(0)} | ${avg((m) => m.wallMs).toFixed(0)} | ` +
        `${(mean(rs.map((r) => r.wallMs)) / 1000).toFixed(0)} | ${pct(avg((m) => m.mixtureRate))}% | ${avg((m) => m.effectiveTokens).toFixed(2)} | ` +
        `${pct(avg((m) => m.representativeNotArgmax))}% | ${avg((m) => m.completionLength).toFixed(1)} |`,
    );
  }
  say();
}

/** A step's hidden-state entropy, mean over layers (and the reasoning). */
const layerMean = (m: StepMetrics) => mean(m.hiddenEntropy);

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
    (r) => `${r.preset} G=${r.G}`,
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
  say(
    `![${task} accuracy](${rel(f3)}) ![${task} entropy during training](${rel(f1)}) ![${task} entropy along the reasoning](${rel(f2)})`,
  );
  say();
  say(
    `| ${task}: mode | hidden entropy, first 10 steps | last 10 steps | next-token entropy, first 10 | last 10 |`,
  );
  say('|---|---|---|---|---|');
  for (const [label, g] of series) {
    const first = g.flatMap((r) => r.metrics.slice(0, 10));
    const last = g.flatMap((r) => r.metrics.slice(-10));
    say(
      `| ${label} | ${mean(first.map(layerMean)).toFixed(4)} | ${mean(last.map(layerMean)).toFixed(4)} | ` +
        `${mean(first.map((m) => m.entropy)).toFixed(3)} | ${mean(last.map((m) => m.entropy)).toFixed(3)} |`,
    );
  }
  say();
}

/** Every held-out evaluation of every run, for anyone who wants other statistics. */
function writeEvalsCsv(runs: Run[], figures: string): void {
  const csv = ['run,task,preset,G,lr,likelihood,backend,seed,step,accuracy,reward_mean,items,samples'];
  for (const r of runs)
    for (const e of r.evals)
      csv.push(
        [
          relative(process.cwd(), r.dir),
          r.task,
          r.preset,
          r.G,
          r.lr,
          r.likelihood,
          r.backend,
          r.seed,
          e.step,
          e.accuracy,
          e.rewardMean,
          e.items,
          e.n,
        ].join(','),
      );
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
  accuracyTable(runs, say);
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
