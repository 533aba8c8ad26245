// What one GRPO micro-batch reads back from the GPU (GpuPolicy.accumulate + referenceLogLikelihoods): from the
// one training forward ℓ of every position (B·T floats) and the log-probs of each position's K ids (B·T·K),
// and the same K log-probs under the reference (B·T·K), never the logits — so two random models that differ
// only in the vocabulary size read back the same bytes. On the same hand-made batch (mixture steps, discrete
// steps, a greedy step, padding) the GPU policy gives the CPU policy's ℓ, ℓ_ref and gradients, in full
// fine-tuning and LoRA, for the weighted-ids rule (paperTemperature 'one') and the representative rule at
// T = 1 (where a greedy step scores ℓ = 0).
import { afterAll, describe, expect, it } from 'vitest';
import type { Qwen2Config } from '../../src/engine/config.ts';
import { GpuBackend } from '../../src/engine/gpuBackend.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import type { LoraWeights } from '../../src/engine/ref/model.ts';
import { tensor, type WeightMap } from '../../src/engine/tensor.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import type { MotSettings } from '../../src/mot/settings.ts';
import { CpuPolicy } from '../../src/rl/policy/cpu.ts';
import { GpuPolicy, gpuUnsupportedReason } from '../../src/rl/policy/gpu.ts';
import type { RolloutRecord } from '../../src/rl/rollout.ts';
import type { TrainingAction, TrainingBatch } from '../../src/rl/trainingBatch.ts';
import { expectClose, randomFloats, testDevice } from '../helpers/gpu.ts';
import { builtinLikeConfig } from '../helpers/tinyConfig.ts';

const copy = (w: WeightMap): WeightMap =>
  new Map([...w].map(([n, t]) => [n, { shape: t.shape.slice(), data: t.data.slice() }]));

function randomLora(config: Qwen2Config, seed: number): LoraWeights {
  const layers: LoraWeights['layers'] = new Map();
  const r = 2;
  const C = config.hiddenSize;
  const kv = config.numKeyValueHeads * config.headDim;
  let s = seed;
  for (let l = 0; l < config.numHiddenLayers; l++)
    for (const [m, OC] of [
      ['self_attn.q_proj', C],
      ['self_attn.v_proj', kv],
    ] as const)
      layers.set(`model.layers.${l}.${m}.weight`, {
        A: tensor([r, C], randomFloats(r * C, s++, 0.3)),
        B: tensor([OC, r], randomFloats(OC * r, s++, 0.3)),
      });
  return { r, scale: 1.5, layers };
}

const copyLora = (a: LoraWeights): LoraWeights => ({
  ...a,
  layers: new Map(
    [...a.layers].map(([n, p]) => [
      n,
      { A: tensor(p.A.shape, p.A.data.slice()), B: tensor(p.B.shape, p.B.data.slice()) },
    ]),
  ),
});

const [B, T] = [2, 7];
const LENGTHS = [7, 5];

/** A hand-made micro-batch: mixture steps of two ids, discrete steps, one greedy step, row 1 padded. */
function handMadeBatch(s: MotSettings): TrainingBatch {
  const N = B * T;
  const ids = new Int32Array(N * 2);
  const weights = new Float32Array(N * 2);
  for (let n = 0; n < N; n++) {
    ids[n * 2] = (n * 37 + 11) % 500;
    weights[n * 2] = 1;
  }
  const attentionMask = new Uint8Array(N);
  const positionIds = new Int32Array(N);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      attentionMask[b * T + t] = t < LENGTHS[b] ? 1 : 0;
      positionIds[b * T + t] = t;
    }
  const steps: [number, number, 'mixture' | 'discrete' | 'greedy'][] = [
    [0, 2, 'mixture'],
    [0, 3, 'discrete'],
    [0, 4, 'mixture'],
    [0, 5, 'greedy'],
    [1, 1, 'mixture'],
    [1, 2, 'discrete'],
    [1, 3, 'mixture'],
  ];
  const actions: TrainingAction[] = steps.map(([row, position, kind], i) => {
    const a = (i * 53 + 7) % 500;
    const b = (i * 91 + 3) % 500;
    const mixture = kind === 'mixture';
    const record: RolloutRecord = {
      mode: mixture ? 'mixture' : 'discrete',
      ids: mixture ? [a, b] : [a],
      weights: mixture ? [0.625, 0.375] : [1],
      representative: mixture ? b : a,
      temperature: kind === 'greedy' ? 0 : s.temperature,
      logLikelihood: 0,
      entropy: 0,
      argmax: a,
      sampled: null,
      noise: null,
      counters: { seed: 1, row, step: position },
      phase: 'thinking',
      step: position,
      position,
      hiddenEntropy: [],
    };
    // The input after the action is the action itself.
    const at = (row * T + position + 1) * 2;
    record.ids.forEach((id, j) => {
      ids[at + j] = id;
      weights[at + j] = record.weights[j];
    });
    return { row, position, record };
  });
  return {
    B,
    T,
    input: { kind: 'mixture', ids, weights, k: 2 },
    attentionMask,
    positionIds,
    lengths: LENGTHS,
    actions,
  };
}

