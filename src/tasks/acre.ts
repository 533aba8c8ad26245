// acre: Blicket-detector causal induction (reasoning-gym induction/acre, after the ACRE benchmark).
// A detector lights up when at least one "blicket" is on it; from six observed trials, say whether a
// new set of objects turns it on, leaves it off, or cannot be determined.
import { baseScore, checkConfig, exactScore } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface AcreConfig extends Record<string, unknown> {
  /** 1 for the training split (its systematic part uses on-off-off trials), 0 for validation/test. */
  train: number;
  seed: number | null;
  size: number;
}

// 8 colours × 2 materials × 3 shapes; the compositional split only uses the first 24 (cubes, cylinders).
const COLORS = ['gray', 'red', 'blue', 'green', 'brown', 'purple', 'cyan', 'yellow'];
const MATERIALS = ['rubber', 'metal'];
const SHAPES = ['cube', 'cylinder', 'sphere'];
const ALL_OBJECTS = 48;
const ATTR_OBJECTS = 24;

export function describeObject(id: number): string {
  const shape = SHAPES[Math.floor(id / 16)];
  const color = COLORS[Math.floor((id % 16) / 2)];
  return `${color} ${MATERIALS[id % 2]} ${shape}`;
}

type Light = 'on' | 'off';
interface View {
  objects: number[];
  light: Light;
}
type Label = 'off' | 'undetermined' | 'on';

/** Both kinds of trial set, with reasoning-gym's object counts. */
const KINDS = {
  onOffOff: { minPotential: 2, maxPotential: 3, minNon: 3, maxNon: 5 },
  onOnOff: { minPotential: 2, maxPotential: 4, minNon: 3, maxNon: 4 },
} as const;
type Kind = keyof typeof KINDS;

const isSubset = (a: readonly number[], b: readonly number[]): boolean => a.every((x) => b.includes(x));
const without = (a: readonly number[], b: readonly number[]): number[] => a.filter((x) => !b.includes(x));

/**
 * One experiment in reasoning-gym's construction. Objects are known blickets, known non-blickets,
 * or potential blickets; `sets` are minimal groups that lit the detector with no known blicket, so
 * each holds at least one blicket. direct/indirect/screenOff record how an object's status was shown,
 * and steer which single objects get asked about.
 */
class Experiment {
  blickets: number[] = [];
  potential: number[];
  non: number[];
  sets: number[][] = [];
  direct: number[] = [];
  indirect: number[] = [];
  screenOff: number[] = [];
  views: View[];

  constructor(
    private readonly rng: Rng,
    kind: Kind,
    objectCount: number,
  ) {
    const k = KINDS[kind];
    const numPotential = rng.int(k.minPotential, k.maxPotential);
    const numNon = rng.int(k.minNon, k.maxNon);
    const ids = rng.sample(
      Array.from({ length: objectCount }, (_, i) => i),
      numPotential + numNon,
    );
    this.potential = ids.slice(0, numPotential);
    this.non = ids.slice(numPotential);
    const habituation = this.habituation();
    const evidence = kind === 'onOffOff' ? this.onOffOff() : this.onOnOff();
    this.views = [...rng.shuffle(habituation), ...rng.shuffle(evidence)];
  }

  private makeBlicket(obj: number): void {
    this.potential = this.potential.filter((x) => x !== obj);
    this.blickets.push(obj);
  }

  /** Keep only minimal sets: a superset of another set says nothing new. */
  private addSet(set: number[]): void {
    const sorted = [...set].sort((a, b) => a - b);
    if (this.sets.some((s) => isSubset(s, sorted))) return;
    this.sets = this.sets.filter((s) => !isSubset(sorted, s));
    this.sets.push(sorted);
  }

  /** Known non-blickets (never the first one) added to a lit view, as distractors. */
  private noise(): number[] {
    const n = this.rng.int(0, this.non.length - 1);
    return this.rng.sample(this.non.slice(1), n);
  }

