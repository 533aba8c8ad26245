// Disjoint evaluation (issue 14, MOTG.md §5): held-out pools per task and level (src/rl/heldOut.ts) hold
// distinct normalised question texts, fixed by task, level and count alone; no training draw of the trainer
// (promptsFor) ever produces one of them, over many steps and seeds; a level too small for the pool is
// refused with a typed error naming task and level; the built-in model's SFT data can leave the pool out;
// and a CPU experiment run writes evalOverlap 0 into summary.json.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runExperiment } from '../../scripts/experiment.ts';
import { buildExamples } from '../../src/builtin/data.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { checkExperimentConfig, checkRunnable } from '../../src/experiment/schema.ts';
import { SettingsError } from '../../src/mot/settings.ts';
import { TrainingError } from '../../src/rl/errors.ts';
import {
  drawOutside,
  HeldOutSet,
  heldOutPool,
  MAX_HELD_OUT,
  MAX_REDRAWS,
  normaliseQuestion,
} from '../../src/rl/heldOut.ts';
import { type GrpoTrainer, makeTrainerConfig, type TrainerConfigInput } from '../../src/rl/trainer.ts';
import { Engine } from '../../src/worker/engine.ts';

const MODEL = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The normalisation written out again, independently of normaliseQuestion. */
const plain = (q: string) => q.split(/\s+/).filter(Boolean).join(' ').toLowerCase();

/** The trivial levels: the smallest question spaces of the built-in model's tasks. */
const MIX = [
  { task: 'chain_sum', level: 'trivial' },
  { task: 'basic_arithmetic', level: 'trivial' },
  { task: 'products', level: 'trivial' },
];

let shared: Engine | null = null;
async function trainer(over: TrainerConfigInput = {}): Promise<GrpoTrainer> {
  if (!shared) {
    shared = new Engine({
      gpu: null,
      resolveSource: (loc) => new DirModelSource((loc as { baseUrl: string }).baseUrl),
    });
    await shared.init({ backend: 'cpu' });
    await shared.loadModel({ kind: 'url', baseUrl: MODEL });
  }
  return shared.createTrainer({
    tasks: MIX,
    ...over,
    // 8 prompts per step (16 completions, G = 2).
    grpo: {
      num_generations: 2,
      per_device_train_batch_size: 16,
      gradient_accumulation_steps: 1,
      max_steps: 1000,
      ...over.grpo,
    },
  });
}

/** Every pool text of the mix at `count`, normalised by `plain`. */
const poolTexts = (count: number) =>
  new Set(MIX.flatMap((t) => heldOutPool(t.task, t.level, count).entries.map((e) => plain(e.question))));

describe('held-out pools', () => {
  it('normalise by trimming, collapsing whitespace runs to one space and lower-casing', () => {
    expect(normaliseQuestion('  What is\t2 +\n\n 3?  ')).toBe('what is 2 + 3?');
    expect(normaliseQuestion('ABC  def')).toBe(normaliseQuestion('abc def'));
    expect(normaliseQuestion('a b')).not.toBe(normaliseQuestion('ab'));
  });

  it('hold distinct texts, deterministic from task, level and count (a smaller pool is a prefix)', () => {
    for (const { task, level } of MIX) {
      const big = heldOutPool(task, level, 50);
      const small = heldOutPool(task, level, 20);
      expect(big.entries).toHaveLength(50);
      expect(new Set(big.entries.map((e) => plain(e.question))).size).toBe(50);
      expect(big.texts).toEqual(new Set(big.entries.map((e) => plain(e.question))));
      expect(small.entries).toEqual(big.entries.slice(0, 20));
      expect(big.outsideShare).toBeGreaterThanOrEqual(0.25);
    }
    // Different levels and tasks give different pools.
    expect(heldOutPool('chain_sum', 'easy', 20).texts).not.toEqual(
      heldOutPool('chain_sum', 'trivial', 20).texts,
    );
  });

  it('are the evaluation items whatever the run seed and data seed', async () => {
    const a = await trainer({ heldOut: { count: 30 }, grpo: { seed: 0 } });
    const b = await trainer({ heldOut: { count: 30 }, grpo: { seed: 9 }, dataSeed: 1234 });
    const items = a.heldOutItems(30);
    expect(items).toHaveLength(90);
    expect(b.heldOutItems(30)).toEqual(items);
    const chainSum = (n: number) => a.heldOutItems(n).filter((i) => i.task === 'chain_sum');
    expect(chainSum(10).map((i) => i.entry)).toEqual(
      heldOutPool('chain_sum', 'trivial', 30).entries.slice(0, 10),
    );
    const products = items.filter((i) => i.task === 'products').map((i) => i.entry);
    expect(products).toEqual(heldOutPool('products', 'trivial', 30).entries);
    // Asking for more than the trainer holds out is refused.
    expect(() => a.heldOutItems(31)).toThrow(expect.objectContaining({ code: 'held-out-too-large' }));
  });
});

