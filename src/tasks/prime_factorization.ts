// prime_factorization: write a number as a product of primes (reasoning-gym
// arithmetic/prime_factorization).
import { checkConfig, guardScore, PyError, pyInt, pyStrip } from './common.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export interface PrimeFactorizationConfig extends Record<string, unknown> {
  min_value: number;
  max_value: number;
  seed: number | null;
  size: number;
}

/** Prime factors in ascending order, with repeats (trial division; reasoning-gym's loop). */
export function primeFactors(n: number): number[] {
  const factors: number[] = [];
  let d = 2;
  while (n > 1) {
    while (n % d === 0) {
      factors.push(d);
      n /= d;
    }
    d++;
    if (d * d > n) {
      if (n > 1) factors.push(n);
      break;
    }
  }
  return factors;
}

// CPython 3.11 refuses int() on strings of more than 4300 digits.
const INT_MAX_STR_DIGITS = 4300;

/** reasoning-gym's _normalize_answer: split on "×", int() each non-blank piece, sort. */
function normalize(answer: string): bigint[] {
  if (answer === '' || pyStrip(answer) === '') return [];
  const out: bigint[] = [];
  for (const piece of answer.split('×')) {
    const factor = pyStrip(piece);
    if (factor === '') continue;
    const digits = factor.replace(/[^\p{Nd}]/gu, '').length;
    if (digits > INT_MAX_STR_DIGITS && /^[+-]?[\p{Nd}_]+$/u.test(factor)) {
      throw new PyError(
        'ValueError',
        `Exceeds the limit (${INT_MAX_STR_DIGITS} digits) for integer string conversion: value has ${digits} digits; use sys.set_int_max_str_digits() to increase the limit`,
      );
    }
    out.push(pyInt(factor));
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const product = (xs: readonly bigint[]): bigint => xs.reduce((p, x) => p * x, 1n);
const sameList = (a: readonly bigint[], b: readonly bigint[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

export const task: TaskDefinition<PrimeFactorizationConfig> = {
  name: 'prime_factorization',
  defaults: { min_value: 2, max_value: 1000, seed: null, size: 500 },
  levels: [
    { name: 'trivial', config: { max_value: 20 } },
    { name: 'easy', config: { max_value: 100 } },
    { name: 'medium', config: { max_value: 300 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    checkConfig(config.min_value >= 2, 'prime_factorization', 'min_value must be >= 2');
    checkConfig(
      config.max_value >= config.min_value,
      'prime_factorization',
      'max_value must be >= min_value',
    );
    const rng = Rng.forItem(seed, index);
    const number = rng.int(config.min_value, config.max_value);
    const factors = primeFactors(number);
    return {
      question:
        `Find the prime factorization of ${number}. Write the factors separated by × ` +
        '(Example: for 12 the answer would be: 2 × 2 × 3)',
      answer: factors.join(' × '),
      metadata: {
        source_dataset: 'prime_factorization',
        source_index: index,
        number,
        factors,
        difficulty: { value: [config.min_value, config.max_value] },
      },
    };
  },

  // Same factors in any order → 1; same product (e.g. the number itself) → 0.5; else 0.01; None → 0.
  // Non-numeric pieces raise ValueError in reasoning-gym (reported as an error).
  score(answer, entry): ScoreResult {
    if (answer === null) return { score: 0 };
    return guardScore(() => {
      const oracle = normalize(String(entry.answer));
      const given = normalize(answer);
      if (sameList(oracle, given)) return 1;
      if (product(oracle) === product(given)) return 0.5;
      return 0.01;
    });
  },

  // No credit for the same product or for unparsable text: only the right factors (any order).
  scoreStrict(answer, entry): ScoreResult {
    if (answer === null) return { score: 0 };
    const result = task.score(answer, entry);
    return { ...result, score: result.score === 1 ? 1 : 0 };
  },
};
