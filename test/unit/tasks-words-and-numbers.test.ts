// Tasks base_conversion, number_sorting, word_sorting, spell_backward, letter_counting, leg_counting,
// prime_factorization, number_sequence: golden scores from reasoning-gym, then independent checks of
// our generators across seeds and levels.
import { describe, expect, it } from 'vitest';
import { task as baseConversion } from '../../src/tasks/base_conversion.ts';
import { ANIMAL_LEGS } from '../../src/tasks/data/animals.ts';
import { WORDS } from '../../src/tasks/data/words.ts';
import { task as legCounting } from '../../src/tasks/leg_counting.ts';
import { task as letterCounting } from '../../src/tasks/letter_counting.ts';
import { task as numberSequence } from '../../src/tasks/number_sequence.ts';
import { task as numberSorting } from '../../src/tasks/number_sorting.ts';
import { task as primeFactorization } from '../../src/tasks/prime_factorization.ts';
import { task as spellBackward } from '../../src/tasks/spell_backward.ts';
import type { TaskConfig, TaskDefinition, TaskEntry } from '../../src/tasks/types.ts';
import { task as wordSorting } from '../../src/tasks/word_sorting.ts';
import { loadGolden, toEntry } from '../helpers/rgGolden.ts';

// biome-ignore lint/suspicious/noExplicitAny: tasks have different config types
type AnyTask = TaskDefinition<any>;

const TASKS: AnyTask[] = [
  baseConversion,
  numberSorting,
  wordSorting,
  spellBackward,
  letterCounting,
  legCounting,
  primeFactorization,
  numberSequence,
];

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
            expect(got.error!.split(':')[0], where).toBe(c.error.split(':')[0]);
            expect(got.score, where).toBe(0);
          } else {
            expect(got.error, where).toBeUndefined();
            expect(got.score, where).toBe(c.score);
          }
          // The strict scorer never gives more than the faithful one, and agrees on full marks.
          const strict = (t.scoreStrict ?? t.score)(c.candidate, entry).score;
          expect(strict, where).toBeLessThanOrEqual(got.score);
          if (c.kind === 'oracle') expect(strict, where).toBe(1);
          checked++;
        }
      }
      expect(checked).toBeGreaterThanOrEqual(25 * 7);
    });
  }

  it('prime_factorization reports the exact ValueError message', () => {
    const [line] = loadGolden('prime_factorization');
    const c = line.scores.find((s) => s.error !== undefined)!;
    expect(primeFactorization.score(c.candidate, toEntry(line)).error).toBe(c.error);
  });
});

