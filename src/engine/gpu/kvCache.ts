// The KV cache of GPU inference: every layer's keys (after RoPE) and values for B rows of up to `capacity`
// positions, and which positions hold real tokens. The forward (forward.ts, inference mode) appends a
// call's positions at `length`; GpuModel.createKvCache makes one, decode() and decodeWith() extend it.
import type { Qwen2Config } from '../config.ts';
import type { GpuTensor } from './buffers.ts';
import type { GpuContext } from './commands.ts';

/** Keys (after RoPE) and values of every layer for B rows of up to `capacity` positions, on the GPU. */
export class GpuKvCache {
  readonly k: GpuTensor[]; // L × (B, capacity, KVH·D)
  readonly v: GpuTensor[]; // L × (B, capacity, KVH·D)
  readonly mask: GpuTensor; // (B, capacity) u32, 1 = real token
  length = 0;
  private disposed = false;

  constructor(
    private readonly ctx: GpuContext,
    config: Qwen2Config,
    readonly B: number,
    readonly capacity: number,
    private readonly onDispose: (c: GpuKvCache) => void,
  ) {
    const row = config.numKeyValueHeads * config.headDim;
    const n = B * capacity * row;
    this.k = Array.from({ length: config.numHiddenLayers }, (_, l) =>
      ctx.pool.tensor(`kv cache k[${l}] (${B}×${capacity})`, n),
    );
    this.v = Array.from({ length: config.numHiddenLayers }, (_, l) =>
      ctx.pool.tensor(`kv cache v[${l}] (${B}×${capacity})`, n),
    );
    this.mask = ctx.pool.tensor('kv cache mask', B * capacity);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Forget the cached positions (keep the buffers). */
  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [...this.k, ...this.v, this.mask]) this.ctx.pool.release(t);
    this.onDispose(this);
  }
}
