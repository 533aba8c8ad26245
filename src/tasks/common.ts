// Shared scoring helpers: reasoning-gym's base score and the bits of Python semantics the scorers
// depend on (str.strip's whitespace set, len() in code points, Decimal/float/int parsing, float repr).
// Pure functions, no Node or DOM APIs: the same results in Node and the browser.

import type { Rng } from './prng.ts';
import type { ScoreResult } from './types.ts';

// ---------------------------------------------------------------------------------------------------
// Errors

/** An exception Python would have raised inside `score_answer` (e.g. ValueError from `int()`). */
export class PyError extends Error {
  constructor(
    readonly pyType: string,
    readonly detail: string,
  ) {
    super(`${pyType}: ${detail}`);
    this.name = 'PyError';
  }
}

/** A config value that reasoning-gym's `validate()` (or our own limits) rejects. */
export class TaskConfigError extends Error {
  constructor(
    readonly task: string,
    message: string,
  ) {
    super(`${task}: invalid config: ${message}`);
    this.name = 'TaskConfigError';
  }
}

/** Throws TaskConfigError unless `ok` (reasoning-gym's `assert` in `validate()`). */
export function checkConfig(ok: boolean, task: string, message: string): void {
  if (!ok) throw new TaskConfigError(task, message);
}

/** Runs a scorer body; a PyError becomes reasoning-gym's raised error (score 0, error set). */
export function guardScore(body: () => number): ScoreResult {
  try {
    return { score: body() };
  } catch (e) {
    if (e instanceof PyError) return { score: 0, error: e.message };
    throw e; // anything else is a bug in our code: keep it loud
  }
}

// ---------------------------------------------------------------------------------------------------
// Python strings

/** Characters for which Python's `str.isspace()` is true (also what `re`'s `\s` matches). */
export const PY_WHITESPACE =
  '\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000';

/** The same set as a regex character class body, e.g. `new RegExp('[' + PY_WS_CLASS + ']')`. */
export const PY_WS_CLASS =
  '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const PY_WS_SET = new Set(PY_WHITESPACE);

export function pyIsSpace(ch: string): boolean {
  return PY_WS_SET.has(ch);
}

/** Python's `s.strip()` with no argument. All whitespace characters are single UTF-16 units. */
export function pyStrip(s: string): string {
  return pyRstrip(pyLstrip(s));
}

export function pyLstrip(s: string): string {
  let i = 0;
  while (i < s.length && PY_WS_SET.has(s[i])) i++;
  return s.slice(i);
}

export function pyRstrip(s: string): string {
  let j = s.length;
  while (j > 0 && PY_WS_SET.has(s[j - 1])) j--;
  return s.slice(0, j);
}

/** Python's `len(s)`: code points, so an emoji counts 1 (JS `.length` would count 2). */
export function pyLen(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Python's `s.split()` with no argument: runs of whitespace separate, no empty pieces. */
export function pySplit(s: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= s.length; i++) {
    const ws = i === s.length || PY_WS_SET.has(s[i]);
    if (ws && start >= 0) {
      out.push(s.slice(start, i));
      start = -1;
    } else if (!ws && start < 0) {
      start = i;
    }
  }
  return out;
}

/** Python's `s.count(sub)`: non-overlapping occurrences, scanning left to right. */
export function pyCount(s: string, sub: string): number {
  if (sub.length === 0) return pyLen(s) + 1;
  return s.split(sub).length - 1;
}

/** Python's `repr(s)` for a str (quotes and escapes as CPython prints them). */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && /[\p{C}\p{Z}]/u.test(ch)) {
      // Python escapes the characters that str.isprintable() rejects.
      const hex = cp.toString(16);
      if (cp < 0x100) out += '\\x' + hex.padStart(2, '0');
      else if (cp < 0x10000) out += '\\u' + hex.padStart(4, '0');
      else out += '\\U' + hex.padStart(8, '0');
    } else out += ch;
  }
  return out + quote;
}

// ---------------------------------------------------------------------------------------------------
// reasoning-gym's base score

/**
 * `ProceduralDataset.score_answer`: non-str or empty → 0; exact → 1; oracle a substring of the
 * answer → len(oracle)/len(answer) (code points); else 0. Case-sensitive, no stripping.
 */
