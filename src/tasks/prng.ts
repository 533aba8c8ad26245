// Our own deterministic PRNG (identical in every JS runtime): splitmix32 seeding + mulberry32-style
// stream. Task items do not need to reproduce Python's; they need to be the same for a seed everywhere.

export class Rng {
  private state: number;

  constructor(seed: number) {
    // Mix the seed so that nearby seeds give unrelated streams.
    let s = (seed >>> 0) ^ 0x9e3779b9;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b);
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35);
    this.state = (s ^ (s >>> 16)) >>> 0;
  }

  /** Stream for item `index` of a dataset with `seed` (like reasoning-gym's Random(seed + index)). */
  static forItem(seed: number, index: number): Rng {
    return new Rng(Math.imul(seed >>> 0, 0x01000193) ^ Math.imul(index + 1, 0x27d4eb2d));
  }

  /** Uniform float in [0, 1). */
  random(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi], both inclusive (Python's randint). */
  int(lo: number, hi: number): number {
    if (hi < lo) throw new Error(`Rng.int: empty range [${lo}, ${hi}]`);
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  /** One element of a non-empty array. */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.choice: empty array');
    return items[Math.floor(this.random() * items.length)];
  }

  /** Fisher-Yates shuffle of a copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const a = items.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  /** k distinct elements (Python's random.sample). */
  sample<T>(items: readonly T[], k: number): T[] {
    if (k > items.length) throw new Error(`Rng.sample: k=${k} > ${items.length}`);
    return this.shuffle(items).slice(0, k);
  }

  /** True with probability p. */
  bool(p = 0.5): boolean {
    return this.random() < p;
  }
}
