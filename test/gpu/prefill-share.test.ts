// A rollout's prompt is prefilled once and shared by the G rows of its group, on WebGPU: the GPU fast path
// (GpuMixtureStepper: the cache rows and the last-position logits copied in the prefill's command encoder)
// and the reference stepper over the GPU backend (GpuModel.copyCacheRows) give the same rollout — tokens,
// inputs, records with their weights, ℓ and hidden entropies, exactly — as prefilling every row, for
// prompts of different lengths (left padding) and a discrete and a mixture preset; the prefill runs
// P·T_prompt positions instead of P·G·T_prompt; and the cache row copy moves keys, values and mask.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ReferenceStepper } from '../../src/engine/decode/referenceStepper.ts';
import type { RolloutStepper, StepperConfig } from '../../src/engine/decode/stepper.ts';
import { GpuMixtureStepper } from '../../src/engine/gpu/mixture.ts';
import { GpuBackend } from '../../src/engine/gpuBackend.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import type { PresetName } from '../../src/mot/settings.ts';
import { STOP_DEFAULTS } from '../../src/mot/stop.ts';
import { type RolloutRun, rolloutSettings, runRollout } from '../../src/rl/rollout.ts';
import { testDevice } from '../helpers/gpu.ts';

const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');
const EOS = [258, ...Array.from({ length: 12 }, (_, i) => 70 + i)];
// Prompts of different lengths, left-padded to 11: the prefill has P·11 = 33 rows with sharing and 99
// without, both past the few-row (decode) kernels, so both run the same kernels per row.
const PROMPTS = [
  [11, 40, 41, 42, 43, 44, 45, 46, 47, 48, 12],
  [11, 50, 51, 12],
  [11, 60, 61, 62, 63, 64, 12],
];
const G = 3;
const Tp = 11;

let backend: GpuBackend;
let E: Float32Array | null;
beforeAll(async () => {
  const m = await loadModel(new DirModelSource(BUILTIN));
  backend = await GpuBackend.create(await testDevice(), m.config, m.weights, null);
  E = m.weights.get('model.embed_tokens.weight')?.data ?? null;
});
afterAll(() => backend?.dispose());

type Path = 'gpu' | 'reference';

/** The rollout, with (B, T) of every forward of the model logged. */
async function rollout(path: Path, preset: PresetName, sharePrefill: boolean) {
  const model = backend.model;
  const { config } = model;
  const shape = {
    vocabSize: config.vocabSize,
    hiddenSize: config.hiddenSize,
    numHiddenLayers: config.numHiddenLayers,
  };
  // Spies call through; their logs give each forward's (B, T).
  const decodeWith = vi.spyOn(model, 'decodeWith');
  const forward = vi.spyOn(model, 'forward');
  const make = (c: StepperConfig): RolloutStepper =>
    path === 'gpu' ? new GpuMixtureStepper(model, shape, c) : new ReferenceStepper(backend, shape, c, E);
  try {
    const run: RolloutRun = await runRollout(make, PROMPTS, {
      settings: rolloutSettings(preset, {}, config.vocabSize),
      stop: {
        ...STOP_DEFAULTS,
        thinkEnd: [260],
        eos: EOS,
        coldStop: true,
        coldStopThreshold: 100,
        coldStopSteps: 4,
      },
      maxNewTokens: 6,
      seed: 17,
      G,
      padId: 0,
      hiddenEntropy: true,
      sharePrefill,
    });
    const calls = [
      ...decodeWith.mock.calls.map((a) => ({ B: a[0].B, T: a[2] })),
      ...forward.mock.calls.map((a) => ({ B: a[1], T: a[2] })),
    ];
    return { run, calls };
  } finally {
    decodeWith.mockRestore();
    forward.mockRestore();
  }
}

