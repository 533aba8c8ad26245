// The WebGPU backend: the Engine's Backend interface over GpuModel (our WGSL kernels).
import type { Backend, DecodeOptions, ForwardOptions, KvCacheHandle, KvRowCopy } from './backend.ts';
import type { Qwen2Config } from './config.ts';
import type { EngineDevice } from './gpu/device.ts';
import { GpuKvCache, GpuModel, type GpuModelOptions } from './gpu/model.ts';
import type { ForwardResult, LoraWeights, ModelInput } from './ref/model.ts';
import type { WeightMap } from './tensor.ts';

export class GpuBackend implements Backend {
  readonly kind = 'webgpu' as const;

  private constructor(readonly model: GpuModel) {}

  static async create(
    device: EngineDevice,
    config: Qwen2Config,
    weights: WeightMap,
    lora: LoraWeights | null,
    opts: GpuModelOptions = {},
  ): Promise<GpuBackend> {
    return new GpuBackend(await GpuModel.create(device, config, weights, lora, opts));
  }

  /** Over a model already on the device (e.g. streamed there by gpu/streamLoad.ts); owns it from now on. */
  static fromModel(model: GpuModel): GpuBackend {
    return new GpuBackend(model);
  }

  forward(
    input: ModelInput,
    B: number,
    T: number,
    opts: ForwardOptions & { cache?: KvCacheHandle } = {},
  ): Promise<ForwardResult> {
    return this.model.forward(input, B, T, {
      ...opts,
      cache: opts.cache ? this.cacheOf(opts.cache) : undefined,
    });
  }

  createCache(B: number, capacity: number): KvCacheHandle {
    return this.model.createKvCache(B, capacity);
  }

  copyCacheRows(
    src: KvCacheHandle,
    dst: KvCacheHandle,
    copies: readonly KvRowCopy[],
    n: number,
  ): Promise<void> {
    return this.model.copyCacheRows(this.cacheOf(src), this.cacheOf(dst), copies, n);
  }

  decode(cache: KvCacheHandle, input: ModelInput, T: number, opts: DecodeOptions): Promise<Int32Array> {
    return this.model.decode(this.cacheOf(cache), input, T, opts);
  }

  dispose(): void {
    this.model.dispose();
  }

  private cacheOf(handle: KvCacheHandle): GpuKvCache {
    if (!(handle instanceof GpuKvCache))
      throw new Error('WebGPU backend: this KV cache belongs to another backend');
    return handle;
  }
}
