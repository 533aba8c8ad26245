import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseQwen2Config, type Qwen2Config } from '../../src/engine/config.ts';
import { EngineError } from '../../src/engine/errors.ts';
import {
  type LoraAdapter,
  loadLoraAdapter,
  loraFileKey,
  mergeLora,
  parseLoraAdapter,
  writeLoraAdapter,
} from '../../src/engine/model/lora.ts';
import { parseSafetensors, writeSafetensors } from '../../src/engine/model/safetensors.ts';
import { MemoryModelSource } from '../../src/engine/model/source.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import type { HostTensor } from '../../src/engine/tensor.ts';
import { HF_GOLDEN_DIR, requireFixtures, TINY_MODELS } from '../helpers/fixtures.ts';
import { entry, mutateHeader, readFixture } from '../helpers/malformed.ts';

requireFixtures();
const dirOf = (m: string) => resolve(HF_GOLDEN_DIR, m);
const configOf = (m: string): Qwen2Config =>
  parseQwen2Config(JSON.parse(readFileSync(join(dirOf(m), 'config.json'), 'utf8')));
const adapterConfig = (m: string) =>
  JSON.parse(readFileSync(join(dirOf(m), 'adapter/adapter_config.json'), 'utf8')) as Record<string, unknown>;
const adapterBytes = (m: string) => readFixture(m, 'adapter/adapter_model.safetensors');
const MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

function expectAdapterError(
  fn: () => unknown,
  code = 'adapter-invalid',
  file?: string,
  tensor?: string,
): EngineError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(EngineError);
  const e = caught as EngineError;
  expect(e.code).toBe(code);
  if (file) {
    expect(e.file).toBe(file);
    expect(e.message).toContain(file);
  }
  if (tensor) {
    expect(e.tensor).toBe(tensor);
    expect(e.message).toContain(tensor);
  }
  return e;
}

function withConfig(m: string, edit: (c: Record<string, unknown>) => void): () => LoraAdapter {
  const c = adapterConfig(m);
  edit(c);
  return () => parseLoraAdapter(c, adapterBytes(m), configOf(m));
}

describe('loadLoraAdapter on the fixtures', () => {
  for (const m of TINY_MODELS) {
    it(`${m}: r=4, alpha=8, scale=2, every projection of every layer`, async () => {
      const cfg = configOf(m);
      const a = await loadLoraAdapter(new DirModelSource(join(dirOf(m), 'adapter')), cfg);
      expect(a.r).toBe(4);
      expect(a.alpha).toBe(8);
      expect(a.scale).toBe(2);
      expect(a.useRslora).toBe(false);
      expect([...a.targetModules].sort()).toEqual([...MODULES].sort());
      expect(a.layers.size).toBe(MODULES.length * cfg.numHiddenLayers);
      const base = await loadModel(new DirModelSource(dirOf(m)));
      for (const [name, { A, B }] of a.layers) {
        const [out, inp] = base.weights.get(name)!.shape;
        expect(A.shape).toEqual([4, inp]);
        expect(B.shape).toEqual([out, 4]);
        expect(B.data.some((v) => v !== 0)).toBe(true);
      }
      const file = parseSafetensors(adapterBytes(m), 'adapter_model.safetensors');
      const q = 'model.layers.1.self_attn.q_proj.weight';
      expect([...a.layers.get(q)!.A.data]).toEqual([
        ...file.get(`base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight`)!.data,
      ]);
    });
  }

  it('accepts in-memory key names (with .default, without base_model.model.)', () => {
    const m = 'qwen2-tiny-a';
    const t = parseSafetensors(adapterBytes(m), 'adapter_model.safetensors');
    const renamed = new Map<string, HostTensor>();
    for (const [k, v] of t)
      renamed.set(k.replace(/^base_model\.model\./, '').replace(/\.weight$/, '.default.weight'), v);
    expect([...renamed.keys()]).toContain('model.layers.0.self_attn.q_proj.lora_A.default.weight');
    const a = parseLoraAdapter(adapterConfig(m), writeSafetensors(renamed), configOf(m));
    const b = parseLoraAdapter(adapterConfig(m), adapterBytes(m), configOf(m));
    expect([...a.layers.keys()]).toEqual([...b.layers.keys()]);
    expect([...a.layers.get('model.layers.1.mlp.down_proj.weight')!.B.data]).toEqual([
      ...b.layers.get('model.layers.1.mlp.down_proj.weight')!.B.data,
    ]);
  });

  it('use_rslora scales by alpha / sqrt(r)', () => {
    const a = withConfig('qwen2-tiny-a', (c) => (c.use_rslora = true))();
    expect(a.scale).toBe(4);
    expect(a.useRslora).toBe(true);
  });
});

