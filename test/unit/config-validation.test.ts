// Issue 15, "validate before allocating": config.json is checked field by field (type, finiteness,
// integer-ness, CONFIG_BOUNDS) before anything is sized from it, settings the engine does not implement are
// refused by name, the config is checked against each weights file's header before its tensors are decoded,
// and every weight is checked for NaN / ±Infinity as it is loaded (whole-file and streaming paths).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_BOUNDS,
  expectedParameters,
  parseQwen2Config,
  type Qwen2Config,
} from '../../src/engine/config.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { writeSafetensors } from '../../src/engine/model/safetensors.ts';
import { MemoryModelSource, type ModelSource } from '../../src/engine/model/source.ts';
import { openModelStream } from '../../src/engine/model/stream.ts';
import { firstNonFinite, firstNonFiniteHalf, loadModel } from '../../src/engine/model/weights.ts';
import { fitReport } from '../../src/store/lib/memoryFit.ts';
import { DEFAULT_SETTINGS } from '../../src/store/settings.ts';
import type { AdapterInfo } from '../../src/worker/api.ts';
import { halfSafetensors } from '../helpers/halfModel.ts';

const base = {
  model_type: 'qwen2',
  vocab_size: 101,
  hidden_size: 36,
  intermediate_size: 50,
  num_hidden_layers: 2,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  max_position_embeddings: 64,
  bos_token_id: 1,
  eos_token_id: 2,
  pad_token_id: 0,
};
const config = parseQwen2Config(base);
const weights = initQwen2Weights(config, 11, 0.3, 0.1);

/** The config-invalid error parseQwen2Config throws for `base` with `edit` applied (fails if none). */
function refusal(edit: Record<string, unknown>): EngineError {
  let caught: unknown;
  try {
    parseQwen2Config({ ...base, ...edit });
  } catch (e) {
    caught = e;
  }
  expect(caught, JSON.stringify(edit)).toBeInstanceOf(EngineError);
  const e = caught as EngineError;
  expect(e.code).toBe('config-invalid');
  expect(e.file).toBe('config.json');
  expect(e.message).not.toContain('\n');
  return e;
}

function expectRefusedNaming(edit: Record<string, unknown>, field: string): void {
  expect(refusal(edit).message).toContain(`"${field}"`);
}

async function caught(p: Promise<unknown>): Promise<EngineError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(EngineError);
  return e as EngineError;
}

