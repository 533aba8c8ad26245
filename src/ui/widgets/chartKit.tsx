// Parts every chart shares: the optional EMA smoothing (off by default: a step's own value is what the run
// did), the toggle that turns it on, and an HTML legend drawn under the plot, so that any number of series
// never takes height from the plot itself (recharts' own legend shares the chart's fixed height).

import type { ReactNode } from 'react';

export interface LegendItem {
  name: string;
  color: string;
  dash?: string;
}

/** The default EMA weight (TensorBoard's slider default is 0.6). */
export const EMA_WEIGHT = 0.6;

/**
 * Exponential moving average with TensorBoard's bias correction: s_t = w·s_{t−1} + (1 − w)·x_t, shown as
 * s_t / (1 − w^n) over the n finite values seen; a missing value stays missing and does not count.
 */
export function ema(xs: readonly (number | null)[], w = EMA_WEIGHT): (number | null)[] {
  let s = 0;
  let n = 0;
  return xs.map((x) => {
    if (x === null || !Number.isFinite(x)) return null;
    s = w * s + (1 - w) * x;
    n++;
    return s / (1 - w ** n);
  });
}

/** `label=colour` or `label=colour~dash`, joined by '|': what the PNG export draws as the legend. */
export function exportLegend(items: readonly LegendItem[]): string {
  return items
    .map((s) => `${s.name.replace(/[|~]/g, '/')}=${s.color}${s.dash ? `~${s.dash}` : ''}`)
    .join('|');
}

export function ChartLegend({ items, testId }: { items: readonly LegendItem[]; testId?: string }) {
  if (items.length === 0) return null;
  return (
    <ul className="chart-legend" data-testid={testId}>
      {items.map((s) => (
        <li key={`${s.name}${s.color}${s.dash ?? ''}`} className="chart-legend-item" data-color={s.color}>
          <svg width="18" height="8" aria-hidden="true" className="legend-line">
            <line
              x1="0"
              y1="4"
              x2="18"
              y2="4"
              stroke={s.color}
              strokeWidth="2.4"
              strokeDasharray={s.dash || undefined}
            />
          </svg>
          {s.name}
        </li>
      ))}
    </ul>
  );
}

export function SmoothToggle({
  on,
  onChange,
  testId,
}: {
  on: boolean;
  onChange: (on: boolean) => void;
  testId?: string;
}) {
  return (
    <label className="check smooth-toggle" title="Exponential moving average, weight 0.6, bias-corrected">
      <input type="checkbox" checked={on} onChange={(e) => onChange(e.target.checked)} data-testid={testId} />
      <span>Smooth (EMA {EMA_WEIGHT})</span>
    </label>
  );
}

/**
 * The frame of a chart: a figure the run export finds (`data-export-chart`, its legend in
 * `data-export-legend`), a caption, the plot as one image for screen readers, and the legend (plus any
 * controls) under it.
 */
export function ChartFigure({
  exportName,
  testId,
  caption,
  ariaLabel,
  legend,
  className = 'chart',
  foot,
  data,
  children,
}: {
  exportName: string;
  testId: string;
  caption: ReactNode;
  ariaLabel: string;
  legend: readonly LegendItem[];
  className?: string;
  /** Controls beside the legend (e.g. the smoothing toggle). */
  foot?: ReactNode;
  /** Extra data-* attributes the tests read. */
  data?: Record<`data-${string}`, string | number | boolean>;
  children: ReactNode;
}) {
  return (
    <figure
      className={className}
      data-export-chart={exportName}
      data-export-legend={exportLegend(legend)}
      data-testid={testId}
      {...data}
    >
      <figcaption>{caption}</figcaption>
      <div className="chart-box" role="img" aria-label={ariaLabel}>
        {children}
      </div>
      <div className="chart-foot">
        <ChartLegend items={legend} />
        {foot}
      </div>
    </figure>
  );
}
