// GRPO benchmark (not a test): rollout tokens/s with G = 8 and the time of one GRPO step (rollout +
// policy/reference forward + backward + update) for `discrete` and every mixture preset, on the CPU
// reference and on WebGPU (Node + Dawn, whatever adapter is present), on the built-in model. On the CPU the
// mixture presets also run with the exact likelihood (MOTG.md §2), which trains only there.
//   npx tsx bench/grpo.bench.ts [--model DIR] [--tag NAME] [--steps N] [--group G] [--tokens N] [--no-cpu]
// Prints a table, then one JSON line, also written to bench/results/grpo-<tag>.json. Ratios are against
// `discrete` on the same backend in the same run (these machines are shared and noisy).
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { PRESET_NAMES } from '../src/mot/presets.ts';
import type { PresetName } from '../src/mot/settings.ts';
import { nodeGpu } from '../src/node/webgpu.ts';
import type { StepMetrics } from '../src/rl/metrics.ts';
import { Engine } from '../src/worker/engine.ts';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const model = resolve(opt('model') ?? resolve(import.meta.dirname, '../public/models/motg-builtin'));
const tag = (opt('tag') ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '_');
const steps = Number(opt('steps') ?? 3);
const G = Number(opt('group') ?? 8);
const maxTokens = Number(opt('tokens') ?? 48);
const withCpu = !args.includes('--no-cpu');

interface Row {
  backend: 'cpu' | 'webgpu';
  preset: PresetName;
  likelihood: 'paper' | 'exact';
  /** Why this preset does not train on this backend (no timings then). */
  unsupported?: string;
  rolloutTokensPerSecond?: number;
  rolloutMs?: number;
  trainMs?: number;
  stepMs?: number;
  completionLength?: number;
  /** stepMs / discrete's stepMs on the same backend. */
  stepVsDiscrete?: number;
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function benchBackend(kind: 'cpu' | 'webgpu'): Promise<{ rows: Row[]; adapter: string }> {
  const engine = new Engine({
    gpu: kind === 'webgpu' ? await nodeGpu() : null,
    resolveSource: (loc) => {
      if (loc.kind !== 'url') throw new Error('bench: folder locations only');
      return new DirModelSource(loc.baseUrl);
    },
  });
  const info = await engine.init({ backend: kind });
  const adapter = `${info.backend}: ${info.description}${info.isFallbackAdapter ? ' (software)' : ''}`;
  await engine.loadModel({ kind: 'url', baseUrl: model });
  const rows: Row[] = [];
  const cases = PRESET_NAMES.flatMap((preset): { preset: PresetName; likelihood: 'paper' | 'exact' }[] =>
    kind === 'cpu' && preset !== 'discrete'
      ? [
          { preset, likelihood: 'paper' as const },
          { preset, likelihood: 'exact' as const },
        ]
      : [{ preset, likelihood: 'paper' as const }],
  );
  for (const { preset, likelihood } of cases) {
    let trainer: Awaited<ReturnType<Engine['createTrainer']>>;
    try {
      trainer = await engine.createTrainer({
        preset,
        mot: { paperTemperature: 'one', likelihood },
        tasks: [{ task: 'chain_sum', level: 'trivial' }],
        grpo: {
          num_generations: G,
          per_device_train_batch_size: G,
          gradient_accumulation_steps: 1,
          max_completion_length: maxTokens,
          learning_rate: 1e-4,
          optim: 'adamw',
          max_grad_norm: 1,
          max_steps: steps + 1,
          seed: 0,
        },
      });
    } catch (e) {
      rows.push({ backend: kind, preset, likelihood, unsupported: (e as Error).message });
      continue;
    }
    await trainer.trainStep(); // warm-up: pipelines, JIT
    const ms: StepMetrics[] = [];
    for (let i = 0; i < steps; i++) ms.push((await trainer.trainStep()).metrics);
    rows.push({
      backend: kind,
      preset,
      likelihood,
      rolloutTokensPerSecond: median(ms.map((m) => m.tokensPerSecond)),
      rolloutMs: median(ms.map((m) => m.rolloutMs)),
      trainMs: median(ms.map((m) => m.trainMs)),
      stepMs: median(ms.map((m) => m.wallMs)),
      completionLength: median(ms.map((m) => m.completionLength)),
    });
  }
  const base = rows.find((r) => r.preset === 'discrete')?.stepMs;
  for (const r of rows) if (base && r.stepMs) r.stepVsDiscrete = r.stepMs / base;
  await engine.dispose();
  return { rows, adapter };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const adapters: string[] = [];
  for (const kind of withCpu ? (['cpu', 'webgpu'] as const) : (['webgpu'] as const)) {
    const r = await benchBackend(kind);
    rows.push(...r.rows);
    adapters.push(r.adapter);
    console.log(`backend ${r.adapter}`);
  }
  console.log(`G = ${G}, 1 prompt per step, ≤ ${maxTokens} completion tokens, median of ${steps} steps`);
  console.log(
    'backend  preset               likelihood  rollout tok/s  rollout ms  train ms  step ms  step/discrete',
  );
  for (const r of rows) {
    if (r.unsupported) {
      console.log(
        `${r.backend.padEnd(8)} ${r.preset.padEnd(20)} ${r.likelihood.padEnd(11)} not trainable here: ${r.unsupported}`,
      );
      continue;
    }
    console.log(
      `${r.backend.padEnd(8)} ${r.preset.padEnd(20)} ${r.likelihood.padEnd(11)} ${(r.rolloutTokensPerSecond ?? 0).toFixed(0).padStart(13)} ` +
        `${(r.rolloutMs ?? 0).toFixed(0).padStart(11)} ${(r.trainMs ?? 0).toFixed(0).padStart(9)} ` +
        `${(r.stepMs ?? 0).toFixed(0).padStart(8)} ${(r.stepVsDiscrete ?? 0).toFixed(2).padStart(14)}`,
    );
  }
  const result = {
    bench: 'grpo',
    tag,
    date: new Date().toISOString(),
    model,
    G,
    steps,
    maxTokens,
    adapters,
    rows,
  };
  mkdirSync(resolve(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(
    resolve(import.meta.dirname, `results/grpo-${tag}.json`),
    `${JSON.stringify(result, null, 2)}\n`,
  );
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
