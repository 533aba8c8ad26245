// Propositional formulas for the logic tasks: reasoning-gym's parse_expr grammar, printing,
// evaluation and entailment.
import { pyStrip } from './common.ts';

export type BinaryOp = 'and' | 'or' | 'implies' | 'iff';
export type Prop = { op: 'var'; name: string } | { op: 'not'; a: Prop } | { op: BinaryOp; a: Prop; b: Prop };

export const SYMBOL: Record<BinaryOp | 'not', string> = {
  and: '∧',
  or: '∨',
  not: '¬',
  implies: '→',
  iff: '↔',
};

/** Binary operators from the loosest to the tightest, as reasoning-gym's parser splits on them. */
const PRECEDENCE: BinaryOp[] = ['iff', 'implies', 'or', 'and'];

export const pvar = (name: string): Prop => ({ op: 'var', name });
export const pnot = (a: Prop): Prop => ({ op: 'not', a });
export const pbin = (op: BinaryOp, a: Prop, b: Prop): Prop => ({ op, a, b });

/** reasoning-gym's Expression.__str__: "¬X" and "(X op Y)". */
export function formatProp(p: Prop): string {
  if (p.op === 'var') return p.name;
  if (p.op === 'not') return SYMBOL.not + formatProp(p.a);
  return `(${formatProp(p.a)} ${SYMBOL[p.op]} ${formatProp(p.b)})`;
}

/** Raised where reasoning-gym's parse_expr raises ValueError, or Python would hit its recursion limit. */
export class PropParseError extends Error {}

// Python's default recursion limit is 1000 frames; parsing deeper input raises RecursionError there.
const MAX_PARSE_DEPTH = 990;

/**
 * reasoning-gym's parse_expr: strip; drop one pair of enclosing parentheses if they match; split at
 * the rightmost top-level operator, loosest first (↔, →, ∨, ∧); then a leading ¬; anything else is
 * one variable named by the whole (stripped) text, e.g. "P Q" or "it rains".
 */
export function parseProp(text: string, depth = 0): Prop {
  if (depth > MAX_PARSE_DEPTH) throw new PropParseError('RecursionError: maximum recursion depth exceeded');
  const expr = pyStrip(text);
  if (!expr) throw new PropParseError('ValueError: Empty expression');

  if (expr[0] === '(' && expr[expr.length - 1] === ')') {
    let level = 0;
    let balanced = true;
    for (let i = 1; i < expr.length - 1; i++) {
      if (expr[i] === '(') level++;
      else if (expr[i] === ')') {
        level--;
        if (level < 0) {
          balanced = false;
          break;
        }
      }
    }
    if (level === 0 && balanced) return parseProp(expr.slice(1, -1), depth + 1);
  }

  for (const op of PRECEDENCE) {
    let level = 0;
    for (let i = expr.length - 1; i >= 0; i--) {
      const ch = expr[i];
      if (ch === ')') level++;
      else if (ch === '(') level--;
      else if (level === 0 && ch === SYMBOL[op]) {
        return pbin(op, parseProp(expr.slice(0, i), depth + 1), parseProp(expr.slice(i + 1), depth + 1));
      }
    }
  }

  if (expr.startsWith(SYMBOL.not)) return pnot(parseProp(expr.slice(1), depth + 1));
  return pvar(expr);
}

export function evalProp(p: Prop, env: ReadonlyMap<string, boolean>): boolean {
  switch (p.op) {
    case 'var':
      return env.get(p.name) === true;
    case 'not':
      return !evalProp(p.a, env);
    case 'and':
      return evalProp(p.a, env) && evalProp(p.b, env);
    case 'or':
      return evalProp(p.a, env) || evalProp(p.b, env);
    case 'implies':
      return !evalProp(p.a, env) || evalProp(p.b, env);
    case 'iff':
      return evalProp(p.a, env) === evalProp(p.b, env);
  }
}

export function propVariables(props: readonly Prop[], into = new Set<string>()): Set<string> {
  const walk = (p: Prop): void => {
    if (p.op === 'var') into.add(p.name);
    else if (p.op === 'not') walk(p.a);
    else {
      walk(p.a);
      walk(p.b);
    }
  };
  props.forEach(walk);
  return into;
}

/** Three-valued evaluation: undefined while an unassigned variable still matters. */
function eval3(p: Prop, env: ReadonlyMap<string, boolean>): boolean | undefined {
  switch (p.op) {
    case 'var':
      return env.get(p.name);
    case 'not': {
      const a = eval3(p.a, env);
      return a === undefined ? undefined : !a;
    }
    case 'and': {
      const a = eval3(p.a, env);
      if (a === false) return false;
      const b = eval3(p.b, env);
      if (b === false) return false;
      return a === true && b === true ? true : undefined;
    }
    case 'or': {
      const a = eval3(p.a, env);
      if (a === true) return true;
      const b = eval3(p.b, env);
      if (b === true) return true;
      return a === false && b === false ? false : undefined;
    }
    case 'implies': {
      const a = eval3(p.a, env);
      if (a === false) return true;
      const b = eval3(p.b, env);
      if (b === true) return true;
      return a === true && b === false ? false : undefined;
    }
    case 'iff': {
      const a = eval3(p.a, env);
      if (a === undefined) return undefined;
      const b = eval3(p.b, env);
      return b === undefined ? undefined : a === b;
    }
  }
}

/**
 * Whether some assignment makes every formula true. A small backtracking search with three-valued
 * pruning: the same answer as a full truth table, without 2^n work on long answers.
 */
export function satisfiable(props: readonly Prop[]): boolean {
  const vars = [...propVariables(props)];
  const env = new Map<string, boolean>();
  const search = (k: number): boolean => {
    let open = false;
    for (const p of props) {
      const v = eval3(p, env);
      if (v === false) return false;
      if (v === undefined) open = true;
    }
    if (!open) return true;
    for (const value of [true, false]) {
      env.set(vars[k], value);
      if (search(k + 1)) return true;
    }
    env.delete(vars[k]);
    return false;
  };
  return search(0);
}

/** The conclusion holds under every assignment that makes all premises true (truth-table entailment). */
export function entails(premises: readonly Prop[], conclusion: Prop): boolean {
  return !satisfiable([...premises, pnot(conclusion)]);
}

export function isTautology(p: Prop): boolean {
  return !satisfiable([pnot(p)]);
}
