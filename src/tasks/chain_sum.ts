// chain_sum: add and subtract a chain of integers ("13 - 88 + 59 =").
// Scored with `compute_decimal_reward`, so "-23.0", "+023" and " -23 " all count as -23.

import { checkConfig, computeDecimalReward, decimalExactScore } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export type ChainSumConfig = {
  min_terms: number;
  max_terms: number;
  min_digits: number;
  max_digits: number;
  allow_negation: boolean;
  seed: number | null;
  size: number;
};

const NAME = 'chain_sum';

function validate(c: ChainSumConfig): void {
  checkConfig(c.min_terms > 0, NAME, 'min_terms must be positive');
  checkConfig(c.max_terms >= c.min_terms, NAME, 'max_terms must be >= min_terms');
  checkConfig(c.min_digits > 0, NAME, 'min_digits must be positive');
  checkConfig(c.max_digits >= c.min_digits, NAME, 'max_digits must be >= min_digits');
  // Ours: keep every operand and the sum exact in a JS number.
  checkConfig(c.max_digits <= 15, NAME, 'max_digits must be <= 15');
}

export const task: TaskDefinition<ChainSumConfig> = {
  name: NAME,
  defaults: {
    min_terms: 2,
    max_terms: 6,
    min_digits: 1,
    max_digits: 4,
    allow_negation: false,
    seed: null,
    size: 500,
  },
  levels: [
    { name: 'trivial', config: { max_terms: 2, max_digits: 1 } },
    { name: 'easy', config: { max_terms: 3, max_digits: 2 } },
    { name: 'medium', config: { max_terms: 4, max_digits: 3 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const numTerms = rng.int(config.min_terms, config.max_terms);
    const numDigits = rng.int(config.min_digits, config.max_digits);
    // One-digit terms include 0; longer ones have exactly numDigits digits.
    const minValue = numDigits === 1 ? 0 : 10 ** (numDigits - 1);
    const maxValue = 10 ** numDigits - 1;
    const terms = Array.from({ length: numTerms }, () =>
      config.allow_negation ? rng.int(-maxValue, maxValue) : rng.int(minValue, maxValue),
    );
    const parts = [String(terms[0])];
    let result = terms[0];
    for (let i = 1; i < numTerms; i++) {
      const op = rng.choice(['+', '-'] as const);
      parts.push(op, String(terms[i]));
      result = op === '+' ? result + terms[i] : result - terms[i];
    }
    const expression = parts.join(' ');
    return {
      question: `State the final answer to the following arithmetic problem: ${expression} =`,
      answer: String(result),
      metadata: {
        source_dataset: NAME,
        source_index: index,
        num_terms: numTerms,
        num_digits: numDigits,
        expression,
        difficulty: {
          num_terms: [config.min_terms, config.max_terms],
          num_digits: [config.min_digits, config.max_digits],
        },
      },
    };
  },

  score(answer, entry) {
    return { score: computeDecimalReward(answer, String(entry.answer)) };
  },

  // Same number → 1, anything else → 0 ("The answer is 42" gets no substring credit).
  scoreStrict(answer, entry) {
    return { score: decimalExactScore(answer, String(entry.answer)) };
  },
};
