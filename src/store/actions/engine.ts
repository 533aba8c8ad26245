// Engine and model actions: start the worker, check that a model fits BEFORE loading it, load it from
// the built-in folder, the Hub or a local folder, and recover from a lost GPU device.

import {
  BUILTIN_MODEL_ID,
  BUILTIN_MODEL_URL,
  engineClient,
  resetEngineClient,
} from '../../client/engineClient.ts';
import { folderName, readConfig, withPaths } from '../../client/folder.ts';
import { downloadHubModel, type FileProgress, type HubPlan, planHubModel } from '../../client/hub.ts';
import { parseQwen2Config, type Qwen2Config } from '../../engine/config.ts';
import type { LoadOptions, ModelInfo } from '../../worker/api.ts';
import { clearHubFailure, hubFailed } from '../hubState.ts';
import { syncHash } from '../lib/hash.ts';
import { runJob } from '../lib/jobs.ts';
import { fitReport } from '../lib/memoryFit.ts';
import { resetTokenTexts } from '../lib/tokenTexts.ts';
import { clearError, engineFailed, useStore } from '../store.ts';
import type { ModelChoice } from '../types.ts';

/** Raised (and shown) when the chosen settings do not fit the adapter: nothing was allocated. */
export class WontFitError extends Error {
  readonly code = 'wont-fit';
  constructor(label: string, problems: string[]) {
    super(
      `${label} was not loaded: ${problems.join(' ')} Lower the group size or tokens in Memory, or pick a smaller model.`,
    );
    this.name = 'WontFitError';
  }
}

export function deviceMemory(): number | undefined {
  return (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
}

export async function startEngine(): Promise<void> {
  const s = useStore.getState();
  if (s.status !== 'idle') return;
  useStore.setState({ status: 'starting' });
  clearError('engine');
  try {
    const adapter = await engineClient().init({ backend: s.forceCpu ? 'cpu' : 'auto' });
    useStore.setState({ adapter, status: 'loading' });
  } catch (e) {
    useStore.setState({ status: 'error' });
    engineFailed('engine', e);
    return;
  }
  const choice = useStore.getState().settings.model;
  // A folder cannot come back from a link or a reload: the browser must be asked for it again.
  await loadModelChoice(choice.kind === 'folder' ? { kind: 'builtin' } : choice);
}

/** The fit check, then the load; keeps the current model when either fails. */
async function checkedLoad(
  name: string,
  label: string,
  choice: ModelChoice,
  config: unknown,
  load: (opts: LoadOptions) => Promise<ModelInfo>,
): Promise<void> {
  let cfg: Qwen2Config;
  try {
    cfg = parseQwen2Config(config);
  } catch (e) {
    throw e instanceof Error ? e : new Error(String(e));
  }
  const { adapter, settings } = useStore.getState();
  const torchDtype = (config as { torch_dtype?: unknown }).torch_dtype;
  const fit = fitReport(cfg, adapter, settings.memory, deviceMemory(), torchDtype);
  useStore.setState({ config: cfg, configDtype: typeof torchDtype === 'string' ? torchDtype : null });
  if (!fit.fits) throw new WontFitError(label, fit.problems);
  // The worker reads the weights' own headers: `auto` there follows the checkpoint, not torch_dtype.
  const model = await load({ weightDtype: settings.memory.weightDtype });
  resetTokenTexts();
  useStore.setState((s) => ({
    model,
    modelName: name,
    config: model.config,
    loads: s.loads + 1,
    settings: { ...s.settings, model: choice },
  }));
  syncHash();
}

/**
 * Loads a model. Built-in and Hub choices fetch their own files (a Hub choice may come with the plan its
 * size check made); a folder needs `files`. The model in use stays loaded until the new one has loaded.
 */
export async function loadModelChoice(choice: ModelChoice, files?: File[], hubPlan?: HubPlan): Promise<void> {
  const prev = useStore.getState();
  if (prev.status === 'starting' || prev.status === 'idle') return;
  const label =
    choice.kind === 'builtin'
      ? `built-in model (${BUILTIN_MODEL_ID})`
      : choice.kind === 'hub'
        ? choice.id
        : choice.name;
  useStore.setState({ status: 'loading', loadingLabel: label, progress: [] });
  clearError('model');
  clearHubFailure();
  const engine = engineClient();
  try {
    await runJob('load', async () => {
      if (choice.kind === 'builtin') {
        const res = await fetch(`${BUILTIN_MODEL_URL}/config.json`);
        if (!res.ok) throw new Error(`the built-in model's config.json is missing (HTTP ${res.status})`);
        const baseUrl = new URL(BUILTIN_MODEL_URL, location.href).href;
        await checkedLoad(BUILTIN_MODEL_ID, label, choice, await res.json(), (opts) =>
          engine.loadModel({ kind: 'url', baseUrl }, opts),
        );
      } else if (choice.kind === 'hub') {
        const plan = hubPlan ?? (await planHubModel(choice.id, choice.revision));
        useStore.setState({
          progress: plan.files.map((f) => ({
            name: f.name,
            loaded: 0,
            total: f.size,
            cached: f.fromCache,
            done: false,
          })),
        });
        await checkedLoad(
          choice.revision === 'main' ? choice.id : `${choice.id}@${choice.revision}`,
          label,
          choice,
          plan.config,
          async (opts) => {
            const onProgress = (p: FileProgress) =>
              useStore.setState((s) => ({ progress: s.progress.map((q) => (q.name === p.name ? p : q)) }));
            const got = await downloadHubModel(plan, onProgress);
            return engine.loadModel({ kind: 'files', files: got }, opts);
          },
        );
      } else {
        if (!files || files.length === 0) throw new Error('pick or drop a model folder first');
        const config = await readConfig(files);
        if (config === null)
          throw new Error(`${choice.name}: no config.json in the folder (expected the Hugging Face layout)`);
        const named = withPaths(files);
        await checkedLoad(
          folderName(files),
          label,
          { kind: 'folder', name: folderName(files) },
          config,
          (opts) => engine.loadModel({ kind: 'files', files: named }, opts),
        );
      }
    });
    useStore.setState({ status: 'ready' });
  } catch (e) {
    const s = useStore.getState();
    // Back to the model that was there (or to an error state when none).
    useStore.setState({ status: s.model ? 'ready' : 'error', config: s.model?.config ?? s.config });
    // A Hub failure is told next to the Hub control, in words that say what to do next.
    if (choice.kind === 'hub' && (e as { code?: string }).code !== 'gpu-device-lost')
      hubFailed(choice.id, choice.revision, e, s.model ? (s.modelName ?? s.model.label) : null);
    else engineFailed('model', e);
  }
}

/** After a lost device (or to switch paths): a fresh worker, then the same model again. */
export async function restartEngine(opts: { cpu?: boolean } = {}): Promise<void> {
  resetEngineClient();
  useStore.setState((s) => ({
    status: 'idle',
    adapter: null,
    model: null,
    lost: false,
    forceCpu: opts.cpu ?? s.forceCpu,
    errors: {},
  }));
  await startEngine();
}

/** Folder chosen in the picker or dropped. */
export function loadFolder(files: File[]): Promise<void> {
  return loadModelChoice({ kind: 'folder', name: folderName(files) }, files);
}
