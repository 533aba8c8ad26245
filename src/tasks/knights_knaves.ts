// knights_knaves: truth-tellers and liars on an island, with a unique solution (reasoning-gym logic/knights_knaves).

import { checkConfig, pySplit, pyStrip } from './common.ts';
import { ISLANDER_NAMES } from './data/names.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export interface KnightsKnavesConfig extends Record<string, unknown> {
  n_people: number;
  depth_constraint: number;
  width_constraint: number;
  seed: number | null;
  size: number;
}

function validate(c: KnightsKnavesConfig): void {
  const t = 'knights_knaves';
  checkConfig(c.n_people >= 1, t, 'Number of people must be at least 1');
  checkConfig(c.n_people <= ISLANDER_NAMES.length, t, `n_people must be <= ${ISLANDER_NAMES.length}`);
  checkConfig(c.depth_constraint >= 1, t, 'Depth constraint must be at least 1');
  checkConfig(c.width_constraint >= 1, t, 'Width constraint must be at least 1');
}

/** reasoning-gym's statement form: ["telling-truth", i], ["lying", i], ["not", s], [op, s1, s2, ...]. */
export type KKStatement =
  | ['telling-truth' | 'lying', number]
  | ['not', KKStatement]
  | ['and' | 'or', ...KKStatement[]]
  | ['->' | '<=>', KKStatement, KKStatement];

/** Truth-teller / liar words ("a knight", "a knave"); the scorer only recognises these role words. */
const ROLE_PAIRS: readonly [string, string][] = [
  ['a knight', 'a knave'],
  ['a pioneer', 'a laggard'],
  ['a saint', 'a sinner'],
  ['a hero', 'a villain'],
  ['an angel', 'a devil'],
  ['an altruist', 'an egoist'],
  ['a sage', 'a fool'],
];
const VALID_ROLES = new Set(ROLE_PAIRS.flatMap((pair) => pair.map((r) => r.split(' ')[1])));

/** Whether a statement is true when `truthful[i]` says whether person i tells the truth. */
export function evalStatement(s: KKStatement, truthful: readonly boolean[]): boolean {
  switch (s[0]) {
    case 'telling-truth':
      return truthful[s[1]];
    case 'lying':
      return !truthful[s[1]];
    case 'not':
      return !evalStatement(s[1], truthful);
    case 'and':
      return s.slice(1).every((t) => evalStatement(t as KKStatement, truthful));
    case 'or':
      return s.slice(1).some((t) => evalStatement(t as KKStatement, truthful));
    case '->':
      return !evalStatement(s[1], truthful) || evalStatement(s[2], truthful);
    case '<=>':
      return evalStatement(s[1], truthful) === evalStatement(s[2], truthful);
  }
}

/** Assignments in which each person's statement is true exactly when that person tells the truth. */
function solutions(statements: readonly KKStatement[]): boolean[][] {
  const n = statements.length;
  const out: boolean[][] = [];
  for (let mask = 0; mask < 1 << n; mask++) {
    const truthful = Array.from({ length: n }, (_, i) => ((mask >> i) & 1) === 1);
    if (statements.every((s, i) => evalStatement(s, truthful) === truthful[i])) out.push(truthful);
  }
  return out;
}

/** reasoning-gym's sampler: a die picks a claim about someone, a negation, and/or, or →/↔. */
class Sampler {
  constructor(
    private readonly rng: Rng,
    private readonly n: number,
    private readonly width: number,
  ) {}

  statement(person: number, depth: number): KKStatement {
    const dice = this.rng.int(0, 5);
    if (depth === 1 || dice === 0) {
      for (;;) {
        const kind = this.rng.choice(['telling-truth', 'lying'] as const);
        const about = this.rng.int(0, this.n - 1);
        // "I am lying" would be a paradox.
        if (!(kind === 'lying' && about === person)) return [kind, about];
      }
    }
    if (dice === 1) return ['not', this.statement(person, depth - 1)];
    if (dice === 2 || dice === 3) {
      const count = this.rng.int(2, Math.max(2, this.width));
      return [dice === 2 ? 'and' : 'or', ...this.distinct(person, depth, count)];
    }
    const [a, b] = this.distinct(person, depth, 2);
    return [dice === 4 ? '->' : '<=>', a, b];
  }

  /** Distinct substatements (give up on distinctness if the small pool runs dry, e.g. with one person). */
  private distinct(person: number, depth: number, count: number): KKStatement[] {
    const out: KKStatement[] = [];
    const seen = new Set<string>();
    for (let tries = 0; out.length < count; tries++) {
      const s = this.statement(person, depth - 1);
      const key = JSON.stringify(s);
      if (seen.has(key) && tries < 200) continue;
      seen.add(key);
      out.push(s);
    }
    return out;
  }
}

const isClaim = (s: KKStatement): boolean => s[0] === 'telling-truth' || s[0] === 'lying';

interface Terms {
  knight: string;
  knave: string;
  a_knight: string;
  a_knave: string;
  Knight: string;
  Knave: string;
}

/** reasoning-gym's wording of a statement: claims, "it is not the case that", and/or, "if ... then", "if and only if". */
function formatStatement(s: KKStatement, names: readonly string[], t: Terms): string {
  const inner = (sub: KKStatement) => {
    const text = formatStatement(sub, names, t);
    return isClaim(sub) ? text : `(${text})`;
  };
  switch (s[0]) {
    case 'telling-truth':
      return `${names[s[1]]} is ${t.a_knight}`;
    case 'lying':
      return `${names[s[1]]} is ${t.a_knave}`;
    case 'not': {
      const sub = s[1];
      // "not a knight" is said as "a knave".
      if (sub[0] === 'telling-truth' || sub[0] === 'lying') {
        return formatStatement([sub[0] === 'telling-truth' ? 'lying' : 'telling-truth', sub[1]], names, t);
      }
      return `it is not the case that ${inner(sub)}`;
    }
    case 'and':
    case 'or':
      return s
        .slice(1)
        .map((sub) => inner(sub as KKStatement))
        .join(` ${s[0]} `);
    case '->':
      return `if ${inner(s[1])} then ${inner(s[2])}`;
    case '<=>':
      return `${inner(s[1])} if and only if ${inner(s[2])}`;
  }
}

