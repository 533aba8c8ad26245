// color_cube_rotation: track a coloured cube through rotations that bring a side to the top.
// Scoring: case- and whitespace-insensitive equality gives 1; any other string 0.01; None 0.
import { checkConfig, pyStrip } from './common.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export type ColorCubeRotationConfig = {
  min_rotations: number;
  max_rotations: number;
  seed: number | null;
  size: number;
};

const NAME = 'color_cube_rotation';

const DEFAULTS: ColorCubeRotationConfig = { min_rotations: 1, max_rotations: 3, seed: null, size: 500 };

function validate(c: ColorCubeRotationConfig): void {
  checkConfig(c.min_rotations > 0, NAME, 'min_rotations must be positive');
  checkConfig(c.max_rotations >= c.min_rotations, NAME, 'max_rotations must be >= min_rotations');
}

const COLORS = [
  'red',
  'green',
  'blue',
  'yellow',
  'white',
  'orange',
  'purple',
  'pink',
  'brown',
  'gray',
  'cyan',
  'magenta',
  'gold',
  'silver',
  'indigo',
  'violet',
];

export const SIDES = ['top', 'right', 'front', 'left', 'back', 'bottom'] as const;
export type Side = (typeof SIDES)[number];
export type Cube = Record<Side, string>;

// For each side brought to the top: which old side each side's colour comes from (the 4-cycle moves;
// the two sides on the rotation axis keep theirs; bottom-to-top flips the cube over left-right axis).
const ROTATIONS: Record<Exclude<Side, 'top'>, Partial<Record<Side, Side>>> = {
  front: { top: 'front', front: 'bottom', bottom: 'back', back: 'top' },
  right: { top: 'right', right: 'bottom', bottom: 'left', left: 'top' },
  back: { top: 'back', back: 'bottom', bottom: 'front', front: 'top' },
  left: { top: 'left', left: 'bottom', bottom: 'right', right: 'top' },
  bottom: { top: 'bottom', bottom: 'top', front: 'back', back: 'front' },
};

/** The cube after rotating so that `from` becomes the top (rotating 'top' changes nothing). */
export function rotateToTop(cube: Cube, from: Side): Cube {
  if (from === 'top') return { ...cube };
  const next = { ...cube };
  for (const [side, source] of Object.entries(ROTATIONS[from]) as [Side, Side][]) next[side] = cube[source];
  return next;
}

const ROTATION_TEMPLATES = [
  'The cube is rotated so that the side which was before at the {side} is now at the top.',
  'Then the cube is rotated to bring the {side} side to the top.',
  'After that the cube is turned to make the {side} face the top.',
  'Now the cube is rotated to place its {side} side at the top.',
  'Next, the {side} side is rotated to become the top face.',
];

function generate(config: ColorCubeRotationConfig, seed: number, index: number): TaskEntry {
  const c = { ...DEFAULTS, ...config };
  validate(c);
  const rng = Rng.forItem(seed, index);
  const colors = rng.shuffle(COLORS);
  const initial = Object.fromEntries(SIDES.map((s, i) => [s, colors[i]])) as Cube;
  const numRotations = rng.int(c.min_rotations, c.max_rotations);
  const rotations: Side[] = [];
  let cube = initial;
  while (rotations.length < numRotations) {
    const from = rng.choice(SIDES.filter((s) => s !== 'top'));
    rotations.push(from);
    cube = rotateToTop(cube, from);
  }
  const target = rng.choice(SIDES);

  const parts = ['A cube has:', ...SIDES.map((s) => `- a ${initial[s]} ${s} side`)];
  rotations.forEach((side, i) => {
    const template = i === 0 ? ROTATION_TEMPLATES[0] : rng.choice(ROTATION_TEMPLATES.slice(1));
    parts.push(`\n${template.replace('{side}', side)}`);
  });
  parts.push(`\nWhat is now the color of the ${target} side of the cube?`);
  parts.push('Provide only the color as your final answer.');

  return {
    question: parts.join('\n'),
    answer: cube[target],
    metadata: {
      source_dataset: 'color_cube_rotation',
      source_index: index,
      initial_state: { ...initial },
      rotations,
      target_side: target,
      num_rotations: numRotations,
      difficulty: { rotations: [c.min_rotations, c.max_rotations] },
    },
  };
}

function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (answer === null || answer === undefined) return { score: 0 };
  const oracle = pyStrip(entry.answer ?? '').toLowerCase();
  return { score: pyStrip(answer).toLowerCase() === oracle ? 1 : 0.01 };
}

export const task: TaskDefinition<ColorCubeRotationConfig> = {
  name: 'color_cube_rotation',
  defaults: DEFAULTS,
  levels: [
    { name: 'trivial', config: { min_rotations: 1, max_rotations: 1 } },
    { name: 'easy', config: { min_rotations: 1, max_rotations: 2 } },
    { name: 'default', config: {} },
  ],
  generate,
  score,
};