  /** Two random subsets that together cover `union`. */
  private unionSample(union: readonly number[]): [number[], number[]] {
    const first = this.rng.sample(union, this.rng.int(1, union.length));
    const second = without(union, first);
    const extra = this.rng.int(second.length > 0 ? 0 : 1, first.length);
    return [first, [...second, ...this.rng.sample(first, extra)]];
  }

  /** A blicket alone (on), a non-blicket alone (off), both together (on). */
  private habituation(): View[] {
    const blicket = this.potential[0];
    this.makeBlicket(blicket);
    const nonBlicket = this.non[0];
    this.direct.push(blicket);
    this.screenOff.push(nonBlicket);
    return [
      { objects: [blicket], light: 'on' },
      { objects: [nonBlicket], light: 'off' },
      { objects: [blicket, nonBlicket], light: 'on' },
    ];
  }

  /** One lit view with all remaining potentials (plus noise), two dark views with the other non-blickets. */
  private onOffOff(): View[] {
    const [firstOff, secondOff] = this.unionSample(this.non.slice(1));
    const onList = [...this.potential];
    if (onList.length === 1) this.makeBlicket(onList[0]);
    else this.addSet(onList);
    const onView: View = { objects: [...onList, ...this.noise()], light: 'on' };

    const offUnion = this.non.slice(1);
    const onDiff = without(onView.objects, offUnion);
    this.direct.push(...without(offUnion, onView.objects));
    this.screenOff.push(...offUnion.filter((x) => onView.objects.includes(x)));
    if (onView.objects.length === 1) this.direct.push(...onView.objects);
    else if (onDiff.length === 1) this.indirect.push(onDiff[0]);
    return [onView, { objects: firstOff, light: 'off' }, { objects: secondOff, light: 'off' }];
  }

  /** Two lit views that split the potentials (plus noise), one dark view with the other non-blickets. */
  private onOnOff(): View[] {
    const offView: View = { objects: this.non.slice(1), light: 'off' };
    const ons = this.unionSample(this.potential);
    for (const on of ons) if (on.length === 1 && !this.blickets.includes(on[0])) this.makeBlicket(on[0]);
    for (const on of ons) if (!on.some((x) => this.blickets.includes(x))) this.addSet(on);
    const onViews: View[] = ons.map((on) => ({ objects: [...on, ...this.noise()], light: 'on' }));

    const onUnion = onViews.flatMap((v) => v.objects);
    this.direct.push(...without(offView.objects, onUnion));
    this.screenOff.push(...offView.objects.filter((x) => onUnion.includes(x)));
    for (const v of onViews) {
      if (v.objects.length === 1 && !this.direct.includes(v.objects[0])) this.direct.push(v.objects[0]);
    }
    for (const v of onViews) {
      const diff = without(v.objects, offView.objects);
      if (
        v.objects.length > 1 &&
        diff.length === 1 &&
        !this.indirect.includes(diff[0]) &&
        !this.direct.includes(diff[0])
      ) {
        this.indirect.push(diff[0]);
      }
    }
    return [...onViews, offView];
  }

  labelOf(obj: number): Label {
    if (this.blickets.includes(obj)) return 'on';
    if (this.potential.includes(obj)) return 'undetermined';
    return 'off';
  }

  /**
   * Two single-object questions, spread over how the objects were revealed; null when the counts cannot
   * reach two (reasoning-gym asserts there).
   */
  causeQuestions(screenOffMargin: number): { objects: number[]; label: Label }[] | null {
    const upper = [
      this.direct.length,
      this.indirect.length,
      Math.max(this.screenOff.length - screenOffMargin, 0),
    ];
    const numPotential = Math.min(this.potential.length, 1);
    const total = 2 - numPotential;
    if (upper[0] + upper[1] + upper[2] < total) return null;
    let counts: number[];
    for (;;) {
      const d = this.rng.int(0, Math.min(upper[0], total));
      const i = this.rng.int(0, Math.min(upper[1], total - d));
      if (total - d - i <= upper[2]) {
        counts = [d, i, total - d - i];
        break;
      }
    }
    const picks = [
      ...this.rng.sample(this.direct, counts[0]),
      ...this.rng.sample(this.indirect, counts[1]),
      ...this.rng.sample(this.screenOff, counts[2]),
      ...this.rng.sample(this.potential, numPotential),
    ];
    return picks.map((obj) => ({ objects: [obj], label: this.labelOf(obj) }));
  }

