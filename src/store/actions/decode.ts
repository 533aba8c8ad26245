// Side-by-side decode: the discrete baseline and the chosen MoT-G preset from the same prompt and seed.
// Knob changes re-run it after a short pause; a newer run cancels the one in flight.
import { proxy } from 'comlink';
import { engineClient } from '../../client/engineClient.ts';
import { decodeSide, type WrapCallback } from '../lib/decodeRun.ts';
import { buildPrompt, drawItem } from '../lib/items.ts';
import { activeJob, runJob } from '../lib/jobs.ts';
import { tokenTexts } from '../lib/tokenTexts.ts';
import { clearError, engineFailed, useStore } from '../store.ts';
import type { DecodeMode, DecodeResult, SideResult, StepView } from '../types.ts';
import { updateLive } from './run.ts';

function isMissingRollout(e: unknown): boolean {
  const m = (e as Error)?.message ?? '';
  return /rollout/.test(m) && /not a function|undefined/.test(m);
}

const wrap: WrapCallback = (fn) => proxy(fn);

let generation = 0;
let stopRequested = false;
let timer: ReturnType<typeof setTimeout> | null = null;

/** The modes a decode runs: the baseline and the preset when mixture decoding is available, else discrete. */
export function decodeModes(): DecodeMode[] {
  const s = useStore.getState();
  return s.rollout ? [s.settings.decode.baseline, s.settings.decode.preset] : ['discrete'];
}

/** Re-run after the knobs settle (only when a model is ready). */
export function scheduleDecode(delayMs = 350): void {
  if (timer) clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    if (useStore.getState().status === 'ready') void runDecode();
  }, delayMs);
}

/** Stop the decode in flight; what it produced so far is kept (and saved) as an interrupted run. */
export async function stopDecode(): Promise<void> {
  stopRequested = true;
  if (activeJob() === 'decode') await engineClient().cancel();
}

export async function runDecode(): Promise<void> {
  if (timer) {
    clearTimeout(timer);
    timer = null;
  }
  const my = ++generation;
  // A decode already running is now stale: cancel it so this one starts soon.
  if (activeJob() === 'decode') await engineClient().cancel();
  await runJob('decode', async () => {
    if (my !== generation) return; // a newer request is queued behind this one
    stopRequested = false;
    await decodeOnce(my);
  });
}

async function decodeOnce(my: number): Promise<void> {
  const s = useStore.getState();
  if (s.status !== 'ready' || !s.model) return;
  const d = s.settings.decode;
  const engine = engineClient();
  clearError('decode');
  useStore.setState({ decodeRunning: true });
  try {
    const drawn = d.source === 'task' ? drawItem(d.task, d.level, d.itemSeed, d.index) : null;
    const prompt = buildPrompt(drawn ? drawn.item.question : d.text, d.wrap);
    const promptIds = await engine.tokenize(prompt);
    const result: DecodeResult = {
      prompt,
      item: drawn?.item ?? null,
      promptTokens: promptIds.length,
      sides: [],
    };
    useStore.setState({ streaming: result });
    const useRollout = useStore.getState().rollout;
    for (const mode of decodeModes()) {
      if (my !== generation) return;
      if (stopRequested) break;
      const steps: StepView[] = [];
      const partial = (): SideResult => ({
        mode,
        via: useRollout ? 'rollout' : 'generate',
        params: {},
        steps: [...steps],
        text: '',
        stopReason: 'running',
        mixingOffAt: null,
        answer: null,
        score: null,
        reward: null,
        format: null,
        ms: 0,
        tokensPerSecond: 0,
        interrupted: false,
      });
      const side = await decodeSide(engine, {
        mode,
        useRollout,
        settings: d,
        promptIds,
        eos: s.model.eosTokenIds,
        item: drawn?.item ?? null,
        entry: drawn?.entry ?? null,
        texts: tokenTexts(),
        wrap,
        onStep: (step, i) => {
          if (my !== generation) return;
          steps[i] = step;
          useStore.setState({ streaming: { ...result, sides: [...result.sides, partial()] } });
        },
      });
      if (my !== generation) return; // superseded: drop it
      result.sides.push(side);
      useStore.setState({ streaming: { ...result, sides: [...result.sides] } });
      if (side.interrupted || stopRequested) break;
    }
    updateLive((r) => ({ ...r, decode: { ...result, sides: [...result.sides] } }), { flush: true });
  } catch (e) {
    if (my !== generation) return;
    if (isMissingRollout(e) && useStore.getState().rollout) {
      // An engine without rollout: fall back to generate (discrete only) and say so in the panel.
      useStore.setState({ rollout: false });
      await decodeOnce(my);
      return;
    }
    engineFailed('decode', e);
  } finally {
    if (my === generation) useStore.setState({ decodeRunning: false, streaming: null });
  }
}
