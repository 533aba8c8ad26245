// The Hugging Face part of the Model panel: the size and memory check before a download, and a failed
// Hub load, kept apart from the page's notices so the message stands next to the Hub control.
import { create } from 'zustand';
import type { HubPlan } from '../client/hub.ts';
import type { FitReport } from './lib/memoryFit.ts';

export interface HubFailure {
  id: string;
  revision: string;
  code: string | undefined;
  message: string;
  /** The model still loaded (the failed load changed nothing), or null when none is. */
  kept: string | null;
}

export interface HubCheck {
  id: string;
  revision: string;
  state: 'checking' | 'ready';
  plan?: HubPlan;
  bytes?: { total: number; cached: number; unknown: number };
  /** The page's memory-fit report for this model on this device; null when its config cannot be read. */
  fit?: FitReport | null;
  /** Why the config cannot be read (then the load will refuse it too). */
  configProblem?: string;
  /** A ceiling on decoding speed here: the device's measured copy bandwidth over the weights' bytes. */
  speed?: { bytesPerSecond: number; tokensPerSecond: number } | null;
  /** A large download waits for a second click. */
  confirm?: boolean;
}

export interface HubState {
  check: HubCheck | null;
  failure: HubFailure | null;
}

export const useHub = create<HubState>()(() => ({ check: null, failure: null }));

export function hubFailed(id: string, revision: string, e: unknown, kept: string | null): void {
  const err = e as { code?: string; message?: string };
  const failure: HubFailure = {
    id,
    revision,
    code: err?.code,
    message: err?.message ?? String(e),
    kept,
  };
  useHub.setState({ failure, check: null });
}

export function clearHubFailure(): void {
  if (useHub.getState().failure) useHub.setState({ failure: null });
}
