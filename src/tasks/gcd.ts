// gcd: the greatest common divisor of a few integers. reasoning-gym's base score.

import { baseScore, checkConfig, exactScore, gcdInt } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export type GcdConfig = {
  min_numbers: number;
  max_numbers: number;
  min_value: number;
  max_value: number;
  seed: number | null;
  size: number;
};

const NAME = 'gcd';

function validate(c: GcdConfig): void {
  checkConfig(c.min_numbers >= 2, NAME, 'min_numbers must be at least 2');
  checkConfig(c.max_numbers >= c.min_numbers, NAME, 'max_numbers must be >= min_numbers');
  checkConfig(c.min_value >= 1, NAME, 'min_value must be positive');
  checkConfig(c.max_value > c.min_value, NAME, 'max_value must be > min_value');
  checkConfig(c.max_value - c.min_value < 2 ** 32, NAME, 'value range must be below 2^32');
}

export const task: TaskDefinition<GcdConfig> = {
  name: NAME,
  defaults: { min_numbers: 2, max_numbers: 2, min_value: 1, max_value: 1000, seed: null, size: 500 },
  levels: [
    { name: 'trivial', config: { max_value: 20 } },
    { name: 'easy', config: { max_value: 100 } },
    { name: 'medium', config: { max_value: 500 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    // Like reasoning-gym: up to 3 draws to get a GCD above 1, else keep the last draw.
    let numbers: number[] = [];
    let result = 1;
    for (let attempt = 0; attempt < 3; attempt++) {
      const count = rng.int(config.min_numbers, config.max_numbers);
      numbers = Array.from({ length: count }, () => rng.int(config.min_value, config.max_value));
      result = numbers.reduce(gcdInt);
      if (result > 1) break;
    }
    return {
      question: `Find the Greatest Common Divisor (GCD) of these numbers: ${numbers.join(', ')}. Give only the GCD as your final answer.`,
      answer: String(result),
      metadata: {
        source_dataset: NAME,
        source_index: index,
        numbers,
        result,
        num_terms: numbers.length,
        difficulty: {
          num_terms: [config.min_numbers, config.max_numbers],
          value: [config.min_value, config.max_value],
        },
      },
    };
  },

  score(answer, entry) {
    return { score: baseScore(answer, String(entry.answer)) };
  },

  scoreStrict(answer, entry) {
    return { score: exactScore(answer, String(entry.answer)) };
  },
};
