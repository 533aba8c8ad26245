// syllogism: does a categorical conclusion follow from two premises? (reasoning-gym logic/syllogisms)
import { baseScore, checkConfig, exactScore } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface SyllogismConfig extends Record<string, unknown> {
  allow_all: boolean;
  allow_no: boolean;
  allow_some: boolean;
  allow_some_not: boolean;
  invalid_ratio: number;
  inversion_probability: number;
  seed: number | null;
  size: number;
}

function validate(c: SyllogismConfig): void {
  const t = 'syllogism';
  checkConfig(
    c.allow_all || c.allow_no || c.allow_some || c.allow_some_not,
    t,
    'At least one quantifier type must be allowed',
  );
  checkConfig(c.invalid_ratio >= 0 && c.invalid_ratio <= 1, t, 'invalid_ratio must be between 0.0 and 1.0');
  checkConfig(
    c.inversion_probability >= 0 && c.inversion_probability <= 1,
    t,
    'inversion_probability must be between 0.0 and 1.0',
  );
}

export type Quantifier = 'all' | 'no' | 'some' | 'some_not';
/** A categorical statement about two of the three terms (indices 0..2). */
export interface Statement {
  q: Quantifier;
  subj: number;
  pred: number;
}

// Our own plural nouns for the terms (people, jobs, animals), as in reasoning-gym's default list.
const TERMS: readonly string[] = [
  'humans',
  'mortals',
  'adults',
  'children',
  'parents',
  'students',
  'teachers',
  'doctors',
  'nurses',
  'pilots',
  'farmers',
  'bakers',
  'painters',
  'poets',
  'singers',
  'dancers',
  'engineers',
  'lawyers',
  'animals',
  'mammals',
  'birds',
  'fish',
  'reptiles',
  'insects',
  'dogs',
  'cats',
  'horses',
  'cows',
  'sheep',
  'wolves',
  'foxes',
  'owls',
  'eagles',
  'frogs',
  'bees',
  'whales',
];

export function formatStatement(s: Statement, names: readonly string[]): string {
  const subj = names[s.subj];
  const pred = names[s.pred];
  switch (s.q) {
    case 'all':
      return `All ${subj} are ${pred}`;
    case 'no':
      return `No ${subj} are ${pred}`;
    case 'some':
      return `Some ${subj} are ${pred}`;
    case 'some_not':
      return `Some ${subj} are not ${pred}`;
  }
}

/** Truth of a statement in a model given as the non-empty regions (3-bit membership masks). */
function holds(s: Statement, regions: readonly number[]): boolean {
  const inS = (r: number) => ((r >> s.subj) & 1) === 1;
  const inP = (r: number) => ((r >> s.pred) & 1) === 1;
  switch (s.q) {
    case 'all':
      return regions.every((r) => !inS(r) || inP(r));
    case 'no':
      return !regions.some((r) => inS(r) && inP(r));
    case 'some':
      return regions.some((r) => inS(r) && inP(r));
    case 'some_not':
      return regions.some((r) => inS(r) && !inP(r));
  }
}

/** Every Venn-diagram model of three terms in which each term is non-empty (Aristotelian existential import). */
const MODELS: readonly number[][] = (() => {
  const models: number[][] = [];
  for (let mask = 0; mask < 256; mask++) {
    const regions = [0, 1, 2, 3, 4, 5, 6, 7].filter((r) => (mask >> r) & 1);
    if ([0, 1, 2].every((t) => regions.some((r) => (r >> t) & 1))) models.push(regions);
  }
  return models;
})();

/**
 * Whether the conclusion holds in every model of the premises. This is our validity rule: reasoning-gym's
 * rule list misses the undistributed middle, e.g. it answers Yes to "All A are B, Some B are C ⇒ Some A are C".
 */
export function follows(premises: readonly Statement[], conclusion: Statement): boolean {
  const key = [...premises, conclusion].map((s) => `${s.q}${s.subj}${s.pred}`).join(',');
  let result = followsCache.get(key);
  if (result === undefined) {
    result = MODELS.every((m) => !premises.every((p) => holds(p, m)) || holds(conclusion, m));
    followsCache.set(key, result);
  }
  return result;
}
// Few distinct forms exist (quantifiers × term positions), so each is decided once.
const followsCache = new Map<string, boolean>();

function allowedQuantifiers(c: SyllogismConfig): Quantifier[] {
  const qs: Quantifier[] = [];
  if (c.allow_all) qs.push('all');
  if (c.allow_no) qs.push('no');
  if (c.allow_some) qs.push('some');
  if (c.allow_some_not) qs.push('some_not');
  return qs;
}

