// Synthetic rewards for GRPO tests on a random model, whose completions never solve a task: a reward with
// variance within a group, so advantages (and gradients) are not all zero.
import type { RewardBreakdown } from '../../src/tasks/reward.ts';

/** A reward of `total` with every format term off; `score` decides accuracy. */
export function syntheticReward(total: number, score = 0): RewardBreakdown {
  return {
    total,
    answer: null,
    score,
    correctness: total,
    format: 0,
    wordCount: 0,
    words: 0,
    thinkClose: 0,
    answerOpen: 0,
    answerClose: 0,
    trailing: 0,
    trailingChars: 0,
  };
}

/** The fraction of digits in the completion (score 1 above 0.2). */
export function digitReward(completion: string): RewardBreakdown {
  const digits = [...completion].filter((c) => c >= '0' && c <= '9').length;
  const total = digits / Math.max(1, completion.length);
  return syntheticReward(total, total > 0.2 ? 1 : 0);
}

/** A hash of the text in [0, 1]: variance even among short completions with no digits. */
export function hashReward(completion: string): RewardBreakdown {
  let h = 0;
  for (const ch of completion) h = (h * 31 + (ch.codePointAt(0) ?? 0)) % 97;
  return syntheticReward(h / 96);
}
