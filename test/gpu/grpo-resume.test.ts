// GRPO checkpoints on WebGPU with AdamW resume exactly: 2 steps + saveCheckpoint/encodeCheckpoint + a fresh
// GpuPolicy + loadCheckpoint + 2 steps give the same metrics and bit-identical parameters and AdamW moments
// as 4 uninterrupted steps, in full fine-tuning and in LoRA mode (the kernels are deterministic: the same
// dispatches in the same order, no atomics, so lavapipe repeats every float). A resume without the moments
// (what a GPU AdamW checkpoint used to hold) does not. The optimizer state has CpuPolicy's format: a GPU
// checkpoint's slots are the CPU policy's parameters, and a CPU policy's state loads into a GpuPolicy.
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuMixtureStepper } from '../../src/engine/gpu/mixture.ts';
import { GpuBackend } from '../../src/engine/gpuBackend.ts';
import { createLoraAdapter, type LoraAdapter } from '../../src/engine/model/lora.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import type { OptimizerState } from '../../src/engine/train/optim.ts';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
} from '../../src/rl/checkpoint.ts';
import { deterministicMetrics, type StepMetrics } from '../../src/rl/metrics.ts';
import { CpuPolicy } from '../../src/rl/policy/cpu.ts';
import { GpuPolicy } from '../../src/rl/policy/gpu.ts';
import type { PolicyState } from '../../src/rl/policy/policy.ts';
import {
  GrpoTrainer,
  makeTrainerConfig,
  type TrainerConfigInput,
  type TrainerHost,
} from '../../src/rl/trainer.ts';
import { Engine } from '../../src/worker/engine.ts';
import { testDevice } from '../helpers/gpu.ts';
import { hashReward } from '../helpers/rewards.ts';

const MODEL = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');

const CONFIG: TrainerConfigInput = {
  preset: 'dirichlet',
  mot: { paperTemperature: 'one' },
  tasks: [{ task: 'chain_sum', level: 'trivial' }],
  grpo: {
    num_generations: 4,
    per_device_train_batch_size: 4,
    gradient_accumulation_steps: 1,
    max_completion_length: 6,
    learning_rate: 1e-2,
    optim: 'adamw',
    max_grad_norm: 10,
    beta: 0.1,
    max_steps: 4,
    seed: 5,
  },
};

type Mode = 'full' | 'lora';

const disposers: (() => unknown)[] = [];
afterAll(async () => {
  for (const d of disposers.reverse()) await d();
});

let setup: Promise<{ host: TrainerHost; load: () => ReturnType<typeof loadModel> }> | null = null;
function shared() {
  setup ??= (async () => {
    // The host (tokenizer, prompts) of a CPU engine; every policy below is built on its own weights.
    const e = new Engine({
      gpu: null,
      resolveSource: (loc) => new DirModelSource((loc as { baseUrl: string }).baseUrl),
    });
    disposers.push(() => e.dispose());
    await e.init({ backend: 'cpu' });
    await e.loadModel({ kind: 'url', baseUrl: MODEL });
    const host = (await e.createTrainer(CONFIG)).host;
    return { host, load: () => loadModel(new DirModelSource(MODEL)) };
  })();
  return setup;
}

/** The same fresh adapter (B = 0) for every policy of a LoRA case. */
function adapterFor(weights: Awaited<ReturnType<typeof loadModel>>['weights']): LoraAdapter {
  return createLoraAdapter(weights, { r: 4, seed: 11 });
}

/** A GRPO trainer on a fresh GpuPolicy (AdamW) at the starting weights, rolling out on its own model. */
async function gpuTrainer(mode: Mode): Promise<{ t: GrpoTrainer; dispose: () => void }> {
  const { host, load } = await shared();
  const { config, weights } = await load();
  const device = await testDevice();
  const backend = await GpuBackend.create(
    device,
    config,
    weights,
    mode === 'lora' ? adapterFor(weights) : null,
  );
  const reference = mode === 'full' ? await GpuBackend.create(device, config, weights, null) : null;
  const shape = {
    vocabSize: config.vocabSize,
    hiddenSize: config.hiddenSize,
    numHiddenLayers: config.numHiddenLayers,
  };
  const policy = await GpuPolicy.create(
    config,
    weights.get('model.embed_tokens.weight')?.data ?? null,
    backend,
    {
      mode,
      optim: 'adamw',
      trainEmbeddings: true,
      clipNorm: CONFIG.grpo?.max_grad_norm ?? 0,
      reference,
      makeStepper: (c) => new GpuMixtureStepper(backend.model, shape, c),
    },
  );
  const t = new GrpoTrainer(makeTrainerConfig({ ...CONFIG, mode }, config.vocabSize), {
    ...host,
    policy,
    reward: (c) => hashReward(c),
  });
  let done = false;
  const dispose = () => {
    if (done) return;
    done = true;
    policy.dispose();
    backend.dispose();
  };
  disposers.push(dispose);
  return { t, dispose };
}

