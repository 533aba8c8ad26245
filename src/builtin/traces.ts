// Worked reasoning traces for the built-in model's training data: for each supported task, the text
// that goes between `<think>` and `</think>` — the actual computation that leads to the oracle answer,
// one small step per line (running sums for chain_sum, one operation at a time for basic_arithmetic,
// per-animal products for leg_counting, ...). Short on purpose: a model of a few hundred thousand
// parameters has to learn to write them.
import { ANIMAL_LEGS } from '../tasks/data/animals.ts';
import type { TaskEntry } from '../tasks/types.ts';

/** Builds the reasoning text for one entry; throws when the entry cannot be traced. */
export type TraceFn = (entry: TaskEntry) => string;

function meta<T>(entry: TaskEntry, key: string): T {
  const v = entry.metadata[key];
  if (v === undefined) throw new Error(`trace: entry has no metadata.${key}`);
  return v as T;
}

// ---------------------------------------------------------------------------------------------------
// chain_sum: "13 - 88 + 59" → "13 - 88 = -75\n-75 + 59 = -16"

export function chainSumTrace(entry: TaskEntry): string {
  const parts = meta<string>(entry, 'expression').split(' ');
  if (parts.length % 2 !== 1) throw new Error(`chain_sum trace: odd expression ${parts.join(' ')}`);
  let acc = BigInt(parts[0]);
  if (parts.length === 1) return `${acc} = ${acc}`;
  const lines: string[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    const op = parts[i];
    const term = BigInt(parts[i + 1]);
    const next = op === '+' ? acc + term : op === '-' ? acc - term : null;
    if (next === null) throw new Error(`chain_sum trace: unknown operator ${op}`);
    lines.push(`${acc} ${op} ${term} = ${next}`);
    acc = next;
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// basic_arithmetic: parse with Python precedence, then one line per operation in evaluation order
// (post-order): "3 + 4 * 5" → "4 * 5 = 20\n3 + 20 = 23". `/` is floor division, as the task scores it.

type Expr =
  | { kind: 'num'; value: bigint }
  | { kind: 'neg'; arg: Expr }
  | { kind: 'bin'; op: '+' | '-' | '*' | '/'; left: Expr; right: Expr };

function parseExpression(text: string): Expr {
  const tokens = text.match(/\d+|[-+*/()]|\S/g) ?? [];
  let pos = 0;
  const fail = (): never => {
    throw new Error(`basic_arithmetic trace: cannot parse ${JSON.stringify(text)} at token ${pos}`);
  };
  function sum(): Expr {
    let e = product();
    while (tokens[pos] === '+' || tokens[pos] === '-') {
      const op = tokens[pos++] as '+' | '-';
      e = { kind: 'bin', op, left: e, right: product() };
    }
    return e;
  }
  function product(): Expr {
    let e = unary();
    while (tokens[pos] === '*' || tokens[pos] === '/') {
      const op = tokens[pos++] as '*' | '/';
      e = { kind: 'bin', op, left: e, right: unary() };
    }
    return e;
  }
  function unary(): Expr {
    const t = tokens[pos];
    if (t === '-' || t === '+') {
      pos++;
      const arg = unary();
      if (t === '+') return arg;
      // A negative literal stays one number ("-7"); a negated group is a step of its own.
      return arg.kind === 'num' ? { kind: 'num', value: -arg.value } : { kind: 'neg', arg };
    }
    if (t === '(') {
      pos++;
      const e = sum();
      if (tokens[pos++] !== ')') fail();
      return e;
    }
    if (t !== undefined && /^\d+$/.test(t)) {
      pos++;
      return { kind: 'num', value: BigInt(t) };
    }
    return fail();
  }
  const e = sum();
  if (pos !== tokens.length) fail();
  return e;
}

function floorDiv(a: bigint, b: bigint): bigint {
  if (b === 0n) throw new Error('basic_arithmetic trace: division by zero');
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

function evalWithSteps(e: Expr, lines: string[]): bigint {
  if (e.kind === 'num') return e.value;
  if (e.kind === 'neg') {
    const v = evalWithSteps(e.arg, lines);
    lines.push(`-(${v}) = ${-v}`);
    return -v;
  }
  const a = evalWithSteps(e.left, lines);
  const b = evalWithSteps(e.right, lines);
  let r: bigint;
  if (e.op === '+') r = a + b;
  else if (e.op === '-') r = a - b;
  else if (e.op === '*') r = a * b;
  else r = floorDiv(a, b);
  lines.push(`${a} ${e.op} ${b} = ${r}`);
  return r;
}

export function basicArithmeticTrace(entry: TaskEntry): string {
  const lines: string[] = [];
  const value = evalWithSteps(parseExpression(meta<string>(entry, 'expression')), lines);
  if (lines.length === 0) lines.push(`${value} = ${value}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// products: one-digit factors in one line; a longer factor split by place value
// ("23 * 45 = 23 * 40 + 23 * 5\n23 * 40 = 920\n23 * 5 = 115\n920 + 115 = 1035").

function multiplyLines(a: bigint, b: bigint, lines: string[]): bigint {
  const product = a * b;
  if (a < 0n || b < 0n || a < 10n || b < 10n) {
    lines.push(`${a} * ${b} = ${product}`);
    return product;
  }
  const digits = b.toString();
  const parts: bigint[] = [];
  for (let i = 0; i < digits.length; i++) {
    const d = BigInt(digits[i]);
    if (d !== 0n) parts.push(d * 10n ** BigInt(digits.length - 1 - i));
  }
  if (parts.length === 1) {
    lines.push(`${a} * ${b} = ${product}`);
    return product;
  }
  lines.push(`${a} * ${b} = ${parts.map((p) => `${a} * ${p}`).join(' + ')}`);
  const partials = parts.map((p) => {
    lines.push(`${a} * ${p} = ${a * p}`);
    return a * p;
  });
  let acc = partials[0];
  for (let i = 1; i < partials.length; i++) {
    lines.push(`${acc} + ${partials[i]} = ${acc + partials[i]}`);
    acc += partials[i];
  }
  return acc;
}

export function productsTrace(entry: TaskEntry): string {
  const terms = meta<string>(entry, 'expression')
    .split(' * ')
    .map((t) => BigInt(t.trim()));
  let acc = terms[0];
  const lines: string[] = [];
  for (let i = 1; i < terms.length; i++) acc = multiplyLines(acc, terms[i], lines);
  if (lines.length === 0) lines.push(`${acc} = ${acc}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// leg_counting: "1 duck: 1 * 2 = 2\n3 bees: 3 * 6 = 18\n2 + 18 = 20"

export function legCountingTrace(entry: TaskEntry): string {
  const animals = meta<Record<string, number>>(entry, 'animals');
  const lines: string[] = [];
  const subtotals: number[] = [];
  for (const [animal, count] of Object.entries(animals)) {
    const legs = ANIMAL_LEGS[animal];
    if (legs === undefined) throw new Error(`leg_counting trace: unknown animal ${animal}`);
    lines.push(`${count} ${animal}${count > 1 ? 's' : ''}: ${count} * ${legs} = ${count * legs}`);
    subtotals.push(count * legs);
  }
  let acc = subtotals[0];
  for (let i = 1; i < subtotals.length; i++) {
    lines.push(`${acc} + ${subtotals[i]} = ${acc + subtotals[i]}`);
    acc += subtotals[i];
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// count_bits: "10 in binary is 1010\n1 + 1 = 2"

export function countBitsTrace(entry: TaskEntry): string {
  const binary = meta<string>(entry, 'binary');
  const n = entry.metadata.number ?? entry.metadata.n;
  const ones = [...binary].filter((b) => b === '1').length;
  const count =
    ones <= 1 ? `${ones} one${ones === 1 ? '' : 's'}` : `${Array(ones).fill('1').join(' + ')} = ${ones}`;
  return `${n} in binary is ${binary}\n${count}`;
}

// ---------------------------------------------------------------------------------------------------
// letter_counting: each word spelled out with its count, then the sum: "beam: b e a m, 1"

export function letterCountingTrace(entry: TaskEntry): string {
  const span = meta<string[]>(entry, 'span');
  const target = meta<string>(entry, 'target_letter');
  const lines: string[] = [];
  const counts: number[] = [];
  for (const word of span) {
    const letters = [...word.toLowerCase()];
    const c = letters.filter((ch) => ch === target).length;
    lines.push(`${word}: ${letters.join(' ')}, ${c}`);
    counts.push(c);
  }
  let acc = counts[0] ?? 0;
  for (let i = 1; i < counts.length; i++) {
    lines.push(`${acc} + ${counts[i]} = ${acc + counts[i]}`);
    acc += counts[i];
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// spell_backward: "bag: b a g\nbackward: g a b"

export function spellBackwardTrace(entry: TaskEntry): string {
  const letters = [...meta<string>(entry, 'word')];
  return `${letters.join(' ')}\nbackward: ${letters.slice().reverse().join(' ')}`;
}

/** Tasks with a worked trace, by reasoning-gym name. */
export const TRACES: Readonly<Record<string, TraceFn>> = Object.freeze({
  chain_sum: chainSumTrace,
  basic_arithmetic: basicArithmeticTrace,
  products: productsTrace,
  leg_counting: legCountingTrace,
  count_bits: countBitsTrace,
  letter_counting: letterCountingTrace,
  spell_backward: spellBackwardTrace,
});

export const TRACED_TASKS: readonly string[] = Object.keys(TRACES);

export function hasTrace(task: string): boolean {
  return Object.hasOwn(TRACES, task);
}

/** The worked reasoning for `entry` of `task`. */
export function traceFor(task: string, entry: TaskEntry): string {
  if (!hasTrace(task))
    throw new Error(`no worked trace for task "${task}"; traced: ${TRACED_TASKS.join(', ')}`);
  return TRACES[task](entry);
}
