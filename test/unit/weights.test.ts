import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedParameters, parseQwen2Config } from '../../src/engine/config.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { bf16BitsToF32, parseSafetensors, writeSafetensors } from '../../src/engine/model/safetensors.ts';
import {
  FileListModelSource,
  MemoryModelSource,
  subSource,
  UrlModelSource,
} from '../../src/engine/model/source.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import type { HostTensor } from '../../src/engine/tensor.ts';
import { HF_GOLDEN_DIR, requireFixtures, TINY_MODELS } from '../helpers/fixtures.ts';
import { entry, f32ToBf16Bits, mutateHeader, readFixture } from '../helpers/malformed.ts';

requireFixtures();
const dirOf = (m: string) => resolve(HF_GOLDEN_DIR, m);
const configText = (m: string) => readFileSync(join(dirOf(m), 'config.json'), 'utf8');
const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** A memory copy of a fixture model folder (config + f32 weights), with optional replacements. */
function memModel(m: string, replace: Record<string, Uint8Array | string | null> = {}): MemoryModelSource {
  const files = new Map<string, Uint8Array | string>([
    ['config.json', configText(m)],
    ['model.safetensors', readFixture(m, 'model.safetensors')],
  ]);
  for (const [k, v] of Object.entries(replace)) {
    if (v === null) files.delete(k);
    else files.set(k, v);
  }
  return new MemoryModelSource(files, `mem:${m}`);
}

function editConfig(m: string, edit: (c: Record<string, unknown>) => void): string {
  const c = JSON.parse(configText(m)) as Record<string, unknown>;
  edit(c);
  return JSON.stringify(c);
}

async function expectLoadError(
  p: Promise<unknown>,
  code: string,
  file?: string,
  tensor?: string,
): Promise<EngineError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(EngineError);
  const e = caught as EngineError;
  expect(e.code).toBe(code);
  if (file !== undefined) {
    expect(e.file).toBe(file);
    expect(e.message).toContain(file);
  }
  if (tensor !== undefined) {
    expect(e.tensor).toBe(tensor);
    expect(e.message).toContain(tensor);
  }
  return e;
}

function sameWeights(a: Map<string, HostTensor>, b: Map<string, HostTensor>): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [name, t] of a) {
    const u = b.get(name)!;
    expect(u.shape).toEqual(t.shape);
    expect(
      Buffer.compare(
        Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength),
        Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
      ),
    ).toBe(0);
  }
}

