// The paper's model shapes (Qwen2.5-0.5B / 1.5B-Instruct, test/fixtures-local/*.config.json) on WebGPU:
// how many dispatches one decode step records, how many bind groups it has to create (0: all from the
// cache) and how long the CPU takes to encode it — the cost the fused decode step of issue 12 cuts (its
// target: ≤ 6 · L + 6 dispatches; kernels/fusedDecode.wgsl.ts) — for a discrete step
// (GpuModel.decode) and a mixture rollout step (the GPU fast path, preset dirichlet), batch G.
//   npx tsx bench/paper.bench.ts [--quick] [--group G] [--steps N]   (npm run bench:paper -- --quick)
// --quick keeps each shape's layer count, heads and GQA ratio but shrinks widths and vocabulary (any
// adapter, lavapipe included: dispatch counts depend on the layer count, not the widths); without it the
// real shapes run with random f32 weights (a GPU with several GB). Prints one line per shape and step kind,
// then one JSON line.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseQwen2Config, type Qwen2Config } from '../src/engine/config.ts';
import { requestEngineDevice } from '../src/engine/gpu/device.ts';
import { GpuMixtureStepper } from '../src/engine/gpu/mixture.ts';
import { GpuBackend } from '../src/engine/gpuBackend.ts';
import { initQwen2Weights } from '../src/engine/model/init.ts';
import { makeSettings } from '../src/mot/presets.ts';
import { nodeGpu } from '../src/node/webgpu.ts';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
const G = opt('group', 8);
const steps = opt('steps', 8);
const PROMPT = 16;
const SHAPES = ['qwen2.5-0.5b', 'qwen2.5-1.5b'];

/** The shape's config; --quick: same layers, heads and GQA, head dim 8, MLP 2×, vocabulary 1024. */
function shapeConfig(name: string): Qwen2Config {
  const raw = JSON.parse(
    readFileSync(resolve(import.meta.dirname, `../test/fixtures-local/${name}.config.json`), 'utf8'),
  );
  if (!quick) return parseQwen2Config(raw);
  const hidden = raw.num_attention_heads * 8;
  return parseQwen2Config({
    ...raw,
    hidden_size: hidden,
    intermediate_size: hidden * 2,
    vocab_size: 1024,
    max_position_embeddings: 256,
    // the real special-token ids lie outside the small vocabulary
    bos_token_id: null,
    eos_token_id: 1023,
  });
}

interface StepCost {
  dispatches: number;
  bindGroupsCreated: number;
  encodeMs: number;
  stepMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measure(backend: GpuBackend, run: (step: number) => Promise<unknown>): Promise<StepCost> {
  const ctx = backend.model.ctx;
  const d: number[] = [];
  const e: number[] = [];
  const t: number[] = [];
  const g: number[] = [];
  for (let s = 1; s <= steps; s++) {
    const t0 = performance.now();
    await run(s);
    t.push(performance.now() - t0);
    d.push(ctx.lastSubmit.dispatches);
    e.push(ctx.lastSubmit.encodeMs);
    g.push(ctx.lastSubmit.bindGroupsCreated);
  }
  return { dispatches: median(d), bindGroupsCreated: median(g), encodeMs: median(e), stepMs: median(t) };
}

async function discreteStep(backend: GpuBackend, V: number): Promise<StepCost> {
  const cache = backend.createCache(G, PROMPT + steps + 1);
  const prompt = Int32Array.from({ length: G * PROMPT }, (_, i) => (i * 13 + 5) % V);
  const opts = { greedy: false, temperature: 1, seed: 1 };
  let next = await backend.decode(cache, { kind: 'ids', ids: prompt }, PROMPT, { ...opts, step: 0 });
  const cost = await measure(backend, async (step) => {
    next = await backend.decode(cache, { kind: 'ids', ids: next }, 1, { ...opts, step });
  });
  cache.dispose();
  return cost;
}

async function mixtureStep(backend: GpuBackend, config: Qwen2Config): Promise<StepCost> {
  const V = config.vocabSize;
  const stepper = new GpuMixtureStepper(
    backend.model,
    { vocabSize: V, hiddenSize: config.hiddenSize, numHiddenLayers: config.numHiddenLayers },
    {
      B: G,
      capacity: PROMPT + steps + 1,
      settings: makeSettings('dirichlet', {}, V),
      seed: 2,
      lora: false,
      hiddenEntropy: true,
      noiseStd: 0,
    },
  );
  const modes = new Array(G).fill('thinking');
  await stepper.prefill({
    ids: Int32Array.from({ length: G * PROMPT }, (_, i) => (i * 13 + 5) % V),
    T: PROMPT,
    positions: Int32Array.from({ length: G * PROMPT }, (_, i) => i % PROMPT),
    mask: new Uint8Array(G * PROMPT).fill(1),
    modes,
    step: 0,
  });
  const cost = await measure(backend, (step) =>
    stepper.step({
      inputs: new Array(G).fill({ kind: 'action' }),
      positions: new Int32Array(G).fill(PROMPT + step - 1),
      mask: new Uint8Array(G).fill(1),
      modes,
      step,
    }),
  );
  stepper.dispose();
  return cost;
}

async function main(): Promise<void> {
  const device = await requestEngineDevice(await nodeGpu());
  const adapter = device.adapter.description || device.adapter.device;
  console.log(
    `adapter: ${adapter}; G = ${G}, ${steps} steps after a ${PROMPT}-token prompt${quick ? ', --quick' : ''}`,
  );
  const rows: Record<string, unknown>[] = [];
  for (const name of SHAPES) {
    const config = shapeConfig(name);
    const L = config.numHiddenLayers;
    const backend = await GpuBackend.create(device, config, initQwen2Weights(config, 1), null);
    for (const [kind, cost] of [
      ['discrete', await discreteStep(backend, config.vocabSize)],
      ['mixture (dirichlet)', await mixtureStep(backend, config)],
    ] as const) {
      console.log(
        `${name} ${kind}: dispatches per decode step: ${cost.dispatches} (${L} layers; target ≤ ${6 * L + 6}); ` +
          `bind groups created ${cost.bindGroupsCreated}; JS encoding ${cost.encodeMs.toFixed(2)} ms/step; step ${cost.stepMs.toFixed(2)} ms`,
      );
      rows.push({ shape: name, kind, layers: L, ...cost });
    }
    backend.dispose();
  }
  console.log(JSON.stringify({ adapter, quick, G, steps, rows }));
}

main().then(
  () => process.exit(0), // Dawn's device keeps the process alive
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
