// The page's memory-fit check at the largest config CONFIG_BOUNDS allows (1,024 layers, vocabulary 2^22,
// hidden 65,536): how long fitReport takes on the main thread, for a WebGPU and a CPU adapter, against the
// per-tensor list it used to build (expectedParameters, kept as the peer in the same run).
//   npx tsx bench/memory-fit.bench.ts
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_BOUNDS, expectedParameters, parseQwen2Config } from '../src/engine/config.ts';
import { fitReport } from '../src/store/lib/memoryFit.ts';
import { DEFAULT_SETTINGS } from '../src/store/settings.ts';
import type { AdapterInfo } from '../src/worker/api.ts';

const raw = JSON.parse(
  readFileSync(resolve(import.meta.dirname, '../public/models/motg-builtin/config.json'), 'utf8'),
);
const B = CONFIG_BOUNDS;
const largest = parseQwen2Config({
  ...raw,
  vocab_size: B.vocab_size,
  hidden_size: B.hidden_size,
  intermediate_size: B.intermediate_size,
  num_hidden_layers: B.num_hidden_layers,
  num_attention_heads: B.num_attention_heads,
  num_key_value_heads: B.num_key_value_heads,
  head_dim: 64, // hidden_size / heads: a head_dim at its bound would not match the heads × head_dim layout
});
const gpu = {
  backend: 'webgpu',
  maxBufferSize: 2 ** 30,
  maxStorageBufferBindingSize: 2 ** 30,
} as AdapterInfo;

function median(f: () => void, runs = 9): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[runs >> 1];
}

const perTensor = median(() => expectedParameters(largest));
for (const [name, adapter] of [
  ['webgpu', gpu],
  ['cpu', null],
] as const) {
  const first = performance.now();
  fitReport(largest, adapter, DEFAULT_SETTINGS.memory);
  const cold = performance.now() - first;
  const warm = median(() => fitReport(largest, adapter, DEFAULT_SETTINGS.memory));
  console.log(
    `fitReport ${name}: first ${cold.toFixed(1)} ms, median ${warm.toFixed(2)} ms ` +
      `(the per-tensor list alone: ${perTensor.toFixed(2)} ms, ratio ${(warm / perTensor).toFixed(2)})`,
  );
}
