// propositional_logic: infer a valid, non-trivial conclusion from premises (reasoning-gym logic/propositional_logic).

import { checkConfig } from './common.ts';
import {
  type BinaryOp,
  entails,
  formatProp,
  isTautology,
  type Prop,
  PropParseError,
  parseProp,
  pbin,
  pnot,
  pvar,
} from './logic.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export interface PropositionalLogicConfig extends Record<string, unknown> {
  min_vars: number;
  max_vars: number;
  min_statements: number;
  max_statements: number;
  min_complexity: number;
  max_complexity: number;
  seed: number | null;
  size: number;
}

function validate(c: PropositionalLogicConfig): void {
  const t = 'propositional_logic';
  checkConfig(c.min_vars > 0, t, 'min_vars must be positive');
  checkConfig(c.max_vars >= c.min_vars, t, 'max_vars must be >= min_vars');
  checkConfig(c.max_vars <= 10, t, 'max_vars must be <= 10 (variables P..Y)');
  checkConfig(c.min_statements > 0, t, 'min_statements must be positive');
  checkConfig(c.max_statements >= c.min_statements, t, 'max_statements must be >= min_statements');
  checkConfig(c.min_complexity > 0, t, 'min_complexity must be positive');
  checkConfig(c.max_complexity >= c.min_complexity, t, 'max_complexity must be >= min_complexity');
}

const QUESTION_FORMAT = `The following question is a propositional logic reasoning question.

In the question we provide a list of premises. The task is to infer a correct conclusion from the premise.

FORMAT INSTRUCTIONS:
- Return the conclusion logic statement, as your final answer.
- Use the following notation to denote symbols
    - OR = ∨
    - AND = ∧
    - IMPLIES = →
    - IFF = ↔
    - NOT = ¬

Here is the question:
`;

// reasoning-gym picks among its five operators uniformly (AND, OR, NOT, IMPLIES, IFF).
const OPERATORS: readonly (BinaryOp | 'not')[] = ['and', 'or', 'not', 'implies', 'iff'];

/** A random formula: a variable at depth <= 1, else a random operator over depth-1 subformulas. */
function randomExpression(rng: Rng, variables: readonly string[], depth: number): Prop {
  if (depth <= 1) return pvar(rng.choice(variables));
  const op = rng.choice(OPERATORS);
  if (op === 'not') return pnot(randomExpression(rng, variables, depth - 1));
  const a = randomExpression(rng, variables, depth - 1);
  return pbin(op, a, randomExpression(rng, variables, depth - 1));
}

/** reasoning-gym's Expression.simplify: ¬¬X → X, (X → Y) → (¬X ∨ Y). */
function simplify(p: Prop): Prop {
  if (p.op === 'var') return p;
  if (p.op === 'not') {
    const a = simplify(p.a);
    return a.op === 'not' ? a.a : pnot(a);
  }
  const a = simplify(p.a);
  const b = simplify(p.b);
  if (p.op === 'implies') return simplify(pbin('or', pnot(a), b));
  return pbin(p.op, a, b);
}

function complexity(p: Prop): number {
  if (p.op === 'var') return 1;
  if (p.op === 'not') return 1 + complexity(p.a);
  return 1 + complexity(p.a) + complexity(p.b);
}

const isTrivial = (p: Prop): boolean => p.op === 'var' || isTautology(p);
const isGoodConclusion = (premises: Prop[], c: Prop): boolean => entails(premises, c) && !isTrivial(c);

/** Every simplified depth-2 formula, so that a conclusion is found whenever one of that shape exists. */
function allDepth2(variables: readonly string[]): Prop[] {
  const out: Prop[] = [];
  for (const x of variables) out.push(pnot(pvar(x)));
  for (const x of variables) {
    for (const y of variables) {
      for (const op of ['and', 'or', 'iff'] as const) out.push(pbin(op, pvar(x), pvar(y)));
      out.push(pbin('or', pnot(pvar(x)), pvar(y)));
    }
  }
  return out;
}

/**
 * Like reasoning-gym: up to 100 random depth-2 candidates. Unlike it, we then try every depth-2
 * formula, and return null (new premises) rather than fall back to a bare variable that may not follow.
 */