export function baseScore(answer: string | null | undefined, oracle: string): number {
  if (typeof answer !== 'string' || answer.length === 0) return 0;
  if (answer === oracle) return 1;
  if (answer.includes(oracle)) return pyLen(oracle) / pyLen(answer);
  return 0;
}

/** Strict twin of `baseScore`: 1 only for the exact oracle, no partial credit. */
export function exactScore(answer: string | null | undefined, oracle: string): number {
  return answer === oracle ? 1 : 0;
}

/**
 * `utils.compute_decimal_reward` (chain_sum, products): commas removed from both sides, then
 * `Decimal(answer) == Decimal(oracle)` → 1; else the substring ratio on the comma-free strings.
 */
export function computeDecimalReward(answer: string | null, oracle: string, stripCommas = true): number {
  if (answer === null || answer.length === 0) return 0;
  let a = answer;
  let o = oracle;
  if (stripCommas) {
    a = a.replaceAll(',', '');
    o = o.replaceAll(',', '');
  }
  if (pyDecimalEquals(a, o)) return 1;
  if (a.includes(o)) return pyLen(o) / pyLen(a);
  return 0;
}

/** Strict twin of `computeDecimalReward`: 1 for the same number, else 0 (no substring credit). */
export function decimalExactScore(answer: string | null, oracle: string, stripCommas = true): number {
  if (answer === null || answer.length === 0) return 0;
  const a = stripCommas ? answer.replaceAll(',', '') : answer;
  const o = stripCommas ? oracle.replaceAll(',', '') : oracle;
  return pyDecimalEquals(a, o) ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------
// Python number parsing

const ndDigitCache = new Map<number, number>();

/** Value 0-9 of a Unicode decimal digit (category Nd): those come in runs of ten from 0 to 9. */
function unicodeDigitValue(cp: number): number {
  let v = ndDigitCache.get(cp);
  if (v === undefined) {
    let run = 0;
    while (run < 100 && /\p{Nd}/u.test(String.fromCodePoint(cp - run - 1))) run++;
    v = run % 10;
    ndDigitCache.set(cp, v);
  }
  return v;
}

/**
 * What CPython does before parsing a number: Unicode decimal digits → ASCII digits, non-ASCII
 * whitespace → ' '. Other non-ASCII characters become '?', which no grammar accepts.
 */
function toAsciiNumber(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 128) out += ch;
    else if (PY_WS_SET.has(ch)) out += ' ';
    else if (/\p{Nd}/u.test(ch)) out += String(unicodeDigitValue(cp));
    else out += '?';
  }
  return out;
}

/** Strip of the ASCII whitespace C's isspace() knows (int() and float() strip only these). */
function cStrip(s: string): string {
  return s.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
}

/** Python's `int(s)` (base 10): returns a bigint or throws PyError ValueError like CPython. */
export function pyInt(s: string): bigint {
  const t = cStrip(toAsciiNumber(s));
  if (!/^[+-]?\d(?:_?\d)*$/.test(t)) {
    throw new PyError('ValueError', `invalid literal for int() with base 10: ${pyStrRepr(s)}`);
  }
  return BigInt(t.replaceAll('_', ''));
}

