// Taking a trained policy away: a fresh LoRA adapter of a chosen rank trains and exports in peft's format,
// a full fine-tune exports a whole Hugging Face folder, and both load back through the ordinary loader.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { readZip } from '../../src/client/zip.ts';
import { parseSafetensors } from '../../src/engine/model/safetensors.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import type { TrainingError } from '../../src/rl/errors.ts';
import { Engine } from '../../src/worker/engine.ts';

const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-builtin');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function newEngine(): Engine {
  return new Engine({
    gpu: null,
    resolveSource: (loc) => {
      if (loc.kind !== 'url') throw new Error('node test: url locations only');
      return new DirModelSource(loc.baseUrl);
    },
  });
}

function writeFolder(files: { name: string; data: Uint8Array }[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'motg-export-'));
  dirs.push(dir);
  for (const f of files) writeFileSync(join(dir, f.name), f.data);
  return dir;
}

const SETTINGS = {
  preset: 'dirichlet' as const,
  tasks: [{ task: 'chain_sum', level: 'trivial' }],
  grpo: {
    num_generations: 4,
    per_device_train_batch_size: 4,
    max_completion_length: 40,
    learning_rate: 1e-2,
    optim: 'adamw' as const,
    max_grad_norm: 1,
    max_steps: 2,
    seed: 3,
    // No warm-up: with HF's, the first of 2 updates is made at rate 0 and leaves the weights as they were.
    warmup_ratio: 0,
  },
};

describe('exporting the trained policy', () => {
  it('is refused before any training, with a typed error', async () => {
    const engine = newEngine();
    await engine.init({ backend: 'cpu' });
    await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
    const err = (await engine.exportTrainedModel().catch((e: unknown) => e)) as TrainingError;
    expect(err.code).toBe('not-running');
    const zipErr = (await engine.exportTrainedModelZip().catch((e: unknown) => e)) as TrainingError;
    expect(zipErr.code).toBe('not-running');
  });

  it('LoRA of a chosen rank: a fresh adapter trains, exports as peft files and loads back', async () => {
    const engine = newEngine();
    await engine.init({ backend: 'cpu' });
    await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
    const trainer = await engine.createTrainer({ ...SETTINGS, mode: 'lora', lora: { r: 2, alpha: 4 } });
    const first = await trainer.trainStep();
    await trainer.trainStep();
    expect(first.metrics.rewardStd).toBeGreaterThan(0);
    const out = await engine.exportTrainedModel();
    expect(out.kind).toBe('adapter');
    expect(out.files.map((f) => f.name).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const cfg = JSON.parse(new TextDecoder().decode(out.files[0].data)) as Record<string, unknown>;
    expect(cfg.r).toBe(2);
    expect(cfg.lora_alpha).toBe(4);
    const tensors = parseSafetensors(out.files[1].data, 'adapter_model.safetensors');
    const bNorms = [...tensors]
      .filter(([k]) => k.includes('lora_B'))
      .map(([, t]) => Math.max(...t.data.map(Math.abs)));
    expect(bNorms.length).toBe(2 * 7); // 2 layers × 7 projections
    expect(Math.max(...bNorms)).toBeGreaterThan(0); // B starts at 0: training moved it
    const dir = writeFolder(out.files);
    const info = await engine.loadModel(
      { kind: 'url', baseUrl: BUILTIN },
      { adapter: { kind: 'url', baseUrl: dir } },
    );
    expect(info.adapter?.r).toBe(2);
  });

  it('full fine-tuning: exports a model folder that loads and differs from the base weights', async () => {
    const engine = newEngine();
    await engine.init({ backend: 'cpu' });
    await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
    const trainer = await engine.createTrainer({ ...SETTINGS, mode: 'full' });
    await trainer.trainStep();
    const out = await engine.exportTrainedModel();
    expect(out.kind).toBe('weights');
    // The page's form: one ZIP Blob with the same files, readable by this page's reader and by fflate.
    const zipped = await engine.exportTrainedModelZip();
    expect(zipped.kind).toBe('weights');
    const zipBytes = new Uint8Array(await zipped.zip.arrayBuffer());
    const files = new Map(out.files.map((f) => [f.name, f.data]));
    expect(new Map(readZip(zipBytes).map((e) => [e.name, e.data]))).toEqual(files);
    expect(new Map(Object.entries(unzipSync(zipBytes)))).toEqual(files);
    expect(out.files.map((f) => f.name).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const dir = writeFolder(out.files);
    const probe = 'What is 3 + 4?';
    const base = await engine.score(await engine.tokenize(probe)); // after the step
    const fresh = newEngine();
    await fresh.init({ backend: 'cpu' });
    const info = await fresh.loadModel({ kind: 'url', baseUrl: dir });
    expect(info.hasTokenizer).toBe(true);
    const trained = await fresh.score(await fresh.tokenize(probe));
    expect(trained.logprobs).toHaveLength(base.logprobs.length);
    const baseEngine = newEngine();
    await baseEngine.init({ backend: 'cpu' });
    await baseEngine.loadModel({ kind: 'url', baseUrl: BUILTIN });
    const original = await baseEngine.score(await baseEngine.tokenize(probe));
    const diff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
    expect(diff(trained.logprobs, original.logprobs)).toBeGreaterThan(1e-6);
    // The engine that trained scores with the trained weights too (its CPU policy trains them in place).
    expect(diff(trained.logprobs, base.logprobs)).toBeLessThan(1e-9);
  });
});