// Our own ways of reporting what someone said.
const TEMPLATES: readonly ((name: string, content: string) => string)[] = [
  (n, c) => `${n} said that ${c}.`,
  (n, c) => `${n} claimed that ${c}.`,
  (n, c) => `${n} says, "${c}."`,
  (n, c) => `"${c}," says ${n}.`,
  (n, c) => `${n} insists that ${c}.`,
  (n, c) => `In ${n}'s words: "${c}".`,
  (n, c) => `${n} tells you, "${c}."`,
  (n, c) => `${n} states: "${c}".`,
  (n, c) => `"${c}," ${n} announced.`,
  (n, c) => `${n} whispered that ${c}.`,
  (n, c) => `When asked, ${n} replied: "${c}".`,
  (n, c) => `${n} mentions that ${c}.`,
];

/** "A, B, and C" as reasoning-gym lists people (a comma before "and" even for two). */
const listWithAnd = (items: readonly string[]): string =>
  items.length === 1 ? items[0] : `${items.slice(0, -1).join(', ')}, and ${items[items.length - 1]}`;

/** reasoning-gym's _normalize_answer: the set of (name, role) pairs read from the text, as "name|role". */
function normalize(answer: string): Set<string> {
  const text = pyStrip(answer.toLowerCase()).replace(/[.,()]/g, ' ');
  const pairs = new Set<string>();
  let name: string | null = null;
  for (const part of pySplit(text.replaceAll(' and ', ' '))) {
    if (part === 'is' || part === 'a' || part === 'an') continue;
    if (VALID_ROLES.has(part)) {
      if (name) pairs.add(`${name}|${part}`);
      name = null;
    } else name = part;
  }
  return pairs;
}

/** reasoning-gym's score: 1.0 for the same pairs; same count with k of n right → 0.3 + 0.7k/n. */
function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (typeof answer !== 'string' || answer.length === 0 || typeof entry.answer !== 'string')
    return { score: 0 };
  const oracle = normalize(entry.answer);
  const given = normalize(answer);
  const matching = [...given].filter((p) => oracle.has(p)).length;
  if (oracle.size === given.size && matching === oracle.size) return { score: 1.0 };
  if (oracle.size === given.size && matching > 0) return { score: 0.3 + (0.7 * matching) / oracle.size };
  return { score: 0 };
}

export const task: TaskDefinition<KnightsKnavesConfig> = {
  name: 'knights_knaves',
  defaults: { n_people: 2, depth_constraint: 2, width_constraint: 2, size: 500, seed: null },
  // The defaults are the easiest setting: with depth 1 (bare claims) no puzzle has a unique solution.
  levels: [{ name: 'default', config: {} }],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const n = config.n_people;
    const sampler = new Sampler(rng, n, config.width_constraint);

    // Draw statements until exactly one assignment is consistent.
    let statements: KKStatement[] = [];
    let found: boolean[][] = [];
    for (let tries = 0; found.length !== 1; tries++) {
      // reasoning-gym gives up after 1000 draws; bare claims (depth 1) never pin down one assignment.
      checkConfig(tries < 10_000, 'knights_knaves', 'no puzzle with a unique solution found for this config');
      statements = Array.from({ length: n }, (_, i) => sampler.statement(i, config.depth_constraint));
      found = solutions(statements);
    }
    const solution = found[0];

    const names = rng.sample(ISLANDER_NAMES, n);
    const [aKnight, aKnave] = rng.choice(ROLE_PAIRS);
    const knight = aKnight.split(' ')[1];
    const knave = aKnave.split(' ')[1];
    const terms: Terms = {
      knight,
      knave,
      a_knight: aKnight,
      a_knave: aKnave,
      Knight: knight[0].toUpperCase() + knight.slice(1),
      Knave: knave[0].toUpperCase() + knave.slice(1),
    };

    let text =
      `A very special island is inhabited only by ${knight}s and ${knave}s. ` +
      `${terms.Knight}s always tell the truth, and ${knave}s always lie. ` +
      `You meet ${n} inhabitant${n === 1 ? '' : 's'}: ${listWithAnd(names)}.`;
    statements.forEach((s, i) => {
      text += ' ' + rng.choice(TEMPLATES)(names[i], formatStatement(s, names, terms));
    });
    text += ` So who is ${aKnight} and who is ${aKnave}?`;
    const format = listWithAnd(names.map((name) => `${name} is a ${knight}/${knave}`));
    text += ` (Format your answer like: "${format}")`;

    const answer = listWithAnd(names.map((name, i) => `${name} is ${solution[i] ? aKnight : aKnave}`)) + '.';
    return {
      question: text,
      answer,
      metadata: {
        source_dataset: 'knights_knaves',
        source_index: index,
        statements,
        solution,
        names,
        knight_knave_terms: terms,
        difficulty: {
          n_people: n,
          depth_constraint: config.depth_constraint,
          width_constraint: config.width_constraint,
        },
      },
    };
  },

  score,
  // Only the full assignment counts: no 0.3 + 0.7k/n for a partly right guess.
  scoreStrict(answer, entry) {
    const r = score(answer, entry);
    return r.score === 1 ? r : { ...r, score: 0 };
  },
};