describe('prefill sharing on WebGPU', () => {
  for (const path of ['gpu', 'reference'] as const)
    for (const preset of ['discrete', 'dirichlet'] as const)
      it(`${path} path, ${preset}: the same rollout as prefilling every row, P·T_prompt prefill positions`, async () => {
        const shared = await rollout(path, preset, true);
        const each = await rollout(path, preset, false);
        expect(shared.run.path).toBe(path);
        expect(shared.run.trajectories).toEqual(each.run.trajectories);
        const tr = shared.run.trajectories;
        expect(tr.every((t) => t.records.length > 0 && t.records[0].hiddenEntropy.length === 2)).toBe(true);
        // Every row sampled its own draw from the shared logits: some group's rows differ.
        const differ = PROMPTS.some((_, p) => {
          const rows = tr.slice(p * G, (p + 1) * G).map((t) => JSON.stringify(t.tokens));
          return new Set(rows).size > 1;
        });
        expect(differ).toBe(true);
        if (preset === 'dirichlet') expect(tr.some((t) => t.stats.mixtureSteps > 0)).toBe(true);
        const P = PROMPTS.length;
        expect(shared.calls[0]).toEqual({ B: P, T: Tp });
        expect(each.calls[0]).toEqual({ B: P * G, T: Tp });
        expect(shared.calls.slice(1).every((c) => c.B === P * G && c.T === 1)).toBe(true);
      });
});

describe('GPU KV cache row copy', () => {
  it('copies one row’s positions [0, n) of every layer and the mask into the given rows', async () => {
    const model = backend.model;
    const { config, ctx } = model;
    const row = config.numKeyValueHeads * config.headDim;
    const src = model.createKvCache(2, 5);
    const dst = model.createKvCache(3, 6);
    try {
      const write = (t: { buffer: GPUBuffer; offset: number }, data: Float32Array | Uint32Array) =>
        ctx.device.queue.writeBuffer(t.buffer, t.offset, data.buffer, data.byteOffset, data.byteLength);
      const fill = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
      for (const t of [...dst.k, ...dst.v]) write(t, new Float32Array(3 * 6 * row));
      write(dst.mask, new Uint32Array(18));
      for (let l = 0; l < config.numHiddenLayers; l++) {
        write(
          src.k[l],
          fill(10 * row, (i) => l * 1000 + i),
        );
        write(
          src.v[l],
          fill(10 * row, (i) => -(l * 1000 + i)),
        );
      }
      write(src.mask, Uint32Array.from([0, 1, 1, 1, 1, 0, 0, 1, 1, 0]));
      src.length = 4;
      await model.copyCacheRows(src, dst, [{ from: 1, to: [0, 2] }], 4);
      expect(dst.length).toBe(4);
      const rec = ctx.recorder('test readback');
      for (const t of [...dst.k, ...dst.v, dst.mask]) rec.read(t, t === dst.mask ? 18 * 4 : 18 * row * 4);
      const bufs = await rec.submit();
      const L = config.numHiddenLayers;
      for (let l = 0; l < L; l++) {
        const k = new Float32Array(bufs[l]);
        const v = new Float32Array(bufs[L + l]);
        const want = fill(4 * row, (i) => l * 1000 + 5 * row + i);
        for (const b of [0, 2]) {
          expect(k.subarray(b * 6 * row, (b * 6 + 4) * row)).toEqual(want);
          expect(v.subarray(b * 6 * row, (b * 6 + 4) * row)).toEqual(want.map((x) => -x));
        }
        expect(k.subarray(6 * row, 12 * row).every((x) => x === 0)).toBe(true); // row 1 untouched
      }
      expect(Array.from(new Uint32Array(bufs[2 * L]))).toEqual([
        0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0,
      ]);
      await expect(model.copyCacheRows(src, dst, [{ from: 0, to: [0] }], 5)).rejects.toThrow(/5 > 4/);
      await expect(model.copyCacheRows(src, dst, [{ from: 0, to: [3] }], 4)).rejects.toThrow(/row 3/);
      await expect(model.copyCacheRows(dst, dst, [{ from: 0, to: [1] }], 4)).rejects.toThrow(
        /two live caches/,
      );
    } finally {
      src.dispose();
      dst.dispose();
    }
  });
});
