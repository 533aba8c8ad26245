// Charts of a decode: next-token entropy per step (both sides, one line each) and the hidden-state
// entropy heatmap (layers × steps) of one side. Both are SVG, so export can turn them into PNGs.
import {
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { SideResult } from '../../store/types.ts';

export const SIDE_COLORS = ['#2b7bb9', '#d9480f'];

export function EntropyChart({ sides }: { sides: SideResult[] }) {
  const n = Math.max(0, ...sides.map((s) => s.steps.length));
  const data = Array.from({ length: n }, (_, i) => {
    const row: Record<string, number | null> = { step: i };
    for (const s of sides) {
      const e = s.steps[i]?.entropy;
      row[s.mode] = e !== undefined && Number.isFinite(e) ? Number(e.toFixed(4)) : null;
    }
    return row;
  });
  const off = sides.find((s) => s.mixingOffAt !== null)?.mixingOffAt ?? null;
  return (
    <figure
      className="chart"
      data-export-chart="next-token-entropy"
      data-export-legend={sides.map((s, i) => `${s.mode}=${SIDE_COLORS[i % 2]}`).join('|')}
      data-testid="entropy-chart"
    >
      <figcaption>Next-token entropy per step (nats)</figcaption>
      <div
        className="chart-box"
        role="img"
        aria-label={`Line chart of next-token entropy over ${n} steps for ${sides.map((s) => s.mode).join(' and ')}`}
      >
        <ResponsiveContainer width="100%" height={170}>
          <LineChart data={data} margin={{ top: 6, right: 12, bottom: 4, left: -12 }}>
            <CartesianGrid strokeDasharray="3 3" className="grid-line" />
            <XAxis dataKey="step" tick={{ fontSize: 11 }} />
            <YAxis tick={{ fontSize: 11 }} width={44} />
            <Tooltip contentStyle={{ fontSize: 12 }} />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {off !== null && (
              <ReferenceLine
                x={off}
                stroke="#888"
                strokeDasharray="4 3"
                label={{ value: 'mixing off', fontSize: 10, position: 'top' }}
              />
            )}
            {sides.map((s, i) => (
              <Line
                key={s.mode}
                type="monotone"
                dataKey={s.mode}
                stroke={SIDE_COLORS[i % 2]}
                dot={false}
                strokeWidth={1.8}
                isAnimationActive={false}
                connectNulls
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
    </figure>
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

export function EntropyHeatmap({
  side,
  title,
  range,
}: {
  side: SideResult;
  title: string;
  /** Shared colour scale [lo, hi]; default: this side's own range. */
  range?: [number, number] | null;
}) {
  const steps = side.steps.filter((s) => s?.hidden && s.hidden.length > 0);
  if (steps.length === 0) return null;
  const layers = steps[0].hidden?.length ?? 0;
  const [lo, hi] = range ?? hiddenRange([side]) ?? [0, 1];
  const span = hi - lo || 1;
  const cellW = Math.max(4, Math.min(22, Math.floor(600 / steps.length)));
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
    <figure className="chart" data-export-chart={`hidden-entropy-${side.mode}`} data-testid="entropy-heatmap">
      <figcaption>{title}</figcaption>
      <div className="heatmap-scroll">
        <svg
          viewBox={`0 0 ${w} ${h}`}
          width="100%"
          style={{ maxWidth: w, minWidth: Math.min(w, 340) }}
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
      </div>
    </figure>
  );
}
