// products: multiply integers ("13 * 88"). Scored with `compute_decimal_reward` like chain_sum.

import { checkConfig, computeDecimalReward, decimalExactScore, randIntWide } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export type ProductsConfig = {
  min_terms: number;
  max_terms: number;
  min_digits: number;
  max_digits: number;
  allow_negation: boolean;
  seed: number | null;
  size: number;
};

const NAME = 'products';

function validate(c: ProductsConfig): void {
  checkConfig(c.size > 0, NAME, 'size must be positive');
  checkConfig(c.min_terms > 0, NAME, 'min_terms must be positive');
  checkConfig(c.max_terms >= c.min_terms, NAME, 'max_terms must be >= min_terms');
  checkConfig(c.min_digits > 0, NAME, 'min_digits must be positive');
  checkConfig(c.max_digits >= c.min_digits, NAME, 'max_digits must be >= min_digits');
  // Ours: operands must be exact JS numbers (the product itself is a bigint).
  checkConfig(c.max_digits <= 15, NAME, 'max_digits must be <= 15');
}

export const task: TaskDefinition<ProductsConfig> = {
  name: NAME,
  defaults: {
    min_terms: 2,
    max_terms: 2,
    min_digits: 1,
    max_digits: 5,
    allow_negation: false,
    seed: null,
    size: 500,
  },
  levels: [
    { name: 'trivial', config: { max_digits: 1 } },
    { name: 'easy', config: { max_digits: 2 } },
    { name: 'medium', config: { max_digits: 3 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const numTerms = rng.int(config.min_terms, config.max_terms);
    const numDigits = rng.int(config.min_digits, config.max_digits);
    const maxValue = 10 ** numDigits - 1;
    let minValue: number;
    if (config.allow_negation) minValue = -maxValue;
    else minValue = numDigits === 1 ? 0 : 10 ** (numDigits - 1);
    const terms = Array.from({ length: numTerms }, () => randIntWide(rng, minValue, maxValue));
    const expression = terms.map(String).join(' * ');
    const result = terms.reduce((acc, t) => acc * BigInt(t), 1n);
    return {
      question: `Solve the following multiplication: ${expression}. Give only the result as your final answer.`,
      answer: result.toString(),
      metadata: {
        source_dataset: NAME,
        source_index: index,
        expression,
        num_terms: numTerms,
        num_digits: numDigits,
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
