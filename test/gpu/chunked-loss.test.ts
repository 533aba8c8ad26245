// The training head over the vocabulary in chunks (gpu/headChunks.ts, GpuTrainer option `headChunk`): with
// chunks of 128 or 256 rows — vocabularies that are not a multiple of the chunk, so the last chunk is
// partial — ℓ, the targets' log-probs, the loss and every gradient equal those of one chunk covering the
// whole vocabulary (the unchunked loss), for one target per position and for K weighted targets (fixed and
// renormalised, with padding weights, repeated ids and targets in the last chunk), with masked positions
// (coefficient 0) and padding; and the trainer never takes a buffer of B·T·V floats from the pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Qwen2Config } from '../../src/engine/config.ts';
import { EngineError } from '../../src/engine/errors.ts';
import type { EngineDevice } from '../../src/engine/gpu/device.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import { GpuTrainer, type LikelihoodBatch, type TrainBatch } from '../../src/engine/gpu/train.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { weightedLogprobLoss } from '../../src/engine/ref/loss.ts';
import { qwen2Forward } from '../../src/engine/ref/model.ts';
import type { WeightMap } from '../../src/engine/tensor.ts';
import { expectClose, randomFloats, randomInts, testDevice } from '../helpers/gpu.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

const [B, T] = [2, 24]; // N = 48 > C = 36: a (N, V) buffer would be the largest one a step could take
const N = B * T;
const REL = 1e-5;

let dev: EngineDevice;
beforeAll(async () => {
  dev = await testDevice();
});

/** Row 1 padded after 17 positions; its padding and a few other positions carry no loss. */
function masks(): { attentionMask: Uint8Array; coef: Float32Array } {
  const attentionMask = new Uint8Array(N).fill(1);
  const coef = randomFloats(N, 5, 0.5);
  for (let t = 17; t < T; t++) {
    attentionMask[T + t] = 0;
    coef[T + t] = 0;
  }
  coef[0] = 0;
  coef[9] = 0;
  return { attentionMask, coef };
}

/** K targets per position: random ids, some in the last (partial) chunk, repeated ids, padding weights. */
function multiTargets(V: number, K: number): { targets: Uint32Array; weights: Float32Array } {
  const targets = randomInts(N * K, 7, V);
  const weights = randomFloats(N * K, 8, 0.5).map((w) => w + 0.5);
  for (let n = 0; n < N; n++) {
    if (n % 3 === 0) targets[n * K + K - 1] = V - 1 - (n % 5);
    if (n % 4 === 1) targets[n * K + 1] = targets[n * K];
    if (n % 5 === 2) weights[n * K + K - 1] = 0;
  }
  return { targets, weights };
}

function expectSameGrads(
  got: Map<string, Float32Array>,
  want: Map<string, Float32Array>,
  what: string,
): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, g] of want) expectClose(`${what} ${name}`, got.get(name)!, g, REL);
}

describe.each([
  ['untied, V = 519, chunks of 128 (the last 7 wide)', tinyConfig({ vocab_size: 519 }), 128],
  [
    'tied, V = 300, chunks of 256 (the last 44 wide)',
    tinyConfig({ vocab_size: 300, tie_word_embeddings: true }),
    256,
  ],
])('chunked head = one chunk: %s', (_name, config: Qwen2Config, chunk: number) => {
  const V = config.vocabSize;
  const modelWeights: WeightMap = initQwen2Weights(config, 3, 0.3, 0.1);
  let model: GpuModel;
  let chunked: GpuTrainer;
  let whole: GpuTrainer;
  beforeAll(async () => {
    model = await GpuModel.create(dev, config, modelWeights);
    chunked = await GpuTrainer.create(model, { mode: 'full', headChunk: chunk });
    whole = await GpuTrainer.create(model, { mode: 'full', headChunk: Math.ceil(V / 128) * 128 });
  });
  afterAll(() => {
    chunked?.dispose();
    whole?.dispose();
    model?.dispose();
  });

  it('one target per position (backward, dloss 0.5, input gradients): loss, ℓ, every gradient, d embeds', async () => {
    const { attentionMask, coef } = masks();
    const batch: TrainBatch = {
      input: { kind: 'ids', ids: randomInts(N, 1, V) },
      B,
      T,
      targets: randomInts(N, 2, V),
      coef,
      attentionMask,
    };
    const results = [];
    for (const trainer of [chunked, whole]) {
      trainer.zeroGrad();
      const r = await trainer.backward(batch, { dloss: 0.5, inputGrads: true });
      results.push({ ...r, grads: await trainer.readGrads() });
    }
    const [c, w] = results;
    expect(c.logp.every(Number.isFinite)).toBe(true);
    expectClose('ℓ', c.logp, w.logp, REL);
    expect(Math.abs(c.loss - w.loss)).toBeLessThanOrEqual(REL * Math.abs(w.loss));
    expectClose('d embeds', c.dembeds!, w.dembeds!, REL);
    expectSameGrads(c.grads, w.grads, 'K = 1');
    const head = config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
    // Every chunk's rows of the head got gradient (each row's softmax term), the last partial one included.
    const g = w.grads.get(head)!;
    const C = config.hiddenSize;
    for (const v of [0, chunk - 1, chunk, V - 1])
      expect(g.subarray(v * C, (v + 1) * C).some((x) => x !== 0)).toBe(true);
  });

  it.each([
    ['fixed weights', false],
    ['renormalised weights', true],
  ])(
    'K = 3 targets, %s (forwardLogLikelihoods + backwardFrom): ℓ, target log-probs, every gradient',
    async (_w, renormalise) => {
      const K = 3;
      const { attentionMask, coef } = masks();
      const { targets, weights } = multiTargets(V, K);
      const batch: LikelihoodBatch = {
        input: { kind: 'ids', ids: randomInts(N, 4, V) },
        B,
        T,
        targets,
        k: K,
        weights,
        renormalise,
        attentionMask,
      };
      const results = [];
      for (const trainer of [chunked, whole]) {
        trainer.zeroGrad();
        const f = await trainer.forwardLogLikelihoods(batch, { targetLogprobs: true });
        const b = await trainer.backwardFrom(batch, coef);
        results.push({ ...f, loss: b.loss, grads: await trainer.readGrads() });
      }
      const [c, w] = results;
      expect(c.logp.every(Number.isFinite)).toBe(true);
      expectClose('ℓ', c.logp, w.logp, REL);
      expectClose('target log-probs', c.targetLogprobs!, w.targetLogprobs!, REL);
      // ℓ is the loss's rule over the read-back target log-probs (fixed weights: Σ w log p).
      if (!renormalise) {
        const want = Array.from({ length: N }, (_, n) => {
          let s = 0;
          for (let k = 0; k < K; k++) s += weights[n * K + k] * w.targetLogprobs![n * K + k];
          return s;
        });
        expectClose('ℓ = Σ w log p', w.logp, want, REL);
      }
      expect(Math.abs(c.loss - w.loss)).toBeLessThanOrEqual(REL * Math.abs(w.loss));
      expectSameGrads(c.grads, w.grads, `K = ${K}`);
      // And the CPU reference's ℓ and loss (ref/loss.ts weightedLogprobLoss on its own logits).
      const { logits } = qwen2Forward({ config, weights: modelWeights }, batch.input, B, T, {
        attentionMask,
      });
      const cpu = weightedLogprobLoss(logits, targets, coef, N, V, {
        K,
        weights: batch.weights!,
        renormalise,
      });
      expectClose('ℓ vs CPU', c.logp, cpu.logp);
      expect(Math.abs(c.loss - cpu.loss)).toBeLessThanOrEqual(1e-4 * Math.abs(cpu.loss));
    },
  );
});

