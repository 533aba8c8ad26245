// Train panel: a GRPO run on the loaded model (settings with tiny defaults, start / pause / single step /
// stop), live charts of every step's metrics with earlier runs overlaid, the latest step's rollouts, and
// the trained model to take away. An imported or example run shows its own training runs (view only).
import { restartEngine } from '../../store/actions/engine.ts';
import {
  applyGpuCompatibleSetting,
  clearFinishedRuns,
  dismissTrainError,
  exportableRun,
  exportTrainedModel,
  pauseTraining,
  resumeTraining,
  setTrainForm,
  startTraining,
  stepTraining,
  stopTraining,
} from '../../store/actions/train.ts';
import { TRAIN_PRESETS } from '../../store/settings.ts';
import { type TrainRun, useStore } from '../../store/store.ts';
import { LIKELIHOOD_CHOICES, type TrainForm } from '../../store/trainForm.ts';
import type { RolloutRecord } from '../../store/types.ts';
import { getTask, TASK_NAMES } from '../../tasks/registry.ts';
import { NumberField, Panel, ProgressBar, SelectField } from '../widgets/fields.tsx';
import { TrainCharts } from '../widgets/trainCharts.tsx';

const PRESETS = [...TRAIN_PRESETS] as TrainForm['preset'][];
const NO_RUNS: TrainRun[] = [];

function levelsOf(task: string): string[] {
  try {
    return getTask(task).levels.map((l) => l.name);
  } catch {
    return ['default'];
  }
}

function TaskMix() {
  const tasks = useStore((s) => s.settings.train.tasks);
  const set = (i: number, patch: Partial<TrainForm['tasks'][number]>) =>
    setTrainForm({ tasks: tasks.map((t, j) => (j === i ? { ...t, ...patch } : t)) });
  const unused = TASK_NAMES.filter((t) => !tasks.some((x) => x.task === t));
  return (
    <fieldset className="task-mix">
      <legend>Task mix</legend>
      {tasks.map((t, i) => (
        <div className="task-mix-row" key={t.task}>
          <SelectField
            label={`Task ${i + 1}`}
            value={t.task}
            options={[t.task, ...unused]}
            onChange={(task) => {
              const levels = levelsOf(task);
              set(i, { task, level: levels.includes(t.level) ? t.level : levels[0] });
            }}
          />
          <SelectField
            label={`Level ${i + 1}`}
            value={t.level}
            options={levelsOf(t.task)}
            onChange={(level) => set(i, { level })}
          />
          <NumberField
            label={`Weight ${i + 1}`}
            value={t.weight}
            min={0.01}
            max={100}
            step={0.5}
            onChange={(weight) => set(i, { weight })}
          />
          {tasks.length > 1 && (
            <button
              type="button"
              className="link"
              aria-label={`Remove ${t.task} from the mix`}
              onClick={() => setTrainForm({ tasks: tasks.filter((_, j) => j !== i) })}
            >
              Remove
            </button>
          )}
        </div>
      ))}
      {unused.length > 0 && (
        <button
          type="button"
          className="secondary small-button"
          onClick={() =>
            setTrainForm({
              tasks: [...tasks, { task: unused[0], level: levelsOf(unused[0])[0], weight: 1 }],
            })
          }
        >
          Add a task
        </button>
      )}
    </fieldset>
  );
}

function TrainError() {
  const err = useStore((s) => s.trainError);
  const notice = useStore((s) => s.trainNotice);
  const backend = useStore((s) => s.adapter?.backend);
  if (!err && !notice) return null;
  if (!err)
    return (
      <p className="notice-inline warn" role="status" data-testid="train-refused">
        {notice}{' '}
        <button type="button" className="link" onClick={dismissTrainError}>
          OK
        </button>
      </p>
    );
  const gpu = err.code === 'unsupported-on-gpu';
  return (
    <div className="notice bad" role="alert" data-testid="train-error">
      {gpu ? (
        <>
          <strong>These settings cannot train on the GPU yet.</strong> The WebGPU trainer scores paper-mode
          log-probs of the chosen token at temperature 1 only ({err.message}). Pick the compatible likelihood,
          or train these settings on the CPU path (slower; the model reloads).{' '}
          <button type="button" onClick={applyGpuCompatibleSetting} data-testid="train-use-compatible">
            Use “paper, T = 1”
          </button>{' '}
          {backend === 'webgpu' && (
            <button type="button" className="secondary" onClick={() => void restartEngine({ cpu: true })}>
              Switch to the CPU
            </button>
          )}
        </>
      ) : (
        <>
          <strong>{err.during === 'export' ? 'Export failed:' : 'Training stopped:'}</strong> {err.message}
          {err.code ? <span className="muted"> [{err.code}]</span> : null}
        </>
      )}{' '}
      <button
        type="button"
        className="link"
        onClick={dismissTrainError}
        aria-label="Dismiss the training message"
      >
        Dismiss
      </button>
    </div>
  );
}

function Rollouts({ latest, G }: { latest: RolloutRecord[]; G: number }) {
  if (latest.length === 0) return null;
  return (
    <details className="rollouts" open>
      <summary>Latest step’s rollouts ({latest.length})</summary>
      <div className="table-scroll">
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
      </div>
    </details>
  );
}

const fixed = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');

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

