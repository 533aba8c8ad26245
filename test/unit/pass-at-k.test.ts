// pass@k (src/rl/passAtK.ts, Chen et al. 2021): the product form of 1 − C(n−c, k)/C(n, k) against a
// brute-force count over every k-subset of the samples, its edge cases, and the eval records of a run
// (src/experiment/run.ts → eval.jsonl) carrying pass@k per task with the decoding mode.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../scripts/experiment.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { type RunEngine, type RunSink, runLoop } from '../../src/experiment/run.ts';
import { checkRunnable } from '../../src/experiment/schema.ts';
import { meanPassAtK, PASS_AT_K_MAX, passAtK, passAtKByTask, passAtKCurve } from '../../src/rl/passAtK.ts';
import type { EvalResult } from '../../src/rl/trainer.ts';
import { Engine } from '../../src/worker/engine.ts';
import { syntheticReward } from '../helpers/rewards.ts';

/** Every k-subset of {0 … n−1} (as index lists). */
function subsets(n: number, k: number, from = 0): number[][] {
  if (k === 0) return [[]];
  const out: number[][] = [];
  for (let i = from; i <= n - k; i++) for (const rest of subsets(n, k - 1, i + 1)) out.push([i, ...rest]);
  return out;
}

/** The fraction of k-subsets of n samples (the first c correct) holding at least one correct sample. */
function bruteForce(n: number, c: number, k: number): number {
  const all = subsets(n, k);
  return all.filter((s) => s.some((i) => i < c)).length / all.length;
}

describe('pass@k estimator', () => {
  it('equals brute-force enumeration over all k-subsets for every n ≤ 8, c ≤ n, k ≤ n', () => {
    let checked = 0;
    for (let n = 1; n <= 8; n++)
      for (let c = 0; c <= n; c++)
        for (let k = 1; k <= n; k++) {
          expect(passAtK(n, c, k), `n=${n} c=${c} k=${k}`).toBeCloseTo(bruteForce(n, c, k), 12);
          checked++;
        }
    expect(checked).toBe(240); // Σ_{n=1..8} (n + 1) · n
  });

  it('edge cases: k outside 1…n is undefined, c = 0 gives 0, c = n gives 1, pass@1 = c/n', () => {
    expect(passAtK(4, 2, 5)).toBeUndefined();
    expect(passAtK(4, 2, 0)).toBeUndefined();
    expect(passAtK(4, 2, 1.5)).toBeUndefined();
    expect(passAtK(10, 0, 10)).toBe(0);
    expect(passAtK(10, 10, 1)).toBe(1);
    expect(passAtK(10, 3, 8)).toBe(1); // only 7 wrong samples: every 8-subset has a correct one
    expect(passAtK(7, 3, 1)).toBeCloseTo(3 / 7, 15);
    expect(() => passAtK(4, 5, 1)).toThrow(RangeError);
    expect(() => passAtK(4, -1, 1)).toThrow(RangeError);
  });

  it('stays exact where the binomials are large: one correct of n gives k/n, and it rises with k', () => {
    expect(passAtK(1000, 1, 32)).toBeCloseTo(32 / 1000, 14);
    // C(1000, 32) overflows no float here: the product never forms it.
    const curve = Array.from({ length: 32 }, (_, i) => passAtK(1000, 20, i + 1) as number);
    for (let k = 1; k < 32; k++) expect(curve[k]).toBeGreaterThan(curve[k - 1]);
    // 1 − Π_{i=981..1000} (1 − 32/i), by logs.
    let logAllWrong = 0;
    for (let i = 981; i <= 1000; i++) logAllWrong += Math.log1p(-32 / i);
    expect(curve[31]).toBeCloseTo(1 - Math.exp(logAllWrong), 12);
  });

  it('the mean over items, and the curve for k = 1…min(32, n) only', () => {
    const items = [
      { n: 4, c: 0 },
      { n: 4, c: 1 },
      { n: 4, c: 4 },
    ];
    expect(meanPassAtK(items, 2)).toBeCloseTo((0 + 0.5 + 1) / 3, 15);
    expect(meanPassAtK([], 1)).toBeUndefined();
    expect(meanPassAtK([...items, { n: 2, c: 1 }], 3)).toBeUndefined(); // one item has only 2 samples
    const curve = passAtKCurve(items);
    expect(Object.keys(curve)).toEqual(['1', '2', '3', '4']);
    expect(curve['1']).toBeCloseTo(5 / 12, 15); // the mean fraction correct: accuracy
    expect(Object.keys(passAtKCurve(Array.from({ length: 3 }, () => ({ n: 40, c: 3 }))))).toHaveLength(
      PASS_AT_K_MAX,
    );
    const byTask = passAtKByTask([
      { task: 'a', n: 2, c: 1 },
      { task: 'b', n: 2, c: 2 },
      { task: 'a', n: 2, c: 0 },
    ]);
    expect(byTask.byTask).toEqual({ a: { '1': 0.25, '2': 0.5 }, b: { '1': 1, '2': 1 } });
    expect(byTask.overall['2']).toBeCloseTo(2 / 3, 15);
  });
});