describe('no (B·T, V) buffer: the trainer, and the reference log-probs of GpuModel.forward', () => {
  const config = tinyConfig({ vocab_size: 519 });
  const V = config.vocabSize;
  const K = 2;
  let model: GpuModel;
  beforeAll(async () => {
    model = await GpuModel.create(dev, config, initQwen2Weights(config, 3, 0.3, 0.1));
  });
  afterAll(() => model?.dispose());

  /** The largest buffer the pool is asked for while `run` runs. */
  async function largestAcquire(run: () => Promise<void>): Promise<{ bytes: number; name: string }> {
    const pool = model.ctx.pool;
    let largest = { bytes: 0, name: '' };
    const acquire = pool.acquire.bind(pool);
    pool.acquire = (name, bytes, ...rest) => {
      if (bytes > largest.bytes) largest = { bytes, name };
      return acquire(name, bytes, ...rest);
    };
    try {
      await run();
    } finally {
      pool.acquire = acquire;
    }
    return largest;
  }

  /** A trainer made, one GRPO-shaped step (forwardLogLikelihoods, backwardFrom, stepOptimizer), disposed. */
  const trainStep = (headChunk: number) => async () => {
    const trainer = await GpuTrainer.create(model, { mode: 'full', headChunk });
    const batch = {
      input: { kind: 'ids' as const, ids: randomInts(N, 1, V) },
      B,
      T,
      targets: randomInts(N, 2, V),
    };
    await trainer.forwardLogLikelihoods(batch);
    await trainer.backwardFrom(batch, randomFloats(N, 3));
    await trainer.stepOptimizer();
    trainer.dispose();
  };

  it('trainer, chunks of 128: nothing near N·V floats; one chunk over V does take (N, V) — the probe sees it', async () => {
    const chunked = await largestAcquire(trainStep(128));
    expect(chunked.bytes, chunked.name).toBeLessThan(N * V * 4);
    const whole = await largestAcquire(trainStep(640));
    expect(whole.bytes, whole.name).toBeGreaterThanOrEqual(N * V * 4);
  });

  it('GpuModel.forward with targets and logits: false: chunked, the same K log-probs as from the full logits', async () => {
    const ids = randomInts(N, 11, V);
    const targets = randomInts(N * K, 12, V);
    for (let n = 0; n < N; n += 4) targets[n * K + 1] = V - 1; // the last, partial chunk
    const attentionMask = masks().attentionMask;
    const ask = { attentionMask, targets, targetsPerPosition: K };
    let chunked: Float32Array | undefined;
    const probe = await largestAcquire(async () => {
      const r = await model.forward({ kind: 'ids', ids }, B, T, { ...ask, logits: false, headChunk: 128 });
      chunked = r.logprobs;
    });
    expect(probe.bytes, probe.name).toBeLessThan(N * V * 4);
    const full = await model.forward({ kind: 'ids', ids }, B, T, ask);
    expect(full.logits.length).toBe(N * V);
    expect(chunked!.every(Number.isFinite)).toBe(true);
    expectClose('reference log-probs', chunked!, full.logprobs!, REL);
  });

  it('a chunk that is not a positive multiple of 128 is refused', async () => {
    for (const headChunk of [0, 100, 200]) {
      const made = GpuTrainer.create(model, { mode: 'full', headChunk });
      await expect(made).rejects.toThrow(EngineError);
      await expect(made).rejects.toThrow(/multiple of 128/);
    }
  });
});
