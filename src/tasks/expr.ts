// A small arithmetic expression parser and evaluator that stands in for sympy's `parse_expr` as
// reasoning-gym's countdown, puzzle24 and simple_integration scorers use it. It follows Python's
// grammar and sympy's number semantics for the subset that answers use: integer and float literals,
// + - * / // % ** ^ (bitwise xor, as Python reads it), unary + - ~, parentheses, postfix ! and !!,
// names as free symbols, and == != is / is not (so "answer is 5" parses, to a bool, as in Python). Integers and fractions are exact (BigInt rationals), as sympy keeps them;
// division by zero gives sympy's zoo / nan. Anything else (function calls, commas, `=`, unicode
// operators, implicit multiplication) is an ExprError, where sympy would also fail to give a number.
// Known gaps: sympy's functions (sqrt, log, ...) raise here instead of being evaluated; pi, E and oo
// are plain doubles rather than exact symbols; sympy's digit-dependent Float precision is replaced
// by doubles. Differences show only in odd answers (fuzzed against sympy 1.14).

import { pyStrip } from './common.ts';
import {
  add,
  type BinOp,
  binary,
  div,
  ExprError,
  factorial,
  flt,
  invert,
  isExactZero,
  mul,
  NAN,
  type Num,
  neg,
  numEquals,
  numToDouble,
  ONE,
  pow,
  rat,
  sub,
  ZERO,
  ZOO,
} from './pyNumber.ts';

// ---------- Python string helpers not in common.ts ----------

// The line boundaries of Python's str.splitlines() (\r\n counts once).
const LINE_BREAKS = new Set(['\n', '\r', '\v', '\f', '\x1c', '\x1d', '\x1e', '\x85', '\u2028', '\u2029']);

/** Python's `s.splitlines()` (without keepends). */
export function pySplitlines(s: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (!LINE_BREAKS.has(s[i])) continue;
    lines.push(s.slice(start, i));
    if (s[i] === '\r' && s[i + 1] === '\n') i++;
    start = i + 1;
  }
  if (start < s.length) lines.push(s.slice(start)); // a trailing break starts no extra line
  return lines;
}

/** Python's `[int(m) for m in re.findall(r"\b\d+\b", s)]` (unicode \d and \b, as Python 3 has them). */
export function extractInts(s: string): number[] {
  const out: number[] = [];
  for (const m of s.matchAll(/(?<![\p{L}\p{N}_])\p{Nd}+(?![\p{L}\p{N}_])/gu)) {
    let v = 0;
    for (const ch of m[0]) v = v * 10 + digitValue(ch);
    out.push(v);
  }
  return out;
}

/** Replaces every unicode decimal digit by its ASCII digit (Python's \d and int() accept them all). */
export function asciiDigits(s: string): string {
  return s.replace(/\p{Nd}/gu, (ch) => String(digitValue(ch)));
}

