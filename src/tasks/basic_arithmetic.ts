// basic_arithmetic: integer expressions with + - * / and parentheses ("-( -45 / ( -8 * -67 + -535 ) )").
// As in reasoning-gym the answer is the expression evaluated by Python with `/` read as `//`; our
// generator only divides an operand by one of its divisors, so every division is exact.
// Deviation: with allow_parentheses=false reasoning-gym evaluates left to right, ignoring precedence
// (a bug); we use the same generator without parentheses, so the answer is always the true value.
// Scored with reasoning-gym's base score ("-1462.0" gets 0.714, not 1).

import { baseScore, checkConfig, exactScore, pyFloorDiv } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

type Operator = '+' | '-' | '*' | '/';

export type BasicArithmeticConfig = {
  min_terms: number;
  max_terms: number;
  min_digits: number;
  max_digits: number;
  operators: Operator[];
  allow_parentheses: boolean;
  allow_negation: boolean;
  seed: number | null;
  size: number;
  format_style: 'simple' | 'natural';
  whitespace: 'no_space' | 'single' | 'random';
};

const NAME = 'basic_arithmetic';

function validate(c: BasicArithmeticConfig): void {
  checkConfig(c.min_terms > 0, NAME, 'min_terms must be positive');
  checkConfig(c.max_terms >= c.min_terms, NAME, 'max_terms must be >= min_terms');
  checkConfig(c.min_digits > 0, NAME, 'min_digits must be positive');
  checkConfig(c.max_digits >= c.min_digits, NAME, 'max_digits must be >= min_digits');
  checkConfig(c.operators.length > 0, NAME, 'must provide at least one operator');
  for (const op of c.operators)
    checkConfig(['+', '-', '*', '/'].includes(op), NAME, `unsupported operator: ${op}`);
  // Ours: terms are joined with +, - or *, and operands stay within one 32-bit draw.
  checkConfig(
    c.operators.some((op) => op !== '/'),
    NAME,
    'operators must include +, - or *',
  );
  checkConfig(c.max_digits <= 9, NAME, 'max_digits must be <= 9');
  checkConfig(['simple', 'natural'].includes(c.format_style), NAME, `unknown format_style ${c.format_style}`);
  checkConfig(
    ['no_space', 'single', 'random'].includes(c.whitespace),
    NAME,
    `unknown whitespace ${c.whitespace}`,
  );
}

// ---------------------------------------------------------------------------------------------------
// Python-semantics evaluator: integers, + - * and `/` as floor division, unary signs, parentheses.

/** Evaluates `expression` the way reasoning-gym's `eval(expr.replace("/", "//"))` does. */
export function evalFloorDiv(expression: string): bigint {
  const tokens = expression.match(/\d+|[-+*/()]|\S/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos];
  const fail = (): never => {
    throw new Error(`evalFloorDiv: cannot parse ${JSON.stringify(expression)} at token ${pos}`);
  };

  // Python precedence: unary sign binds tighter than * and //, which bind tighter than + and -.
  function sum(): bigint {
    let v = product();
    while (peek() === '+' || peek() === '-') {
      const op = tokens[pos++];
      const r = product();
      v = op === '+' ? v + r : v - r;
    }
    return v;
  }
  function product(): bigint {
    let v = unary();
    while (peek() === '*' || peek() === '/') {
      const op = tokens[pos++];
      const r = unary();
      v = op === '*' ? v * r : pyFloorDiv(v, r);
    }
    return v;
  }
  function unary(): bigint {
    const t = peek();
    if (t === '-' || t === '+') {
      pos++;
      const v = unary();
      return t === '-' ? -v : v;
    }
    if (t === '(') {
      pos++;
      const v = sum();
      if (tokens[pos++] !== ')') fail();
      return v;
    }
    if (t !== undefined && /^\d+$/.test(t)) {
      pos++;
      return BigInt(t);
    }
    return fail();
  }

  const value = sum();
  if (pos !== tokens.length) fail();
  return value;
}

// ---------------------------------------------------------------------------------------------------
// Generator

