// The streaming reader (model/stream.ts) against loadModel: the same values (16-bit bits kept), the same
// errors for the same broken folders; ranged reads on every source; and the GPU load's refusal from the
// headers alone (gpu/streamLoad.ts), before any tensor is read or any buffer made.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectedParameters, parseQwen2Config } from '../../src/engine/config.ts';
import { EngineError } from '../../src/engine/errors.ts';
import type { EngineDevice } from '../../src/engine/gpu/device.ts';
import {
  checkWeightsFit,
  gpuWeightPlan,
  resolveWeightDtype,
  streamModelToGpu,
} from '../../src/engine/gpu/streamLoad.ts';
import { unpackHalves } from '../../src/engine/model/halfFloat.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { writeSafetensors } from '../../src/engine/model/safetensors.ts';
import {
  FileListModelSource,
  MemoryModelSource,
  type ModelSource,
  UrlModelSource,
} from '../../src/engine/model/source.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { openModelStream } from '../../src/engine/model/stream.ts';
import { loadModel, type ParameterEntry } from '../../src/engine/model/weights.ts';
import { fitReport } from '../../src/store/lib/memoryFit.ts';
import { DEFAULT_SETTINGS, settingsFromHash, settingsToHash } from '../../src/store/settings.ts';
import type { AdapterInfo } from '../../src/worker/api.ts';
import { halfSafetensors } from '../helpers/halfModel.ts';
import { entry, mutateHeader } from '../helpers/malformed.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

const rawConfig = {
  model_type: 'qwen2',
  vocab_size: 101,
  hidden_size: 36,
  intermediate_size: 50,
  num_hidden_layers: 2,
  num_attention_heads: 6,
  num_key_value_heads: 2,
  tie_word_embeddings: false,
  max_position_embeddings: 64,
};
const config = tinyConfig();
const weights = initQwen2Weights(config, 7, 0.3, 0.1);
const bf16File = halfSafetensors(weights, 'BF16');
const f32File = writeSafetensors(weights, { format: 'pt' });
const cfgText = JSON.stringify(rawConfig);

function folder(weightsFile: Uint8Array, extra: Record<string, Uint8Array | string> = {}): MemoryModelSource {
  return new MemoryModelSource({ 'config.json': cfgText, 'model.safetensors': weightsFile, ...extra });
}

async function streamAll(source: ModelSource) {
  const stream = await openModelStream(source);
  const out = new Map<string, Float32Array>();
  for await (const { entry: e, values } of stream.tensors()) {
    out.set(e.name, values.kind === 'f32' ? values.data.slice() : unpackHalves(values.bits, values.dtype));
  }
  return { stream, out };
}

const tmp: string[] = [];
afterAll(() => {
  for (const d of tmp) rmSync(d, { recursive: true, force: true });
});