interface Problem {
  premise1: Statement;
  premise2: Statement;
  conclusion: Statement;
  selected?: 1 | 2;
}

/**
 * Inversion: conclude from one premise by swapping its terms. The valid forms are No A→No B,
 * All A→Some B, Some A→Some B; an invalid one picks a quantifier that does not follow.
 */
function inversionProblem(rng: Rng, c: SyllogismConfig, qs: Quantifier[]): Problem {
  let premise1: Statement = { q: rng.choice(qs), subj: 0, pred: 1 };
  let premise2: Statement = { q: rng.choice(qs), subj: 1, pred: 2 };
  const selected: 1 | 2 = rng.random() < 0.5 ? 1 : 2;
  let premise = selected === 1 ? premise1 : premise2;
  const targetValid = rng.random() > c.invalid_ratio;
  const others = qs.filter((q) => q !== 'some_not');
  let q: Quantifier;
  if (targetValid) {
    if (premise.q === 'some_not') {
      // "Some A are not B" has no valid inversion: change that premise's quantifier first.
      premise = { ...premise, q: others.length ? rng.choice(others) : 'all' };
      if (selected === 1) premise1 = premise;
      else premise2 = premise;
    }
    q = premise.q === 'all' ? 'some' : premise.q;
  } else if (premise.q === 'no') q = rng.choice(['all', 'some'] as const);
  else if (premise.q === 'some_not') q = others.length ? rng.choice(others) : 'all';
  else q = rng.choice(['all', 'no'] as const);
  return { premise1, premise2, conclusion: { q, subj: premise.pred, pred: premise.subj }, selected };
}

/** Classic form: premises about (A, B) and (B, C), conclusion about (A, C), drawn until validity matches the target. */
function syllogismProblem(rng: Rng, c: SyllogismConfig, qs: Quantifier[]): Problem {
  const targetValid = rng.random() > c.invalid_ratio;
  for (let attempt = 0; attempt < 100; attempt++) {
    const premise1: Statement = { q: rng.choice(qs), subj: 0, pred: 1 };
    const premise2: Statement = { q: rng.choice(qs), subj: 1, pred: 2 };
    const conclusion: Statement = { q: rng.choice(qs), subj: 0, pred: 2 };
    if (follows([premise1, premise2], conclusion) === targetValid) return { premise1, premise2, conclusion };
  }
  // reasoning-gym's fallback: Barbara.
  return {
    premise1: { q: 'all', subj: 0, pred: 1 },
    premise2: { q: 'all', subj: 1, pred: 2 },
    conclusion: { q: 'all', subj: 0, pred: 2 },
  };
}

export const task: TaskDefinition<SyllogismConfig> = {
  name: 'syllogism',
  defaults: {
    allow_all: true,
    allow_no: true,
    allow_some: true,
    allow_some_not: true,
    invalid_ratio: 0.3,
    inversion_probability: 0.3,
    seed: null,
    size: 500,
  },
  // reasoning-gym's curriculum order: All, then No, then Some, then "Some ... are not".
  levels: [
    { name: 'all', config: { allow_no: false, allow_some: false, allow_some_not: false } },
    { name: 'all-no', config: { allow_some: false, allow_some_not: false } },
    { name: 'all-no-some', config: { allow_some_not: false } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const names = rng.sample(TERMS, 3);
    const qs = allowedQuantifiers(config);
    const inversion = rng.random() < config.inversion_probability;
    const p = inversion ? inversionProblem(rng, config, qs) : syllogismProblem(rng, config, qs);
    const isValid = follows([p.premise1, p.premise2], p.conclusion);
    const premise1 = formatStatement(p.premise1, names);
    const premise2 = formatStatement(p.premise2, names);
    const conclusion = formatStatement(p.conclusion, names);
    const question =
      'Consider these statements:\n' +
      `1. ${premise1}\n` +
      `2. ${premise2}\n\n` +
      'Does it logically follow that:\n' +
      `${conclusion}?\n` +
      '(Answer Yes or No)';
    const metadata: Record<string, unknown> = {
      source_dataset: 'syllogism',
      source_index: index,
      premise1,
      premise2,
      ...(p.selected ? { selected_premise: p.selected } : {}),
      conclusion,
      is_valid: isValid,
      type: inversion ? 'inversion' : 'syllogism',
    };
    return { question, answer: isValid ? 'Yes' : 'No', metadata };
  },

  // reasoning-gym uses the base scorer: case-sensitive, substring partial credit.
  score: (answer, entry) => ({ score: baseScore(answer, String(entry.answer)) }),
  scoreStrict: (answer, entry) => ({ score: exactScore(answer, String(entry.answer)) }),
};
