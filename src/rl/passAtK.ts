// pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", §2.1): the probability that
// at least one of k samples drawn without replacement from an item's n samples is correct, estimated
// without bias from the item's c correct samples as 1 − C(n−c, k) / C(n, k), and averaged over items.
// The ratio of binomials is taken as the product Π_{i=n−c+1..n} (1 − k/i), which never forms the large
// binomials themselves (C(32, 16) already loses digits in a float when divided naively).

/** An item's samples and how many of them scored exactly 1. */
export interface ItemOutcome {
  /** Samples drawn for the item. */
  n: number;
  /** Samples scoring 1 (0 ≤ c ≤ n). */
  c: number;
}

/** The largest k reported (the paper's pass@k curves stop at 32). */
export const PASS_AT_K_MAX = 32;

/** pass@k for k = 1…K, keyed by k ("1" … "32" in JSON); a k larger than the samples is left out. */
export type PassAtKCurve = Record<string, number>;

/** Unbiased pass@k of one item; undefined when k is not an integer in 1…n (the estimator needs k ≤ n). */
export function passAtK(n: number, c: number, k: number): number | undefined {
  if (!Number.isInteger(n) || !Number.isInteger(c) || c < 0 || c > n)
    throw new RangeError(`pass@k needs integers 0 ≤ c ≤ n, got n = ${n}, c = ${c}`);
  if (!Number.isInteger(k) || k < 1 || k > n) return undefined;
  // Fewer wrong samples than k: every k-subset holds a correct one.
  if (n - c < k) return 1;
  let allWrong = 1;
  for (let i = n - c + 1; i <= n; i++) allWrong *= 1 - k / i;
  return 1 - allWrong;
}

/** Mean pass@k over items; undefined when there are no items or k exceeds some item's samples. */
export function meanPassAtK(items: readonly ItemOutcome[], k: number): number | undefined {
  if (items.length === 0) return undefined;
  let sum = 0;
  for (const it of items) {
    const p = passAtK(it.n, it.c, k);
    if (p === undefined) return undefined;
    sum += p;
  }
  return sum / items.length;
}

/** Mean pass@k over items for every k = 1…kMax where it is defined. */
export function passAtKCurve(items: readonly ItemOutcome[], kMax = PASS_AT_K_MAX): PassAtKCurve {
  const out: PassAtKCurve = {};
  for (let k = 1; k <= kMax; k++) {
    const p = meanPassAtK(items, k);
    if (p === undefined) break; // defined for k means defined for every smaller k
    out[String(k)] = p;
  }
  return out;
}

/** pass@k curves of an evaluation: over all items and per task (tasks in order of their first item). */
export function passAtKByTask(
  items: readonly (ItemOutcome & { task: string })[],
  kMax = PASS_AT_K_MAX,
): { overall: PassAtKCurve; byTask: Record<string, PassAtKCurve> } {
  const tasks = new Map<string, ItemOutcome[]>();
  for (const it of items) {
    const xs = tasks.get(it.task);
    if (xs) xs.push(it);
    else tasks.set(it.task, [it]);
  }
  return {
    overall: passAtKCurve(items, kMax),
    byTask: Object.fromEntries([...tasks].map(([task, xs]) => [task, passAtKCurve(xs, kMax)])),
  };
}

/** Per task, the correct samples of each item in item order (a compact record pass@k can be redone from). */
export function correctByTask(items: readonly (ItemOutcome & { task: string })[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const it of items) {
    out[it.task] ??= [];
    out[it.task].push(it.c);
  }
  return out;
}