describe('loadModel on the fixtures', () => {
  for (const m of TINY_MODELS) {
    it(`${m}: loads every parameter, with the file's values`, async () => {
      const loaded = await loadModel(new DirModelSource(dirOf(m)));
      const expected = expectedParameters(loaded.config);
      expect([...loaded.weights.keys()]).toEqual([...expected.keys()]);
      for (const [name, shape] of expected) expect(loaded.weights.get(name)!.shape).toEqual(shape);
      const file = parseSafetensors(readFixture(m, 'model.safetensors'), 'model.safetensors');
      for (const [name, t] of loaded.weights)
        expect([...t.data.subarray(0, 64)]).toEqual([...file.get(name)!.data.subarray(0, 64)]);
      expect(loaded.files).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
      expect(loaded.generationConfig?.eos_token_id).toBe(2);
      expect(loaded.rawConfig.model_type).toBe('qwen2');
      expect(loaded.dtypes).toEqual(['F32']);
      expect(loaded.weights.has('lm_head.weight')).toBe(m === 'qwen2-tiny-c');
      expect(loaded.unusedTensors).toEqual([]);
    });

    it(`${m}: the bf16 file equals the f32 weights rounded to bf16`, async () => {
      const src = new DirModelSource(dirOf(m));
      const f32 = await loadModel(src);
      const bf = await loadModel(src, { weightsFile: 'model.bf16.safetensors' });
      expect(bf.dtypes).toEqual(['BF16']);
      expect(bf.files).toContain('model.bf16.safetensors');
      expect([...bf.weights.keys()]).toEqual([...f32.weights.keys()]);
      let n = 0;
      for (const [name, t] of f32.weights) {
        const b = bf.weights.get(name)!;
        expect(b.shape).toEqual(t.shape);
        for (let i = 0; i < t.data.length; i++) {
          const want = bf16BitsToF32(f32ToBf16Bits(t.data[i]));
          if (b.data[i] !== want) expect(`${name}[${i}] = ${b.data[i]}`).toBe(`${name}[${i}] = ${want}`);
          n++;
        }
      }
      expect(n).toBeGreaterThan(100_000);
      // and they do differ from f32 (so the comparison means something)
      const emb = f32.weights.get('model.embed_tokens.weight')!.data;
      expect(bf.weights.get('model.embed_tokens.weight')!.data.some((v, i) => v !== emb[i])).toBe(true);
    });
  }

  it('loads a sharded copy identically', async () => {
    const m = 'qwen2-tiny-c';
    const dir = mkdtempSync(join(tmpdir(), 'motg-shard-'));
    tmpDirs.push(dir);
    const tensors = parseSafetensors(readFixture(m, 'model.safetensors'), 'model.safetensors');
    const names = [...tensors.keys()];
    const half = Math.ceil(names.length / 2);
    const shardNames = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap: Record<string, string> = {};
    shardNames.forEach((shard, s) => {
      const part = new Map(names.slice(s * half, (s + 1) * half).map((n) => [n, tensors.get(n)!]));
      for (const n of part.keys()) weightMap[n] = shard;
      writeFileSync(join(dir, shard), writeSafetensors(part, { format: 'pt' }));
    });
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap }),
    );
    writeFileSync(join(dir, 'config.json'), configText(m));
    const sharded = await loadModel(new DirModelSource(dir));
    const single = await loadModel(new DirModelSource(dirOf(m)));
    expect(sharded.files).toEqual(['config.json', 'model.safetensors.index.json', ...shardNames]);
    expect(sharded.config).toEqual(single.config);
    sameWeights(sharded.weights, single.weights);

    // a missing shard names the shard
    rmSync(join(dir, shardNames[1]));
    await expectLoadError(loadModel(new DirModelSource(dir)), 'file-missing', shardNames[1]);
  });

  it('a tensor missing from the weight_map is reported against the index', async () => {
    const m = 'qwen2-tiny-a';
    const shard = 'model-00001-of-00001.safetensors';
    const names = parseSafetensors(readFixture(m, 'model.safetensors'), 'model.safetensors').keys();
    const weightMap = Object.fromEntries(
      [...names].filter((n) => n !== 'model.embed_tokens.weight').map((n) => [n, shard]),
    );
    const src = memModel(m, {
      'model.safetensors': null,
      'model.safetensors.index.json': JSON.stringify({ weight_map: weightMap }),
      'model-00001-of-00001.safetensors': readFixture(m, 'model.safetensors'),
    });
    const e = await expectLoadError(
      loadModel(src),
      'tensor-missing',
      'model.safetensors.index.json',
      'model.embed_tokens.weight',
    );
    expect(e.message).toContain('not listed');
    // an index without a weight_map
    const bad = memModel(m, {
      'model.safetensors': null,
      'model.safetensors.index.json': '{"metadata": {}}',
    });
    await expectLoadError(loadModel(bad), 'config-invalid', 'model.safetensors.index.json');
  });

  it('parses configs with rope_parameters and with a top-level rope_theta', async () => {
    const a = await loadModel(memModel('qwen2-tiny-a'));
    const c = await loadModel(memModel('qwen2-tiny-c'));
    expect(a.config.ropeTheta).toBe(10000);
    expect(c.config.ropeTheta).toBe(1e6);
    const old = editConfig('qwen2-tiny-c', (cfg) => {
      delete cfg.rope_parameters;
      cfg.rope_theta = 500000;
    });
    const o = await loadModel(memModel('qwen2-tiny-c', { 'config.json': old }));
    expect(o.config.ropeTheta).toBe(500000);
    expect(parseQwen2Config(JSON.parse(old)).ropeTheta).toBe(500000);
    expect(o.generationConfig).toBeUndefined();
  });

  it('ignores extra tensors but lists them; ignores lm_head when tied', async () => {
    const m = 'qwen2-tiny-c';
    const tensors = parseSafetensors(readFixture(m, 'model.safetensors'), 'model.safetensors');
    tensors.set('model.layers.0.self_attn.rotary_emb.inv_freq', {
      dtype: 'F32',
      shape: [32],
      data: new Float32Array(32),
    });
    const bytes = writeSafetensors(tensors);
    const extra = await loadModel(memModel(m, { 'model.safetensors': bytes }));
    expect(extra.unusedTensors).toEqual(['model.layers.0.self_attn.rotary_emb.inv_freq']);
    expect(extra.weights.has('model.layers.0.self_attn.rotary_emb.inv_freq')).toBe(false);
    const tied = editConfig(m, (c) => {
      c.tie_word_embeddings = true;
    });
    const t = await loadModel(memModel(m, { 'config.json': tied }));
    expect(t.weights.has('lm_head.weight')).toBe(false);
    expect(t.unusedTensors).toEqual(['lm_head.weight']);
  });
});

