// tower_of_hanoi: list the moves that carry all disks to the target peg (3 or more pegs, Frame-Stewart).
// The scorer replays the moves: any malformed or illegal line gives 0, unsolved 0.05, solved 1 (or
// solution_length / moves when longer than reasoning-gym's solution).
import { checkConfig, pySplit, pyStrip } from './common.ts';
import { asciiDigits, pySplitlines } from './expr.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export type HanoiConfig = {
  min_disks: number;
  max_disks: number;
  min_pegs: number;
  max_pegs: number;
  size: number;
  seed: number | null;
  /** reasoning-gym adds ASCII drawings of the pegs when true; not supported here (no effect). */
  visualize: boolean;
};

const NAME = 'tower_of_hanoi';

const DEFAULTS: HanoiConfig = {
  min_disks: 3,
  max_disks: 7,
  min_pegs: 3,
  max_pegs: 4,
  size: 500,
  seed: null,
  visualize: false,
};

function validate(c: HanoiConfig): void {
  checkConfig(c.min_disks >= 1, NAME, 'min_disks must be at least 1');
  checkConfig(c.max_disks >= c.min_disks, NAME, 'max_disks must be >= min_disks');
  checkConfig(c.min_pegs >= 3, NAME, 'min_pegs must be at least 3');
  checkConfig(c.max_pegs >= c.min_pegs, NAME, 'max_pegs must be >= min_pegs');
}

const QUESTION_TEMPLATE = `Solve the Tower of Hanoi problem with {num_disks} disks and {num_pegs} pegs.
Move all disks from {start_peg} to {target_peg} following the rules:
- Only one disk can be moved at a time.
- A larger disk cannot be placed on top of a smaller disk.
- All disks must be on a peg at all times.

Provide the sequence of moves.

Formatting guidelines:
- Each instruction should be placed on a single line.
- Each line should be formatted as 'Move disk X from Peg Y to Peg Z'
- Do not include any other text or formatting.
`;

/** Minimal moves T(n, k) for n disks on k pegs under the Frame-Stewart recursion. */
function minMoves(n: number, k: number, memo: Map<string, number>): number {
  if (n === 0) return 0;
  if (n === 1) return 1;
  if (k === 3) return 2 ** n - 1;
  const key = `${n},${k}`;
  const cached = memo.get(key);
  if (cached !== undefined) return cached;
  let best = Number.POSITIVE_INFINITY;
  for (let m = 1; m < n; m++) best = Math.min(best, 2 * minMoves(m, k, memo) + minMoves(n - m, k - 1, memo));
  memo.set(key, best);
  return best;
}

/** reasoning-gym's MoveGenerator: the same recursion, peg choices and move order. */
export function solveHanoi(numDisks: number, numPegs: number, start: number, target: number): string[] {
  const pegs = Array.from({ length: numPegs }, (_, i) => i + 1);
  const state = new Map<number, number[]>(pegs.map((p) => [p, []]));
  for (let d = numDisks; d >= 1; d--) state.get(start)?.push(d);
  const moves: string[] = [];
  const memo = new Map<string, number>();
  const moveDisk = (from: number, to: number): void => {
    const disk = state.get(from)?.pop();
    if (disk === undefined) throw new Error(`No disks to move from Peg ${from}.`);
    state.get(to)?.push(disk);
    moves.push(`Move disk ${disk} from Peg ${from} to Peg ${to}`);
  };
  const move = (n: number, source: number, dest: number, aux: number[]): void => {
    if (n === 0) return;
    if (n === 1) {
      moveDisk(source, dest);
      return;
    }
    const k = aux.length + 2;
    if (k === 3) {
      move(n - 1, source, aux[0], [dest]);
      moveDisk(source, dest);
      move(n - 1, aux[0], dest, [source]);
      return;
    }
    // Frame-Stewart: park the top m disks, move the rest with one peg fewer, bring the m back.
    let bestM = 1;
    let best = Number.POSITIVE_INFINITY;
    for (let m = 1; m < n; m++) {
      const total = 2 * minMoves(m, k, memo) + minMoves(n - m, k - 1, memo);
      if (total < best) {
        best = total;
        bestM = m;
      }
    }
    const temp = aux[0];
    move(bestM, source, temp, [...aux.slice(1), dest]);
    move(
      n - bestM,
      source,
      dest,
      aux.filter((p) => p !== temp),
    );
    move(bestM, temp, dest, [...aux.slice(1), source]);
  };
  move(
    numDisks,
    start,
    target,
    pegs.filter((p) => p !== start && p !== target),
  );
  return moves;
}

