// Charts of GRPO runs: one small line chart per metric, every run of the page drawn as its own series
// (so a discrete run and a mixture run overlay), reward with a ± std band, and the hidden-state entropy
// per layer (line style = layer). A run's colour is its preset's (lib/palette.ts), several runs of one
// preset differ by dash and shade. Stepped lines (one value per step), EMA smoothing on demand, legends
// under the plots. SVG, as the decode charts.

import { memo, useEffect, useState } from 'react';
import {
  Area,
  CartesianGrid,
  ComposedChart,
  Line,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { StepMetrics } from '../../rl/metrics.ts';
import { skippedStepsOfRuns } from '../../store/lib/skippedSteps.ts';
import type { TrainRunRecord as TrainRun } from '../../store/types.ts';
import { runStyles } from '../lib/palette.ts';
import { ChartLegend, ema, exportLegend, type LegendItem, SmoothToggle } from './chartKit.tsx';

const LAYER_DASH = ['', '5 3', '2 2', '8 3 2 3'];
/** The hidden-entropy legend's layer entries: line style only, in a neutral colour. */
const LAYER_KEY_COLOR = '#7a7f8c';

interface Series extends LegendItem {
  key: string;
}

type Row = Record<string, number | null | [number, number]>;

/** A tick that fits the axis: small and large magnitudes in exponent form (KL and loss start near 0). */
function compactTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-2 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

const fin = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(5)) : null);

type Values = (m: StepMetrics) => [string, number | [number, number]][];

/** Each series of one run over its steps, EMA-smoothed when asked (a band's two edges each on its own). */
function runSeries(r: TrainRun, values: Values, smooth: boolean): Map<string, (number | [number, number])[]> {
  const cols = new Map<string, (number | [number, number])[]>();
  for (const m of r.history)
    for (const [suffix, v] of values(m)) {
      const col = cols.get(suffix) ?? [];
      col.push(v);
      cols.set(suffix, col);
    }
  if (!smooth) return cols;
  for (const [suffix, col] of cols) {
    if (Array.isArray(col[0])) {
      const lo = ema(col.map((v) => (v as [number, number])[0]));
      const hi = ema(col.map((v) => (v as [number, number])[1]));
      cols.set(
        suffix,
        lo.map((x, j) => [x ?? Number.NaN, hi[j] ?? Number.NaN]),
      );
    } else
      cols.set(
        suffix,
        ema(col as number[]).map((x) => x ?? Number.NaN),
      );
  }
  return cols;
}

/** Rows by step; `values(m)` gives [suffix, value] pairs per step of each run. */
function rowsOf(runs: TrainRun[], values: Values, smooth = false): Row[] {
  const rows = new Map<number, Row>();
  runs.forEach((r, i) => {
    const cols = runSeries(r, values, smooth);
    r.history.forEach((m, j) => {
      const row = rows.get(m.step) ?? { step: m.step };
      rows.set(m.step, row);
      for (const [suffix, col] of cols) {
        const v = col[j];
        row[`r${i}${suffix}`] = Array.isArray(v) ? (v.every(Number.isFinite) ? v : null) : fin(v);
      }
    });
  });
  return [...rows.values()].sort((a, b) => (a.step as number) - (b.step as number));
}

