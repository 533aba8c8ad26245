// Logic tasks acre, family_relationships, zebra_puzzles, circuit_logic, syllogism, self_reference,
// propositional_logic, knights_knaves: golden scores from reasoning-gym, then checks of our generators
// across seeds and levels by solvers written here, independent of the generators.
import { describe, expect, it } from 'vitest';
import { task as acre } from '../../src/tasks/acre.ts';
import { task as circuitLogic, circuitQuestion } from '../../src/tasks/circuit_logic.ts';
import { FAMILY_FEMALE_NAMES, FAMILY_MALE_NAMES } from '../../src/tasks/data/names.ts';
import { task as familyRelationships } from '../../src/tasks/family_relationships.ts';
import { task as knightsKnaves } from '../../src/tasks/knights_knaves.ts';
import { oracleAnswer, task as propositionalLogic } from '../../src/tasks/propositional_logic.ts';
import { task as selfReference } from '../../src/tasks/self_reference.ts';
import { task as syllogism } from '../../src/tasks/syllogism.ts';
import type { TaskDefinition, TaskEntry } from '../../src/tasks/types.ts';
import { CATEGORIES, NAME_CATEGORY, task as zebraPuzzles } from '../../src/tasks/zebra_puzzles.ts';
import { loadGolden, toEntry } from '../helpers/rgGolden.ts';

// biome-ignore lint/suspicious/noExplicitAny: tasks have different config types
type AnyTask = TaskDefinition<any>;

const TASKS: AnyTask[] = [
  acre,
  familyRelationships,
  zebraPuzzles,
  circuitLogic,
  syllogism,
  selfReference,
  propositionalLogic,
  knightsKnaves,
];

const oracleOf = (t: AnyTask, e: TaskEntry): string =>
  t.oracleAnswer ? t.oracleAnswer(e) : String(e.answer);

