// Node only: build the backends a parity run needs for one fixture folder (CPU reference or WebGPU),
// and the WebGPU counterpart of gradParity.ts.
import type { Backend } from '../engine/backend.ts';
import type { Qwen2Config } from '../engine/config.ts';
import { CpuBackend } from '../engine/cpuBackend.ts';
import type { WeightDtype } from '../engine/gpu/buffers.ts';
import type { EngineDevice } from '../engine/gpu/device.ts';
import { GpuModel } from '../engine/gpu/model.ts';
import { GpuTrainer } from '../engine/gpu/train.ts';
import { GpuBackend } from '../engine/gpuBackend.ts';
import type { LoraAdapter } from '../engine/model/lora.ts';
import { loadLoraAdapter } from '../engine/model/lora.ts';
import { subSource } from '../engine/model/source.ts';
import { DirModelSource } from '../engine/model/source-node.ts';
import { loadModel } from '../engine/model/weights.ts';
import type { LoraWeights, ModelInput } from '../engine/ref/model.ts';
import type { WeightMap } from '../engine/tensor.ts';
import { gradientTensorNames } from './gradParity.ts';
import type { GoldenSet, ParityBackends } from './parity.ts';
import { checkTensor, DEFAULT_REL_TOL, type TensorCheck } from './tensorCheck.ts';

export type BackendFactory = (
  config: Qwen2Config,
  weights: WeightMap,
  adapter: LoraAdapter | null,
  /** How the backend stores the weight matrices (the CPU reference computes on the values as given). */
  storage?: WeightDtype,
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
    // WebGPU keeps the bf16 file's weights in bf16 (the values are exactly the widened ones the CPU uses).
    bf16: bf16 ? await make(bf16.config, bf16.weights, null, 'bf16') : null,
    hasAdapter: adapter !== null,
  };
}

/** The folder's f32 model and its adapter (null when the folder has none), for the gradient checks. */
export async function loadParityModel(
  dir: string,
): Promise<{ config: Qwen2Config; weights: WeightMap; adapter: LoraAdapter | null }> {
  const source = new DirModelSource(dir);
  const { config, weights } = await loadModel(source);
  const adapter = (await source.readFile('adapter/adapter_config.json'))
    ? await loadLoraAdapter(subSource(source, 'adapter'), config)
    : null;
  return { config, weights, adapter };
}

/** WebGPU backends on one shared device. */
export function gpuFactory(device: EngineDevice): BackendFactory {
  return async (config, weights, adapter, storage) =>
    GpuBackend.create(device, config, weights, adapter, { weightDtype: storage });
}

/**
 * gradientParity (gradParity.ts) on WebGPU: the golden loss, log-probs and every gradient from
 * GpuTrainer's backward — full fine-tuning for `loss.*` / `grad.*` and the mixture input's `mixloss.value`
 * / `mixgrad.*`, the folder's adapter for `lora.loss.value` / `lora_grad.*` (skipped when null). One
 * TensorCheck per golden tensor, in gradientTensorNames order.
 */
export async function gpuGradientParity(
  golden: GoldenSet,
  device: EngineDevice,
  config: Qwen2Config,
  weights: WeightMap,
  adapter: LoraWeights | null,
  rel = DEFAULT_REL_TOL,
): Promise<TensorCheck[]> {
  const names = gradientTensorNames(golden);
  const need = (name: string) => {
    const t = golden.tensors.get(name);
    if (!t) throw new Error(`golden.safetensors lacks ${name}`);
    return t;
  };
  const has = (prefix: string) => names.some((n) => n === prefix || n.startsWith(prefix));
  const ids = need('ids');
  const [B, T] = ids.shape;
  const targets = need('loss.targets').data;
  const coef = need('loss.coef').data;
  const results = new Map<string, ArrayLike<number>>();
  const model = await GpuModel.create(device, config, weights, adapter);
  try {
    const run = async (mode: 'full' | 'lora', input: ModelInput, lossName: string, prefix: string) => {
      const trainer = await GpuTrainer.create(model, { mode });
      try {
        const r = await trainer.backward({ input, B, T, targets, coef });
        results.set(lossName, [r.loss]);
        if (lossName === 'loss.value') results.set('loss.logp', r.logp);
        for (const [n, g] of await trainer.readGrads()) results.set(`${prefix}${n}`, g);
      } finally {
        trainer.dispose();
      }
    };
    if (has('loss.') || has('grad.'))
      await run('full', { kind: 'ids', ids: ids.data }, 'loss.value', 'grad.');
    if (has('mixloss.') || has('mixgrad.')) {
      const mixIds = need('mix.ids');
      const input: ModelInput = {
        kind: 'mixture',
        ids: mixIds.data,
        weights: need('mix.weights').data,
        k: mixIds.shape[2],
      };
      await run('full', input, 'mixloss.value', 'mixgrad.');
    }
    if (adapter && (has('lora.loss.') || has('lora_grad.')))
      await run('lora', { kind: 'ids', ids: ids.data }, 'lora.loss.value', 'lora_grad.');
  } finally {
    model.dispose();
  }
  const checks: TensorCheck[] = [];
  for (const name of names) {
    if (name.startsWith('lora') && !adapter) continue;
    const got = results.get(name);
    checks.push(
      got
        ? checkTensor(name, got, need(name).data, rel)
        : {
            name,
            maxAbsErr: Number.POSITIVE_INFINITY,
            tol: 0,
            pass: false,
            worst: { index: -1, got: Number.NaN, want: Number.NaN },
          },
    );
  }
  return checks;
}
