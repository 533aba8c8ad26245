// Every registered task, every curriculum level, several seeds: entry shape, oracle scores 1.0,
// determinism, JSON round trip, defaults as reasoning-gym's. Per-task checks live in each task's tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/tasks/dataset.ts';
import { oracleAnswer, TASK_NAMES, TASKS } from '../../src/tasks/registry.ts';
import type { TaskEntry } from '../../src/tasks/types.ts';
import { RG_DIR } from '../helpers/fixtures.ts';

const SEEDS = [0, 42, 4242];
const ITEMS_PER_LEVEL = 5;
const RG_CONFIGS = JSON.parse(readFileSync(join(RG_DIR, 'configs.json'), 'utf8')) as Record<
  string,
  { defaults: Record<string, unknown> }
>;

function checkShape(entry: TaskEntry, name: string, index: number): void {
  expect(typeof entry.question).toBe('string');
  expect(entry.question.length).toBeGreaterThan(0);
  expect(entry.answer === null || typeof entry.answer === 'string').toBe(true);
  expect(typeof entry.metadata).toBe('object');
  expect(entry.metadata.source_dataset).toBe(name);
  expect(entry.metadata.source_index).toBe(index);
}

it('registers at least the six numeric tasks', () => {
  for (const name of ['basic_arithmetic', 'chain_sum', 'products', 'gcd', 'lcm', 'count_bits']) {
    expect(TASK_NAMES).toContain(name);
  }
});

describe.each(TASK_NAMES)('%s', (name) => {
  const task = TASKS[name];

  it("has reasoning-gym's default config and levels ending at the defaults", () => {
    expect(RG_CONFIGS[name], 'task missing from configs.json').toBeDefined();
    expect(task.defaults).toEqual(RG_CONFIGS[name].defaults);
    expect(task.levels.length).toBeGreaterThan(0);
    expect(new Set(task.levels.map((l) => l.name)).size).toBe(task.levels.length);
    expect(resolveConfig(task, task.levels.at(-1)?.name)).toEqual(task.defaults);
  });

  it.each(task.levels.map((l) => l.name))(
    'level %s: well-formed entries whose oracle scores 1.0',
    (level) => {
      const config = resolveConfig(task, level);
      for (const seed of SEEDS) {
        for (let index = 0; index < ITEMS_PER_LEVEL; index++) {
          const entry = task.generate(config, seed, index);
          checkShape(entry, name, index);
          // Deterministic: the same item again, and an identical JSON round trip (no bigint, no undefined).
          expect(task.generate(config, seed, index)).toEqual(entry);
          const copy = JSON.parse(JSON.stringify(entry)) as TaskEntry;
          expect(copy).toEqual(entry);

          if (entry.answer === null)
            expect(task.oracleAnswer, 'null answer needs oracleAnswer').toBeDefined();
          const oracle = oracleAnswer(task, copy);
          const where = `seed ${seed} index ${index}: ${entry.question.slice(0, 80)}`;
          expect(task.score(oracle, copy), where).toEqual({ score: 1 });
          if (task.scoreStrict) expect(task.scoreStrict(oracle, copy), where).toEqual({ score: 1 });
          expect(task.score(null, copy).score).toBeLessThan(1);
        }
      }
    },
  );

  it('gives different items for different seeds', () => {
    const config = resolveConfig(task);
    const questions = (seed: number) =>
      Array.from({ length: 10 }, (_, i) => JSON.stringify(task.generate(config, seed, i))).join('\n');
    expect(questions(1)).not.toBe(questions(2));
  });
});
