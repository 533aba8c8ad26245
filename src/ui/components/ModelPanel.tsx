// Model panel: which model (built-in, a Hub id, a local folder), the compute adapter and its limits, the
// model's size, and the memory the chosen settings need, checked before anything is allocated.
import { useEffect, useMemo, useRef, useState } from 'react';
import { BUILTIN_MODEL_ID } from '../../client/engineClient.ts';
import { filesFromDrop } from '../../client/folder.ts';
import type { WeightDtypeSetting } from '../../engine/gpu/streamLoad.ts';
import { loadFolder, loadModelChoice, restartEngine } from '../../store/actions/engine.ts';
import { setMemory } from '../../store/actions/settings.ts';
import { useHub } from '../../store/hubState.ts';
import { fitReport, formatBytes } from '../../store/lib/memoryFit.ts';
import { useStore } from '../../store/store.ts';
import { CheckField, NumberField, Panel, ProgressBar, SelectField } from '../widgets/fields.tsx';
import { HubSource } from './HubSource.tsx';

type Source = 'builtin' | 'hub' | 'folder';

export function adapterText(a: ReturnType<typeof useStore.getState>['adapter'], forceCpu = false): string {
  if (!a) return '—';
  if (a.backend === 'cpu') return forceCpu ? 'CPU — slower (you chose the CPU)' : 'CPU — slower (no WebGPU)';
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unknown adapter';
  return `WebGPU · ${name}${a.isFallbackAdapter ? ' · software fallback adapter (correct but slow)' : ''}`;
}

function ModelSource() {
  const choice = useStore((s) => s.settings.model);
  const status = useStore((s) => s.status);
  const [source, setSource] = useState<Source>(choice.kind);
  const [dragOver, setDragOver] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  const busy = status === 'loading' || status === 'starting' || status === 'idle';
  // A failed Hub load (a link's, at start) is told beside the Hub control: show that control.
  const hubFailure = useHub((s) => s.failure !== null);
  useEffect(() => {
    if (hubFailure) setSource('hub');
  }, [hubFailure]);
  return (
    <div className="model-source">
      <fieldset className="segmented">
        <legend>Model source</legend>
        {(
          [
            ['builtin', 'Built-in'],
            ['hub', 'Hugging Face'],
            ['folder', 'Local folder'],
          ] as const
        ).map(([v, text]) => (
          <label key={v} className={source === v ? 'on' : ''}>
            <input
              type="radio"
              name="model-source"
              value={v}
              checked={source === v}
              onChange={() => setSource(v)}
            />
            {text}
          </label>
        ))}
      </fieldset>
      {source === 'builtin' && (
        <div className="row">
          <span className="muted">
            {BUILTIN_MODEL_ID}, served with this page: no download, works offline.
          </span>
          <button type="button" disabled={busy} onClick={() => void loadModelChoice({ kind: 'builtin' })}>
            Load built-in
          </button>
        </div>
      )}
      {source === 'hub' && <HubSource busy={busy} />}
      {source === 'folder' && (
        // biome-ignore lint/a11y/noStaticElementInteractions: a drop target; the keyboard path is the folder picker inside it
        <div
          className={`dropzone${dragOver ? ' over' : ''}`}
          data-testid="dropzone"
          onDragOver={(e) => {
            e.preventDefault();
            setDragOver(true);
          }}
          onDragLeave={() => setDragOver(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragOver(false);
            void filesFromDrop(e.dataTransfer).then((files) => loadFolder(files));
          }}
        >
          <p>
            Drop a model folder here (Hugging Face layout: config.json, model.safetensors, tokenizer.json), or
          </p>
          <label className="button-like" htmlFor="folder-input">
            Choose folder…
          </label>
          <input
            ref={fileInput}
            id="folder-input"
            className="visually-hidden"
            type="file"
            multiple
            disabled={busy}
            // @ts-expect-error: webkitdirectory is not in React's input attributes
            webkitdirectory=""
            onChange={(e) => {
              const files = Array.from(e.target.files ?? []);
              if (files.length > 0) void loadFolder(files);
              if (fileInput.current) fileInput.current.value = '';
            }}
          />
        </div>
      )}
    </div>
  );
}

