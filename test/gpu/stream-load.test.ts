// The streamed GPU load (gpu/streamLoad.ts) gives the model the whole-file load gives: the same logits
// for a bf16 checkpoint kept bf16 and for an f32 one; and the Engine on WebGPU streams a bf16 folder into
// bf16 storage with no host copy, generates, and refuses what needs f32 host weights with a typed error.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQwen2Config } from '../../src/engine/config.ts';
import type { EngineError } from '../../src/engine/errors.ts';
import type { EngineDevice } from '../../src/engine/gpu/device.ts';
import { GpuModel } from '../../src/engine/gpu/model.ts';
import { streamModelToGpu } from '../../src/engine/gpu/streamLoad.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { writeSafetensors } from '../../src/engine/model/safetensors.ts';
import { MemoryModelSource } from '../../src/engine/model/source.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { openModelStream } from '../../src/engine/model/stream.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import { nodeGpu } from '../../src/node/webgpu.ts';
import { Engine } from '../../src/worker/engine.ts';
import { testDevice } from '../helpers/gpu.ts';
import { halfSafetensors } from '../helpers/halfModel.ts';
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
  eos_token_id: 100,
};
const config = tinyConfig();
const weights = initQwen2Weights(config, 11, 0.3, 0.1);
const folder = (file: Uint8Array) =>
  new MemoryModelSource({ 'config.json': JSON.stringify(rawConfig), 'model.safetensors': file });
const ids = [3, 17, 99, 42, 0, 64, 8];

let dev: EngineDevice;
const models: GpuModel[] = [];
beforeAll(async () => {
  dev = await testDevice();
});
afterAll(() => {
  for (const m of models) m.dispose();
});

async function logitsOf(model: GpuModel): Promise<Float32Array> {
  models.push(model);
  return (await model.forward({ kind: 'ids', ids }, 1, ids.length)).logits;
}

describe('streamed GPU load', () => {
  it('a bf16 checkpoint streamed into bf16 storage gives the logits of the whole-file load', async () => {
    const src = folder(halfSafetensors(weights, 'BF16'));
    const whole = await loadModel(src);
    const expected = await logitsOf(
      await GpuModel.create(dev, whole.config, whole.weights, null, { weightDtype: 'bf16' }),
    );
    const { model, host, plan } = await streamModelToGpu(dev, await openModelStream(src), {
      weightDtype: 'auto',
    });
    expect(model.weightDtype).toBe('bf16');
    expect(host).toBeNull();
    const embed = model.parameterTensors().get('model.embed_tokens.weight')!;
    expect(embed.dtype).toBe('bf16');
    expect(embed.bytes).toBe(101 * 36 * 2);
    expect(model.parameterTensors().get('model.norm.weight')!.dtype ?? 'f32').toBe('f32');
    expect(plan.totalBytes).toBe([...model.parameterTensors().values()].reduce((a, t) => a + t.bytes, 0));
    const got = await logitsOf(model);
    expect(got.every(Number.isFinite)).toBe(true);
    expect(got).toEqual(expected);
  });

  it('an f32 checkpoint streamed with a host copy gives the same logits and host weights', async () => {
    const src = folder(writeSafetensors(weights, { format: 'pt' }));
    const whole = await loadModel(src);
    const expected = await logitsOf(await GpuModel.create(dev, whole.config, whole.weights));
    const { model, host } = await streamModelToGpu(dev, await openModelStream(src), { keepHost: true });
    expect(model.weightDtype).toBe('f32');
    expect([...host!.keys()]).toEqual([...whole.weights.keys()]);
    for (const [name, t] of whole.weights) expect(host!.get(name)!.data, name).toEqual(t.data);
    expect(await logitsOf(model)).toEqual(expected);
  });

  it('a NaN weight stops the upload with a typed error naming it; the device loads the next model', async () => {
    const poisoned = new Map(weights);
    const norm = weights.get('model.norm.weight')!;
    poisoned.set('model.norm.weight', {
      shape: norm.shape,
      data: norm.data.map((v, i) => (i === 3 ? Number.NaN : v)),
    });
    const err = await streamModelToGpu(dev, await openModelStream(folder(halfSafetensors(poisoned, 'BF16'))))
      .then(() => null)
      .catch((e: EngineError) => e);
    expect(err?.code).toBe('tensor-non-finite');
    expect(err?.tensor).toBe('model.norm.weight');
    expect(err?.message).toContain('model.safetensors');
    const { model } = await streamModelToGpu(
      dev,
      await openModelStream(folder(halfSafetensors(weights, 'BF16'))),
    );
    expect((await logitsOf(model)).every(Number.isFinite)).toBe(true);
  });
});

