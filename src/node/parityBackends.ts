// Node only: build the backends a parity run needs for one fixture folder (CPU reference or WebGPU).
import type { Backend } from '../engine/backend.ts';
import type { Qwen2Config } from '../engine/config.ts';
import { CpuBackend } from '../engine/cpuBackend.ts';
import type { EngineDevice } from '../engine/gpu/device.ts';
import { GpuBackend } from '../engine/gpuBackend.ts';
import type { LoraAdapter } from '../engine/model/lora.ts';
import { loadLoraAdapter } from '../engine/model/lora.ts';
import { subSource } from '../engine/model/source.ts';
import { DirModelSource } from '../engine/model/source-node.ts';
import { loadModel } from '../engine/model/weights.ts';
import type { ParityBackends } from '../engine/parity.ts';
import type { WeightMap } from '../engine/tensor.ts';

export type BackendFactory = (
  config: Qwen2Config,
  weights: WeightMap,
  adapter: LoraAdapter | null,
) => Promise<Backend>;

export const cpuFactory: BackendFactory = async (config, weights, adapter) =>
  new CpuBackend(config, weights, adapter);

export async function parityBackends(
  dir: string,
  name: string,
  make: BackendFactory,
): Promise<ParityBackends> {
  const source = new DirModelSource(dir);
  const f32 = await loadModel(source);
  const adapter = (await source.readFile('adapter/adapter_config.json'))
    ? await loadLoraAdapter(subSource(source, 'adapter'), f32.config)
    : null;
  const hasBf16 = (await source.readFile('model.bf16.safetensors')) !== null;
  const bf16 = hasBf16 ? await loadModel(source, { weightsFile: 'model.bf16.safetensors' }) : null;
  return {
    name,
    config: f32.config,
    f32: await make(f32.config, f32.weights, adapter),
    bf16: bf16 ? await make(bf16.config, bf16.weights, null) : null,
    hasAdapter: adapter !== null,
  };
}

/** WebGPU backends on one shared device. */
export function gpuFactory(device: EngineDevice): BackendFactory {
  return async (config, weights, adapter) => GpuBackend.create(device, config, weights, adapter);
}
