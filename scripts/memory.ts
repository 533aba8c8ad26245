// npm run memory -- <config.json | model folder> [--lora r] [--group G] [--tokens N] [--recompute]
//                   [--optimizer adamw|sgd|sgd-momentum] [--freeze-embeddings] [--backend webgpu|cpu]
//                   [--dtype f32|f16|bf16]
// Prints the training memory plan (src/engine/train/memory.ts): bytes per buffer and per group
// (parameters, gradients, optimizer state, saved activations, backward scratch, KV cache) and the total,
// of the WebGPU engine (a browser run; the buffer pool's size classes included) or, with --backend cpu,
// of the CPU reference. --dtype: how the frozen weight matrices are stored (LoRA; full fine-tuning keeps
// f32 master weights).
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseQwen2Config } from '../src/engine/config.ts';
import { WEIGHT_DTYPES, type WeightDtype } from '../src/engine/gpu/buffers.ts';
import {
  formatBytes,
  formatMemoryTable,
  type MemoryBackend,
  memoryPlan,
  type OptimizerKind,
} from '../src/engine/train/memory.ts';

const USAGE =
  'usage: npm run memory -- <config.json | model folder> [--lora r] [--group G] [--tokens N] [--recompute] [--optimizer adamw|sgd|sgd-momentum] [--freeze-embeddings] [--backend webgpu|cpu] [--dtype f32|f16|bf16]';

function main(argv: string[]): number {
  const flags = new Set(['--recompute', '--freeze-embeddings']);
  const values = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (flags.has(a)) values.set(a, 'true');
    else if (a.startsWith('--')) {
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      values.set(a, v);
      i++;
    } else positional.push(a);
  }
  if (positional.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  const known = new Set(['--lora', '--group', '--tokens', '--optimizer', '--backend', '--dtype', ...flags]);
  for (const k of values.keys()) if (!known.has(k)) throw new Error(`unknown option ${k}\n${USAGE}`);
  const int = (key: string, fallback: number): number => {
    const raw = values.get(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${key} must be a positive integer, got ${raw}`);
    return n;
  };
  let path = resolve(positional[0]);
  if (statSync(path).isDirectory()) path = join(path, 'config.json');
  const config = parseQwen2Config(JSON.parse(readFileSync(path, 'utf8')), path);
  const optimizer = (values.get('--optimizer') ?? 'adamw') as OptimizerKind;
  if (!['adamw', 'sgd', 'sgd-momentum'].includes(optimizer))
    throw new Error(`--optimizer: unknown ${optimizer}\n${USAGE}`);
  const backend = (values.get('--backend') ?? 'webgpu') as MemoryBackend;
  if (!['webgpu', 'cpu'].includes(backend)) throw new Error(`--backend: unknown ${backend}\n${USAGE}`);
  const dtype = (values.get('--dtype') ?? 'f32') as WeightDtype;
  if (!WEIGHT_DTYPES.includes(dtype)) throw new Error(`--dtype: unknown ${dtype}\n${USAGE}`);
  const r = values.has('--lora') ? int('--lora', 16) : 0;
  const plan = memoryPlan(config, {
    group: int('--group', 8),
    tokens: int('--tokens', 512),
    lora: r > 0 ? { r } : null,
    optimizer,
    recompute: values.has('--recompute'),
    trainEmbeddings: !values.has('--freeze-embeddings'),
    backend,
    dtype,
  });
  const mode = r > 0 ? `LoRA r=${r} (all linear layers)` : 'full fine-tuning';
  console.log(
    `${path}: ${backend}, ${mode}, ${optimizer}, G=${int('--group', 8)} × N=${int('--tokens', 512)} tokens${values.has('--recompute') ? ', recompute' : ''}, weights ${r > 0 ? dtype : 'f32 (full fine-tuning)'}, activations f32`,
  );
  console.log(formatMemoryTable(plan));
  console.log(`trainable parameters: ${plan.trainableElements} (${formatBytes(plan.trainableElements * 4)})`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error((e as Error).message);
  process.exitCode = 2;
}
