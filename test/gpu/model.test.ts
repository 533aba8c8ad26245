// GpuModel against the CPU reference (ref/model.ts qwen2Forward) and the transformers goldens, on both
// fixture models and on a random model with awkward sizes: ids, mixture, dense and embeds inputs, a
// padded batch, LoRA on/off, hidden states, GPU log-probs/entropy; then KV-cache decoding.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Qwen2Config } from '../../src/engine/config.ts';
import type { EngineDevice } from '../../src/engine/gpu/device.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { loadLoraAdapter } from '../../src/engine/model/lora.ts';
import { parseSafetensors } from '../../src/engine/model/safetensors.ts';
import { subSource } from '../../src/engine/model/source.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import { entropyForward, gatherLogprobsForward } from '../../src/engine/ref/logits.ts';
import { type LoraWeights, type ModelInput, qwen2Forward, RefKvCache } from '../../src/engine/ref/model.ts';
import { sampleToken } from '../../src/engine/sampling.ts';
import { tensor, type WeightMap } from '../../src/engine/tensor.ts';
import { HF_GOLDEN_DIR, TINY_MODELS } from '../helpers/fixtures.ts';
import { expectClose, randomFloats, randomInts, testDevice } from '../helpers/gpu.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

let dev: EngineDevice;
beforeAll(async () => {
  dev = await testDevice();
});

/** Random LoRA pairs on every projection of every layer (non-zero B, so the adapter changes logits). */
function randomLora(config: Qwen2Config, r: number, seed: number): LoraWeights {
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
  } = config;
  const shapes: Record<string, [number, number]> = {
    'self_attn.q_proj': [H * D, C],
    'self_attn.k_proj': [KVH * D, C],
    'self_attn.v_proj': [KVH * D, C],
    'self_attn.o_proj': [C, H * D],
    'mlp.gate_proj': [I, C],
    'mlp.up_proj': [I, C],
    'mlp.down_proj': [C, I],
  };
  const layers = new Map<string, { A: ReturnType<typeof tensor>; B: ReturnType<typeof tensor> }>();
  let s = seed;
  for (let l = 0; l < config.numHiddenLayers; l++) {
    for (const [m, [OC, IC]] of Object.entries(shapes)) {
      layers.set(`model.layers.${l}.${m}.weight`, {
        A: tensor([r, IC], randomFloats(r * IC, s++, 0.2)),
        B: tensor([OC, r], randomFloats(OC * r, s++, 0.2)),
      });
    }
  }
  return { r, scale: 1.5, layers };
}

/** HF-style left padding: row b has `lens[b]` real tokens at the right end of T. */
function leftPadded(lens: number[], T: number, V: number, seed: number) {
  const B = lens.length;
  const ids = Array.from(randomInts(B * T, seed, V));
  const mask: number[] = [];
  const pos: number[] = [];
  for (let b = 0; b < B; b++) {
    const pad = T - lens[b];
    for (let t = 0; t < T; t++) {
      if (t < pad) ids[b * T + t] = 0;
      mask.push(t < pad ? 0 : 1);
      pos.push(Math.max(0, t - pad));
    }
  }
  return { ids, mask, pos };
}

interface Subject {
  name: string;
  config: Qwen2Config;
  weights: WeightMap;
  adapter: LoraWeights | null;
  golden: Map<string, { data: Float32Array; shape: number[] }> | null;
}

async function fixture(name: string): Promise<Subject> {
  const dir = join(HF_GOLDEN_DIR, name);
  const source = new DirModelSource(dir);
  const { config, weights } = await loadModel(source);
  const adapter = await loadLoraAdapter(subSource(source, 'adapter'), config);
  const golden = parseSafetensors(readFileSync(join(dir, 'golden.safetensors')), 'golden.safetensors');
  return { name, config, weights, adapter, golden };
}

function awkward(): Subject {
  const config = tinyConfig(); // V=101, C=36, I=50, H=6, KVH=2, D=6
  return {
    name: 'random awkward',
    config,
    weights: initQwen2Weights(config, 7, 0.2, 0.1),
    adapter: null,
    golden: null,
  };
}

const subjects: (() => Promise<Subject>)[] = [
  ...TINY_MODELS.map((n) => () => fixture(n)),
  async () => awkward(),
];

