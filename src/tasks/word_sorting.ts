// word_sorting: sort words by ASCII/Unicode order (reasoning-gym algorithmic/word_sorting).
import { checkConfig, PY_WS_CLASS, pyStrip } from './common.ts';
import { STORY_TEXT } from './data/words.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export type TextTransformation = 'lowercase' | 'uppercase' | 'original' | 'randomcase';

export interface WordSortingConfig extends Record<string, unknown> {
  min_words: number;
  max_words: number;
  min_word_length: number;
  max_word_length: number;
  transformation: TextTransformation;
  seed: number | null;
  size: number;
}

/** Python's string order: by code point (JS `<` compares UTF-16 units, which differs above U+FFFF). */
export function codePointCompare(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < x.length && i < y.length; i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

// Distinct words of the story (reasoning-gym takes them from a novel). The story is ASCII, so \w
// matches what Python's \w would.
const STORY_WORDS: readonly string[] = [...new Set(STORY_TEXT.match(/\w+/g) ?? [])].sort(codePointCompare);

function transform(word: string, how: TextTransformation, rng: Rng): string {
  if (how === 'lowercase') return word.toLowerCase();
  if (how === 'uppercase') return word.toUpperCase();
  if (how === 'randomcase') {
    return Array.from(word, (c) => (rng.bool() ? c.toUpperCase() : c.toLowerCase())).join('');
  }
  return word;
}

const SPLIT_RE = new RegExp(`,[${PY_WS_CLASS}]*`);

/** reasoning-gym's parse: re.split(r",\s*", answer), each piece stripped. */
function parseAnswer(answer: string): string[] {
  return answer.split(SPLIT_RE).map(pyStrip);
}

export const task: TaskDefinition<WordSortingConfig> = {
  name: 'word_sorting',
  defaults: {
    min_words: 3,
    max_words: 10,
    min_word_length: 3,
    max_word_length: 12,
    transformation: 'original',
    seed: null,
    size: 500,
  },
  levels: [
    {
      name: 'trivial',
      config: { min_words: 2, max_words: 3, max_word_length: 5, transformation: 'lowercase' },
    },
    { name: 'easy', config: { min_words: 3, max_words: 5, max_word_length: 8, transformation: 'lowercase' } },
    { name: 'medium', config: { min_words: 3, max_words: 7 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    const { min_words, max_words, min_word_length, max_word_length } = config;
    checkConfig(min_words > 0, 'word_sorting', 'min_words must be positive');
    checkConfig(min_words <= max_words, 'word_sorting', 'max_words must be >= min_words');
    checkConfig(min_word_length > 0, 'word_sorting', 'min_word_length must be positive');
    checkConfig(
      min_word_length <= max_word_length,
      'word_sorting',
      'max_word_length must be >= min_word_length',
    );
    checkConfig(
      ['lowercase', 'uppercase', 'original', 'randomcase'].includes(config.transformation),
      'word_sorting',
      'transformation must be lowercase, uppercase, original or randomcase',
    );
    const pool = STORY_WORDS.filter((w) => w.length >= min_word_length && w.length <= max_word_length);
    checkConfig(max_words <= pool.length, 'word_sorting', `only ${pool.length} words of that length`);

    const rng = Rng.forItem(seed, index);
    const count = rng.int(min_words, max_words);
    const original = rng.sample(pool, count);
    const transformed = original.map((w) => transform(w, config.transformation, rng));
    const ascending = rng.bool();
    const sorted = transformed.slice().sort(codePointCompare);
    if (!ascending) sorted.reverse();
    const direction = ascending ? 'ascending' : 'descending';

    return {
      question:
        'Your task is to sort words in ascending or descending order using ASCII/Unicode ordering.\n\n' +
        'Your output should be a comma-separated list of words, e.g. word_1, word_2, word_3\n\n' +
        `Now, sort these words in ${direction} order (using ASCII/Unicode ordering) and return them as a ` +
        `comma-separated list: ${transformed.join(', ')}\n`,
      answer: sorted.join(', '),
      metadata: {
        source_dataset: 'word_sorting',
        source_index: index,
        original_words: original,
        sorted_words: sorted,
        transformed_words: transformed,
        direction,
        num_words: original.length,
        word_length: Math.max(...original.map((w) => w.length)),
        difficulty: {
          num_words: [min_words, max_words],
          word_length: [min_word_length, max_word_length],
        },
      },
    };
  },

  // Parsed list equal to metadata.sorted_words → 1; else the share of words in the right position,
  // at least 0.2 when the words are right but misordered.
  score(answer, entry): ScoreResult {
    if (!answer) return { score: 0 };
    const oracle = entry.metadata.sorted_words as string[];
    const parsed = parseAnswer(answer);
    if (parsed.length === oracle.length && parsed.every((w, i) => w === oracle[i])) return { score: 1 };
    let correct = 0;
    parsed.forEach((w, i) => {
      if (i < oracle.length && w === oracle[i]) correct++;
    });
    let partial = correct / oracle.length;
    // Any consistent order works to compare the two multisets.
    const a = parsed.slice().sort();
    const b = oracle.slice().sort();
    if (a.length === b.length && a.every((w, i) => w === b[i])) partial = Math.max(partial, 0.2);
    return { score: partial };
  },

  // Only the fully sorted list counts (same parsing, so spacing after commas is still free).
  scoreStrict(answer, entry): ScoreResult {
    return { score: task.score(answer, entry).score === 1 ? 1 : 0 };
  },
};
