// Load a model folder onto the GPU tensor by tensor (model/stream.ts): every weight matrix in the storage
// dtype chosen (`auto`: the checkpoint's own), each tensor uploaded and let go before the next is read, and
// the whole load refused from the headers alone, before any upload, when a tensor cannot be a buffer on
// this device or the weights exceed the memory the caller says the device has. A NaN / infinite weight
// (found by the stream as each tensor is read) stops the load with 'tensor-non-finite'; the pool is freed.
import type { Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import { unpackHalves } from '../model/halfFloat.ts';
import type { ModelStream } from '../model/stream.ts';
import type { ParameterEntry } from '../model/weights.ts';
import type { LoraWeights } from '../ref/model.ts';
import type { WeightMap } from '../tensor.ts';
import { alignTo, type GpuTensor, type WeightDtype } from './buffers.ts';
import type { EngineDevice, EngineLimits } from './device.ts';
import { GpuModel } from './model.ts';
import { parameterDtype, parameterTableFrom, uploadWeight } from './params.ts';

/** The page's weights setting: a storage dtype, or `auto` (the dtype the checkpoint's matrices share). */
export type WeightDtypeSetting = 'auto' | WeightDtype;
export const WEIGHT_DTYPE_SETTINGS: readonly WeightDtypeSetting[] = ['auto', 'f32', 'f16', 'bf16'];

/** `auto` → BF16 matrices give bf16, F16 give f16, F32 (or a mix) f32; any other setting as it is. */
export function resolveWeightDtype(setting: WeightDtypeSetting, parameters: ParameterEntry[]): WeightDtype {
  if (setting !== 'auto') return setting;
  const matrices = new Set(parameters.filter((p) => p.shape.length === 2).map((p) => p.dtype));
  if (matrices.size !== 1) return 'f32';
  const only = [...matrices][0];
  return only === 'BF16' ? 'bf16' : only === 'F16' ? 'f16' : 'f32';
}

/** One parameter as it will be on the GPU. */
export interface GpuWeightEntry {
  name: string;
  storage: WeightDtype;
  bytes: number;
}

export interface GpuWeightPlan {
  storage: WeightDtype;
  entries: GpuWeightEntry[];
  totalBytes: number;
  largest: GpuWeightEntry | null;
}

/** Bytes each parameter takes on the GPU: the 2-D matrices in `storage` (16-bit: padded to 4 bytes, as
 * BufferPool.uploadHalves does), norms and biases f32. */
export function gpuWeightPlan(parameters: ParameterEntry[], storage: WeightDtype): GpuWeightPlan {
  const entries = parameters.map((p): GpuWeightEntry => {
    const numel = p.shape.reduce((a, b) => a * b, 1);
    const dtype = parameterDtype(p.shape, storage);
    const bytes = Math.max(4, dtype === 'f32' ? numel * 4 : alignTo(numel * 2, 4));
    return { name: p.name, storage: dtype, bytes };
  });
  let largest: GpuWeightEntry | null = null;
  let totalBytes = 0;
  for (const e of entries) {
    totalBytes += e.bytes;
    if (!largest || e.bytes > largest.bytes) largest = e;
  }
  return { storage, entries, totalBytes, largest };
}

function mib(n: number): string {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

/**
 * Throw EngineError('model-too-large') naming the tensor when one cannot be a storage buffer under the
 * device's limits, or when the running total passes `memoryBytes` (what the device can be expected to
 * hold, when the caller knows such a figure; WebGPU reports none).
 */
export function checkWeightsFit(
  plan: GpuWeightPlan,
  limits: Pick<EngineLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>,
  memoryBytes?: number,
): void {
  const cap = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
  const hint =
    plan.storage === 'f32'
      ? ' Load it with 16-bit (bf16 or f16) weights, or pick a smaller model.'
      : ' Pick a smaller model.';
  let total = 0;
  for (const e of plan.entries) {
    if (e.bytes > cap) {
      const which = e.bytes > limits.maxBufferSize ? 'maxBufferSize' : 'maxStorageBufferBindingSize';
      throw new EngineError(
        'model-too-large',
        `tensor ${e.name} needs ${mib(e.bytes)} as ${e.storage}, over this GPU's ${which} (${mib(cap)}); nothing was loaded.${hint}`,
        { tensor: e.name },
      );
    }
    total += e.bytes;
    if (memoryBytes !== undefined && total > memoryBytes) {
      throw new EngineError(
        'model-too-large',
        `the weights need ${mib(plan.totalBytes)} as ${plan.storage}, over the ${mib(memoryBytes)} this device can hold (passed at tensor ${e.name}); nothing was loaded.${hint}`,
        { tensor: e.name },
      );
    }
  }
}

export interface StreamLoadOptions {
  weightDtype?: WeightDtypeSetting;
  lora?: LoraWeights | null;
  /** Also keep every parameter as f32 on the host (what full fine-tuning and exports need). */
  keepHost?: boolean;
  /** What the device can be expected to hold, when known (checked before anything is uploaded). */
  memoryBytes?: number;
  /** Called after each tensor's upload (progress, heap sampling). */
  onTensor?: (name: string, index: number, count: number) => void;
}

export interface StreamLoaded {
  model: GpuModel;
  plan: GpuWeightPlan;
  /** The f32 host copy when keepHost, else null. */
  host: WeightMap | null;
}

/** Check the plan against the device, then stream every parameter of `stream` onto it. */
export async function streamModelToGpu(
  dev: EngineDevice,
  stream: ModelStream,
  opts: StreamLoadOptions = {},
): Promise<StreamLoaded> {
  const cfg: Qwen2Config = stream.config;
  const storage = resolveWeightDtype(opts.weightDtype ?? 'auto', stream.parameters);
  const plan = gpuWeightPlan(stream.parameters, storage);
  checkWeightsFit(plan, dev.limits, opts.memoryBytes);
  const storageOf = new Map(plan.entries.map((e) => [e.name, e.storage]));
  const host: WeightMap | null = opts.keepHost ? new Map() : null;
  const model = await GpuModel.fromParameters(
    dev,
    cfg,
    async (pool) => {
      const uploaded = new Map<string, GpuTensor>();
      let index = 0;
      // Without a host copy the source may read every tensor into one reused scratch buffer.
      for await (const { entry, values } of stream.tensors({ reuse: !host })) {
        uploaded.set(entry.name, uploadWeight(pool, entry.name, values, storageOf.get(entry.name) ?? 'f32'));
        if (host) {
          const data =
            values.kind === 'f32' ? values.data : unpackHalves(values.bits, values.dtype, values.numel);
          host.set(entry.name, { shape: entry.shape, data });
        }
        opts.onTensor?.(entry.name, index++, plan.entries.length);
      }
      return parameterTableFrom(cfg, (name) => uploaded.get(name) ?? null);
    },
    storage,
    opts.lora ?? null,
  );
  if (host) {
    // In expectedParameters order, as loadModel gives them (the stream reads in file order).
    const ordered: WeightMap = new Map();
    for (const p of stream.parameters) ordered.set(p.name, host.get(p.name)!);
    return { model, plan, host: ordered };
  }
  return { model, plan, host: null };
}

/** A weight read back from the GPU as f32 (16-bit storage widened exactly): for what needs the host
 * values of a model that keeps none (e.g. the embedding behind the mixture noise's scale). */
export function readWeightF32(model: GpuModel, t: GpuTensor, numel: number): Promise<Float32Array> {
  return model.exclusive(async () => {
    const rec = model.ctx.recorder(`read ${t.name}`);
    rec.read(t);
    const [buf] = await rec.submit();
    if (t.dtype === 'f16' || t.dtype === 'bf16') return unpackHalves(new Uint16Array(buf), t.dtype, numel);
    return new Float32Array(buf, 0, numel);
  });
}