describe.each(subjects.map((s, i) => [i, s] as const))(
  'GpuModel forward vs reference (subject %i)',
  (_i, load) => {
    let s: Subject;
    let model: GpuModel;
    let ref: { config: Qwen2Config; weights: WeightMap };
    const B = 2;
    const T = 7;

    beforeAll(async () => {
      s = await load();
      ref = { config: s.config, weights: s.weights };
      model = await GpuModel.create(dev, s.config, s.weights, s.adapter ?? randomLora(s.config, 3, 99));
    });
    afterAll(() => model?.dispose());

    it('ids: logits and every hidden state; GPU log-probs and entropy', async () => {
      const V = s.config.vocabSize;
      const ids = Array.from(randomInts(B * T, 1, V));
      const targets = Array.from(randomInts(B * T, 2, V));
      const want = qwen2Forward(ref, { kind: 'ids', ids }, B, T, { hiddenStates: true });
      const got = await model.forward({ kind: 'ids', ids }, B, T, {
        hiddenStates: true,
        targets,
        entropy: true,
      });
      expectClose(`${s.name} logits`, got.logits, want.logits);
      expectClose('hidden.embed', got.hidden!.embed, want.hidden!.embed);
      want.hidden!.layers.forEach((h, l) => {
        expectClose(`hidden.layer${l}`, got.hidden!.layers[l], h);
      });
      expectClose('hidden.final_norm', got.hidden!.finalNorm, want.hidden!.finalNorm);
      const logp = new Float32Array(B * T);
      gatherLogprobsForward(logp, want.logits, targets, B * T, V);
      const ent = new Float32Array(B * T);
      entropyForward(ent, want.logits, B * T, V);
      expectClose('logprobs', got.logprobs!, logp);
      expectClose('entropy', got.entropy!, ent);
    });

    it('matches the transformers goldens (ids, padded, mix, dense, lora)', async () => {
      const g = s.golden;
      if (!g) return;
      const [gB, gT] = g.get('ids')!.shape;
      const V = s.config.vocabSize;
      const ids = g.get('ids')!.data;
      expectClose(
        'golden logits',
        (await model.forward({ kind: 'ids', ids }, gB, gT)).logits,
        g.get('logits')!.data,
      );
      const lora = await model.forward({ kind: 'ids', ids }, gB, gT, { lora: true });
      expectClose('golden lora.logits', lora.logits, g.get('lora.logits')!.data);
      const mask = g.get('padded.attention_mask')!.data;
      const padded = await model.forward({ kind: 'ids', ids: g.get('padded.ids')!.data }, gB, gT, {
        attentionMask: mask,
        positionIds: g.get('padded.position_ids')!.data,
      });
      // transformers' sdpa leaves NaN over the whole left-padded row (see src/check/parity.ts); the
      // reference test below covers that row. Here: the positions the golden defines.
      const wantPadded = g.get('padded.logits')!.data;
      expectClose(
        'golden padded.logits',
        padded.logits,
        wantPadded,
        1e-4,
        (i) => mask[Math.floor(i / V)] === 1 && Number.isFinite(wantPadded[i]),
      );
      const mix = g.get('mix.ids')!;
      const mixIn: ModelInput = {
        kind: 'mixture',
        ids: mix.data,
        weights: g.get('mix.weights')!.data,
        k: mix.shape[2],
      };
      expectClose(
        'golden mix.logits',
        (await model.forward(mixIn, gB, gT)).logits,
        g.get('mix.logits')!.data,
      );
      const probs = g.get('dense.probs')!;
      const dense = await model.forward({ kind: 'dense', probs: probs.data }, probs.shape[0], probs.shape[1]);
      expectClose('golden dense.logits', dense.logits, g.get('dense.logits')!.data);
    });

    it('mixture, dense and embeds inputs', async () => {
      const { vocabSize: V, hiddenSize: C } = s.config;
      const k = 3;
      const mixIds = Array.from(randomInts(B * T * k, 3, V));
      const mixW = Array.from(randomFloats(B * T * k, 4), Math.abs);
      const mixture: ModelInput = { kind: 'mixture', ids: mixIds, weights: mixW, k };
      expectClose(
        'mixture logits',
        (await model.forward(mixture, B, T)).logits,
        qwen2Forward(ref, mixture, B, T).logits,
      );
      const probs = randomFloats(B * T * V, 5).map(Math.abs);
      const dense: ModelInput = { kind: 'dense', probs };
      expectClose(
        'dense logits',
        (await model.forward(dense, B, T)).logits,
        qwen2Forward(ref, dense, B, T).logits,
      );
      const embeds: ModelInput = { kind: 'embeds', embeds: randomFloats(B * T * C, 6) };
      expectClose(
        'embeds logits',
        (await model.forward(embeds, B, T)).logits,
        qwen2Forward(ref, embeds, B, T).logits,
      );
    });

    it('padded batch with attention mask and position ids (compared where mask = 1)', async () => {
      const V = s.config.vocabSize;
      const { ids, mask, pos } = leftPadded([T, 4], T, V, 7);
      const opts = { attentionMask: mask, positionIds: pos };
      const want = qwen2Forward(ref, { kind: 'ids', ids }, B, T, opts).logits;
      const got = (await model.forward({ kind: 'ids', ids }, B, T, opts)).logits;
      expectClose('padded logits', got, want, 1e-4, (i) => mask[Math.floor(i / V)] === 1);
    });

    it('LoRA on differs from the base model and matches the reference; off = base', async () => {
      const lora = s.adapter ?? randomLora(s.config, 3, 99);
      const V = s.config.vocabSize;
      const ids = Array.from(randomInts(B * T, 8, V));
      const input: ModelInput = { kind: 'ids', ids };
      const wantOn = qwen2Forward(ref, input, B, T, { lora }).logits;
      const wantOff = qwen2Forward(ref, input, B, T).logits;
      const on = (await model.forward(input, B, T, { lora: true })).logits;
      const off = (await model.forward(input, B, T, { lora: false })).logits;
      expectClose('lora on', on, wantOn);
      expectClose('lora off', off, wantOff);
      let diff = 0;
      for (let i = 0; i < on.length; i++) diff = Math.max(diff, Math.abs(on[i] - off[i]));
      expect(diff).toBeGreaterThan(1e-3);
    });
  },
);

