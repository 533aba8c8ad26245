// leg_counting: total legs of a list of animals (reasoning-gym arithmetic/leg_counting).
import { baseScore, checkConfig, exactScore } from './common.ts';
import { ANIMAL_LEGS, ANIMAL_NAMES } from './data/animals.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface LegCountingConfig extends Record<string, unknown> {
  min_animals: number;
  max_animals: number;
  min_instances: number;
  max_instances: number;
  seed: number | null;
  size: number;
}

function validate(c: LegCountingConfig): void {
  checkConfig(c.min_animals > 0, 'leg_counting', 'min_animals must be positive');
  checkConfig(c.max_animals >= c.min_animals, 'leg_counting', 'max_animals must be >= min_animals');
  checkConfig(
    c.max_animals <= ANIMAL_NAMES.length,
    'leg_counting',
    `max_animals must be <= ${ANIMAL_NAMES.length}`,
  );
  checkConfig(c.min_instances > 0, 'leg_counting', 'min_instances must be positive');
  checkConfig(c.max_instances >= c.min_instances, 'leg_counting', 'max_instances must be >= min_instances');
}

export const task: TaskDefinition<LegCountingConfig> = {
  name: 'leg_counting',
  defaults: { min_animals: 3, max_animals: 10, min_instances: 1, max_instances: 15, seed: null, size: 500 },
  levels: [
    { name: 'trivial', config: { min_animals: 1, max_animals: 2, max_instances: 3 } },
    { name: 'easy', config: { min_animals: 2, max_animals: 3, max_instances: 5 } },
    { name: 'medium', config: { min_animals: 3, max_animals: 6, max_instances: 10 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const numTypes = rng.int(config.min_animals, config.max_animals);
    const animals: Record<string, number> = {};
    for (const animal of rng.sample(ANIMAL_NAMES, numTypes)) {
      animals[animal] = rng.int(config.min_instances, config.max_instances);
    }
    let total = 0;
    for (const [animal, count] of Object.entries(animals)) total += count * ANIMAL_LEGS[animal];
    // Plural by a bare "s", as reasoning-gym does ("sheeps", "mosquitos").
    const list = Object.entries(animals)
      .map(([animal, count]) => `${count} ${animal}${count > 1 ? 's' : ''}`)
      .join(', ');
    return {
      question:
        'Your task is to count how many legs there are in total when given a list of animals.\n\n' +
        `Now, how many legs are there in total if you have ${list}?\n`,
      answer: String(total),
      metadata: {
        source_dataset: 'leg_counting',
        source_index: index,
        animals,
        num_animals: numTypes,
        total_legs: total,
        difficulty: {
          num_animals: [config.min_animals, config.max_animals],
          num_instances: [config.min_instances, config.max_instances],
        },
      },
    };
  },

  score: (answer, entry) => ({ score: baseScore(answer, String(entry.answer)) }),
  scoreStrict: (answer, entry) => ({ score: exactScore(answer, String(entry.answer)) }),
};