describe('loadModel refuses bad folders', () => {
  const m = 'qwen2-tiny-a';
  const withoutTensor = (name: string) => {
    const t = parseSafetensors(readFixture(m, 'model.safetensors'), 'model.safetensors');
    t.delete(name);
    return writeSafetensors(t);
  };

  it('missing config.json', async () => {
    await expectLoadError(loadModel(memModel(m, { 'config.json': null })), 'file-missing', 'config.json');
  });

  it('config.json that is not JSON', async () => {
    await expectLoadError(
      loadModel(memModel(m, { 'config.json': '{"vocab_size": ' })),
      'config-invalid',
      'config.json',
    );
  });

  it('missing weights, pointing at the other safetensors files present', async () => {
    const src = memModel(m, {
      'model.safetensors': null,
      'model.bf16.safetensors': readFixture(m, 'model.bf16.safetensors'),
    });
    const e = await expectLoadError(loadModel(src), 'file-missing', 'model.safetensors');
    expect(e.message).toContain('model.bf16.safetensors');
    await expectLoadError(
      loadModel(memModel(m), { weightsFile: 'nope.safetensors' }),
      'file-missing',
      'nope.safetensors',
    );
  });

  it('a missing tensor', async () => {
    const src = memModel(m, { 'model.safetensors': withoutTensor('model.layers.1.self_attn.k_proj.bias') });
    await expectLoadError(
      loadModel(src),
      'tensor-missing',
      'model.safetensors',
      'model.layers.1.self_attn.k_proj.bias',
    );
  });

  it('a missing lm_head when the config is untied', async () => {
    const untied = editConfig(m, (c) => {
      c.tie_word_embeddings = false;
    });
    const e = await expectLoadError(
      loadModel(memModel(m, { 'config.json': untied })),
      'tensor-missing',
      'model.safetensors',
      'lm_head.weight',
    );
    expect(e.message).toContain('tie_word_embeddings');
  });

  it('a mis-shaped tensor', async () => {
    const bad = mutateHeader(readFixture(m, 'model.safetensors'), (h) => {
      entry(h, 'model.layers.0.post_attention_layernorm.weight').shape = [2, 64];
    });
    const e = await expectLoadError(
      loadModel(memModel(m, { 'model.safetensors': bad })),
      'tensor-shape',
      'model.safetensors',
      'model.layers.0.post_attention_layernorm.weight',
    );
    expect(e.message).toContain('[2, 64]');
    expect(e.message).toContain('[128]');
  });

  it('a config that contradicts the weights names the field and the tensor', async () => {
    const cases: [string, (c: Record<string, unknown>) => void, string, string][] = [
      ['vocab_size', (c) => (c.vocab_size = 500), 'model.embed_tokens.weight', '500'],
      ['hidden_size', (c) => (c.hidden_size = 256), 'model.embed_tokens.weight', '256'],
      ['intermediate_size', (c) => (c.intermediate_size = 300), 'model.layers.0.mlp.gate_proj.weight', '300'],
      [
        'num_attention_heads',
        (c) => Object.assign(c, { num_attention_heads: 8, head_dim: 32 }),
        'model.layers.0.self_attn.q_proj.weight',
        '8',
      ],
      ['num_hidden_layers', (c) => (c.num_hidden_layers = 1), 'model.layers.1.', '1'],
      ['num_hidden_layers', (c) => (c.num_hidden_layers = 3), 'model.layers.2.', '3'],
    ];
    for (const [field, edit, tensor, value] of cases) {
      const e = await expectLoadError(
        loadModel(memModel(m, { 'config.json': editConfig(m, edit) })),
        'config-mismatch',
      );
      expect(e.message).toContain(field);
      expect(e.message).toContain(value);
      expect(e.message).toContain(tensor);
      expect(e.tensor).toContain(tensor);
    }
  });

  it('weights stored as integers are refused', async () => {
    const bad = mutateHeader(readFixture(m, 'model.safetensors'), (h) => {
      entry(h, 'model.norm.weight').dtype = 'I32';
    });
    const e = await expectLoadError(
      loadModel(memModel(m, { 'model.safetensors': bad })),
      'safetensors-dtype',
      'model.safetensors',
      'model.norm.weight',
    );
    expect(e.message).toContain('I32');
  });

  it('a malformed safetensors file surfaces its own error with the file name', async () => {
    const full = readFixture(m, 'model.safetensors');
    await expectLoadError(
      loadModel(memModel(m, { 'model.safetensors': full.subarray(0, full.length - 8) })),
      'safetensors-truncated',
      'model.safetensors',
    );
  });
});

