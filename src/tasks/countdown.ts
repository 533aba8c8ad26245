// countdown: reach a target with all the given numbers and + - * /. The scorer parses the answer the
// way sympy's parse_expr would (expr.ts), checks the integer literals against the numbers, then the value.

import { checkConfig, pyStrip } from './common.ts';
import { type Ast, evalNumber, extractInts, parseExpr } from './expr.ts';
import { Rng } from './prng.ts';
import { numEquals, rat, toPyFloat } from './pyNumber.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export type CountdownConfig = {
  min_numbers: number;
  max_numbers: number;
  min_value: number;
  max_value: number;
  min_target: number;
  max_target: number;
  operators: string[];
  shuffle: boolean;
  seed: number | null;
  size: number;
};

const NAME = 'countdown';

const DEFAULTS: CountdownConfig = {
  min_numbers: 4,
  max_numbers: 6,
  min_value: 1,
  max_value: 100,
  min_target: 100,
  max_target: 999,
  operators: ['+', '-', '*', '/'],
  shuffle: true,
  seed: null,
  size: 500,
};

function validate(c: CountdownConfig): void {
  checkConfig(c.min_numbers > 1, NAME, 'min_numbers must be greater than 1');
  checkConfig(c.max_numbers >= c.min_numbers, NAME, 'max_numbers must be >= min_numbers');
  checkConfig(c.min_value > 0, NAME, 'min_value must be positive');
  checkConfig(c.max_value >= c.min_value, NAME, 'max_value must be >= min_value');
  checkConfig(c.min_target > 0, NAME, 'min_target must be positive');
  checkConfig(c.max_target >= c.min_target, NAME, 'max_target must be >= min_target');
  checkConfig(c.operators.length > 0, NAME, 'must specify at least one operator');
  checkConfig(
    c.operators.every((op) => ['+', '-', '*', '/'].includes(op)),
    NAME,
    'invalid operator specified',
  );
}

const QUESTION_FORMAT = `{question}

Final answer format instructions:
1. Provide your solution as a arithmetic expression (no '=' sign).
2. Do not include the target number in the expression.
3. Use '*' for multiplication.
4. Use '/' for division.
5. Do not include any other text or formatting.
`;

const TEMPLATES = [
  'Using all the numbers {numbers}, create an expression that equals {target}.\nYou can only use each number once.',
  'Find a way to make {target} using all of these numbers: {numbers}.\nEach number can only be used once.',
  'Calculate {target} using all of these numbers: {numbers}.\nEach number may be used at most once.',
];

/**
 * reasoning-gym's candidate expression (shared with puzzle24): random numbers combined left to right
 * with random operators. Division only where exact: it swaps in a later number that divides the
 * running value (so numbers may repeat), else falls back to subtraction. The value stays an integer.
 */
export function chainCandidate(
  rng: Rng,
  numTerms: number,
  minValue: number,
  maxValue: number,
  operators: readonly string[],
): { numbers: number[]; expression: string; value: bigint } {
  const numbers = Array.from({ length: numTerms }, () => rng.int(minValue, maxValue));
  let value = BigInt(numbers[0]);
  let expression = String(numbers[0]);
  let additive = false; // whether the expression so far ends in a top-level + or -
  for (let i = 1; i < numTerms; i++) {
    let op = rng.choice(operators);
    if (op === '/') {
      const remaining = rng.shuffle(numbers.slice(i).filter((n) => n !== 0));
      const divisor = remaining.find((d) => value % BigInt(d) === 0n);
      if (divisor === undefined) op = '-';
      else numbers[i] = divisor;
    }
    const n = BigInt(numbers[i]);
    if (op === '+' || op === '-') {
      value = op === '+' ? value + n : value - n;
      expression = `${expression} ${op} ${numbers[i]}`;
      additive = true;
    } else {
      value = op === '*' ? value * n : value / n;
      expression = `${additive ? `(${expression})` : expression}${op}${numbers[i]}`;
      additive = false;
    }
  }
  return { numbers, expression, value };
}

