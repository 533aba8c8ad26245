// self_reference: count the consistent truth assignments of seven self-referential statements
// (reasoning-gym logic/self_reference).
import { checkConfig } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface SelfReferenceConfig extends Record<string, unknown> {
  /** Kept for reasoning-gym parity; it does not change the puzzles there either. */
  difficulty: number;
  seed: number | null;
  size: number;
}

const N = 7;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let i = 2; i * i <= n; i++) if (n % i === 0) return false;
  return true;
}

const isComposite = (n: number): boolean => n > 1 && !isPrime(n);

/** The numeric parameters of statements 1-4. */
export interface SelfReferenceParams {
  a: number;
  b: number;
  c: number;
  d: number;
}

/** Whether a truth assignment of the 7 statements agrees with what each statement claims. */
export function isConsistent(p: SelfReferenceParams, truth: readonly boolean[]): boolean {
  const t = truth.filter(Boolean).length;
  const f = N - t;
  const claims = [
    t >= p.a,
    f <= p.b,
    t === p.c,
    f === p.d,
    truth[2] !== truth[3],
    isPrime(t),
    isComposite(f),
  ];
  return claims.every((claim, i) => claim === truth[i]);
}

/** Number of the 2^7 truth assignments that are self-consistent. */
export function countSolutions(p: SelfReferenceParams): number {
  let count = 0;
  for (let mask = 0; mask < 1 << N; mask++) {
    const truth = Array.from({ length: N }, (_, j) => ((mask >> j) & 1) === 1);
    if (isConsistent(p, truth)) count++;
  }
  return count;
}

/**
 * reasoning-gym's construction: plant an intended number T of true statements, pick which of
 * statements 1-5 are meant to be true, and choose each parameter so its statement agrees with T.
 */
function planParams(rng: Rng): SelfReferenceParams {
  let t = rng.int(1, N - 1);
  const forced = (isPrime(t) ? 1 : 0) + (isComposite(N - t) ? 1 : 0);
  const k = t - forced;
  let intended: boolean[];
  if (k < 0 || k > 5) {
    t = 4;
    intended = [true, true, true, true, false];
  } else {
    const trueIdx = new Set(rng.sample([0, 1, 2, 3, 4], k));
    intended = [0, 1, 2, 3, 4].map((i) => trueIdx.has(i));
  }
  const a = intended[0] ? rng.int(1, t) : t + 1 > N ? N : rng.int(t + 1, N);
  const b = intended[1] ? rng.int(N - t, N) : rng.int(0, Math.max(N - t - 1, 0));
  const notT = [0, 1, 2, 3, 4, 5, 6, 7].filter((x) => x !== t);
  const c = intended[2] ? t : rng.choice(notT);
  const notF = [0, 1, 2, 3, 4, 5, 6, 7].filter((x) => x !== N - t);
  const d = intended[3] ? N - t : rng.choice(notF);
  return { a, b, c, d };
}

export function statementsText(p: SelfReferenceParams): string[] {
  return [
    `Statement 1: 'At least ${p.a} of these 7 statements are true.'`,
    `Statement 2: 'At most ${p.b} of these 7 statements are false.'`,
    `Statement 3: 'Exactly ${p.c} of these 7 statements are true.'`,
    `Statement 4: 'Exactly ${p.d} of these 7 statements are false.'`,
    "Statement 5: 'Either Statement 3 or Statement 4 is true, but not both.'",
    "Statement 6: 'The number of true statements is a prime number.'",
    "Statement 7: 'The number of false statements is a composite number.'",
  ];
}

export const task: TaskDefinition<SelfReferenceConfig> = {
  name: 'self_reference',
  defaults: { difficulty: 5, seed: null, size: 500 },
  // reasoning-gym's difficulty (1-10) does not change the puzzles, so there is a single level.
  levels: [{ name: 'default', config: {} }],

  generate(config, seed, index): TaskEntry {
    checkConfig(
      config.difficulty >= 1 && config.difficulty <= 10,
      'self_reference',
      'difficulty must be between 1 and 10',
    );
    const rng = Rng.forItem(seed, index);
    const params = planParams(rng);
    const question =
      'Given the truthfulness of these statements, please tell me the number of possible solutions: \n' +
      statementsText(params)
        .map((s) => ` - ${s}\n`)
        .join('');
    return {
      question,
      answer: String(countSolutions(params)),
      metadata: {
        source_dataset: 'self_reference',
        source_index: index,
        difficulty: { difficulty: config.difficulty },
      },
    };
  },

  // reasoning-gym: exact string equality with str(entry["answer"]), nothing stripped.
  score(answer, entry) {
    const oracle = entry.answer === null ? 'None' : String(entry.answer);
    return { score: typeof answer === 'string' && answer === oracle ? 1.0 : 0.0 };
  },
};
