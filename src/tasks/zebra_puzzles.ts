// zebra_puzzles: Einstein-style house puzzles with a unique solution (reasoning-gym logic/zebra_puzzles).
import { checkConfig } from './common.ts';
import { HOUSE_NAMES } from './data/names.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface ZebraConfig extends Record<string, unknown> {
  num_people: number;
  num_characteristics: number;
  seed: number | null;
  size: number;
}

function validate(c: ZebraConfig): void {
  checkConfig(c.num_people >= 2 && c.num_people <= 7, 'zebra_puzzles', 'num_people must be between 2 and 7');
  checkConfig(
    c.num_characteristics >= 2 && c.num_characteristics <= 7,
    'zebra_puzzles',
    'num_characteristics must be between 2 and 7',
  );
}

/** One characteristic: its heading, and per value the word listed and the phrase used in clues. */
export interface Category {
  description: string;
  values: readonly { name: string; phrase: string }[];
}

const cat = (description: string, values: [string, string][]): Category => ({
  description,
  values: values.map(([name, phrase]) => ({ name, phrase })),
});

export const NAME_CATEGORY: Category = cat(
  'Each person has a unique name',
  HOUSE_NAMES.map((n) => [n, n[0].toUpperCase() + n.slice(1)]),
);

// Our own characteristics. Phrases avoid " is " and " and " so that clue sentences read unambiguously.
export const CATEGORIES: readonly Category[] = [
  cat('Each person has a favorite color', [
    ['red', 'the person who loves red'],
    ['blue', 'the person who adores blue'],
    ['green', 'the person who loves green'],
    ['yellow', 'the person who likes yellow'],
    ['white', 'the person who prefers white'],
    ['purple', 'the person who loves purple'],
    ['orange', 'the person who likes orange'],
  ]),
  cat('The people keep different pets', [
    ['cat', 'the cat owner'],
    ['dog', 'the dog owner'],
    ['parrot', 'the parrot keeper'],
    ['goldfish', 'the goldfish keeper'],
    ['rabbit', 'the rabbit owner'],
    ['hamster', 'the person with a hamster'],
    ['turtle', 'the person who keeps a turtle'],
  ]),
  cat('Each person has a favorite drink', [
    ['tea', 'the tea drinker'],
    ['coffee', 'the coffee drinker'],
    ['milk', 'the person who likes milk'],
    ['water', 'the one who only drinks water'],
    ['juice', 'the juice drinker'],
    ['lemonade', 'the lemonade lover'],
    ['cocoa', 'the person who drinks cocoa'],
  ]),
  cat('People have different favorite sports', [
    ['soccer', 'the soccer player'],
    ['tennis', 'the person who plays tennis'],
    ['golf', 'the golfer'],
    ['basketball', 'the basketball fan'],
    ['swimming', 'the swimmer'],
    ['cycling', 'the cyclist'],
    ['hockey', 'the hockey player'],
  ]),
  cat('Each person has a different job', [
    ['doctor', 'the doctor'],
    ['teacher', 'the teacher'],
    ['baker', 'the baker'],
    ['pilot', 'the pilot'],
    ['nurse', 'the nurse'],
    ['farmer', 'the farmer'],
    ['architect', 'the architect'],
  ]),
  cat('Everyone has a favorite lunch', [
    ['pizza', 'the pizza lover'],
    ['soup', 'the person who eats soup'],
    ['salad', 'the salad eater'],
    ['sushi', 'the sushi fan'],
    ['pasta', 'the person who loves pasta'],
    ['tacos', 'the person who orders tacos'],
    ['curry', 'the curry lover'],
  ]),
  cat('Everyone has a different favorite flower', [
    ['rose', 'the person who loves roses'],
    ['tulip', 'the tulip grower'],
    ['lily', 'the person who likes lilies'],
    ['daisy', 'the daisy lover'],
    ['orchid', 'the orchid collector'],
    ['sunflower', 'the person who grows sunflowers'],
    ['lavender', 'the lavender fan'],
  ]),
  cat('People like different kinds of music', [
    ['jazz', 'the jazz fan'],
    ['rock', 'the person who loves rock music'],
    ['pop', 'the pop music fan'],
    ['blues', 'the blues lover'],
    ['folk', 'the person who listens to folk'],
    ['classical', 'the classical music lover'],
    ['reggae', 'the reggae fan'],
  ]),
  cat('Everyone has a different hobby', [
    ['painting', 'the painter'],
    ['reading', 'the avid reader'],
    ['gardening', 'the gardener'],
    ['cooking', 'the person who loves cooking'],
    ['hiking', 'the hiker'],
    ['knitting', 'the person who knits'],
    ['chess', 'the chess player'],
  ]),
  cat('Each person comes from a different country', [
    ['france', 'the person from France'],
    ['spain', 'the person from Spain'],
    ['italy', 'the Italian'],
    ['japan', 'the person from Japan'],
    ['brazil', 'the Brazilian'],
    ['canada', 'the Canadian'],
    ['kenya', 'the person from Kenya'],
  ]),
];