describe('training draws', () => {
  it('never produce a held-out text over 4 seeds × 250 steps × 8 prompts, redrawing only collisions', async () => {
    const count = 50;
    const held = poolTexts(count);
    let collisions = 0;
    for (const seed of [0, 1, 2, 3]) {
      const t = await trainer({ heldOut: { count }, grpo: { seed } });
      const free = await trainer({ grpo: { seed } }); // heldOut 0: the draws as before
      for (let step = 0; step < 250; step++) {
        const drawn = t.promptsFor(step);
        const before = free.promptsFor(step);
        expect(drawn).toHaveLength(8);
        drawn.forEach((p, i) => {
          expect(held.has(plain(p.entry.question))).toBe(false);
          expect(p.task).toBe(before[i].task);
          // A draw outside the pool is left as it was; a held-out one is drawn again.
          if (held.has(plain(before[i].entry.question))) collisions++;
          else expect(p.entry).toEqual(before[i].entry);
        });
      }
      t.restore({ step: 250, updates: 0, skipped: 0, elapsedMs: 0 });
      expect(t.heldOutOverlap()).toBe(0);
      free.restore({ step: 250, updates: 0, skipped: 0, elapsedMs: 0 });
      expect(free.heldOutOverlap()).toBe(0); // no pool: nothing counts as held out
    }
    // The trivial levels are small: without the pool, training would have drawn held-out questions.
    expect(collisions).toBeGreaterThan(500);
  }, 120_000);

  it('depend on (seed, step, i) alone: any order, and after a restore, gives the same prompts', async () => {
    const a = await trainer({ heldOut: { count: 50 }, grpo: { seed: 5 } });
    const forward = [0, 1, 2, 3, 4, 5].map((s) => a.promptsFor(s));
    const b = await trainer({ heldOut: { count: 50 }, grpo: { seed: 5 } });
    b.restore({ step: 3, updates: 0, skipped: 0, elapsedMs: 0 });
    expect([5, 4, 3, 2, 1, 0].map((s) => b.promptsFor(s)).reverse()).toEqual(forward);
    const other = await trainer({ heldOut: { count: 50 }, grpo: { seed: 6 } });
    expect(other.promptsFor(0)).not.toEqual(forward[0]);
  });

  it('give up after MAX_REDRAWS held-out draws with a typed error naming task and level', () => {
    const set = new HeldOutSet([{ task: 'chain_sum', level: 'trivial' }], 10);
    const inPool = heldOutPool('chain_sum', 'trivial', 10).entries[3];
    let attempts = 0;
    const draw = () => {
      attempts++;
      return { ...inPool, question: `  ${inPool.question.toUpperCase()} ` };
    };
    expect(() => drawOutside(set, 'chain_sum:trivial', draw)).toThrow(
      expect.objectContaining({
        code: 'held-out-too-large',
        message: expect.stringMatching(/^chain_sum:trivial: /),
      }),
    );
    expect(attempts).toBe(MAX_REDRAWS);
  });
});