// Unicode decimal digits come in runs of ten starting at zero; find the run start to get the value.
function digitValue(ch: string): number {
  const cp = ch.codePointAt(0) ?? 0;
  if (cp >= 48 && cp <= 57) return cp - 48;
  let start = cp;
  while (/\p{Nd}/u.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

// ---------- tokenizer and parser (Python expression grammar subset) ----------

export type Ast =
  | { t: 'num'; value: Num; text: string }
  | { t: 'name'; name: string }
  | { t: 'neg' | 'pos' | 'inv'; a: Ast }
  | { t: 'bin'; op: BinOp; a: Ast; b: Ast }
  | { t: 'fact'; a: Ast; double: boolean }
  // Python comparisons, e.g. "answer is 82 - 1" (valid Python: a bool). Only == != is, is not.
  | { t: 'cmp'; ops: CmpOp[]; items: Ast[] };

export type CmpOp = '==' | '!=' | 'is' | 'is not';

type Tok =
  | { kind: 'num'; value: Num; text: string }
  | { kind: 'name'; text: string }
  | { kind: 'op'; text: string };

const PY_KEYWORDS = new Set(
  'False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield'.split(
    ' ',
  ),
);

const DIGITPART = '[0-9](?:_?[0-9])*';
const EXPONENT = `[eE][+-]?${DIGITPART}`;
const NUMBER_RE = new RegExp(
  '(?:' +
    [
      '0[xX](?:_?[0-9a-fA-F])+',
      '0[oO](?:_?[0-7])+',
      '0[bB](?:_?[01])+',
      `(?:${DIGITPART})?\\.${DIGITPART}(?:${EXPONENT})?`,
      `${DIGITPART}\\.(?:${EXPONENT})?`,
      `${DIGITPART}${EXPONENT}`,
      '[1-9](?:_?[0-9])*',
      '0+(?:_?0)*',
    ].join('|') +
    ')',
  'y', // sticky: matches at lastIndex, so the tokenizer never copies the rest of the input
);
const NAME_RE = /[\p{L}_][\p{L}\p{N}_]*/uy;
const OPS = ['**', '//', '==', '!=', '<=', '>=', '+', '-', '*', '/', '%', '^', '~', '(', ')', '<', '>'];

function tokenize(src: string): Tok[] {
  const s = pyStrip(src); // sympy's stringify_expr strips the input first
  const toks: Tok[] = [];
  let depth = 0;
  let lineEnded = false; // a newline outside parentheses ends the expression
  let brokeLine = false; // a line break since the previous token
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '\\' && (s[i + 1] === '\n' || (s[i + 1] === '\r' && s[i + 2] === '\n'))) {
      i += s[i + 1] === '\n' ? 2 : 3; // explicit line continuation
      continue;
    }
    if (c === '\n' || c === '\r') {
      if (depth === 0) lineEnded = true;
      brokeLine = true;
      i++;
      continue;
    }
    if (c === '#') {
      while (i < s.length && s[i] !== '\n' && s[i] !== '\r') i++;
      continue;
    }
    if (lineEnded) throw new ExprError('SyntaxError: more than one line');
    const at = (re: RegExp): RegExpExecArray | null => {
      re.lastIndex = i;
      return re.exec(s);
    };
    const num = /[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[i + 1] ?? '')) ? at(NUMBER_RE) : null;
    if (num) {
      const text = num[0];
      const clean = text.replace(/_/g, '');
      const isFloat = !/^0[xXoObB]/.test(clean) && /[.eE]/.test(clean);
      const value = isFloat ? flt(Number(clean)) : rat(BigInt(clean));
      toks.push({ kind: 'num', value, text });
      i += text.length;
      continue;
    }
    const name = at(NAME_RE);
    if (name) {
      if (name[0] === 'is' || name[0] === 'not') toks.push({ kind: 'op', text: name[0] });
      else if (PY_KEYWORDS.has(name[0])) throw new ExprError(`unsupported keyword '${name[0]}'`);
      else toks.push({ kind: 'name', text: name[0] });
      i += name[0].length;
      continue;
    }
    if (c === '!' && s[i + 1] !== '=') {
      // sympy's factorial notation: '!' or '!!' right after a number, name or ')'.
      const prev = toks[toks.length - 1];
      const glued = i > 0 && !/\s/.test(s[i - 1]);
      const bang = s.startsWith('!!', i) ? '!!' : '!';
      const afterOperand = prev !== undefined && (prev.kind !== 'op' || prev.text === ')');
      if (!afterOperand || !glued || s.startsWith('!!!', i)) {
        throw new ExprError("SyntaxError: misplaced '!'");
      }
      toks.push({ kind: 'op', text: bang });
      i += bang.length;
      continue;
    }
    const op = OPS.find((o) => s.startsWith(o, i));
    if (!op) throw new ExprError(`SyntaxError: invalid character '${c}'`);
    if (op === '(') depth++;
    if (op === ')') {
      if (depth === 0) throw new ExprError("SyntaxError: unmatched ')'");
      depth--;
    }
    // sympy re-joins the tokens without spaces (untokenize), so "* *" reads as ** and "/ /" as //.
    const prev = toks[toks.length - 1];
    if ((op === '*' || op === '/') && prev?.kind === 'op' && prev.text === op && !brokeLine)
      prev.text = op + op;
    else toks.push({ kind: 'op', text: op });
    brokeLine = false;
    i += op.length;
  }
  if (depth > 0) throw new ExprError('TokenError: EOF in multi-line statement');
  return toks;
}