/** Python's `float(s)` for a str: returns a number or throws PyError ValueError like CPython. */
export function pyFloat(s: string): number {
  const t = cStrip(toAsciiNumber(s));
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(t);
  if (special) {
    if (special[2].toLowerCase() === 'nan') return Number.NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  // Underscores only between digits (PEP 515); at least one mantissa digit.
  const digits = '\\d(?:_?\\d)*';
  const grammar = new RegExp(
    `^[+-]?(?:${digits}(?:\\.(?:${digits})?)?|\\.${digits})(?:[eE][+-]?${digits})?$`,
  );
  if (!grammar.test(t)) {
    throw new PyError('ValueError', `could not convert string to float: ${pyStrRepr(s)}`);
  }
  return Number(t.replaceAll('_', ''));
}

/** A parsed `decimal.Decimal` value (exact: coefficient × 10^exponent). */
export type PyDecimal =
  | { kind: 'finite'; negative: boolean; coefficient: bigint; exponent: bigint }
  | { kind: 'infinity'; negative: boolean }
  | { kind: 'nan'; negative: boolean; signaling: boolean };

// libmpdec's limits on 64-bit builds: Decimal(str) outside them raises InvalidOperation.
const MPD_MAX_EMAX = 999999999999999999n;
const MPD_MIN_ETINY = -1999999999999999997n;

/**
 * `decimal.Decimal(s)` for a str: null where Python raises InvalidOperation. Surrounding whitespace
 * is stripped, underscores anywhere are dropped, Unicode digits count, `inf`/`nan`/`snan` any case.
 */
export function parsePyDecimal(s: string): PyDecimal | null {
  const t = toAsciiNumber(pyStrip(s).replaceAll('_', ''));
  const inf = /^([+-]?)(inf|infinity)$/i.exec(t);
  if (inf) return { kind: 'infinity', negative: inf[1] === '-' };
  const nan = /^([+-]?)(s?)nan\d*$/i.exec(t);
  if (nan) return { kind: 'nan', negative: nan[1] === '-', signaling: nan[2] !== '' };
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) return null;
  const intPart = m[2];
  const fracPart = m[3] ?? '';
  if (intPart.length + fracPart.length === 0) return null;
  const coefficient = BigInt(intPart + fracPart);
  const exponent = BigInt(m[4] ?? '0') - BigInt(fracPart.length);
  const ndigits = BigInt(coefficient === 0n ? 1 : coefficient.toString().length);
  if (exponent + ndigits - 1n > MPD_MAX_EMAX || exponent < MPD_MIN_ETINY) return null;
  return { kind: 'finite', negative: m[1] === '-', coefficient, exponent };
}

/**
 * `Decimal(a) == Decimal(b)`, false where either raises or is NaN (comparing a signaling NaN raises
 * in Python; every caller here treats that like "not equal").
 */
export function pyDecimalEquals(a: string, b: string): boolean {
  const x = parsePyDecimal(a);
  const y = parsePyDecimal(b);
  if (x === null || y === null || x.kind === 'nan' || y.kind === 'nan') return false;
  if (x.kind === 'infinity' || y.kind === 'infinity') {
    return x.kind === y.kind && x.negative === y.negative;
  }
  if (x.coefficient === 0n || y.coefficient === 0n) return x.coefficient === y.coefficient;
  if (x.negative !== y.negative) return false;
  const [xc, xe] = normalizeDecimal(x.coefficient, x.exponent);
  const [yc, ye] = normalizeDecimal(y.coefficient, y.exponent);
  return xc === yc && xe === ye;
}

function normalizeDecimal(c: bigint, e: bigint): [bigint, bigint] {
  while (c % 10n === 0n) {
    c /= 10n;
    e += 1n;
  }
  return [c, e];
}

/** Python's `repr(x)` for a float: shortest round-trip digits, `1.0`, `1e+16`, `1e-05`, `inf`. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mant, expText] = Math.abs(x).toExponential().split('e');
  const digits = mant.replace('.', '');
  const exp = Number(expText);
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return sign + '0.' + '0'.repeat(-exp - 1) + digits;
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    return sign + intPart + '.' + (frac || '0');
  }
  const m = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
  return sign + m + 'e' + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
}

// ---------------------------------------------------------------------------------------------------
// Integer helpers for generators

/** Python's `a // b` on bigints (floors toward -infinity; JS `/` truncates toward zero). */
export function pyFloorDiv(a: bigint, b: bigint): bigint {
  if (b === 0n) throw new PyError('ZeroDivisionError', 'integer division or modulo by zero');
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

export function gcdBig(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

export function gcdInt(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}

/**
 * Integer in [lo, hi] for spans up to 2^53 (Rng.int draws one 32-bit value, so it cannot reach
 * every integer of a wider span).
 */
export function randIntWide(rng: Rng, lo: number, hi: number): number {
  const span = hi - lo + 1;
  if (span <= 2 ** 32) return rng.int(lo, hi);
  if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || span > 2 ** 53) {
    throw new RangeError(`randIntWide: range [${lo}, ${hi}] is wider than 2^53`);
  }
  // 53 random bits from two draws, then scale.
  const u = (Math.floor(rng.random() * 2 ** 21) * 2 ** 32 + Math.floor(rng.random() * 2 ** 32)) / 2 ** 53;
  return lo + Math.floor(u * span);
}
