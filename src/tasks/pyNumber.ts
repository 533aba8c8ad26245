// Numbers as sympy computes them, for the expression evaluator (expr.ts): exact rationals (BigInt), floats,
// and sympy's zoo (complex infinity) and nan; Python's operators on them (binary), with its floor division,
// modulo and xor semantics.
// ---------- numbers: exact rationals, floats, sympy's zoo and nan ----------

/** What an expression or a number cannot do (sympy / Python would raise). */
export class ExprError extends Error {}

/** Python's binary arithmetic operators (`^` is xor, as Python reads it). */
export type BinOp = '+' | '-' | '*' | '/' | '//' | '%' | '**' | '^';

export type Num =
  | { k: 'q'; n: bigint; d: bigint } // exact rational, d > 0, lowest terms
  | { k: 'f'; v: number } // sympy Float (as a double)
  | { k: 'nan' }
  | { k: 'zoo' }; // complex infinity (sympy's 1/0)

export const NAN: Num = { k: 'nan' };
export const ZOO: Num = { k: 'zoo' };
const MAX_BITS = 1 << 16; // past this an exact power would be huge: go to floats (sympy would crawl)

function absBig(a: bigint): bigint {
  return a < 0n ? -a : a;
}

function gcd(a: bigint, b: bigint): bigint {
  a = absBig(a);
  b = absBig(b);
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function bitLen(a: bigint): number {
  return a === 0n ? 0 : absBig(a).toString(2).length;
}

export function rat(n: bigint, d: bigint = 1n): Num {
  if (d === 0n) return n === 0n ? NAN : ZOO;
  if (d < 0n) {
    n = -n;
    d = -d;
  }
  const g = gcd(n, d);
  return g > 1n ? { k: 'q', n: n / g, d: d / g } : { k: 'q', n, d };
}

export function flt(v: number): Num {
  return { k: 'f', v };
}

export const ZERO = rat(0n);
export const ONE = rat(1n);

export function isZero(a: Num): boolean {
  return (a.k === 'q' && a.n === 0n) || (a.k === 'f' && a.v === 0);
}

export function isExactZero(a: Num): boolean {
  return a.k === 'q' && a.n === 0n;
}

export function isInt(a: Num): a is { k: 'q'; n: bigint; d: bigint } {
  return a.k === 'q' && a.d === 1n;
}

function ratToFloat(n: bigint, d: bigint): number {
  const nf = Number(n);
  const df = Number(d);
  if (Number.isFinite(nf) && Number.isFinite(df)) return nf / df;
  // Huge numerator or denominator: keep ~64 significant bits of the quotient.
  const shift = 64 - (bitLen(n) - bitLen(d));
  const q = shift >= 0 ? (absBig(n) << BigInt(shift)) / d : absBig(n) / (d << BigInt(-shift));
  return (n < 0n ? -1 : 1) * Number(q) * 2 ** -shift;
}

/** The value as a double, for finite numbers; NaN for nan; Infinity-free otherwise. */
export function asDouble(a: Num): number {
  if (a.k === 'q') return ratToFloat(a.n, a.d);
  if (a.k === 'f') return a.v;
  return Number.NaN;
}

/** Python's `float(value)`: zoo raises, nan gives NaN. */
export function toPyFloat(a: Num): number {
  if (a.k === 'zoo') throw new ExprError('TypeError: Cannot convert complex to float');
  return asDouble(a);
}

/** Python's `int(value)`: truncates toward zero; nan and zoo raise. */
export function toPyInt(a: Num): bigint {
  if (a.k === 'q') {
    const t = absBig(a.n) / a.d;
    return a.n < 0n ? -t : t;
  }
  if (a.k === 'f' && Number.isFinite(a.v)) return BigInt(Math.trunc(a.v));
  throw new ExprError('TypeError: Cannot convert to int');
}

function special(a: Num, b: Num): boolean {
  return a.k === 'nan' || a.k === 'zoo' || b.k === 'nan' || b.k === 'zoo';
}

export function add(a: Num, b: Num): Num {
  if (a.k === 'nan' || b.k === 'nan') return NAN;
  if (a.k === 'zoo' || b.k === 'zoo') return a.k === 'zoo' && b.k === 'zoo' ? NAN : ZOO;
  if (a.k === 'q' && b.k === 'q') return rat(a.n * b.d + b.n * a.d, a.d * b.d);
  return floatResult(asDouble(a) + asDouble(b));
}

// sympy turns a Float sum or product that is exactly zero into its exact Zero.
function floatResult(v: number): Num {
  return v === 0 ? ZERO : flt(v);
}

export function neg(a: Num): Num {
  if (a.k === 'q') return { k: 'q', n: -a.n, d: a.d };
  if (a.k === 'f') return flt(-a.v);
  return a;
}

export function sub(a: Num, b: Num): Num {
  return add(a, neg(b));
}

export function mul(a: Num, b: Num): Num {
  if (a.k === 'nan' || b.k === 'nan') return NAN;
  if (a.k === 'zoo' || b.k === 'zoo') return isZero(a) || isZero(b) ? NAN : ZOO;
  if (a.k === 'q' && b.k === 'q') {
    if (bitLen(a.n) + bitLen(b.n) > MAX_BITS * 4 || bitLen(a.d) + bitLen(b.d) > MAX_BITS * 4) {
      return flt(asDouble(a) * asDouble(b));
    }
    return rat(a.n * b.n, a.d * b.d);
  }
  return floatResult(asDouble(a) * asDouble(b));
}

export function div(a: Num, b: Num): Num {
  if (a.k === 'nan' || b.k === 'nan') return NAN;
  if (b.k === 'zoo') return a.k === 'zoo' ? NAN : ZERO;
  if (isZero(b)) return isZero(a) ? NAN : ZOO;
  if (a.k === 'zoo') return ZOO;
  if (a.k === 'q' && b.k === 'q') return rat(a.n * b.d, a.d * b.n);
  return floatResult(asDouble(a) / asDouble(b));
}

// Integer k-th root when exact, else null.
function exactRoot(n: bigint, k: number): bigint | null {
  if (n < 0n) return null;
  const approx = Math.round(Number(n) ** (1 / k));
  if (!Number.isFinite(approx)) return null;
  for (const c of [approx - 1, approx, approx + 1]) {
    if (c >= 0 && BigInt(c) ** BigInt(k) === n) return BigInt(c);
  }
  return null;
}

export function pow(a: Num, b: Num): Num {
  if (isExactZero(b)) return ONE; // sympy: anything**0 == 1, even nan and zoo
  if (a.k === 'nan' || b.k === 'nan' || b.k === 'zoo') return NAN;
  if (a.k === 'zoo') {
    const s = asDouble(b);
    return s > 0 ? ZOO : s < 0 ? ZERO : NAN;
  }
  if (a.k === 'q' && b.k === 'q') {
    if (b.d === 1n) {
      if (a.n === 0n) return b.n < 0n ? ZOO : ZERO;
      const e = absBig(b.n);
      if (Math.max(bitLen(a.n), bitLen(a.d)) * Number(e) > MAX_BITS) return flt(asDouble(a) ** Number(b.n));
      const r = rat(a.n ** e, a.d ** e);
      return b.n < 0n ? div(ONE, r) : r;
    }
    if (a.n === 0n) return b.n < 0n ? ZOO : ZERO;
    if (a.n < 0n) throw new ExprError('complex result'); // sympy gives a complex number
    if (b.d <= 64n) {
      const rn = exactRoot(a.n, Number(b.d));
      const rd = exactRoot(a.d, Number(b.d));
      if (rn !== null && rd !== null) return pow(rat(rn, rd), rat(b.n));
    }
    return flt(asDouble(a) ** asDouble(b));
  }
  const x = asDouble(a);
  const y = asDouble(b);
  if (x < 0 && !Number.isInteger(y)) throw new ExprError('complex result');
  if (x === 0 && y < 0) return ZOO;
  return flt(x ** y);
}

export function floorDiv(a: Num, b: Num): Num {
  if (isZero(b)) throw new ExprError('ZeroDivisionError');
  if (special(a, b)) return a.k === 'zoo' && b.k !== 'nan' && b.k !== 'zoo' ? ZOO : NAN;
  if (a.k === 'q' && b.k === 'q') {
    // sympy quirk: Rational // Integer truncates the rational first (Integer.__rfloordiv__).
    if (a.d !== 1n && b.d === 1n) return rat(floorDivBig(toPyInt(a), b.n));
    return rat(floorDivBig(a.n * b.d, a.d * b.n));
  }
  const f = Math.floor(asDouble(a) / asDouble(b));
  return Number.isFinite(f) ? rat(BigInt(f)) : NAN;
}

// Python's floor division of integers.
function floorDivBig(n: bigint, d: bigint): bigint {
  const q = n / d;
  return q * d !== n && n < 0n !== d < 0n ? q - 1n : q;
}

export function mod(a: Num, b: Num): Num {
  if (isZero(b)) throw new ExprError('ZeroDivisionError');
  if (special(a, b)) return NAN;
  if (a.k === 'q' && b.k === 'q') return sub(a, mul(b, rat(floorDivBig(a.n * b.d, a.d * b.n))));
  const x = asDouble(a);
  const y = asDouble(b);
  let r = x % y;
  if (r !== 0 && r < 0 !== y < 0) r += y; // Python's modulo takes the divisor's sign
  return flt(r);
}

export function xor(a: Num, b: Num): Num {
  if (!isInt(a) || !isInt(b)) throw new ExprError('TypeError: unsupported operand type(s) for ^');
  return rat(a.n ^ b.n);
}

export function invert(a: Num): Num {
  if (!isInt(a)) throw new ExprError('TypeError: bad operand type for unary ~');
  return rat(-a.n - 1n);
}

export function factorial(a: Num, double: boolean): Num {
  const n = a.k === 'q' && a.d === 1n ? a.n : a.k === 'f' && Number.isInteger(a.v) ? BigInt(a.v) : null;
  if (n === null) {
    if (double || !isFiniteNum(a)) throw new ExprError('ValueError: double factorial of a non-integer');
    return flt(gamma(asDouble(a) + 1)); // sympy's factorial(1/2) etc. is Gamma(x + 1)
  }
  if (n < 0n) {
    if (double) throw new ExprError('double factorial of a negative number is not supported');
    return ZOO;
  }
  if (n > 3000n) return flt(Number.POSITIVE_INFINITY);
  let r = 1n;
  for (let i = n; i > 1n; i -= double ? 2n : 1n) r *= i;
  return a.k === 'f' ? flt(Number(r)) : rat(r);
}

// Lanczos approximation (g = 7), accurate to about 1e-15.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
function gamma(x: number): number {
  if (x < 0.5) return Math.PI / (Math.sin(Math.PI * x) * gamma(1 - x));
  const z = x - 1;
  let s = LANCZOS[0];
  for (let i = 1; i < 9; i++) s += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return Math.sqrt(2 * Math.PI) * t ** (z + 0.5) * Math.exp(-t) * s;
}

/** Sympy's `==` between two evaluated numbers (exact for rationals, plain for floats). */
export function numEquals(a: Num, b: Num): boolean {
  if (a.k === 'q' && b.k === 'q') return a.n === b.n && a.d === b.d;
  if (a.k === 'zoo' || b.k === 'zoo' || a.k === 'nan' || b.k === 'nan') return false;
  return asDouble(a) === asDouble(b);
}

export function isFiniteNum(a: Num): boolean {
  return a.k === 'q' || (a.k === 'f' && Number.isFinite(a.v));
}

export function numToDouble(a: Num): number {
  return asDouble(a);
}

/** One binary operator on evaluated numbers, with Python + sympy semantics. */
export function binary(op: BinOp, a: Num, b: Num): Num {
  switch (op) {
    case '+':
      return add(a, b);
    case '-':
      return sub(a, b);
    case '*':
      return mul(a, b);
    case '/':
      return div(a, b);
    case '//':
      return floorDiv(a, b);
    case '%':
      return mod(a, b);
    case '**':
      return pow(a, b);
    case '^':
      return xor(a, b);
  }
}
