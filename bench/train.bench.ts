// Training benchmark (not a test): forward+backward tokens/s of one supervised/policy-gradient step
// (loss −Σ coef·log p(target), gradients of every parameter, optimizer update) on the CPU reference and on
// WebGPU (Node + Dawn, whatever adapter is present), for the two fixture models and a larger random
// Qwen2 config (8 layers, hidden 512); plus the memory plan's figures for each.
//   npx tsx bench/train.bench.ts [--quick] [--fixtures DIR] [--tag NAME] [--runs N] [--no-cpu-large] [--large-only]
// Both backends take the same full step from the same weights (forward, backward, AdamW lr 1e-4), so
// their losses agree run by run. Prints a table, then one JSON line, also written to bench/results/train-<tag>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { parseQwen2Config, type Qwen2Config } from '../src/engine/config.ts';
import { requestEngineDevice } from '../src/engine/gpu/device.ts';
import { GpuModel } from '../src/engine/gpu/model.ts';
import { GpuTrainer } from '../src/engine/gpu/train.ts';
import { initQwen2Weights } from '../src/engine/model/init.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { loadModel } from '../src/engine/model/weights.ts';
import { qwen2LossAndGrads } from '../src/engine/ref/backward.ts';
import type { WeightMap } from '../src/engine/tensor.ts';
import { formatBytes, memoryPlan } from '../src/engine/train/memory.ts';
import { AdamW } from '../src/engine/train/optim.ts';
import { nodeGpu } from '../src/node/webgpu.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('quick');
const fixtures = resolve(
  opt('fixtures') ?? process.env.MOTG_FIXTURES ?? resolve(import.meta.dirname, '../../shared/fixtures'),
);
const tag = (opt('tag') ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '_');
const runs = Number(opt('runs') ?? (quick ? 2 : 5));

// A larger random config in the Qwen2 family (8 layers, hidden 512) — big enough to show real GPU speed.
const LARGE: Qwen2Config = parseQwen2Config({
  model_type: 'qwen2',
  vocab_size: 4096,
  hidden_size: 512,
  intermediate_size: 1408,
  num_hidden_layers: 8,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: true,
  max_position_embeddings: 1024,
});

interface Case {
  model: string;
  config: Qwen2Config;
  weights: WeightMap;
  B: number;
  T: number;
}

interface Row {
  model: string;
  backend: 'cpu' | 'webgpu';
  B: number;
  T: number;
  medianMs: number;
  tokensPerSecond: number;
  loss: number;
}

function batch(c: Case, seed: number) {
  const N = c.B * c.T;
  const ids = Int32Array.from(
    { length: N },
    (_, i) => (Math.imul(i + 1, 2654435761 + seed) >>> 0) % c.config.vocabSize,
  );
  const targets = Int32Array.from({ length: N }, (_, i) => ids[(i + 1) % N]);
  const coef = new Float32Array(N).fill(1 / N);
  return { ids, targets, coef };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeCpu(c: Case): Promise<Row> {
  const { ids, targets, coef } = batch(c, 1);
  // A copy of the weights, so the GPU run starts from the same ones; the same AdamW step as on the GPU.
  const weights: WeightMap = new Map(
    [...c.weights].map(([k, t]) => [k, { shape: t.shape, data: t.data.slice() }]),
  );
  const params = new Map([...weights].map(([k, t]) => [k, t.data]));
  const adamw = new AdamW({ lr: 1e-4 });
  const times: number[] = [];
  let loss = 0;
  for (let r = 0; r < runs + 1; r++) {
    const t0 = performance.now();
    const out = qwen2LossAndGrads(
      { config: c.config, weights },
      { kind: 'ids', ids },
      c.B,
      c.T,
      targets,
      coef,
    );
    adamw.update(params, out.grads);
    loss = out.loss;
    if (r > 0) times.push(performance.now() - t0); // the first run warms up the JIT
  }
  const ms = median(times);
  return {
    model: c.model,
    backend: 'cpu',
    B: c.B,
    T: c.T,
    medianMs: ms,
    tokensPerSecond: (c.B * c.T * 1000) / ms,
    loss,
  };
}

async function timeGpu(c: Case, device: Awaited<ReturnType<typeof requestEngineDevice>>): Promise<Row> {
  const model = await GpuModel.create(device, c.config, c.weights);
  const trainer = await GpuTrainer.create(model, { mode: 'full', optimizer: { kind: 'adamw', lr: 1e-4 } });
  const { ids, targets, coef } = batch(c, 1);
  const step = () => trainer.trainStep([{ input: { kind: 'ids', ids }, B: c.B, T: c.T, targets, coef }]);
  let loss = (await step()).loss; // warm-up: pipelines and buffers
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    loss = (await step()).loss;
    times.push(performance.now() - t0);
  }
  trainer.dispose();
  model.dispose();
  const ms = median(times);
  return {
    model: c.model,
    backend: 'webgpu',
    B: c.B,
    T: c.T,
    medianMs: ms,
    tokensPerSecond: (c.B * c.T * 1000) / ms,
    loss,
  };
}

