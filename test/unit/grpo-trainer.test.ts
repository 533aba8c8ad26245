// The GRPO trainer (src/rl/trainer.ts) on the CPU reference with the tiny random model: the backward seeded
// from the likelihood's GradTerms matches finite differences (exact mode, different-tokens), an injected
// non-finite step is skipped and leaves the weights alone, the LR warm-up is HF's (rate 0 on the first
// update), 2 steps + checkpoint + resume + 2 equals 4 steps, the session refuses a second run and stop keeps
// the last completed step's weights, the experiment runner is reproducible, soft-tokens' noisy mixture inputs
// keep E's gradient through the weights (finite differences), and the GPU path refuses what it cannot train
// (and accepts the weighted-ids rule and noise).

import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runExperiment } from '../../scripts/experiment.ts';
import { writeSafetensors } from '../../src/engine/model/safetensors.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { embedInputs, type RefModel } from '../../src/engine/ref/model.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from '../../src/rl/checkpoint.ts';
import { TrainingError } from '../../src/rl/errors.ts';
import { deterministicMetrics, type StepMetrics } from '../../src/rl/metrics.ts';
import { CpuPolicy } from '../../src/rl/policy/cpu.ts';
import { gpuUnsupportedReason } from '../../src/rl/policy/gpu.ts';
import { runRollout } from '../../src/rl/rollout.ts';
import { TrainingSession } from '../../src/rl/session.ts';
import type { GrpoTrainer, TrainerConfigInput } from '../../src/rl/trainer.ts';
import { buildTrainingBatch } from '../../src/rl/trainingBatch.ts';
import { Engine } from '../../src/worker/engine.ts';
import { digitReward } from '../helpers/rewards.ts';

const MODEL = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');

async function engine(): Promise<Engine> {
  const e = new Engine({
    gpu: null,
    resolveSource: (loc) => new DirModelSource((loc as { baseUrl: string }).baseUrl),
  });
  await e.init({ backend: 'cpu' });
  await e.loadModel({ kind: 'url', baseUrl: MODEL });
  return e;
}

function tiny(over: TrainerConfigInput = {}): TrainerConfigInput {
  return {
    preset: 'dirichlet',
    tasks: [{ task: 'chain_sum', level: 'trivial' }],
    ...over,
    grpo: {
      num_generations: 4,
      per_device_train_batch_size: 4,
      gradient_accumulation_steps: 1,
      max_completion_length: 8,
      learning_rate: 3e-3,
      optim: 'adamw',
      beta: 0.1,
      max_steps: 20,
      seed: 7,
      ...over.grpo,
    },
  };
}

async function trainer(over: TrainerConfigInput = {}): Promise<{ e: Engine; t: GrpoTrainer }> {
  const e = await engine();
  const t = await e.createTrainer(tiny(over));
  t.host.reward = (c) => digitReward(c);
  return { e, t };
}

async function params(t: GrpoTrainer): Promise<Record<string, Float32Array>> {
  return (await t.host.policy.exportState()).params;
}

