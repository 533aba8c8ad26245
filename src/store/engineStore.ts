// Engine state for the page: adapter, model, and the current generation. Actions are plain functions.
import { proxy } from 'comlink';
import { create } from 'zustand';
import type { AdapterInfo, GenerateOptions, GenerateResult, ModelInfo, TokenEvent } from '../engine/api.ts';
import { BUILTIN_MODEL_URL, engineClient } from '../ui/engineClient.ts';

export type Status = 'idle' | 'starting' | 'loading' | 'ready' | 'generating' | 'error';

export interface EngineState {
  status: Status;
  adapter: AdapterInfo | null;
  model: ModelInfo | null;
  error: { code?: string; message: string } | null;
  tokens: TokenEvent[];
  result: GenerateResult | null;
}

export const useEngineStore = create<EngineState>(() => ({
  status: 'idle',
  adapter: null,
  model: null,
  error: null,
  tokens: [],
  result: null,
}));

function errorOf(e: unknown): { code?: string; message: string } {
  const err = e as { code?: string; message?: string };
  return { code: err.code, message: err.message ?? String(e) };
}

export async function startEngine(): Promise<void> {
  if (useEngineStore.getState().status !== 'idle') return;
  useEngineStore.setState({ status: 'starting', error: null });
  try {
    const engine = engineClient();
    const adapter = await engine.init({ backend: 'auto' });
    useEngineStore.setState({ adapter, status: 'loading' });
    const model = await engine.loadModel({
      kind: 'url',
      baseUrl: new URL(BUILTIN_MODEL_URL, location.href).href,
    });
    useEngineStore.setState({ model, status: 'ready' });
  } catch (e) {
    useEngineStore.setState({ status: 'error', error: errorOf(e) });
  }
}

export async function generate(prompt: string, opts: GenerateOptions): Promise<void> {
  useEngineStore.setState({ status: 'generating', tokens: [], result: null, error: null });
  try {
    const onToken = proxy((ev: TokenEvent) => {
      useEngineStore.setState((s) => ({ tokens: [...s.tokens, ev] }));
    });
    const result = await engineClient().generate(prompt, opts, onToken);
    useEngineStore.setState({ result, status: 'ready' });
  } catch (e) {
    useEngineStore.setState({ status: 'error', error: errorOf(e) });
  }
}

export async function cancelGeneration(): Promise<void> {
  await engineClient().cancel();
}
