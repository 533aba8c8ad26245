// lcm: the least common multiple of a few integers. reasoning-gym's base score.

import { baseScore, checkConfig, exactScore, gcdBig } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export type LcmConfig = {
  min_numbers: number;
  max_numbers: number;
  min_value: number;
  max_value: number;
  seed: number | null;
  size: number;
};

const NAME = 'lcm';

function validate(c: LcmConfig): void {
  checkConfig(c.min_numbers >= 2, NAME, 'min_numbers must be at least 2');
  checkConfig(c.max_numbers >= c.min_numbers, NAME, 'max_numbers must be >= min_numbers');
  checkConfig(c.min_value >= 1, NAME, 'min_value must be positive');
  checkConfig(c.max_value > c.min_value, NAME, 'max_value must be > min_value');
  // Ours: metadata.result is a JSON number, so the LCM (at most the product) must stay exact.
  checkConfig(
    c.max_value ** c.max_numbers <= Number.MAX_SAFE_INTEGER,
    NAME,
    'max_value ** max_numbers must be <= 2^53 - 1',
  );
}

function lcm(a: bigint, b: bigint): bigint {
  return (a / gcdBig(a, b)) * b;
}

export const task: TaskDefinition<LcmConfig> = {
  name: NAME,
  defaults: { min_numbers: 2, max_numbers: 2, min_value: 1, max_value: 100, seed: null, size: 500 },
  levels: [
    { name: 'trivial', config: { max_value: 10 } },
    { name: 'easy', config: { max_value: 20 } },
    { name: 'medium', config: { max_value: 50 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    // Like reasoning-gym: up to 3 draws to get an LCM below the product, else keep the last draw.
    let numbers: number[] = [];
    let result = 1n;
    for (let attempt = 0; attempt < 3; attempt++) {
      const count = rng.int(config.min_numbers, config.max_numbers);
      numbers = Array.from({ length: count }, () => rng.int(config.min_value, config.max_value));
      const big = numbers.map(BigInt);
      result = big.reduce(lcm);
      if (result < big.reduce((x, y) => x * y)) break;
    }
    return {
      question: `Find the Least Common Multiple (LCM) of these numbers: ${numbers.join(', ')}`,
      answer: result.toString(),
      metadata: {
        source_dataset: NAME,
        source_index: index,
        numbers,
        result: Number(result),
        difficulty: {
          numbers: [config.min_numbers, config.max_numbers],
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
