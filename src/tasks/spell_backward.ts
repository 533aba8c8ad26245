// spell_backward: spell a word backward (reasoning-gym algorithmic/spell_backward).
import { checkConfig } from './common.ts';
import { WORDS } from './data/words.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export interface SpellBackwardConfig extends Record<string, unknown> {
  min_word_len: number;
  max_word_len: number;
  /** reasoning-gym's word file; kept for the config's shape, we always use our own list (data/words.ts). */
  data_file: string;
  seed: number | null;
  size: number;
}

export const task: TaskDefinition<SpellBackwardConfig> = {
  name: 'spell_backward',
  defaults: { min_word_len: 3, max_word_len: 10, data_file: 'words3to10.txt', seed: null, size: 500 },
  levels: [
    { name: 'trivial', config: { min_word_len: 3, max_word_len: 3 } },
    { name: 'easy', config: { min_word_len: 3, max_word_len: 4 } },
    { name: 'medium', config: { min_word_len: 3, max_word_len: 6 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    checkConfig(config.min_word_len > 0, 'spell_backward', 'min_word_len must be positive');
    checkConfig(
      config.max_word_len >= config.min_word_len,
      'spell_backward',
      'max_word_len must be >= min_word_len',
    );
    const pool = WORDS.filter((w) => w.length >= config.min_word_len && w.length <= config.max_word_len);
    checkConfig(pool.length > 0, 'spell_backward', 'no word of that length in the word list');
    const rng = Rng.forItem(seed, index);
    const word = rng.choice(pool);
    return {
      question: `Spell this word backward (example: sun -> nus): ${word}`,
      answer: Array.from(word).reverse().join(''),
      metadata: {
        source_dataset: 'spell_backward',
        source_index: index,
        word,
        word_len: word.length,
        difficulty: { word_len: [config.min_word_len, config.max_word_len] },
      },
    };
  },

  // Case-insensitive equality → 1; else 1/len per position that matches (code points, from the start),
  // and an answer that starts with the whole oracle but is longer gets 0.8 (when the sum hits exactly 1.0).
  score(answer, entry): ScoreResult {
    if (typeof answer !== 'string') return { score: 0 };
    const expected = String(entry.answer).toLowerCase();
    const given = answer.toLowerCase();
    if (expected === given) return { score: 1 };
    const e = Array.from(expected);
    const g = Array.from(given);
    let reward = 0;
    // Summed one step at a time like Python, so rounding (0.8888888888888891) matches.
    for (let i = 0; i < e.length && i < g.length; i++) {
      if (e[i] === g[i]) reward += 1 / e.length;
    }
    if (reward === 1.0) reward -= 0.2;
    return { score: reward };
  },

  // Only the reversed word (any case) counts.
  scoreStrict(answer, entry): ScoreResult {
    if (typeof answer !== 'string') return { score: 0 };
    return { score: answer.toLowerCase() === String(entry.answer).toLowerCase() ? 1 : 0 };
  },
};
