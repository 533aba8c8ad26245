// Evaluate panel: held-out accuracy per task for the current policy (n questions, samples per question,
// any decode mode), and a table that compares every evaluation of the run on screen.
import { runEval, stopEval } from '../../store/actions/evaluate.ts';
import { setEval } from '../../store/actions/settings.ts';
import { DECODE_MODES, modeLabel } from '../../store/settings.ts';
import { useStore } from '../../store/store.ts';
import type { EvalRun } from '../../store/types.ts';
import { TASK_NAMES } from '../../tasks/registry.ts';
import { modeColor } from '../lib/palette.ts';
import { EvalChart } from '../widgets/charts.tsx';
import { NumberField, Panel, ProgressBar, SelectField } from '../widgets/fields.tsx';
import { PassAtKChart } from '../widgets/passAtKChart.tsx';
import { ScrollArea } from '../widgets/ScrollArea.tsx';
import { GuideHere } from './GuidedPath.tsx';
import { EvalLookFor } from './LookFor.tsx';

const LEVELS = ['trivial', 'easy', 'medium', 'default'];
const NO_EVALS: EvalRun[] = [];
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

function CompareTable({ evals }: { evals: EvalRun[] }) {
  if (evals.length === 0) return <p className="muted">No evaluations in this run yet.</p>;
  const tasks = [...new Set(evals.flatMap((e) => e.results.map((r) => r.task)))];
  return (
    <ScrollArea label="Accuracy per task for each evaluation">
      <table className="compare" data-testid="eval-table">
        <caption className="visually-hidden">Accuracy per task for each evaluation</caption>
        <thead>
          <tr>
            <th scope="col">Evaluation</th>
            <th scope="col">Mode</th>
            {tasks.map((t) => (
              <th key={t} scope="col">
                {t}
              </th>
            ))}
            <th scope="col">Mean</th>
          </tr>
        </thead>
        <tbody>
          {evals.map((e) => {
            const byTask = new Map(e.results.map((r) => [r.task, r]));
            const mean = e.results.length
              ? e.results.reduce((a, r) => a + r.accuracy, 0) / e.results.length
              : 0;
            return (
              <tr key={e.id}>
                <th scope="row">
                  <span>{new Date(e.createdAt).toLocaleTimeString()}</span>{' '}
                  <span className="muted small">
                    {e.model} · n={e.settings.n}×{e.settings.samples}
                  </span>
                  {e.status !== 'done' && <span className={`badge ${e.status}`}>{e.status}</span>}
                </th>
                <td>
                  <span
                    className="swatch"
                    style={{ background: modeColor(e.settings.mode) }}
                    data-color={modeColor(e.settings.mode)}
                    aria-hidden="true"
                  />{' '}
                  {e.settings.mode} · T={e.settings.temperature}
                </td>
                {tasks.map((t) => {
                  const r = byTask.get(t);
                  return (
                    <td
                      key={t}
                      title={
                        r
                          ? `mean score ${r.meanScore.toFixed(2)} · format ${pct(r.formatRate)} · reward ${r.meanReward.toFixed(2)} · ${r.questions} questions`
                          : ''
                      }
                    >
                      {r ? pct(r.accuracy) : '—'}
                    </td>
                  );
                })}
                <td>
                  <strong>{pct(mean)}</strong>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </ScrollArea>
  );
}

export function EvaluatePanel() {
  const s = useStore((st) => st.settings.eval);
  const status = useStore((st) => st.status);
  const running = useStore((st) => st.evalRunning);
  const progress = useStore((st) => st.evalProgress);
  const rollout = useStore((st) => st.rollout);
  const evals = useStore((st) => st.shown?.evals ?? NO_EVALS);
  const toggle = (t: string) =>
    setEval({ tasks: s.tasks.includes(t) ? s.tasks.filter((x) => x !== t) : [...s.tasks, t] });
  return (
    <Panel
      id="evaluate"
      title="Evaluate"
      actions={
        <>
          <button
            type="button"
            disabled={status !== 'ready' || running || s.tasks.length === 0}
            onClick={() => void runEval()}
            data-testid="eval-run"
          >
            Evaluate
          </button>
          <button type="button" className="secondary" disabled={!running} onClick={() => void stopEval()}>
            Stop
          </button>
        </>
      }
    >
      <p className="hint">
        Held-out accuracy of the current policy: the fraction of samples scoring exactly 1, averaged over
        questions. The questions are the first n of each task's held-out pool, which this page's training
        never draws.
      </p>
      <EvalLookFor />
      <GuideHere panel="evaluate" />
      <details className="task-picker">
        <summary>Tasks: {s.tasks.length === 0 ? 'none' : s.tasks.join(', ')}</summary>
        <fieldset>
          <legend className="visually-hidden">Tasks to evaluate</legend>
          {TASK_NAMES.map((t) => (
            <label key={t} className="check">
              <input type="checkbox" checked={s.tasks.includes(t)} onChange={() => toggle(t)} />
              <span>{t}</span>
            </label>
          ))}
        </fieldset>
      </details>
      <div className="knobs">
        <SelectField
          label="Level"
          value={s.level}
          options={LEVELS}
          onChange={(level) => setEval({ level })}
        />
        <NumberField
          label="Questions per task"
          value={s.n}
          min={1}
          max={1000}
          step={1}
          onChange={(n) => setEval({ n })}
        />
        <NumberField
          label="Samples per question"
          value={s.samples}
          min={1}
          max={64}
          step={1}
          onChange={(samples) => setEval({ samples })}
        />
        <SelectField
          label="Decode mode"
          value={s.mode}
          options={DECODE_MODES.map((m) => ({
            value: m,
            label: modeLabel(m),
            disabled: m !== 'discrete' && !rollout,
          }))}
          onChange={(mode) => setEval({ mode })}
        />
        <NumberField
          label="Eval temperature"
          value={s.temperature}
          min={0}
          max={2}
          step={0.05}
          onChange={(temperature) => setEval({ temperature })}
        />
        <NumberField
          label="Eval seed"
          value={s.seed}
          min={0}
          step={1}
          onChange={(seed) => setEval({ seed })}
        />
        <NumberField
          label="Max new tokens"
          value={s.maxNewTokens}
          min={1}
          max={2048}
          step={1}
          onChange={(maxNewTokens) => setEval({ maxNewTokens })}
        />
      </div>
      {!rollout && (
        <p className="hint">
          Mixture modes need the engine's rollout; until it exists, evaluation decodes discretely.
        </p>
      )}
      {progress && (
        <ProgressBar
          label="Evaluating"
          value={progress.done}
          max={progress.total}
          detail={`${progress.done} / ${progress.total} samples`}
        />
      )}
      <EvalChart evals={evals} />
      <CompareTable evals={evals} />
      <PassAtKChart evals={evals.filter((e) => e.status === 'done')} />
    </Panel>
  );
}
