// The CPU backend: the reference forward, used where WebGPU is missing (slower, and labelled so).

import type { Backend, DecodeOptions, ForwardOptions, KvCacheHandle, KvRowCopy } from './backend.ts';
import type { Qwen2Config } from './config.ts';
import {
  type ForwardResult,
  type LoraWeights,
  type ModelInput,
  qwen2Forward,
  RefKvCache,
} from './ref/model.ts';
import { sampleToken } from './sampling.ts';
import type { WeightMap } from './tensor.ts';

class CpuKvCache implements KvCacheHandle {
  constructor(readonly ref: RefKvCache) {}
  get B(): number {
    return this.ref.B;
  }
  get capacity(): number {
    return this.ref.capacity;
  }
  get length(): number {
    return this.ref.length;
  }
  dispose(): void {}
}

export class CpuBackend implements Backend {
  readonly kind = 'cpu' as const;

  constructor(
    private readonly config: Qwen2Config,
    private readonly weights: WeightMap,
    private readonly lora: LoraWeights | null = null,
  ) {}

  async forward(
    input: ModelInput,
    B: number,
    T: number,
    opts: ForwardOptions & { cache?: KvCacheHandle } = {},
  ): Promise<ForwardResult> {
    return qwen2Forward({ config: this.config, weights: this.weights }, input, B, T, {
      positionIds: opts.positionIds,
      attentionMask: opts.attentionMask,
      hiddenStates: opts.hiddenStates,
      lora: opts.lora ? this.lora : null,
      cache: opts.cache ? this.cacheOf(opts.cache) : undefined,
    });
  }

  createCache(B: number, capacity: number): KvCacheHandle {
    return new CpuKvCache(new RefKvCache(this.config, B, capacity));
  }

  async copyCacheRows(
    src: KvCacheHandle,
    dst: KvCacheHandle,
    copies: readonly KvRowCopy[],
    n: number,
  ): Promise<void> {
    const from = this.cacheOf(src);
    const to = this.cacheOf(dst);
    for (const c of copies) to.copyRowFrom(from, c.from, c.to, n);
    to.length = n;
  }

  async decode(cache: KvCacheHandle, input: ModelInput, T: number, opts: DecodeOptions): Promise<Int32Array> {
    const { logits } = await this.forward(input, cache.B, T, { ...opts, cache });
    const V = this.config.vocabSize;
    const ids = new Int32Array(cache.B);
    for (let b = 0; b < cache.B; b++) {
      const base = (b * T + T - 1) * V;
      ids[b] = sampleToken(logits, base, V, {
        greedy: opts.greedy,
        temperature: opts.temperature,
        seed: opts.seed,
        row: b,
        step: opts.step,
      });
    }
    return ids;
  }

  dispose(): void {}

  private cacheOf(handle: KvCacheHandle): RefKvCache {
    if (!(handle instanceof CpuKvCache))
      throw new Error('CPU backend: this KV cache belongs to another backend');
    return handle.ref;
  }
}