describe('GRPO trainer (CPU)', () => {
  it('backward from GradTerms equals finite differences (exact, different-tokens)', async () => {
    const { t } = await trainer({ preset: 'different-tokens', mot: { likelihood: 'exact' } });
    const policy = t.host.policy as CpuPolicy;
    expect(policy).toBeInstanceOf(CpuPolicy);
    const prompt = t.host.encodePrompt('1 + 2 = ?');
    const run = await runRollout((c) => policy.makeStepper(c), [prompt], {
      settings: t.settings,
      stop: t.stop,
      maxNewTokens: 6,
      seed: 3,
      G: 2,
      padId: t.host.padId,
      hiddenEntropy: false,
    });
    const batch = buildTrainingBatch(run.trajectories, { padId: t.host.padId });
    expect(batch.actions.some((a) => a.record.mode === 'mixture' && a.record.ids.length === 2)).toBe(true);
    const c = Float64Array.from(batch.actions, (_, i) => Math.sin(i + 1));
    const f = async () => {
      const l = await policy.accumulate(batch, t.settings, () => new Float64Array(batch.actions.length));
      policy.discardGrads();
      return l.reduce((s, x, i) => s + c[i] * x, 0);
    };
    await policy.accumulate(batch, t.settings, () => c);
    const grads = policy.peekGrads();
    const name = 'model.layers.1.mlp.down_proj.weight';
    const g = grads.get(name)?.slice() as Float32Array;
    policy.discardGrads();
    const w = (await params(t))[name];
    const live = (policy as unknown as { params: Map<string, Float32Array> }).params.get(
      name,
    ) as Float32Array;
    expect(live.length).toBe(w.length);
    let checked = 0;
    for (const idx of [0, 17, 333, 2048]) {
      const h = 1e-2;
      const x0 = live[idx];
      live[idx] = x0 + h;
      const fp = await f();
      live[idx] = x0 - h;
      const fm = await f();
      live[idx] = x0;
      const fd = (fp - fm) / (2 * h);
      expect(Math.abs(fd - g[idx])).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
      if (Math.abs(g[idx]) > 1e-4) checked++;
    }
    expect(checked).toBeGreaterThan(0);
  }, 60_000);

  it('soft-tokens: noisy mixture inputs keep the embedding gradient through the weights (finite differences)', async () => {
    const { t } = await trainer({ preset: 'soft-tokens' });
    const policy = t.host.policy as CpuPolicy;
    expect(t.noiseStd).toBeGreaterThan(0);
    const run = await runRollout((c) => policy.makeStepper(c), [t.host.encodePrompt('1 + 2 = ?')], {
      settings: t.settings,
      stop: t.stop,
      maxNewTokens: 5,
      seed: 3,
      G: 2,
      padId: t.host.padId,
      hiddenEntropy: false,
      noiseStd: t.noiseStd,
    });
    const batch = buildTrainingBatch(run.trajectories, { padId: t.host.padId, noiseStd: t.noiseStd });
    if (batch.input.kind !== 'mixture' || !batch.input.noise)
      throw new Error('expected noisy mixture inputs');
    expect(batch.input.noise.counters.some((x, i) => i % 4 === 0 && x === 1)).toBe(true);
    // The recorded ℓ come back (the noise is regenerated, not dropped).
    const ll = await policy.accumulate(batch, t.settings, () => new Float64Array(batch.actions.length));
    policy.discardGrads();
    batch.actions.forEach((a, i) => {
      expect(Math.abs(ll[i] - a.record.logLikelihood), `action ${i}`).toBeLessThan(1e-4);
    });
    const c = Float64Array.from(batch.actions, (_, i) => Math.sin(i + 1));
    const name = 'model.embed_tokens.weight';
    await policy.accumulate(batch, t.settings, () => c);
    const g = policy.peekGrads().get(name)?.slice() as Float32Array;
    policy.discardGrads();
    // The same inputs as fixed embeddings reach E only through the (tied) head: the input path is the rest.
    const live = (policy as unknown as { params: Map<string, Float32Array> }).params.get(
      name,
    ) as Float32Array;
    const model = { config: policy.config, weights: new Map([[name, { shape: [263, 64], data: live }]]) };
    const embeds = embedInputs(model as unknown as RefModel, batch.input, batch.B * batch.T);
    await policy.accumulate({ ...batch, input: { kind: 'embeds', embeds } }, t.settings, () => c);
    const gHead = policy.peekGrads().get(name)?.slice() as Float32Array;
    policy.discardGrads();
    const inputPart = g.map((x, i) => Math.abs(x - gHead[i]));
    const largest = inputPart.indexOf(Math.max(...inputPart));
    expect(inputPart[largest]).toBeGreaterThan(1e-3);
    const f = async () => {
      const l = await policy.accumulate(batch, t.settings, () => new Float64Array(batch.actions.length));
      policy.discardGrads();
      return l.reduce((s, x, i) => s + c[i] * x, 0);
    };
    for (const idx of [largest, 5 * 64 + 3, 100 * 64 + 17]) {
      const h = 1e-2;
      const x0 = live[idx];
      live[idx] = x0 + h;
      const fp = await f();
      live[idx] = x0 - h;
      const fm = await f();
      live[idx] = x0;
      const fd = (fp - fm) / (2 * h);
      expect(Math.abs(fd - g[idx]), `E[${idx}]: fd ${fd} vs ${g[idx]}`).toBeLessThan(
        2e-3 + 2e-2 * Math.abs(fd),
      );
    }
  }, 60_000);

  it('skips a step whose loss is not finite and leaves the weights alone', async () => {
    const { t } = await trainer({ injectNonFiniteAtStep: 2 });
    const m1 = (await t.trainStep()).metrics;
    const after1 = await params(t);
    const m2 = (await t.trainStep()).metrics;
    const after2 = await params(t);
    const m3 = (await t.trainStep()).metrics;
    expect(m1.skipped).toBe(false);
    expect(m2.skipped).toBe(true);
    expect(m2.skippedTotal).toBe(1);
    expect(m3.skipped).toBe(false);
    expect(m3.updates).toBe(2);
    for (const k of Object.keys(after1)) expect(after2[k]).toEqual(after1[k]);
    const after3 = await params(t);
    expect(Object.keys(after3).some((k) => after3[k].some((x, i) => x !== after2[k][i]))).toBe(true);
  }, 60_000);

  it("LR warm-up is HF's (TRL): update 0 at rate 0 (weights unchanged), lr · s / W, then the linear decay", async () => {
    // 20 steps · 1 iteration, warmup_ratio 0.1: W = 2 warm-up updates, then linear to 0 at update 20.
    const { t } = await trainer({ grpo: { warmup_ratio: 0.1, lr_scheduler_type: 'linear' } });
    const before = await params(t);
    const m1 = (await t.trainStep()).metrics;
    expect(m1.lr).toBe(0);
    expect(m1.updates).toBe(1);
    const after1 = await params(t);
    for (const k of Object.keys(before)) expect(after1[k]).toEqual(before[k]);
    expect((await t.trainStep()).metrics.lr).toBe(3e-3 * (1 / 2));
    expect((await t.trainStep()).metrics.lr).toBe(3e-3);
    expect((await t.trainStep()).metrics.lr).toBeCloseTo(3e-3 * (1 - 1 / 18), 15);
  }, 60_000);

  it('resumes exactly: 4 steps = 2 + checkpoint + resume + 2', async () => {
    const a = await trainer();
    const full: StepMetrics[] = [];
    for (let i = 0; i < 4; i++) full.push((await a.t.trainStep()).metrics);
    expect(full.some((m) => m.rewardStd > 0 && m.gradNorm > 0)).toBe(true);

    const b = await trainer();
    const part: StepMetrics[] = [];
    for (let i = 0; i < 2; i++) part.push((await b.t.trainStep()).metrics);
    const bytes = encodeCheckpoint(await saveCheckpoint(b.t));
    const c = await trainer();
    await loadCheckpoint(c.t, decodeCheckpoint(bytes));
    expect(c.t.step).toBe(2);
    for (let i = 0; i < 2; i++) part.push((await c.t.trainStep()).metrics);
    expect(part.map(deterministicMetrics)).toEqual(full.map(deterministicMetrics));
    const pa = await params(a.t);
    const pc = await params(c.t);
    for (const k of Object.keys(pa)) expect(pc[k]).toEqual(pa[k]);
  }, 120_000);

  it('a checkpoint whose metadata nests 20,000 lists deep is bad-checkpoint, not a RangeError (fuzz)', () => {
    const meta = `{"version":${'['.repeat(20_000)}2${']'.repeat(20_000)}}`;
    const bytes = writeSafetensors(
      { 'param.w': { shape: [1], data: new Float32Array(1) } },
      { motg_checkpoint: meta },
    );
    expect(() => decodeCheckpoint(bytes, 'deep.safetensors')).toThrow(
      new TrainingError('bad-checkpoint', 'deep.safetensors: metadata nested more than 32 levels deep'),
    );
  });

  it('session: a second run is refused, stop keeps the last completed step', async () => {
    const { t } = await trainer();
    const seen: Record<string, Float32Array>[] = [];
    const s = new TrainingSession(t, {
      onStep: async () => {
        seen.push(await params(t));
      },
    });
    const running = s.start();
    expect(() => s.start()).toThrow(TrainingError);
    try {
      s.start();
    } catch (e) {
      expect((e as TrainingError).code).toBe('already-running');
    }
    while (seen.length < 1) await new Promise((r) => setTimeout(r, 20));
    await s.stop();
    await running;
    const st = s.state();
    expect(st.status).toBe('stopped');
    expect(st.history.length).toBe(t.step);
    const now = await params(t);
    const last = seen[t.step - 1];
    for (const k of Object.keys(now)) expect(now[k]).toEqual(last[k]);
    expect(() => s.start()).toThrow(TrainingError);
  }, 60_000);

  it('refuses on the GPU what GpuTrainer cannot train', () => {
    expect(gpuUnsupportedReason(makeSettings('dirichlet', { paperTemperature: 'one' }))).toBeNull();
    expect(gpuUnsupportedReason(makeSettings('discrete', { temperature: 1 }))).toBeNull();
    expect(gpuUnsupportedReason(makeSettings('dirichlet'))).toMatch(/temperature/);
    expect(gpuUnsupportedReason(makeSettings('dirichlet', { likelihood: 'exact' }))).toMatch(/exact/);
    // The weighted-ids rule trains on the GPU (K weighted targets per position), at T = 1 only.
    expect(gpuUnsupportedReason(makeSettings('different-tokens', { paperTemperature: 'one' }))).toBeNull();
    expect(gpuUnsupportedReason(makeSettings('different-tokens'))).toMatch(/temperature/);
    expect(
      gpuUnsupportedReason(
        makeSettings('different-tokens', { paperTemperature: 'one', likelihood: 'exact' }),
      ),
    ).toMatch(/exact/);
    // Noise on e_t (soft-tokens) trains too: its training forward regenerates the noise from the counters.
    expect(gpuUnsupportedReason(makeSettings('soft-tokens', { paperTemperature: 'one' }))).toBeNull();
    expect(gpuUnsupportedReason(makeSettings('soft-tokens'))).toMatch(/temperature/); // τ = 0.5
    expect(
      gpuUnsupportedReason(makeSettings('soft-tokens', { paperTemperature: 'one', likelihood: 'exact' })),
    ).toMatch(/exact/);
  });

  it('experiment: 20 tiny dirichlet steps with G=4 complete and a seed reproduces the metrics', async () => {
    const cfg = {
      cpu: true,
      model: MODEL,
      evalItems: 2,
      evalN: 2,
      trainer: tiny({ grpo: { max_steps: 20, max_completion_length: 6, seed: 11 } }),
    };
    const a = await runExperiment(cfg);
    const b = await runExperiment(cfg);
    expect(a.backend).toBe('cpu');
    expect(a.metrics.length).toBe(20);
    for (const m of a.metrics) {
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(m.hiddenEntropy.length).toBe(2);
      // Along the reasoning: one mean over layers per completion step.
      expect(m.hiddenEntropyByPosition.length).toBeGreaterThan(0);
      expect(m.hiddenEntropyByPosition.every((h) => Number.isFinite(h) && h > 0)).toBe(true);
      expect(m.effectiveTokens).toBeGreaterThanOrEqual(1);
      expect(m.flops).toBeGreaterThan(0);
    }
    expect(b.metrics.map(deterministicMetrics)).toEqual(a.metrics.map(deterministicMetrics));
    expect(b.evals).toEqual(a.evals);
  }, 180_000);
});
