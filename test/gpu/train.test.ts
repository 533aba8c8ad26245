// GpuTrainer (gpu/train.ts) against the CPU reference (ref/backward.ts, train/optim.ts) and the
// transformers goldens: whole-model gradients for every input kind, padding, LoRA on a subset of
// projections, frozen embeddings; the golden loss/logp/grad/mixgrad/lora_grad tensors of both fixture
// models; AdamW/SGD steps with clipping, a schedule and accumulation equal to the CPU loop; the
// trained adapter saved in peft format; one SFT step on the GPU backend equal to the CPU one; activation
// recompute bit-identical to keeping every layer (full fine-tuning and LoRA).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradientTensorNames } from '../../src/check/gradParity.ts';
import { loadGoldenSet } from '../../src/check/parity.ts';
import { gpuGradientParity, loadParityModel } from '../../src/check/parityBackends.ts';
import { DEFAULT_REL_TOL, formatCheck } from '../../src/check/tensorCheck.ts';
import { expectedParameters, parseQwen2Config, type Qwen2Config } from '../../src/engine/config.ts';
import { EngineError } from '../../src/engine/errors.ts';
import type { EngineDevice } from '../../src/engine/gpu/device.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import { GpuTrainer, type GpuTrainerOptions, type TrainBatch } from '../../src/engine/gpu/train.ts';
import { GpuSftBackend } from '../../src/engine/gpuSft.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { parseLoraAdapter } from '../../src/engine/model/lora.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loraGradName, qwen2LossAndGrads } from '../../src/engine/ref/backward.ts';
import {
  type LoraWeights,
  type ModelInput,
  qwen2Forward,
  type RefModel,
} from '../../src/engine/ref/model.ts';
import { tensor, type WeightMap } from '../../src/engine/tensor.ts';
import { AdamW, clipGradNorm, Sgd } from '../../src/engine/train/optim.ts';
import { type LrSchedule, learningRate } from '../../src/engine/train/schedule.ts';
import { CpuSftBackend, makeSftBatch, sliceSftBatch, trainSft } from '../../src/engine/train/sft.ts';
import { HF_GOLDEN_DIR, requireFixtures, TINY_MODELS } from '../helpers/fixtures.ts';
import { expectClose, randomFloats, randomInts, testDevice } from '../helpers/gpu.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

requireFixtures();

let dev: EngineDevice;
beforeAll(async () => {
  dev = await testDevice();
});

const copyWeights = (w: WeightMap): WeightMap =>
  new Map([...w].map(([n, t]) => [n, { shape: t.shape.slice(), data: t.data.slice() }]));

/** Random LoRA pairs on the given projections of every layer. */
function randomLora(config: Qwen2Config, r: number, modules: string[], seed: number): LoraWeights {
  const shapes = expectedParameters(config);
  const layers = new Map<string, { A: ReturnType<typeof tensor>; B: ReturnType<typeof tensor> }>();
  let s = seed;
  for (let l = 0; l < config.numHiddenLayers; l++) {
    for (const m of modules) {
      const name = `model.layers.${l}.${m}.weight`;
      const [OC, IC] = shapes.get(name)!;
      layers.set(name, {
        A: tensor([r, IC], randomFloats(r * IC, s++, 0.3)),
        B: tensor([OC, r], randomFloats(OC * r, s++, 0.3)),
      });
    }
  }
  return { r, scale: 1.5, layers };
}

function batchFor(config: Qwen2Config, input: ModelInput, B: number, T: number, seed: number): TrainBatch {
  const N = B * T;
  const coef = randomFloats(N, seed + 1);
  coef[2] = 0;
  return { input, B, T, targets: randomInts(N, seed, config.vocabSize), coef };
}

/** The reference gradients of the same batch. */
function refGrads(
  model: RefModel,
  b: TrainBatch,
  lora: LoraWeights | null,
  trainLora: boolean,
  trainEmbeddings = true,
) {
  return qwen2LossAndGrads(
    model,
    b.input,
    b.B,
    b.T,
    b.targets,
    b.coef,
    { lora, attentionMask: b.attentionMask, positionIds: b.positionIds },
    { lora: trainLora, trainEmbeddings },
  );
}

