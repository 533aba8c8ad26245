// letter_counting: count one letter in a span of text (reasoning-gym algorithmic/letter_counting).
import { baseScore, checkConfig, exactScore } from './common.ts';
import { STORY_TEXT } from './data/words.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface LetterCountingConfig extends Record<string, unknown> {
  min_words: number;
  max_words: number;
  seed: number | null;
  size: number;
}

// Words of the story in order (the story is ASCII, so \w matches what Python's \w would); like
// reasoning-gym, words with "_" are dropped (isalnum).
const TEXT_WORDS: readonly string[] = (STORY_TEXT.match(/\w+/g) ?? []).filter((w) =>
  /^[A-Za-z0-9]+$/.test(w),
);

function countOf(haystack: string, ch: string): number {
  return haystack.split(ch).length - 1;
}

export const task: TaskDefinition<LetterCountingConfig> = {
  name: 'letter_counting',
  defaults: { min_words: 5, max_words: 15, seed: null, size: 500 },
  levels: [
    { name: 'trivial', config: { min_words: 1, max_words: 2 } },
    { name: 'easy', config: { min_words: 2, max_words: 5 } },
    { name: 'medium', config: { min_words: 4, max_words: 10 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    checkConfig(config.min_words > 0, 'letter_counting', 'min_words must be positive');
    checkConfig(config.max_words >= config.min_words, 'letter_counting', 'max_words must be >= min_words');
    const rng = Rng.forItem(seed, index);
    const spanLength = Math.min(rng.int(config.min_words, config.max_words), TEXT_WORDS.length);
    const start = rng.int(0, TEXT_WORDS.length - spanLength);
    const span = TEXT_WORDS.slice(start, start + spanLength);

    // Characters in the span (lower-cased, digits included), sorted, then one picked.
    const letters = [...new Set(span.join('').toLowerCase())].sort();
    const target = letters.length > 0 ? rng.choice(letters) : 'a';
    let count = 0;
    for (const word of span) count += countOf(word.toLowerCase(), target);

    return {
      question: `How many times does the letter "${target}" appear in the text: "${span.join(' ')}"?`,
      answer: String(count),
      metadata: {
        source_dataset: 'letter_counting',
        source_index: index,
        span_length: spanLength,
        target_letter: target,
        span,
        difficulty: { words: [config.min_words, config.max_words] },
      },
    };
  },

  score: (answer, entry) => ({ score: baseScore(answer, String(entry.answer)) }),
  scoreStrict: (answer, entry) => ({ score: exactScore(answer, String(entry.answer)) }),
};
