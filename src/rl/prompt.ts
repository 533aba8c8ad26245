// The prompt format of a rollout (MOTG.md §3): the system prompt, the question as the user turn, the
// assistant turn opened and prefilled with `<think>`. Kept apart from the rollout loop, which takes token ids:
// the page, the trainer and the engine all format prompts, and only the engine runs the loop.

/** Default system prompt of a rollout (MOTG.md §3): reasoning in <think>, the answer in <answer>. */
export const ROLLOUT_SYSTEM_PROMPT =
  'You are a helpful assistant. First reason about the question inside <think> </think>, then give only ' +
  'the final answer inside <answer> </answer>.';
/** The assistant turn is prefilled with this (MOTG.md §3). */
export const THINK_PREFILL = '<think>';

/** What chat formatting needs from a tokenizer (engine/model/tokenizer.ts Tokenizer has it). */
export interface ChatFormatter {
  readonly hasChatTemplate: boolean;
  applyChatTemplate(
    messages: { role: string; content: string }[],
    options: { addGenerationPrompt?: boolean },
  ): string;
}

export interface PromptFormat {
  /** Use the chat template (default: when the tokenizer has one). */
  chat?: boolean;
  /** System message (default: the template's own when it asks for `<answer>`, else ROLLOUT_SYSTEM_PROMPT;
   * null: none, the template may insert its own). */
  systemPrompt?: string | null;
  /** Text that opens the assistant turn (default `<think>`). */
  prefill?: string;
}

/**
 * Whether the chat template, given no system message, inserts one that asks for `<answer>` — a model trained on
 * its own prompt format (the built-in model) — so the rollout prompt keeps that prompt instead of ours.
 */
export function templateAsksForAnswer(tok: ChatFormatter): boolean {
  if (!tok.hasChatTemplate) return false;
  const probe = tok.applyChatTemplate([{ role: 'user', content: '\u0000' }], { addGenerationPrompt: false });
  const beforeUser = probe.slice(0, probe.indexOf('\u0000'));
  return /system/.test(beforeUser) && beforeUser.includes('<answer>');
}

/**
 * The prompt text of a question (MOTG.md §3): the system prompt, the question as the user turn, the assistant
 * turn opened and prefilled with `<think>`; without a chat template, the question followed by the prefill.
 * Encode it without added special tokens.
 */
export function rolloutPromptText(question: string, tok: ChatFormatter, f: PromptFormat = {}): string {
  const prefill = f.prefill ?? THINK_PREFILL;
  if (!(f.chat ?? tok.hasChatTemplate)) return question + prefill;
  const system =
    f.systemPrompt !== undefined ? f.systemPrompt : templateAsksForAnswer(tok) ? null : ROLLOUT_SYSTEM_PROMPT;
  const messages = [
    ...(system === null ? [] : [{ role: 'system', content: system }]),
    { role: 'user', content: question },
  ];
  return tok.applyChatTemplate(messages, { addGenerationPrompt: true }) + prefill;
}