function findConclusion(rng: Rng, premises: Prop[], variables: readonly string[]): Prop | null {
  for (let i = 0; i < 100; i++) {
    const candidate = simplify(randomExpression(rng, variables, 2));
    if (isGoodConclusion(premises, candidate)) return candidate;
  }
  for (const candidate of rng.shuffle(allDepth2(variables))) {
    if (isGoodConclusion(premises, candidate)) return candidate;
  }
  return null;
}

/** The oracle-equivalent answer (the entry's answer is null): metadata.example_answer. */
export function oracleAnswer(entry: TaskEntry): string {
  return String(entry.metadata.example_answer);
}

/** reasoning-gym's PropositionalLogicDataset.score_answer. */
function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (typeof answer !== 'string') return { score: 0 };
  const { variables, premises } = entry.metadata;
  // A missing key is a KeyError, which reasoning-gym catches (0.0).
  if (!Array.isArray(variables) || !Array.isArray(premises)) return { score: 0 };
  const valid = new Set(variables.map(String));
  // Every capital letter must be a puzzle variable, so English prose scores 0.
  for (const m of answer.matchAll(/[A-Z]/g)) if (!valid.has(m[0])) return { score: 0 };
  let parsedPremises: Prop[];
  let conclusion: Prop;
  try {
    parsedPremises = premises.map((p) => parseProp(String(p)));
    conclusion = parseProp(answer);
  } catch (e) {
    if (e instanceof PropParseError && e.message.startsWith('RecursionError')) {
      return { score: 0, error: e.message };
    }
    if (e instanceof PropParseError) return { score: 0 };
    throw e;
  }
  if (!entails(parsedPremises, conclusion)) return { score: 0.05 };
  return { score: isTrivial(conclusion) ? 0.25 : 1.0 };
}

export const task: TaskDefinition<PropositionalLogicConfig> = {
  name: 'propositional_logic',
  defaults: {
    min_vars: 2,
    max_vars: 4,
    min_statements: 2,
    max_statements: 4,
    min_complexity: 1,
    max_complexity: 3,
    seed: null,
    size: 500,
  },
  levels: [
    {
      name: 'trivial',
      config: { max_vars: 2, max_statements: 2, max_complexity: 1 },
    },
    {
      name: 'easy',
      config: { max_vars: 2, max_statements: 2, max_complexity: 2 },
    },
    {
      name: 'medium',
      config: { max_vars: 3, max_statements: 3, max_complexity: 2 },
    },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const numVars = rng.int(config.min_vars, config.max_vars);
    const variables = Array.from({ length: numVars }, (_, i) => String.fromCharCode(80 + i)); // P, Q, R, ...
    const numStatements = rng.int(config.min_statements, config.max_statements);

    let premises: Prop[] = [];
    let conclusion: Prop | null = null;
    // Premises from which only tautologies follow (e.g. "(Q → Q)") are drawn again.
    for (let attempt = 0; attempt < 50 && !conclusion; attempt++) {
      premises = [];
      for (let i = 0; i < numStatements; i++) {
        const depth = rng.int(config.min_complexity, config.max_complexity);
        premises.push(randomExpression(rng, variables, depth));
      }
      conclusion = findConclusion(rng, premises, variables);
    }
    // reasoning-gym's fallback; practically unreachable.
    const example = conclusion ?? pvar(variables[0]);

    let question = QUESTION_FORMAT + 'Given:\n';
    premises.forEach((p, i) => {
      // reasoning-gym's layout, period on the next line included.
      question += `${i + 1}. ${formatProp(p)}\n.`;
    });
    question += 'What can we conclude from the above statements?';

    return {
      question,
      answer: null,
      metadata: {
        source_dataset: 'propositional_logic',
        source_index: index,
        premises: premises.map(formatProp),
        variables,
        complexity: complexity(example),
        example_answer: formatProp(example),
        difficulty: {
          vars: [config.min_vars, config.max_vars],
          statements: [config.min_statements, config.max_statements],
          complexity: [config.min_complexity, config.max_complexity],
        },
      },
    };
  },

  score,
  oracleAnswer,
  // Only a valid, non-trivial conclusion counts: no 0.25 for "(P ∨ ¬P)", no 0.05 for any formula.
  scoreStrict(answer, entry) {
    const r = score(answer, entry);
    return r.score === 1 ? r : { ...r, score: 0 };
  },
};