describe('writeLoraAdapter', () => {
  for (const m of TINY_MODELS) {
    it(`${m}: writes the fixture's adapter_model.safetensors byte for byte and reloads`, async () => {
      const cfg = configOf(m);
      const a = await loadLoraAdapter(new DirModelSource(join(dirOf(m), 'adapter')), cfg);
      const out = writeLoraAdapter(a, 'tiny/base');
      expect(Buffer.compare(Buffer.from(out.safetensors), Buffer.from(adapterBytes(m)))).toBe(0);
      const json = JSON.parse(out.configJson) as Record<string, unknown>;
      expect(json.peft_type).toBe('LORA');
      expect(json.r).toBe(4);
      expect(json.lora_alpha).toBe(8);
      expect(json.base_model_name_or_path).toBe('tiny/base');
      const back = await loadLoraAdapter(
        new MemoryModelSource({
          'adapter_config.json': out.configJson,
          'adapter_model.safetensors': out.safetensors,
        }),
        cfg,
      );
      expect(back.scale).toBe(a.scale);
      expect(back.baseModelName).toBe('tiny/base');
      expect(back.targetModules).toEqual(a.targetModules);
      expect([...back.layers.keys()]).toEqual([...a.layers.keys()]);
      for (const [k, { A, B }] of a.layers) {
        expect([...back.layers.get(k)!.A.data]).toEqual([...A.data]);
        expect([...back.layers.get(k)!.B.data]).toEqual([...B.data]);
      }
    });
  }

  it('names keys as peft saves them', () => {
    expect(loraFileKey('model.layers.3.mlp.up_proj.weight', 'B')).toBe(
      'base_model.model.model.layers.3.mlp.up_proj.lora_B.weight',
    );
  });
});

describe('mergeLora', () => {
  it('computes W + scale · B · A on a small example', () => {
    const weights = new Map<string, HostTensor>([
      ['w', { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) }],
      ['other', { shape: [1], data: new Float32Array([9]) }],
    ]);
    const adapter: LoraAdapter = {
      r: 1,
      alpha: 2,
      scale: 2,
      useRslora: false,
      targetModules: ['w'],
      layers: new Map([
        [
          'w',
          {
            A: { shape: [1, 3], data: new Float32Array([1, 0, -1]) },
            B: { shape: [2, 1], data: new Float32Array([0.5, 2]) },
          },
        ],
      ]),
    };
    const merged = mergeLora(weights, adapter);
    expect([...merged.get('w')!.data]).toEqual([2, 2, 2, 8, 5, 2]);
    expect([...weights.get('w')!.data]).toEqual([1, 2, 3, 4, 5, 6]); // input untouched
    expect(merged.get('other')).toBe(weights.get('other'));
  });

  it('merges the fixture adapter into the fixture model', async () => {
    const m = 'qwen2-tiny-c';
    const base = await loadModel(new DirModelSource(dirOf(m)));
    const a = await loadLoraAdapter(new DirModelSource(join(dirOf(m), 'adapter')), base.config);
    const merged = mergeLora(base.weights, a);
    const name = 'model.layers.1.self_attn.k_proj.weight';
    const W = base.weights.get(name)!;
    const { A, B } = a.layers.get(name)!;
    const [out, inp] = W.shape;
    for (const [i, j] of [
      [0, 0],
      [out - 1, inp - 1],
      [17, 99],
    ]) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += B.data[i * 4 + k] * A.data[k * inp + j];
      expect(merged.get(name)!.data[i * inp + j]).toBeCloseTo(W.data[i * inp + j] + 2 * s, 6);
    }
    expect(merged.get(name)!.data.some((v, i) => v !== W.data[i])).toBe(true);
    expect(merged.get('model.norm.weight')).toBe(base.weights.get('model.norm.weight'));
  });
});