/**
 * Weights after AdamW steps: within 1e-4 × max|W| plus 1 % of the summed learning rates. AdamW's
 * normalised step (m̂ / √v̂) turns f32-vs-f64 rounding in a gradient element that is ≈ 0 into a weight
 * difference of up to ~lr · (noise / |g|), whatever the weight's scale; the second term says the
 * optimizer's direction agrees to 1 % of a step there.
 */
function expectWeightsClose(name: string, got: Float32Array, want: Float32Array, lrSum: number): void {
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want[i]));
    maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
  }
  const tol = DEFAULT_REL_TOL * maxRef + 0.01 * lrSum;
  expect(
    maxErr,
    `${name} max_abs_err=${maxErr.toExponential(3)} tol=${tol.toExponential(3)}`,
  ).toBeLessThanOrEqual(tol);
}

function expectGrads(got: Map<string, Float32Array>, want: Map<string, Float32Array>, what: string): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, g] of want) expectClose(`${what} ${name}`, got.get(name)!, g);
}

describe.each([
  ['untied', tinyConfig()],
  [
    'tied',
    tinyConfig({
      tie_word_embeddings: true,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      hidden_size: 40,
    }),
  ],
])('whole-model gradients vs ref qwen2Backward (random %s model, awkward sizes)', (_tag, config) => {
  const weights = initQwen2Weights(config, 11, 0.2, 0.1);
  const ref: RefModel = { config, weights };
  const { vocabSize: V, hiddenSize: C } = config;
  const lora = randomLora(config, 3, ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'], 70);
  let model: GpuModel;
  let full: GpuTrainer;
  beforeAll(async () => {
    model = await GpuModel.create(dev, config, weights, lora);
    full = await GpuTrainer.create(model, { mode: 'full' });
  });
  afterAll(() => {
    full?.dispose();
    model?.dispose();
  });
  const [B, T] = [2, 9];
  const N = B * T;

  it('ids with right padding and explicit positions: loss, logp, every gradient, d embeds', async () => {
    const b = batchFor(config, { kind: 'ids', ids: randomInts(N, 1, V) }, B, T, 2);
    b.attentionMask = Array.from({ length: N }, (_, i) => (i >= T + 6 ? 0 : 1));
    b.positionIds = Array.from({ length: N }, (_, i) => (i % T) + (i >= T ? 3 : 0));
    const want = refGrads(ref, b, null, false);
    full.zeroGrad();
    const got = await full.backward(b, { inputGrads: true });
    expectClose('loss', [got.loss], [want.loss]);
    expectClose('logp', got.logp, want.logp);
    expectClose('dembeds', got.dembeds!, want.dembeds);
    expectGrads(await full.readGrads(), want.grads, 'ids');
  });

  it('k-sparse mixture (d mixture weights too) and dense mixture (d probs)', async () => {
    const k = 3;
    const mix: ModelInput = {
      kind: 'mixture',
      ids: randomInts(N * k, 3, V),
      weights: randomFloats(N * k, 4).map(Math.abs),
      k,
    };
    const b1 = batchFor(config, mix, B, T, 5);
    const w1 = refGrads(ref, b1, null, false);
    full.zeroGrad();
    const g1 = await full.backward(b1, { inputGrads: true });
    expectClose('mixture loss', [g1.loss], [w1.loss]);
    expectClose('d mixture weights', g1.dmixWeights!, w1.dmixWeights!);
    expectGrads(await full.readGrads(), w1.grads, 'mixture');

    const probs = randomFloats(N * V, 6).map(Math.abs);
    const b2 = batchFor(config, { kind: 'dense', probs }, B, T, 7);
    const w2 = refGrads(ref, b2, null, false);
    full.zeroGrad();
    const g2 = await full.backward(b2, { inputGrads: true });
    expectClose('dense loss', [g2.loss], [w2.loss]);
    expectClose('d probs', g2.dprobs!, w2.dprobs!);
    expectGrads(await full.readGrads(), w2.grads, 'dense');
  });

  it('forwardLogLikelihoods then backwardFrom = backward, bit for bit; a wrong or missing forward is refused', async () => {
    const k = 2;
    const mix: ModelInput = {
      kind: 'mixture',
      ids: randomInts(N * k, 30, V),
      weights: randomFloats(N * k, 31),
      k,
    };
    const { coef, ...scored } = {
      ...batchFor(config, mix, B, T, 32),
      targets: randomInts(N * k, 33, V),
      k,
      weights: randomFloats(N * k, 34).map(Math.abs),
      renormalise: true,
    };
    full.zeroGrad();
    const once = await full.backward({ ...scored, coef }, { dloss: 0.5, inputGrads: true });
    const want = await full.readGrads();
    full.zeroGrad();
    const scoredNow = await full.forwardLogLikelihoods(scored, { targetLogprobs: true });
    expect(scoredNow.logp).toEqual(once.logp);
    // The targets' own log-probs give the same ℓ = Σ_j q_j log p_j, q_j ∝ w_j p_j.
    const lp = scoredNow.targetLogprobs as Float32Array;
    expect(lp.length).toBe(N * k);
    const fromTargets = Array.from({ length: N }, (_, n) => {
      const w = [0, 1].map((j) => scored.weights[n * k + j] * Math.exp(lp[n * k + j]));
      return (w[0] * lp[n * k] + w[1] * lp[n * k + 1]) / (w[0] + w[1]);
    });
    expectClose('ℓ from the targets’ log-probs', fromTargets, once.logp);
    const split = await full.backwardFrom(scored, coef, { dloss: 0.5, inputGrads: true });
    expect(split.loss).toBe(once.loss);
    expect(split.dembeds).toEqual(once.dembeds);
    expect(split.dmixWeights).toEqual(once.dmixWeights);
    expect(await full.readGrads()).toEqual(want);
    const refused = async (p: Promise<unknown>) => {
      const e = await p.catch((x) => x);
      expect(e).toBeInstanceOf(EngineError);
      expect((e as EngineError).code).toBe('invalid-argument');
    };
    await refused(full.backwardFrom(scored, coef)); // its forward was used up
    await full.forwardLogLikelihoods(scored);
    await refused(full.backwardFrom({ ...scored }, coef)); // another batch
    await refused(full.backwardFrom(scored, coef)); // the refusal used the forward up too
    expect(await full.readGrads()).toEqual(want); // nothing was accumulated
  });

  it('embeds input, frozen embedding (no embedding or tied-head gradient)', async () => {
    const trainer = await GpuTrainer.create(model, { mode: 'full', trainEmbeddings: false });
    try {
      const b = batchFor(config, { kind: 'embeds', embeds: randomFloats(N * C, 8) }, B, T, 9);
      const want = refGrads(ref, b, null, false, false);
      const got = await trainer.backward(b, { inputGrads: true });
      expect(trainer.names).not.toContain('model.embed_tokens.weight');
      expectClose('embeds loss', [got.loss], [want.loss]);
      expectClose('dembeds', got.dembeds!, want.dembeds);
      expectGrads(await trainer.readGrads(), want.grads, 'frozen embedding');
    } finally {
      trainer.dispose();
    }
  });

  it('LoRA on q/v/down only: A and B gradients; two backward calls accumulate', async () => {
    const trainer = await GpuTrainer.create(model, { mode: 'lora' });
    try {
      const b = batchFor(config, { kind: 'ids', ids: randomInts(N, 10, V) }, B, T, 11);
      b.attentionMask = Array.from({ length: N }, (_, i) => (i >= T + 7 ? 0 : 1));
      const want = refGrads(ref, b, lora, true);
      expect(trainer.names.length).toBe(2 * lora.layers.size);
      const got = await trainer.backward(b);
      expectClose('lora loss', [got.loss], [want.loss]);
      expectGrads(await trainer.readGrads(), want.grads, 'lora');
      await trainer.backward(b);
      const twice = new Map([...want.grads].map(([n, g]) => [n, g.map((x) => 2 * x)]));
      expectGrads(await trainer.readGrads(), twice, 'lora accumulated');
    } finally {
      trainer.dispose();
    }
  });
});

describe.each(['full', 'lora'] as const)('activation recompute = recompute off, bit for bit (%s)', (mode) => {
  const config = tinyConfig({ num_hidden_layers: 3 });
  const weights = initQwen2Weights(config, 13, 0.2, 0.1);
  const lora = randomLora(config, 3, ['self_attn.q_proj', 'self_attn.v_proj', 'mlp.down_proj'], 90);
  const { vocabSize: V } = config;
  const [B, T] = [2, 9];
  const N = B * T;
  let model: GpuModel;
  let off: GpuTrainer;
  let on: GpuTrainer;
  beforeAll(async () => {
    model = await GpuModel.create(dev, config, weights, lora);
    off = await GpuTrainer.create(model, { mode });
    on = await GpuTrainer.create(model, { mode, recompute: true });
  });
  afterAll(() => {
    on?.dispose();
    off?.dispose();
    model?.dispose();
  });

  it('padded ids, then a padded mixture through forwardLogLikelihoods / backwardFrom: logp, loss, every gradient', async () => {
    const ids = batchFor(config, { kind: 'ids', ids: randomInts(N, 40, V) }, B, T, 41);
    ids.attentionMask = Array.from({ length: N }, (_, i) => (i >= T + 6 ? 0 : 1));
    ids.positionIds = Array.from({ length: N }, (_, i) => (i % T) + (i >= T ? 2 : 0));
    const k = 3;
    const mix: ModelInput = {
      kind: 'mixture',
      ids: randomInts(N * k, 42, V),
      weights: randomFloats(N * k, 43),
      k,
    };
    const { coef, ...scored } = batchFor(config, mix, B, T, 44);
    scored.attentionMask = Array.from({ length: N }, (_, i) => (i % T >= 7 ? 0 : 1));
    const run = async (t: GpuTrainer) => {
      t.zeroGrad();
      const a = await t.backward(ids, { inputGrads: true });
      const gradsA = await t.readGrads();
      const l = await t.forwardLogLikelihoods(scored, { targetLogprobs: true });
      const b = await t.backwardFrom(scored, coef, { dloss: 0.5, inputGrads: true });
      return { a, gradsA, l, b, grads: await t.readGrads() };
    };
    const want = await run(off);
    const got = await run(on);
    expect(got.a).toEqual(want.a); // loss, logp, d embeds
    expect(got.gradsA).toEqual(want.gradsA);
    expect(got.l).toEqual(want.l);
    expect(got.b).toEqual(want.b); // loss, logp, d embeds, d mixture weights
    expect(got.grads).toEqual(want.grads); // accumulated over both batches
    expect([...got.grads.values()].some((g) => g.some((x) => x !== 0))).toBe(true);
  });
});

describe.each(TINY_MODELS)('GPU gradients match the transformers goldens on %s', (name) => {
  it('loss.*, every grad.*, mixloss.value, every mixgrad.*, lora.loss.value, every lora_grad.*', async () => {
    const dir = join(HF_GOLDEN_DIR, name);
    const { config, weights, adapter } = await loadParityModel(dir);
    const golden = await loadGoldenSet(new DirModelSource(dir));
    const checks = await gpuGradientParity(golden, dev, config, weights, adapter);
    expect(checks.map((c) => c.name)).toEqual(gradientTensorNames(golden));
    expect(checks.filter((c) => c.name.startsWith('lora_grad.')).length).toBe(2 * adapter!.layers.size);
    for (const c of checks) {
      expect(c.tol).toBeGreaterThan(0);
      expect(c.pass, formatCheck('webgpu', c)).toBe(true);
    }
  });
});

describe('training steps on the GPU equal the same steps on the CPU reference', () => {
  const config = tinyConfig();
  const { vocabSize: V } = config;
  const [B, T] = [2, 7];
  const batches = [0, 1, 2].map((s) => ({
    input: { kind: 'ids' as const, ids: randomInts(B * T, 40 + s, V) },
    B,
    T,
    targets: randomInts(B * T, 50 + s, V),
    coef: new Float32Array(B * T).fill(1 / (B * T)),
  }));
  const decay = (n: string) => !n.endsWith('.bias') && !n.endsWith('norm.weight');
  const schedule: LrSchedule = {
    kind: 'cosine_with_min_lr',
    lr: 2e-3,
    warmupSteps: 1,
    totalSteps: 3,
    minLr: 2e-4,
    warmup: 'llm.c',
  };

  /** lrSum: the summed learning rates of AdamW steps (see expectWeightsClose); 0 = the plain rule. */
  async function compareParams(
    trainer: GpuTrainer,
    cpu: ReadonlyMap<string, Float32Array>,
    what: string,
    lrSum = 0,
  ) {
    const got = await trainer.readParams();
    for (const [n, p] of cpu) expectWeightsClose(`${what} ${n}`, got.get(n)!, p, lrSum);
  }

  it('full fine-tuning: 3 AdamW steps, cosine schedule, clipping, decay on weights only', async () => {
    const weights = initQwen2Weights(config, 21, 0.2, 0.1);
    const cpuWeights = copyWeights(weights);
    const model = await GpuModel.create(dev, config, weights);
    const opts: GpuTrainerOptions = { mode: 'full', schedule, clipNorm: 0.5, decay };
    const trainer = await GpuTrainer.create(model, {
      ...opts,
      optimizer: { kind: 'adamw', weightDecay: 0.1 },
    });
    const adamw = new AdamW({ weightDecay: 0.1 }, decay);
    const params = new Map([...cpuWeights].map(([n, t]) => [n, t.data]));
    try {
      for (let s = 0; s < 3; s++) {
        const b = batches[s];
        const r = await trainer.trainStep([b]);
        const want = refGrads({ config, weights: cpuWeights }, b, null, false);
        const norm = clipGradNorm(want.grads.values(), 0.5);
        adamw.update(params, want.grads, learningRate(schedule, s));
        expectClose(`step ${s} loss`, [r.loss], [want.loss]);
        expectClose(`step ${s} grad norm`, [r.gradNorm], [norm]);
        expect(r.lr).toBe(learningRate(schedule, s));
        expect(r.step).toBe(s + 1);
      }
      const lrSum = [0, 1, 2].reduce((a, s) => a + learningRate(schedule, s), 0);
      await compareParams(trainer, params, 'after 3 AdamW steps', lrSum);
      // The model's own forward now runs the trained weights.
      const ids = batches[0].input.ids;
      const want = qwen2Forward({ config, weights: cpuWeights }, { kind: 'ids', ids }, B, T);
      expectClose(
        'forward after training',
        (await model.forward({ kind: 'ids', ids }, B, T)).logits,
        want.logits,
      );
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('gradient accumulation: two micro-batches with gradScale ½ = one step on their mean (SGD + momentum)', async () => {
    const weights = initQwen2Weights(config, 22, 0.2, 0.1);
    const cpuWeights = copyWeights(weights);
    const model = await GpuModel.create(dev, config, weights);
    const sgdOpts = { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true };
    const trainer = await GpuTrainer.create(model, { mode: 'full', optimizer: { kind: 'sgd', ...sgdOpts } });
    const sgd = new Sgd(sgdOpts);
    const params = new Map([...cpuWeights].map(([n, t]) => [n, t.data]));
    try {
      for (let s = 0; s < 2; s++) {
        const micro = [batches[s], batches[s + 1]];
        trainer.zeroGrad();
        for (const b of micro) await trainer.backward(b);
        const r = await trainer.stepOptimizer({ gradScale: 0.5 });
        const g0 = refGrads({ config, weights: cpuWeights }, micro[0], null, false).grads;
        const g1 = refGrads({ config, weights: cpuWeights }, micro[1], null, false).grads;
        const mean = new Map([...g0].map(([n, g]) => [n, g.map((x, i) => 0.5 * (x + g1.get(n)![i]))]));
        let ss = 0;
        for (const g of mean.values()) for (const x of g) ss += x * x;
        expectClose(`step ${s} grad norm of the mean`, [r.gradNorm], [Math.sqrt(ss)]);
        sgd.update(params, mean);
      }
      await compareParams(trainer, params, 'after 2 accumulated SGD steps');
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });

  it('optimizer state written into a fresh trainer continues bit for bit (AdamW + schedule, SGD + momentum)', async () => {
    const sgdOpts = { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01, nesterov: false };
    for (const optimizer of [
      { kind: 'adamw', weightDecay: 0.1 },
      { kind: 'sgd', ...sgdOpts },
    ] as const) {
      const opts: GpuTrainerOptions = { mode: 'full', schedule, clipNorm: 0.5, decay, optimizer };
      const ma = await GpuModel.create(dev, config, initQwen2Weights(config, 24, 0.2, 0.1));
      const mb = await GpuModel.create(dev, config, initQwen2Weights(config, 25, 0.2, 0.1));
      const ta = await GpuTrainer.create(ma, opts);
      const tb = await GpuTrainer.create(mb, opts);
      try {
        for (const b of batches.slice(0, 2)) await ta.trainStep([b]);
        const state = await ta.readOptimizerState();
        expect(state.kind).toBe(optimizer.kind);
        expect(state.step).toBe(2);
        expect([...state.buffers.keys()]).toEqual(ta.names);
        for (const bufs of state.buffers.values())
          expect(bufs.length).toBe(optimizer.kind === 'adamw' ? 2 : 1);
        await tb.writeParams(await ta.readParams());
        await tb.writeOptimizerState(state);
        expect(tb.step).toBe(2);
        // The third step: the same learning rate (the schedule's position), norm, loss and update.
        const ra = await ta.trainStep([batches[2]]);
        const rb = await tb.trainStep([batches[2]]);
        expect(rb).toEqual(ra);
        expect(await tb.readParams()).toEqual(await ta.readParams());
        expect(await tb.readOptimizerState()).toEqual(await ta.readOptimizerState());
        // Refused before anything is written: another optimizer, a tensor left out, a wrong size.
        const other = optimizer.kind === 'adamw' ? 'sgd' : 'adamw';
        await expect(tb.writeOptimizerState({ ...state, kind: other })).rejects.toThrow(/state of/);
        const missing = new Map(state.buffers);
        missing.delete(ta.names[0]);
        await expect(tb.writeOptimizerState({ ...state, buffers: missing })).rejects.toThrow(/needs/);
        const short = new Map(state.buffers);
        short.set(
          ta.names[0],
          (short.get(ta.names[0]) ?? []).map((b) => b.subarray(1)),
        );
        await expect(tb.writeOptimizerState({ ...state, buffers: short })).rejects.toThrow(/elements/);
        expect(tb.step).toBe(3);
      } finally {
        ta.dispose();
        tb.dispose();
        ma.dispose();
        mb.dispose();
      }
    }
  });

  it('LoRA: 3 AdamW steps on the adapter only; base unchanged; saved in peft format and loaded back', async () => {
    const weights = initQwen2Weights(config, 23, 0.2, 0.1);
    const lora = randomLora(
      config,
      4,
      ['self_attn.k_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj'],
      90,
    );
    const cpuLora: LoraWeights = {
      ...lora,
      layers: new Map(
        [...lora.layers].map(([n, p]) => [
          n,
          { A: tensor(p.A.shape, p.A.data.slice()), B: tensor(p.B.shape, p.B.data.slice()) },
        ]),
      ),
    };
    const model = await GpuModel.create(dev, config, weights, lora);
    const trainer = await GpuTrainer.create(model, { mode: 'lora', optimizer: { kind: 'adamw', lr: 1e-2 } });
    const adamw = new AdamW({ lr: 1e-2 });
    const params = new Map<string, Float32Array>();
    for (const [n, p] of cpuLora.layers) {
      params.set(loraGradName(n, 'A'), p.A.data);
      params.set(loraGradName(n, 'B'), p.B.data);
    }
    try {
      for (let s = 0; s < 3; s++) {
        const r = await trainer.trainStep([batches[s]]);
        const want = refGrads({ config, weights }, batches[s], cpuLora, true);
        expectClose(`lora step ${s} loss`, [r.loss], [want.loss]);
        adamw.update(params, want.grads);
      }
      await compareParams(trainer, params, 'LoRA after 3 AdamW steps', 3e-2);
      const base = model.parameterTensors();
      expect(base.size).toBe(expectedParameters(config).size);

      const saved = await trainer.saveLoraAdapter('tiny-base', { alpha: 6 });
      const back = parseLoraAdapter(JSON.parse(saved.configJson), saved.safetensors, config);
      expect(back.r).toBe(4);
      expect(back.scale).toBeCloseTo(1.5, 6);
      expect(back.layers.size).toBe(lora.layers.size);
      for (const [n, p] of cpuLora.layers) {
        expectClose(`saved A ${n}`, back.layers.get(n)!.A.data, p.A.data);
        expectClose(`saved B ${n}`, back.layers.get(n)!.B.data, p.B.data);
      }
      const fresh = await GpuModel.create(dev, config, weights, back);
      try {
        const ids = batches[1].input.ids;
        const want = qwen2Forward({ config, weights }, { kind: 'ids', ids }, B, T, { lora: cpuLora });
        const got = await fresh.forward({ kind: 'ids', ids }, B, T, { lora: true });
        expectClose('loaded adapter forward', got.logits, want.logits);
      } finally {
        fresh.dispose();
      }
    } finally {
      trainer.dispose();
      model.dispose();
    }
  });
});

describe('GpuSftBackend (train/sft.ts SftBackend on WebGPU)', () => {
  const config = parseQwen2Config({
    model_type: 'qwen2',
    vocab_size: 24,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    max_position_embeddings: 64,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
  });
  const sequence = (i: number) => {
    const a = 1 + (i % 9);
    const b = 1 + ((i * 7) % 9);
    return { ids: [a, b, 3, a, 10 + ((a + b) % 12), 22, 23].slice(0, 5 + (i % 3)), lossStart: 4 };
  };
  const data = Array.from({ length: 16 }, (_, i) => sequence(i));

  it('loss and gradients of a padded batch equal CpuSftBackend; slices sum to the whole', async () => {
    const weights = initQwen2Weights(config, 5, 0.2);
    const batch = makeSftBatch(data.slice(0, 4), 0);
    const want = await new CpuSftBackend(config, weights).lossAndGrads(batch);
    const gpu = await GpuSftBackend.create(dev, config, copyWeights(weights));
    try {
      const got = await gpu.lossAndGrads(batch);
      expectClose('sft loss', [got.loss], [want.loss]);
      expect(got.tokens).toBe(want.tokens);
      expectGrads(new Map(got.grads), new Map(want.grads), 'sft');
      const a = new Map((await gpu.lossAndGrads(sliceSftBatch(batch, 0, 2))).grads);
      const b = await gpu.lossAndGrads(sliceSftBatch(batch, 2, 4));
      for (const [n, g] of want.grads)
        expectClose(
          `slices ${n}`,
          a.get(n)!.map((x, i) => x + b.grads.get(n)![i]),
          g,
        );
    } finally {
      gpu.dispose();
    }
  });

  it('two trainSft steps on the GPU backend = the same steps on the CPU backend', async () => {
    // trainSft's defaults besides the rate (clip 1, decay off for norms and biases): lr 1e-2 then 1e-3.
    const opts = { batchSize: 4, steps: 2, lr: 1e-2, warmupSteps: 1, seed: 3, padId: 0 };
    const cpuWeights = initQwen2Weights(config, 6, 0.2, 0.1);
    const gpuWeights = copyWeights(cpuWeights);
    const cpuRun = await trainSft(new CpuSftBackend(config, cpuWeights), data, opts);
    const gpu = await GpuSftBackend.create(dev, config, gpuWeights);
    try {
      const gpuRun = await trainSft(gpu, data, opts);
      expectClose('sft losses', gpuRun.losses, cpuRun.losses);
      for (const [n, t] of cpuWeights)
        expectWeightsClose(`sft ${n}`, gpuWeights.get(n)!.data, t.data, 1.1e-2);
      // The device holds the updated weights too.
      const ids = makeSftBatch(data.slice(0, 2), 0);
      const want = qwen2Forward({ config, weights: cpuWeights }, { kind: 'ids', ids: ids.ids }, ids.B, ids.T);
      const got = await gpu.model.forward({ kind: 'ids', ids: ids.ids }, ids.B, ids.T);
      expectClose('sft forward after training', got.logits, want.logits, DEFAULT_REL_TOL);
    } finally {
      gpu.dispose();
    }
  });
});