const ORDINALS = ['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh'];

/** A clue over items (category * K + value index): found at a house, same house, directly left of, next to. */
export type Clue =
  | { kind: 'found'; a: number; house: number }
  | { kind: 'same'; a: number; b: number }
  | { kind: 'left'; a: number; b: number }
  | { kind: 'beside'; a: number; b: number };

const popcount = (x: number): number => {
  let n = 0;
  for (let y = x; y; y &= y - 1) n++;
  return n;
};

/**
 * Counts solutions (up to `limit`) of the puzzle: each category's values occupy the K houses once.
 * Domains are bitmasks of houses per item, narrowed by the clues and by "one value per house" until
 * nothing changes, then split on the smallest open domain.
 */
export function countSolutions(k: number, m: number, clues: readonly Clue[], limit = 2): number {
  const full = (1 << k) - 1;
  const n = k * m;

  const propagate = (dom: Int32Array): boolean => {
    let changed = true;
    while (changed) {
      changed = false;
      for (const c of clues) {
        const da = dom[c.a];
        if (c.kind === 'found') {
          const na = da & (1 << c.house);
          if (na !== da) {
            dom[c.a] = na;
            changed = true;
          }
          if (!na) return false;
          continue;
        }
        const db = dom[c.b];
        let na: number;
        let nb: number;
        if (c.kind === 'same') na = nb = da & db;
        else if (c.kind === 'left') {
          na = da & (db >> 1);
          nb = db & (na << 1);
        } else {
          na = da & ((db << 1) | (db >> 1)) & full;
          nb = db & ((na << 1) | (na >> 1)) & full;
        }
        if (!na || !nb) return false;
        if (na !== da || nb !== db) {
          dom[c.a] = na;
          dom[c.b] = nb;
          changed = true;
        }
      }
      for (let cat = 0; cat < m; cat++) {
        const base = cat * k;
        // A fixed value takes its house from the others.
        for (let v = 0; v < k; v++) {
          const d = dom[base + v];
          if ((d & (d - 1)) !== 0) continue;
          for (let u = 0; u < k; u++) {
            if (u !== v && dom[base + u] & d) {
              dom[base + u] &= ~d;
              if (!dom[base + u]) return false;
              changed = true;
            }
          }
        }
        // A house that only one value can take gets that value.
        for (let h = 0; h < k; h++) {
          const bit = 1 << h;
          let only = -1;
          let count = 0;
          for (let v = 0; v < k; v++) {
            if (dom[base + v] & bit) {
              count++;
              only = v;
            }
          }
          if (count === 0) return false;
          if (count === 1 && dom[base + only] !== bit) {
            dom[base + only] = bit;
            changed = true;
          }
        }
      }
    }
    return true;
  };

  const search = (dom: Int32Array): number => {
    if (!propagate(dom)) return 0;
    let best = -1;
    let bestSize = 99;
    for (let i = 0; i < n; i++) {
      const size = popcount(dom[i]);
      if (size > 1 && size < bestSize) {
        best = i;
        bestSize = size;
      }
    }
    if (best < 0) return 1;
    let total = 0;
    for (let h = 0; h < k && total < limit; h++) {
      if (!(dom[best] & (1 << h))) continue;
      const next = dom.slice();
      next[best] = 1 << h;
      total += search(next);
    }
    return total;
  };

  return search(new Int32Array(n).fill(full));
}

/** Every clue that is true of the solution (house[item] = its house); "next to" in random order. */
function candidateClues(rng: Rng, k: number, house: readonly number[]): Clue[] {
  const at: number[][] = Array.from({ length: k }, () => []);
  const clues: Clue[] = [];
  house.forEach((h, item) => {
    at[h].push(item);
    clues.push({ kind: 'found', a: item, house: h });
  });
  for (const items of at) {
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        const [a, b] = rng.bool() ? [items[i], items[j]] : [items[j], items[i]];
        clues.push({ kind: 'same', a, b });
      }
    }
  }
  for (let h = 0; h + 1 < k; h++) {
    for (const a of at[h]) {
      for (const b of at[h + 1]) {
        if (rng.bool()) clues.push({ kind: 'left', a, b });
        else clues.push(rng.bool() ? { kind: 'beside', a, b } : { kind: 'beside', a: b, b: a });
      }
    }
  }
  return clues;
}

