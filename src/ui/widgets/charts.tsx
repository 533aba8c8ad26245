// Charts of a decode and of evaluations: next-token entropy per step (both sides, one stepped line each),
// the hidden-state entropy heatmap (layers × steps) of one side, and mean accuracy per evaluation. Every
// series takes its mode's colour (lib/palette.ts). All SVG, so export can turn them into PNGs.
import { useState } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { EvalRun, SideResult } from '../../store/types.ts';
import { modeColor } from '../lib/palette.ts';
import { ChartFigure, ema, type LegendItem, SmoothToggle } from './chartKit.tsx';

const finiteOrNull = (e: number | undefined) => (e !== undefined && Number.isFinite(e) ? e : null);

/**
 * The "mixing off" mark's text, above the plot (the chart's top margin keeps room for it) and on the side
 * of the line with more room, so that it is never cut by the chart's edge (nor in the exported PNG).
 */
function mixingOffLabel(towardLeft: boolean) {
  return (props: { viewBox?: { x?: number; y?: number } }) => {
    const x = props.viewBox?.x ?? 0;
    const y = props.viewBox?.y ?? 0;
    return (
      <text
        x={towardLeft ? x - 4 : x + 4}
        y={y - 5}
        textAnchor={towardLeft ? 'end' : 'start'}
        fontSize={10}
        className="axis-text"
        data-testid="mixing-off-label"
      >
        mixing off
      </text>
    );
  };
}

