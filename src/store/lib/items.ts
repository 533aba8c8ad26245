// Task items and prompts: draw a seeded item of a task at a level, and wrap a question the way the model
// was trained (system prompt, chat turn, `<think>` prefill; MOTG.md §3).
import { promptText } from '../../builtin/data.ts';
import { resolveConfig } from '../../tasks/dataset.ts';
import { getTask } from '../../tasks/registry.ts';
import type { TaskEntry } from '../../tasks/types.ts';
import type { DrawnItem } from '../types.ts';

export function drawItem(
  task: string,
  level: string,
  seed: number,
  index: number,
): { item: DrawnItem; entry: TaskEntry } {
  const def = getTask(task);
  const entry = def.generate(resolveConfig(def, level), seed, index);
  return { item: { task, level, seed, index, question: entry.question, answer: entry.answer }, entry };
}

/** The entry a drawn item came from (items are deterministic, so this regenerates it). */
export function entryOf(item: DrawnItem): TaskEntry {
  return drawItem(item.task, item.level, item.seed, item.index).entry;
}

/** The prompt text sent to the model. */
export function buildPrompt(question: string, wrap: boolean): string {
  return wrap ? promptText(question) : question;
}

/** Sampling seed of sample `s` of question `i` under an evaluation seed (distinct per pair). */
export function sampleSeed(seed: number, question: number, sample: number): number {
  return (
    (Math.imul(seed >>> 0, 0x9e3779b1) ^
      Math.imul(question + 1, 0x85ebca77) ^
      Math.imul(sample + 1, 0xc2b2ae3d)) >>>
    0
  );
}
