// The supervised trainer: batches, masking, gradients of a split batch, shuffling, and that a tiny
// model's loss goes down.
import { describe, expect, it } from 'vitest';
import { parseQwen2Config } from '../../src/engine/config.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { qwen2LossAndGrads } from '../../src/engine/ref/backward.ts';
import { qwen2Forward } from '../../src/engine/ref/model.ts';
import {
  CpuSftBackend,
  epochBatches,
  makeSftBatch,
  type SftSequence,
  sliceSftBatch,
  trainSft,
} from '../../src/engine/train/sft.ts';

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
const PAD = 0;

// "Prompt" tokens 1..9, "completion" tokens 10..23: the completion is a function of the prompt.
function sequence(i: number): { ids: number[]; lossStart: number } {
  const a = 1 + (i % 9);
  const b = 1 + ((i * 7) % 9);
  const prompt = [a, b, 3, a];
  const completion = [10 + ((a + b) % 12), 22, 23];
  return { ids: [...prompt, ...completion], lossStart: prompt.length };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('makeSftBatch', () => {
  it('shifts targets, pads on the right, and weights only the loss span', () => {
    const s1: SftSequence = { ids: [5, 6, 7, 8, 9], lossStart: 3 };
    const s2: SftSequence = { ids: [4, 3, 2], lossStart: 1, lossEnd: 2 };
    const b = makeSftBatch([s1, s2], PAD);
    expect(b.B).toBe(2);
    expect(b.T).toBe(4);
    expect([...b.ids]).toEqual([5, 6, 7, 8, 4, 3, PAD, PAD]);
    expect([...b.attentionMask]).toEqual([1, 1, 1, 1, 1, 1, 0, 0]);
    expect([...b.targets.subarray(0, 4)]).toEqual([6, 7, 8, 9]);
    // Targets: row 0 predicts ids 3 and 4 (8, 9) at positions 2 and 3; row 1 predicts id 1 (3) at 0.
    expect(b.targetTokens).toBe(3);
    expect([...b.coef].map((c) => (c === 0 ? 0 : 1))).toEqual([0, 0, 1, 1, 1, 0, 0, 0]);
    expect([...b.coef].reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6);
    expect(b.realTokens).toBe(6);
    expect(() => makeSftBatch([{ ids: [1, 2], lossStart: 0 }], PAD)).toThrow();
  });
});

describe('CpuSftBackend', () => {
  it('loss is the mean NLL of the completion tokens only, and prompt positions send no gradient', async () => {
    const weights = initQwen2Weights(config, 3, 0.2);
    const seqs = [sequence(1), { ...sequence(2), ids: [...sequence(2).ids, 22] }];
    const batch = makeSftBatch(seqs, PAD);
    const backend = new CpuSftBackend(config, weights);
    const { loss, grads, tokens } = await backend.lossAndGrads(batch);
    expect(tokens).toBe(3 + 4);

    // The same loss from the plain forward: −mean log p over the completion tokens.
    const { logits } = qwen2Forward({ config, weights }, { kind: 'ids', ids: batch.ids }, batch.B, batch.T, {
      attentionMask: batch.attentionMask,
    });
    const V = config.vocabSize;
    let nll = 0;
    seqs.forEach((s, b) => {
      for (let p = s.lossStart; p < s.ids.length; p++) {
        const row = (b * batch.T + p - 1) * V;
        let max = -Infinity;
        for (let v = 0; v < V; v++) max = Math.max(max, logits[row + v]);
        let sum = 0;
        for (let v = 0; v < V; v++) sum += Math.exp(logits[row + v] - max);
        nll -= logits[row + (s.ids[p] as number)] - max - Math.log(sum);
      }
    });
    expect(loss).toBeCloseTo(nll / 7, 5);

    // Gradients equal those of a loss that has no prompt terms at all (coefficients built by hand)…
    const coef = new Float32Array(batch.B * batch.T);
    seqs.forEach((s, b) => {
      for (let p = s.lossStart; p < s.ids.length; p++) coef[b * batch.T + p - 1] = 1 / 7;
    });
    const ref = qwen2LossAndGrads(
      { config, weights },
      { kind: 'ids', ids: batch.ids },
      batch.B,
      batch.T,
      batch.targets,
      coef,
      {
        attentionMask: batch.attentionMask,
      },
    );
    for (const [name, g] of grads)
      expect(maxAbsDiff(g, ref.grads.get(name) as Float32Array), name).toBeLessThan(1e-6);

    // …and differ from those of the unmasked loss (every position a target), so masking does something.
    const all = makeSftBatch(
      seqs.map((s) => ({ ids: s.ids, lossStart: 1 })),
      PAD,
    );
    const unmasked = await new CpuSftBackend(config, weights).lossAndGrads(all);
    const name = 'model.layers.0.mlp.up_proj.weight';
    expect(
      maxAbsDiff(unmasked.grads.get(name) as Float32Array, ref.grads.get(name) as Float32Array),
    ).toBeGreaterThan(1e-4);
  });

  it('gradients of row slices sum to the gradient of the whole batch', async () => {
    const weights = initQwen2Weights(config, 4, 0.2);
    const seqs = [sequence(1), { ids: [...sequence(2).ids, 22, 23], lossStart: 4 }, sequence(5), sequence(6)];
    const batch = makeSftBatch(seqs, PAD);
    const whole = await new CpuSftBackend(config, weights).lossAndGrads(batch);
    const p1 = await new CpuSftBackend(config, weights).lossAndGrads(sliceSftBatch(batch, 0, 2));
    const p2 = await new CpuSftBackend(config, weights).lossAndGrads(sliceSftBatch(batch, 2, 4));
    expect(sliceSftBatch(batch, 2, 4).T).toBe(6); // trimmed to its own rows
    expect(p1.loss + p2.loss).toBeCloseTo(whole.loss, 5);
    for (const [name, g] of whole.grads) {
      const sum = (p1.grads.get(name) as Float32Array).map(
        (x, i) => x + (p2.grads.get(name) as Float32Array)[i],
      );
      expect(maxAbsDiff(g, sum), name).toBeLessThan(1e-6);
    }
  });
});

describe('shuffling', () => {
  it('covers every sequence once per epoch, is deterministic per seed, and varies across epochs', () => {
    const lengths = Array.from({ length: 37 }, (_, i) => 5 + (i % 11));
    const e0 = epochBatches(lengths, 4, 7, 0);
    expect(e0).toHaveLength(9);
    expect(new Set(e0.flat()).size).toBe(36);
    expect(epochBatches(lengths, 4, 7, 0)).toEqual(e0);
    expect(epochBatches(lengths, 4, 7, 1)).not.toEqual(e0);
    expect(epochBatches(lengths, 4, 8, 0)).not.toEqual(e0);
    // Bucketing: same examples, batches of similar lengths.
    const bucketed = epochBatches(lengths, 4, 7, 0, 4);
    expect(new Set(bucketed.flat()).size).toBe(36);
    const spread = (bs: number[][]) =>
      bs.reduce(
        (a, b) => a + Math.max(...b.map((i) => lengths[i])) - Math.min(...b.map((i) => lengths[i])),
        0,
      );
    expect(spread(bucketed)).toBeLessThan(spread(e0));
  });
});

describe('trainSft', () => {
  it('lowers the loss of a tiny model within a few dozen steps and reports progress', async () => {
    const weights = initQwen2Weights(config, 1, 0.05);
    const data = Array.from({ length: 64 }, (_, i) => sequence(i));
    const seen: number[] = [];
    const result = await trainSft(new CpuSftBackend(config, weights), data, {
      batchSize: 8,
      steps: 40,
      lr: 1e-2,
      warmupSteps: 4,
      seed: 1,
      padId: PAD,
      onStep: (p) => {
        seen.push(p.step);
        expect(p.steps).toBe(40);
        expect(p.loss).toBeGreaterThan(0);
      },
    });
    expect(result.steps).toBe(40);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const first = result.losses.slice(0, 4).reduce((a, b) => a + b) / 4;
    const last = result.losses.slice(-4).reduce((a, b) => a + b) / 4;
    expect(first).toBeGreaterThan(2.5);
    expect(last).toBeLessThan(first * 0.5);
  });

  it('is deterministic for a seed, and a time budget shrinks the run after calibration', async () => {
    const data = Array.from({ length: 32 }, (_, i) => sequence(i));
    const run = async (seed: number, budgetMs?: number) => {
      let clock = 0;
      return trainSft(new CpuSftBackend(config, initQwen2Weights(config, 2, 0.05)), data, {
        batchSize: 4,
        steps: 12,
        seed,
        padId: PAD,
        budgetMs,
        calibrationSteps: 2,
        now: () => (clock += 50), // every reading advances 50 ms: 100 ms per step
      });
    };
    const a = await run(1);
    expect((await run(1)).losses).toEqual(a.losses);
    expect((await run(2)).losses).not.toEqual(a.losses);
    expect((await run(1, 500)).steps).toBe(5);
  });
});
