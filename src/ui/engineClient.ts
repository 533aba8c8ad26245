// The page's handle on the engine worker: comlink's proxy of EngineApi, created once.
import { type Remote, wrap } from 'comlink';
import type { EngineApi } from '../engine/api.ts';
import { installErrorTransfer } from '../engine/errorTransfer.ts';

let client: Remote<EngineApi> | null = null;

export function engineClient(): Remote<EngineApi> {
  if (!client) {
    installErrorTransfer();
    const worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), {
      type: 'module',
      name: 'engine',
    });
    client = wrap<EngineApi>(worker);
  }
  return client;
}

/** The built-in model, served from public/ with the Hub's file layout. */
export const BUILTIN_MODEL_URL = `${import.meta.env.BASE_URL}models/motg-tiny-random`;
