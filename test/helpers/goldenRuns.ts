// The outputs the reshape of the engine must not change (issue 11): seeded and greedy rollouts of every
// preset, 5 GRPO steps per preset (metrics, behaviour log-likelihoods ℓ, updated parameters), held-out
// evaluation — all on the built-in model. test/golden/record.ts wrote them from the code before the reshape;
// test/unit/golden-outputs.test.ts (CPU, bit-identical) and test/gpu/golden-outputs.test.ts (WebGPU, within
// tolerances) compare what the code computes now.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { evaluateTask } from '../../src/builtin/evaluate.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { Tokenizer } from '../../src/engine/model/tokenizer.ts';
import { PRESET_NAMES } from '../../src/mot/presets.ts';
import type { MotSettings } from '../../src/mot/settings.ts';
import { Engine } from '../../src/worker/engine.ts';
import { hashReward } from './rewards.ts';

export const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-builtin');
export const GOLDEN_DIR = resolve(import.meta.dirname, '../golden');
const QUESTIONS = ['What is 3 + 4?', 'How many legs do 2 cats have?'];
/** The presets and stop rule the goldens were recorded with: `discrete-top-k` and soft-thinking's default
 * Cold Stop came later (test/unit/discrete-top-k.test.ts and cold-stop.test.ts test them). */
const GOLDEN_PRESETS = PRESET_NAMES.filter((p) => p !== 'discrete-top-k');
const GOLDEN_STOP = { coldStop: false };

/** Plain JSON of a value: typed arrays as arrays (float32 → double is exact), timings dropped. */
export function plain(x: unknown): unknown {
  return JSON.parse(
    JSON.stringify(x, (k, v) => {
      if (TIMING.has(k) || LATER_FIELDS.has(k)) return undefined;
      if (ArrayBuffer.isView(v) && !(v instanceof DataView))
        return Array.from(v as unknown as ArrayLike<number>);
      if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
      return v;
    }),
  );
}
const TIMING = new Set([
  'prefillMs',
  'decodeMs',
  'tokensPerSecond',
  'tokens_per_s',
  'rolloutMs',
  'trainMs',
  'wallMs',
  'elapsedMs',
  'backend',
  'path',
]);
/** Record and step-metric fields added after the goldens were recorded: issue 14's hidden-state entropies
 * and mixture diagnostics (test/unit/mixture-diagnostics.test.ts, test/gpu/hidden-entropy.test.ts). */
const LATER_FIELDS = new Set([
  'hiddenEntropyScaleFree',
  'hiddenEntropyByReasoningQuarter',
  'hiddenEntropyScaleFreeByReasoningQuarter',
  'mixingStepFraction',
  'weightEntropy',
  'mixNormRatio',
  'mixNearestCosine',
  // Evaluation records: pass@k, the mode evaluated, per-item correct counts.
  'evalMode',
  'passAtK',
  'correct',
]);

export async function goldenEngine(gpu: GPU | null): Promise<Engine> {
  const e = new Engine({ gpu, resolveSource: () => new DirModelSource(BUILTIN) });
  await e.init({ backend: gpu ? 'webgpu' : 'cpu' });
  await e.loadModel({ kind: 'url', baseUrl: BUILTIN });
  return e;
}

/** Seeded-sampled and greedy rollouts of every preset (2 prompts × G = 2, 20 new tokens). */
export async function decodeRuns(e: Engine): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const preset of GOLDEN_PRESETS) {
    for (const [mode, settings] of [
      ['sampled', {}],
      ['greedy', { temperature: 0 }],
    ] as [string, Partial<MotSettings>][]) {
      const r = await e.rollout({
        prompts: QUESTIONS,
        G: 2,
        preset,
        settings,
        stop: GOLDEN_STOP,
        maxNewTokens: 20,
        seed: 11,
      });
      out[`${preset}/${mode}`] = plain(r);
    }
  }
  const g = await e.generate('What is 3 + 4?', { maxNewTokens: 20, greedy: true });
  const s = await e.generate('What is 3 + 4?', { maxNewTokens: 20, temperature: 1, seed: 5 });
  out['generate/greedy'] = plain(g);
  out['generate/sampled'] = plain(s);
  return out;
}

/** Strided sample of every parameter plus the SHA-256 of all of them (sorted by name). */
export function paramDigest(params: Record<string, Float32Array>): {
  sha256: string;
  sample: Record<string, number[]>;
} {
  const h = createHash('sha256');
  const sample: Record<string, number[]> = {};
  for (const k of Object.keys(params).sort()) {
    const p = params[k];
    h.update(k);
    h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    const s: number[] = [];
    for (let i = 0; i < p.length; i += 97) s.push(p[i]);
    sample[k] = s;
  }
  return { sha256: h.digest('hex'), sample };
}

/** The GRPO runs: every preset (paper likelihood at temperature 1, which both backends train), plus on the
 * CPU the default paper temperature and the exact likelihood. */
