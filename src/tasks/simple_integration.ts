// simple_integration: integrate a random polynomial. The scorer stands in for reasoning-gym's sympy check
// (parse the answer, differentiate, simplify(d - integrand) == 0): it differentiates the parsed answer
// exactly (dual numbers over BigInt rationals) at several points and compares with the integrand.

import { checkConfig } from './common.ts';
import { type Ast, evalDual, isSympyNonSymbol, parseExpr, sympySpecialConstant } from './expr.ts';
import { Rng } from './prng.ts';
import {
  add,
  binary,
  div,
  ExprError,
  factorial,
  invert,
  isZero,
  mul,
  type Num,
  neg,
  numEquals,
  ONE,
  pow,
  rat,
  ZERO,
} from './pyNumber.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export type SimpleIntegrationConfig = {
  min_terms: number;
  max_terms: number;
  min_degree: number;
  max_degree: number;
  min_bounds: number;
  max_bounds: number;
  operators: string[];
  symbols: string[];
  seed: number | null;
  size: number;
};

const NAME = 'simple_integration';

const DEFAULTS: SimpleIntegrationConfig = {
  min_terms: 2,
  max_terms: 5,
  min_degree: 1,
  max_degree: 10,
  min_bounds: 1,
  max_bounds: 10,
  operators: ['+', '-'],
  symbols: ['x', 'X'],
  seed: null,
  size: 500,
};

function validate(c: SimpleIntegrationConfig): void {
  checkConfig(c.min_bounds > 0, NAME, 'min_bounds must be positive');
  checkConfig(c.max_bounds >= c.min_bounds, NAME, 'max_bounds must be >= min_bounds');
  checkConfig(c.min_terms >= 0, NAME, 'min_terms must be positive');
  checkConfig(c.max_terms >= c.min_terms, NAME, 'max_terms must be >= min_terms');
  checkConfig(c.min_degree >= -10, NAME, 'min_degree must be >= -10');
  checkConfig(c.max_degree >= c.min_degree, NAME, 'max_degree must be >= min_degree');
  checkConfig(
    c.operators.every((op) => op === '+' || op === '-'),
    NAME,
    'invalid operator specified',
  );
}

const TEMPLATES = [
  'Find the indefinite integral: ∫ {integrand} dx',
  'Calculate the antiderivative: ∫ {integrand} dx',
  'Evaluate the indefinite integral: ∫ {integrand} dx',
];

const ADDED_INSTRUCTION = `
When performing calculations, please follow these guidelines:
1. Use ** instead of ^ to represent exponents. For example, write 7*X**2 instead of 7*X^2.
2. Always include the * symbol for all multiplication operations in your reasoning steps. For example, write \`-3*X**3*sin(X) - 9*X**2*cos(X) + 18*X*sin(X) + 18*cos(X) + C\` instead of \`-3x3sin(x) - 9x2cos(x) + 18xsin(x) + 18cos(x) + C\`.
`;

// ---------- polynomials with small exact coefficients, printed the way sympy's str() does ----------

/** Coefficients by degree (numerator, denominator > 0, lowest terms). */
export type Poly = Map<number, [number, number]>;

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

function addTerm(p: Poly, degree: number, n: number, d: number): void {
  const [pn, pd] = p.get(degree) ?? [0, 1];
  const nn = pn * d + n * pd;
  const dd = pd * d;
  if (nn === 0) {
    p.delete(degree);
    return;
  }
  const g = gcd(nn, dd);
  p.set(degree, [nn / g, dd / g]);
}

export function derivative(p: Poly): Poly {
  const out: Poly = new Map();
  for (const [k, [n, d]] of p) if (k !== 0) addTerm(out, k - 1, n * k, d);
  return out;
}

function printTerm(v: string, k: number, n: number, d: number): string {
  const a = Math.abs(n);
  if (k === 0) return d === 1 ? `${a}` : `${a}/${d}`;
  const m = Math.abs(k) === 1 ? v : `${v}**${Math.abs(k)}`;
  if (k < -1 && n === 1 && d === 1) return `${v}**(${k})`; // a bare Pow keeps its negative exponent
  if (k < 0) return d === 1 ? `${a}/${m}` : `${a}/(${d}*${m})`;
  const head = a === 1 ? m : `${a}*${m}`;
  return d === 1 ? head : `${head}/${d}`;
}