// How readily each kind of clue is kept, close to reasoning-gym's mix (mostly "same house").
const KEEP_WEIGHT: Record<Clue['kind'], number> = { found: 1.4, same: 3.5, left: 1, beside: 0.6 };

/**
 * A minimal clue set with a unique solution: clues in a weighted random order, the shortest prefix
 * that is unique (binary search; more clues never add solutions), then each clue dropped if the rest
 * stay unique, as reasoning-gym's reduction ends.
 */
function reduceClues(rng: Rng, k: number, m: number, candidates: Clue[]): Clue[] {
  // Weighted random order: sort by u^(1/w), largest first.
  const order = candidates
    .map((c) => ({ c, key: rng.random() ** (1 / KEEP_WEIGHT[c.kind]) }))
    .sort((x, y) => y.key - x.key)
    .map((x) => x.c);
  let lo = 1;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (countSolutions(k, m, order.slice(0, mid)) === 1) hi = mid;
    else lo = mid + 1;
  }
  let kept = order.slice(0, lo);
  for (const clue of rng.shuffle(kept)) {
    const rest = kept.filter((c) => c !== clue);
    if (countSolutions(k, m, rest) === 1) kept = rest;
  }
  return kept;
}

function clueText(c: Clue, phrase: (item: number) => string): string {
  let s: string;
  if (c.kind === 'found') s = `${phrase(c.a)} is in the ${ORDINALS[c.house]} house.`;
  else if (c.kind === 'same') s = `${phrase(c.a)} is ${phrase(c.b)}.`;
  else if (c.kind === 'left') s = `${phrase(c.a)} is directly left of ${phrase(c.b)}.`;
  else s = `${phrase(c.a)} and ${phrase(c.b)} are next to each other.`;
  return s[0].toUpperCase() + s.slice(1);
}

export const task: TaskDefinition<ZebraConfig> = {
  name: 'zebra_puzzles',
  defaults: { num_people: 4, num_characteristics: 4, seed: null, size: 500 },
  levels: [
    { name: 'trivial', config: { num_people: 2, num_characteristics: 2 } },
    { name: 'easy', config: { num_people: 3, num_characteristics: 2 } },
    { name: 'medium', config: { num_people: 3, num_characteristics: 3 } },
    { name: 'hard', config: { num_people: 4, num_characteristics: 3 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const k = config.num_people;
    const m = config.num_characteristics;
    const rng = Rng.forItem(seed, index);

    // The name first, then m-1 random characteristics, each with k random values.
    const categories = [NAME_CATEGORY, ...rng.sample(CATEGORIES, m - 1)];
    const values = categories.map((c) => rng.sample(c.values, k));
    // Item c*k+v is value v of category c; each category's values go to the houses in a random order.
    const house = categories.flatMap(() => rng.shuffle([...Array(k).keys()]));
    const clues = reduceClues(rng, k, m, candidateClues(rng, k, house));

    const phrase = (item: number) => values[Math.floor(item / k)][item % k].phrase;
    let text =
      `This is a logic puzzle. There are ${k} houses (numbered 1 on the left, ${k} on the right), ` +
      'from the perspective of someone standing across the street from them. Each has a different person in them. ' +
      'They have different characteristics:\n';
    categories.forEach((c, i) => {
      text += ` - ${c.description}: ${rng
        .shuffle(values[i])
        .map((v) => v.name)
        .join(', ')}\n`;
    });
    text += '\n';
    rng.shuffle(clues).forEach((c, i) => {
      text += `${i + 1}. ${clueText(c, phrase)}\n`;
    });

    const inFirstHouse = house.findIndex((h, item) => item < k && h === 0);
    return {
      // reasoning-gym always asks for the name in house 1, with its doubled question mark.
      question:
        text +
        '\nWhat is Name of the person who lives in House 1?? Provide only the name of the person as your final answer.',
      answer: values[0][inFirstHouse].name,
      metadata: {
        source_dataset: 'zebra_puzzles',
        source_index: index,
        difficulty: { num_people: k, num_characteristics: m },
      },
    };
  },

  // reasoning-gym: equal after lower() with newlines removed; spaces count.
  score(answer, entry) {
    if (typeof answer !== 'string') return { score: 0 };
    if (typeof entry.answer !== 'string')
      return { score: 0, error: "AttributeError: 'NoneType' object has no attribute 'lower'" };
    const norm = (s: string) => s.toLowerCase().replaceAll('\n', '');
    return { score: norm(answer) === norm(entry.answer) ? 1.0 : 0.0 };
  },
};
