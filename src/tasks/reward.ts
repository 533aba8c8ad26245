// The paper's reward (MOTG.md §3), every term a setting and every term reported.
//
// Assumption: `completion` is the text the model generated AFTER the prefilled `<think>` of the
// assistant turn, i.e. "reasoning…\n</think>\n<answer>\n42\n</answer>". The prefilled `<think>`
// itself is not part of it (so no term looks for an opening `<think>`).

import { PY_WS_CLASS, pyCount, pyLen, pySplit } from './common.ts';
import { extractAnswer } from './extract.ts';
import { strictScore } from './strict.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface RewardSettings {
  /** Weight of the task score (paper: 2, so a correct answer is worth 2). */
  correctnessWeight: number;
  /** Added when the completion matches `</think>\s*<answer>.*?</answer>\s*$` (DOTALL, searched). */
  formatWeight: number;
  /** Added when the reasoning has between minWords and maxWords words (inclusive). */
  wordCountWeight: number;
  minWords: number;
  maxWords: number;
  /** Added when `\n</think>\n` occurs exactly once. */
  thinkCloseWeight: number;
  /** Added when `\n<answer>\n` occurs exactly once. */
  answerOpenWeight: number;
  /** Added when `\n</answer>` occurs exactly once. */
  answerCloseWeight: number;
  /** Subtracted per character (code point) after the final `</answer>`. */
  trailingPenalty: number;
  /** Score with the task's `scoreStrict` (no gameable partial credit) where it has one. */
  strict: boolean;
}

/** The paper's reward, max 2 + 0.5 + 0.5 + 0.5 + 0.125 + 0.125 = 3.75. */
export const PAPER_REWARD: RewardSettings = {
  correctnessWeight: 2, // 2 × score
  formatWeight: 0.5,
  wordCountWeight: 0.5,
  minWords: 200,
  maxWords: 400,
  thinkCloseWeight: 0.5,
  answerOpenWeight: 0.125,
  answerCloseWeight: 0.125,
  trailingPenalty: 0.001,
  strict: false,
};

export const REWARD_PRESETS = {
  paper: PAPER_REWARD,
  // A tiny model cannot write 200 words of sensible reasoning: the word-count term is off.
  tiny: { ...PAPER_REWARD, wordCountWeight: 0 },
} satisfies Record<string, RewardSettings>;

export type RewardPresetName = keyof typeof REWARD_PRESETS;

export interface RewardBreakdown {
  total: number;
  /** The extracted answer (last <answer> block, stripped), null when there is none. */
  answer: string | null;
  /** The task's score of that answer, 0..1 (0 on a scoring error). */
  score: number;
  /** Set when scoring raised (reasoning-gym's error, or an exception in our scorer). */
  error?: string;
  correctness: number;
  format: number;
  wordCount: number;
  /** Words in the reasoning: the text before the first `</think>` (all of it when there is none). */
  words: number;
  thinkClose: number;
  answerOpen: number;
  answerClose: number;
  /** The penalty as a negative number (0 when nothing follows the final `</answer>`). */
  trailing: number;
  trailingChars: number;
}

const FORMAT_RE = new RegExp(`</think>[${PY_WS_CLASS}]*<answer>[\\s\\S]*?</answer>[${PY_WS_CLASS}]*$`);

/** Reward of one completion for one entry, term by term. */
export function computeReward(
  completion: string,
  task: TaskDefinition,
  entry: TaskEntry,
  settings: Partial<RewardSettings> | RewardPresetName = 'paper',
): RewardBreakdown {
  const s: RewardSettings =
    typeof settings === 'string' ? REWARD_PRESETS[settings] : { ...PAPER_REWARD, ...settings };

  const answer = extractAnswer(completion);
  let score = 0;
  let error: string | undefined;
  try {
    const result = s.strict ? strictScore(task, answer, entry) : task.score(answer, entry);
    score = result.error === undefined ? result.score : 0;
    error = result.error;
  } catch (e) {
    // A crash in a scorer must not stop training: it counts as 0 and is shown.
    error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }

  const thinkEnd = completion.indexOf('</think>');
  const reasoning = thinkEnd >= 0 ? completion.slice(0, thinkEnd) : completion;
  const words = pySplit(reasoning).length;

  const lastClose = completion.lastIndexOf('</answer>');
  const trailingChars = lastClose >= 0 ? pyLen(completion.slice(lastClose + '</answer>'.length)) : 0;

  const breakdown: RewardBreakdown = {
    total: 0,
    answer,
    score,
    correctness: s.correctnessWeight * score,
    format: FORMAT_RE.test(completion) ? s.formatWeight : 0,
    wordCount: words >= s.minWords && words <= s.maxWords ? s.wordCountWeight : 0,
    words,
    thinkClose: pyCount(completion, '\n</think>\n') === 1 ? s.thinkCloseWeight : 0,
    answerOpen: pyCount(completion, '\n<answer>\n') === 1 ? s.answerOpenWeight : 0,
    answerClose: pyCount(completion, '\n</answer>') === 1 ? s.answerCloseWeight : 0,
    trailing: trailingChars === 0 ? 0 : -s.trailingPenalty * trailingChars,
    trailingChars,
  };
  if (error !== undefined) breakdown.error = error;
  breakdown.total =
    breakdown.correctness +
    breakdown.format +
    breakdown.wordCount +
    breakdown.thinkClose +
    breakdown.answerOpen +
    breakdown.answerClose +
    breakdown.trailing;
  return breakdown;
}
