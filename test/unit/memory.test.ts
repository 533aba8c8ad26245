// The training memory plan: parameter counts of real Qwen2.5 models, and every group of the 'cpu' plan
// checked against what the CPU reference actually allocates on a tiny model (the 'webgpu' plan, the
// default, is checked against the GPU buffer pool in test/gpu/memory-plan.test.ts).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectedParameters, parseQwen2Config, type Qwen2Config } from '../../src/engine/config.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { qwen2Backward, qwen2ForwardTrain } from '../../src/engine/ref/backward.ts';
import { logprobLoss } from '../../src/engine/ref/loss.ts';
import { type LoraWeights, RefKvCache } from '../../src/engine/ref/model.ts';
import { formatMemoryTable, loraTargets, memoryPlan } from '../../src/engine/train/memory.ts';
import { AdamW } from '../../src/engine/train/optim.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const configFile = (name: string) => resolve(ROOT, 'test/fixtures-local', name);
const load = (name: string): Qwen2Config =>
  parseQwen2Config(JSON.parse(readFileSync(configFile(name), 'utf8')));
const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

describe('Qwen2.5 configs (public values)', () => {
  it.each([
    // published parameter counts (tied embeddings counted once); peft's trainable count for r = 16 on
    // all seven projections
    ['qwen2.5-0.5b.config.json', 494_032_768, 8_798_208],
    ['qwen2.5-1.5b.config.json', 1_543_714_304, 18_464_768],
  ])('%s: %i parameters, LoRA r=16 trains %i', (file, params, loraParams) => {
    const cfg = load(file);
    const cpu = { group: 8, tokens: 512, backend: 'cpu' as const };
    const full = memoryPlan(cfg, cpu);
    expect(full.trainableElements).toBe(params);
    expect(full.groups.parameters).toBe(4 * params);
    expect(full.groups.gradients).toBe(4 * params);
    expect(full.groups.optimizer).toBe(8 * params);
    const lora = memoryPlan(cfg, { ...cpu, lora: { r: 16 } });
    expect(lora.trainableElements).toBe(loraParams);
    expect(lora.groups.parameters).toBe(4 * (params + loraParams));
    expect(lora.groups.gradients).toBe(4 * loraParams);
    expect(lora.groups.optimizer).toBe(8 * loraParams);
    // Same activations either way; recomputation keeps one layer's internals instead of L.
    expect(lora.groups.activations).toBe(full.groups.activations);
    const rc = memoryPlan(cfg, { ...cpu, lora: { r: 16 }, recompute: true });
    expect(rc.groups.activations).toBeLessThan(lora.groups.activations / 3);
    expect(rc.total).toBeLessThan(lora.total);
    expect(lora.total).toBeLessThan(full.total);
    // WebGPU: the same parameters, uploaded exactly; gradients and AdamW state in the pool's size classes
    // (at most 1/8 more above 1 MiB, the next power of two below); no saved attention probabilities.
    const gpu = memoryPlan(cfg, { group: 8, tokens: 512 });
    expect(gpu.trainableElements).toBe(params);
    expect(gpu.groups.parameters).toBe(full.groups.parameters);
    expect(gpu.groups.gradients).toBeGreaterThanOrEqual(full.groups.gradients);
    expect(gpu.groups.gradients).toBeLessThan(1.13 * full.groups.gradients);
    expect(gpu.groups.optimizer).toBeGreaterThanOrEqual(2 * gpu.groups.gradients);
    expect(gpu.groups.optimizer).toBeLessThan(2 * gpu.groups.gradients + 2 ** 20); // + the norm's partial sums
    expect(gpu.groups.activations).toBeLessThan(full.groups.activations);
    const gpuLora = memoryPlan(cfg, { group: 8, tokens: 512, lora: { r: 16 } });
    expect(gpuLora.groups.activations).toBe(gpu.groups.activations);
    const gpuRc = memoryPlan(cfg, { group: 8, tokens: 512, lora: { r: 16 }, recompute: true });
    expect(gpuRc.groups.activations).toBeLessThan(gpuLora.groups.activations / 3);
    expect(gpuLora.total).toBeLessThan(gpu.total);
    expect(lora.total).toBeLessThan(full.total);
  });
});