describe('config.json sizes are bounded before anything is built from them', () => {
  it('absurd layer counts (1e9, 2^31, 2^32+1) fail at once, naming the field', () => {
    for (const layers of [1e9, 2 ** 31, 2 ** 32 + 1, 1e6, CONFIG_BOUNDS.num_hidden_layers + 1]) {
      const t0 = performance.now();
      expectRefusedNaming({ num_hidden_layers: layers }, 'num_hidden_layers');
      expect(performance.now() - t0).toBeLessThan(100);
    }
  });

  it('every size field: type, integer-ness, finiteness and range', () => {
    const fields = Object.keys(CONFIG_BOUNDS) as (keyof typeof CONFIG_BOUNDS)[];
    for (const field of fields) {
      for (const bad of [0, -1, 1.5, '64', true, [4], 1e308, CONFIG_BOUNDS[field] + 1]) {
        expectRefusedNaming({ [field]: bad }, field);
      }
    }
    // null means "not set" only where transformers allows it (head_dim); elsewhere it is refused.
    expectRefusedNaming({ hidden_size: null }, 'hidden_size');
    expect(parseQwen2Config({ ...base, head_dim: null }).headDim).toBe(6);
  });

  it('the bounds admit the released Qwen2 / Qwen2.5 shapes', () => {
    for (const f of ['qwen2.5-0.5b.config.json', 'qwen2.5-1.5b.config.json']) {
      const raw = JSON.parse(readFileSync(new URL(`../fixtures-local/${f}`, import.meta.url), 'utf8'));
      expect(parseQwen2Config(raw).vocabSize).toBe(151936);
    }
    // Qwen2-72B as its config.json on the Hub has it (sliding window present but off, rope_scaling null).
    const big = parseQwen2Config({
      model_type: 'qwen2',
      vocab_size: 152064,
      hidden_size: 8192,
      intermediate_size: 29568,
      num_hidden_layers: 80,
      num_attention_heads: 64,
      num_key_value_heads: 8,
      max_position_embeddings: 131072,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      rope_scaling: null,
      sliding_window: 131072,
      use_sliding_window: false,
      max_window_layers: 80,
      tie_word_embeddings: false,
      bos_token_id: 151643,
      eos_token_id: [151645, 151643],
    });
    expect(big.numHiddenLayers).toBe(80);
    expect(big.eosTokenIds).toEqual([151645, 151643]);
  });

  it('expectedParameters refuses a config built in code outside the bounds, without building a list', () => {
    const absurd: Qwen2Config = { ...config, numHiddenLayers: 1e9 };
    const t0 = performance.now();
    expect(() => expectedParameters(absurd)).toThrow(expect.objectContaining({ code: 'config-invalid' }));
    expect(() => expectedParameters({ ...config, vocabSize: Number.NaN })).toThrow(/vocab_size/);
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it("the page's memory-fit check refuses 1e6 layers promptly", () => {
    const gpu = {
      backend: 'webgpu',
      maxBufferSize: 2 ** 30,
      maxStorageBufferBindingSize: 2 ** 30,
    } as AdapterInfo;
    for (const adapter of [gpu, null]) {
      const t0 = performance.now();
      const fit = fitReport({ ...config, numHiddenLayers: 1e6 }, adapter, DEFAULT_SETTINGS.memory);
      expect(performance.now() - t0).toBeLessThan(200);
      expect(fit.fits).toBe(false);
      expect(fit.trainingFits).toBe(false);
      expect(fit.problems.join(' ')).toContain('num_hidden_layers');
    }
    const normal = fitReport(config, gpu, DEFAULT_SETTINGS.memory);
    expect(normal.parameters).toBeGreaterThan(0);
    expect(normal.problems.join(' ')).not.toContain('out of range');
  });
});

describe('config.json values the engine would misread are refused', () => {
  it('a value nested 20,000 lists deep is refused by name, not a RangeError (found by the fuzz suite)', () => {
    const deep = JSON.parse(`${'['.repeat(20_000)}1${']'.repeat(20_000)}`);
    for (const field of ['hidden_size', 'rope_theta', 'rms_norm_eps'])
      expect(() => parseQwen2Config({ ...base, [field]: deep })).toThrow(
        expect.objectContaining({ code: 'config-invalid', message: expect.stringContaining(`"${field}"`) }),
      );
  });

  it('rope_theta: non-numeric, zero, negative or infinite, at the top level or in rope_parameters', () => {
    for (const bad of ['1e6', 0, -10000, null, Number.POSITIVE_INFINITY, {}])
      expectRefusedNaming({ rope_theta: bad }, 'rope_theta');
    const { rope_theta: _, ...noTheta } = base;
    const inParams = (v: unknown) => ({ ...noTheta, rope_theta: undefined, rope_parameters: v });
    expect(() => parseQwen2Config(inParams({ rope_type: 'default', rope_theta: 'x' }))).toThrow(
      /rope_parameters\.rope_theta/,
    );
    expect(() => parseQwen2Config(inParams('yes'))).toThrow(/rope_parameters/);
    expect(parseQwen2Config(inParams({ rope_type: 'default', rope_theta: 5e5 })).ropeTheta).toBe(5e5);
    // Absent everywhere: transformers' default.
    expect(parseQwen2Config(noTheta).ropeTheta).toBe(10000);
  });

  it('rms_norm_eps: zero, negative, non-numeric or over 1', () => {
    for (const bad of [0, -1e-6, '1e-6', null, 2]) expectRefusedNaming({ rms_norm_eps: bad }, 'rms_norm_eps');
    expect(parseQwen2Config({ ...base, rms_norm_eps: 1e-5 }).rmsNormEps).toBe(1e-5);
  });

  it('rope_scaling (any but the default) and an enabled sliding window are refused by name', () => {
    for (const scaling of [
      { type: 'linear', factor: 2 },
      { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768 },
      { type: 'mrope', mrope_section: [16, 24, 24] },
      'dynamic',
      1,
      [],
    ]) {
      expectRefusedNaming({ rope_scaling: scaling }, 'rope_scaling');
    }
    expect(parseQwen2Config({ ...base, rope_scaling: null }).ropeTheta).toBe(10000);
    expect(parseQwen2Config({ ...base, rope_scaling: { rope_type: 'default' } }).ropeTheta).toBe(10000);
    expectRefusedNaming({ use_sliding_window: true, sliding_window: 4096 }, 'use_sliding_window');
    expectRefusedNaming({ use_sliding_window: 'true' }, 'use_sliding_window');
    expectRefusedNaming({ layer_types: ['full_attention', 'sliding_attention'] }, 'layer_types');
    expect(
      parseQwen2Config({ ...base, layer_types: ['full_attention', 'full_attention'] }).numHiddenLayers,
    ).toBe(base.num_hidden_layers);
  });

  it('token ids outside the vocabulary, and non-boolean flags', () => {
    expectRefusedNaming({ eos_token_id: 101 }, 'eos_token_id');
    expectRefusedNaming({ eos_token_id: [2, 5000] }, 'eos_token_id');
    expectRefusedNaming({ eos_token_id: ['2'] }, 'eos_token_id');
    expectRefusedNaming({ bos_token_id: -1 }, 'bos_token_id');
    expectRefusedNaming({ pad_token_id: 1.5 }, 'pad_token_id');
    expectRefusedNaming({ tie_word_embeddings: 'true' }, 'tie_word_embeddings');
    expectRefusedNaming({ attention_bias: 1 }, 'attention_bias');
    const ok = parseQwen2Config({ ...base, eos_token_id: [2, 100], bos_token_id: null });
    expect(ok.eosTokenIds).toEqual([2, 100]);
    expect(ok.bosTokenId).toBeNull();
  });

  it('messages stay on one line and short whatever the value', () => {
    const e = refusal({ rope_scaling: { type: 'x'.repeat(10_000) } });
    expect(e.message.length).toBeLessThan(300);
  });
});

describe('config against the weights, before any tensor is decoded', () => {
  /** A two-shard folder; the first shard holds layer 1, the second everything else. Counts file reads. */
  function shardedFolder(cfg: Record<string, unknown>) {
    const shardOf = (name: string) =>
      name.startsWith('model.layers.1.')
        ? 'model-00001-of-00002.safetensors'
        : 'model-00002-of-00002.safetensors';
    const parts = new Map<string, typeof weights>();
    const weightMap: Record<string, string> = {};
    // Layer 1 first, so that its shard is the first one read.
    const layerOneFirst = [...weights].sort(
      ([a], [b]) => Number(!shardOf(a).includes('00001')) - Number(!shardOf(b).includes('00001')),
    );
    for (const [name, t] of layerOneFirst) {
      const shard = shardOf(name);
      if (!parts.has(shard)) parts.set(shard, new Map());
      parts.get(shard)!.set(name, t);
      weightMap[name] = shard;
    }
    const files: Record<string, Uint8Array | string> = {
      'config.json': JSON.stringify(cfg),
      'model.safetensors.index.json': JSON.stringify({ weight_map: weightMap }),
    };
    for (const [shard, part] of parts) files[shard] = writeSafetensors(part);
    const mem = new MemoryModelSource(files);
    const reads: string[] = [];
    const source: ModelSource = {
      label: 'counting',
      readFile: (n) => {
        reads.push(n);
        return mem.readFile(n);
      },
      readText: (n) => mem.readText(n),
    };
    return { source, reads };
  }

  it('a shard whose header contradicts num_hidden_layers stops the load before the next shard', async () => {
    const { source, reads } = shardedFolder({ ...base, num_hidden_layers: 1 });
    const e = await caught(loadModel(source));
    expect(e.code).toBe('config-mismatch');
    expect(e.message).toContain('num_hidden_layers');
    expect(reads).not.toContain('model-00002-of-00002.safetensors');
    const ok = shardedFolder(base);
    expect((await loadModel(ok.source)).weights.size).toBe(weights.size);
  });

  it('the contradiction is reported rather than a NaN in a tensor the config does not match', async () => {
    const bad = new Map(weights);
    const norm = bad.get('model.norm.weight')!;
    bad.set('model.norm.weight', {
      shape: norm.shape,
      data: norm.data.map((v, i) => (i === 0 ? Number.NaN : v)),
    });
    const src = new MemoryModelSource({
      'config.json': JSON.stringify({ ...base, intermediate_size: 52 }),
      'model.safetensors': writeSafetensors(bad),
    });
    expect((await caught(loadModel(src))).code).toBe('config-mismatch');
  });
});

describe('weights holding NaN or ±Infinity are refused as they are loaded', () => {
  const target = 'model.layers.1.mlp.up_proj.weight';
  function poisoned(value: number, at = 7) {
    const bad = new Map(weights);
    const t = bad.get(target)!;
    const data = t.data.slice();
    data[at] = value;
    bad.set(target, { shape: t.shape, data });
    return bad;
  }
  const writers = {
    f32: (w: typeof weights) => writeSafetensors(w),
    bf16: (w: typeof weights) => halfSafetensors(w, 'BF16'),
    f16: (w: typeof weights) => halfSafetensors(w, 'F16'),
  };

  for (const [dtype, write] of Object.entries(writers)) {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      it(`${dtype} ${value}: loadModel and the stream both name the file, tensor and element`, async () => {
        const src = new MemoryModelSource({
          'config.json': JSON.stringify(base),
          'model.safetensors': write(poisoned(value)),
        });
        for (const e of [
          await caught(loadModel(src)),
          await caught(
            (async () => {
              for await (const _ of (await openModelStream(src)).tensors()) {
                // reading is the point
              }
            })(),
          ),
        ]) {
          expect(e.code).toBe('tensor-non-finite');
          expect(e.file).toBe('model.safetensors');
          expect(e.tensor).toBe(target);
          expect(e.message).toContain(target);
          expect(e.message).toContain(`${value} at element 7`);
        }
      });
    }
  }

  it('finite extremes pass: f32 max, bf16 / f16 largest finite and subnormal patterns', () => {
    expect(firstNonFinite(new Float32Array([3.4028234663852886e38, -0, 1e-45, -3.4e38]))).toBe(-1);
    expect(firstNonFinite(new Float32Array([1, 2, Number.NaN]))).toBe(2);
    expect(firstNonFiniteHalf(new Uint16Array([0x7f7f, 0xff7f, 0x0001, 0x8000]), 'bf16')).toBe(-1);
    expect(firstNonFiniteHalf(new Uint16Array([0x0000, 0xff80]), 'bf16')).toBe(1);
    expect(firstNonFiniteHalf(new Uint16Array([0x7bff, 0xfbff, 0x03ff]), 'f16')).toBe(-1);
    expect(firstNonFiniteHalf(new Uint16Array([0x7e00]), 'f16')).toBe(0);
    // bf16 0x7c00 is a finite number (2^121): the f16 mask must not be applied to it.
    expect(firstNonFiniteHalf(new Uint16Array([0x7c00]), 'bf16')).toBe(-1);
  });

  it('the check is one cheap pass (16M f32 values well under a second)', () => {
    const data = new Float32Array(16 * 2 ** 20).fill(0.5);
    const t0 = performance.now();
    expect(firstNonFinite(data)).toBe(-1);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
