// Held-out evaluation of the current policy: for each task, the first n questions of its held-out pool
// (rl/heldOut.ts; the eval seed only seeds the sampling), `samples` completions
// each in the chosen decode mode (one batched rollout per question, or generate per sample); the one
// evaluator (rl/evaluate.ts) scores them and keeps the rows: accuracy = mean over questions of the fraction
// of samples scoring exactly 1 (MOTG.md §4). DOM-free: the page and scripts/make-example-run.ts both run it.

import { type EvalCompletion, type EvalDecoder, type EvalItem, evaluateItems } from '../../rl/evaluate.ts';
import { heldOutEvalItems } from '../../rl/heldOut.ts';
import type { EngineApi } from '../../worker/api.ts';
import { DEFAULT_DECODE, levelFor } from '../settings.ts';
import type { DecodeSettings, DrawnItem, EvalSettings, EvalTaskResult } from '../types.ts';
import { completionsOf, decodeSide, type TokenTexts, type WrapCallback } from './decodeRun.ts';
import { buildPrompt, sampleSeed } from './items.ts';

export type EvalEngine = Pick<EngineApi, 'generate' | 'score' | 'detokenize' | 'tokenize' | 'rollout'>;

export interface EvalHooks {
  texts: TokenTexts;
  eos: readonly number[];
  wrap?: WrapCallback;
  /** Decode through Engine.rollout (default); false: generate, discrete only. */
  useRollout?: boolean;
  /** Checked between questions: true stops the run (results so far are kept). */
  cancelled?: () => boolean;
  /** After every question, with the results so far (the current task's row included). */
  onProgress?: (results: EvalTaskResult[], done: number, total: number) => void;
  /** Wrap the question in the training prompt (default true). */
  wrapPrompt?: boolean;
}

/** Runs the evaluation; returns the rows and whether it was stopped early. */
export async function evaluate(
  engine: EvalEngine,
  s: EvalSettings,
  hooks: EvalHooks,
): Promise<{ results: EvalTaskResult[]; interrupted: boolean }> {
  // The held-out pool: questions no training run of the page draws (it holds out as many per task).
  const items = s.tasks.flatMap((task) => heldOutEvalItems(task, levelFor(task, s.level), s.n));
  const report = await evaluateItems(items, {
    samples: s.samples,
    prompt: (item) => engine.tokenize(buildPrompt(item.entry.question, hooks.wrapPrompt ?? true)),
    decode: pageDecoder(engine, s, hooks),
    cancelled: hooks.cancelled,
    onItem: (p) => hooks.onProgress?.(p.tasks, p.done, p.total),
  });
  return { results: report.tasks, interrupted: report.interrupted };
}

/** The page's decoding of one question: `samples` rows of one rollout, or (discrete only) generate per sample. */
function pageDecoder(engine: EvalEngine, s: EvalSettings, hooks: EvalHooks): EvalDecoder {
  return async ([{ item, promptIds }], samples) => {
    const settings: DecodeSettings = {
      ...DEFAULT_DECODE,
      temperature: s.temperature,
      maxNewTokens: s.maxNewTokens,
      seed: sampleSeed(s.seed, item.index, 0),
    };
    if (hooks.useRollout !== false)
      return [
        await completionsOf(engine, { mode: s.mode, settings, promptIds, G: samples, purpose: 'eval' }),
      ];
    const outs: EvalCompletion[] = [];
    for (let j = 0; j < samples; j++) {
      const side = await decodeSide(engine, {
        mode: s.mode,
        useRollout: false,
        settings: { ...settings, seed: sampleSeed(s.seed, item.index, j) },
        promptIds,
        eos: hooks.eos,
        item: drawnItem(item, s.seed),
        entry: item.entry,
        texts: hooks.texts,
        wrap: hooks.wrap,
      });
      outs.push({ completion: side.text, tokens: side.steps.length, stopReason: side.stopReason });
    }
    return [outs];
  };
}

function drawnItem(item: EvalItem, seed: number): DrawnItem {
  return {
    task: item.task,
    level: item.level ?? '',
    seed,
    index: item.index,
    question: item.entry.question,
    answer: item.entry.answer,
  };
}
