// base_conversion: convert a number between two bases (reasoning-gym algorithmic/base_conversion).
import { baseScore, checkConfig, exactScore } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface BaseConversionConfig extends Record<string, unknown> {
  min_base: number;
  max_base: number;
  min_value: number;
  max_value: number;
  seed: number | null;
  size: number;
}

const QUESTION = (sourceName: string, sourceRepr: string, targetName: string): string =>
  'Your task is to convert a number between two different bases.\n\n' +
  'If the target base is > 10, use lowercase letters a-z for digits above 9.\n\n' +
  `Now, convert the ${sourceName} number ${sourceRepr} to ${targetName}\n`;

function baseName(base: number): string {
  if (base === 2) return 'binary';
  if (base === 16) return 'hexadecimal';
  return `base-${base}`;
}

function validate(c: BaseConversionConfig): void {
  checkConfig(c.min_base >= 2 && c.min_base <= 36, 'base_conversion', 'min_base must be between 2 and 36');
  checkConfig(
    c.max_base >= c.min_base && c.max_base <= 36,
    'base_conversion',
    'max_base must be between min_base and 36',
  );
  // Equal bounds would loop forever looking for two different bases.
  checkConfig(c.max_base > c.min_base, 'base_conversion', 'need two different bases (max_base > min_base)');
  checkConfig(c.min_value >= 0, 'base_conversion', 'min_value must be non-negative');
  checkConfig(c.max_value > c.min_value, 'base_conversion', 'max_value must be > min_value');
}

export const task: TaskDefinition<BaseConversionConfig> = {
  name: 'base_conversion',
  defaults: { min_base: 2, max_base: 16, min_value: 0, max_value: 1000, seed: null, size: 500 },
  levels: [
    { name: 'trivial', config: { min_base: 2, max_base: 10, max_value: 15 } },
    { name: 'easy', config: { min_base: 2, max_base: 10, max_value: 100 } },
    { name: 'medium', config: { max_value: 255 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const value = rng.int(config.min_value, config.max_value);
    const sourceBase = rng.int(config.min_base, config.max_base);
    let targetBase = rng.int(config.min_base, config.max_base);
    while (targetBase === sourceBase) targetBase = rng.int(config.min_base, config.max_base);

    // JS toString(base) uses lowercase a-z, as reasoning-gym does. (reasoning-gym writes 0 as "" in bases
    // other than 2 and 16, which makes that oracle unscorable; we write "0".)
    const sourceRepr = value.toString(sourceBase);
    const targetRepr = value.toString(targetBase);
    return {
      question: QUESTION(baseName(sourceBase), sourceRepr, baseName(targetBase)),
      answer: targetRepr,
      metadata: {
        source_dataset: 'base_conversion',
        source_index: index,
        decimal_value: value,
        source_base: sourceBase,
        target_base: targetBase,
        source_repr: sourceRepr,
        target_repr: targetRepr,
        difficulty: {
          base: [config.min_base, config.max_base],
          value: [config.min_value, config.max_value],
        },
      },
    };
  },

  // reasoning-gym's base score_answer: case-sensitive, substring credit by length ratio.
  score: (answer, entry) => ({ score: baseScore(answer, String(entry.answer)) }),
  scoreStrict: (answer, entry) => ({ score: exactScore(answer, String(entry.answer)) }),
};