function Progress() {
  const progress = useStore((s) => s.progress);
  const status = useStore((s) => s.status);
  const label = useStore((s) => s.loadingLabel);
  const loading = status === 'loading';
  if (!loading && progress.length === 0) return null;
  const bytes = progress.reduce((a, p) => a + p.loaded, 0);
  const cached = progress.filter((p) => p.cached).length;
  return (
    <div className="progress-list" data-testid="load-progress" aria-live="polite">
      <p className="muted">
        {loading
          ? `Loading ${label ?? 'model'}…`
          : `${label}: ${progress.length} files, ${formatBytes(bytes)}${cached ? `, ${cached} from the browser cache` : ''}.`}
      </p>
      {progress.map((p) => (
        <ProgressBar
          key={p.name}
          label={p.name}
          value={p.loaded}
          max={p.total}
          detail={
            p.cached
              ? 'from browser cache'
              : `${formatBytes(p.loaded)}${p.total ? ` of ${formatBytes(p.total)}` : ''}`
          }
        />
      ))}
    </div>
  );
}

const WEIGHT_DTYPE_OPTIONS: { value: WeightDtypeSetting; label: string }[] = [
  { value: 'auto', label: 'auto (as the checkpoint)' },
  { value: 'bf16', label: 'bf16' },
  { value: 'f16', label: 'f16' },
  { value: 'f32', label: 'f32 (needed for full fine-tuning)' },
];

/** The loaded model's weights as they are where it runs: dtype and bytes (the checkpoint's dtype beside). */
function LoadedWeightsRow() {
  const model = useStore((s) => s.model);
  if (!model) return null;
  const file = model.checkpointDtypes.length > 0 ? ` (checkpoint ${model.checkpointDtypes.join(', ')})` : '';
  return (
    <tr>
      <th scope="row">Loaded weights{file}</th>
      <td data-testid="memory-loaded-weights">
        {model.weightDtype} · {formatBytes(model.weightBytes)}
      </td>
    </tr>
  );
}

/** Which weights the engine holds now: the model as loaded, or those a run of this tab trained. */
function LoadedWeights() {
  const trainedBy = useStore((s) => {
    const tab = s.trainTabRun;
    const run = tab && tab.load === s.loads ? s.trainRuns.find((r) => r.id === tab.id) : undefined;
    return run && run.history.length > 0 ? `${run.label} (${run.history.length} steps)` : null;
  });
  const continues = useStore((s) => s.settings.train.continueRun);
  return (
    <>
      <dt>Weights</dt>
      <dd data-testid="model-weights" data-trained={trainedBy !== null}>
        {trainedBy
          ? `trained by run ${trainedBy} in this tab; decoding and evaluation use them, a new run starts from ${continues ? 'them' : 'the weights as loaded'}`
          : 'as loaded'}
      </dd>
    </>
  );
}