describe.each(subjects.map((s, i) => [i, s] as const))(
  'GpuModel KV-cache decoding (subject %i)',
  (_i, load) => {
    let s: Subject;
    let model: GpuModel;
    let ref: { config: Qwen2Config; weights: WeightMap };

    beforeAll(async () => {
      s = await load();
      ref = { config: s.config, weights: s.weights };
      model = await GpuModel.create(dev, s.config, s.weights, s.adapter ?? randomLora(s.config, 3, 99));
    });
    afterAll(() => model?.dispose());

    for (const lora of [false, true]) {
      it(`prefill + one-token steps give the full forward's logits at every step (lora ${lora})`, async () => {
        const V = s.config.vocabSize;
        const B = 2;
        const T = 11;
        const prefill = 4;
        const ids = Array.from(randomInts(B * T, 20, V));
        const full = (await model.forward({ kind: 'ids', ids }, B, T, { lora })).logits;
        const rowsAt = (from: Float32Array, t: number, width: number) => {
          const out = new Float32Array(B * width * V);
          for (let b = 0; b < B; b++)
            out.set(from.subarray((b * T + t) * V, (b * T + t + width) * V), b * width * V);
          return out;
        };
        const cache = model.createKvCache(B, 16);
        const pre: number[] = [];
        for (let b = 0; b < B; b++) pre.push(...ids.slice(b * T, b * T + prefill));
        const first = (await model.forward({ kind: 'ids', ids: pre }, B, prefill, { cache, lora })).logits;
        expectClose('prefill', first, rowsAt(full, 0, prefill));
        for (let t = prefill; t < T; t++) {
          const step = [ids[t], ids[T + t]];
          if (t % 2 === 0) {
            const got = (await model.forward({ kind: 'ids', ids: step }, B, 1, { cache, lora })).logits;
            expectClose(`forward step ${t}`, got, rowsAt(full, t, 1));
          } else {
            const next = await model.decode(cache, { kind: 'ids', ids: step }, 1, {
              greedy: true,
              temperature: 0,
              seed: 0,
              step: t,
              lora,
            });
            const logits = await model.readDecodeLogits();
            const want = rowsAt(full, t, 1);
            expectClose(`decode step ${t}`, logits, want);
            for (let b = 0; b < B; b++) {
              let best = 0;
              for (let v = 1; v < V; v++) if (logits[b * V + v] > logits[b * V + best]) best = v;
              expect(next[b]).toBe(best);
            }
          }
        }
        expect(cache.length).toBe(T);
        cache.dispose();
      });
    }

    it('a left-padded batch decodes the same as each row alone (greedy, 4 steps)', async () => {
      const V = s.config.vocabSize;
      const lens = [6, 3, 5];
      const T = 6;
      const B = lens.length;
      const { ids, mask, pos } = leftPadded(lens, T, V, 30);
      const steps = 4;
      // Batched: prefill with padding, then greedy decode steps at each row's own position.
      const cache = model.createKvCache(B, T + steps);
      let next = await model.decode(cache, { kind: 'ids', ids }, T, {
        attentionMask: mask,
        positionIds: pos,
        greedy: true,
        temperature: 0,
        seed: 0,
        step: 0,
      });
      const batched: number[][] = lens.map(() => []);
      const batchedLogits: Float32Array[] = [await model.readDecodeLogits()];
      for (let s2 = 0; s2 < steps; s2++) {
        next.forEach((id, b) => {
          batched[b].push(id);
        });
        const stepPos = lens.map((l) => l + s2);
        next = await model.decode(cache, { kind: 'ids', ids: Array.from(next) }, 1, {
          positionIds: stepPos,
          greedy: true,
          temperature: 0,
          seed: 0,
          step: s2 + 1,
        });
        batchedLogits.push(await model.readDecodeLogits());
      }
      cache.dispose();
      // Each row alone, no padding.
      for (let b = 0; b < B; b++) {
        const own = ids.slice(b * T + (T - lens[b]), (b + 1) * T);
        const c1 = model.createKvCache(1, lens[b] + steps);
        let id = await model.decode(c1, { kind: 'ids', ids: own }, lens[b], {
          greedy: true,
          temperature: 0,
          seed: 0,
          step: 0,
        });
        expectClose(
          `row ${b} prefill logits`,
          await model.readDecodeLogits(),
          batchedLogits[0].subarray(b * V, (b + 1) * V),
        );
        for (let s2 = 0; s2 < steps; s2++) {
          expect(id[0], `row ${b} step ${s2}`).toBe(batched[b][s2]);
          id = await model.decode(c1, { kind: 'ids', ids: [id[0]] }, 1, {
            greedy: true,
            temperature: 0,
            seed: 0,
            step: s2 + 1,
          });
          expectClose(
            `row ${b} step ${s2} logits`,
            await model.readDecodeLogits(),
            batchedLogits[s2 + 1].subarray(b * V, (b + 1) * V),
          );
        }
        c1.dispose();
      }
      // And the reference agrees with the batched logits of the prefill.
      const refCache = new RefKvCache(s.config, B, T + steps);
      const refLogits = qwen2Forward(ref, { kind: 'ids', ids }, B, T, {
        cache: refCache,
        attentionMask: mask,
        positionIds: pos,
      }).logits;
      for (let b = 0; b < B; b++)
        expectClose(
          `ref row ${b}`,
          batchedLogits[0].subarray(b * V, (b + 1) * V),
          refLogits.subarray((b * T + T - 1) * V, (b * T + T) * V),
        );
    });

    it('sampled decode (mixture input) equals the CPU sampler on the same logits', async () => {
      const V = s.config.vocabSize;
      const B = 4;
      const k = 2;
      const cache = model.createKvCache(B, 4);
      const input: ModelInput = {
        kind: 'mixture',
        ids: Array.from(randomInts(B * k, 40, V)),
        weights: [0.7, 0.3, 0.5, 0.5, 1, 0, 0.2, 0.8],
        k,
      };
      for (let step = 0; step < 3; step++) {
        const ids = await model.decode(cache, input, 1, {
          greedy: false,
          temperature: 0.8,
          seed: 1234,
          step,
        });
        const logits = await model.readDecodeLogits();
        for (let b = 0; b < B; b++) {
          expect(ids[b]).toBe(
            sampleToken(logits, b * V, V, { greedy: false, temperature: 0.8, seed: 1234, row: b, step }),
          );
        }
      }
      cache.dispose();
    });
  },
);

