// The GRPO trainer's WebGPU policy against the CPU reference policy on one `different-tokens` step (paper
// likelihood, weighted-ids rule Σ_j q_j log π(x_j), paperTemperature 'one'): the same rollouts (both
// trainers sample with the CPU reference stepper of the starting weights) must give the same ℓ of every
// action (also as the GPU loss kernel reads it back), the same accumulated gradients, the same loss / KL /
// gradient norm over two GRPO iterations (so ρ ≠ 1 on the second) and micro-batch accumulation, and the
// same updated parameters, within float32 tolerance. The preset is no longer refused on the GPU. The same for
// one `soft-tokens` step (dense p at τ = 0.5 plus Gaussian noise on e_t, paperTemperature 'one'): the noise is
// regenerated from the records' counters in both training forwards, and the embedding's gradient keeps its
// path through the mixture weights.

import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { GpuTrainer } from '../../src/engine/gpu/train.ts';
import { GpuBackend } from '../../src/engine/gpuBackend.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import { embedInputs } from '../../src/engine/ref/model.ts';
import { CpuPolicy } from '../../src/rl/policy/cpu.ts';
import { GpuPolicy, gpuUnsupportedReason } from '../../src/rl/policy/gpu.ts';
import { runRollout } from '../../src/rl/rollout.ts';
import { GrpoTrainer, type TrainerConfigInput } from '../../src/rl/trainer.ts';
import { buildTrainingBatch } from '../../src/rl/trainingBatch.ts';
import { Engine } from '../../src/worker/engine.ts';
import { expectClose, testDevice } from '../helpers/gpu.ts';
import { digitReward } from '../helpers/rewards.ts';

const MODEL = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');

const CONFIG: TrainerConfigInput = {
  preset: 'different-tokens',
  mot: { paperTemperature: 'one' },
  tasks: [{ task: 'chain_sum', level: 'trivial' }],
  grpo: {
    num_generations: 4,
    per_device_train_batch_size: 2, // two micro-batches accumulate into one update
    gradient_accumulation_steps: 2,
    num_iterations: 2, // the second update scores ρ = exp(ℓ − ℓ_old) ≠ 1
    max_completion_length: 8,
    learning_rate: 5e-2,
    optim: 'sgd',
    max_grad_norm: 100,
    beta: 0.1,
    max_steps: 4,
    seed: 7,
  },
};

const disposers: (() => unknown)[] = [];
afterAll(async () => {
  for (const d of disposers.reverse()) await d();
});

/** The CPU trainer (through the engine) and a GpuPolicy trainer on its own copy of the starting weights, whose
 * rollouts come from a frozen CPU policy of those weights (so both trainers see the same trajectories). */
async function pair(config: TrainerConfigInput) {
  const e = new Engine({
    gpu: null,
    resolveSource: (loc) => new DirModelSource((loc as { baseUrl: string }).baseUrl),
  });
  disposers.push(() => e.dispose());
  await e.init({ backend: 'cpu' });
  await e.loadModel({ kind: 'url', baseUrl: MODEL });
  const cpuT = await e.createTrainer(config);
  cpuT.host.reward = (c) => digitReward(c);
  const cpu = cpuT.host.policy as CpuPolicy;
  expect(cpu).toBeInstanceOf(CpuPolicy);
  expect(gpuUnsupportedReason(cpuT.settings)).toBeNull();
  const load = async () => (await loadModel(new DirModelSource(MODEL))).weights;
  const { config: modelConfig } = await loadModel(new DirModelSource(MODEL));
  const device = await testDevice();
  const start = await load();
  const backend = await GpuBackend.create(device, modelConfig, start, null);
  const reference = await GpuBackend.create(device, modelConfig, start, null);
  const frozen = new CpuPolicy(modelConfig, await load(), null, { mode: 'full', optim: 'sgd' });
  const gpu = await GpuPolicy.create(
    modelConfig,
    start.get('model.embed_tokens.weight')?.data ?? null,
    backend,
    {
      mode: 'full',
      optim: 'sgd',
      trainEmbeddings: true,
      clipNorm: cpuT.config.grpo.max_grad_norm,
      reference,
      makeStepper: (c) => frozen.makeStepper(c),
    },
  );
  disposers.push(() => gpu.dispose());
  const gpuT = new GrpoTrainer(cpuT.config, { ...cpuT.host, policy: gpu }); // not refused
  return { cpuT, cpu, gpuT, gpu, frozen };
}