/** Divisors of |n| below `limit`, by trial division (bounded, since a group's value can be large). */
function smallDivisors(n: bigint, limit: number): number[] {
  const abs = n < 0n ? -n : n;
  const out: number[] = [];
  const maxTrial = Math.min(limit - 1, 100_000);
  for (let i = 1; i <= maxTrial; i++) {
    const bi = BigInt(i);
    if (bi * bi > abs) break;
    if (abs % bi === 0n) {
      out.push(i);
      const co = abs / bi;
      if (co !== bi && co < BigInt(limit)) out.push(Number(co));
    }
  }
  return out;
}

function buildExpression(rng: Rng, c: BasicArithmeticConfig, numTerms: number, numDigits: number): string[] {
  const limit = 10 ** numDigits;
  const joinOps = c.operators.filter((op) => op !== '/');

  // Same shape as reasoning-gym's add_terms: a left block (numbers, or a parenthesised group), then
  // an operator and the remaining terms.
  function addTerms(remaining: number): string[] {
    const numLeft = rng.int(1, remaining);
    const numRight = remaining - numLeft;
    const left: string[] = [];
    if (numLeft > 1 && c.allow_parentheses && rng.random() > 0.5) {
      left.push(c.allow_negation && rng.random() > 0.5 ? '-(' : '(');
      left.push(...addTerms(numLeft), ')');
    } else {
      for (let i = 0; i < numLeft; i++) {
        left.push(String(rng.int(-limit + 1, limit - 1)));
        if (i + 1 < numLeft) left.push(rng.choice(joinOps));
      }
    }
    if (numRight === 0) return left;

    const op = rng.choice(c.operators);
    if (op !== '/') {
      left.push(op, ...addTerms(numRight));
      return left;
    }
    // Divide the last operand (the group, or the last number) by one of its divisors: exact.
    const last = left[left.length - 1];
    const dividend = last === ')' ? evalFloorDiv(left.join(' ')) : BigInt(last);
    const divisor = dividend === 0n ? rng.int(1, limit - 1) : rng.choice(smallDivisors(dividend, limit));
    left.push('/', String(divisor));
    if (numRight > 1) left.push(rng.choice(joinOps), ...addTerms(numRight - 1));
    return left;
  }

  return addTerms(numTerms);
}

function joinParts(rng: Rng, c: BasicArithmeticConfig, parts: string[]): string {
  if (c.whitespace === 'no_space') return parts.join('');
  if (c.whitespace === 'single') return parts.join(' ');
  // random: a space before a part with probability 0.15
  return parts
    .map((p) => (rng.random() < 0.15 ? ' ' + p : p))
    .join('')
    .trim();
}

const NATURAL_TEMPLATES = ['What is {0}?', 'Solve {0}.', 'Compute {0}.', 'Evaluate: {0}.'];

export const task: TaskDefinition<BasicArithmeticConfig> = {
  name: NAME,
  defaults: {
    min_terms: 2,
    max_terms: 6,
    min_digits: 1,
    max_digits: 4,
    operators: ['+', '-', '*', '/'],
    allow_parentheses: true,
    allow_negation: true,
    seed: null,
    size: 500,
    format_style: 'simple',
    whitespace: 'single',
  },
  levels: [
    {
      name: 'trivial',
      config: {
        max_terms: 2,
        max_digits: 1,
        operators: ['+', '-'],
        allow_parentheses: false,
        allow_negation: false,
      },
    },
    {
      name: 'easy',
      config: { max_terms: 3, max_digits: 1, operators: ['+', '-', '*'], allow_parentheses: false },
    },
    { name: 'medium', config: { max_terms: 4, max_digits: 2 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const numTerms = rng.int(config.min_terms, config.max_terms);
    const numDigits = rng.int(config.min_digits, config.max_digits);
    const parts = buildExpression(rng, config, numTerms, numDigits);
    const expression = joinParts(rng, config, parts);
    const result = evalFloorDiv(expression); // exact: divisors are never 0
    const question =
      config.format_style === 'simple'
        ? `Calculate ${expression}.`
        : rng.choice(NATURAL_TEMPLATES).replace('{0}', expression);
    return {
      question,
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
    return { score: baseScore(answer, String(entry.answer)) };
  },

  scoreStrict(answer, entry) {
    return { score: exactScore(answer, String(entry.answer)) };
  },
};