async function steps(t: GrpoTrainer, n: number): Promise<StepMetrics[]> {
  const out: StepMetrics[] = [];
  for (let i = 0; i < n; i++) out.push((await t.trainStep()).metrics);
  return out;
}

function expectSameState(got: PolicyState, want: PolicyState): void {
  expect(Object.keys(got.params).sort()).toEqual(Object.keys(want.params).sort());
  for (const k of Object.keys(want.params)) expect(got.params[k], k).toEqual(want.params[k]);
  expectSameOptimizer(got.optimizer, want.optimizer);
}

function expectSameOptimizer(got: OptimizerState | null, want: OptimizerState | null): void {
  expect(got && { kind: got.kind, t: got.t }).toEqual(want && { kind: want.kind, t: want.t });
  if (!got || !want) return;
  expect(Object.keys(got.slots).sort()).toEqual(Object.keys(want.slots).sort());
  for (const [k, s] of Object.entries(want.slots)) {
    expect(got.slots[k].steps, k).toBe(s.steps);
    expect(got.slots[k].bufs, k).toEqual(s.bufs);
  }
}

describe('GRPO checkpoints on WebGPU (AdamW)', () => {
  for (const mode of ['full', 'lora'] as const)
    it(`${mode}: 4 steps = 2 + checkpoint + resume + 2, bit for bit`, async () => {
      const a = await gpuTrainer(mode);
      const full = await steps(a.t, 4);
      expect(full.every((m) => !m.skipped)).toBe(true);
      expect(full.some((m) => m.rewardStd > 0 && m.gradNorm > 0)).toBe(true);
      const fullState = await a.t.host.policy.exportState();
      a.dispose();

      const b = await gpuTrainer(mode);
      const part = await steps(b.t, 2);
      const ck = await saveCheckpoint(b.t);
      b.dispose();
      // The moments are in the checkpoint, in optim.ts's OptimizerState format: t = updates, steps = t
      // per tensor.
      const opt = ck.policy.optimizer;
      expect(opt?.kind).toBe('adamw');
      expect(opt?.t).toBe(2);
      expect(Object.keys(opt?.slots ?? {}).sort()).toEqual(Object.keys(ck.policy.params).sort());
      for (const s of Object.values(opt?.slots ?? {})) {
        expect(s.steps).toBe(2);
        expect(s.bufs.length).toBe(2);
      }
      expect(Object.values(opt?.slots ?? {}).some((s) => s.bufs[1].some((v) => v > 0))).toBe(true);
      const bytes = encodeCheckpoint(ck);

      const c = await gpuTrainer(mode);
      await loadCheckpoint(c.t, decodeCheckpoint(bytes));
      expect(c.t.step).toBe(2);
      expectSameState(await c.t.host.policy.exportState(), ck.policy); // the device holds what was saved
      part.push(...(await steps(c.t, 2)));
      expect(part.map(deterministicMetrics)).toEqual(full.map(deterministicMetrics));
      expectSameState(await c.t.host.policy.exportState(), fullState);
      c.dispose();

      if (mode === 'full') {
        // The control: the same checkpoint without the moments (they restart) ends elsewhere.
        const d = await gpuTrainer(mode);
        await loadCheckpoint(d.t, { ...ck, policy: { params: ck.policy.params, optimizer: null } });
        await steps(d.t, 2);
        const dp = (await d.t.host.policy.exportState({ optimizer: false })).params;
        d.dispose();
        expect(Object.keys(dp).some((k) => dp[k].some((x, i) => x !== fullState.params[k][i]))).toBe(true);
      }

      // The CPU policy of the same mode reads the GPU checkpoint (its parameters are the slots) and
      // gives it back unchanged; its own state after a step loads into a GpuPolicy.
      const { config, weights } = await (await shared()).load();
      const cpu = new CpuPolicy(config, weights, mode === 'lora' ? adapterFor(weights) : null, {
        mode,
        optim: 'adamw',
      });
      await cpu.importState(ck.policy);
      expectSameState(await cpu.exportState(), ck.policy);
      const cpuT = new GrpoTrainer(makeTrainerConfig({ ...CONFIG, mode }, config.vocabSize), {
        ...(await shared()).host,
        policy: cpu,
        reward: (s) => hashReward(s),
      });
      await cpuT.trainStep();
      const cpuState = await cpu.exportState();
      expect(cpuState.optimizer?.t).toBe(3);
      const g = await gpuTrainer(mode);
      await g.t.host.policy.importState(cpuState);
      expectSameState(await g.t.host.policy.exportState(), cpuState);
      g.dispose();
    }, 600_000);
});