describe('scorer quirks beyond the golden candidates', () => {
  const nsEntry = (direction: string, answer: string): TaskEntry => ({
    question: '',
    answer,
    metadata: { direction },
  });
  const asc = nsEntry('ascending', "['1.0', '2.0', '3.0']");
  const desc = nsEntry('descending', "['3.0', '2.0', '1.0']");

  it('number_sorting matches CPython 3.11 (scores recorded from reasoning-gym code)', () => {
    // [candidate, ascending score, descending score], produced by running reasoning-gym's
    // NumberSortingDataset.score_answer under Python 3.11.7. NaN makes sorted() order-dependent.
    const cases: [string, number, number][] = [
      ['[NaN, NaN, NaN]', 1, 1],
      ["['nan', 'nan', 'nan']", 1, 1],
      ['[1, NaN, 0]', 0, 0],
      ['[NaN, 2, 1]', 0, 1],
      ['[1, NaN, 3]', 1, 0],
      ['[3, NaN, 1]', 0, 1],
      ['[2, 1, NaN]', 0, 1],
      ["['nan', NaN, 'nan']", 1, 1],
      ['[NaN, 2, NaN]', 1, 1],
      ['[1.5, 2.5, 3.9]', 1, 0],
      ['[1, 2, 4.5]', 0, 0],
      ['[true, 2, 3]', 1, 0],
      ['["1_0", 2, 3]', 0, 0],
      ["[' 1 ', '2', '３']", 1, 0],
      ['[1, 2]', 0, 0],
      ['{"a": 1}', 0, 0],
      ['[1, 2, 3,]', 0, 0],
      ['[1, 2, 3] x', 0, 0],
      ['[1, 2, null]', 0, 0],
      ['[Infinity, 2, 3]', 0, 0],
      ['[01, 2, 3]', 0, 0],
      ['[-Infinity, 2, 3]', 0, 0],
      ["['1e0', '0.2e1', '.3e1']", 1, 0],
      ["['inf', 2, 3]", 0, 0],
    ];
    for (const [cand, a, d] of cases) {
      expect(numberSorting.score(cand, asc).score, `${cand} asc`).toBe(a);
      expect(numberSorting.score(cand, desc).score, `${cand} desc`).toBe(d);
    }
    // Strict: no NaN, no ±1 slack.
    expect(numberSorting.scoreStrict!('[NaN, NaN, NaN]', asc).score).toBe(0);
    expect(numberSorting.scoreStrict!('[1.5, 2.5, 3.9]', asc).score).toBe(0);
    expect(numberSorting.scoreStrict!('[1, 2, 3]', asc).score).toBe(1);
  });

  it('spell_backward: longer answer with the oracle as prefix gets 0.8, strict 0', () => {
    const entry: TaskEntry = { question: '', answer: 'nus', metadata: {} };
    expect(spellBackward.score('nusx', entry).score).toBe(0.8);
    expect(spellBackward.score('NUS', entry).score).toBe(1);
    expect(spellBackward.score('nu', entry).score).toBe(2 / 3);
    expect(spellBackward.scoreStrict!('nusx', entry).score).toBe(0);
    expect(spellBackward.scoreStrict!('Nus', entry).score).toBe(1);
  });

  it('word_sorting: right words in the wrong order get at least 0.2', () => {
    const entry: TaskEntry = { question: '', answer: 'a, b, c', metadata: { sorted_words: ['a', 'b', 'c'] } };
    expect(wordSorting.score('c, a, b', entry).score).toBe(0.2);
    expect(wordSorting.score('a, c, b', entry).score).toBe(1 / 3);
    expect(wordSorting.score('a,b,\tc', entry).score).toBe(1);
    expect(wordSorting.scoreStrict!('a, c, b', entry).score).toBe(0);
  });

  it('prime_factorization: same product 0.5, strict 0', () => {
    const entry: TaskEntry = { question: '', answer: '2 × 2 × 3', metadata: {} };
    expect(primeFactorization.score('12', entry).score).toBe(0.5);
    expect(primeFactorization.score('4 × 3', entry).score).toBe(0.5);
    expect(primeFactorization.score('3×2×2', entry).score).toBe(1);
    expect(primeFactorization.score('2 × 2', entry).score).toBe(0.01);
    expect(primeFactorization.score('two', entry).error).toMatch(/^ValueError/);
    expect(primeFactorization.scoreStrict!('12', entry).score).toBe(0);
    expect(primeFactorization.scoreStrict!('3 × 2 × 2', entry).score).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------
// Generators

const SEEDS = [0, 1, 7, 42, 4242, 123456789];
const PER_SEED = 40;

function* allEntries(t: AnyTask): Generator<[TaskEntry, TaskConfig, string]> {
  for (const level of t.levels) {
    const config = { ...t.defaults, ...level.config };
    for (const seed of SEEDS) {
      for (let i = 0; i < PER_SEED; i++)
        yield [t.generate(config, seed, i), config, `${level.name} s${seed} #${i}`];
    }
  }
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

const numbersIn = (s: string): number[] => (s.match(/-?\d+/g) ?? []).map(Number);

describe('generators', () => {
  for (const t of TASKS) {
    it(`${t.name}: levels end at the defaults; items deterministic, oracle scores 1`, () => {
      expect(t.levels.length).toBeGreaterThanOrEqual(2);
      expect({ ...t.defaults, ...t.levels[t.levels.length - 1].config }).toEqual(t.defaults);
      const answers = new Set<string>();
      for (const [entry, config, where] of allEntries(t)) {
        expect(entry.metadata.source_dataset, where).toBe(t.name);
        expect(typeof entry.answer, where).toBe('string');
        expect(t.score(entry.answer, entry), where).toEqual({ score: 1 });
        expect(t.scoreStrict!(entry.answer, entry), where).toEqual({ score: 1 });
        answers.add(entry.answer!);
        // JSON round trip (how entries are stored) keeps the item and its score.
        const copy = JSON.parse(JSON.stringify(entry)) as TaskEntry;
        expect(copy, where).toEqual(entry);
        expect(t.score(entry.answer, copy).score, where).toBe(1);
        expect(entry.metadata.difficulty, where).toBeTypeOf('object');
        expect(where.endsWith(`#${entry.metadata.source_index}`), where).toBe(true);
        // Every config field is reasoning-gym's (no typos in levels).
        expect(Object.keys(config).sort(), where).toEqual(Object.keys(t.defaults).sort());
      }
      expect(answers.size).toBeGreaterThan(3);
      // Same seed and index → same item; another seed → a different stream.
      const cfg = t.defaults;
      expect(t.generate(cfg, 99, 5)).toEqual(t.generate(cfg, 99, 5));
      const a = Array.from({ length: 10 }, (_, i) => t.generate(cfg, 1, i).question);
      const b = Array.from({ length: 10 }, (_, i) => t.generate(cfg, 2, i).question);
      expect(a).not.toEqual(b);
    });
  }

  it('prime_factorization: factors are prime and multiply back', () => {
    for (const [e, c, where] of allEntries(primeFactorization)) {
      const n = e.metadata.number as number;
      const factors = e.metadata.factors as number[];
      expect(n, where).toBeGreaterThanOrEqual(c.min_value as number);
      expect(n, where).toBeLessThanOrEqual(c.max_value as number);
      expect(
        factors.reduce((p, f) => p * f, 1),
        where,
      ).toBe(n);
      for (const f of factors) expect(isPrime(f), `${where} ${f}`).toBe(true);
      expect(
        [...factors].sort((x, y) => x - y),
        where,
      ).toEqual(factors);
      expect(e.answer, where).toBe(factors.join(' × '));
      expect(e.question, where).toContain(`factorization of ${n}.`);
    }
  });

  it('number_sorting: oracle is sorted and a permutation of the question', () => {
    for (const [e, c, where] of allEntries(numberSorting)) {
      const original = e.metadata.original_numbers as string[];
      const sorted = e.metadata.sorted_numbers as string[];
      expect(e.question, where).toContain(`order: ${original.join(', ')}\n`);
      expect([...sorted].sort(), where).toEqual([...original].sort());
      const values = sorted.map(Number);
      const asc = e.metadata.direction === 'ascending';
      for (let i = 1; i < values.length; i++) {
        expect(asc ? values[i - 1] <= values[i] : values[i - 1] >= values[i], where).toBe(true);
      }
      for (const v of values) {
        expect(v, where).toBeGreaterThanOrEqual(c.min_value as number);
        expect(v, where).toBeLessThanOrEqual(c.max_value as number);
      }
      expect(e.answer, where).toBe(`[${sorted.map((s) => `'${s}'`).join(', ')}]`);
      expect(original.length, where).toBeGreaterThanOrEqual(c.min_numbers as number);
      expect(original.length, where).toBeLessThanOrEqual(c.max_numbers as number);
    }
  });

  it('base_conversion: both representations parse back to the value', () => {
    for (const [e, c, where] of allEntries(baseConversion)) {
      const m = e.metadata;
      const value = m.decimal_value as number;
      expect(Number.parseInt(m.source_repr as string, m.source_base as number), where).toBe(value);
      expect(Number.parseInt(e.answer!, m.target_base as number), where).toBe(value);
      expect(e.answer, where).toMatch(/^[0-9a-z]+$/);
      expect(m.source_base, where).not.toBe(m.target_base);
      for (const b of [m.source_base, m.target_base] as number[]) {
        expect(b, where).toBeGreaterThanOrEqual(c.min_base as number);
        expect(b, where).toBeLessThanOrEqual(c.max_base as number);
      }
      expect(e.question, where).toContain(` number ${m.source_repr} to `);
    }
  });

  it('spell_backward: the answer reversed is the word in the question', () => {
    for (const [e, c, where] of allEntries(spellBackward)) {
      const word = e.metadata.word as string;
      expect(e.question, where).toBe(`Spell this word backward (example: sun -> nus): ${word}`);
      expect(e.answer!.split('').reverse().join(''), where).toBe(word);
      expect(word.length, where).toBeGreaterThanOrEqual(c.min_word_len as number);
      expect(word.length, where).toBeLessThanOrEqual(c.max_word_len as number);
    }
  });

  it('letter_counting: recounting the quoted text gives the answer', () => {
    for (const [e, c, where] of allEntries(letterCounting)) {
      const m = /^How many times does the letter "(.)" appear in the text: "(.*)"\?$/.exec(e.question);
      expect(m, where).not.toBeNull();
      const [, letter, text] = m!;
      let count = 0;
      for (const ch of text.toLowerCase()) if (ch === letter) count++;
      expect(String(count), where).toBe(e.answer);
      expect(count, where).toBeGreaterThan(0);
      const words = text.split(' ');
      expect(words.length, where).toBeGreaterThanOrEqual(c.min_words as number);
      expect(words.length, where).toBeLessThanOrEqual(c.max_words as number);
    }
  });

  it('leg_counting: totals recompute from the question', () => {
    for (const [e, c, where] of allEntries(legCounting)) {
      const list = /if you have (.*)\?\n$/.exec(e.question)![1].split(', ');
      let total = 0;
      for (const item of list) {
        const m = /^(\d+) (.+)$/.exec(item)!;
        const count = Number(m[1]);
        const name = count > 1 ? m[2].slice(0, -1) : m[2];
        expect(ANIMAL_LEGS[name], `${where} ${item}`).toBeTypeOf('number');
        expect(count, where).toBeGreaterThanOrEqual(c.min_instances as number);
        expect(count, where).toBeLessThanOrEqual(c.max_instances as number);
        total += count * ANIMAL_LEGS[name];
      }
      expect(String(total), where).toBe(e.answer);
      expect(list.length, where).toBeGreaterThanOrEqual(c.min_animals as number);
      expect(list.length, where).toBeLessThanOrEqual(c.max_animals as number);
    }
  });

  it('number_sequence: every term follows the stated rule', () => {
    const step = (rule: string, seq: number[], i: number): number => {
      let x = seq[i];
      if (rule === '') return x;
      for (const part of rule.split(' then ')) {
        const add = /^add (-?\d+)$/.exec(part);
        const mul = /^multiply by (-?\d+)$/.exec(part);
        if (add) x += Number(add[1]);
        else if (mul) x *= Number(mul[1]);
        else if (part === 'square') x = x * x;
        else if (part === 'double') x = 2 * x;
        else if (part === 'halve') x = Math.floor(x / 2);
        else if (part === 'add previous') x += i > 0 ? seq[i - 1] : 0;
        else throw new Error(`unknown rule part ${part}`);
      }
      return x;
    };
    for (const [e, c, where] of allEntries(numberSequence)) {
      const seq = [...numbersIn(e.question), Number(e.answer)];
      expect(seq, where).toEqual(e.metadata.sequence);
      expect(e.question, where).toBe(`${seq.slice(0, -1).join(', ')}, ?`);
      const rule = e.metadata.rule as string;
      for (let i = 0; i + 1 < seq.length; i++)
        expect(seq[i + 1], `${where} ${rule} @${i}`).toBe(step(rule, seq, i) + 0); // + 0: no -0
      expect(seq.length - 1, where).toBeGreaterThanOrEqual(c.min_terms as number);
      expect(seq.length - 1, where).toBeLessThanOrEqual(c.max_terms as number);
      expect(new Set(seq).size, where).toBeGreaterThan(1);
      for (const x of seq) expect(Math.abs(x), where).toBeLessThanOrEqual(1000);
    }
  });

  it('word_sorting: oracle is the question words in code point order', () => {
    for (const [e, c, where] of allEntries(wordSorting)) {
      const words = e.metadata.transformed_words as string[];
      const sorted = e.metadata.sorted_words as string[];
      expect(e.question, where).toContain(`comma-separated list: ${words.join(', ')}\n`);
      expect([...sorted].sort(), where).toEqual([...words].sort());
      const asc = e.metadata.direction === 'ascending';
      for (let i = 1; i < sorted.length; i++) {
        const [a, b] = [sorted[i - 1], sorted[i]];
        expect(asc ? a <= b : a >= b, `${where} ${a} ${b}`).toBe(true); // ASCII words: UTF-16 order is code point order
      }
      expect(e.answer, where).toBe(sorted.join(', '));
      expect(words.length, where).toBeGreaterThanOrEqual(c.min_words as number);
      expect(words.length, where).toBeLessThanOrEqual(c.max_words as number);
      for (const w of e.metadata.original_words as string[]) {
        expect(w.length, where).toBeGreaterThanOrEqual(c.min_word_length as number);
        expect(w.length, where).toBeLessThanOrEqual(c.max_word_length as number);
      }
    }
  });

  it('word_sorting transformations change only the case', () => {
    for (const transformation of ['lowercase', 'uppercase', 'randomcase'] as const) {
      const config = { ...wordSorting.defaults, transformation };
      for (let i = 0; i < 30; i++) {
        const e = wordSorting.generate(config, 3, i);
        const orig = e.metadata.original_words as string[];
        const tr = e.metadata.transformed_words as string[];
        tr.forEach((w, k) => {
          expect(w.toLowerCase()).toBe(orig[k].toLowerCase());
        });
        if (transformation !== 'randomcase') {
          expect(tr).toEqual(
            orig.map((w) => (transformation === 'lowercase' ? w.toLowerCase() : w.toUpperCase())),
          );
        }
        expect(wordSorting.score(e.answer, e).score).toBe(1);
      }
    }
  });

  it('the word list holds distinct lower-case words of 3 to 10 letters', () => {
    expect(WORDS.length).toBeGreaterThan(300);
    expect(new Set(WORDS).size).toBe(WORDS.length);
    for (const w of WORDS) expect(w).toMatch(/^[a-z]{3,10}$/);
  });

  it('bad configs are rejected', () => {
    expect(() =>
      baseConversion.generate({ ...baseConversion.defaults, min_base: 5, max_base: 5 }, 1, 0),
    ).toThrow();
    expect(() => legCounting.generate({ ...legCounting.defaults, max_animals: 1000 }, 1, 0)).toThrow();
    expect(() => numberSequence.generate({ ...numberSequence.defaults, min_terms: 3 }, 1, 0)).toThrow();
    expect(() =>
      primeFactorization.generate({ ...primeFactorization.defaults, min_value: 1 }, 1, 0),
    ).toThrow();
    expect(() => wordSorting.generate({ ...wordSorting.defaults, max_words: 100000 }, 1, 0)).toThrow();
  });
});
