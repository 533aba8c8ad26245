// Decode panel: a prompt (typed, or an item drawn from a task), run as `discrete` and as a MoT-G preset
// side by side with the same seed. Knobs re-run it after a short pause; stale runs are cancelled.
import { useMemo } from 'react';
import { decodeModes, runDecode, stopDecode } from '../../store/actions/decode.ts';
import { setDecode, setPreset } from '../../store/actions/settings.ts';
import { drawItem } from '../../store/lib/items.ts';
import { MIX_PRESETS } from '../../store/settings.ts';
import { useStore } from '../../store/store.ts';
import type { DecodeResult, DecodeSettings, MixPreset, SideResult } from '../../store/types.ts';
import { TASK_NAMES, TASKS } from '../../tasks/registry.ts';
import { modeColor } from '../lib/palette.ts';
import { decodeDifferences } from '../lib/staleDecode.ts';
import { EntropyChart, EntropyHeatmap, heatmapCellWidth, hiddenRange } from '../widgets/charts.tsx';
import { CheckField, NumberField, Panel, SelectField } from '../widgets/fields.tsx';
import { MixtureChips } from '../widgets/MixtureChips.tsx';
import { GuideHere } from './GuidedPath.tsx';
import { DecodeLookFor } from './LookFor.tsx';

function PromptSource({ d }: { d: DecodeSettings }) {
  const drawn = useMemo(() => {
    try {
      return d.source === 'task' ? drawItem(d.task, d.level, d.itemSeed, d.index).item : null;
    } catch {
      return null;
    }
  }, [d.source, d.task, d.level, d.itemSeed, d.index]);
  return (
    <div className="prompt-source">
      <fieldset className="segmented">
        <legend>Prompt</legend>
        <label className={d.source === 'task' ? 'on' : ''}>
          <input
            type="radio"
            name="prompt-source"
            checked={d.source === 'task'}
            onChange={() => setDecode({ source: 'task' })}
          />
          Draw a task item
        </label>
        <label className={d.source === 'text' ? 'on' : ''}>
          <input
            type="radio"
            name="prompt-source"
            checked={d.source === 'text'}
            onChange={() => setDecode({ source: 'text' })}
          />
          Write a prompt
        </label>
      </fieldset>
      {d.source === 'task' ? (
        <>
          <div className="knobs">
            <SelectField
              label="Task"
              value={d.task}
              options={TASK_NAMES}
              onChange={(task) => setDecode({ task })}
              testId="decode-task"
            />
            <SelectField
              label="Level"
              value={d.level}
              options={TASKS[d.task]?.levels.map((l) => l.name) ?? [d.level]}
              onChange={(level) => setDecode({ level })}
            />
            <NumberField
              label="Item seed"
              value={d.itemSeed}
              min={0}
              step={1}
              onChange={(itemSeed) => setDecode({ itemSeed })}
            />
            <NumberField
              label="Item #"
              value={d.index}
              min={0}
              step={1}
              onChange={(index) => setDecode({ index })}
            />
            <div className="field">
              <span className="label-spacer" aria-hidden="true">
                &nbsp;
              </span>
              <button type="button" className="secondary" onClick={() => setDecode({ index: d.index + 1 })}>
                Draw next item
              </button>
            </div>
          </div>
          {drawn && (
            <blockquote className="question" data-testid="question">
              {drawn.question}
              <footer className="muted">
                oracle answer: {drawn.answer ?? '(scored by the task, no single answer)'}
              </footer>
            </blockquote>
          )}
        </>
      ) : (
        <div className="field">
          <label htmlFor="prompt-text">Prompt text</label>
          <textarea
            id="prompt-text"
            rows={3}
            value={d.text}
            onChange={(e) => setDecode({ text: e.target.value })}
          />
        </div>
      )}
      <CheckField
        label="Training prompt format (system prompt, chat turn, <think> prefill)"
        checked={d.wrap}
        onChange={(wrap) => setDecode({ wrap })}
      />
    </div>
  );
}

const PRESET_LABELS: Record<MixPreset, string> = {
  dirichlet: 'dirichlet (paper)',
  'different-tokens': 'different-tokens (paper)',
  'soft-thinking': 'soft-thinking',
  'mixture-of-inputs': 'mixture-of-inputs',
  'soft-tokens': 'soft-tokens',
};

