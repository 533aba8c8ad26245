// The page's handle on the engine worker: comlink's proxy of EngineApi, created on first use. A lost GPU
// device cannot be revived inside the same worker, so `resetEngineClient` ends the worker and the next
// call starts a fresh one.
import { type Remote, releaseProxy, wrap } from 'comlink';
import type { EngineApi } from '../worker/api.ts';
import { installErrorTransfer } from '../worker/errorTransfer.ts';
import { BUILTIN_MODEL_ID } from './builtinModel.ts';

let worker: Worker | null = null;
let client: Remote<EngineApi> | null = null;

export function engineClient(): Remote<EngineApi> {
  if (!client) {
    installErrorTransfer();
    worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), {
      type: 'module',
      name: 'engine',
    });
    client = wrap<EngineApi>(worker);
  }
  return client;
}

/**
 * Test hooks, only with `?test-hooks` in the page's URL (the e2e tests): `window.__motgTestHooks`.
 * loseDevice(): the engine's GPU device is lost as a driver reset would lose it.
 */
export interface TestHooks {
  loseDevice(): Promise<void>;
}

if (typeof location !== 'undefined' && new URLSearchParams(location.search).has('test-hooks')) {
  const hooks: TestHooks = { loseDevice: () => engineClient().simulateDeviceLoss() };
  (globalThis as { __motgTestHooks?: TestHooks }).__motgTestHooks = hooks;
}

/** End the worker (and its GPU device); the next engineClient() starts a new one. */
export function resetEngineClient(): void {
  client?.[releaseProxy]();
  worker?.terminate();
  client = null;
  worker = null;
}

export { BUILTIN_MODEL_ID };

/** The built-in model, served from public/ with the Hub's file layout. */
export const BUILTIN_MODEL_URL = `${import.meta.env.BASE_URL}models/${BUILTIN_MODEL_ID}`;
