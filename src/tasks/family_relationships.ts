// family_relationships: name the relation between two people of a described family
// (reasoning-gym graphs/family_relationships).

import { checkConfig, pyStrip } from './common.ts';
import { FAMILY_FEMALE_NAMES, FAMILY_MALE_NAMES } from './data/names.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface FamilyRelationshipsConfig extends Record<string, unknown> {
  min_family_size: number;
  max_family_size: number;
  male_names: readonly string[];
  female_names: readonly string[];
  seed: number | null;
  size: number;
}

function validate(c: FamilyRelationshipsConfig): void {
  const t = 'family_relationships';
  checkConfig(c.min_family_size >= 3, t, 'min_family_size must be at least 3');
  checkConfig(c.max_family_size >= c.min_family_size, t, 'max_family_size must be >= min_family_size');
  checkConfig(c.male_names.length > 0, t, 'must provide male names');
  checkConfig(c.female_names.length > 0, t, 'must provide female names');
}

type Gender = 'male' | 'female';

export interface Person {
  name: string;
  gender: Gender;
  spouse: Person | null;
  parents: Person[];
  children: Person[];
}

function marry(a: Person, b: Person): void {
  a.spouse = b;
  b.spouse = a;
}

function addChild(parent: Person, child: Person): void {
  if (!parent.children.includes(child)) parent.children.push(child);
  if (!child.parents.includes(parent)) child.parents.push(parent);
}

/**
 * reasoning-gym's family shape: paternal grandparents and a father always; a mother from 4 people;
 * maternal grandparents from 7; an uncle and his wife from 9; an aunt and her husband from 11;
 * the remaining places are children of a random couple. Returned in creation order.
 */
function buildFamily(rng: Rng, size: number, males: readonly string[], females: readonly string[]): Person[] {
  const used = new Set<string>();
  const family: Person[] = [];
  const person = (gender: Gender): Person | null => {
    const available = (gender === 'male' ? males : females).filter((n) => !used.has(n));
    if (available.length === 0) return null;
    const name = rng.choice(available);
    used.add(name);
    const p: Person = { name, gender, spouse: null, parents: [], children: [] };
    family.push(p);
    return p;
  };
  const required = (gender: Gender): Person => {
    const p = person(gender);
    if (!p) throw new Error(`not enough ${gender} names for a family of ${size}`);
    return p;
  };
  const couple = (): [Person, Person] => {
    const [a, b] = [required('male'), required('female')];
    marry(a, b);
    return [a, b];
  };

  const paternal = couple();
  const maternal = size > 6 ? couple() : null;
  const father = required('male');
  for (const gp of paternal) addChild(gp, father);
  const couples: [Person, Person][] = [];
  if (size > 3) {
    const mother = required('female');
    marry(father, mother);
    couples.push([father, mother]);
    if (maternal) for (const gp of maternal) addChild(gp, mother);
  }
  if (size > 8) {
    const [uncle, auntByMarriage] = couple();
    for (const gp of paternal) addChild(gp, uncle);
    couples.push([uncle, auntByMarriage]);
  }
  if (size > 10) {
    const aunt = required('female');
    const uncleByMarriage = required('male');
    marry(aunt, uncleByMarriage);
    for (const gp of paternal) addChild(gp, aunt);
    couples.push([aunt, uncleByMarriage]);
  }
  while (family.length < size && couples.length > 0) {
    const child = person(rng.choice(['male', 'female'] as const));
    if (!child) break;
    for (const parent of rng.choice(couples)) addChild(parent, child);
  }
  return family;
}

const gendered = (p: Person, female: string, male: string): string => (p.gender === 'female' ? female : male);
const grandparentsOf = (p: Person): Person[] => p.parents.flatMap((q) => q.parents);

/**
 * What `a` is to `b`, or null for relations reasoning-gym does not ask about (cousins, grandchildren, ...).
 * reasoning-gym's order of checks; two of its labels are fixed here: a niece/nephew takes `a`'s gender
 * (it used `b`'s), and "mother-in-law" is asked of the spouse's parent (it named the child-in-law so).
 */