export function grpoCases(
  backend: 'cpu' | 'webgpu',
): { name: string; preset: string; mot: Partial<MotSettings> }[] {
  const cases: { name: string; preset: string; mot: Partial<MotSettings> }[] = GOLDEN_PRESETS.map((p) => ({
    name: p,
    preset: p,
    mot: { paperTemperature: 'one' } as Partial<MotSettings>,
  }));
  if (backend === 'cpu')
    cases.push(
      { name: 'dirichlet/sampling-temperature', preset: 'dirichlet', mot: {} },
      { name: 'dirichlet/exact', preset: 'dirichlet', mot: { likelihood: 'exact' } },
    );
  return cases;
}

/** 5 GRPO steps of one case from the freshly loaded model, then a held-out evaluation. */
export async function grpoRun(
  e: Engine,
  c: { preset: string; mot: Partial<MotSettings> },
  steps = 5,
): Promise<Record<string, unknown>> {
  await e.loadModel({ kind: 'url', baseUrl: BUILTIN }); // start from the stored weights
  const t = await e.createTrainer({
    preset: c.preset as MotSettings['preset'],
    mot: c.mot,
    stop: GOLDEN_STOP,
    tasks: [
      { task: 'chain_sum', level: 'trivial' },
      { task: 'products', level: 'trivial' },
    ],
    grpo: {
      num_generations: 4,
      per_device_train_batch_size: 4,
      gradient_accumulation_steps: 1,
      max_completion_length: 20,
      learning_rate: 3e-3,
      optim: 'adamw',
      beta: 0.04,
      max_steps: steps,
      warmup_ratio: 0,
      seed: 3,
    },
  });
  t.host.reward = (c) => hashReward(c); // variance within every group, so every step has a gradient
  const stepsOut: unknown[] = [];
  for (let i = 0; i < steps; i++) {
    const r = await t.trainStep();
    stepsOut.push({
      metrics: plain(r.metrics),
      rollouts: plain(r.rollouts),
      tokens: r.trajectories.map((tr) => tr.tokens),
      logLikelihoods: r.trajectories.map((tr) => tr.records.map((x) => x.logLikelihood)),
    });
  }
  const params = paramDigest((await t.host.policy.exportState({ optimizer: false })).params);
  const evaluation = plain(await t.evaluate(t.heldOutItems(2), 2, 9));
  return { steps: stepsOut, params, evaluation };
}

/** `npm run evaluate`'s computation (src/builtin/evaluate.ts) on two tasks, every item kept. */
export async function evaluateRuns(e: Engine): Promise<Record<string, unknown>> {
  await e.loadModel({ kind: 'url', baseUrl: BUILTIN });
  const tok = await Tokenizer.fromSource(new DirModelSource(BUILTIN));
  const out: Record<string, unknown> = {};
  for (const [task, temperature] of [
    ['chain_sum', 1],
    ['products', 0],
  ] as const) {
    const items: unknown[] = [];
    const { summary } = await evaluateTask(
      (ids, o) =>
        e.generate(ids, {
          maxNewTokens: o.maxNewTokens,
          temperature: o.temperature,
          seed: o.seed,
          chat: false,
        }),
      {
        encode: (t, o) => tok.encode(t, o),
        decode: (ids, o) => tok.decode(ids, o),
        eosTokenIds: tok.eosTokenIds,
      },
      {
        task,
        level: 'trivial',
        n: 6,
        seed: 777,
        temperature,
        maxNewTokens: 40,
        onItem: (_, s) => items.push(plain(s)),
      },
    );
    out[`${task}/T${temperature}`] = { summary: plain(summary), items };
  }
  return out;
}

/** Every difference between two plain JSON values beyond |a − e| ≤ atol + rtol·|e| (strings, booleans and
 * shapes exactly), as `path: actual vs expected` lines (at most `limit`). */
export function jsonDifferences(
  actual: unknown,
  expected: unknown,
  tol: { atol: number; rtol: number; skip?: Set<string> },
  path = '',
  out: string[] = [],
  limit = 20,
): string[] {
  if (out.length >= limit) return out;
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (!(Math.abs(actual - expected) <= tol.atol + tol.rtol * Math.abs(expected)))
      out.push(`${path}: ${actual} vs ${expected}`);
  } else if (Array.isArray(expected) && Array.isArray(actual)) {
    if (actual.length !== expected.length) out.push(`${path}: length ${actual.length} vs ${expected.length}`);
    else
      for (let i = 0; i < expected.length; i++)
        jsonDifferences(actual[i], expected[i], tol, `${path}[${i}]`, out, limit);
  } else if (expected && actual && typeof expected === 'object' && typeof actual === 'object') {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const k of keys) {
      if (tol.skip?.has(k)) continue;
      jsonDifferences(
        (actual as Record<string, unknown>)[k],
        (expected as Record<string, unknown>)[k],
        tol,
        `${path}.${k}`,
        out,
        limit,
      );
    }
  } else if (actual !== expected)
    out.push(`${path}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`);
  return out;
}
