// Held-out evaluation of the current policy: for each task, n seeded questions, `samples` completions
// each in the chosen decode mode (one batched rollout per question); accuracy = mean over questions of the
// fraction of samples scoring exactly 1 (MOTG.md §4). DOM-free: the page and
// scripts/make-example-run.ts both run it.

import { generateDataset } from '../../tasks/dataset.ts';
import type { EngineApi } from '../../worker/api.ts';
import { DEFAULT_DECODE, levelFor } from '../settings.ts';
import type { EvalSettings, EvalTaskResult } from '../types.ts';
import { completionsOf, decodeSide, judge, type TokenTexts, type WrapCallback } from './decodeRun.ts';
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
  const results: EvalTaskResult[] = [];
  const total = s.tasks.length * s.n * s.samples;
  let done = 0;
  for (const task of s.tasks) {
    const level = levelFor(task, s.level);
    const row: EvalTaskResult = {
      task,
      level,
      questions: 0,
      samples: s.samples,
      accuracy: 0,
      meanScore: 0,
      formatRate: 0,
      meanReward: 0,
      tokens: 0,
    };
    results.push(row);
    let correctFractions = 0;
    let scoreSum = 0;
    let formatSum = 0;
    let rewardSum = 0;
    let count = 0;
    const items = generateDataset(task, level, s.seed, s.n);
    for (let i = 0; i < items.length; i++) {
      if (hooks.cancelled?.()) return { results, interrupted: true };
      const entry = items[i].entry;
      const item = { task, level, seed: s.seed, index: i, question: entry.question, answer: entry.answer };
      const promptIds = await engine.tokenize(buildPrompt(entry.question, hooks.wrapPrompt ?? true));
      const settings = {
        ...DEFAULT_DECODE,
        temperature: s.temperature,
        maxNewTokens: s.maxNewTokens,
        seed: sampleSeed(s.seed, i, 0),
      };
      let outs: { completion: string; tokens: number; stopReason: string }[];
      if (hooks.useRollout !== false) {
        outs = await completionsOf(engine, {
          mode: s.mode,
          settings,
          promptIds,
          G: s.samples,
          purpose: 'eval',
        });
      } else {
        outs = [];
        for (let j = 0; j < s.samples; j++) {
          const side = await decodeSide(engine, {
            mode: s.mode,
            useRollout: false,
            settings: { ...settings, seed: sampleSeed(s.seed, i, j) },
            promptIds,
            eos: hooks.eos,
            item,
            entry,
            texts: hooks.texts,
            wrap: hooks.wrap,
          });
          outs.push({ completion: side.text, tokens: side.steps.length, stopReason: side.stopReason });
        }
      }
      if (outs.some((o) => o.stopReason === 'cancelled')) return { results, interrupted: true };
      let correct = 0;
      for (const o of outs) {
        const j = judge(o.completion, item, entry);
        const score = j.score ?? 0;
        if (score >= 1) correct++;
        scoreSum += score;
        rewardSum += j.reward ?? 0;
        formatSum += j.format ? 1 : 0;
        row.tokens += o.tokens;
        count++;
        done++;
      }
      correctFractions += correct / outs.length;
      row.questions = i + 1;
      row.accuracy = correctFractions / row.questions;
      row.meanScore = scoreSum / count;
      row.formatRate = formatSum / count;
      row.meanReward = rewardSum / count;
      hooks.onProgress?.(results, done, total);
    }
  }
  return { results, interrupted: false };
}