function generate(config: CountdownConfig, seed: number, index: number): TaskEntry {
  const c = { ...DEFAULTS, ...config };
  validate(c);
  const rng = Rng.forItem(seed, index);
  const numTerms = rng.int(c.min_numbers, c.max_numbers);
  // reasoning-gym tries 100 candidates; more keeps the easy levels from ever failing.
  for (let attempt = 0; attempt < 2000; attempt++) {
    const cand = chainCandidate(rng, numTerms, c.min_value, c.max_value, c.operators);
    if (cand.value < BigInt(c.min_target) || cand.value > BigInt(c.max_target)) continue;
    const numbers = c.shuffle ? rng.shuffle(cand.numbers) : cand.numbers;
    const target = Number(cand.value);
    const question = rng
      .choice(TEMPLATES)
      .replace('{numbers}', numbers.join(', '))
      .replace('{target}', String(target));
    return {
      question: QUESTION_FORMAT.replace('{question}', question),
      answer: cand.expression,
      metadata: {
        source_dataset: 'countdown',
        source_index: index,
        numbers,
        target,
        expression: cand.expression,
        difficulty: {
          numbers: [c.min_numbers, c.max_numbers],
          target: [c.min_target, c.max_target],
          value: [c.min_value, c.max_value],
        },
      },
    };
  }
  throw new Error('countdown: failed to generate a valid expression');
}

function sameMultiset(a: readonly number[], b: readonly number[]): boolean {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (answer === null || answer === undefined || pyStrip(answer) === '') return { score: 0.01 };
  let value: number;
  try {
    value = toPyFloat(evalNumber(parseExpr(answer)));
  } catch {
    return { score: 0.01 };
  }
  if (!sameMultiset(extractInts(answer), entry.metadata.numbers as number[])) return { score: 0.05 };
  // np.isclose(value, target, atol=1e-6) with its default rtol=1e-5.
  const target = Number(entry.metadata.target);
  return { score: Math.abs(value - target) <= 1e-6 + 1e-5 * Math.abs(target) ? 1 : 0.05 };
}

/** True when the tree uses only integer literals, binary + - * / and unary minus (reasoning-gym's own
 * countdown answers start with one, e.g. "-85 + 21*8"); no powers, no other operators. */
export function isPlainArithmetic(ast: Ast): boolean {
  if (ast.t === 'num') return /^[0-9]+$/.test(ast.text) && !/^0[0-9]/.test(ast.text);
  if (ast.t === 'neg') return isPlainArithmetic(ast.a);
  if (ast.t === 'bin') {
    return ['+', '-', '*', '/'].includes(ast.op) && isPlainArithmetic(ast.a) && isPlainArithmetic(ast.b);
  }
  return false;
}

/** The integer literals of a tree, left to right. */
export function literals(ast: Ast): number[] {
  if (ast.t === 'num') return [Number(ast.text)];
  if (ast.t === 'bin') return [...literals(ast.a), ...literals(ast.b)];
  if (ast.t === 'neg') return literals(ast.a);
  return [];
}

/**
 * Strict scorer: 1 only for a plain + - * / expression over exactly the given numbers whose exact value
 * is the target; else 0. No partial credit and no np.isclose tolerance (e.g. 500.004 for 500).
 */
function scoreStrict(answer: string | null, entry: TaskEntry): ScoreResult {
  if (answer === null || answer === undefined) return { score: 0 };
  try {
    const ast = parseExpr(answer);
    if (!isPlainArithmetic(ast) || !sameMultiset(literals(ast), entry.metadata.numbers as number[])) {
      return { score: 0 };
    }
    return { score: numEquals(evalNumber(ast), rat(BigInt(Number(entry.metadata.target)))) ? 1 : 0 };
  } catch {
    return { score: 0 };
  }
}

export const task: TaskDefinition<CountdownConfig> = {
  name: 'countdown',
  defaults: DEFAULTS,
  levels: [
    {
      name: 'trivial',
      config: { min_numbers: 2, max_numbers: 2, max_value: 10, min_target: 1, max_target: 30 },
    },
    {
      name: 'easy',
      config: { min_numbers: 3, max_numbers: 3, max_value: 20, min_target: 10, max_target: 100 },
    },
    {
      name: 'medium',
      config: { min_numbers: 3, max_numbers: 4, max_value: 50, min_target: 50, max_target: 500 },
    },
    { name: 'default', config: {} },
  ],
  generate,
  score,
  scoreStrict,
};
