// Held-out evaluation of the current policy, saved into the live run after every sample so a stopped
// or interrupted evaluation survives a reload.
import { proxy } from 'comlink';
import { engineClient } from '../../client/engineClient.ts';
import type { WrapCallback } from '../lib/decodeRun.ts';
import { TokenTexts } from '../lib/decodeRun.ts';
import { evaluate } from '../lib/evalRun.ts';
import { activeJob, runJob } from '../lib/jobs.ts';
import { clearError, engineFailed, useStore } from '../store.ts';
import type { EvalRun } from '../types.ts';
import { updateLive } from './run.ts';

const wrap: WrapCallback = (fn) => proxy(fn);
let cancelRequested = false;

export async function stopEval(): Promise<void> {
  cancelRequested = true;
  if (activeJob() === 'eval') await engineClient().cancel();
}

export async function runEval(): Promise<void> {
  const s0 = useStore.getState();
  if (s0.status !== 'ready' || !s0.model || s0.evalRunning) return;
  cancelRequested = false;
  clearError('eval');
  const settings = { ...s0.settings.eval, tasks: [...s0.settings.eval.tasks] };
  const run: EvalRun = {
    id: `eval-${Date.now().toString(36)}`,
    createdAt: new Date().toISOString(),
    model: s0.modelName ?? s0.model.label,
    settings,
    results: [],
    status: 'running',
    ms: 0,
  };
  const put = (patch: Partial<EvalRun>, flush = false) => {
    Object.assign(run, patch);
    const copy: EvalRun = { ...run, results: run.results.map((r) => ({ ...r })) };
    updateLive((r) => ({ ...r, evals: [...r.evals.filter((e) => e.id !== run.id), copy] }), { flush });
  };
  put({}, true);
  useStore.setState({
    evalRunning: true,
    evalProgress: { done: 0, total: settings.tasks.length * settings.n * settings.samples },
  });
  const t0 = performance.now();
  try {
    const out = await runJob('eval', () =>
      evaluate(engineClient(), settings, {
        texts: new TokenTexts(),
        eos: s0.model?.eosTokenIds ?? [],
        wrap,
        useRollout: useStore.getState().rollout,
        cancelled: () => cancelRequested,
        onProgress: (results, done, total) => {
          useStore.setState({ evalProgress: { done, total } });
          put({ results, ms: performance.now() - t0 });
        },
      }),
    );
    put(
      { results: out.results, status: out.interrupted ? 'interrupted' : 'done', ms: performance.now() - t0 },
      true,
    );
  } catch (e) {
    put({ status: 'interrupted', ms: performance.now() - t0 }, true);
    engineFailed('eval', e);
  } finally {
    useStore.setState({ evalRunning: false, evalProgress: null });
  }
}