describe('GpuModel housekeeping', () => {
  it('rejects bad input with EngineError, keeps the cache length, and releases everything on dispose', async () => {
    const s = awkward();
    const model = await GpuModel.create(dev, s.config, s.weights);
    const cache = model.createKvCache(1, 4);
    await expect(model.forward({ kind: 'ids', ids: [1, 2000] }, 1, 2, { cache })).rejects.toMatchObject({
      code: 'invalid-argument',
    });
    expect(cache.length).toBe(0);
    await expect(model.forward({ kind: 'ids', ids: [1] }, 1, 1, { lora: true })).rejects.toMatchObject({
      code: 'invalid-argument',
    });
    await expect(model.forward({ kind: 'ids', ids: [1, 2, 3, 4, 5] }, 1, 5, { cache })).rejects.toMatchObject(
      { code: 'invalid-argument' },
    );
    await model.forward({ kind: 'ids', ids: [1, 2] }, 1, 2, { cache });
    expect(cache.length).toBe(2);
    const info = model.ctx.pool.info();
    expect(info.inUse).toBeGreaterThan(0);
    model.dispose();
    expect(model.ctx.pool.info().live).toBe(0);
    await expect(model.forward({ kind: 'ids', ids: [1] }, 1, 1)).rejects.toMatchObject({
      code: 'not-loaded',
    });
  });
});