describe('the plan matches what the CPU reference allocates', () => {
  const cfg = tinyConfig({ tie_word_embeddings: false });
  const G = 3;
  const N = 7;
  const model = { config: cfg, weights: initQwen2Weights(cfg, 4, 0.2) };
  const ids = Array.from({ length: G * N }, (_, i) => (i * 11 + 3) % cfg.vocabSize);
  const coef = Array.from({ length: G * N }, (_, i) => (i % 3) - 1);

  it('saved activations, gradients (full and LoRA), AdamW state and the KV cache', () => {
    const saved = qwen2ForwardTrain(model, { kind: 'ids', ids }, G, N);
    const arrays = new Set<Float32Array>([
      saved.embeds,
      saved.resOut,
      saved.rstdF,
      saved.normedF,
      saved.logits,
    ]);
    for (const l of saved.layers) for (const a of Object.values(l)) arrays.add(a);
    let bytes = 0;
    for (const a of arrays) bytes += a.byteLength;
    const plan = memoryPlan(cfg, { backend: 'cpu', group: G, tokens: N });
    expect(plan.groups.activations).toBe(bytes);

    const { dlogits } = logprobLoss(saved.logits, ids, coef, G * N, cfg.vocabSize);
    const grads = qwen2Backward(saved, dlogits).grads;
    let gradBytes = 0;
    for (const g of grads.values()) gradBytes += g.byteLength;
    expect(plan.groups.gradients).toBe(gradBytes);
    const params = new Map([...model.weights].map(([n, t]) => [n, t.data.slice()]));
    const opt = new AdamW();
    opt.update(params, grads);
    expect(plan.groups.optimizer).toBe(opt.stateBytes());
    expect(plan.groups.parameters).toBe(
      [...expectedParameters(cfg).values()].reduce((s, sh) => s + 4 * numel(sh), 0),
    );

    const cache = new RefKvCache(cfg, G, N);
    expect(plan.groups['kv cache']).toBe([...cache.k, ...cache.v].reduce((s, a) => s + a.byteLength, 0));

    // LoRA r = 2 on every linear layer: gradients are the adapter's only.
    const r = 2;
    const lora: LoraWeights = { r, scale: 1, layers: new Map() };
    for (const [name, [o, i]] of loraTargets(cfg)) {
      lora.layers.set(name, {
        A: { shape: [r, i], data: new Float32Array(r * i).fill(0.01) },
        B: { shape: [o, r], data: new Float32Array(o * r) },
      });
    }
    const savedL = qwen2ForwardTrain(model, { kind: 'ids', ids }, G, N, { lora });
    const lgrads = qwen2Backward(savedL, dlogits, { lora: true }).grads;
    const lplan = memoryPlan(cfg, { backend: 'cpu', group: G, tokens: N, lora: { r } });
    expect(lplan.groups.gradients).toBe([...lgrads.values()].reduce((s, g) => s + g.byteLength, 0));
    expect(lgrads.size).toBe(2 * 7 * cfg.numHiddenLayers);
  });

  it('optimizer state: AdamW 2×, SGD momentum 1×, plain SGD none; frozen embeddings leave their gradient out', () => {
    const a = memoryPlan(cfg, { backend: 'cpu', group: G, tokens: N, optimizer: 'adamw' });
    const m = memoryPlan(cfg, { backend: 'cpu', group: G, tokens: N, optimizer: 'sgd-momentum' });
    const s = memoryPlan(cfg, { backend: 'cpu', group: G, tokens: N, optimizer: 'sgd' });
    expect(a.groups.optimizer).toBe(2 * a.groups.gradients);
    expect(m.groups.optimizer).toBe(a.groups.gradients);
    expect(s.groups.optimizer).toBe(0);
    const frozen = memoryPlan(cfg, { backend: 'cpu', group: G, tokens: N, trainEmbeddings: false });
    expect(a.groups.gradients - frozen.groups.gradients).toBe(4 * cfg.vocabSize * cfg.hiddenSize);
  });

  it('recompute keeps the residual stream, the head inputs and one layer of workspace', () => {
    const full = memoryPlan(cfg, { backend: 'cpu', group: G, tokens: N });
    const rc = memoryPlan(cfg, { backend: 'cpu', group: G, tokens: N, recompute: true });
    const saved = qwen2ForwardTrain(model, { kind: 'ids', ids }, G, N);
    const layer0 = Object.values(saved.layers[0]).filter((a) => a !== saved.layers[0].resIn);
    const oneLayer = layer0.reduce((s, a) => s + a.byteLength, 0);
    expect(full.groups.activations - rc.groups.activations).toBe((cfg.numHiddenLayers - 1) * oneLayer);
  });
});

describe('table and script', () => {
  it('formats one line per buffer, subtotals and the total', () => {
    const plan = memoryPlan(load('qwen2.5-0.5b.config.json'), { group: 8, tokens: 512, lora: { r: 16 } });
    const text = formatMemoryTable(plan);
    expect(text).toMatch(/^parameters\s+embed_tokens\s+\(V, C\)\s+136134656\s+519\.31 MiB$/m);
    // WebGPU keeps each query's log-sum-exp and recomputes the probabilities tile by tile (nothing N × N);
    // the CPU reference keeps every layer's probabilities.
    expect(text).not.toMatch(/^activations\s+att\s/m);
    expect(text).not.toMatch(/N, N\)/);
    expect(text).toMatch(/^activations\s+attention lse\s+\(L, G, H, N\)/m);
    expect(text).toMatch(/^backward scratch\s+attention delta .*\(G, H, N\)/m);
    // No (BT, V) logits: the head works through one (BT, Vc) chunk of the vocabulary at a time.
    expect(text).not.toMatch(/\(BT, V\)/);
    const cpu = memoryPlan(load('qwen2.5-0.5b.config.json'), { group: 8, tokens: 512, backend: 'cpu' });
    expect(formatMemoryTable(cpu)).toMatch(/^activations\s+att\s+\(L, G, H, N, N\)/m);
    expect(text.split('\n').at(-1)).toMatch(/^total\s+\d+\.\d\d GiB$/);
  });

  it('scripts/memory.ts prints the plan for a config file', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/memory.ts',
        configFile('qwen2.5-0.5b.config.json'),
        '--lora',
        '16',
        '--group',
        '8',
        '--tokens',
        '512',
        '--recompute',
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    expect(out).toContain('LoRA r=16');
    expect(out).toContain('webgpu');
    expect(out).toContain('trainable parameters: 8798208');
    // 24 layers × k, v of 8 × 512 × 128 floats, and the WebGPU cache's (G, N) mask.
    expect(out).toMatch(/^kv cache\s+= subtotal\s+96\.02 MiB$/m);
  });
});