function Knobs({ d, rollout }: { d: DecodeSettings; rollout: boolean }) {
  const p = d.preset;
  const usesK = p !== 'soft-tokens';
  return (
    <div className="knobs">
      <SelectField
        label="MoT-G preset"
        value={p}
        options={MIX_PRESETS.map((v) => ({ value: v, label: PRESET_LABELS[v] }))}
        onChange={(v) => setPreset(v)}
        testId="preset"
      />
      <SelectField
        label="Baseline"
        value={d.baseline}
        options={[
          { value: 'discrete-top-k', label: `discrete, top ${d.k} (matched: the preset's candidates)` },
          { value: 'discrete', label: 'discrete, whole vocabulary' },
        ]}
        onChange={(baseline) => setDecode({ baseline })}
        testId="baseline"
      />
      <NumberField
        label="Temperature"
        value={d.temperature}
        min={0}
        max={2}
        step={0.05}
        slider
        onChange={(temperature) => setDecode({ temperature })}
        testId="temperature"
      />
      {usesK && (
        <NumberField
          label="k (tokens mixed)"
          value={d.k}
          min={1}
          max={64}
          step={1}
          onChange={(k) => setDecode({ k })}
          disabled={!rollout}
        />
      )}
      {p === 'dirichlet' && (
        <NumberField
          label="Concentration c"
          value={d.concentration}
          min={0.01}
          max={100}
          step={0.1}
          onChange={(concentration) => setDecode({ concentration })}
          disabled={!rollout}
        />
      )}
      {p === 'soft-thinking' && (
        <>
          <NumberField
            label="top-p"
            value={d.topP}
            min={0.01}
            max={1}
            step={0.01}
            onChange={(topP) => setDecode({ topP })}
            disabled={!rollout}
          />
          <NumberField
            label="min-p"
            value={d.minP}
            min={0}
            max={0.99}
            step={0.001}
            onChange={(minP) => setDecode({ minP })}
            disabled={!rollout}
          />
          <CheckField
            label="Cold Stop (a run of near-zero-entropy steps ends the thinking)"
            checked={d.coldStop}
            onChange={(coldStop) => setDecode({ coldStop })}
            disabled={!rollout}
          />
        </>
      )}
      {p === 'mixture-of-inputs' && (
        <NumberField
          label="β"
          value={d.moiBeta}
          min={0}
          max={100}
          step={0.1}
          onChange={(moiBeta) => setDecode({ moiBeta })}
          disabled={!rollout}
        />
      )}
      {p === 'soft-tokens' && (
        <NumberField
          label="Noise σ (× embedding RMS)"
          value={d.noiseSigma}
          min={0}
          max={10}
          step={0.01}
          onChange={(noiseSigma) => setDecode({ noiseSigma })}
          disabled={!rollout}
        />
      )}
      <NumberField
        label="New tokens"
        value={d.maxNewTokens}
        min={1}
        max={2048}
        step={1}
        onChange={(maxNewTokens) => setDecode({ maxNewTokens })}
      />
      <NumberField label="Seed" value={d.seed} min={0} step={1} onChange={(seed) => setDecode({ seed })} />
    </div>
  );
}

function Verdict({ side }: { side: SideResult }) {
  return (
    <dl className="verdict" data-testid="generate-done">
      <dt>answer</dt>
      <dd data-testid="answer">{side.answer ?? '—'}</dd>
      {side.score !== null && (
        <>
          <dt>score</dt>
          <dd data-testid="score">{side.score.toFixed(2)}</dd>
          <dt>reward</dt>
          <dd data-testid="reward">{side.reward?.toFixed(3)}</dd>
        </>
      )}
      <dt>run</dt>
      <dd>
        {side.steps.length} tokens · stopped by {side.stopReason}
        {side.interrupted ? ' (interrupted)' : ''} · {side.tokensPerSecond.toFixed(1)} tokens/s
      </dd>
    </dl>
  );
}

function SideColumn({ side, index, running }: { side: SideResult | null; index: number; running: boolean }) {
  const mode = side?.mode ?? '';
  return (
    <div className="side" data-testid={`side-${index === 0 ? 'discrete' : 'mixture'}`}>
      <h3>
        <span className="swatch" style={{ background: modeColor(mode) }} aria-hidden="true" />
        {mode}
        {side && side.via === 'generate' && <span className="badge">generate</span>}
      </h3>
      {side ? (
        <>
          <p className="params muted">
            {Object.entries(side.params)
              .filter(([k]) => k !== 'mode')
              .map(([k, v]) => `${k} ${v}`)
              .join(' · ')}
          </p>
          <MixtureChips steps={side.steps} mixingOffAt={side.mixingOffAt} label={`${mode} transcript`} />
          {side.stopReason !== 'running' ? <Verdict side={side} /> : <p className="muted">decoding…</p>}
        </>
      ) : (
        <p className="muted">{running ? 'waiting…' : '—'}</p>
      )}
    </div>
  );
}

