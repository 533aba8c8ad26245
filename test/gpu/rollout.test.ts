// Mixture-of-token rollouts on WebGPU with the built-in model: the GPU fast path (the step in WGSL, records read
// back) against the CPU backend's reference path and the GPU backend's reference path on the same seed — same
// tokens, ids and representatives, weights / likelihoods / entropies to f32 rounding — for several presets with
// EOS and Cold Stop; then the replay on the GPU backend reproduces the fast path's behaviour log-likelihoods,
// and for soft-tokens so does GpuTrainer's training forward, the noise on e_t regenerated from the counters.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuTrainer } from '../../src/engine/gpu/train.ts';
import type { GpuBackend } from '../../src/engine/gpuBackend.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import { nodeGpu } from '../../src/node/webgpu.ts';
import { buildTrainingBatch, replayLogLikelihoods } from '../../src/rl/trainingBatch.ts';
import type { RolloutRequest, RolloutResult } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';

const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');
const EOS_SET = [258, ...Array.from({ length: 16 }, (_, i) => 70 + i)];
const SHORT_STOP = { eos: EOS_SET, coldStop: true, coldStopThreshold: 100, coldStopSteps: 2 };

const resolveSource = (loc: { kind: string; baseUrl?: string }) => {
  if (loc.kind !== 'url' || !loc.baseUrl) throw new Error('node test: url locations only');
  return new DirModelSource(loc.baseUrl);
};
let cpu: Engine;
let gpu: Engine;
let wte: Float32Array;

beforeAll(async () => {
  cpu = new Engine({ gpu: null, resolveSource });
  await cpu.init({ backend: 'cpu' });
  await cpu.loadModel({ kind: 'url', baseUrl: BUILTIN });
  gpu = new Engine({ gpu: await nodeGpu(), resolveSource });
  expect((await gpu.init({ backend: 'webgpu' })).backend).toBe('webgpu');
  await gpu.loadModel({ kind: 'url', baseUrl: BUILTIN });
  const t = (await loadModel(new DirModelSource(BUILTIN))).weights.get('model.embed_tokens.weight');
  if (!t) throw new Error('no embedding matrix');
  wte = t.data;
});
afterAll(async () => {
  await gpu?.dispose();
  await cpu?.dispose();
});

function request(over: Partial<RolloutRequest>): RolloutRequest {
  return {
    prompts: ['2+3?', { question: 'Sort: b a c' }],
    G: 2,
    preset: 'dirichlet',
    maxNewTokens: 12,
    seed: 21,
    systemPrompt: 'Think, then answer.',
    stop: { eos: EOS_SET, coldStop: true, coldStopThreshold: 100, coldStopSteps: 5 },
    ...over,
  };
}

const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(b));

function expectSameRollouts(label: string, got: RolloutResult, want: RolloutResult, rel: number): void {
  expect(got.trajectories.length).toBe(want.trajectories.length);
  got.trajectories.forEach((g, i) => {
    const w = want.trajectories[i];
    const at = `${label} row ${i}`;
    expect(g.tokens, `${at} tokens`).toEqual(w.tokens);
    expect(g.stopReason, at).toBe(w.stopReason);
    expect(g.inputs, at).toEqual(w.inputs);
    expect(g.records.length, at).toBe(w.records.length);
    g.records.forEach((r, s) => {
      const q = w.records[s];
      const rs = `${at} record ${s}`;
      expect([r.mode, r.phase, r.step, r.position], rs).toEqual([q.mode, q.phase, q.step, q.position]);
      // A dense step lists every id by decreasing p: two logits within f32 rounding of each other may swap
      // between backends, so it compares as a map id → weight.
      const dense = got.settings.mixture && got.settings.select === 'all' && r.mode === 'mixture';
      const order = (ids: number[]) =>
        dense ? ids.map((_, j) => j).sort((a, b) => ids[a] - ids[b]) : ids.map((_, j) => j);
      const og = order(r.ids);
      const oq = order(q.ids);
      expect(
        og.map((j) => r.ids[j]),
        `${rs} ids`,
      ).toEqual(oq.map((j) => q.ids[j]));
      expect([r.representative, r.argmax, r.sampled], rs).toEqual([q.representative, q.argmax, q.sampled]);
      og.forEach((j, n) => {
        expect(Math.abs(r.weights[j] - q.weights[oq[n]]), `${rs} weight of ${r.ids[j]}`).toBeLessThan(rel);
      });
      expect(
        close(r.logLikelihood, q.logLikelihood, rel),
        `${rs} ℓ ${r.logLikelihood} vs ${q.logLikelihood}`,
      ).toBe(true);
      expect(close(r.entropy, q.entropy, rel), `${rs} entropy`).toBe(true);
      expect(r.hiddenEntropy.length).toBe(2);
      r.hiddenEntropy.forEach((h, l) => {
        expect(
          close(h, q.hiddenEntropy[l], rel),
          `${rs} hidden entropy ${l}: ${h} vs ${q.hiddenEntropy[l]}`,
        ).toBe(true);
      });
    });
  });
}

const CASES: [string, Partial<RolloutRequest>][] = [
  ['dirichlet (paper)', { preset: 'dirichlet' }],
  ['different-tokens exact', { preset: 'different-tokens', settings: { likelihood: 'exact' } }],
  // Dense noisy mixtures feed a random model's f32 rounding back into its inputs, and it grows ~10× per step
  // (even GPU fast path vs GPU reference, which differ only in who computes e_t): short trajectories.
  [
    'soft-tokens exact (dense, noise on e_t)',
    { preset: 'soft-tokens', settings: { likelihood: 'exact' }, maxNewTokens: 5, stop: SHORT_STOP },
  ],
  [
    'soft-tokens paper (log π(r) after noisy inputs)',
    { preset: 'soft-tokens', maxNewTokens: 5, stop: SHORT_STOP },
  ],
  ['mixture-of-inputs, top-p 0.9', { preset: 'mixture-of-inputs', settings: { topP: 0.9 } }],
  ['soft-thinking', { preset: 'soft-thinking' }],
  ['discrete', { preset: 'discrete' }],
  ['discrete-top-k (the matched baseline)', { preset: 'discrete-top-k' }],
];

