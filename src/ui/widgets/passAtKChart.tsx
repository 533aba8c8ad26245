// pass@k of each evaluation on screen: the chance that at least one of k samples of a question is correct,
// by the unbiased estimator of Chen et al. 2021 over each question's samples (rl/passAtK.ts), averaged over
// the questions of every task. The paper compares discrete and mixture decoding this way: a mode that
// explores more can trail at k = 1 and lead at larger k. Needs ≥ 2 samples per question.
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { PASS_AT_K_MAX, passAtKCurve } from '../../rl/passAtK.ts';
import type { EvalRun } from '../../store/types.ts';
import { runStyles } from '../lib/palette.ts';
import { ChartFigure, type LegendItem } from './chartKit.tsx';

/** An evaluation's pass@k curve over all its questions (empty: fewer than 2 samples or no counts kept). */
export function evalPassAtK(e: EvalRun): Record<string, number> {
  const items = e.results.flatMap((r) =>
    Array.isArray(r.correct) ? r.correct.map((c) => ({ n: r.samples, c })) : [],
  );
  if (items.length === 0 || e.settings.samples < 2) return {};
  return passAtKCurve(items, PASS_AT_K_MAX);
}

export function PassAtKChart({ evals }: { evals: EvalRun[] }) {
  const curves = evals
    .map((e, i) => ({ e, name: `#${i + 1} ${e.settings.mode}`, curve: evalPassAtK(e) }))
    .filter((c) => Object.keys(c.curve).length > 1);
  if (curves.length === 0)
    return (
      <p className="muted small" data-testid="passk-hint">
        pass@k (the chance one of k samples is right) shows here for evaluations with 2 or more samples per
        question.
      </p>
    );
  const kMax = Math.max(...curves.map((c) => Object.keys(c.curve).length));
  const data = Array.from({ length: kMax }, (_, j) => {
    const row: Record<string, number> = { k: j + 1 };
    for (const c of curves) {
      const v = c.curve[String(j + 1)];
      if (v !== undefined) row[c.name] = Number(v.toFixed(4));
    }
    return row;
  });
  const styles = runStyles(curves.map((c) => c.e.settings.mode));
  const legend: LegendItem[] = curves.map((c, i) => ({
    name: c.name,
    color: styles[i].color,
    dash: styles[i].dash,
  }));
  return (
    <ChartFigure
      exportName="eval-pass-at-k"
      testId="passk-chart"
      caption="pass@k: a correct answer among k samples (unbiased estimator)"
      ariaLabel={`Line chart of pass@k for k = 1 to ${kMax} for ${curves.map((c) => c.name).join(', ')}`}
      legend={legend}
      data={{ 'data-series': curves.length }}
    >
      <ResponsiveContainer width="100%" height={170}>
        <LineChart data={data} margin={{ top: 10, right: 14, bottom: 4, left: -12 }}>
          <CartesianGrid strokeDasharray="3 3" className="grid-line" />
          <XAxis dataKey="k" type="number" domain={[1, kMax]} allowDecimals={false} tick={{ fontSize: 11 }} />
          <YAxis domain={[0, 1]} tick={{ fontSize: 11 }} width={44} />
          <Tooltip contentStyle={{ fontSize: 12 }} />
          {curves.map((c, i) => (
            <Line
              key={c.name}
              type="linear"
              dataKey={c.name}
              stroke={styles[i].color}
              strokeDasharray={styles[i].dash || undefined}
              dot={{ r: 2 }}
              strokeWidth={1.8}
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </ChartFigure>
  );
}