export function relationOf(a: Person, b: Person): string | null {
  if (b.parents.includes(a)) return gendered(a, 'mother', 'father');
  if (a.parents.includes(b)) return gendered(a, 'daughter', 'son');
  if (a.spouse === b) return gendered(a, 'wife', 'husband');
  const sameParents =
    a.parents.length > 0 &&
    a.parents.length === b.parents.length &&
    a.parents.every((p) => b.parents.includes(p));
  if (sameParents) return gendered(a, 'sister', 'brother');
  if (grandparentsOf(b).includes(a)) return gendered(a, 'grandmother', 'grandfather');
  if (a.parents.some((p) => grandparentsOf(b).includes(p))) return gendered(a, 'aunt', 'uncle');
  if (b.parents.some((p) => grandparentsOf(a).includes(p))) return gendered(a, 'niece', 'nephew');
  if (b.spouse?.parents.includes(a)) return gendered(a, 'mother-in-law', 'father-in-law');
  return null;
}

/** "X is married to Y. They have children called A, B and C." for each couple, in random order. */
function story(rng: Rng, family: Person[]): string {
  const couples: [Person, Person][] = [];
  for (const p of family)
    if (p.spouse && family.indexOf(p) < family.indexOf(p.spouse)) couples.push([p, p.spouse]);
  const parts: string[] = [];
  for (const [a, b] of rng.shuffle(couples)) {
    parts.push(`${a.name} is married to ${b.name}.`);
    const names = a.children.map((c) => c.name);
    if (names.length === 1) parts.push(`They have a child called ${names[0]}.`);
    else if (names.length > 1) {
      parts.push(
        `They have children called ${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}.`,
      );
    }
  }
  return parts.join(' ');
}

// Our own wording of the three question forms.
const TEMPLATES = [
  (a: string, b: string) => `What is ${a} to ${b}? Reply with just the word for their relationship.`,
  (a: string, b: string) => `How is ${a} related to ${b}? Give the relationship in one word.`,
  (a: string, b: string) => `What relation is ${a} to ${b}? Answer with a single word.`,
];

export const task: TaskDefinition<FamilyRelationshipsConfig> = {
  name: 'family_relationships',
  defaults: {
    min_family_size: 4,
    max_family_size: 8,
    male_names: FAMILY_MALE_NAMES,
    female_names: FAMILY_FEMALE_NAMES,
    seed: null,
    size: 500,
  },
  levels: [
    { name: 'trivial', config: { min_family_size: 3, max_family_size: 3 } },
    { name: 'easy', config: { min_family_size: 3, max_family_size: 5 } },
    { name: 'medium', config: { min_family_size: 4, max_family_size: 6 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const size = rng.int(config.min_family_size, config.max_family_size);
    const family = buildFamily(rng, size, config.male_names, config.female_names);

    // Random ordered pairs until one has a relation we ask about (spouses always qualify).
    let a: Person;
    let b: Person;
    let relation: string | null;
    do {
      [a, b] = rng.sample(family, 2);
      relation = relationOf(a, b);
    } while (relation === null);

    const question = `${story(rng, family)}\n\n${rng.choice(TEMPLATES)(a.name, b.name)}`;
    return {
      question,
      answer: relation,
      metadata: {
        source_dataset: 'family_relationships',
        source_index: index,
        person1: a.name,
        person2: b.name,
        relationship: relation,
        family_size: family.length,
        difficulty: { family_size: [config.min_family_size, config.max_family_size] },
      },
    };
  },

  // reasoning-gym: strip().lower() equality, no partial credit.
  score(answer, entry) {
    if (typeof answer !== 'string' || typeof entry.answer !== 'string') return { score: 0 };
    return { score: pyStrip(answer).toLowerCase() === pyStrip(entry.answer).toLowerCase() ? 1.0 : 0.0 };
  },
};