function MetricChart({
  id,
  title,
  runs,
  values,
  series,
  bands,
  percent,
  markSkipped,
  smooth = false,
  legend = series,
}: {
  id: string;
  title: string;
  runs: TrainRun[];
  values: Values;
  series: Series[];
  bands?: Series[];
  percent?: boolean;
  /** Mark the skipped steps (a vertical line each) and count them in the caption. */
  markSkipped?: boolean;
  /** Draw the EMA of each series instead of its steps. */
  smooth?: boolean;
  /** What the legend under the plot lists (default: the series; none when there is one). */
  legend?: LegendItem[];
}) {
  const data = rowsOf(runs, values, smooth);
  const shownLegend = legend.length > 1 ? legend : [];
  const skipped = markSkipped ? skippedStepsOfRuns(runs) : [];
  return (
    <figure
      className="chart train-chart"
      data-testid={`train-chart-${id}`}
      data-points={data.length}
      data-skipped={markSkipped ? skipped.length : undefined}
      data-export-chart={`train-${id}`}
      data-smooth={smooth}
      data-export-legend={shownLegend.length > 0 ? exportLegend(shownLegend) : undefined}
    >
      <figcaption>
        {title}
        {skipped.length > 0 && (
          <span className="muted small" title={`Skipped steps: ${skipped.join(', ')}`}>
            {' '}
            · {skipped.length} skipped step{skipped.length === 1 ? '' : 's'} (dashed)
          </span>
        )}
      </figcaption>
      <div
        className="chart-box"
        role="img"
        aria-label={`Line chart of ${title} over ${data.length} steps for ${runs.length} run(s)`}
      >
        <ResponsiveContainer width="100%" height={150}>
          <ComposedChart data={data} margin={{ top: 6, right: 10, bottom: 2, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" className="grid-line" />
            <XAxis
              dataKey="step"
              type="number"
              domain={['dataMin', 'dataMax']}
              allowDecimals={false}
              tick={{ fontSize: 10 }}
            />
            <YAxis
              tick={{ fontSize: 10 }}
              width={46}
              domain={percent ? [0, 1] : ['auto', 'auto']}
              tickFormatter={(v: number) => (percent ? `${Math.round(v * 100)}%` : compactTick(v))}
            />
            <Tooltip contentStyle={{ fontSize: 11 }} />
            {bands?.map((b) => (
              <Area
                key={b.key}
                dataKey={b.key}
                name={b.name}
                stroke="none"
                fill={b.color}
                fillOpacity={0.15}
                isAnimationActive={false}
                legendType="none"
                type={smooth ? 'monotone' : 'step'}
                connectNulls
              />
            ))}
            {series.map((s) => (
              <Line
                key={s.key}
                dataKey={s.key}
                name={s.name}
                stroke={s.color}
                strokeDasharray={s.dash}
                strokeWidth={1.8}
                // Stepped: each step's value holds for its step; nothing is drawn between integer steps.
                type={smooth ? 'monotone' : 'step'}
                dot={data.length <= 30 ? { r: 2.5 } : false}
                isAnimationActive={false}
                connectNulls
              />
            ))}
            {skipped.slice(0, MAX_SKIP_MARKS).map((step) => (
              <ReferenceLine key={`skip${step}`} x={step} stroke="#c92a2a" strokeDasharray="3 3" />
            ))}
          </ComposedChart>
        </ResponsiveContainer>
      </div>
      {/* Under the plot, not inside it: many runs never take height from the plot (it scrolls instead). */}
      <ChartLegend items={shownLegend} testId={`train-legend-${id}`} />
    </figure>
  );
}

/** Beyond this many skipped steps only the caption's count shows them (each mark is an SVG element). */
const MAX_SKIP_MARKS = 200;

type ChartProps = Parameters<typeof MetricChart>[0];

/**
 * `value`, `delay` ms late (at once on mount). The train charts take a new step one after another, so
 * each redraws in a main-thread task of its own while a run trains: one recharts chart costs 15–35 ms of
 * CPU on a 2-core machine, all eight in one task 60–110 ms (test/e2e/responsive.spec.ts).
 */
function useLagged<T>(value: T, delay: number): T {
  const [shown, setShown] = useState(value);
  useEffect(() => {
    if (Object.is(shown, value)) return;
    const t = setTimeout(() => setShown(value), delay);
    return () => clearTimeout(t);
  }, [value, shown, delay]);
  return shown;
}

/** Redrawn only when its runs or the smoothing change (the other props follow from them). */
const MemoChart = memo(MetricChart, (a, b) => a.runs === b.runs && a.id === b.id && a.smooth === b.smooth);

/** Charts are this far apart: more than a frame, as recharts batches its store updates per frame. */
const LAG_MS = 60;

function LaggedChart({ order, ...props }: ChartProps & { order: number }) {
  return <MemoChart {...props} runs={useLagged(props.runs, 16 + LAG_MS * order)} />;
}

type Scalar = Exclude<
  {
    [K in keyof StepMetrics]: StepMetrics[K] extends number ? K : never;
  }[keyof StepMetrics],
  undefined
>;

const SCALARS: { id: string; title: string; key: Scalar; percent?: boolean }[] = [
  { id: 'accuracy', title: 'Accuracy (score = 1)', key: 'accuracy', percent: true },
  { id: 'kl', title: 'KL to the reference', key: 'kl' },
  { id: 'loss', title: 'GRPO loss', key: 'loss' },
  { id: 'clip', title: 'Clip fraction', key: 'clipFraction', percent: true },
  { id: 'zero-std', title: 'Zero-variance groups', key: 'zeroStdFraction', percent: true },
  { id: 'tps', title: 'Rollout tokens / s', key: 'tokensPerSecond' },
];

/** The hidden-state entropy series: per layer, in the run's colour; with several runs, line style = layer. */
function hiddenSeriesOf(runs: TrainRun[], styles: ReturnType<typeof runStyles>) {
  const layers = Math.max(0, ...runs.flatMap((r) => r.history.map((m) => m.hiddenEntropy.length)));
  const many = runs.length > 1;
  const series: Series[] = runs.flatMap((r, i) =>
    Array.from({ length: layers }, (_, l) => ({
      key: `r${i}h${l}`,
      name: many ? `${r.label} · L${l}` : `layer ${l}`,
      color: styles[i].color,
      dash: LAYER_DASH[l % LAYER_DASH.length],
    })),
  );
  // The legend names each run once (its colour) and each layer once (its line style).
  const legend: LegendItem[] = many
    ? [
        ...runs.map((r, i) => ({ name: r.label, color: styles[i].color })),
        ...Array.from({ length: layers }, (_, l) => ({
          name: `L${l}`,
          color: LAYER_KEY_COLOR,
          dash: LAYER_DASH[l % LAYER_DASH.length],
        })),
      ]
    : series;
  return { series, legend };
}

/** Memoized: the Train panel's form changes do not redraw the charts. */
export const TrainCharts = memo(function TrainCharts({ runs }: { runs: TrainRun[] }) {
  const [smooth, setSmooth] = useState(false);
  const styles = runStyles(runs.map((r) => r.form.preset));
  const perRun = (suffix = ''): Series[] =>
    runs.map((r, i) => ({
      key: `r${i}${suffix}`,
      name: r.label,
      color: styles[i].color,
      dash: styles[i].dash || undefined,
    }));
  const hidden = hiddenSeriesOf(runs, styles);
  return (
    <div className="train-charts-wrap">
      <SmoothToggle on={smooth} onChange={setSmooth} testId="train-smooth" />
      <div className="train-charts" data-testid="train-charts">
        <LaggedChart
          order={0}
          id="reward"
          title="Reward mean ± std"
          runs={runs}
          values={(m) => [
            ['', m.rewardMean],
            ['b', [m.rewardMean - m.rewardStd, m.rewardMean + m.rewardStd]],
          ]}
          series={perRun()}
          bands={perRun('b')}
          markSkipped
          smooth={smooth}
        />
        {SCALARS.map((c, i) => (
          <LaggedChart
            order={i + 1}
            key={c.id}
            id={c.id}
            title={c.title}
            runs={runs}
            values={(m) => [['', m[c.key]]]}
            series={perRun()}
            percent={c.percent}
            markSkipped={c.id === 'loss'}
            smooth={smooth}
          />
        ))}
        <LaggedChart
          order={SCALARS.length + 1}
          id="hidden-entropy"
          title="Hidden-state entropy by layer (nats)"
          runs={runs}
          values={(m) => m.hiddenEntropy.map((h, l) => [`h${l}`, h] as [string, number])}
          series={hidden.series}
          legend={hidden.legend}
          smooth={smooth}
        />
      </div>
    </div>
  );
});