describe('openModelStream', () => {
  it('yields every parameter once, with the values loadModel decodes, bf16 bits kept as bits', async () => {
    const src = folder(bf16File);
    const whole = await loadModel(src);
    const { stream, out } = await streamAll(src);
    expect(stream.dtypes).toEqual(['BF16']);
    expect(stream.parameters.map((p) => p.name)).toEqual([...expectedParameters(config).keys()]);
    expect(out.size).toBe(whole.weights.size);
    for (const [name, t] of whole.weights) expect(out.get(name), name).toEqual(t.data);
    for await (const { values } of stream.tensors()) expect(values.kind).toBe('half');
  });

  it('reads a sharded folder through its index', async () => {
    const names = [...weights.keys()];
    const half = Math.floor(names.length / 2);
    const pick = (ns: string[]) => new Map(ns.map((n) => [n, weights.get(n)!]));
    const a = halfSafetensors(pick(names.slice(0, half)), 'BF16');
    const b = halfSafetensors(pick(names.slice(half)), 'BF16');
    const index = {
      weight_map: Object.fromEntries(names.map((n, i) => [n, i < half ? 'a.safetensors' : 'b.safetensors'])),
    };
    const src = new MemoryModelSource({
      'config.json': cfgText,
      'model.safetensors.index.json': JSON.stringify(index),
      'a.safetensors': a,
      'b.safetensors': b,
    });
    const whole = await loadModel(src);
    const { stream, out } = await streamAll(src);
    expect(stream.files).toEqual(whole.files);
    for (const [name, t] of whole.weights) expect(out.get(name), name).toEqual(t.data);
  });

  const broken: [string, () => MemoryModelSource][] = [
    ['a missing tensor', () => folder(mutateHeader(f32File, (h) => delete h['model.norm.weight']))],
    [
      'a wrong shape',
      () =>
        folder(
          mutateHeader(f32File, (h) => {
            entry(h, 'model.layers.1.mlp.up_proj.weight').shape = [36, 50];
          }),
        ),
    ],
    [
      'an integer weight',
      () =>
        folder(
          mutateHeader(f32File, (h) => {
            entry(h, 'model.norm.weight').dtype = 'I32';
          }),
        ),
    ],
    [
      'a config that contradicts the weights',
      () =>
        new MemoryModelSource({
          'config.json': JSON.stringify({ ...rawConfig, vocab_size: 100 }),
          'model.safetensors': f32File,
        }),
    ],
    ['a truncated file', () => folder(f32File.subarray(0, f32File.byteLength - 10))],
    ['a bogus header length', () => folder(new Uint8Array([255, 255, 255, 255, 0, 0, 0, 0, 1, 2]))],
    ['no weights', () => new MemoryModelSource({ 'config.json': cfgText })],
    [
      'a missing shard',
      () =>
        new MemoryModelSource({
          'config.json': cfgText,
          'model.safetensors.index.json': JSON.stringify({
            weight_map: { 'model.norm.weight': 'x.safetensors' },
          }),
        }),
    ],
  ];
  it.each(broken)('refuses %s with the same error as loadModel', async (_what, make) => {
    const want = await loadModel(make()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(want).toBeInstanceOf(EngineError);
    const got = await openModelStream(make()).then(
      () => null,
      (e: unknown) => e,
    );
    expect(got).toBeInstanceOf(EngineError);
    const pick = (e: unknown) => {
      const x = e as EngineError;
      return { code: x.code, message: x.message, file: x.file, tensor: x.tensor };
    };
    expect(pick(got)).toEqual(pick(want));
  });
});

describe('ranged reads', () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);

  async function check(src: ModelSource) {
    expect(await src.readRange!('w.bin', 10, 20)).toEqual({ bytes: bytes.slice(10, 20), fileSize: 1000 });
    expect(await src.readRange!('w.bin', 990, 2000)).toEqual({ bytes: bytes.slice(990), fileSize: 1000 });
    expect(await src.readRange!('absent.bin', 0, 8)).toBeNull();
  }

  it('memory, picked files (Blob.slice) and a Node folder read only the range', async () => {
    await check(new MemoryModelSource({ 'w.bin': bytes }));
    await check(new FileListModelSource(new Map([['m/w.bin', new Blob([bytes])]])));
    const dir = mkdtempSync(join(tmpdir(), 'motg-range-'));
    tmp.push(dir);
    writeFileSync(join(dir, 'w.bin'), bytes);
    const dirSource = new DirModelSource(dir);
    await check(dirSource);
    const scratch = new Uint8Array(64);
    const got = await dirSource.readRange('w.bin', 100, 132, scratch);
    expect(got!.bytes.buffer).toBe(scratch.buffer);
    expect(got!.bytes).toEqual(bytes.slice(100, 132));
  });

  /** A fetch over `bytes` that honours Range (206) or ignores it (200, the whole file). */
  function fakeFetch(honourRange: boolean, log: string[]): typeof fetch {
    return async (input, init) => {
      const url = String(input);
      if (!url.endsWith('/w.bin')) return new Response('missing', { status: 404 });
      const range = new Headers(init?.headers).get('range');
      log.push(range ?? 'none');
      const m = /bytes=(\d+)-(\d+)/.exec(range ?? '');
      if (honourRange && m) {
        const [s, e] = [Number(m[1]), Math.min(Number(m[2]) + 1, bytes.length)];
        return new Response(bytes.slice(s, e), {
          status: 206,
          headers: { 'content-range': `bytes ${s}-${e - 1}/${bytes.length}` },
        });
      }
      // Sent in small chunks, as a network would.
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < bytes.length; i += 64) c.enqueue(bytes.slice(i, i + 64));
          c.close();
        },
      });
      return new Response(body, { status: 200, headers: { 'content-length': String(bytes.length) } });
    };
  }

  it('a URL source sends Range requests', async () => {
    const log: string[] = [];
    await check(new UrlModelSource('http://x/m', fakeFetch(true, log)));
    expect(log).toEqual(['bytes=10-19', 'bytes=990-1999']);
  });

  it('a URL source whose server ignores Range reads the one response front to back', async () => {
    const log: string[] = [];
    const src = new UrlModelSource('http://x/m', fakeFetch(false, log));
    await check(src);
    expect(log).toEqual(['bytes=10-19']); // the second read lies further on: the same response
    const again = new UrlModelSource('http://x/m', fakeFetch(false, log));
    expect((await again.readRange('w.bin', 500, 510))!.bytes).toEqual(bytes.slice(500, 510));
    expect((await again.readRange('w.bin', 5, 9))!.bytes).toEqual(bytes.slice(5, 9)); // behind: a new request
    expect(log.length).toBe(3);
  });
});