function MemoryView() {
  const config = useStore((s) => s.config);
  const configDtype = useStore((s) => s.configDtype);
  const adapter = useStore((s) => s.adapter);
  const mem = useStore((s) => s.settings.memory);
  const fit = useMemo(
    () => (config ? fitReport(config, adapter, mem, undefined, configDtype) : null),
    [config, adapter, mem, configDtype],
  );
  return (
    <details className="memory" open>
      <summary>Memory for these settings</summary>
      <div className="knobs">
        <NumberField
          label="Group size G"
          value={mem.group}
          min={1}
          max={256}
          step={1}
          onChange={(v) => setMemory({ group: v })}
          hint="sequences decoded (and trained) together"
        />
        <NumberField
          label="Tokens per sequence N"
          value={mem.tokens}
          min={8}
          max={131072}
          step={8}
          onChange={(v) => setMemory({ tokens: v })}
        />
        <NumberField
          label="LoRA rank (0 = full)"
          value={mem.loraRank}
          min={0}
          max={1024}
          step={1}
          onChange={(v) => setMemory({ loraRank: v })}
        />
        <CheckField
          label="Recompute activations"
          checked={mem.recompute}
          onChange={(v) => setMemory({ recompute: v })}
        />
        <SelectField
          label="Weights on the GPU (next load)"
          value={mem.weightDtype}
          options={WEIGHT_DTYPE_OPTIONS}
          testId="weight-dtype"
          onChange={(v) => setMemory({ weightDtype: v })}
        />
      </div>
      {!fit ? (
        <p className="muted">Known once a model's config.json is read.</p>
      ) : (
        <>
          <table className="mem-table" data-testid="memory-table">
            <tbody>
              <LoadedWeightsRow />
              <tr>
                <th scope="row">Weights ({fit.weightDtype})</th>
                <td data-testid="memory-weights">{formatBytes(fit.inference.weights)}</td>
              </tr>
              <tr>
                <th scope="row">
                  KV cache ({mem.group} × {mem.tokens})
                </th>
                <td>{formatBytes(fit.inference.kvCache)}</td>
              </tr>
              <tr>
                <th scope="row">Prefill logits</th>
                <td>{formatBytes(fit.inference.logits)}</td>
              </tr>
              <tr className="total">
                <th scope="row">Decoding needs</th>
                <td data-testid="memory-decode">{formatBytes(fit.inference.total)}</td>
              </tr>
              <tr className="total">
                <th scope="row">
                  GRPO training needs ({mem.loraRank > 0 ? `LoRA r=${mem.loraRank}` : 'full'})
                </th>
                <td data-testid="memory-train">{formatBytes(fit.training.plan.total)}</td>
              </tr>
              <tr>
                <th scope="row">Largest decoding buffer / limit</th>
                <td title={fit.inference.largest.name}>
                  {formatBytes(fit.inference.largest.bytes)} / {formatBytes(fit.bufferLimit)}
                </td>
              </tr>
            </tbody>
          </table>
          {fit.fits ? (
            <p className={fit.trainingFits ? 'ok' : 'warn'} data-testid="fit-status">
              {fit.trainingFits
                ? '✓ Fits this adapter.'
                : `✓ Decoding fits. ⚠ Training would not: ${fit.trainingProblems.join(' ')}`}
            </p>
          ) : (
            <p className="bad" role="alert" data-testid="fit-status">
              ✗ Won't fit: {fit.problems.join(' ')}
            </p>
          )}
          {adapter?.backend === 'webgpu' && (
            <p className="hint">
              WebGPU reports per-buffer limits, not total GPU memory; a model that allocates past it stops
              with a clear error.
            </p>
          )}
        </>
      )}
    </details>
  );
}

export function ModelPanel() {
  const adapter = useStore((s) => s.adapter);
  const model = useStore((s) => s.model);
  const status = useStore((s) => s.status);
  const forceCpu = useStore((s) => s.forceCpu);
  const loads = useStore((s) => s.loads);
  const modelName = useStore((s) => s.modelName);
  return (
    <Panel id="model" title="Model">
      <dl className="facts">
        <dt>Compute</dt>
        <dd>
          <span data-testid="adapter">
            {adapter ? adapterText(adapter, forceCpu) : status === 'starting' ? 'starting…' : '—'}
          </span>
          {adapter && (adapter.backend === 'webgpu' || forceCpu) && (
            <button
              type="button"
              className="link small"
              onClick={() => void restartEngine({ cpu: !forceCpu })}
            >
              {forceCpu ? 'try WebGPU again' : 'use the CPU instead'}
            </button>
          )}
        </dd>
        {adapter && adapter.backend === 'webgpu' && (
          <>
            <dt>Limits</dt>
            <dd data-testid="adapter-limits">
              max buffer {formatBytes(adapter.maxBufferSize)} · max storage binding{' '}
              {formatBytes(adapter.maxStorageBufferBindingSize)}
              {adapter.features.includes('shader-f16') ? ' · f16' : ''}
            </dd>
          </>
        )}
        <dt>Model</dt>
        <dd data-testid="model" data-loads={loads}>
          {model
            ? `${modelName ?? model.label} · ${(model.numParameters / 1e6).toFixed(2)} M parameters · ${formatBytes(model.weightBytes)} ${model.weightDtype} · ${model.config.numHiddenLayers} layers · hidden ${model.config.hiddenSize} · vocab ${model.config.vocabSize}`
            : status === 'loading' || status === 'starting'
              ? 'loading…'
              : '—'}
        </dd>
        {model && <LoadedWeights />}
      </dl>
      <ModelSource />
      <Progress />
      <MemoryView />
    </Panel>
  );
}
