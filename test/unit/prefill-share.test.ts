// A rollout's prompt is prefilled once and shared by the G rows of its group (CPU reference): the rollout
// with prefill sharing is the same, bit for bit (tokens, inputs, records with their weights, ℓ and hidden
// entropies), as the one that runs every prompt on each of its G rows, for prompts of different lengths
// (left padding) and discrete, mixture and noisy-mixture presets; the prefill's forward runs P·T_prompt
// positions instead of P·G·T_prompt; and the cache row copy itself copies keys, values and mask.
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend, KvCacheHandle, KvRowCopy } from '../../src/engine/backend.ts';
import { CpuBackend } from '../../src/engine/cpuBackend.ts';
import { ReferenceStepper } from '../../src/engine/decode/referenceStepper.ts';
import type { StepperConfig } from '../../src/engine/decode/stepper.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { type LoadedModel, loadModel } from '../../src/engine/model/weights.ts';
import { RefKvCache } from '../../src/engine/ref/model.ts';
import type { PresetName } from '../../src/mot/settings.ts';
import { STOP_DEFAULTS } from '../../src/mot/stop.ts';
import { noiseStdOf, type RolloutRun, rolloutSettings, runRollout } from '../../src/rl/rollout.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');
const THINK_END = 260;
const EOS = [258, ...Array.from({ length: 12 }, (_, i) => 70 + i)];
// Three prompts of different lengths: the prefill is left-padded to the longest (11).
const PROMPTS = [
  [11, 40, 41, 42, 43, 44, 45, 46, 47, 48, 12],
  [11, 50, 51, 12],
  [11, 60, 61, 62, 63, 64, 12],
];
const G = 3;

/** The CPU backend, logging (B, T) of every forward call. */
class CountingBackend implements Backend {
  readonly kind = 'cpu' as const;
  readonly forwards: { B: number; T: number }[] = [];
  constructor(private readonly inner: CpuBackend) {}
  forward(...args: Parameters<Backend['forward']>): ReturnType<Backend['forward']> {
    this.forwards.push({ B: args[1], T: args[2] });
    return this.inner.forward(...args);
  }
  createCache(B: number, capacity: number): KvCacheHandle {
    return this.inner.createCache(B, capacity);
  }
  copyCacheRows(src: KvCacheHandle, dst: KvCacheHandle, copies: readonly KvRowCopy[], n: number) {
    return this.inner.copyCacheRows(src, dst, copies, n);
  }
  decode(...args: Parameters<Backend['decode']>): ReturnType<Backend['decode']> {
    return this.inner.decode(...args);
  }
  dispose(): void {}
}

let model: LoadedModel;
beforeAll(async () => {
  model = await loadModel(new DirModelSource(BUILTIN));
});

async function rollout(
  preset: PresetName,
  sharePrefill: boolean,
): Promise<{ run: RolloutRun; backend: CountingBackend }> {
  const { config, weights } = model;
  const backend = new CountingBackend(new CpuBackend(config, weights));
  const shape = {
    vocabSize: config.vocabSize,
    hiddenSize: config.hiddenSize,
    numHiddenLayers: config.numHiddenLayers,
  };
  const settings = rolloutSettings(preset, {}, config.vocabSize);
  const E = weights.get('model.embed_tokens.weight')?.data ?? null;
  const make = (c: StepperConfig) => new ReferenceStepper(backend, shape, c, E);
  const run = await runRollout(make, PROMPTS, {
    settings,
    stop: {
      ...STOP_DEFAULTS,
      thinkEnd: [THINK_END],
      eos: EOS,
      coldStop: true,
      coldStopThreshold: 100,
      coldStopSteps: 4,
    },
    maxNewTokens: 10,
    seed: 17,
    G,
    padId: 0,
    hiddenEntropy: true,
    noiseStd: noiseStdOf(settings, E),
    sharePrefill,
  });
  return { run, backend };
}

describe('prefill sharing (CPU reference)', () => {
  for (const preset of ['discrete', 'dirichlet', 'soft-tokens'] as const) {
    it(`${preset}: the same rollout as prefilling every row, with P·T_prompt prefill positions`, async () => {
      const shared = await rollout(preset, true);
      const each = await rollout(preset, false);
      expect(shared.run.trajectories).toEqual(each.run.trajectories);
      expect(shared.run.steps).toBe(each.run.steps);
      // Every row sampled its own draw: the G rows of a prompt do not all agree.
      const tr = shared.run.trajectories;
      expect(tr.every((t) => t.records.length > 0 && t.records[0].hiddenEntropy.length === 2)).toBe(true);
      const groupsThatDiffer = PROMPTS.filter((_, p) => {
        const rows = tr.slice(p * G, (p + 1) * G).map((t) => JSON.stringify(t.tokens));
        return new Set(rows).size > 1;
      });
      expect(groupsThatDiffer.length).toBeGreaterThan(0);
      if (preset !== 'discrete') expect(tr.some((t) => t.stats.mixtureSteps > 0)).toBe(true);
      // The prefill (the first forward) ran P rows of T_prompt instead of P·G; every step after it B rows of 1.
      const Tp = Math.max(...PROMPTS.map((p) => p.length));
      const [first, ...rest] = shared.backend.forwards;
      expect(first.B * first.T).toBe(PROMPTS.length * Tp);
      expect(each.backend.forwards[0].B * each.backend.forwards[0].T).toBe(PROMPTS.length * G * Tp);
      expect(rest.every((f) => f.B === PROMPTS.length * G && f.T === 1)).toBe(true);
    });
  }
});

describe('KV cache row copy', () => {
  it('copies one row’s positions [0, n) of every layer and the mask into the given rows', () => {
    const config = tinyConfig();
    const row = config.numKeyValueHeads * config.headDim;
    const src = new RefKvCache(config, 2, 5);
    src.length = 4;
    for (let l = 0; l < config.numHiddenLayers; l++)
      for (let i = 0; i < src.k[l].length; i++) {
        src.k[l][i] = l * 1000 + i;
        src.v[l][i] = -(l * 1000 + i);
      }
    src.mask.set([0, 1, 1, 1, 1, 0, 0, 1, 1, 0]);
    const dst = new RefKvCache(config, 3, 6);
    dst.copyRowFrom(src, 1, [0, 2], 4);
    for (let l = 0; l < config.numHiddenLayers; l++)
      for (const b of [0, 2]) {
        expect(dst.k[l].subarray(b * 6 * row, (b * 6 + 4) * row)).toEqual(
          src.k[l].subarray(5 * row, 9 * row),
        );
        expect(dst.v[l].subarray(b * 6 * row, (b * 6 + 4) * row)).toEqual(
          src.v[l].subarray(5 * row, 9 * row),
        );
        expect(
          Array.from(dst.k[l].subarray((b * 6 + 4) * row, (b * 6 + 6) * row)).every((x) => x === 0),
        ).toBe(true);
      }
    expect(Array.from(dst.mask)).toEqual([0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
    expect(Array.from(dst.k[0].subarray(6 * row, 12 * row)).every((x) => x === 0)).toBe(true); // row 1 untouched
    expect(() => dst.copyRowFrom(src, 2, [0], 4)).toThrow(/row 2/);
    expect(() => dst.copyRowFrom(src, 0, [3], 4)).toThrow(/row 3/);
    expect(() => dst.copyRowFrom(src, 0, [0], 5)).toThrow(/positions/);
  });
});