describe('rollouts: GPU fast path = CPU reference = GPU reference (same seed)', () => {
  it.each(CASES)('%s', async (label, over) => {
    const fast = await gpu.rollout(request(over));
    expect(fast.path).toBe('gpu');
    expect(fast.backend).toBe('webgpu');
    const ref = await cpu.rollout(request(over));
    expect(ref.path).toBe('reference');
    const gref = await gpu.rollout(request({ ...over, path: 'reference' }));
    expect(gref.path).toBe('reference');
    expectSameRollouts(`${label} (GPU fast vs CPU)`, fast, ref, 2e-4);
    expectSameRollouts(`${label} (GPU fast vs GPU reference)`, fast, gref, 2e-4);
    // The rollout exercised the stop machinery.
    const all = fast.trajectories;
    expect(all.some((t) => t.stopReason === 'eos' || t.stats.switchReason !== 'none')).toBe(true);
    if (fast.settings.mixture) expect(all.some((t) => t.stats.mixtureSteps > 0)).toBe(true);

    // Replay on the GPU backend: the training forward on the recorded inputs gives back every ℓ.
    const batch = buildTrainingBatch(fast.trajectories, { padId: 256, noiseStd: fast.noiseStd });
    if (fast.settings.mixture && fast.settings.noiseSigma > 0)
      expect(batch.input.kind === 'mixture' && batch.input.noise?.std).toBe(fast.noiseStd);
    const ll = await replayLogLikelihoods(gpu.backend, batch, fast.settings, 263, {
      embedding: { E: wte, C: 64 },
    });
    batch.actions.forEach((a, i) => {
      const want = a.record.logLikelihood;
      expect(close(ll[i], want, 2e-4), `${label} replay action ${i}: ${ll[i]} vs ${want}`).toBe(true);
    });
  });

  it('soft-tokens: the GPU training forward on the recorded inputs (noise regenerated) gives back every ℓ', async () => {
    // paperTemperature 'one': the recorded ℓ is log softmax(z)[target] at T = 1, what GpuTrainer's loss scores.
    const fast = await gpu.rollout(
      request({
        preset: 'soft-tokens',
        settings: { paperTemperature: 'one' },
        maxNewTokens: 5,
        stop: SHORT_STOP,
      }),
    );
    expect(fast.path).toBe('gpu');
    expect(fast.noiseStd).toBeGreaterThan(0);
    const batch = buildTrainingBatch(fast.trajectories, { padId: 256, noiseStd: fast.noiseStd });
    const { input, B, T } = batch;
    if (input.kind !== 'mixture' || !input.noise) throw new Error('expected a mixture input with noise');
    const fedNoisy = fast.trajectories.reduce(
      (n, tr) => n + tr.inputs.filter((i) => i.kind === 'action' && tr.records[i.record].noise).length,
      0,
    );
    expect(fedNoisy).toBeGreaterThan(2);
    const targets = new Int32Array(B * T);
    for (const a of batch.actions)
      targets[a.row * T + a.position] =
        a.record.mode === 'discrete' ? a.record.ids[0] : a.record.representative;
    const model = (gpu.backend as GpuBackend).model;
    const trainer = await GpuTrainer.create(model, { mode: 'full', optimizer: { kind: 'sgd' } });
    const logp = async (inp: typeof input) =>
      (
        await trainer.backward({
          input: inp,
          B,
          T,
          targets,
          coef: new Float32Array(B * T), // ℓ only: no gradient, and the parameters are never stepped
          attentionMask: batch.attentionMask,
          positionIds: batch.positionIds,
        })
      ).logp;
    try {
      const ll = await logp(input);
      batch.actions.forEach((a, i) => {
        const got = ll[a.row * T + a.position];
        const want = a.record.logLikelihood;
        expect(close(got, want, 2e-4), `training forward, action ${i}: ${got} vs ${want}`).toBe(true);
      });
      // The noise is really there: without it, the actions after noisy inputs score differently.
      const plain = await logp({ kind: 'mixture', ids: input.ids, weights: input.weights, k: input.k });
      const moved = batch.actions.filter(
        (a) => Math.abs(plain[a.row * T + a.position] - a.record.logLikelihood) > 1e-3,
      );
      expect(moved.length).toBeGreaterThan(0);
    } finally {
      trainer.dispose();
    }
  });

  it('the last step left its logits on the GPU, and the CPU step on them gives the recorded action', async () => {
    const r = await gpu.rollout(request({ G: 1, prompts: ['x'], stop: { eos: [] }, maxNewTokens: 3 }));
    const logits = await (
      gpu.backend as unknown as { model: { readDecodeLogits(): Promise<Float32Array> } }
    ).model.readDecodeLogits();
    expect(logits.length).toBeGreaterThanOrEqual(263);
    const { mixtureStep } = await import('../../src/mot/step.ts');
    const last = r.trajectories[0].records.at(-1);
    if (!last) throw new Error('no record');
    const cpuStep = mixtureStep(logits.subarray(0, 263), 263, r.settings, last.counters, { hiddenSize: 64 });
    expect(cpuStep.ids).toEqual(last.ids);
    expect(cpuStep.representative).toBe(last.representative);
  });
});