describe('a level too small for the pool', () => {
  const refusal = (f: () => unknown): TrainingError => {
    try {
      f();
    } catch (e) {
      if (e instanceof TrainingError) return e;
      throw e;
    }
    throw new Error('not refused');
  };

  it('is refused with TrainingError held-out-too-large naming task and level', () => {
    const few = refusal(() => heldOutPool('propositional_logic', 'trivial', 5));
    expect(few.code).toBe('held-out-too-large');
    expect(few.message).toMatch(
      /^propositional_logic:trivial: only 4 distinct questions in \d+ generated items/,
    );
    const all = refusal(() => heldOutPool('products', 'trivial', 101));
    expect(all.message).toMatch(/^products:trivial: only 100 distinct questions/);
    // Enough texts, but training would be left almost nothing to draw.
    const most = refusal(() => heldOutPool('chain_sum', 'trivial', 150));
    expect(most.message).toMatch(
      /^chain_sum:trivial: holding out 150 questions leaves [\d.]+% of training draws/,
    );
    expect(refusal(() => heldOutPool('chain_sum', 'default', MAX_HELD_OUT + 1)).message).toMatch(/at most/);
    // The same refusals come from the trainer's settings, before any work.
    const viaConfig = refusal(() =>
      makeTrainerConfig({ tasks: [{ task: 'products', level: 'trivial' }], heldOut: { count: 100 } }),
    );
    expect(viaConfig.message).toMatch(/^products:trivial: /);
    expect(() =>
      makeTrainerConfig({ tasks: [{ task: 'products', level: 'trivial' }], heldOut: { count: 50 } }),
    ).not.toThrow();
  });

  it('fails an experiment config check; the eval items must all be held out', () => {
    const cfg = (json: unknown) => checkExperimentConfig(json, 'x.json');
    const tooMany = cfg({ evalItems: 16, trainer: { tasks: [{ task: 'count_bits', level: 'trivial' }] } });
    expect(refusal(() => checkRunnable(tooMany)).message).toMatch(/^count_bits:trivial: only 10 distinct/);
    const fewerHeld = cfg({ evalItems: 8, trainer: { heldOut: { count: 4 } } });
    expect(() => checkRunnable(fewerHeld)).toThrow(SettingsError);
    expect(() => checkRunnable(fewerHeld)).toThrow(/trainer\.heldOut\.count: 4 is fewer than evalItems 8/);
    expect(() => checkRunnable(cfg({ evalItems: 100, trainer: { tasks: MIX.slice(0, 2) } }))).not.toThrow();
    expect(() => cfg({ trainer: { heldOut: { count: -1 } } })).toThrow(/trainer\.heldOut\.count/);
  });
});

describe('the built-in model’s SFT data', () => {
  const parts = MIX.map(({ task, level }) => ({ task, level, count: 400 }));

  it('leaves out the held-out pool on request, keeping its size', () => {
    const held = poolTexts(20);
    const seen = (ex: ReturnType<typeof buildExamples>) =>
      ex.filter((e) => held.has(plain(e.entry.question))).length;
    const all = buildExamples(parts, 1);
    const without = buildExamples(parts, 1, { heldOut: 20 });
    // The trivial levels are small: the committed recipe's data holds held-out questions.
    expect(seen(all)).toBeGreaterThan(50);
    expect(seen(without)).toBe(0);
    expect(without).toHaveLength(all.length);
    expect(without.map((e) => e.task)).toEqual(all.map((e) => e.task));
    expect(buildExamples(parts, 1, { heldOut: 20 })).toEqual(without);
  });
});

describe('an experiment run', () => {
  it('writes evalOverlap 0 and evaluates on the pool (CPU, 3 steps)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'motg-heldout-'));
    dirs.push(out);
    const tasks = [{ task: 'chain_sum', level: 'trivial' }];
    const r = await runExperiment({
      cpu: true,
      model: MODEL,
      out,
      evalItems: 3,
      evalN: 1,
      trainer: {
        preset: 'dirichlet',
        tasks,
        grpo: {
          num_generations: 2,
          per_device_train_batch_size: 4,
          gradient_accumulation_steps: 1,
          max_completion_length: 4,
          max_steps: 3,
        },
      },
    });
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.evalOverlap).toBe(0);
    expect(r.summary.evalOverlap).toBe(0);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.resolved.heldOut).toEqual({ count: 3 });
    expect(r.evals.at(-1)?.items).toBe(3);
  }, 120_000);
});
