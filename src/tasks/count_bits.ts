// count_bits: how many 1 bits a number has in binary. reasoning-gym's base score.

import { baseScore, checkConfig, exactScore, randIntWide } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export type CountBitsConfig = {
  min_n: number;
  max_n: number;
  size: number;
  seed: number | null;
};

const NAME = 'count_bits';

function validate(c: CountBitsConfig): void {
  checkConfig(1 <= c.min_n && c.min_n <= c.max_n, NAME, 'min_n must be between 1 and max_n');
  checkConfig(Number.isSafeInteger(c.max_n), NAME, 'max_n must be <= 2^53 - 1');
}

export const task: TaskDefinition<CountBitsConfig> = {
  name: NAME,
  defaults: { min_n: 1, max_n: 2 ** 31 - 1, size: 500, seed: null },
  levels: [
    { name: 'trivial', config: { max_n: 10 } },
    { name: 'easy', config: { max_n: 1_000 } },
    { name: 'medium', config: { max_n: 1_000_000 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const number = randIntWide(rng, config.min_n, config.max_n);
    const binary = number.toString(2);
    const ones = binary.split('').filter((b) => b === '1').length;
    return {
      question: `How many 1 bits are there in the binary representation of the number ${number}?`,
      answer: String(ones),
      metadata: {
        source_dataset: NAME,
        source_index: index,
        number,
        solution: ones,
        binary,
        n: number,
        difficulty: { n: [config.min_n, config.max_n] },
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