/** Parses an expression the way Python + sympy's parse_expr would read it; throws ExprError. */
export function parseExpr(src: string): Ast {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Tok | undefined => toks[p];
  const isOp = (...ops: string[]): boolean => {
    const t = toks[p];
    return t !== undefined && t.kind === 'op' && ops.includes(t.text);
  };
  const expect = (op: string): void => {
    if (!isOp(op)) throw new ExprError(`SyntaxError: expected '${op}'`);
    p++;
  };

  // Python precedence, loosest first: comparisons; ^ ; + - ; * / // % ; unary + - ~ ; ** ; postfix ! .
  const comparison = (): Ast => {
    const items = [xorExpr()];
    const ops: CmpOp[] = [];
    for (;;) {
      if (isOp('<', '>', '<=', '>=')) throw new ExprError('order comparisons give sympy booleans: no number');
      if (!isOp('==', '!=', 'is')) break;
      let op = (toks[p++] as Tok).text as CmpOp;
      if (op === 'is' && isOp('not')) {
        p++;
        op = 'is not';
      }
      ops.push(op);
      items.push(xorExpr());
    }
    return ops.length === 0 ? items[0] : { t: 'cmp', ops, items };
  };
  const xorExpr = (): Ast => {
    let a = arith();
    while (isOp('^')) {
      p++;
      a = { t: 'bin', op: '^', a, b: arith() };
    }
    return a;
  };
  const arith = (): Ast => {
    let a = term();
    while (isOp('+', '-')) {
      const op = (toks[p++] as Tok).text as BinOp;
      a = { t: 'bin', op, a, b: term() };
    }
    return a;
  };
  const term = (): Ast => {
    let a = factor();
    while (isOp('*', '/', '//', '%')) {
      const op = (toks[p++] as Tok).text as BinOp;
      a = { t: 'bin', op, a, b: factor() };
    }
    return a;
  };
  const factor = (): Ast => {
    if (isOp('-')) {
      p++;
      return { t: 'neg', a: factor() };
    }
    if (isOp('+')) {
      p++;
      return { t: 'pos', a: factor() };
    }
    if (isOp('~')) {
      p++;
      return { t: 'inv', a: factor() };
    }
    return power();
  };
  const power = (): Ast => {
    const a = postfix();
    if (isOp('**')) {
      p++;
      return { t: 'bin', op: '**', a, b: factor() };
    }
    return a;
  };
  const postfix = (): Ast => {
    let a = atom();
    if (isOp('!', '!!')) {
      a = { t: 'fact', a, double: (toks[p++] as Tok).text === '!!' };
    }
    return a;
  };
  const atom = (): Ast => {
    const t = peek();
    if (t === undefined) throw new ExprError('SyntaxError: unexpected end of expression');
    if (t.kind === 'num') {
      p++;
      return { t: 'num', value: t.value, text: t.text };
    }
    if (t.kind === 'name') {
      p++;
      if (isOp('(')) throw new ExprError(`unsupported function call '${t.text}(...)'`);
      return { t: 'name', name: t.text };
    }
    if (isOp('(')) {
      p++;
      if (isOp(')')) throw new ExprError('empty parentheses (a tuple)');
      const e = comparison();
      expect(')');
      return e;
    }
    throw new ExprError(`SyntaxError: unexpected '${t.text}'`);
  };

  if (toks.length === 0) throw new ExprError('SyntaxError: empty expression');
  const ast = comparison();
  if (p < toks.length) throw new ExprError(`SyntaxError: unexpected '${(toks[p] as Tok).text}'`);
  return ast;
}