describe('refusing a model that cannot fit, from the headers', () => {
  it('plans 16-bit matrices at half the bytes; norms and biases stay f32', async () => {
    const stream = await openModelStream(folder(bf16File));
    expect(resolveWeightDtype('auto', stream.parameters)).toBe('bf16');
    expect(resolveWeightDtype('f32', stream.parameters)).toBe('f32');
    const f32 = gpuWeightPlan(stream.parameters, 'f32');
    const bf16 = gpuWeightPlan(stream.parameters, 'bf16');
    const norm = (p: typeof f32) => p.entries.find((e) => e.name === 'model.norm.weight')!;
    expect(norm(bf16)).toEqual(norm(f32));
    const embed = bf16.entries.find((e) => e.name === 'model.embed_tokens.weight')!;
    expect(embed).toEqual({ name: 'model.embed_tokens.weight', storage: 'bf16', bytes: 101 * 36 * 2 });
    expect(bf16.totalBytes).toBeLessThan(f32.totalBytes);
    const auto32 = await openModelStream(folder(f32File));
    expect(resolveWeightDtype('auto', auto32.parameters)).toBe('f32');
  });

  it('names the tensor over a buffer limit, and the one where the total passes the memory', async () => {
    const stream = await openModelStream(folder(bf16File));
    const plan = gpuWeightPlan(stream.parameters, 'bf16');
    const largest = plan.largest!;
    const limits = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: largest.bytes - 4 };
    expect(() => checkWeightsFit(plan, limits)).toThrow(
      expect.objectContaining({ code: 'model-too-large', tensor: largest.name }),
    );
    expect(() =>
      checkWeightsFit(plan, { ...limits, maxStorageBufferBindingSize: largest.bytes }),
    ).not.toThrow();
    const roomy = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 };
    expect(() => checkWeightsFit(plan, roomy, plan.totalBytes)).not.toThrow();
    const first = plan.entries[0];
    expect(() => checkWeightsFit(plan, roomy, first.bytes)).toThrow(
      expect.objectContaining({ code: 'model-too-large', tensor: plan.entries[1].name }),
    );
  });

  it('streamModelToGpu refuses before reading a tensor or making a buffer', async () => {
    const src = folder(bf16File);
    const reads: [number, number][] = [];
    const counting: ModelSource = {
      label: 'counting',
      readFile: (n) => src.readFile(n),
      readText: (n) => src.readText(n),
      readRange: (n, s, e) => {
        reads.push([s, e]);
        return src.readRange(n, s, e);
      },
    };
    const stream = await openModelStream(counting);
    const headerReads = reads.length;
    const plan = gpuWeightPlan(stream.parameters, 'bf16');
    let buffers = 0;
    const tiny = {
      limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: plan.largest!.bytes - 1 },
      device: {
        createBuffer: () => {
          buffers++;
          throw new Error('no buffer may be made');
        },
      },
    } as unknown as EngineDevice;
    const err = await streamModelToGpu(tiny, stream, { weightDtype: 'auto' }).then(
      () => null,
      (e: unknown) => e as EngineError,
    );
    expect(err?.code).toBe('model-too-large');
    expect(err?.tensor).toBe(plan.largest!.name);
    expect(err?.message).toContain('bf16');
    expect(reads.length).toBe(headerReads);
    expect(buffers).toBe(0);
    // f32 storage of the same file needs twice the bytes: refused with the advice to load 16-bit.
    const f32err = await streamModelToGpu(tiny, stream, { weightDtype: 'f32' }).catch((e: EngineError) => e);
    expect((f32err as EngineError).message).toContain('16-bit');
  });
});