describe('the Engine on WebGPU with a bf16 folder', () => {
  let engine: Engine;
  beforeAll(async () => {
    const src = folder(halfSafetensors(weights, 'BF16'));
    engine = new Engine({ gpu: await nodeGpu(), resolveSource: () => src });
    await engine.init({ backend: 'webgpu' });
  });
  afterAll(async () => {
    await engine.dispose();
  });

  it('keeps the weights bf16 on the GPU, generates, and refuses full fine-tuning with a typed error', async () => {
    const info = await engine.loadModel({ kind: 'url', baseUrl: 'mem:' });
    expect(info.weightDtype).toBe('bf16');
    expect(info.checkpointDtypes).toEqual(['BF16']);
    const f32Bytes = info.numParameters * 4;
    expect(info.weightBytes).toBeLessThan(0.6 * f32Bytes);
    const out = await engine.generate(ids, { maxNewTokens: 4, greedy: true });
    expect(out.ids.length).toBeGreaterThan(0);
    const sft = await engine
      .trainSupervised([{ ids: [1, 2, 3, 4], lossStart: 1, lossEnd: 4 }], {
        epochs: 1,
        batchSize: 1,
      } as never)
      .catch((e: { code?: string }) => e);
    expect((sft as { code?: string }).code).toBe('weights-not-f32');
  });

  it('loads the same folder with f32 storage when asked (and then keeps a host copy)', async () => {
    const info = await engine.loadModel({ kind: 'url', baseUrl: 'mem:' }, { weightDtype: 'f32' });
    expect(info.weightDtype).toBe('f32');
    expect(info.weightBytes).toBe(info.numParameters * 4);
  });
});

describe('GRPO with LoRA on a bf16 model that has no host copy', () => {
  const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-builtin');
  let dir = '';
  let engine: Engine;
  beforeAll(async () => {
    // The built-in model's shape and tokenizer, random weights stored as BF16.
    dir = mkdtempSync(join(tmpdir(), 'motg-bf16-'));
    const raw = { ...JSON.parse(readText(join(BUILTIN, 'config.json'))), torch_dtype: 'bfloat16' };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(raw));
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
      copyFileSync(join(BUILTIN, f), join(dir, f));
    const w = initQwen2Weights(parseQwen2Config(raw), 3, 0.3, 0.1);
    writeFileSync(join(dir, 'model.safetensors'), halfSafetensors(w, 'BF16'));
    engine = new Engine({ gpu: await nodeGpu(), resolveSource: () => new DirModelSource(dir) });
    await engine.init({ backend: 'webgpu' });
  });
  afterAll(async () => {
    await engine.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses full fine-tuning, trains a LoRA adapter (noise scaled by the embedding read back), exports it', async () => {
    const info = await engine.loadModel({ kind: 'url', baseUrl: dir });
    expect(info.weightDtype).toBe('bf16');
    const grpo = {
      num_generations: 2,
      per_device_train_batch_size: 2,
      gradient_accumulation_steps: 1,
      max_completion_length: 4,
      learning_rate: 1e-2,
      optim: 'sgd' as const,
      max_steps: 1,
      seed: 5,
      warmup_ratio: 0,
    };
    const paper = { preset: 'soft-tokens' as const, mot: { paperTemperature: 'one' as const }, grpo };
    const full = await engine.createTrainer({ mode: 'full', ...paper }).catch((e: { code?: string }) => e);
    expect((full as { code?: string }).code).toBe('weights-not-f32');
    const t = await engine.createTrainer({ mode: 'lora', lora: { r: 4 }, ...paper });
    expect(t.host.policy.kind).toBe('webgpu');
    expect(t.noiseStd).toBeGreaterThan(0);
    const { metrics } = await t.trainStep();
    expect(Number.isFinite(metrics.loss) && Number.isFinite(metrics.gradNorm)).toBe(true);
    const out = await engine.exportTrainedModel();
    expect(out.kind).toBe('adapter');
    // The CPU mixture step reads the embedding too: read back from the bf16 buffer.
    const r = await engine.rollout({
      prompts: ['1 + 2'],
      G: 1,
      preset: 'soft-tokens',
      maxNewTokens: 3,
      path: 'reference',
    });
    expect(r.noiseStd).toBeGreaterThan(0);
    expect(r.trajectories.length).toBe(1);
  });
});

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