export function EntropyChart({ sides }: { sides: SideResult[] }) {
  const [smooth, setSmooth] = useState(false);
  const n = Math.max(0, ...sides.map((s) => s.steps.length));
  const series = sides.map((s) => {
    const raw = Array.from({ length: n }, (_, i) => finiteOrNull(s.steps[i]?.entropy));
    return smooth ? ema(raw) : raw;
  });
  const data = Array.from({ length: n }, (_, i) => {
    const row: Record<string, number | null> = { step: i };
    sides.forEach((s, j) => {
      const v = series[j][i];
      row[s.mode] = v === null ? null : Number(v.toFixed(4));
    });
    return row;
  });
  const off = sides.find((s) => s.mixingOffAt !== null)?.mixingOffAt ?? null;
  const legend: LegendItem[] = sides.map((s) => ({ name: s.mode, color: modeColor(s.mode) }));
  return (
    <ChartFigure
      exportName="next-token-entropy"
      testId="entropy-chart"
      data={{ 'data-smooth': smooth }}
      caption={`Next-token entropy per step (nats)${smooth ? ' · smoothed' : ''}`}
      ariaLabel={`Line chart of next-token entropy over ${n} steps for ${sides.map((s) => s.mode).join(' and ')}`}
      legend={legend}
      foot={<SmoothToggle on={smooth} onChange={setSmooth} testId="entropy-smooth" />}
    >
      <ResponsiveContainer width="100%" height={170}>
        <LineChart data={data} margin={{ top: 18, right: 14, bottom: 4, left: -12 }}>
          <CartesianGrid strokeDasharray="3 3" className="grid-line" />
          <XAxis
            dataKey="step"
            type="number"
            domain={[0, Math.max(1, n - 1)]}
            allowDecimals={false}
            tick={{ fontSize: 11 }}
          />
          <YAxis tick={{ fontSize: 11 }} width={44} />
          <Tooltip contentStyle={{ fontSize: 12 }} />
          {off !== null && (
            <ReferenceLine
              x={off}
              stroke="#888"
              strokeDasharray="4 3"
              label={mixingOffLabel(off > (n - 1) / 2)}
            />
          )}
          {sides.map((s) => (
            <Line
              key={s.mode}
              // Stepped: a step's value holds for its whole step, nothing is drawn between integer steps.
              type={smooth ? 'monotone' : 'step'}
              dataKey={s.mode}
              stroke={modeColor(s.mode)}
              dot={false}
              strokeWidth={1.8}
              isAnimationActive={false}
              connectNulls
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </ChartFigure>
  );
}

// Viridis, five stops: readable in light and dark themes and for colour-blind readers.
const STOPS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

export function viridis(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const c = STOPS[i].map((v, j) => Math.round(v + f * (STOPS[i + 1][j] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** The range of hidden-state entropies over several sides (one colour scale for a fair comparison). */
export function hiddenRange(sides: SideResult[]): [number, number] | null {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of sides)
    for (const st of s.steps)
      for (const h of st?.hidden ?? []) {
        if (h < lo) lo = h;
        if (h > hi) hi = h;
      }
  return lo <= hi ? [lo, hi] : null;
}

const hiddenSteps = (side: SideResult) => side.steps.filter((s) => s?.hidden && s.hidden.length > 0);

/**
 * One cell width for the heatmaps of several sides (from the longest): their columns line up step for step,
 * each drawn at its natural width (a shorter run is a shorter picture, never stretched).
 */
export function heatmapCellWidth(sides: SideResult[]): number {
  const cols = Math.max(1, ...sides.map((s) => hiddenSteps(s).length));
  return Math.max(4, Math.min(22, Math.floor(600 / cols)));
}

export function EntropyHeatmap({
  side,
  title,
  range,
  cellWidth,
}: {
  side: SideResult;
  title: string;
  /** Shared colour scale [lo, hi]; default: this side's own range. */
  range?: [number, number] | null;
  /** Shared cell width (heatmapCellWidth of all sides shown); default: from this side alone. */
  cellWidth?: number;
}) {
  const steps = hiddenSteps(side);
  if (steps.length === 0) return null;
  const layers = steps[0].hidden?.length ?? 0;
  const [lo, hi] = range ?? hiddenRange([side]) ?? [0, 1];
  const span = hi - lo || 1;
  const cellW = cellWidth ?? heatmapCellWidth([side]);
  const cellH = Math.max(10, Math.min(26, Math.floor(130 / layers)));
  const left = 46;
  const top = 6;
  const w = left + steps.length * cellW + 70;
  const h = top + layers * cellH + 30;
  const tickEvery = Math.max(1, Math.ceil(steps.length / 8));
  const cells: { key: string; x: number; y: number; v: number; step: number; layer: number }[] = [];
  steps.forEach((st, x) => {
    (st.hidden ?? []).forEach((v, l) => {
      cells.push({
        key: `c${x}-${l}`,
        x: left + x * cellW,
        y: top + (layers - 1 - l) * cellH,
        v,
        step: x,
        layer: l,
      });
    });
  });
  const layerLabels = Array.from({ length: layers }, (_, l) => ({
    key: `l${l}`,
    l,
    y: top + (layers - 1 - l) * cellH + cellH / 2 + 4,
  }));
  const stepLabels = steps
    .map((_, x) => ({ key: `s${x}`, x, cx: left + x * cellW + cellW / 2 }))
    .filter((t) => t.x % tickEvery === 0);
  const stops = STOPS.map((_, i) => ({
    key: `g${i}`,
    offset: `${(100 * i) / (STOPS.length - 1)}%`,
    color: viridis(i / (STOPS.length - 1)),
  }));
  return (
    <figure
      className="chart"
      data-export-chart={`hidden-entropy-${side.mode}`}
      data-testid="entropy-heatmap"
      data-cell-width={cellW}
    >
      <figcaption>{title}</figcaption>
      {/* Focusable: a keyboard can scroll a heatmap wider than the screen. */}
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scroll region must be reachable by keyboard */}
      <section className="heatmap-scroll" tabIndex={0} aria-label={`${title} (scrolls sideways)`}>
        <svg
          viewBox={`0 0 ${w} ${h}`}
          width={w}
          height={h}
          role="img"
          aria-label={`Heatmap of hidden-state entropy, ${layers} layers by ${steps.length} steps, from ${lo.toFixed(2)} to ${hi.toFixed(2)} nats`}
        >
          {cells.map((c) => (
            <rect key={c.key} x={c.x} y={c.y} width={cellW} height={cellH} fill={viridis((c.v - lo) / span)}>
              <title>{`step ${c.step}, layer ${c.layer}: ${c.v.toFixed(3)} nats`}</title>
            </rect>
          ))}
          {layerLabels.map((t) => (
            <text key={t.key} x={left - 6} y={t.y} textAnchor="end" fontSize={10} className="axis-text">
              L{t.l}
            </text>
          ))}
          {stepLabels.map((t) => (
            <text
              key={t.key}
              x={t.cx}
              y={top + layers * cellH + 13}
              textAnchor="middle"
              fontSize={10}
              className="axis-text"
            >
              {t.x}
            </text>
          ))}
          <text x={left} y={h - 2} fontSize={10} className="axis-text">
            step →
          </text>
          <defs>
            <linearGradient id={`grad-${side.mode}`} x1="0" y1="1" x2="0" y2="0">
              {stops.map((g) => (
                <stop key={g.key} offset={g.offset} stopColor={g.color} />
              ))}
            </linearGradient>
          </defs>
          <rect x={w - 58} y={top} width={10} height={layers * cellH} fill={`url(#grad-${side.mode})`} />
          <text x={w - 44} y={top + 9} fontSize={10} className="axis-text">
            {hi.toFixed(2)}
          </text>
          <text x={w - 44} y={top + layers * cellH} fontSize={10} className="axis-text">
            {lo.toFixed(2)}
          </text>
        </svg>
      </section>
    </figure>
  );
}

const pct = (x: number) => `${Math.round(100 * x)}%`;

/** Mean accuracy over an evaluation's tasks. */
export function meanAccuracy(e: EvalRun): number {
  return e.results.length ? e.results.reduce((a, r) => a + r.accuracy, 0) / e.results.length : 0;
}

/** Mean accuracy of each evaluation, one bar each in its mode's colour (the table has the per-task detail). */
export function EvalChart({ evals }: { evals: EvalRun[] }) {
  if (evals.length === 0) return null;
  const data = evals.map((e, i) => ({
    name: `#${i + 1}`,
    mode: e.settings.mode,
    accuracy: Number(meanAccuracy(e).toFixed(4)),
  }));
  const modes = [...new Set(data.map((d) => d.mode))];
  const legend: LegendItem[] = modes.map((m) => ({ name: m, color: modeColor(m) }));
  return (
    <ChartFigure
      className="chart eval-chart"
      exportName="eval-accuracy"
      testId="eval-chart"
      caption="Mean accuracy per evaluation (#1 is the oldest row of the table)"
      ariaLabel={`Bar chart of mean accuracy: ${data.map((d) => `${d.name} ${d.mode} ${pct(d.accuracy)}`).join(', ')}`}
      legend={legend}
    >
      <ResponsiveContainer width="100%" height={140}>
        <BarChart data={data} margin={{ top: 10, right: 12, bottom: 2, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" className="grid-line" vertical={false} />
          <XAxis dataKey="name" tick={{ fontSize: 11 }} />
          <YAxis domain={[0, 1]} tick={{ fontSize: 11 }} width={44} tickFormatter={pct} />
          <Tooltip
            contentStyle={{ fontSize: 12 }}
            formatter={(v, _n, item) => [pct(Number(v)), (item?.payload as { mode?: string })?.mode ?? '']}
          />
          {/* minPointSize: a 0 % evaluation still shows its bar (and colour). */}
          <Bar dataKey="accuracy" isAnimationActive={false} maxBarSize={48} minPointSize={2}>
            {data.map((d) => (
              <Cell key={d.name} fill={modeColor(d.mode)} data-mode={d.mode} />
            ))}
          </Bar>
        </BarChart>
      </ResponsiveContainer>
    </ChartFigure>
  );
}