const disposers: (() => void)[] = [];
afterAll(() => {
  for (const d of disposers.reverse()) d();
});

/** A GpuPolicy and a CpuPolicy of the same random model (and adapter, in LoRA mode). */
async function policies(V: number, mode: 'full' | 'lora') {
  const config = builtinLikeConfig(V);
  const weights = initQwen2Weights(config, 5);
  const lora = mode === 'lora' ? randomLora(config, 9) : null;
  const device = await testDevice();
  const backend = await GpuBackend.create(device, config, copy(weights), lora ? copyLora(lora) : null);
  const reference = mode === 'full' ? await GpuBackend.create(device, config, copy(weights), null) : null;
  const cpu = new CpuPolicy(config, copy(weights), lora, { mode, optim: 'sgd' });
  const gpu = await GpuPolicy.create(config, null, backend, {
    mode,
    optim: 'sgd',
    clipNorm: 100,
    reference,
    makeStepper: () => {
      throw new Error('no rollouts here');
    },
  });
  disposers.push(() => gpu.dispose());
  const ctxs = [backend.model.ctx, ...(reference ? [reference.model.ctx] : [])];
  const bytesRead = () => ctxs.reduce((sum, c) => sum + c.bytesRead, 0);
  return { cpu, gpu, bytesRead };
}

const RULES: [string, (V: number) => MotSettings][] = [
  ['weighted-ids', (V) => makeSettings('different-tokens', { paperTemperature: 'one' }, V)],
  ['representative at T = 1', (V) => makeSettings('dirichlet', { temperature: 1 }, V)],
];

describe('GRPO micro-batch on WebGPU: no logits read back', () => {
  for (const mode of ['full', 'lora'] as const)
    for (const [rule, settingsFor] of RULES)
      it(`${mode}, ${rule}: bytes read back independent of V; ℓ, ℓ_ref, gradients = CPU`, async () => {
        const read: number[] = [];
        let K = 0;
        for (const V of [519, 2053]) {
          const s = settingsFor(V);
          expect(gpuUnsupportedReason(s)).toBeNull();
          const batch = handMadeBatch(s);
          const greedy = batch.actions.map((a) => a.record.temperature === 0);
          // A greedy step gets no gradient on the GPU; give it none on the CPU either.
          const coefOf = () => Float64Array.from(batch.actions, (_, i) => (greedy[i] ? 0 : Math.sin(i + 1)));
          const { cpu, gpu, bytesRead } = await policies(V, mode);
          const before = bytesRead();
          const lGpu = await gpu.accumulate(batch, s, coefOf);
          const refGpu = await gpu.referenceLogLikelihoods(batch, s);
          read.push(bytesRead() - before);
          K = s.paperRule === 'weighted-ids' ? 2 : 1;

          const lCpu = await cpu.accumulate(batch, s, coefOf);
          expectClose('ℓ', lGpu, lCpu);
          expectClose('ℓ_ref', refGpu, await cpu.referenceLogLikelihoods(batch, s));
          const iGreedy = greedy.indexOf(true);
          if (s.paperTemperature !== 'one') expect(lGpu[iGreedy]).toBe(0);
          else expect(lGpu[iGreedy]).toBeLessThan(0);
          const gCpu = cpu.peekGrads();
          const gGpu = await gpu.readGrads();
          expect(gGpu.size).toBeGreaterThan(0);
          for (const [name, g] of gGpu) expectClose(`grad ${name}`, g, gCpu.get(name) as Float32Array, 1e-3);
        }
        const N = B * T;
        expect(read[0]).toBe(read[1]);
        expect(read[0]).toBe(N * 4 + 2 * N * K * 4); // ℓ per position; K log-probs per position, twice
      }, 300_000);
});