function Results({
  result,
  running,
  rollout,
  preset,
}: {
  result: DecodeResult;
  running: boolean;
  rollout: boolean;
  preset: MixPreset;
}) {
  const [a, b] = result.sides;
  const showB = b ?? null;
  const done = result.sides.filter((s) => s.stopReason !== 'running');
  const range = hiddenRange(done);
  const cellWidth = heatmapCellWidth(done);
  return (
    <div className="results">
      <p className="muted small" data-testid="results-item">
        {result.promptTokens} prompt tokens
        {result.item
          ? ` · ${result.item.task} (${result.item.level}) item ${result.item.index}, seed ${result.item.seed}`
          : ''}
      </p>
      <div className="sides">
        <SideColumn side={a ?? null} index={0} running={running} />
        {rollout || showB ? (
          <SideColumn side={showB} index={1} running={running} />
        ) : (
          <div className="side placeholder" data-testid="side-mixture">
            <h3>
              <span className="swatch" style={{ background: modeColor(preset) }} aria-hidden="true" />
              {preset}
            </h3>
            <p className="muted">
              Mixture decoding needs the engine's rollout (Engine.rollout), which this build does not have
              yet. The discrete side runs through generate.
            </p>
          </div>
        )}
      </div>
      {done.length > 0 && <EntropyChart sides={done} />}
      <div className="heatmaps">
        {done.map((s) => (
          <EntropyHeatmap
            key={s.mode}
            side={s}
            title={`Hidden-state entropy, ${s.mode} (layers × steps; one colour scale for both sides)`}
            range={range}
            cellWidth={cellWidth}
          />
        ))}
      </div>
      {done.length > 0 && done.every((s) => s.steps.every((st) => !st.hidden)) && (
        <p className="hint">
          Hidden-state entropy per layer comes with the engine's rollout records; generate does not report it.
        </p>
      )}
    </div>
  );
}

/** Results on screen made with other settings (a link, the example, an import): say so, one click to run. */
function StaleNotice({ result, d, ready }: { result: DecodeResult; d: DecodeSettings; ready: boolean }) {
  const rollout = useStore((s) => s.rollout);
  // biome-ignore lint/correctness/useExhaustiveDependencies: decodeModes reads the rollout flag
  const differs = useMemo(() => decodeDifferences(result, d, decodeModes()), [result, d, rollout]);
  if (differs.length === 0) return null;
  return (
    <p className="notice-inline warn" role="status" data-testid="decode-stale">
      These results were made with other settings ({differs.join(', ')}{' '}
      {differs.length === 1 ? 'differs' : 'differ'} from the knobs above).{' '}
      <button type="button" disabled={!ready} onClick={() => void runDecode()} data-testid="decode-run-shown">
        Run these settings
      </button>
      {!ready && <span className="muted"> (once a model is loaded)</span>}
    </p>
  );
}

export function DecodePanel() {
  const d = useStore((s) => s.settings.decode);
  const status = useStore((s) => s.status);
  const running = useStore((s) => s.decodeRunning);
  const rollout = useStore((s) => s.rollout);
  const streaming = useStore((s) => s.streaming);
  const shown = useStore((s) => s.shown?.decode ?? null);
  const result = streaming ?? shown;
  const ready = status === 'ready';
  const origin = useStore((s) => s.origin);
  // The tab's own run re-runs on every knob change by itself; other results can stay stale.
  const checkStale = !running && !streaming && result && !(ready && origin === 'live');
  return (
    <Panel
      id="decode"
      title="Decode: discrete vs MoT-G"
      actions={
        <>
          {/* Refused while a decode runs (a knob change re-runs it): disabled, and it says why. */}
          {running && (
            <span className="action-note" id="decode-run-why" data-testid="decode-run-why">
              decoding… (Stop ends it)
            </span>
          )}
          <button
            type="button"
            disabled={!ready || running}
            onClick={() => void runDecode()}
            data-testid="generate"
            aria-describedby={running ? 'decode-run-why' : undefined}
          >
            Run
          </button>
          <button type="button" className="secondary" disabled={!running} onClick={() => void stopDecode()}>
            Stop
          </button>
        </>
      }
    >
      <GuideHere panel="decode" />
      <PromptSource d={d} />
      <Knobs d={d} rollout={rollout} />
      <DecodeLookFor />
      {!ready && <p className="hint">Knobs re-run the decode as soon as a model is loaded.</p>}
      {checkStale && <StaleNotice result={result} d={d} ready={ready} />}
      {result ? (
        <Results result={result} running={running} rollout={rollout} preset={d.preset} />
      ) : (
        <p className="muted">No decode yet: press Run.</p>
      )}
    </Panel>
  );
}
