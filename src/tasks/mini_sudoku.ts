// mini_sudoku: fill a 4x4 sudoku with a unique solution. The scorer gives 1 for the exact grid (trailing
// spaces ignored), else 0.9 x the share of cells right in lines of 4 digits, shrunk for extra length.
import { checkConfig, pyLen, pyRstrip } from './common.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export type MiniSudokuConfig = { min_empty: number; max_empty: number; seed: number | null; size: number };

const NAME = 'mini_sudoku';

const DEFAULTS: MiniSudokuConfig = { min_empty: 8, max_empty: 12, seed: null, size: 500 };

function validate(c: MiniSudokuConfig): void {
  // More than 12 empty cells is incompatible with a unique solution.
  checkConfig(c.min_empty >= 0 && c.min_empty <= 12, NAME, 'min_empty must be between 0 and 12');
  checkConfig(
    c.min_empty <= c.max_empty && c.max_empty <= 12,
    NAME,
    'max_empty must be between min_empty and 12',
  );
}

type Board = number[][];

function canPlace(b: Board, row: number, col: number, num: number): boolean {
  for (let i = 0; i < 4; i++) if (b[row][i] === num || b[i][col] === num) return false;
  const r0 = 2 * Math.floor(row / 2);
  const c0 = 2 * Math.floor(col / 2);
  for (let r = r0; r < r0 + 2; r++) for (let c = c0; c < c0 + 2; c++) if (b[r][c] === num) return false;
  return true;
}

function findEmpty(b: Board): [number, number] | null {
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) if (b[r][c] === 0) return [r, c];
  return null;
}

/** Backtracking solve in place (first solution in 1..4 order). */
function solve(b: Board): boolean {
  const e = findEmpty(b);
  if (!e) return true;
  const [r, c] = e;
  for (let n = 1; n <= 4; n++) {
    if (!canPlace(b, r, c, n)) continue;
    b[r][c] = n;
    if (solve(b)) return true;
    b[r][c] = 0;
  }
  return false;
}

/** Number of solutions, counting stops at `limit`. */
export function countSolutions(board: Board, limit = 2): number {
  const b = board.map((row) => row.slice());
  const count = (): number => {
    const e = findEmpty(b);
    if (!e) return 1;
    const [r, c] = e;
    let total = 0;
    for (let n = 1; n <= 4; n++) {
      if (!canPlace(b, r, c, n)) continue;
      b[r][c] = n;
      total += count();
      b[r][c] = 0;
      if (total >= limit) return total;
    }
    return total;
  };
  return count();
}

function solvedBoard(rng: Rng): Board {
  for (let attempt = 0; attempt < 100; attempt++) {
    const b: Board = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
    // The two diagonal boxes are independent: fill them with shuffles, then solve the rest.
    for (const i of [0, 2]) {
      const nums = rng.shuffle([1, 2, 3, 4]);
      let pos = 0;
      for (let r = i; r < i + 2; r++) for (let c = i; c < i + 2; c++) b[r][c] = nums[pos++];
    }
    if (solve(b)) return b;
  }
  throw new Error('mini_sudoku: failed to generate a solved board');
}

function makePuzzle(solution: Board, numEmpty: number, rng: Rng): Board {
  const puzzle = solution.map((row) => row.slice());
  const cells = rng.shuffle(Array.from({ length: 16 }, (_, i) => [Math.floor(i / 4), i % 4] as const));
  let removed = 0;
  for (const [r, c] of cells) {
    const saved = puzzle[r][c];
    puzzle[r][c] = 0;
    if (countSolutions(puzzle) > 1) {
      puzzle[r][c] = saved; // removing this clue would break uniqueness
    } else if (++removed === numEmpty) {
      break;
    }
  }
  return puzzle;
}

function boardToString(b: Board): string {
  return b.map((row) => row.map((x) => (x === 0 ? '_' : String(x))).join(' ')).join('\n');
}

function generate(config: MiniSudokuConfig, seed: number, index: number): TaskEntry {
  const c = { ...DEFAULTS, ...config };
  validate(c);
  const rng = Rng.forItem(seed, index);
  const solution = solvedBoard(rng);
  const puzzle = makePuzzle(solution, rng.int(c.min_empty, c.max_empty), rng);
  const numEmpty = puzzle.flat().filter((x) => x === 0).length;
  const question =
    'In 4x4 Mini Sudoku:\n' +
    '- Each row must contain each number from 1-4 exactly once\n' +
    '- Each column must contain each number 1-4 exactly once\n' +
    '- Each 2x2 subgrid must contain each number 1-4 exactly once\n' +
    `Solve this 4x4 Mini Sudoku puzzle:\n${boardToString(puzzle)}\n` +
    'Format your response as the puzzle above, with spaces separating each number within a row, and newlines separating rows.\n';
  return {
    question,
    answer: boardToString(solution),
    metadata: {
      source_dataset: 'mini_sudoku',
      source_index: index,
      puzzle,
      solution,
      num_empty: numEmpty,
      difficulty: { empty: [c.min_empty, c.max_empty] },
    },
  };
}

function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (typeof answer !== 'string' || answer.length === 0) return { score: 0 };
  const oracle = entry.answer ?? '';
  const solution = entry.metadata.solution as Board;
  const size = solution[0].length;
  const stripLines = (s: string): string => s.split('\n').map(pyRstrip).join('\n');
  let reward: number;
  if (stripLines(answer) === stripLines(oracle)) {
    reward = 1.0;
  } else {
    // Lines with exactly `size` digits (1-9) are matched, in order, against the solution rows.
    let row = 0;
    let matching = 0;
    for (const line of answer.split('\n')) {
      if (row >= solution.length) break;
      const digits = [...line].filter((ch) => '123456789'.includes(ch)).map(Number);
      if (digits.length !== size) continue;
      for (let i = 0; i < size; i++) if (solution[row][i] === digits[i]) matching++;
      row++;
    }
    reward = matching / (size * size);
    reward *= 0.9; // penalty for not using the standard format
  }
  const la = pyLen(answer);
  const lo = pyLen(oracle);
  if (la > lo) reward *= lo / la; // penalty for extra length
  return { score: reward };
}

export const task: TaskDefinition<MiniSudokuConfig> = {
  name: 'mini_sudoku',
  defaults: DEFAULTS,
  levels: [
    { name: 'trivial', config: { min_empty: 2, max_empty: 4 } },
    { name: 'easy', config: { min_empty: 4, max_empty: 6 } },
    { name: 'medium', config: { min_empty: 6, max_empty: 8 } },
    { name: 'default', config: {} },
  ],
  generate,
  score,
};