async function main(): Promise<void> {
  const cases: Case[] = [];
  if (!flag('large-only')) {
    for (const name of ['qwen2-tiny-a', 'qwen2-tiny-c']) {
      const m = await loadModel(new DirModelSource(resolve(fixtures, 'hf-golden', name)));
      cases.push({ model: name, config: m.config, weights: m.weights, B: quick ? 2 : 4, T: quick ? 16 : 64 });
    }
  }
  const large = {
    model: 'random-8x512',
    config: LARGE,
    weights: initQwen2Weights(LARGE, 7),
    B: quick ? 2 : 8,
    T: quick ? 32 : 256,
  };
  cases.push(large);

  const device = await requestEngineDevice(await nodeGpu());
  console.log(
    `adapter: ${device.adapter.description || device.adapter.device} (software: ${device.adapter.isFallbackAdapter})`,
  );
  const rows: Row[] = [];
  for (const c of cases) {
    if (!(c === large && flag('no-cpu-large'))) rows.push(await timeCpu(c));
    rows.push(await timeGpu(c, device));
  }
  device.destroy();

  console.log('model            backend   B×T        ms/step    tokens/s    loss');
  for (const r of rows) {
    console.log(
      `${r.model.padEnd(16)} ${r.backend.padEnd(9)} ${`${r.B}×${r.T}`.padEnd(10)} ${r.medianMs.toFixed(2).padStart(9)} ${r.tokensPerSecond.toFixed(0).padStart(11)}    ${r.loss.toFixed(4)}`,
    );
  }
  const ratios = cases.map((c) => {
    const cpu = rows.find((r) => r.model === c.model && r.backend === 'cpu');
    const gpu = rows.find((r) => r.model === c.model && r.backend === 'webgpu');
    return { model: c.model, gpuOverCpuSpeed: cpu && gpu ? cpu.medianMs / gpu.medianMs : null };
  });
  const memory = cases.map((c) => ({
    model: c.model,
    full: memoryPlan(c.config, { group: c.B, tokens: c.T }).total,
    lora16: memoryPlan(c.config, { group: c.B, tokens: c.T, lora: { r: 16 } }).total,
  }));
  for (const r of ratios)
    console.log(
      `${r.model}: WebGPU step is ${r.gpuOverCpuSpeed?.toFixed(2) ?? 'n/a'}× the CPU reference's speed`,
    );
  for (const m of memory)
    console.log(`${m.model}: memory plan full FT ${formatBytes(m.full)}, LoRA r=16 ${formatBytes(m.lora16)}`);
  const result = {
    bench: 'train',
    tag,
    date: new Date().toISOString(),
    adapter: device.adapter,
    rows,
    ratios,
    memory,
  };
  mkdirSync(resolve(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(
    resolve(import.meta.dirname, `results/train-${tag}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