/** Every item of every level for a few seeds. */
function* items(
  t: AnyTask,
  perLevel: number,
): Generator<{ entry: TaskEntry; config: Record<string, unknown>; where: string }> {
  for (const level of t.levels) {
    const config = { ...t.defaults, ...level.config };
    for (let i = 0; i < perLevel; i++) {
      const seed = 1000 + (i % 4);
      const entry = t.generate(config, seed, i);
      yield { entry, config, where: `${t.name}/${level.name} seed=${seed} i=${i}` };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Golden scores

describe('golden scores (reasoning-gym score_answer)', () => {
  for (const t of TASKS) {
    it(`${t.name}: every recorded candidate scores the same`, () => {
      let checked = 0;
      for (const line of loadGolden(t.name)) {
        const entry = toEntry(line);
        for (const c of line.scores) {
          const where = `${t.name}#${line.index} ${c.kind} ${JSON.stringify(c.candidate)}`;
          const got = t.score(c.candidate, entry);
          if (c.error !== undefined) {
            expect(got.error, where).toBeTypeOf('string');
            expect(got.score, where).toBe(0);
          } else {
            expect(got.error, where).toBeUndefined();
            expect(got.score, where).toBe(c.score);
          }
          const strict = (t.scoreStrict ?? t.score)(c.candidate, entry).score;
          expect(strict, where).toBeLessThanOrEqual(got.score);
          if (got.score === 1) expect(strict, where).toBe(1);
          checked++;
        }
        const oracle = line.scores.find((s) => s.kind === 'oracle');
        expect(oracleOf(t, entry)).toBe(oracle?.candidate);
      }
      expect(checked).toBeGreaterThanOrEqual(25 * 6);
    });
  }

  it('strict scorers drop the gameable partial credit', () => {
    const [kk] = loadGolden('knights_knaves').map(toEntry);
    expect(knightsKnaves.score('Ava is a devil, and Emma is a devil.', kk).score).toBeCloseTo(0.65, 10);
    expect(knightsKnaves.scoreStrict!('Ava is a devil, and Emma is a devil.', kk).score).toBe(0);
    const [pl] = loadGolden('propositional_logic').map(toEntry);
    expect(propositionalLogic.score('(P ∨ ¬P)', pl).score).toBe(0.25);
    expect(propositionalLogic.scoreStrict!('(P ∨ ¬P)', pl).score).toBe(0);
    const [sy] = loadGolden('syllogism').map(toEntry);
    expect(syllogism.score('Yes No', sy).score).toBe(0.5);
    expect(syllogism.scoreStrict!('Yes No', sy).score).toBe(0);
  });

  it('propositional_logic scorer quirks', () => {
    const entry: TaskEntry = {
      question: '',
      answer: null,
      metadata: { premises: ['P', '(P → Q)'], variables: ['P', 'Q', 'R'], example_answer: 'Q' },
    };
    const s = (a: string | null) => propositionalLogic.score(a, entry);
    expect(s('Q').score).toBe(0.25); // valid but a bare variable
    expect(s('(P ∧ Q)').score).toBe(1);
    expect(s('P ∧ Q').score).toBe(1); // outer parentheses are optional
    expect(s('((P ∧ Q))').score).toBe(1);
    expect(s('(R ∨ ¬R)').score).toBe(0.25); // tautology
    expect(s('R').score).toBe(0.05);
    expect(s('Therefore Q').score).toBe(0); // "T" is not a variable
    expect(s('q and p').score).toBe(0.05); // lower-case prose parses as one unknown variable
    expect(s('()').score).toBe(0); // empty after the parentheses: ValueError → 0
    expect(s('(P ∧ )').score).toBe(0);
    expect(s(null).score).toBe(0);
    const deep = '¬'.repeat(2000) + 'Q';
    expect(s(deep).error).toMatch(/^RecursionError/);
    // Contradictory premises entail anything.
    const contra: TaskEntry = { ...entry, metadata: { ...entry.metadata, premises: ['P', '¬P'] } };
    expect(propositionalLogic.score('(Q ∧ R)', contra).score).toBe(1);
  });

  it('knights_knaves and zebra scorer quirks', () => {
    const entry: TaskEntry = { question: '', answer: 'Ava is a knight, and Bo is a knave.', metadata: {} };
    const s = (a: string) => knightsKnaves.score(a, entry).score;
    expect(s('bo is a KNAVE; ava is a knight')).toBe(0); // ";" is not removed: "knave;" is no role
    expect(s('(Bo is a knave) and (Ava is a knight)')).toBe(1);
    expect(s('Ava is a knight, and Bo is a knight.')).toBe(0.3 + (0.7 * 1) / 2);
    expect(s('Ava: knight, Bo: knave')).toBe(0); // the names keep their colons: "ava:", "bo:"
    expect(s('Ava is a knight')).toBe(0); // a different number of pairs
    const z: TaskEntry = { question: '', answer: 'bob', metadata: {} };
    expect(zebraPuzzles.score('BOB\n', z).score).toBe(1);
    expect(zebraPuzzles.score(' bob', z).score).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Generators: determinism and the oracle

describe('generators', () => {
  for (const t of TASKS) {
    it(`${t.name}: deterministic, levels end at the defaults, the oracle scores 1.0`, () => {
      expect(t.levels.length).toBeGreaterThan(0);
      expect(t.levels[t.levels.length - 1].config).toEqual({});
      for (const level of t.levels) {
        for (const key of Object.keys(level.config)) expect(Object.hasOwn(t.defaults, key), key).toBe(true);
      }
      let n = 0;
      for (const { entry, config, where } of items(t, 40)) {
        expect(entry.metadata.source_dataset, where).toBe(t.name);
        expect(typeof entry.metadata.source_index, where).toBe('number');
        const again = t.generate(
          config,
          1000 + ((entry.metadata.source_index as number) % 4),
          entry.metadata.source_index as number,
        );
        expect(again, where).toEqual(entry);
        const oracle = oracleOf(t, entry);
        expect(t.score(oracle, entry).score, where).toBe(1);
        expect((t.scoreStrict ?? t.score)(oracle, entry).score, where).toBe(1);
        n++;
      }
      expect(n).toBe(40 * t.levels.length);
    });
  }

  it('different seeds give different items', () => {
    for (const t of TASKS) {
      const qs = new Set<string>();
      for (let seed = 0; seed < 10; seed++) qs.add(t.generate(t.defaults, seed, 0).question);
      expect(qs.size, t.name).toBeGreaterThan(7);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// acre: the light status by enumerating which objects could be blickets

/** on / off when every blicket hypothesis consistent with the trials agrees, else undetermined. */
function acreLabel(question: string): string {
  const examples = question.split('Previous experimental results:\n')[1].split('\n\nNew test case:\n')[0];
  const views = examples.split('\n').map((line) => {
    const [objs, light] = line.split(' → ');
    return { objs: objs.split(', '), on: light === 'on' };
  });
  const test = question.split('New test case:\n')[1].split('\n\n')[0].split(', ');
  const objects = [...new Set([...views.flatMap((v) => v.objs), ...test])];
  const outcomes = new Set<boolean>();
  for (let mask = 0; mask < 1 << objects.length; mask++) {
    const blicket = (o: string) => ((mask >> objects.indexOf(o)) & 1) === 1;
    if (views.every((v) => v.objs.some(blicket) === v.on)) outcomes.add(test.some(blicket));
  }
  if (outcomes.size === 1) return outcomes.has(true) ? 'on' : 'off';
  return 'undetermined';
}

describe('acre', () => {
  it('the enumeration rule reproduces reasoning-gym labels', () => {
    for (const g of loadGolden('acre')) expect(acreLabel(g.question), `#${g.index}`).toBe(g.answer);
  });

  it('generated labels follow from the trials', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const e = acre.generate(acre.defaults, 7, i);
      expect(acreLabel(e.question), `i=${i}`).toBe(e.answer);
      seen.add(String(e.answer));
    }
    expect([...seen].sort()).toEqual(['off', 'on', 'undetermined']);
  });
});

// ---------------------------------------------------------------------------------------------
// family_relationships: rebuild the tree from the story, name the relation

interface Tree {
  parents: Map<string, Set<string>>;
  spouse: Map<string, string>;
}

function parseStory(question: string): Tree {
  const story = question.split('\n\n')[0];
  const parents = new Map<string, Set<string>>();
  const spouse = new Map<string, string>();
  let couple: [string, string] | null = null;
  for (const sentence of story.split(/(?<=\.) /)) {
    const married = /^(\w+) is married to (\w+)\.$/.exec(sentence);
    const one = /^They have a child called (\w+)\.$/.exec(sentence);
    const many = /^They have children called (.+)\.$/.exec(sentence);
    if (married) {
      couple = [married[1], married[2]];
      spouse.set(married[1], married[2]);
      spouse.set(married[2], married[1]);
    } else if (one || many) {
      const kids = one ? [one[1]] : many![1].split(/, | and /);
      for (const kid of kids) parents.set(kid, new Set(couple!));
    } else throw new Error(`unparsed sentence: ${sentence}`);
  }
  return { parents, spouse };
}

const MALE = new Set(FAMILY_MALE_NAMES);
function relation(t: Tree, a: string, b: string): string | null {
  const pick = (female: string, male: string) => (MALE.has(a) ? male : female);
  const par = (x: string) => t.parents.get(x) ?? new Set<string>();
  const siblings = (x: string, y: string) =>
    x !== y && par(x).size > 0 && [...par(x)].every((p) => par(y).has(p));
  if (par(b).has(a)) return pick('mother', 'father');
  if (par(a).has(b)) return pick('daughter', 'son');
  if (t.spouse.get(a) === b) return pick('wife', 'husband');
  if (siblings(a, b)) return pick('sister', 'brother');
  if ([...par(b)].some((p) => par(p).has(a))) return pick('grandmother', 'grandfather');
  if ([...par(b)].some((p) => siblings(p, a))) return pick('aunt', 'uncle');
  if ([...par(a)].some((p) => siblings(p, b))) return pick('niece', 'nephew');
  const sb = t.spouse.get(b);
  if (sb && par(sb).has(a)) return pick('mother-in-law', 'father-in-law');
  return null;
}

describe('family_relationships', () => {
  it('names come from disjoint gendered lists', () => {
    expect(FAMILY_FEMALE_NAMES.some((n) => MALE.has(n))).toBe(false);
  });

  it('the relation of reasoning-gym items (its in-law labels name the other direction)', () => {
    for (const g of loadGolden('family_relationships')) {
      const m = g.metadata as { person1: string; person2: string };
      const tree = parseStory(g.question);
      const inLaw = g.answer === 'mother-in-law' || g.answer === 'father-in-law';
      const got = inLaw ? relation(tree, m.person2, m.person1) : relation(tree, m.person1, m.person2);
      expect(got, `#${g.index}`).toBe(g.answer);
    }
  });

  it('generated answers are the relation in the story tree', () => {
    const kinds = new Set<string>();
    for (const { entry, where } of items(familyRelationships, 80)) {
      const m = entry.metadata as {
        person1: string;
        person2: string;
        relationship: string;
        family_size: number;
      };
      const tree = parseStory(entry.question);
      expect(relation(tree, m.person1, m.person2), where).toBe(entry.answer);
      expect(m.relationship, where).toBe(entry.answer);
      expect(entry.question.split('\n').pop(), where).toMatch(
        new RegExp(` ${m.person1} (related )?to ${m.person2}\\? `),
      );
      const people = new Set([...tree.spouse.keys(), ...tree.parents.keys()]);
      expect(people.size, where).toBe(m.family_size);
      kinds.add(String(entry.answer));
    }
    for (let i = 0; i < 400; i++) {
      kinds.add(
        String(
          familyRelationships.generate(
            { ...familyRelationships.defaults, min_family_size: 9, max_family_size: 12 },
            3,
            i,
          ).answer,
        ),
      );
    }
    for (const k of [
      'aunt',
      'uncle',
      'niece',
      'nephew',
      'mother-in-law',
      'father-in-law',
      'sister',
      'brother',
    ]) {
      expect(kinds.has(k), k).toBe(true);
    }
  });

  it('bigger families keep the relation consistent with the tree', () => {
    const config = { ...familyRelationships.defaults, min_family_size: 9, max_family_size: 12 };
    for (let i = 0; i < 200; i++) {
      const e = familyRelationships.generate(config, 11, i);
      const m = e.metadata as { person1: string; person2: string };
      expect(relation(parseStory(e.question), m.person1, m.person2), `i=${i}`).toBe(e.answer);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// zebra_puzzles: parse the text, brute-force every assignment

interface ZebraPuzzle {
  k: number;
  names: string[][]; // names[category][j]: the j-th value listed
  clues: { kind: string; a: [number, number]; b?: [number, number]; house?: number }[];
}

const ALL_ZEBRA_CATEGORIES = [NAME_CATEGORY, ...CATEGORIES];
const ORDINAL = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh'];

function parseZebra(question: string): ZebraPuzzle {
  const k = Number(/There are (\d+) houses/.exec(question)![1]);
  const names: string[][] = [];
  const phraseOf = new Map<string, [number, number]>();
  for (const [, desc, list] of question.matchAll(/^ - (.+): (.+)$/gm)) {
    const category = ALL_ZEBRA_CATEGORIES.find((c) => c.description === desc)!;
    const values = list.split(', ');
    values.forEach((v, j) => {
      const phrase = category.values.find((x) => x.name === v)!.phrase;
      phraseOf.set(phrase.toLowerCase(), [names.length, j]);
    });
    names.push(values);
  }
  const item = (text: string): [number, number] => {
    const found = phraseOf.get(text.toLowerCase());
    if (!found) throw new Error(`unknown phrase: ${text}`);
    return found;
  };
  const clues: ZebraPuzzle['clues'] = [];
  for (const [, clue] of question.matchAll(/^\d+\. (.+)$/gm)) {
    // Most specific form first: a "same house" clue is any other "X is Y.".
    const found = /^(.+) is in the (\w+) house\.$/.exec(clue);
    const left = /^(.+) is directly left of (.+)\.$/.exec(clue);
    const beside = /^(.+) and (.+) are next to each other\.$/.exec(clue);
    const same = /^(.+) is (.+)\.$/.exec(clue);
    if (found) clues.push({ kind: 'found', a: item(found[1]), house: ORDINAL.indexOf(found[2]) });
    else if (left) clues.push({ kind: 'left', a: item(left[1]), b: item(left[2]) });
    else if (beside) clues.push({ kind: 'beside', a: item(beside[1]), b: item(beside[2]) });
    else if (same) clues.push({ kind: 'same', a: item(same[1]), b: item(same[2]) });
    else throw new Error(`unparsed clue: ${clue}`);
  }
  return { k, names, clues };
}

function permutations(k: number): number[][] {
  if (k === 0) return [[]];
  return permutations(k - 1).flatMap((p) =>
    Array.from({ length: k }, (_, i) => [...p.slice(0, i), k - 1, ...p.slice(i)]),
  );
}

/** All solutions: pos[category][j] = house of the j-th listed value; clues checked once their categories are set. */
function solveZebra(p: ZebraPuzzle, clues = p.clues): number[][][] {
  const perms = permutations(p.k);
  const m = p.names.length;
  const out: number[][][] = [];
  const pos: number[][] = [];
  const ready = (c: ZebraPuzzle['clues'][number], upTo: number) => c.a[0] <= upTo && (!c.b || c.b[0] <= upTo);
  const holds = (c: ZebraPuzzle['clues'][number]) => {
    const ha = pos[c.a[0]][c.a[1]];
    if (c.kind === 'found') return ha === c.house;
    const hb = pos[c.b![0]][c.b![1]];
    if (c.kind === 'same') return ha === hb;
    if (c.kind === 'left') return hb === ha + 1;
    return Math.abs(ha - hb) === 1;
  };
  const place = (cat: number) => {
    if (cat === m) {
      out.push(pos.map((x) => [...x]));
      return;
    }
    const newly = clues.filter((c) => ready(c, cat) && !ready(c, cat - 1));
    for (const perm of perms) {
      pos[cat] = perm;
      if (newly.every(holds)) place(cat + 1);
    }
  };
  place(0);
  return out;
}

describe('zebra_puzzles', () => {
  it('clue phrases read unambiguously and categories have 7+ values', () => {
    for (const c of ALL_ZEBRA_CATEGORIES) {
      expect(c.values.length).toBeGreaterThanOrEqual(7);
      for (const v of c.values) {
        expect(v.phrase).not.toMatch(/ is | and /);
        expect(v.name).not.toContain(',');
      }
    }
  });

  it('every generated puzzle has exactly one solution, and it gives the answer', () => {
    for (const { entry, where } of items(zebraPuzzles, 25)) {
      const p = parseZebra(entry.question);
      const solutions = solveZebra(p);
      expect(solutions.length, where).toBe(1);
      const house1 = solutions[0][0].indexOf(0);
      expect(p.names[0][house1], where).toBe(entry.answer);
      expect(entry.question, where).toContain('What is Name of the person who lives in House 1??');
    }
  });

  it('clue sets are minimal: dropping any clue allows another solution', () => {
    for (const level of zebraPuzzles.levels.slice(0, 3)) {
      const config = { ...zebraPuzzles.defaults, ...level.config };
      for (let i = 0; i < 8; i++) {
        const p = parseZebra(zebraPuzzles.generate(config, 5, i).question);
        for (let drop = 0; drop < p.clues.length; drop++) {
          const rest = p.clues.filter((_, j) => j !== drop);
          expect(solveZebra(p, rest).length, `${level.name} i=${i} drop=${drop}`).toBeGreaterThan(1);
        }
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// circuit_logic: evaluate the displayed expression; redraw reasoning-gym's diagrams

function gate(name: string, bits: number[]): number {
  const ones = bits.filter((b) => b === 1).length;
  if (name === 'AND') return ones === bits.length ? 1 : 0;
  if (name === 'NAND') return ones === bits.length ? 0 : 1;
  if (name === 'OR') return ones > 0 ? 1 : 0;
  if (name === 'NOR') return ones > 0 ? 0 : 1;
  if (name === 'XOR') return ones % 2;
  throw new Error(name);
}

function evaluateExpression(expression: string, finalGate: string, bits: Record<string, number>): number {
  const terms = [...expression.matchAll(/\(([^()]+)\)/g)].map((m) => m[1]);
  const values = terms.map((term) => {
    const name = term.includes('&') ? 'AND' : term.includes('↑') ? 'NAND' : 'XOR';
    const literals = term
      .split(/[&↑⊕]/)
      .map((lit) => (lit.endsWith("'") ? 1 - bits[lit.slice(0, -1)] : bits[lit]));
    return gate(name, literals);
  });
  return gate(finalGate, values);
}

describe('circuit_logic', () => {
  it("our drawing reproduces reasoning-gym's questions exactly", () => {
    for (const g of loadGolden('circuit_logic')) {
      const m = g.metadata as {
        term_strings: string[];
        final_gate: string;
        assignments: Record<string, number>;
      };
      expect(circuitQuestion(m.term_strings, m.final_gate, m.assignments, true), `#${g.index}`).toBe(
        g.question,
      );
    }
  });

  it('answers are the circuit evaluated on the listed inputs', () => {
    const seen = new Set<string>();
    for (const { entry, where } of items(circuitLogic, 60)) {
      const m = entry.metadata as { expression: string; final_gate: string; inputs: string[] };
      const bits: Record<string, number> = {};
      for (const [, name, bit] of entry.question.matchAll(/^ {2}([A-Z]+) = ([01])$/gm))
        bits[name] = Number(bit);
      expect(Object.keys(bits), where).toEqual(m.inputs);
      expect(String(evaluateExpression(m.expression, m.final_gate, bits)), where).toBe(entry.answer);
      seen.add(String(entry.answer));
    }
    expect(seen.size).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
// syllogism: validity by enumerating Venn models (every term non-empty)

type Cat = { q: string; s: string; p: string };
function parseCategorical(text: string): Cat {
  let m = /^Some (\w+) are not (\w+)$/.exec(text);
  if (m) return { q: 'O', s: m[1], p: m[2] };
  m = /^(All|No|Some) (\w+) are (\w+)$/.exec(text);
  if (!m) throw new Error(text);
  return { q: { All: 'A', No: 'E', Some: 'I' }[m[1]]!, s: m[2], p: m[3] };
}

function validByModels(premises: Cat[], conclusion: Cat): boolean {
  const terms = [...new Set([...premises, conclusion].flatMap((c) => [c.s, c.p]))];
  const truth = (c: Cat, inhabited: number[]) => {
    const [s, p] = [terms.indexOf(c.s), terms.indexOf(c.p)];
    const sp = inhabited.filter((r) => r & (1 << s) && r & (1 << p)).length > 0;
    const sNotP = inhabited.filter((r) => r & (1 << s) && !(r & (1 << p))).length > 0;
    return { A: !sNotP, E: !sp, I: sp, O: sNotP }[c.q]!;
  };
  const regions = 1 << terms.length;
  for (let mask = 0; mask < 1 << regions; mask++) {
    const inhabited = [...Array(regions).keys()].filter((r) => mask & (1 << r));
    if (!terms.every((_, t) => inhabited.some((r) => r & (1 << t)))) continue;
    if (premises.every((c) => truth(c, inhabited)) && !truth(conclusion, inhabited)) return false;
  }
  return true;
}

describe('syllogism', () => {
  it("reasoning-gym's labels differ from the models only for the undistributed middle", () => {
    let differ = 0;
    for (const g of loadGolden('syllogism')) {
      const m = g.metadata as { premise1: string; premise2: string; conclusion: string };
      const [p1, p2] = [parseCategorical(m.premise1), parseCategorical(m.premise2)];
      const valid = validByModels([p1, p2], parseCategorical(m.conclusion));
      if ((valid ? 'Yes' : 'No') !== g.answer) {
        differ++;
        // "All S are M" with "Some M are (not) P": M is distributed in neither premise.
        expect([p1.q, p2.q, g.answer], `#${g.index}`).toSatisfy(
          ([a, b, ans]: string[]) => a === 'A' && (b === 'I' || b === 'O') && ans === 'Yes',
        );
      }
    }
    expect(differ).toBeGreaterThan(0);
  });

  it('generated answers agree with the models', () => {
    const answers = new Set<string>();
    for (const { entry, where } of items(syllogism, 80)) {
      const m = entry.metadata as {
        premise1: string;
        premise2: string;
        conclusion: string;
        is_valid: boolean;
      };
      const valid = validByModels(
        [parseCategorical(m.premise1), parseCategorical(m.premise2)],
        parseCategorical(m.conclusion),
      );
      expect(entry.answer, where).toBe(valid ? 'Yes' : 'No');
      expect(m.is_valid, where).toBe(valid);
      expect(entry.question, where).toContain(`1. ${m.premise1}\n2. ${m.premise2}\n`);
      answers.add(String(entry.answer));
    }
    expect([...answers].sort()).toEqual(['No', 'Yes']);
  });
});

// ---------------------------------------------------------------------------------------------
// self_reference: recount the consistent truth assignments

function recountSelfReference(question: string): number {
  const num = (re: RegExp) => Number(re.exec(question)![1]);
  const a = num(/At least (\d+) of these 7 statements are true/);
  const b = num(/At most (\d+) of these 7 statements are false/);
  const c = num(/Exactly (\d+) of these 7 statements are true/);
  const d = num(/Exactly (\d+) of these 7 statements are false/);
  const prime = (n: number) => [2, 3, 5, 7].includes(n);
  const composite = (n: number) => [4, 6].includes(n);
  let count = 0;
  for (let mask = 0; mask < 128; mask++) {
    const v = [0, 1, 2, 3, 4, 5, 6].map((i) => ((mask >> i) & 1) === 1);
    const t = v.filter(Boolean).length;
    const f = 7 - t;
    const says = [t >= a, f <= b, t === c, f === d, v[2] !== v[3], prime(t), composite(f)];
    if (says.every((s, i) => s === v[i])) count++;
  }
  return count;
}

describe('self_reference', () => {
  it("recounting reproduces reasoning-gym's answers", () => {
    for (const g of loadGolden('self_reference'))
      expect(String(recountSelfReference(g.question))).toBe(g.answer);
  });

  it('generated answers are the number of consistent assignments', () => {
    const answers = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const e = selfReference.generate(selfReference.defaults, 9, i);
      expect(String(recountSelfReference(e.question)), `i=${i}`).toBe(e.answer);
      answers.add(String(e.answer));
    }
    expect(answers.size).toBeGreaterThan(3);
  });
});

// ---------------------------------------------------------------------------------------------
// propositional_logic: truth tables over the fully parenthesised formulas

type F = (env: Record<string, boolean>) => boolean;
function compile(text: string, vars: Set<string>): F {
  if (text.startsWith('¬')) {
    const inner = compile(text.slice(1), vars);
    return (env) => !inner(env);
  }
  if (text.startsWith('(')) {
    const body = text.slice(1, -1);
    let depth = 0;
    for (let i = 0; i < body.length; i++) {
      const ch = body[i];
      if (ch === '(') depth++;
      else if (ch === ')') depth--;
      else if (depth === 0 && ' ∧∨→↔'.includes(ch) && ch !== ' ' && body[i - 1] === ' ') {
        const l = compile(body.slice(0, i - 1), vars);
        const r = compile(body.slice(i + 2), vars);
        if (ch === '∧') return (env) => l(env) && r(env);
        if (ch === '∨') return (env) => l(env) || r(env);
        if (ch === '→') return (env) => !l(env) || r(env);
        return (env) => l(env) === r(env);
      }
    }
    throw new Error(`no operator in ${text}`);
  }
  if (!/^[P-Y]$/.test(text)) throw new Error(`bad variable ${text}`);
  vars.add(text);
  return (env) => env[text];
}

function assignments(vars: string[]): Record<string, boolean>[] {
  return Array.from({ length: 1 << vars.length }, (_, mask) =>
    Object.fromEntries(vars.map((v, i) => [v, ((mask >> i) & 1) === 1])),
  );
}

describe('propositional_logic', () => {
  it('oracleAnswer is example_answer and the task object carries it', () => {
    const e = propositionalLogic.generate(propositionalLogic.defaults, 1, 2);
    expect(oracleAnswer(e)).toBe(e.metadata.example_answer);
    expect(propositionalLogic.oracleAnswer?.(e)).toBe(e.metadata.example_answer);
    expect(e.answer).toBeNull();
  });

  it('the example answer follows from the premises and is no tautology or bare variable', () => {
    for (const { entry, where } of items(propositionalLogic, 80)) {
      const m = entry.metadata as { premises: string[]; example_answer: string; variables: string[] };
      const vars = new Set<string>();
      const premises = m.premises.map((p) => compile(p, vars));
      const conclusion = compile(m.example_answer, vars);
      for (const v of vars) expect(m.variables, where).toContain(v);
      const table = assignments([...vars]);
      expect(
        table.every((env) => !premises.every((p) => p(env)) || conclusion(env)),
        where,
      ).toBe(true);
      expect(
        table.every((env) => conclusion(env)),
        where,
      ).toBe(false);
      expect(/^[P-Y]$/.test(m.example_answer), where).toBe(false);
      m.premises.forEach((p, i) => {
        expect(entry.question, where).toContain(`${i + 1}. ${p}\n.`);
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// knights_knaves: enumerate who tells the truth

type Stmt = [string, ...unknown[]];
function truthOf(s: Stmt, knights: boolean[]): boolean {
  const sub = (i: number) => truthOf(s[i] as Stmt, knights);
  switch (s[0]) {
    case 'telling-truth':
      return knights[s[1] as number];
    case 'lying':
      return !knights[s[1] as number];
    case 'not':
      return !sub(1);
    case 'and':
      return s.slice(1).every((_, i) => sub(i + 1));
    case 'or':
      return s.slice(1).some((_, i) => sub(i + 1));
    case '->':
      return !sub(1) || sub(2);
    case '<=>':
      return sub(1) === sub(2);
    default:
      throw new Error(String(s[0]));
  }
}

function consistentAssignments(statements: Stmt[]): boolean[][] {
  const n = statements.length;
  const out: boolean[][] = [];
  for (let mask = 0; mask < 1 << n; mask++) {
    const knights = Array.from({ length: n }, (_, i) => ((mask >> i) & 1) === 1);
    if (statements.every((s, i) => truthOf(s, knights) === knights[i])) out.push(knights);
  }
  return out;
}

describe('knights_knaves', () => {
  it("reasoning-gym's puzzles have one consistent assignment, its solution", () => {
    for (const g of loadGolden('knights_knaves')) {
      const m = g.metadata as { statements: Stmt[]; solution: boolean[] };
      expect(consistentAssignments(m.statements), `#${g.index}`).toEqual([m.solution]);
    }
  });

  it('generated puzzles have exactly one consistent assignment, and the answer states it', () => {
    const configs = [
      knightsKnaves.defaults,
      { ...knightsKnaves.defaults, n_people: 3 },
      { ...knightsKnaves.defaults, n_people: 4, depth_constraint: 3, width_constraint: 3 },
    ];
    for (const config of configs) {
      for (let i = 0; i < 60; i++) {
        const e = knightsKnaves.generate(config, 4, i);
        const where = `${JSON.stringify(config)} i=${i}`;
        const m = e.metadata as {
          statements: Stmt[];
          solution: boolean[];
          names: string[];
          knight_knave_terms: { a_knight: string; a_knave: string };
        };
        const found = consistentAssignments(m.statements);
        expect(found, where).toEqual([m.solution]);
        m.names.forEach((name, j) => {
          const role = m.solution[j] ? m.knight_knave_terms.a_knight : m.knight_knave_terms.a_knave;
          expect(e.answer, where).toContain(`${name} is ${role}`);
          expect(e.question, where).toContain(name);
        });
      }
    }
  });

  it('depth 1 never has a unique solution, so it is refused rather than looping', () => {
    expect(() => knightsKnaves.generate({ ...knightsKnaves.defaults, depth_constraint: 1 }, 1, 0)).toThrow(
      /unique solution/,
    );
  });
});
