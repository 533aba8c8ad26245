// number_sorting: sort a list of decimal numbers (reasoning-gym algorithmic/number_sorting).
import { checkConfig, PyError, pyFloat, pyFloatRepr, pyStrRepr } from './common.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export interface NumberSortingConfig extends Record<string, unknown> {
  min_numbers: number;
  max_numbers: number;
  min_decimals: number;
  max_decimals: number;
  min_value: number;
  max_value: number;
  seed: number | null;
  size: number;
}

const INSTRUCTION = `
Please follow the instruction below:
## 1. Let all your answers be a list of numbers. Instead of reporting your answer as -69, -13, 1, 7, 11, 43, 59, 61, use ['-69', '-13', '1', '7', '11', '43', '59', '61'] instead
## 2. Convert all numbers in the square brackets as strings. For example, ['-69', '-13', '1', '7', '11', '43', '59', '61']
`;

/** numpy's round(x, d): scale, round half to even, scale back. */
function npRound(x: number, decimals: number): number {
  const scale = 10 ** decimals;
  const y = x * scale;
  let r = Math.round(y);
  if (Math.abs(y % 1) === 0.5 && r % 2 !== 0) r -= 1; // Math.round sends halves up; numpy to even
  return r / scale;
}

// ---------------------------------------------------------------------------------------------------
// Python's json.loads, only as far as this scorer can tell apart: anything but a flat list of
// numbers, strings and booleans ends in 0.0 whatever it is, so other values just mark "unusable".

/** A list element after Python's float(): its value and which Python object it is. */
interface PyFloatObj {
  v: number;
  /** Object identity; all JSON `NaN` literals are one shared object in Python, so they share id 0. */
  id: number;
}

type JsonItem =
  | { kind: 'number'; v: number; shared: boolean }
  | { kind: 'str'; v: string }
  | { kind: 'other' };

class JsonFail extends Error {}

/** Parses Python-json text whose top level must be a list; returns its items, or null if it isn't a list. */
function parseJsonList(text: string): JsonItem[] | null {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = (): never => {
    throw new JsonFail();
  };
  const literal = (word: string): boolean => {
    if (!text.startsWith(word, i)) return false;
    i += word.length;
    return true;
  };

  const parseString = (): string => {
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) fail();
      const c = text[i++];
      if (c === '"') return out;
      if (c.charCodeAt(0) < 0x20) fail(); // strict mode: raw control characters are invalid
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[i++];
      const simple: Record<string, string> = {
        '"': '"',
        '\\': '\\',
        '/': '/',
        b: '\b',
        f: '\f',
        n: '\n',
        r: '\r',
        t: '\t',
      };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === 'u') {
        const hex = text.slice(i, i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail();
        out += String.fromCharCode(Number.parseInt(hex, 16));
        i += 4;
      } else fail();
    }
  };

  // Nested arrays, objects and null come back as "other" (once they have parsed).
  const parseValue = (depth: number): JsonItem => {
    if (depth > 900) fail(); // Python would hit RecursionError, also a 0.0
    const c = text[i];
    if (c === '"') return { kind: 'str', v: parseString() };
    if (c === '[') {
      parseArray(depth + 1);
      return { kind: 'other' };
    }
    if (c === '{') {
      parseObject(depth + 1);
      return { kind: 'other' };
    }
    if (literal('null')) return { kind: 'other' };
    if (literal('true')) return { kind: 'number', v: 1, shared: false };
    if (literal('false')) return { kind: 'number', v: 0, shared: false };
    if (literal('NaN')) return { kind: 'number', v: Number.NaN, shared: true };
    if (literal('Infinity')) return { kind: 'number', v: Infinity, shared: true };
    if (literal('-Infinity')) return { kind: 'number', v: -Infinity, shared: true };
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/.exec(text.slice(i));
    if (!m) fail();
    i += m![0].length;
    // A Python int too big for a float raises OverflowError in float(); Infinity fails the same checks.
    return { kind: 'number', v: Number(m![0]), shared: false };
  };

  const parseArray = (depth: number): JsonItem[] => {
    i++; // [
    const items: JsonItem[] = [];
    ws();
    if (text[i] === ']') {
      i++;
      return items;
    }
    for (;;) {
      ws();
      items.push(parseValue(depth));
      ws();
      if (text[i] === ',') i++;
      else if (text[i] === ']') {
        i++;
        return items;
      } else fail();
    }
  };

  const parseObject = (depth: number): void => {
    i++; // {
    ws();
    if (text[i] === '}') {
      i++;
      return;
    }
    for (;;) {
      ws();
      if (text[i] !== '"') fail();
      parseString();
      ws();
      if (text[i++] !== ':') fail();
      ws();
      parseValue(depth);
      ws();
      if (text[i] === ',') i++;
      else if (text[i++] === '}') return;
      else fail();
    }
  };

  try {
    ws();
    if (i >= text.length) return null;
    let items: JsonItem[] | null = null;
    if (text[i] === '[') items = parseArray(1);
    else parseValue(1); // valid JSON but not a list: still 0.0, yet must parse to the end
    ws();
    if (i !== text.length) return null; // "Extra data"
    return items;
  } catch (e) {
    if (e instanceof JsonFail) return null;
    throw e;
  }
}

