// Every task by reasoning-gym name. Adding a task: one import and one entry in ALL.

import { task as acre } from './acre.ts';
import { task as base_conversion } from './base_conversion.ts';
import { task as basic_arithmetic } from './basic_arithmetic.ts';
import { task as chain_sum } from './chain_sum.ts';
import { task as circuit_logic } from './circuit_logic.ts';
import { task as color_cube_rotation } from './color_cube_rotation.ts';
import { task as count_bits } from './count_bits.ts';
import { task as countdown } from './countdown.ts';
import { task as family_relationships } from './family_relationships.ts';
import { task as gcd } from './gcd.ts';
import { task as graph_color } from './graph_color.ts';
import { task as knights_knaves } from './knights_knaves.ts';
import { task as lcm } from './lcm.ts';
import { task as leg_counting } from './leg_counting.ts';
import { task as letter_counting } from './letter_counting.ts';
import { task as mini_sudoku } from './mini_sudoku.ts';
import { task as number_sequence } from './number_sequence.ts';
import { task as number_sorting } from './number_sorting.ts';
import { task as prime_factorization } from './prime_factorization.ts';
import { task as products } from './products.ts';
import { task as propositional_logic } from './propositional_logic.ts';
import { task as puzzle24 } from './puzzle24.ts';
import { task as self_reference } from './self_reference.ts';
import { task as simple_integration } from './simple_integration.ts';
import { task as spell_backward } from './spell_backward.ts';
import { strictScore } from './strict.ts';
import { task as syllogism } from './syllogism.ts';
import { task as tower_of_hanoi } from './tower_of_hanoi.ts';
import type { ScoreResult, TaskConfig, TaskDefinition, TaskEntry } from './types.ts';
import { task as word_sorting } from './word_sorting.ts';
import { task as zebra_puzzles } from './zebra_puzzles.ts';

// Each module's config type is its own; the registry only needs the common shape.
const ALL: TaskDefinition<TaskConfig>[] = [
  basic_arithmetic,
  chain_sum,
  count_bits,
  gcd,
  lcm,
  products,
  base_conversion,
  leg_counting,
  letter_counting,
  number_sequence,
  number_sorting,
  prime_factorization,
  spell_backward,
  word_sorting,
  acre,
  circuit_logic,
  family_relationships,
  knights_knaves,
  propositional_logic,
  self_reference,
  syllogism,
  zebra_puzzles,
  simple_integration,
  countdown,
  puzzle24,
  graph_color,
  mini_sudoku,
  tower_of_hanoi,
  color_cube_rotation,
];

export const TASKS: Readonly<Record<string, TaskDefinition>> = Object.freeze(
  Object.fromEntries(ALL.map((t) => [t.name, t])),
);

export const TASK_NAMES: readonly string[] = Object.keys(TASKS).sort();

export class UnknownTaskError extends Error {
  constructor(readonly taskName: string) {
    super(`unknown task "${taskName}"; registered tasks: ${TASK_NAMES.join(', ')}`);
    this.name = 'UnknownTaskError';
  }
}

export function hasTask(name: string): boolean {
  return Object.hasOwn(TASKS, name);
}

/** The task named `name` (reasoning-gym's dataset name); throws UnknownTaskError otherwise. */
export function getTask(name: string): TaskDefinition {
  if (!hasTask(name)) throw new UnknownTaskError(name);
  return TASKS[name];
}

/** An answer that scores 1.0: `entry.answer`, or the metadata-built one for null-answer tasks. */
export function oracleAnswer(task: TaskDefinition, entry: TaskEntry): string {
  if (task.oracleAnswer) return task.oracleAnswer(entry);
  if (entry.answer === null) throw new Error(`${task.name}: entry has no answer and the task builds none`);
  return entry.answer;
}

/** Score `answer` for `entry` of task `taskName`, faithful to reasoning-gym or (`strict`) all or nothing. */
export function scoreEntry(
  taskName: string,
  answer: string | null,
  entry: TaskEntry,
  options: { strict?: boolean } = {},
): ScoreResult {
  const task = getTask(taskName);
  return options.strict ? strictScore(task, answer, entry) : task.score(answer, entry);
}
