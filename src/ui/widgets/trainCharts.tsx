// Charts of GRPO runs: one small line chart per metric, every run of the page drawn as its own series
// (so a discrete run and a mixture run overlay), reward with a ± std band, and the hidden-state entropy
// per layer (line style = layer). SVG, as the decode charts.

import { memo, useEffect, useState } from 'react';
import {
  Area,
  CartesianGrid,
  ComposedChart,
  Legend,
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

export const RUN_COLORS = ['#2b7bb9', '#d9480f', '#2f9e44', '#7048e8', '#c2255c', '#e67700'];
const LAYER_DASH = ['', '5 3', '2 2', '8 3 2 3'];

export const runColor = (i: number) => RUN_COLORS[i % RUN_COLORS.length];

interface Series {
  key: string;
  name: string;
  color: string;
  dash?: string;
}

type Row = Record<string, number | null | [number, number]>;

/** A tick that fits the axis: small and large magnitudes in exponent form (KL and loss start near 0). */
function compactTick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-2 || a >= 1e5)) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

const fin = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(5)) : null);

/** Rows by step; `values(m)` gives [suffix, value] pairs per step of each run. */
function rowsOf(runs: TrainRun[], values: (m: StepMetrics) => [string, number | [number, number]][]): Row[] {
  const rows = new Map<number, Row>();
  runs.forEach((r, i) => {
    for (const m of r.history) {
      const row = rows.get(m.step) ?? { step: m.step };
      rows.set(m.step, row);
      for (const [suffix, v] of values(m)) {
        row[`r${i}${suffix}`] = Array.isArray(v) ? (v.every(Number.isFinite) ? v : null) : fin(v);
      }
    }
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
}: {
  id: string;
  title: string;
  runs: TrainRun[];
  values: (m: StepMetrics) => [string, number | [number, number]][];
  series: Series[];
  bands?: Series[];
  percent?: boolean;
  /** Mark the skipped steps (a vertical line each) and count them in the caption. */
  markSkipped?: boolean;
}) {
  const data = rowsOf(runs, values);
  const skipped = markSkipped ? skippedStepsOfRuns(runs) : [];
  return (
    <figure
      className="chart train-chart"
      data-testid={`train-chart-${id}`}
      data-points={data.length}
      data-skipped={markSkipped ? skipped.length : undefined}
      data-export-chart={`train-${id}`}
      data-export-legend={
        series.length > 1
          ? series.map((s) => `${s.name.replace(/\|/g, '/')}=${s.color}`).join('|')
          : undefined
      }
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
                dot={data.length <= 30 ? { r: 2.5 } : false}
                isAnimationActive={false}
                connectNulls
              />
            ))}
            {skipped.slice(0, MAX_SKIP_MARKS).map((step) => (
              <ReferenceLine key={`skip${step}`} x={step} stroke="#c92a2a" strokeDasharray="3 3" />
            ))}
            {series.length > 1 && <Legend wrapperStyle={{ fontSize: 11 }} />}
          </ComposedChart>
        </ResponsiveContainer>
      </div>
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

/** Redrawn only when its runs change (the other props follow from them). */
const MemoChart = memo(MetricChart, (a, b) => a.runs === b.runs && a.id === b.id);

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

/** Memoized: the Train panel's form changes do not redraw the charts. */
export const TrainCharts = memo(function TrainCharts({ runs }: { runs: TrainRun[] }) {
  const perRun = (suffix = '') =>
    runs.map((r, i) => ({ key: `r${i}${suffix}`, name: r.label, color: runColor(i) }));
  const layers = Math.max(0, ...runs.flatMap((r) => r.history.map((m) => m.hiddenEntropy.length)));
  const hiddenSeries: Series[] = runs.flatMap((r, i) =>
    Array.from({ length: layers }, (_, l) => ({
      key: `r${i}h${l}`,
      name: runs.length > 1 ? `${r.label} · L${l}` : `layer ${l}`,
      color: runs.length > 1 ? runColor(i) : runColor(l),
      dash: runs.length > 1 ? LAYER_DASH[l % LAYER_DASH.length] : undefined,
    })),
  );
  return (
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
        />
      ))}
      <LaggedChart
        order={SCALARS.length + 1}
        id="hidden-entropy"
        title="Hidden-state entropy by layer (nats)"
        runs={runs}
        values={(m) => m.hiddenEntropy.map((h, l) => [`h${l}`, h] as [string, number])}
        series={hiddenSeries}
      />
    </div>
  );
});