describe("the paper's models (Qwen2.5-0.5B / 1.5B, BF16 checkpoints)", () => {
  /** The parameters as a BF16 checkpoint's headers list them (no file needed for the plan). */
  function bf16Entries(file: string): ParameterEntry[] {
    const raw = JSON.parse(readFileSync(new URL(`../fixtures-local/${file}`, import.meta.url), 'utf8'));
    return [...expectedParameters(parseQwen2Config(raw))].map(([name, shape]) => ({
      name,
      file: 'model.safetensors',
      dtype: 'BF16' as const,
      shape,
      start: 0,
      end: shape.reduce((a, b) => a * b, 1) * 2,
    }));
  }
  const lavapipe = { maxBufferSize: 2 ** 32 - 1, maxStorageBufferBindingSize: 2 ** 27 };
  const desktop = { maxBufferSize: 2 ** 32 - 1, maxStorageBufferBindingSize: 2 ** 31 - 4 };

  it.each([
    ['qwen2.5-0.5b.config.json', 494_032_768],
    ['qwen2.5-1.5b.config.json', 1_543_714_304],
  ])('%s: bf16 storage halves the weights; a 128 MiB binding limit refuses the embedding', (file, params) => {
    const entries = bf16Entries(file);
    expect(resolveWeightDtype('auto', entries)).toBe('bf16');
    const bf16 = gpuWeightPlan(entries, 'bf16');
    const f32 = gpuWeightPlan(entries, 'f32');
    expect(f32.totalBytes).toBe(params * 4);
    expect(bf16.totalBytes).toBeLessThan(0.51 * f32.totalBytes);
    expect(bf16.largest?.name).toBe('model.embed_tokens.weight');
    expect(() => checkWeightsFit(bf16, lavapipe)).toThrow(
      expect.objectContaining({ code: 'model-too-large', tensor: 'model.embed_tokens.weight' }),
    );
    expect(() => checkWeightsFit(bf16, desktop)).not.toThrow();
  });

  it("the page's setting travels in the link and halves the weights in the estimate", () => {
    const settings = {
      ...DEFAULT_SETTINGS,
      memory: { ...DEFAULT_SETTINGS.memory, weightDtype: 'f16' as const },
    };
    expect(settingsFromHash(settingsToHash(settings)).memory.weightDtype).toBe('f16');
    expect(DEFAULT_SETTINGS.memory.weightDtype).toBe('auto');
    const raw = JSON.parse(
      readFileSync(new URL('../fixtures-local/qwen2.5-0.5b.config.json', import.meta.url), 'utf8'),
    );
    const cfg = parseQwen2Config(raw);
    const gpu = { backend: 'webgpu', ...desktop } as AdapterInfo;
    const mem = DEFAULT_SETTINGS.memory;
    const auto = fitReport(cfg, gpu, mem, undefined, 'bfloat16');
    const asF32 = fitReport(cfg, gpu, { ...mem, weightDtype: 'f32' }, undefined, 'bfloat16');
    expect(auto.weightDtype).toBe('bf16');
    expect(asF32.weightDtype).toBe('f32');
    expect(auto.inference.weights).toBe(
      gpuWeightPlan(bf16Entries('qwen2.5-0.5b.config.json'), 'bf16').totalBytes,
    );
    expect(asF32.inference.weights).toBe(494_032_768 * 4);
    // The CPU path keeps f32 whatever the setting.
    expect(fitReport(cfg, null, mem, undefined, 'bfloat16').weightDtype).toBe('f32');
  });
});