/** One whole GRPO step on each trainer from the same rollouts: the same metrics and updated parameters. */
async function expectSameStep(cpuT: GrpoTrainer, cpu: CpuPolicy, gpuT: GrpoTrainer, gpu: GpuPolicy) {
  const before = (await cpu.exportState()).params;
  const a = await cpuT.trainStep();
  const b = await gpuT.trainStep();
  expect(b.rollouts.map((r) => r.completion)).toEqual(a.rollouts.map((r) => r.completion));
  expect(a.metrics.rewardStd).toBeGreaterThan(0);
  expect(a.metrics.mixtureRate).toBeGreaterThan(0);
  expect(b.metrics.skipped).toBe(false);
  for (const k of ['loss', 'kl', 'gradNorm', 'clipFraction'] as const)
    expect(Math.abs(b.metrics[k] - a.metrics[k])).toBeLessThanOrEqual(1e-3 * Math.abs(a.metrics[k]) + 1e-6);
  expect(a.metrics.gradNorm).toBeGreaterThan(0);
  const pCpu = (await cpu.exportState()).params;
  const pGpu = (await gpu.exportState()).params;
  for (const [name, p] of Object.entries(pCpu)) {
    const q = pGpu[name];
    expectClose(`param ${name}`, q, p, 1e-5);
    // The update itself (two SGD steps), relative to its own size.
    const du = Float32Array.from(p, (x, i) => x - before[name][i]);
    const dv = Float32Array.from(q, (x, i) => x - before[name][i]);
    expectClose(`update ${name}`, dv, du, 2e-3);
  }
  return { a, b };
}

describe('GRPO on WebGPU vs the CPU reference (different-tokens, weighted-ids)', () => {
  it('one step: the same ℓ, gradients, loss and updated parameters', async () => {
    const { cpuT, cpu, gpuT, gpu, frozen } = await pair(CONFIG);
    expect(cpuT.settings.paperRule).toBe('weighted-ids');

    // ℓ of every action and the accumulated gradients, on one batch, with fixed coefficients.
    const run = await runRollout((c) => frozen.makeStepper(c), [cpuT.host.encodePrompt('1 + 2 = ?')], {
      settings: cpuT.settings,
      stop: cpuT.stop,
      maxNewTokens: 8,
      seed: 3,
      G: 3,
      padId: cpuT.host.padId,
      hiddenEntropy: false,
    });
    const batch = buildTrainingBatch(run.trajectories, { padId: cpuT.host.padId });
    const mixed = batch.actions.filter((a) => a.record.mode === 'mixture' && a.record.ids.length === 2);
    expect(mixed.length).toBeGreaterThan(2);
    const coef = Float64Array.from(batch.actions, (_, i) => Math.sin(i + 1));
    const lCpu = await cpu.accumulate(batch, cpuT.settings, () => coef);
    const lGpu = await gpu.accumulate(batch, gpuT.settings, () => coef);
    expectClose('ℓ', lGpu, lCpu);
    const refCpu = await cpu.referenceLogLikelihoods(batch, cpuT.settings);
    expectClose('ℓ_ref', await gpu.referenceLogLikelihoods(batch, gpuT.settings), refCpu);
    const gCpu = cpu.peekGrads();
    const gGpu = await gpu.readGrads();
    expect([...gGpu.keys()].sort()).toEqual([...gCpu.keys()].sort());
    for (const [name, g] of gCpu) expectClose(`grad ${name}`, gGpu.get(name) as Float32Array, g, 1e-3);
    cpu.discardGrads();
    gpu.discardGrads();
    // The loss kernel's own read-back ℓ (K = 2 targets, renormalised) is the same ℓ.
    const N = batch.B * batch.T;
    const targets = new Int32Array(N * 2);
    const weights = new Float32Array(N * 2);
    for (const act of batch.actions) {
      const at = act.row * batch.T + act.position;
      act.record.ids.forEach((id, j) => {
        targets[at * 2 + j] = id;
        weights[at * 2 + j] = 1;
      });
    }
    const trainer = (gpu as unknown as { trainer: GpuTrainer }).trainer;
    const back = await trainer.backward({
      input: batch.input,
      B: batch.B,
      T: batch.T,
      targets,
      coef: new Float32Array(N),
      k: 2,
      weights,
      renormalise: true,
      attentionMask: batch.attentionMask,
      positionIds: batch.positionIds,
    });
    const readBack = batch.actions.map((act) => back.logp[act.row * batch.T + act.position]);
    expectClose('ℓ read back by the loss kernel', readBack, lCpu);
    gpu.discardGrads();

    // One whole GRPO step on each, from the same rollouts.
    await expectSameStep(cpuT, cpu, gpuT, gpu);
  }, 300_000);
});