  /** Two questions that add an object (or a whole set) to the objects of a dark view. */
  interventionQuestions(): { objects: number[]; label: Label }[] {
    const dark = this.rng.choice(this.views.filter((v) => v.light === 'off'));
    const singles = without([...this.blickets, ...this.potential, ...this.non], dark.objects).map((x) => [x]);
    // Potentials are listed twice, as reasoning-gym does to ask about them more often.
    const extraPotential = without(this.potential, dark.objects).map((x) => [x]);
    const possibilities = [...singles, ...this.sets, ...extraPotential];
    return this.rng.sample(possibilities, 2).map((p) => ({
      objects: [...dark.objects, ...p],
      label: p.length > 1 ? 'on' : this.labelOf(p[0]),
    }));
  }
}

const PROMPT_HEAD = `You are a researcher studying causal relationships using Blicket experiments. In these experiments, certain objects (called 'blickets') have the hidden property of activating a detector, causing its light to turn on.

Each example shows the results of placing different combinations of objects on the detector. Each object is described by color, material and shape. Your task is to determine whether a new combination of objects will cause the detector to activate.

After observing the previous examples, respond with:
- "on" if you can determine the detector light will turn on
- "off" if you can determine the detector light will stay off
- "undetermined" if there is insufficient evidence to reach a conclusion

Do not use quotation marks in your answer.

Previous experimental results:
`;

export const task: TaskDefinition<AcreConfig> = {
  name: 'acre',
  defaults: { train: 1, size: 500, seed: null },
  // reasoning-gym's only knob is the split; there is no easier setting.
  levels: [{ name: 'default', config: {} }],

  generate(config, seed, index): TaskEntry {
    checkConfig(config.train === 0 || config.train === 1, 'acre', 'train must be either 0 or 1');
    const rng = Rng.forItem(seed, index);
    // reasoning-gym's mix: 60% i.i.d., 20% compositional (fewer object kinds), 20% systematic.
    const r = rng.random();
    const regime = r < 0.6 ? 'iid' : r < 0.8 ? 'comp' : 'sys';
    const objectCount = regime === 'comp' ? ATTR_OBJECTS : ALL_OBJECTS;
    const margin = regime === 'comp' ? 2 : regime === 'sys' && config.train ? 3 : 1;

    let exp: Experiment;
    let cause: { objects: number[]; label: Label }[] | null;
    do {
      let kind: Kind;
      if (regime === 'sys') kind = config.train ? 'onOffOff' : 'onOnOff';
      else kind = rng.bool() ? 'onOffOff' : 'onOnOff';
      exp = new Experiment(rng, kind, objectCount);
      cause = exp.causeQuestions(margin);
    } while (!cause);
    // reasoning-gym asks all four questions of an experiment; we ask one of them.
    const test = rng.choice([...cause, ...exp.interventionQuestions()]);

    // Objects in random order within each trial, so position gives nothing away.
    const listObjects = (objs: number[]) => rng.shuffle(objs).map(describeObject).join(', ');
    const examples = exp.views.map((v) => `${listObjects(v.objects)} → ${v.light}`).join('\n');
    const question =
      PROMPT_HEAD +
      examples +
      '\n\nNew test case:\n' +
      listObjects(test.objects) +
      '\n\nWhat is the detector light status?';
    return {
      question,
      answer: test.label,
      metadata: { source_dataset: 'acre', source_index: index },
    };
  },

  // reasoning-gym uses the base scorer: exact, or the oracle's share of a longer answer that contains it.
  score: (answer, entry) => ({ score: baseScore(answer, String(entry.answer)) }),
  scoreStrict: (answer, entry) => ({ score: exactScore(answer, String(entry.answer)) }),
};