const MODEL = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');

async function cpuEngine(): Promise<{ e: Engine; modelInfo: Awaited<ReturnType<Engine['loadModel']>> }> {
  const e = new Engine({
    gpu: null,
    resolveSource: (loc) => new DirModelSource((loc as { baseUrl: string }).baseUrl),
  });
  await e.init({ backend: 'cpu' });
  return { e, modelInfo: await e.loadModel({ kind: 'url', baseUrl: MODEL }) };
}

/** A run folder in memory. */
function memorySink(): RunSink & { files: Map<string, string> } {
  const files = new Map<string, string>();
  const text = (d: string | Uint8Array) => (typeof d === 'string' ? d : `<${d.length} bytes>`);
  return {
    files,
    write: async (name, data) => void files.set(name, text(data)),
    append: async (name, t) => void files.set(name, (files.get(name) ?? '') + t),
  };
}

describe('eval records carry pass@k', () => {
  it('the CLI and the schema take 32+ samples per item', () => {
    const cfg = parseArgs(['--eval-n', '40', '--cpu']);
    expect(cfg.evalN).toBe(40);
    expect(() => checkRunnable(cfg)).not.toThrow();
  });

  it('eval.jsonl: pass@k for k = 1…n per task and overall, the mode, and the counts it comes from', async () => {
    const { e, modelInfo } = await cpuEngine();
    // A random model solves nothing: score by a hash of the text so items have 0 < c < n.
    const hashed = (s: string) => [...s].reduce((h, ch) => (h * 31 + (ch.codePointAt(0) ?? 0)) % 101, 7);
    const engine: RunEngine = {
      createTrainer: async (cfg) => {
        const t = await e.createTrainer(cfg);
        t.host.reward = (c) => syntheticReward(0, hashed(c) % 2);
        return t;
      },
      exportAdapter: () => e.exportAdapter(),
    };
    const sink = memorySink();
    const n = 5;
    try {
      await runLoop(
        engine,
        {
          evalN: n,
          evalItems: 3,
          evalEvery: 1,
          trainer: {
            preset: 'dirichlet',
            tasks: [
              { task: 'chain_sum', level: 'trivial' },
              { task: 'products', level: 'trivial' },
            ],
            grpo: { num_generations: 2, max_completion_length: 6, max_steps: 1, seed: 3 },
          },
        },
        { adapter: 'cpu', model: MODEL, modelInfo, sink, log: () => {} },
      );
    } finally {
      await e.dispose();
    }
    const records = (sink.files.get('eval.jsonl') ?? '')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EvalResult);
    expect(records.map((r) => r.step)).toEqual([0, 1]);
    for (const r of records) {
      expect(r.evalMode).toBe('dirichlet');
      expect(Object.keys(r.passAtK.overall)).toEqual(['1', '2', '3', '4', '5']);
      expect(Object.keys(r.passAtK.byTask)).toEqual(['chain_sum', 'products']);
      expect(r.passAtK.overall['1']).toBeCloseTo(r.accuracy, 12); // pass@1 is the accuracy
      for (const [task, cs] of Object.entries(r.correct)) {
        expect(cs).toHaveLength(3);
        const items = cs.map((c) => ({ n, c }));
        for (let k = 1; k <= n; k++)
          expect(r.passAtK.byTask[task][String(k)]).toBeCloseTo(meanPassAtK(items, k) as number, 12);
      }
    }
    const all = records.flatMap((r) => Object.values(r.correct).flat());
    expect(all.some((c) => c > 0 && c < n)).toBe(true); // the counts are not all 0 or all n
  }, 120_000);

  it('the mode of a mixture preset evaluated without mixing is discrete', async () => {
    const { e } = await cpuEngine();
    try {
      const base = { tasks: [{ task: 'chain_sum', level: 'trivial' }], grpo: { max_completion_length: 4 } };
      const mixed = await e.createTrainer({ ...base, preset: 'dirichlet' });
      expect((await mixed.evaluate(mixed.heldOutItems(1), 2)).evalMode).toBe('dirichlet');
      const plain = await e.createTrainer({ ...base, preset: 'dirichlet', mot: { evalMixture: false } });
      const r = await plain.evaluate(plain.heldOutItems(1), 2);
      expect(r.evalMode).toBe('discrete');
      expect(Object.keys(r.passAtK.overall)).toEqual(['1', '2']);
    } finally {
      await e.dispose();
    }
  }, 60_000);
});
