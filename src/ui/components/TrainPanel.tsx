// Train panel: a GRPO run on the loaded model (settings with tiny defaults, start / pause / single step /
// stop), live charts of every step's metrics with earlier runs overlaid, the latest step's rollouts, and
// the trained model to take away. An imported or example run shows its own training runs (view only).
// The settings form is TrainSettings.tsx, the runs section TrainRuns.tsx.

import { useEffect, useState } from 'react';
import { restartEngine } from '../../store/actions/engine.ts';
import {
  applyGpuCompatibleSetting,
  dismissTrainError,
  pauseTraining,
  resumeTraining,
  startTraining,
  stepTraining,
  stopTraining,
} from '../../store/actions/train.ts';
import { type TrainRun, useStore } from '../../store/store.ts';
import { Panel, ProgressBar } from '../widgets/fields.tsx';
import { GuideHere } from './GuidedPath.tsx';
import { TrainLookFor } from './LookFor.tsx';
import { TrainRuns } from './TrainRuns.tsx';
import { TaskMix, TrainKnobs } from './TrainSettings.tsx';

const NO_RUNS: TrainRun[] = [];

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

/** Start / Pause or Resume / Step / Stop of the panel's header. */
function TrainControls({
  ready,
  active,
  busy,
  run,
}: {
  ready: boolean;
  active: boolean;
  busy: boolean;
  run: TrainRun | null;
}) {
  const running = run?.status === 'running';
  const paused = run?.status === 'paused' || run?.status === 'idle';
  // A pause takes effect after the step in flight: say so until the run reports it paused.
  const [pausing, setPausing] = useState(false);
  useEffect(() => {
    if (!running || !busy) setPausing(false);
  }, [running, busy]);
  return (
    <>
      {/* Refused while a run is in progress: disabled, with the reason beside it. */}
      {active && (
        <span className="action-note" id="train-start-why" data-testid="train-start-why">
          a run is in progress: stop it to start another
        </span>
      )}
      <button
        type="button"
        disabled={!ready || active}
        onClick={() => void startTraining()}
        data-testid="train-start"
        aria-describedby={active ? 'train-start-why' : undefined}
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
          disabled={!running || busy || pausing}
          onClick={() => {
            setPausing(true);
            void pauseTraining();
          }}
          data-testid="train-pause"
          aria-busy={pausing}
        >
          {pausing ? 'Pausing after this step…' : 'Pause'}
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
  );
}

export function TrainPanel() {
  const likelihood = useStore((s) => s.settings.train.likelihood);
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
  const ready = status === 'ready' && !!model;
  const gpuIncompatible = backend === 'webgpu' && likelihood !== 'paper-one';
  return (
    <Panel
      id="train"
      title="Train (GRPO)"
      actions={<TrainControls ready={ready} active={active} busy={busy} run={run} />}
    >
      <p className="hint">
        GRPO on the loaded model: G completions per prompt, rewards scored by the task, advantages within each
        group. Each run keeps its curves, so runs with different presets overlay.
      </p>
      <GuideHere panel="train" />
      <TaskMix />
      <TrainKnobs />
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
      <TrainLookFor />
      <TrainRuns runs={runs} viewOnly={viewOnly} active={active} />
    </Panel>
  );
}
