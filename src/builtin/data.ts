// Supervised training data for the built-in model: chat-formatted examples built from our tasks.
// Prompt (MOTG.md §3): a short system prompt asking for `<think> … </think> <answer> … </answer>`, the
// question as the user turn, the assistant turn opened and prefilled with `<think>`. Completion (what
// the model learns to write, and what the reward sees): "\n<worked trace>\n</think>\n<answer>\n<answer>\n</answer>",
// then `<|im_end|>` to stop.
import { heldOutPool, normaliseQuestion } from '../rl/heldOut.ts';
import { generateDataset, resolveConfig } from '../tasks/dataset.ts';
import { getTask, oracleAnswer } from '../tasks/registry.ts';
import type { TaskEntry } from '../tasks/types.ts';
import { traceFor } from './traces.ts';

export const SYSTEM_PROMPT = 'Think in <think> </think>, then answer in <answer> </answer>.';

/** The prefill that opens the assistant's reasoning (part of the prompt, not of the completion). */
export const THINK_PREFILL = '<think>';
export const END_OF_TURN = '<|im_end|>';

/** The chat messages of a question: our system prompt and the question as the user turn. */
export function chatMessages(question: string, system = SYSTEM_PROMPT): { role: string; content: string }[] {
  return [
    { role: 'system', content: system },
    { role: 'user', content: question },
  ];
}

/** The prompt text, exactly what the chat template renders with a generation prompt, plus `<think>`. */
export function promptText(question: string, system = SYSTEM_PROMPT): string {
  return (
    `<|im_start|>system\n${system}<|im_end|>\n` +
    `<|im_start|>user\n${question}<|im_end|>\n` +
    `<|im_start|>assistant\n${THINK_PREFILL}`
  );
}

/** The completion after the prefilled `<think>`: the reasoning, then the answer block. */
export function completionText(reasoning: string, answer: string): string {
  return `\n${reasoning}\n</think>\n<answer>\n${answer}\n</answer>`;
}

export interface SftExample {
  task: string;
  level: string;
  /** Item index in the task's generator for (level, seed). */
  index: number;
  entry: TaskEntry;
  /** Oracle answer text (scores 1.0). */
  answer: string;
  prompt: string;
  completion: string;
}

/** One entry as an SFT example. */
export function exampleFor(task: string, level: string, index: number, entry: TaskEntry): SftExample {
  const answer = oracleAnswer(getTask(task), entry);
  return {
    task,
    level,
    index,
    entry,
    answer,
    prompt: promptText(entry.question),
    completion: completionText(traceFor(task, entry), answer),
  };
}

export interface MixturePart {
  task: string;
  /** Curriculum level name (default: the task's easiest). */
  level?: string;
  /** Number of examples. */
  count: number;
}

/** The easiest curriculum level of a task. */
export function easiestLevel(task: string): string {
  return getTask(task).levels[0].name;
}

export interface ExampleOptions {
  /** Leave out the first `heldOut` held-out items of each part's task and level (rl/heldOut.ts
   * heldOutPool: a pool fixed by task, level and count), so GRPO runs holding out up to that many items
   * per task evaluate on questions the model never saw. 0 (default): nothing is left out. */
  heldOut?: HeldOutCounts;
}

/** Held-out items per task: one count for every task, or a count per task (a task not named: 0). A
 * level with a small question space cannot hold out as many as a large one (products at `trivial` has
 * 100 distinct questions), hence the per-task form. */
export type HeldOutCounts = number | Readonly<Record<string, number>>;

export function heldOutCountFor(counts: HeldOutCounts | undefined, task: string): number {
  if (counts === undefined) return 0;
  return typeof counts === 'number' ? counts : (counts[task] ?? 0);
}

/** The counts as the CLI takes them (model cards and logs). */
export function formatHeldOutCounts(counts: HeldOutCounts | undefined): string {
  if (counts === undefined || typeof counts === 'number') return String(counts ?? 0);
  return Object.entries(counts)
    .map(([task, n]) => `${task}:${n}`)
    .join(',');
}

/** Generator items of a part from index 0 on, skipping held-out questions, until `count` are kept. */
function itemsOutsidePool(task: string, level: string, seed: number, count: number, heldOut: number) {
  const pool = heldOutPool(task, level, heldOut);
  const def = getTask(task);
  const config = resolveConfig(def, level);
  // The pool leaves ≥ 25% of draws outside it: 8× the count plus slack is ample.
  const limit = 8 * count + 1000;
  const out: TaskEntry[] = [];
  for (let i = 0; i < limit && out.length < count; i++) {
    const entry = def.generate(config, seed, i);
    if (!pool.texts.has(normaliseQuestion(entry.question))) out.push(entry);
  }
  if (out.length < count)
    throw new Error(`${task}:${level}: only ${out.length} of ${count} SFT items outside the held-out pool`);
  return out;
}

/**
 * Examples for a mixture of tasks, deterministic for `seed` (each part uses a seed derived from it and
 * its position, so two parts on the same task do not repeat each other). Order: part by part.
 */
export function buildExamples(
  parts: readonly MixturePart[],
  seed: number,
  options: ExampleOptions = {},
): SftExample[] {
  const out: SftExample[] = [];
  parts.forEach((part, i) => {
    const heldOut = heldOutCountFor(options.heldOut, part.task);
    const level = part.level ?? easiestLevel(part.task);
    const partSeed = (Math.imul(seed >>> 0, 31) + 7919 * (i + 1)) >>> 0;
    const entries =
      heldOut > 0
        ? itemsOutsidePool(part.task, level, partSeed, part.count, heldOut)
        : generateDataset(part.task, level, partSeed, part.count).map((d) => d.entry);
    for (const entry of entries) {
      out.push(exampleFor(part.task, level, entry.metadata.source_index as number, entry));
    }
  });
  return out;
}

/** The default training mixture of the built-in model: the easiest level of each task, equal counts. */
export const BUILTIN_TASKS: readonly string[] = ['chain_sum', 'basic_arithmetic', 'leg_counting', 'products'];

export function defaultMixture(
  countPerTask: number,
  tasks: readonly string[] = BUILTIN_TASKS,
): MixturePart[] {
  return tasks.map((task) => ({ task, count: countPerTask }));
}

/** Minimal tokenizer surface the data code needs (the engine's Tokenizer satisfies it). */
export interface TextEncoder {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
}

export interface TokenizedExample {
  /** prompt + completion + `<|im_end|>`. */
  ids: number[];
  /** First position whose token is a training target (ids[lossStart..] are predicted). */
  lossStart: number;
}

/**
 * Token ids of an example and where its loss starts. With `learnPrefill` (default true) the prefilled
 * `<think>` is a target too, so the model also opens its reasoning when a caller forgets the prefill.
 * The prompt and the completion are encoded separately and concatenated: the completion starts with
 * "\n" after an added token, so this equals encoding the whole text (tested).
 */
export function tokenizeExample(
  tok: TextEncoder,
  ex: Pick<SftExample, 'prompt' | 'completion'>,
  options: { learnPrefill?: boolean } = {},
): TokenizedExample {
  const prompt = tok.encode(ex.prompt, { addSpecialTokens: false });
  const completion = tok.encode(ex.completion + END_OF_TURN, { addSpecialTokens: false });
  const learnPrefill = options.learnPrefill ?? true;
  return {
    ids: [...prompt, ...completion],
    lossStart: learnPrefill ? prompt.length - 1 : prompt.length,
  };
}