/** sympy's str() of a univariate polynomial: descending powers, "a*x**k/b", " + " / " - ". */
export function printPoly(p: Poly, v: string): string {
  const degrees = [...p.keys()].sort((a, b) => b - a);
  if (degrees.length === 0) return '0';
  // sympy's special case: "c - a*x**k" (a positive constant and one negative term) puts c first.
  if (degrees.length === 2 && degrees[1] === 0 && (p.get(0) as [number, number])[0] > 0) {
    if ((p.get(degrees[0]) as [number, number])[0] < 0) degrees.reverse();
  }
  return degrees
    .map((k, i) => {
      const [n, d] = p.get(k) as [number, number];
      const body = printTerm(v, k, n, d);
      if (i === 0) return n < 0 ? `-${body}` : body;
      return n < 0 ? ` - ${body}` : ` + ${body}`;
    })
    .join('');
}

// ---------- scoring ----------

/** A Laurent polynomial in the variable: exponent -> coefficient (no zero coefficients). */
type LPoly = Map<number, Num>;

const MAX_TERMS = 4096;

function addP(a: LPoly, b: LPoly): LPoly {
  const out = new Map(a);
  for (const [k, c] of b) {
    const s = out.has(k) ? add(out.get(k) as Num, c) : c;
    if (isZero(s))
      out.delete(k); // sympy drops zero terms, a Float 0.0 sum included
    else out.set(k, s);
  }
  return out;
}

function mapP(a: LPoly, f: (c: Num, k: number) => [number, Num]): LPoly {
  let out: LPoly = new Map();
  for (const [k, c] of a) {
    const [k2, c2] = f(c, k);
    out = addP(out, new Map([[k2, c2]]));
  }
  return out;
}

function mulP(a: LPoly, b: LPoly): LPoly | null {
  if (a.size * b.size > MAX_TERMS) return null;
  let out: LPoly = new Map();
  for (const [i, x] of a) for (const [j, y] of b) out = addP(out, new Map([[i + j, mul(x, y)]]));
  return out;
}

function constP(c: Num): LPoly {
  return isZero(c) ? new Map() : new Map([[0, c]]);
}

/** The constant value of a polynomial with no variable terms, else null. */
function constOf(a: LPoly): Num | null {
  if (a.size === 0) return ZERO;
  return a.size === 1 && a.has(0) ? (a.get(0) as Num) : null;
}

/**
 * Expands an answer into a Laurent polynomial in `variable`, doing the coefficient arithmetic the way
 * sympy does (exact rationals; Floats stay Floats, so float answers match only when they round exactly).
 * Returns null for anything that is not such a polynomial (then a numeric check decides).
 */
function toLaurent(ast: Ast, variable: string, symbolValue: (name: string) => Num): LPoly | null {
  const go = (e: Ast): LPoly | null => {
    switch (e.t) {
      case 'num':
        return constP(e.value);
      case 'name':
        if (e.name === variable) return new Map([[1, ONE]]);
        if (isSympyNonSymbol(e.name)) throw new ExprError(`unsupported sympy name '${e.name}'`);
        return constP(sympySpecialConstant(e.name) ?? symbolValue(e.name));
      case 'neg': {
        const a = go(e.a);
        return a && mapP(a, (c, k) => [k, neg(c)]);
      }
      case 'pos':
        return go(e.a);
      case 'inv':
      case 'fact': {
        const a = go(e.a);
        const c = a && constOf(a);
        if (!c) return null;
        return constP(e.t === 'fact' ? factorial(c, e.double) : invert(c));
      }
      case 'bin': {
        const a = go(e.a);
        const b = go(e.b);
        if (!a || !b) return null;
        const ca = constOf(a);
        const cb = constOf(b);
        if (ca && cb) return constP(binary(e.op, ca, cb));
        switch (e.op) {
          case '+':
            return addP(a, b);
          case '-':
            return addP(
              a,
              mapP(b, (c, k) => [k, neg(c)]),
            );
          case '*':
            return mulP(a, b);
          case '/': {
            if (b.size !== 1) return null; // only division by a monomial stays a polynomial
            // sympy divides an expression by multiplying with the (rounded, if Float) reciprocal.
            const [[kb, c]] = [...b];
            const r = div(ONE, c);
            return mapP(a, (x, k) => [k - kb, mul(x, r)]);
          }
          case '**': {
            if (!cb || !(cb.k === 'q' && cb.d === 1n) || cb.n > 64n || cb.n < -64n) return null;
            const n = Number(cb.n);
            if (n < 0) {
              if (a.size !== 1) return null;
              const [[ka, c]] = [...a];
              return new Map([[ka * n, pow(c, cb)]]);
            }
            let out: LPoly | null = constP(ONE);
            for (let i = 0; i < n && out; i++) out = mulP(out, a);
            return out;
          }
          default:
            return null; // //, %, ^ of the variable
        }
      }
      case 'cmp':
        throw new ExprError('a comparison is a bool: sympy cannot differentiate it');
    }
  };
  return go(ast);
}