function generate(config: HanoiConfig, seed: number, index: number): TaskEntry {
  const c = { ...DEFAULTS, ...config };
  validate(c);
  const rng = Rng.forItem(seed, index);
  const numDisks = rng.int(c.min_disks, c.max_disks);
  const numPegs = rng.int(c.min_pegs, c.max_pegs);
  const pegs = Array.from({ length: numPegs }, (_, i) => i + 1);
  const [start, target] = rng.sample(pegs, 2);
  const solution = solveHanoi(numDisks, numPegs, start, target);
  return {
    question: QUESTION_TEMPLATE.replace('{num_disks}', String(numDisks))
      .replace('{num_pegs}', String(numPegs))
      .replace('{start_peg}', `Peg ${start}`)
      .replace('{target_peg}', `Peg ${target}`),
    answer: solution.join('\n'),
    metadata: {
      source_dataset: 'tower_of_hanoi',
      source_index: index,
      num_disks: numDisks,
      num_pegs: numPegs,
      start_peg: start,
      target_peg: target,
      auxiliary_pegs: pegs.filter((p) => p !== start && p !== target),
      solution_length: solution.length,
      difficulty: { num_disks: [c.min_disks, c.max_disks], num_pegs: [c.min_pegs, c.max_pegs] },
    },
  };
}

const MOVE_RE = /Move disk ([0-9]+) from Peg ([0-9]+) to Peg ([0-9]+)/;

function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (typeof answer !== 'string' || answer.length === 0) return { score: 0 };
  const moves = pySplitlines(pyStrip(answer))
    .map(pyStrip)
    .filter((l) => l.length > 0);
  const m = entry.metadata;
  const numDisks = Number(m.num_disks);
  const numPegs = Number(m.num_pegs);
  const pegs = new Map<number, number[]>();
  for (let p = 1; p <= numPegs; p++) pegs.set(p, []);
  for (let d = numDisks; d >= 1; d--) pegs.get(Number(m.start_peg))?.push(d);

  for (const raw of moves) {
    const line = asciiDigits(raw); // Python's \d and int() also take non-ASCII digits
    const match = MOVE_RE.exec(line);
    if (!match) return { score: 0 }; // invalid move format
    // _validate_move reads the move again from the whitespace-split line: exactly 9 parts.
    const parts = pySplit(line);
    if (parts.length !== 9) return { score: 0 };
    const [disk, from, to] = [parts[2], parts[5], parts[8]].map((t) =>
      /^[0-9]+$/.test(t) ? Number(t) : Number.NaN,
    );
    const src = pegs.get(from);
    const dst = pegs.get(to);
    if (!src || !dst || src.length === 0 || src[src.length - 1] !== disk) return { score: 0 };
    if (dst.length > 0 && dst[dst.length - 1] < disk) return { score: 0 };
    src.pop();
    dst.push(disk);
  }

  const final = pegs.get(Number(m.target_peg)) ?? [];
  const solved = final.length === numDisks && final.every((d, i) => d === numDisks - i);
  if (!solved) return { score: 0.05 };
  const optimal = m.solution_length === undefined ? moves.length : Number(m.solution_length);
  return { score: moves.length <= optimal ? 1 : optimal / moves.length };
}

export const task: TaskDefinition<HanoiConfig> = {
  name: 'tower_of_hanoi',
  defaults: DEFAULTS,
  levels: [
    { name: 'trivial', config: { min_disks: 1, max_disks: 2, min_pegs: 3, max_pegs: 3 } },
    { name: 'easy', config: { min_disks: 2, max_disks: 3, min_pegs: 3, max_pegs: 3 } },
    { name: 'medium', config: { min_disks: 3, max_disks: 5, min_pegs: 3, max_pegs: 4 } },
    { name: 'default', config: {} },
  ],
  generate,
  score,
};