// Names that parse_expr's namespace (`from sympy import *` plus Python builtins) binds to functions,
// classes or domains, so that arithmetic with them raises: every such name of up to three
// characters, and common longer ones. Other names are plain symbols (sympy's auto_symbol).
const SYMPY_NON_SYMBOLS = new Set(
  (
    'true false Abs Add And CC Chi Ci E1 EX Ei Eq FF GF Ge Gt ITE Id Idx LC LM LT Le Li Lt Max Min Mod Mul N Ne Nor Not O Or Pow Q QQ RR Ray Rel Rem S Set Shi Si Sum Xor Ynm ZZ Znm abs all any arg ask bin chr cos cot csc cse deg det dir div erf exp eye ff fft fps fu gcd gff hex hn1 hn2 id im jn lcm len lex li ln log max min ntt oct ord per pow quo rad re rem rf sec sin sqf sum tan use var yn ' +
    'sqrt sinh cosh tanh asin acos atan atan2 acot log10 floor ceiling factorial gamma beta zeta binomial integrate diff Integral Derivative Symbol symbols Rational Integer Float Function Lambda simplify expand factor solve limit series round float int str print list dict set range sign Heaviside DiracDelta'
  ).split(' '),
);

/** True for names that sympy's namespace binds to something other than a plain number or symbol. */
export function isSympyNonSymbol(name: string): boolean {
  return SYMPY_NON_SYMBOLS.has(name);
}

/** sympy's named numbers where one is special: nan and zoo (E, pi, I, oo act as constants). */
export function sympySpecialConstant(name: string): Num | null {
  return name === 'nan' ? NAN : name === 'zoo' ? ZOO : null;
}

// float() of sympy's real constants; I is complex (float() raises), other names are symbols.
const REAL_CONSTANTS: Record<string, number> = { pi: Math.PI, E: Math.E, oo: Number.POSITIVE_INFINITY };

/** Evaluates an expression without symbols to a number (sympy's value before float()/int()). */
export function evalNumber(ast: Ast): Num {
  switch (ast.t) {
    case 'num':
      return ast.value;
    case 'name': {
      const special = sympySpecialConstant(ast.name);
      if (special) return special;
      if (Object.hasOwn(REAL_CONSTANTS, ast.name)) return flt(REAL_CONSTANTS[ast.name]);
      throw new ExprError(`symbol '${ast.name}' has no numeric value`);
    }
    case 'neg':
      return neg(evalNumber(ast.a));
    case 'pos':
      return evalNumber(ast.a);
    case 'inv':
      return invert(evalNumber(ast.a));
    case 'fact':
      return factorial(evalNumber(ast.a), ast.double);
    case 'cmp':
      return evalComparison(ast) ? ONE : ZERO; // Python's bool: float() and int() give 1 or 0
    case 'bin':
      return binary(ast.op, evalNumber(ast.a), evalNumber(ast.b));
  }
}

// A comparison operand: a number, a bare symbol name, or some other (symbolic) object.
type CmpValue = { num: Num } | { name: string } | { other: true };

function cmpValue(ast: Ast): CmpValue {
  if (ast.t === 'name' && !SYMPY_NON_SYMBOLS.has(ast.name) && !sympySpecialConstant(ast.name)) {
    return { name: ast.name }; // symbols and pi, E, oo are cached singletons
  }
  try {
    return { num: evalNumber(ast) };
  } catch (e) {
    if (e instanceof ExprError && /^symbol /.test(e.message)) return { other: true }; // e.g. x + 1
    throw e;
  }
}

// Python's `is` on sympy objects: equal rationals, nan, zoo and same-name symbols are cached objects.
function pyIs(a: CmpValue, b: CmpValue): boolean {
  if ('num' in a && 'num' in b) {
    if (a.num.k === 'f' || b.num.k === 'f') return false; // Floats are not cached
    return a.num.k === b.num.k && (a.num.k !== 'q' || numEquals(a.num, b.num));
  }
  return 'name' in a && 'name' in b && a.name === b.name;
}

function pyEq(a: CmpValue, b: CmpValue): boolean {
  if ('num' in a && 'num' in b) {
    const [x, y] = [a.num, b.num];
    // sympy's == is structural: a Float never equals a Rational (2.0 == 2 is False), nan == nan.
    if (x.k !== y.k) return false;
    return x.k === 'nan' || x.k === 'zoo' || numEquals(x, y);
  }
  return 'name' in a && 'name' in b && a.name === b.name;
}