function derivativeP(a: LPoly): LPoly {
  return mapP(new Map([...a].filter(([k]) => k !== 0)), (c, k) => [k - 1, mul(c, rat(BigInt(k)))]);
}

// Evaluation points for answers that are not polynomials: positive non-integers, generic there.
const POINTS: Num[] = [rat(13n, 7n), rat(17n, 8n), rat(23n, 11n), rat(29n, 13n), rat(31n, 12n)];

/** True when d(answer)/d(variable) - integrand simplifies to 0, as reasoning-gym checks with sympy. */
export function isAntiderivative(answer: Ast, integrand: Ast, variable: string): boolean {
  // Other symbols (C, K, ...) are constants: give each a fixed, distinct rational value.
  const values = new Map<string, Num>();
  const symbolValue = (name: string): Num => {
    let v = values.get(name);
    if (!v) {
      const i = BigInt(values.size);
      v = rat(37n + 4n * i, 9n + i);
      values.set(name, v);
    }
    return v;
  };
  const a = toLaurent(answer, variable, symbolValue);
  const f = toLaurent(integrand, variable, symbolValue);
  if (a && f) {
    if ([...a.values()].some((c) => c.k === 'nan')) return false; // sympy folds it all to nan
    return (
      addP(
        derivativeP(a),
        mapP(f, (c, k) => [k, neg(c)]),
      ).size === 0
    );
  }
  // Not a polynomial (e.g. (x**3 - 1)/(x - 1)): exact derivative at several points. Floats there
  // would need sympy's exact rounding to agree, so only exact rational equality counts.
  for (const x of POINTS) {
    const ad = evalDual(answer, variable, x, symbolValue);
    if (ad.v.k === 'nan') return false;
    const fx = evalDual(integrand, variable, x, symbolValue).v;
    if (!(ad.d.k === 'q' && fx.k === 'q' && numEquals(ad.d, fx))) return false;
  }
  return true;
}

function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (answer === null || answer === undefined) return { score: 0 };
  try {
    const variable = String(entry.metadata.variable);
    const integrand = parseExpr(String(entry.metadata.integrand));
    return { score: isAntiderivative(parseExpr(answer), integrand, variable) ? 1 : 0 };
  } catch {
    return { score: 0 }; // reasoning-gym's bare except: parse errors and the rest score 0
  }
}

// ---------- generation ----------

function generate(config: SimpleIntegrationConfig, seed: number, index: number): TaskEntry {
  const c = { ...DEFAULTS, ...config };
  validate(c);
  const rng = Rng.forItem(seed, index);
  const numTerms = rng.int(c.min_terms, c.max_terms);
  const v = rng.choice(c.symbols);
  const poly: Poly = new Map();
  for (let t = 0; t < numTerms; t++) {
    // Half the coefficients are integers, half fractions with a denominator in 2..10.
    let n: number;
    let d = 1;
    if (rng.bool()) {
      n = rng.int(c.min_bounds, c.max_bounds);
    } else {
      d = rng.int(2, 10);
      n = rng.int(c.min_bounds, c.max_bounds);
    }
    const degree = rng.int(c.min_degree, c.max_degree);
    if (rng.choice(c.operators) === '-') n = -n;
    const g = gcd(n, d);
    addTerm(poly, degree, n / g, d / g);
  }
  const integrand = printPoly(derivative(poly), v);
  const question = rng.choice(TEMPLATES).replace('{integrand}', integrand) + ADDED_INSTRUCTION;
  return {
    question,
    answer: `${printPoly(poly, v)} + C`,
    metadata: {
      source_dataset: 'simple_integration',
      source_index: index,
      integrand,
      variable: v,
      num_terms: numTerms,
      difficulty: { terms: [c.min_terms, c.max_terms] },
    },
  };
}

export const task: TaskDefinition<SimpleIntegrationConfig> = {
  name: 'simple_integration',
  defaults: DEFAULTS,
  levels: [
    { name: 'trivial', config: { min_terms: 1, max_terms: 1, max_degree: 2, max_bounds: 5 } },
    { name: 'easy', config: { min_terms: 1, max_terms: 2, max_degree: 4 } },
    { name: 'medium', config: { min_terms: 2, max_terms: 3, max_degree: 6 } },
    { name: 'default', config: {} },
  ],
  generate,
  score,
};
