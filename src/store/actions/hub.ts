// Hub loads, kindly: before a download the page says how big it is (from the Hub's file listing) and
// what it needs on this device (the memory-fit report) and how fast it could decode here at most (the
// device's measured copy bandwidth over the weights' bytes); a large download waits for a second click.
import { engineClient } from '../../client/engineClient.ts';
import { planBytes, planHubModel } from '../../client/hub.ts';
import { parseQwen2Config } from '../../engine/config.ts';
import { type HubCheck, hubFailed, useHub } from '../hubState.ts';
import { fitReport } from '../lib/memoryFit.ts';
import { useStore } from '../store.ts';
import { deviceMemory, loadModelChoice } from './engine.ts';

/** Downloads above this (bytes not yet in the browser cache) are shown first and start on a second click. */
export const CONFIRM_BYTES = 100 * 1024 ** 2;

function keptModel(): string | null {
  const s = useStore.getState();
  return s.model ? (s.modelName ?? s.model.label) : null;
}

let bandwidth: Promise<number | null> | null = null;

/** The engine device's copy bandwidth, measured once per page (null when it cannot be measured). */
function deviceBandwidth(): Promise<number | null> {
  bandwidth ??= engineClient()
    .measureBandwidth()
    .catch(() => null);
  return bandwidth;
}

/** The Hub's file listing and config.json: sizes, what is cached, and the memory report. */
export async function checkHub(id: string, revision: string): Promise<HubCheck | null> {
  useHub.setState({ check: { id, revision, state: 'checking' }, failure: null });
  try {
    const plan = await planHubModel(id, revision);
    const { adapter, settings } = useStore.getState();
    let fit: HubCheck['fit'] = null;
    let configProblem: string | undefined;
    try {
      const torchDtype = (plan.config as { torch_dtype?: unknown }).torch_dtype;
      fit = fitReport(parseQwen2Config(plan.config), adapter, settings.memory, deviceMemory(), torchDtype);
    } catch (e) {
      configProblem = e instanceof Error ? e.message : String(e);
    }
    const bandwidth = fit ? await deviceBandwidth() : null;
    const check: HubCheck = {
      id,
      revision,
      state: 'ready',
      plan,
      bytes: planBytes(plan),
      fit,
      configProblem,
      speed:
        fit && bandwidth
          ? { bytesPerSecond: bandwidth, tokensPerSecond: bandwidth / Math.max(1, fit.inference.weights) }
          : null,
    };
    // A newer check (another id) may have started meanwhile: only the latest one is shown.
    const now = useHub.getState().check;
    if (now?.id !== id || now.revision !== revision) return null;
    useHub.setState({ check });
    return check;
  } catch (e) {
    const now = useHub.getState().check;
    if (now?.id === id && now.revision === revision) hubFailed(id, revision, e, keptModel());
    return null;
  }
}

/**
 * Load from the Hub: checks first (unless this id was just checked), then downloads and loads; a download
 * of more than CONFIRM_BYTES stops after the check until `confirmed`.
 */
export async function loadFromHub(id: string, revision: string, confirmed = false): Promise<void> {
  const current = useHub.getState().check;
  const check =
    current?.state === 'ready' && current.id === id && current.revision === revision
      ? current
      : await checkHub(id, revision);
  if (!check?.plan || !check.bytes) return;
  if (!confirmed && check.bytes.total - check.bytes.cached > CONFIRM_BYTES) {
    useHub.setState({ check: { ...check, confirm: true } });
    return;
  }
  useHub.setState({ check: { ...check, confirm: false } });
  await loadModelChoice({ kind: 'hub', id, revision }, undefined, check.plan);
  // Loaded: the progress list has the files now, and what the cache holds has changed.
  const m = useStore.getState().settings.model;
  if (m.kind === 'hub' && m.id === id && m.revision === revision && !useHub.getState().failure)
    useHub.setState({ check: null });
}

/** The id or revision field changed: an earlier check no longer applies. */
export function forgetHubCheck(): void {
  if (useHub.getState().check?.state === 'ready') useHub.setState({ check: null });
}