/** A chain like `a == b is c`: Python evaluates it as `a == b and b is c`. */
function evalComparison(ast: { ops: CmpOp[]; items: Ast[] }): boolean {
  const values = ast.items.map(cmpValue);
  return ast.ops.every((op, i) => {
    const [a, b] = [values[i], values[i + 1]];
    if (op === 'is') return pyIs(a, b);
    if (op === 'is not') return !pyIs(a, b);
    return op === '==' ? pyEq(a, b) : !pyEq(a, b);
  });
}

// ---------- forward-mode differentiation (dual numbers) for simple_integration ----------

/** A value with its derivative with respect to the variable; dep = depends on the variable. */
export interface Dual {
  v: Num;
  d: Num;
  dep: boolean;
  sym: boolean;
}

function dmul(a: Num, b: Num): Num {
  return isExactZero(a) || isExactZero(b) ? ZERO : mul(a, b);
}

function constant(v: Num, sym = false): Dual {
  return { v, d: ZERO, dep: false, sym };
}

/**
 * Evaluates `ast` and its derivative at `varName = x`; other names take values from `symbolValue`.
 * Names that sympy binds to functions or classes raise, as sympy would on arithmetic with them.
 */
export function evalDual(ast: Ast, varName: string, x: Num, symbolValue: (name: string) => Num): Dual {
  const go = (e: Ast): Dual => {
    switch (e.t) {
      case 'num':
        return constant(e.value);
      case 'name':
        if (e.name === varName) return { v: x, d: ONE, dep: true, sym: true };
        if (SYMPY_NON_SYMBOLS.has(e.name)) throw new ExprError(`unsupported sympy name '${e.name}'`);
        return constant(sympySpecialConstant(e.name) ?? symbolValue(e.name), true);
      case 'neg': {
        const a = go(e.a);
        return { ...a, v: neg(a.v), d: neg(a.d) };
      }
      case 'pos':
        return go(e.a);
      case 'inv':
      case 'fact': {
        const a = go(e.a);
        if (a.sym) throw new ExprError('integer operation on a symbol');
        return constant(e.t === 'fact' ? factorial(a.v, e.double) : invert(a.v));
      }
      case 'bin':
        return dualBinary(e.op, go(e.a), go(e.b));
      case 'cmp':
        throw new ExprError('a comparison is a bool: sympy cannot differentiate it');
    }
  };
  return go(ast);
}

function dualBinary(op: BinOp, a: Dual, b: Dual): Dual {
  const dep = a.dep || b.dep;
  const sym = a.sym || b.sym;
  const v = (): Num => binary(op, a.v, b.v);
  if (op === '//' || op === '%' || op === '^') {
    if (sym) throw new ExprError(`'${op}' on a symbol is not supported`);
    return constant(v());
  }
  if (!dep) return { v: v(), d: ZERO, dep, sym }; // constants differentiate to 0 (even zoo)
  switch (op) {
    case '+':
      return { v: v(), d: add(a.d, b.d), dep, sym };
    case '-':
      return { v: v(), d: sub(a.d, b.d), dep, sym };
    case '*':
      return { v: v(), d: add(dmul(a.d, b.v), dmul(a.v, b.d)), dep, sym };
    case '/':
      return { v: v(), d: div(sub(dmul(a.d, b.v), dmul(a.v, b.d)), mul(b.v, b.v)), dep, sym };
    default: {
      // '**'
      const value = v();
      if (!b.dep) return { v: value, d: dmul(dmul(b.v, pow(a.v, sub(b.v, ONE))), a.d), dep, sym };
      // d(u^w) = u^w (w' ln u + w u'/u); needs a positive base, done in floats.
      const u = numToDouble(a.v);
      if (!(u > 0)) throw new ExprError('variable exponent of a non-positive base');
      const inner = numToDouble(b.d) * Math.log(u) + (numToDouble(b.v) * numToDouble(a.d)) / u;
      return { v: value, d: flt(numToDouble(value) * inner), dep, sym };
    }
  }
}