describe('model sources', () => {
  it('DirModelSource: null for absent files, lists files', async () => {
    const src = new DirModelSource(dirOf('qwen2-tiny-a'));
    expect(await src.readFile('nope.json')).toBeNull();
    expect(await src.readText('nope.json')).toBeNull();
    expect(JSON.parse((await src.readText('config.json'))!).vocab_size).toBe(512);
    expect(await src.list()).toContain('adapter/adapter_config.json');
    const sub = subSource(src, 'adapter');
    expect((await sub.readFile('adapter_model.safetensors'))!.byteLength).toBe(78264);
    expect(await sub.list!()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  });

  it('FileListModelSource: matches by path, then basename, nearest the root', async () => {
    const dir = dirOf('qwen2-tiny-a');
    const blob = (p: string) => new Blob([readFileSync(join(dir, p))]);
    const files = new Map<string, Blob>([
      ['qwen2-tiny-a/adapter/adapter_config.json', blob('adapter/adapter_config.json')],
      ['qwen2-tiny-a/config.json', blob('config.json')],
      ['qwen2-tiny-a/model.safetensors', blob('model.safetensors')],
      ['qwen2-tiny-a/sub/config.json', new Blob(['{"decoy": true}'])],
    ]);
    const src = new FileListModelSource(files);
    expect(JSON.parse((await src.readText('config.json'))!).vocab_size).toBe(512);
    expect(JSON.parse((await src.readText('adapter/adapter_config.json'))!).r).toBe(4);
    expect(await src.readFile('generation_config.json')).toBeNull();
    const loaded = await loadModel(src);
    expect(loaded.weights.size).toBe(26);
    const asFiles = new FileListModelSource([
      new File([readFileSync(join(dir, 'config.json'))], 'config.json'),
    ]);
    expect(JSON.parse((await asFiles.readText('config.json'))!).hidden_size).toBe(128);
  });

  it('UrlModelSource: fetches relative to the base, 404 and SPA fallbacks are absent, errors are EngineErrors', async () => {
    const dir = dirOf('qwen2-tiny-c');
    const seen: string[] = [];
    const fakeFetch = (async (input: RequestInfo | URL) => {
      const url = String(input);
      seen.push(url);
      const path = decodeURIComponent(
        url.replace('https://host/models/tiny c/', '').replace('https://host/models/tiny%20c/', ''),
      );
      if (path === 'broken.json') return new Response('boom', { status: 500 });
      if (path === 'spa.json')
        return new Response('<html></html>', { status: 200, headers: { 'content-type': 'text/html' } });
      try {
        return new Response(readFileSync(join(dir, path)), {
          status: 200,
          headers: { 'content-type': 'application/octet-stream' },
        });
      } catch {
        return new Response('not found', { status: 404 });
      }
    }) as typeof fetch;
    const progress: number[] = [];
    const src = new UrlModelSource('https://host/models/tiny%20c', fakeFetch, (_n, loaded) =>
      progress.push(loaded),
    );
    expect(src.urlOf('adapter/adapter config.json')).toBe(
      'https://host/models/tiny%20c/adapter/adapter%20config.json',
    );
    expect(await src.readFile('missing.json')).toBeNull();
    expect(await src.readFile('spa.json')).toBeNull();
    await expectLoadError(src.readFile('broken.json'), 'file-missing', 'broken.json');
    const loaded = await loadModel(src);
    expect(loaded.weights.has('lm_head.weight')).toBe(true);
    expect(seen).toContain('https://host/models/tiny%20c/model.safetensors');
    expect(progress.length).toBeGreaterThan(0);
    const failing = new UrlModelSource('https://x/', (async () => {
      throw new TypeError('network down');
    }) as typeof fetch);
    const e = await expectLoadError(failing.readFile('config.json'), 'file-missing', 'config.json');
    expect(e.message).toContain('network down');
  });
});
