// Evaluation of a model on one task (`npm run evaluate`, the built-in model's training script): prompts in
// the training format (system prompt, question, `<think>` prefill), one completion per item through a
// `generate` function (Engine.generate, or `backendGenerator` over any Backend), scored and averaged by the
// one evaluator (rl/evaluate.ts) — the same accuracy the page and the trainer report.
import type { Backend } from '../engine/backend.ts';
import { datasetItems, type EvalDecoder, evaluateItems } from '../rl/evaluate.ts';
import { getTask } from '../tasks/registry.ts';
import { promptText } from './data.ts';

export type GenerateFn = (
  promptIds: number[],
  opts: { maxNewTokens: number; temperature: number; seed: number },
) => Promise<{ ids: number[] }>;

export interface EvalTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: ArrayLike<number>, options?: { skipSpecialTokens?: boolean }): string;
  readonly eosTokenIds: number[];
}

export interface EvalOptions {
  task: string;
  /** Curriculum level; default the task's easiest. */
  level?: string;
  n: number;
  /** Seed of the items (generateDataset) and of the sampling. */
  seed: number;
  /** 0 = greedy. */
  temperature: number;
  maxNewTokens?: number;
  /** Called after each item, with the accuracy over the items so far. */
  onItem?: (done: number, sample: EvalSample, accuracySoFar: number) => void;
}

export interface EvalSample {
  question: string;
  oracle: string | null;
  completion: string;
  answer: string | null;
  score: number;
  format: boolean;
  tokens: number;
}

/** The summary line `npm run evaluate` prints (snake_case, as specified). */
export interface EvalSummary {
  task: string;
  level: string;
  n: number;
  temperature: number;
  /** Fraction of items whose answer scores 1.0. */
  accuracy: number;
  /** Mean task score (partial credit included). */
  mean_score: number;
  /** Fraction of completions matching `</think>\s*<answer>.*?</answer>\s*$`. */
  format_rate: number;
  /** Generated tokens per second over the whole run. */
  tokens_per_s: number;
}

/** Sampling seed of item `index` for an evaluation seed. */
function itemSeed(seed: number, index: number): number {
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
}

/** One completion per item through `generate`, scored by the one evaluator (rl/evaluate.ts). */
export async function evaluateTask(
  generate: GenerateFn,
  tok: EvalTokenizer,
  options: EvalOptions,
): Promise<{ summary: EvalSummary; samples: EvalSample[] }> {
  const task = getTask(options.task);
  const level = options.level ?? task.levels[0].name;
  const eos = new Set(tok.eosTokenIds);
  const samples: EvalSample[] = [];
  let tokens = 0;
  let ms = 0;
  const decode: EvalDecoder = async ([{ item, promptIds }]) => {
    const t0 = performance.now();
    const { ids } = await generate(promptIds, {
      maxNewTokens: options.maxNewTokens ?? 160,
      temperature: options.temperature,
      seed: itemSeed(options.seed, item.index),
    });
    ms += performance.now() - t0;
    tokens += ids.length;
    const body = ids.length > 0 && eos.has(ids[ids.length - 1]) ? ids.slice(0, -1) : ids;
    return [[{ completion: tok.decode(body, { skipSpecialTokens: false }), tokens: ids.length }]];
  };
  const report = await evaluateItems(datasetItems(task.name, level, options.seed, options.n), {
    samples: 1,
    prompt: (item) => tok.encode(promptText(item.entry.question), { addSpecialTokens: false }),
    decode,
    onItem: ({ item, completions: [c], tasks, itemsDone }) => {
      const sample: EvalSample = {
        question: item.entry.question,
        oracle: item.entry.answer,
        completion: c.completion,
        answer: c.answer,
        score: c.score,
        format: c.format,
        tokens: c.tokens,
      };
      samples.push(sample);
      options.onItem?.(itemsDone, sample, tasks[0].accuracy);
    },
  });
  const row = report.tasks[0];
  return {
    summary: {
      task: task.name,
      level,
      n: samples.length,
      temperature: options.temperature,
      accuracy: row?.accuracy ?? 0,
      mean_score: row?.meanScore ?? 0,
      format_rate: row?.formatRate ?? 0,
      tokens_per_s: ms > 0 ? (tokens * 1000) / ms : 0,
    },
    samples,
  };
}

/** A GenerateFn over a Backend (one row, KV cache), the same decode loop as Engine.generate. */
export function backendGenerator(
  backend: Backend,
  eosTokenIds: readonly number[],
  maxPositions: number,
): GenerateFn {
  const eos = new Set(eosTokenIds);
  return async (promptIds, opts) => {
    const capacity = Math.min(promptIds.length + opts.maxNewTokens, maxPositions);
    const cache = backend.createCache(1, capacity);
    const greedy = opts.temperature <= 0;
    const ids: number[] = [];
    try {
      let next = await backend.decode(cache, { kind: 'ids', ids: promptIds }, promptIds.length, {
        greedy,
        temperature: opts.temperature,
        seed: opts.seed,
        step: 0,
      });
      for (let step = 0; ; step++) {
        const id = next[0];
        ids.push(id);
        if (eos.has(id) || ids.length >= opts.maxNewTokens || cache.length + 1 > capacity) break;
        next = await backend.decode(cache, { kind: 'ids', ids: [id] }, 1, {
          greedy,
          temperature: opts.temperature,
          seed: opts.seed,
          step: step + 1,
        });
      }
    } finally {
      cache.dispose();
    }
    return { ids };
  };
}
