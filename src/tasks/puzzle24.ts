// puzzle24: make 24 from four numbers. reasoning-gym's scorer is loose: it truncates the value with
// int() and only counts the integer literals (4 of them, within [min_value, max_value]), never checking
// them against the puzzle's numbers; scoreStrict closes both gaps.

import { checkConfig, pyStrip } from './common.ts';
import { chainCandidate, isPlainArithmetic, literals } from './countdown.ts';
import { evalNumber, extractInts, parseExpr } from './expr.ts';
import { Rng } from './prng.ts';
import { numEquals, rat, toPyInt } from './pyNumber.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export type Puzzle24Config = {
  operators: string[];
  min_value: number;
  max_value: number;
  seed: number | null;
  size: number;
};

const NAME = 'puzzle24';

const DEFAULTS: Puzzle24Config = {
  operators: ['+', '-', '*', '/'],
  min_value: 1,
  max_value: 10,
  seed: null,
  size: 500,
};

function validate(c: Puzzle24Config): void {
  checkConfig(c.operators.length > 0, NAME, 'At least one operator is required');
  checkConfig(c.min_value <= c.max_value, NAME, 'Minimum value must be less than or equal to maximum value');
  checkConfig(c.min_value >= 1, NAME, 'Minimum value must be at least 1');
  checkConfig(c.max_value <= 10, NAME, 'Maximum value must be at most 10');
  checkConfig(c.size > 0, NAME, 'Size must be greater than 0');
}

const QUESTION_TEMPLATE = `Make 24 using {numbers}. You can only use each number once. You can use the operators {operators}.
Final answer format instructions:
1. Provide your final answer as a arithmetic expression (no '=' sign).
2. Do not include the target number in the expression.
3. Use '*' for multiplication.
4. Use '/' for division.
`;

function generate(config: Puzzle24Config, seed: number, index: number): TaskEntry {
  const c = { ...DEFAULTS, ...config };
  validate(c);
  const rng = Rng.forItem(seed, index);
  // reasoning-gym retries forever; a bound turns an impossible config into an error instead of a hang.
  for (let attempt = 0; attempt < 200_000; attempt++) {
    const cand = chainCandidate(rng, 4, c.min_value, c.max_value, c.operators);
    if (cand.value !== 24n) continue;
    return {
      question: QUESTION_TEMPLATE.replace('{numbers}', cand.numbers.join(', ')).replace(
        '{operators}',
        c.operators.join(', '),
      ),
      answer: cand.expression,
      metadata: {
        source_dataset: 'puzzle24',
        source_index: index,
        numbers: cand.numbers,
        difficulty: { value: [c.min_value, c.max_value] },
      },
    };
  }
  throw new Error('puzzle24: no expression reaching 24 for this config');
}

// reasoning-gym reads the bounds from the dataset's config; the entry records them in difficulty.value.
function valueRange(entry: TaskEntry): [number, number] {
  const r = (entry.metadata.difficulty as { value?: [number, number] } | undefined)?.value;
  return r ?? [DEFAULTS.min_value, DEFAULTS.max_value];
}

function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (answer === null || answer === undefined) return { score: 0.01 };
  try {
    const s = pyStrip(answer);
    const solved = toPyInt(evalNumber(parseExpr(s))) === 24n;
    const used = extractInts(s);
    const [lo, hi] = valueRange(entry);
    if (used.length !== 4 || used.some((n) => n > hi || n < lo) || !solved) return { score: 0.01 };
    return { score: 1 };
  } catch {
    return { score: 0.01 };
  }
}

/** Strict scorer: 1 only for + - * / over exactly the puzzle's four numbers with exact value 24; else 0. */
function scoreStrict(answer: string | null, entry: TaskEntry): ScoreResult {
  if (answer === null || answer === undefined) return { score: 0 };
  try {
    const ast = parseExpr(answer);
    const want = [...(entry.metadata.numbers as number[])].sort((a, b) => a - b);
    const got = literals(ast).sort((a, b) => a - b);
    const sameNumbers = got.length === want.length && got.every((v, i) => v === want[i]);
    if (!isPlainArithmetic(ast) || !sameNumbers) return { score: 0 };
    return { score: numEquals(evalNumber(ast), rat(24n)) ? 1 : 0 };
  } catch {
    return { score: 0 };
  }
}

export const task: TaskDefinition<Puzzle24Config> = {
  name: 'puzzle24',
  defaults: DEFAULTS,
  levels: [
    { name: 'trivial', config: { min_value: 1, max_value: 4 } },
    { name: 'easy', config: { min_value: 1, max_value: 6 } },
    { name: 'medium', config: { min_value: 1, max_value: 8 } },
    { name: 'default', config: {} },
  ],
  generate,
  score,
  scoreStrict,
};
