// The six numeric tasks: scorers against the golden scores, generators checked independently.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalFloorDiv } from '../../src/tasks/basic_arithmetic.ts';
import { TaskConfigError } from '../../src/tasks/common.ts';
import { generateDataset, parseJsonl } from '../../src/tasks/dataset.ts';
import { getTask } from '../../src/tasks/registry.ts';
import type { TaskEntry } from '../../src/tasks/types.ts';
import { RG_DIR } from '../helpers/fixtures.ts';

const NUMERIC = ['basic_arithmetic', 'chain_sum', 'products', 'gcd', 'lcm', 'count_bits'];

function fixture(task: string) {
  return parseJsonl(readFileSync(join(RG_DIR, `${task}.jsonl`), 'utf8'), task);
}

describe.each(NUMERIC)('%s scorer on the golden scores', (name) => {
  it('matches every recorded score exactly', () => {
    const task = getTask(name);
    let n = 0;
    type Rec = { candidate: string | null; score: number; kind: string };
    for (const item of fixture(name)) {
      const recs = (item.raw?.scores ?? []) as Rec[];
      for (const rec of recs) {
        expect(task.score(rec.candidate, item.entry), `${item.raw?.index} ${rec.kind}`).toEqual({
          score: rec.score,
        });
        n++;
      }
    }
    expect(n).toBe(25 * 7);
  });

  it('strict scoring keeps full marks and removes substring credit', () => {
    const task = getTask(name);
    for (const { entry } of fixture(name)) {
      const oracle = entry.answer as string;
      expect(task.scoreStrict?.(oracle, entry).score).toBe(1);
      expect(task.scoreStrict?.(`The answer is ${oracle}`, entry).score).toBe(0);
    }
  });
});

describe('decimal tolerance of chain_sum and products (README rules)', () => {
  it('accepts "-23.0", padding and "+01"-style spellings', () => {
    const entry = fixture('chain_sum')[0].entry;
    const s = (a: string) => getTask('chain_sum').score(a, entry).score;
    expect([s('-23.0'), s(' -23 '), s('-023'), s('-2,3'), s('-23e0'), s('-22')]).toEqual([1, 1, 1, 1, 1, 0]);
  });
  it('basic_arithmetic does not: "-1462.0" is partial credit', () => {
    const entry = fixture('basic_arithmetic')[0].entry;
    expect(getTask('basic_arithmetic').score('-1462.0', entry).score).toBe(5 / 7);
  });
});

// ---------------------------------------------------------------------------------------------------
// Independent checks of generated items

/** Shunting-yard evaluation (a different algorithm from evalFloorDiv) that also demands exact `/`. */
function exactEval(expression: string): bigint {
  const tokens = expression.match(/\d+|[-+*/()]/g) ?? [];
  const out: bigint[] = [];
  const ops: string[] = [];
  const prec: Record<string, number> = { '+': 1, '-': 1, '*': 2, '/': 2, neg: 3 };
  const apply = (op: string) => {
    if (op === 'neg') {
      out.push(-(out.pop() as bigint));
      return;
    }
    const b = out.pop() as bigint;
    const a = out.pop() as bigint;
    if (op === '/') {
      if (b === 0n || a % b !== 0n) throw new Error(`inexact ${a} / ${b} in ${expression}`);
      out.push(a / b);
    } else out.push(op === '+' ? a + b : op === '-' ? a - b : a * b);
  };
  let expectOperand = true;
  for (const t of tokens) {
    if (/\d/.test(t)) {
      out.push(BigInt(t));
      expectOperand = false;
    } else if (t === '(') {
      ops.push(t);
      expectOperand = true;
    } else if (t === ')') {
      while (ops.at(-1) !== '(') apply(ops.pop() as string);
      ops.pop();
      expectOperand = false;
    } else if (expectOperand && t === '-') {
      ops.push('neg'); // prefix: binds tighter than * and /, applied right to left
    } else {
      while (ops.length && ops.at(-1) !== '(' && prec[ops.at(-1) as string] >= prec[t])
        apply(ops.pop() as string);
      ops.push(t);
      expectOperand = true;
    }
  }
  while (ops.length) apply(ops.pop() as string);
  return out[0];
}