// Dense noisy inputs give larger gradients than different-tokens: at lr 5e-2 two SGD steps move some tensors
// by half their size, and the parameters' check (relative to the tensor) would then measure the update's f32
// rounding; at 1e-2 the update stays small beside the weights (its own error is ~1e-5 of its size either way).
const SOFT: TrainerConfigInput = {
  ...CONFIG,
  preset: 'soft-tokens',
  mot: { paperTemperature: 'one' },
  grpo: { ...CONFIG.grpo, learning_rate: 1e-2 },
};

describe('GRPO on WebGPU vs the CPU reference (soft-tokens, noise on e_t)', () => {
  it('one step: the same ℓ, gradients (the embedding through the mixture weights), loss and parameters', async () => {
    const { cpuT, cpu, gpuT, gpu, frozen } = await pair(SOFT);
    expect(cpuT.settings.select).toBe('all');
    expect(cpuT.settings.noiseSigma).toBeGreaterThan(0);
    expect(cpuT.noiseStd).toBeGreaterThan(0);
    expect(gpuT.noiseStd).toBe(cpuT.noiseStd);

    const run = await runRollout((c) => frozen.makeStepper(c), [cpuT.host.encodePrompt('1 + 2 = ?')], {
      settings: cpuT.settings,
      stop: cpuT.stop,
      maxNewTokens: 8,
      seed: 3,
      G: 3,
      padId: cpuT.host.padId,
      hiddenEntropy: false,
      noiseStd: cpuT.noiseStd,
    });
    const batch = buildTrainingBatch(run.trajectories, { padId: cpuT.host.padId, noiseStd: cpuT.noiseStd });
    if (batch.input.kind !== 'mixture' || !batch.input.noise)
      throw new Error('expected noisy mixture inputs');
    let noisy = 0;
    for (let n = 0; n < batch.B * batch.T; n++) noisy += batch.input.noise.counters[n * 4];
    expect(noisy).toBeGreaterThan(2);
    const coef = Float64Array.from(batch.actions, (_, i) => Math.sin(i + 1));
    const lCpu = await cpu.accumulate(batch, cpuT.settings, () => coef);
    const lGpu = await gpu.accumulate(batch, gpuT.settings, () => coef);
    // Both replay the rollout (its noise regenerated from the counters), and agree with each other.
    expectClose(
      'ℓ (CPU) vs the rollout',
      lCpu,
      batch.actions.map((a) => a.record.logLikelihood),
    );
    expectClose('ℓ', lGpu, lCpu);
    const refCpu = await cpu.referenceLogLikelihoods(batch, cpuT.settings);
    expectClose('ℓ_ref', await gpu.referenceLogLikelihoods(batch, gpuT.settings), refCpu);
    const gCpu = cpu.peekGrads();
    const gGpu = await gpu.readGrads();
    expect([...gGpu.keys()].sort()).toEqual([...gCpu.keys()].sort());
    const E = 'model.embed_tokens.weight';
    expect(gCpu.has(E)).toBe(true);
    for (const [name, g] of gCpu) expectClose(`grad ${name}`, gGpu.get(name) as Float32Array, g, 1e-3);
    const gE = (gGpu.get(E) as Float32Array).slice();
    cpu.discardGrads();
    gpu.discardGrads();
    // The embedding's gradient has its input path: the same inputs as fixed embeddings (which reach E only
    // through the tied head) give another one.
    const weights = (await loadModel(new DirModelSource(MODEL))).weights;
    const embeds = embedInputs({ config: cpu.config, weights }, batch.input, batch.B * batch.T);
    await gpu.accumulate({ ...batch, input: { kind: 'embeds', embeds } }, gpuT.settings, () => coef);
    const gHead = (await gpu.readGrads()).get(E) as Float32Array;
    gpu.discardGrads();
    expect(Math.max(...gE.map((x, i) => Math.abs(x - gHead[i])))).toBeGreaterThan(1e-3);

    // One whole GRPO step on each, from the same (noisy) rollouts.
    await expectSameStep(cpuT, cpu, gpuT, gpu);
  }, 300_000);
});
