// The KV cache of GPU inference: every layer's keys (after RoPE) and values for B rows of up to `capacity`
// positions, and which positions hold real tokens. The forward (forward.ts, inference mode) appends a
// call's positions at `length`; GpuModel.createKvCache makes one, decode() and decodeWith() extend it.
import type { Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import type { GpuTensor } from './buffers.ts';
import type { CommandRecorder, GpuContext } from './commands.ts';

/** Keys (after RoPE) and values of every layer for B rows of up to `capacity` positions, on the GPU. */
export class GpuKvCache {
  readonly k: GpuTensor[]; // L × (B, capacity, KVH·D)
  readonly v: GpuTensor[]; // L × (B, capacity, KVH·D)
  readonly mask: GpuTensor; // (B, capacity) u32, 1 = real token
  length = 0;
  private disposed = false;
  /** Bytes of one position's keys (or values) in one layer. */
  private readonly positionBytes: number;

  constructor(
    private readonly ctx: GpuContext,
    config: Qwen2Config,
    readonly B: number,
    readonly capacity: number,
    private readonly onDispose: (c: GpuKvCache) => void,
  ) {
    const row = config.numKeyValueHeads * config.headDim;
    this.positionBytes = row * 4;
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

  /**
   * Record the copy of row `from` of `src`, positions [0, n) (keys and values of every layer, and the mask),
   * into each row of `to` (copyBufferToBuffer, one per layer, tensor and row: a buffer cannot be copied into
   * itself, so `src` is another cache). Runs in the recorder's encoder after what is recorded before it; the
   * caller sets `length` once the submit succeeded.
   */
  recordRowCopy(rec: CommandRecorder, src: GpuKvCache, from: number, to: readonly number[], n: number): void {
    if (src === this || src.isDisposed || this.disposed)
      throw new EngineError('invalid-argument', 'KV cache row copy: needs two live caches');
    if (src.k.length !== this.k.length || src.positionBytes !== this.positionBytes)
      throw new EngineError('invalid-argument', 'KV cache row copy: the caches are of different models');
    if (!(Number.isInteger(n) && n >= 0 && n <= src.capacity && n <= this.capacity))
      throw new EngineError('invalid-argument', `KV cache row copy: ${n} positions`);
    const bad = [from, ...to].find((b, i) => !(Number.isInteger(b) && b >= 0 && b < (i ? this.B : src.B)));
    if (bad !== undefined) throw new EngineError('invalid-argument', `KV cache row copy: row ${bad}`);
    const pb = this.positionBytes;
    for (const b of to) {
      for (let l = 0; l < this.k.length; l++) {
        rec.copy(src.k[l], this.k[l], from * src.capacity * pb, b * this.capacity * pb, n * pb);
        rec.copy(src.v[l], this.v[l], from * src.capacity * pb, b * this.capacity * pb, n * pb);
      }
      rec.copy(src.mask, this.mask, from * src.capacity * 4, b * this.capacity * 4, n * 4);
    }
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