function items(name: string, level: string, seed: number, n = 200): TaskEntry[] {
  return generateDataset(name, level, seed, n).map((i) => i.entry);
}

const LEVELS = ['trivial', 'easy', 'medium', 'default'];

describe('basic_arithmetic', () => {
  it('evaluates every golden expression to its answer (Python // semantics)', () => {
    for (const { entry } of fixture('basic_arithmetic')) {
      expect(evalFloorDiv(entry.metadata.expression as string).toString()).toBe(entry.answer);
    }
    expect(evalFloorDiv('-7 / 2')).toBe(-4n);
    expect(evalFloorDiv('- -( 2 * 3 )')).toBe(6n);
    expect(() => evalFloorDiv('1 +')).toThrow(/cannot parse/);
  });

  it.each(LEVELS)('level %s: exact divisions, right answer, terms and digits within the config', (level) => {
    const task = getTask('basic_arithmetic');
    for (const seed of [1, 2, 3]) {
      for (const e of items('basic_arithmetic', level, seed)) {
        const expr = e.metadata.expression as string;
        expect(e.question).toBe(`Calculate ${expr}.`);
        expect(exactEval(expr).toString()).toBe(e.answer);
        const numbers = expr.match(/\d+/g) ?? [];
        expect(numbers.length).toBe(e.metadata.num_terms);
        for (const d of numbers) expect(d.length).toBeLessThanOrEqual(e.metadata.num_digits as number);
        const [lo, hi] = (e.metadata.difficulty as { num_terms: number[] }).num_terms;
        expect(e.metadata.num_terms).toBeGreaterThanOrEqual(lo);
        expect(e.metadata.num_terms).toBeLessThanOrEqual(hi);
        if (level === 'trivial') expect(expr).toMatch(/^-?\d+ [-+] -?\d+$/);
        expect(task.score(e.answer, e).score).toBe(1);
      }
    }
  });

  it('supports the natural format and the other whitespace styles', () => {
    const natural = items('basic_arithmetic', 'default', 5, 50);
    const task = getTask('basic_arithmetic');
    const cfg = { ...task.defaults, format_style: 'natural', whitespace: 'no_space' };
    for (let i = 0; i < 50; i++) {
      const e = task.generate(cfg, 5, i);
      const expr = e.metadata.expression as string;
      expect(expr).not.toContain(' ');
      expect(e.question).toMatch(/^(What is .*\?|Solve .*\.|Compute .*\.|Evaluate: .*\.)$/);
      expect(exactEval(expr).toString()).toBe(e.answer);
    }
    const random = { ...task.defaults, whitespace: 'random' };
    for (let i = 0; i < 50; i++) {
      const e = task.generate(random, 5, i);
      expect(exactEval(e.metadata.expression as string).toString()).toBe(e.answer);
    }
    expect(natural).toHaveLength(50);
  });

  it('rejects invalid configs', () => {
    const task = getTask('basic_arithmetic');
    expect(() => task.generate({ ...task.defaults, operators: ['%'] }, 1, 0)).toThrow(TaskConfigError);
    expect(() => task.generate({ ...task.defaults, operators: ['/'] }, 1, 0)).toThrow(TaskConfigError);
    expect(() => task.generate({ ...task.defaults, min_terms: 0 }, 1, 0)).toThrow(
      /min_terms must be positive/,
    );
  });
});