export function TrainPanel() {
  const f = useStore((s) => s.settings.train);
  const status = useStore((s) => s.status);
  const model = useStore((s) => s.model);
  const active = useStore((s) => s.trainActive);
  const busy = useStore((s) => s.trainBusy);
  const liveRuns = useStore((s) => s.trainRuns);
  const origin = useStore((s) => s.origin);
  const shownRuns = useStore((s) => s.shown?.train ?? NO_RUNS);
  const backend = useStore((s) => s.adapter?.backend);
  // The live run (or the restored one) shows this tab's runs; an example or imported run its own.
  const viewOnly = origin === 'example' || origin === 'imported';
  const runs = viewOnly ? shownRuns : liveRuns;
  const run = active ? liveRuns[liveRuns.length - 1] : null;
  const latest = runs[runs.length - 1]?.latest;
  const ready = status === 'ready' && !!model;
  const running = run?.status === 'running';
  const paused = run?.status === 'paused' || run?.status === 'idle';
  const adapter = model?.adapter ?? null;
  const gpuIncompatible = backend === 'webgpu' && f.likelihood !== 'paper-one';
  return (
    <Panel
      id="train"
      title="Train (GRPO)"
      actions={
        <>
          <button
            type="button"
            disabled={!ready}
            onClick={() => void startTraining()}
            data-testid="train-start"
            title={active ? 'A run is in progress: stop it first' : undefined}
          >
            Start
          </button>
          {paused ? (
            <button
              type="button"
              className="secondary"
              disabled={!run || busy}
              onClick={() => void resumeTraining()}
              data-testid="train-resume"
            >
              Resume
            </button>
          ) : (
            <button
              type="button"
              className="secondary"
              disabled={!running || busy}
              onClick={() => void pauseTraining()}
              data-testid="train-pause"
            >
              Pause
            </button>
          )}
          <button
            type="button"
            className="secondary"
            disabled={!paused || busy}
            onClick={() => void stepTraining()}
            data-testid="train-step"
            title="Run one step while paused"
          >
            Step
          </button>
          <button
            type="button"
            className="secondary"
            disabled={!run}
            onClick={() => void stopTraining()}
            data-testid="train-stop"
          >
            Stop
          </button>
        </>
      }
    >
      <p className="hint">
        GRPO on the loaded model: G completions per prompt, rewards scored by the task, advantages within each
        group. Each run keeps its curves, so runs with different presets overlay.
      </p>
      <TaskMix />
      <div className="knobs">
        <SelectField
          label="Preset"
          value={f.preset}
          options={PRESETS}
          onChange={(preset) => setTrainForm({ preset })}
          testId="train-preset"
        />
        <SelectField
          label="Likelihood"
          value={f.likelihood}
          options={LIKELIHOOD_CHOICES}
          onChange={(likelihood) => setTrainForm({ likelihood })}
        />
        <NumberField
          label="G (completions per prompt)"
          value={f.G}
          min={2}
          max={64}
          step={1}
          onChange={(G) => setTrainForm({ G })}
        />
        <NumberField
          label="Prompts per step"
          value={f.prompts}
          min={1}
          max={32}
          step={1}
          onChange={(prompts) => setTrainForm({ prompts })}
        />
        <NumberField
          label="Completion tokens"
          value={f.maxCompletion}
          min={1}
          max={2048}
          step={1}
          onChange={(maxCompletion) => setTrainForm({ maxCompletion })}
        />
        <NumberField
          label="Train temperature"
          value={f.temperature}
          min={0}
          max={2}
          step={0.05}
          onChange={(temperature) => setTrainForm({ temperature })}
        />
        <NumberField
          label="Learning rate"
          value={f.learningRate}
          min={1e-9}
          max={1}
          step={1e-6}
          onChange={(learningRate) => setTrainForm({ learningRate })}
        />
        <SelectField
          label="Optimizer"
          value={f.optim}
          options={[
            { value: 'adamw', label: 'AdamW' },
            { value: 'sgd', label: 'SGD (the paper)' },
          ]}
          onChange={(optim) => setTrainForm({ optim })}
        />
        <NumberField
          label="Beta (KL)"
          value={f.beta}
          min={0}
          max={10}
          step={0.01}
          onChange={(beta) => setTrainForm({ beta })}
        />
        <NumberField
          label="Epsilon (clip)"
          value={f.epsilon}
          min={0}
          max={0.99}
          step={0.01}
          onChange={(epsilon) => setTrainForm({ epsilon })}
        />
        <NumberField
          label="Steps"
          value={f.steps}
          min={1}
          max={100000}
          step={1}
          onChange={(steps) => setTrainForm({ steps })}
        />
        <NumberField
          label="Train seed"
          value={f.seed}
          min={0}
          step={1}
          onChange={(seed) => setTrainForm({ seed })}
        />
        <SelectField
          label="Parameters"
          value={f.mode}
          options={[
            { value: 'full', label: 'full fine-tuning' },
            { value: 'lora', label: 'LoRA (new adapter)' },
          ]}
          onChange={(mode) => setTrainForm({ mode })}
        />
        {f.mode === 'lora' && (
          <NumberField
            label="LoRA rank"
            value={f.loraRank}
            min={1}
            max={1024}
            step={1}
            onChange={(loraRank) => setTrainForm({ loraRank })}
            hint={adapter ? `a fresh adapter; the loaded one (rank ${adapter.r}) is not trained` : undefined}
          />
        )}
      </div>
      {gpuIncompatible && (
        <p className="hint warn" data-testid="train-gpu-hint">
          On WebGPU only the paper likelihood at T = 1 trains; this choice needs the CPU path.
        </p>
      )}
      {active && (
        <p className="notice-inline" role="status" data-testid="train-active">
          A run is in progress ({run?.status}): Start is refused until you stop it.
        </p>
      )}
      <TrainError />
      {run && (
        <ProgressBar
          label={`Training ${run.label}`}
          value={run.history.length}
          max={run.maxSteps}
          detail={`step ${run.history.length} / ${run.maxSteps} · ${run.status}`}
        />
      )}
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
    </Panel>
  );
}
