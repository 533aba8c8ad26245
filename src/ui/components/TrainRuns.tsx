// The Train panel's runs: every run on the charts with its state, the live charts, the latest step's
// rollouts, and the trained model to take away. An example or imported run shows its own runs (view only).
import {
  clearFinishedRuns,
  exportableRun,
  exportTrainedModel,
  resumeInterruptedRun,
  resumeRefusal,
} from '../../store/actions/train.ts';
import { skippedSteps } from '../../store/lib/skippedSteps.ts';
import { type TrainRun, useStore } from '../../store/store.ts';
import type { RolloutRecord } from '../../store/types.ts';
import { ScrollArea } from '../widgets/ScrollArea.tsx';
import { TrainCharts } from '../widgets/trainCharts.tsx';

function Rollouts({ latest, G }: { latest: RolloutRecord[]; G: number }) {
  if (latest.length === 0) return null;
  return (
    <details className="rollouts" open>
      <summary>Latest step’s rollouts ({latest.length})</summary>
      <ScrollArea label="Completions of the latest GRPO step">
        <table className="compare rollout-table" data-testid="train-rollouts">
          <caption className="visually-hidden">Completions of the latest GRPO step</caption>
          <thead>
            <tr>
              <th scope="col">Group</th>
              <th scope="col">Completion</th>
              <th scope="col">Reward</th>
              <th scope="col">Advantage</th>
            </tr>
          </thead>
          <tbody>
            {latest.map((r, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: rows are positions prompt · G + g
              <tr key={i}>
                <td title={r.question}>
                  {Math.floor(i / Math.max(1, G)) + 1}.{(i % Math.max(1, G)) + 1}{' '}
                  <span className="muted small">{r.task}</span>
                </td>
                <td className="completion">
                  <code>{r.completion.length > 240 ? `${r.completion.slice(0, 240)}…` : r.completion}</code>
                  {r.stopReason === 'length' && <span className="badge">cut</span>}
                </td>
                <td title={`answer ${r.answer ?? '—'} · score ${fixed(r.score)}`}>{fixed(r.reward)}</td>
                <td>{fixed(r.advantage)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </ScrollArea>
    </details>
  );
}

const fixed = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');

/** How many steps of a run were skipped (none: nothing shown). */
function SkippedBadge({ steps }: { steps: number[] }) {
  if (steps.length === 0) return null;
  return (
    <>
      {' '}
      <span
        className="badge skipped"
        data-testid="train-run-skipped"
        title={`Steps skipped (loss, gradient or update not finite; the weights stayed as before): ${steps.join(', ')}`}
      >
        {steps.length} skipped
      </span>
    </>
  );
}

/** For a run a reload (or a failure) interrupted whose checkpoint this browser keeps: continue it. */
function ResumeButton({ run }: { run: TrainRun }) {
  const kept = useStore((s) => s.trainCheckpoint);
  const why = useStore((s) => resumeRefusal(run, s));
  if ((run.status !== 'interrupted' && run.status !== 'error') || kept?.runId !== run.id) return null;
  return (
    <>
      {' '}
      <button
        type="button"
        className="secondary small-button"
        data-testid="train-resume-run"
        aria-disabled={why !== null}
        title={
          why ?? `Steps after ${kept.step} are run again; the result is the same as an uninterrupted run`
        }
        onClick={() => void resumeInterruptedRun(run.id)}
      >
        Resume from step {kept.step}
      </button>
      {why && <span className="muted small"> ({why})</span>}
    </>
  );
}

/** Every run on the charts with its state (a run the page lost mid-way reads "interrupted"). */
function RunList({ runs }: { runs: TrainRun[] }) {
  return (
    <ul className="train-run-list" data-testid="train-run-list">
      {runs.map((r) => (
        <li key={r.id} data-status={r.status}>
          {r.label} <span className="muted small">{r.backend}</span>{' '}
          <span className={`badge ${r.status}`}>{r.status}</span>{' '}
          <span className="muted small">
            {r.history.length} / {r.maxSteps} steps
          </span>
          <SkippedBadge steps={skippedSteps(r)} />
          <ResumeButton run={r} />
        </li>
      ))}
    </ul>
  );
}

function ExportModelButton() {
  const can = useStore((s) => exportableRun(s) !== null);
  const exporting = useStore((s) => s.trainExporting);
  const tabRun = useStore((s) => s.trainTabRun !== null);
  return (
    <button
      type="button"
      className="secondary small-button"
      disabled={!can}
      onClick={() => void exportTrainedModel()}
      data-testid="train-export-model"
      title={
        can
          ? 'The trained policy: a peft adapter (LoRA) or a Hugging Face model folder (full fine-tuning), zipped'
          : tabRun
            ? 'Pause, stop or finish the run to export its model'
            : 'Train a run in this tab first'
      }
    >
      {exporting ? 'Exporting…' : 'Export trained model'}
    </button>
  );
}

/** The runs section below the settings: `runs` are this tab's (or, view only, the example's or import's). */
export function TrainRuns({
  runs,
  viewOnly,
  active,
}: {
  runs: TrainRun[];
  viewOnly: boolean;
  active: boolean;
}) {
  const origin = useStore((s) => s.origin);
  const latest = runs[runs.length - 1]?.latest;
  return (
    <>
      {viewOnly && runs.length > 0 && (
        <p className="muted small" data-testid="train-view-only">
          {origin === 'example' ? 'The example run’s' : 'The imported run’s'} training runs (view only); your
          own runs show here once you start one.
        </p>
      )}
      {runs.length > 0 ? (
        <>
          <div className="train-runs">
            <span className="muted small" data-testid="train-run-count">
              {runs.length} run{runs.length === 1 ? '' : 's'} on the charts
            </span>
            {!viewOnly && runs.length > (active ? 1 : 0) && (
              <button type="button" className="link" onClick={clearFinishedRuns}>
                Clear finished runs
              </button>
            )}
            {!viewOnly && <ExportModelButton />}
          </div>
          <RunList runs={runs} />
          <TrainCharts runs={runs} />
          {latest && <Rollouts latest={latest.rollouts} G={latest.G} />}
        </>
      ) : (
        <p className="muted">
          {viewOnly
            ? 'No training runs in this run.'
            : 'No training runs yet. Start one to see its curves here.'}
        </p>
      )}
    </>
  );
}