describe('chain_sum and products', () => {
  it.each(LEVELS)(
    'chain_sum level %s: the sum of the written terms, with num_digits-digit terms',
    (level) => {
      for (const e of items('chain_sum', level, 11)) {
        const expr = e.metadata.expression as string;
        expect(e.question).toBe(`State the final answer to the following arithmetic problem: ${expr} =`);
        const parts = expr.split(' ');
        let sum = Number(parts[0]);
        for (let i = 1; i < parts.length; i += 2) sum += (parts[i] === '+' ? 1 : -1) * Number(parts[i + 1]);
        expect(String(sum)).toBe(e.answer);
        const d = e.metadata.num_digits as number;
        for (let i = 0; i < parts.length; i += 2) {
          if (d === 1) expect(parts[i]).toMatch(/^\d$/);
          else expect(parts[i]).toMatch(new RegExp(`^[1-9]\\d{${d - 1}}$`));
        }
        expect((parts.length + 1) / 2).toBe(e.metadata.num_terms);
      }
    },
  );

  it('chain_sum with allow_negation writes negative terms', () => {
    const task = getTask('chain_sum');
    const qs = Array.from({ length: 100 }, (_, i) =>
      task.generate({ ...task.defaults, allow_negation: true }, 3, i),
    );
    expect(qs.some((e) => /(^|\s)-\d/.test(e.metadata.expression as string))).toBe(true);
  });

  it.each(LEVELS)('products level %s: the exact product (bigint) of the terms', (level) => {
    for (const e of items('products', level, 12)) {
      const terms = (e.metadata.expression as string).split(' * ');
      expect(terms.length).toBe(e.metadata.num_terms);
      expect(terms.reduce((a, t) => a * BigInt(t), 1n).toString()).toBe(e.answer);
      expect(e.question).toBe(
        `Solve the following multiplication: ${e.metadata.expression}. Give only the result as your final answer.`,
      );
    }
  });

  it('products stays exact beyond 2^53', () => {
    const task = getTask('products');
    const e = task.generate(
      { ...task.defaults, min_terms: 3, max_terms: 3, min_digits: 9, max_digits: 9 },
      4,
      0,
    );
    const terms = (e.metadata.expression as string).split(' * ').map(BigInt);
    expect(terms[0] * terms[1] * terms[2]).toBe(BigInt(e.answer as string));
    expect(BigInt(e.answer as string) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
  });
});

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

describe('gcd, lcm, count_bits', () => {
  it.each(LEVELS)('gcd level %s: divides every number and leaves coprime quotients', (level) => {
    for (const e of items('gcd', level, 21)) {
      const numbers = e.metadata.numbers as number[];
      const g = Number(e.answer);
      expect(e.metadata.result).toBe(g);
      for (const n of numbers) expect(n % g).toBe(0);
      expect(numbers.map((n) => n / g).reduce(gcd)).toBe(1);
      expect(e.question).toBe(
        `Find the Greatest Common Divisor (GCD) of these numbers: ${numbers.join(', ')}. Give only the GCD as your final answer.`,
      );
      const [lo, hi] = (e.metadata.difficulty as { value: number[] }).value;
      for (const n of numbers) expect(n >= lo && n <= hi).toBe(true);
    }
  });

  it.each(LEVELS)('lcm level %s: a common multiple with coprime cofactors (so the least)', (level) => {
    for (const e of items('lcm', level, 22)) {
      const numbers = e.metadata.numbers as number[];
      const l = Number(e.answer);
      expect(e.metadata.result).toBe(l);
      for (const n of numbers) expect(l % n).toBe(0);
      expect(numbers.map((n) => l / n).reduce(gcd)).toBe(1);
      expect(e.question).toBe(`Find the Least Common Multiple (LCM) of these numbers: ${numbers.join(', ')}`);
    }
  });

  it.each(LEVELS)('count_bits level %s: the 1 bits of the number', (level) => {
    for (const e of items('count_bits', level, 23)) {
      const n = e.metadata.number as number;
      let bits = 0;
      for (let v = BigInt(n); v > 0n; v >>= 1n) bits += Number(v & 1n);
      expect(e.answer).toBe(String(bits));
      expect(Number.parseInt(e.metadata.binary as string, 2)).toBe(n);
      expect(e.metadata.n).toBe(n);
      expect(e.question).toBe(`How many 1 bits are there in the binary representation of the number ${n}?`);
    }
  });

  it('validates configs like reasoning-gym', () => {
    expect(() => getTask('gcd').generate({ ...getTask('gcd').defaults, min_numbers: 1 }, 0, 0)).toThrow(
      TaskConfigError,
    );
    expect(() => getTask('lcm').generate({ ...getTask('lcm').defaults, max_value: 1 }, 0, 0)).toThrow(
      /max_value must be > min_value/,
    );
    expect(() =>
      getTask('count_bits').generate({ ...getTask('count_bits').defaults, min_n: 0 }, 0, 0),
    ).toThrow(TaskConfigError);
  });
});
