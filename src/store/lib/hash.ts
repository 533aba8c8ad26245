// The experiment's settings live in the URL hash (shareable links, TensorFlow Playground style).
import { settingsToHash } from '../settings.ts';
import { useStore } from '../store.ts';
import type { ExperimentSettings } from '../types.ts';

/** Writes the settings into the URL hash without adding a history entry. */
export function syncHash(settings: ExperimentSettings = useStore.getState().settings): void {
  const hash = settingsToHash(settings);
  const url = `${location.pathname}${location.search}${hash}`;
  if (`${location.pathname}${location.search}${location.hash}` !== url) history.replaceState(null, '', url);
}