describe('adapters refused', () => {
  const m = 'qwen2-tiny-a';
  const F = 'adapter_model.safetensors';

  it('DoRA, bias, modules_to_save, rank_pattern, other peft types', () => {
    expect(
      expectAdapterError(
        withConfig(m, (c) => (c.use_dora = true)),
        'adapter-invalid',
        'adapter_config.json',
      ).message,
    ).toContain('DoRA');
    expect(expectAdapterError(withConfig(m, (c) => (c.bias = 'all'))).message).toContain('bias');
    expect(expectAdapterError(withConfig(m, (c) => (c.modules_to_save = ['lm_head']))).message).toContain(
      'modules_to_save',
    );
    expect(expectAdapterError(withConfig(m, (c) => (c.rank_pattern = { q_proj: 8 }))).message).toContain(
      'rank_pattern',
    );
    expect(expectAdapterError(withConfig(m, (c) => (c.peft_type = 'IA3'))).message).toContain('IA3');
  });

  it('a tensor with the wrong shape, naming it', () => {
    const key = 'base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight';
    const bad = mutateHeader(adapterBytes(m), (h) => {
      entry(h, key).shape = [8, 64];
    });
    const e = expectAdapterError(
      () => parseLoraAdapter(adapterConfig(m), bad, configOf(m)),
      'adapter-invalid',
      F,
      key,
    );
    expect(e.message).toContain('[4, 128]');
    // r in the config disagrees with the tensors
    expectAdapterError(
      withConfig(m, (c) => (c.r = 8)),
      'adapter-invalid',
      F,
    );
  });

  it('a lone A without its B, and a module not in target_modules', () => {
    const t = parseSafetensors(adapterBytes(m), F);
    t.delete('base_model.model.model.layers.1.mlp.up_proj.lora_B.weight');
    expectAdapterError(
      () => parseLoraAdapter(adapterConfig(m), writeSafetensors(t), configOf(m)),
      'adapter-invalid',
      F,
      'base_model.model.model.layers.1.mlp.up_proj.lora_B.weight',
    );
    const narrow = withConfig(m, (c) => (c.target_modules = ['q_proj', 'v_proj']));
    expect(expectAdapterError(narrow, 'adapter-invalid', F).message).toContain('target_modules');
  });

  it('DoRA magnitude tensors and targets the model does not have', () => {
    const t = parseSafetensors(adapterBytes(m), F);
    const dora = new Map(t);
    dora.set('base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector', {
      dtype: 'F32',
      shape: [128],
      data: new Float32Array(128),
    });
    expectAdapterError(
      () => parseLoraAdapter(adapterConfig(m), writeSafetensors(dora), configOf(m)),
      'adapter-invalid',
      F,
    );
    const ghost = new Map(t);
    const key = 'base_model.model.model.layers.5.self_attn.q_proj.lora_A.weight';
    ghost.set(key, { dtype: 'F32', shape: [4, 128], data: new Float32Array(512) });
    expectAdapterError(
      () => parseLoraAdapter(adapterConfig(m), writeSafetensors(ghost), configOf(m)),
      'adapter-invalid',
      F,
      key,
    );
  });

  it('missing or malformed files', async () => {
    const cfg = configOf(m);
    let e = await loadLoraAdapter(
      new MemoryModelSource({ 'adapter_model.safetensors': adapterBytes(m) }),
      cfg,
    ).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).code).toBe('file-missing');
    expect((e as EngineError).file).toBe('adapter_config.json');
    e = await loadLoraAdapter(new MemoryModelSource({ 'adapter_config.json': '{"r": 4' }), cfg).catch(
      (x: unknown) => x,
    );
    expect((e as EngineError).code).toBe('adapter-invalid');
    e = await loadLoraAdapter(
      new MemoryModelSource({ 'adapter_config.json': JSON.stringify(adapterConfig(m)) }),
      cfg,
    ).catch((x: unknown) => x);
    expect((e as EngineError).code).toBe('file-missing');
    expect((e as EngineError).file).toBe('adapter_model.safetensors');
  });
});