/** float() of each item (Python objects); null where float() raises. */
function toFloats(items: JsonItem[]): PyFloatObj[] | null {
  let nextId = 1;
  const out: PyFloatObj[] = [];
  for (const item of items) {
    if (item.kind === 'other') return null;
    if (item.kind === 'number') {
      out.push({ v: item.v, id: item.shared ? 0 : nextId++ });
      continue;
    }
    try {
      out.push({ v: pyFloat(item.v), id: nextId++ }); // float('nan') makes a new object each time
    } catch (e) {
      if (e instanceof PyError) return null;
      throw e;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// `user_floats == sorted(user_floats)`. Without NaN that is "non-decreasing". With NaN every `<` is
// false, so the result depends on how CPython's sort moves items; for lists under 64 items CPython 3.11
// does one run scan plus binary insertion, which we replay exactly.

const lt = (a: PyFloatObj, b: PyFloatObj): boolean => a.v < b.v;
// Python's list == checks identity first, so a NaN equals itself.
const same = (a: PyFloatObj, b: PyFloatObj): boolean => a.id === b.id || a.v === b.v;

function cpythonSorted(items: readonly PyFloatObj[], reverse: boolean): PyFloatObj[] | null {
  const a = items.slice();
  if (reverse) a.reverse(); // list.sort(reverse=True) reverses, sorts stably, reverses back
  const n = a.length;
  if (n >= 2) {
    let run = 2;
    const descending = lt(a[1], a[0]);
    if (descending) while (run < n && lt(a[run], a[run - 1])) run++;
    else while (run < n && !lt(a[run], a[run - 1])) run++;
    if (descending) {
      const head = a.slice(0, run).reverse();
      a.splice(0, run, ...head);
    }
    if (run < n) {
      if (n >= 64) return null; // would need timsort's merges: not replayed
      for (let start = run; start < n; start++) {
        const pivot = a[start];
        let l = 0;
        let r = start;
        do {
          const p = l + ((r - l) >> 1);
          if (lt(pivot, a[p])) r = p;
          else l = p + 1;
        } while (l < r);
        a.splice(start, 1);
        a.splice(l, 0, pivot);
      }
    }
  }
  if (reverse) a.reverse();
  return a;
}

function isSortedLikePython(xs: readonly PyFloatObj[], direction: string): boolean {
  const reverse = direction !== 'ascending';
  if (!xs.some((x) => Number.isNaN(x.v))) {
    return xs.every((x, i) => i === 0 || (reverse ? xs[i - 1].v >= x.v : xs[i - 1].v <= x.v));
  }
  // 64+ items with NaN in a mixed order: we do not replay timsort's merges and call it unsorted.
  const sorted = cpythonSorted(xs, reverse);
  return sorted?.every((x, i) => same(x, xs[i])) ?? false;
}

/** The oracle list: entry.answer is Python's str() of a list of str, e.g. "['-1.5', '2.0']". */
function expectedFloats(answer: string): number[] | null {
  const items = parseJsonList(answer) ?? parseJsonList(answer.replaceAll("'", '"'));
  const floats = items && toFloats(items);
  return floats ? floats.map((x) => x.v) : null;
}

function scoreNumbers(answer: string | null, entry: TaskEntry, exact: boolean): number {
  if (answer === null) return 0;
  const items = parseJsonList(answer.replaceAll("'", '"'));
  if (items === null) return 0;
  const expected = expectedFloats(String(entry.answer));
  if (expected === null || items.length !== expected.length) return 0;
  const user = toFloats(items);
  if (user === null) return 0;
  if (!isSortedLikePython(user, String(entry.metadata.direction))) return 0;
  // reasoning-gym allows an absolute error of 1 (so NaN, never "> 1", passes); strict wants the values.
  if (exact) return user.every((x, i) => x.v === expected[i]) ? 1 : 0;
  return user.every((x, i) => !(Math.abs(x.v - expected[i]) > 1)) ? 1 : 0;
}

export const task: TaskDefinition<NumberSortingConfig> = {
  name: 'number_sorting',
  defaults: {
    min_numbers: 3,
    max_numbers: 10,
    min_decimals: 0,
    max_decimals: 2,
    min_value: -100,
    max_value: 100,
    seed: null,
    size: 500,
  },
  levels: [
    {
      name: 'trivial',
      config: { min_numbers: 2, max_numbers: 3, max_decimals: 0, min_value: 0, max_value: 20 },
    },
    {
      name: 'easy',
      config: { min_numbers: 3, max_numbers: 5, max_decimals: 0, min_value: -50, max_value: 50 },
    },
    { name: 'medium', config: { min_numbers: 3, max_numbers: 7, max_decimals: 1 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    checkConfig(config.min_numbers > 0, 'number_sorting', 'min_numbers must be positive');
    checkConfig(
      config.min_numbers <= config.max_numbers,
      'number_sorting',
      'max_numbers must be >= min_numbers',
    );
    checkConfig(config.min_decimals >= 0, 'number_sorting', 'min_decimals must be non-negative');
    checkConfig(
      config.min_decimals <= config.max_decimals,
      'number_sorting',
      'max_decimals must be >= min_decimals',
    );
    checkConfig(config.min_value < config.max_value, 'number_sorting', 'max_value must be > min_value');
    const rng = Rng.forItem(seed, index);
    const count = rng.int(config.min_numbers, config.max_numbers);
    const numbers: number[] = [];
    for (let k = 0; k < count; k++) {
      const x = config.min_value + (config.max_value - config.min_value) * rng.random(); // random.uniform
      numbers.push(npRound(x, rng.int(config.min_decimals, config.max_decimals)));
    }
    const ascending = rng.bool();
    const sorted = numbers.slice().sort((a, b) => a - b);
    if (!ascending) sorted.reverse();
    const direction = ascending ? 'ascending' : 'descending';
    const sortedStrs = sorted.map(pyFloatRepr);
    const originalStrs = numbers.map(pyFloatRepr);

    return {
      question: `Sort these numbers in ${direction} order: ${originalStrs.join(', ')}` + INSTRUCTION,
      answer: `[${sortedStrs.map(pyStrRepr).join(', ')}]`, // Python's str() of a list of str
      metadata: {
        source_dataset: 'number_sorting',
        source_index: index,
        original_numbers: originalStrs,
        direction,
        sorted_numbers: sortedStrs,
        numbers: count,
        difficulty: {
          numbers: [config.min_numbers, config.max_numbers],
          decimals: [config.min_decimals, config.max_decimals],
          value: [config.min_value, config.max_value],
        },
      },
    };
  },

  // JSON list (single quotes allowed) of the right length, sorted in the asked direction, each value
  // within 1 of the oracle's → 1; anything else → 0.
  score: (answer, entry): ScoreResult => ({ score: scoreNumbers(answer, entry, false) }),
  // Same, but the values must be the oracle's exactly (no ±1 slack, no NaN).
  scoreStrict: (answer, entry): ScoreResult => ({ score: scoreNumbers(answer, entry, true) }),
};
