// GPU buffers: a pool that hands out 4-byte-aligned buffers by size class and takes them back
// explicitly. Nothing is left to the garbage collector: every acquire has a release (or the pool's
// destroy()), and the device limits are checked with the tensor's name before anything is created.
// The pool counts the bytes it holds on the device (in use or on a free list) and their high-water mark,
// which test/gpu/memory-plan.test.ts checks the training memory plan (train/memory.ts) against.
import type { EngineDevice } from './device.ts';

/** How a weight matrix is stored on the GPU: f32, or IEEE half / bfloat16 with two halves packed per u32. */
export type WeightDtype = 'f32' | 'f16' | 'bf16';

export const WEIGHT_DTYPES: readonly WeightDtype[] = ['f32', 'f16', 'bf16'];

/** A view of (part of) a GPU buffer holding one tensor. `bytes` is what a binding covers. Activations,
 * gradients and ids are 4-byte f32/u32/i32; a weight may be 16-bit (`dtype`; absent = 4 bytes). */
export interface GpuTensor {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly bytes: number;
  readonly name: string;
  readonly dtype?: WeightDtype;
}

/** Bytes per element of a tensor: 2 for a 16-bit weight, else 4. */
export function elementBytes(t: GpuTensor): number {
  return t.dtype === 'f16' || t.dtype === 'bf16' ? 2 : 4;
}

/** Rows [first, first + count) of a row-major tensor with `rowLen` elements per row, as a view (same
 * buffer and dtype). A bound view's byte offset must meet the device's storage offset alignment (256). */
export function rowsView(t: GpuTensor, first: number, count: number, rowLen: number): GpuTensor {
  const eb = elementBytes(t);
  const offset = t.offset + first * rowLen * eb;
  const bytes = count * rowLen * eb;
  if (first < 0 || count < 0 || (first + count) * rowLen * eb > t.bytes)
    throw new Error(`rowsView: rows [${first}, ${first + count}) outside ${t.name}`);
  return { buffer: t.buffer, offset, bytes, name: `${t.name}[${first}:${first + count}]`, dtype: t.dtype };
}

/**
 * The spec's GPUBufferUsage / GPUMapMode / GPUShaderStage bit values, as our own constants: in Node the
 * `webgpu` package does not install those globals unless asked, and src/engine must not depend on that.
 */
export const BufferUsage = {
  MAP_READ: 0x1,
  MAP_WRITE: 0x2,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
  QUERY_RESOLVE: 0x200,
} as const;
export const MAP_MODE_READ = 0x1;
export const SHADER_STAGE_COMPUTE = 0x4;

export const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
export const READBACK_USAGE = BufferUsage.MAP_READ | BufferUsage.COPY_DST;
export const UNIFORM_USAGE = BufferUsage.UNIFORM | BufferUsage.COPY_DST;

/** Round up to a multiple of `a` (a power of two). */
export function alignTo(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * Size classes: up to 1 MiB the next power of two (≥ 256 bytes); above, the next multiple of 1/8 of the
 * enclosing power of two, so a pooled buffer wastes at most 12.5% and still gets reused across calls.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, alignTo(bytes, 4));
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** Math.floor(Math.log2(b)) / 8;
  return alignTo(b, step);
}

interface PoolStats {
  created: number;
  createdBytes: number;
  live: number;
  free: number;
  reused: number;
  /** Bytes of every buffer this pool holds on the device now (in use or free, not yet destroyed). */
  allocatedBytes: number;
  /** The most `allocatedBytes` has been since the pool was made or resetPeak() was called. */
  peakBytes: number;
}

export class BufferPool {
  private readonly freeLists = new Map<string, GPUBuffer[]>();
  private readonly all = new Set<GPUBuffer>();
  private readonly inUse = new Set<GPUBuffer>();
  private stats: PoolStats = {
    created: 0,
    createdBytes: 0,
    live: 0,
    free: 0,
    reused: 0,
    allocatedBytes: 0,
    peakBytes: 0,
  };

  constructor(readonly dev: EngineDevice) {}

  get device(): GPUDevice {
    return this.dev.device;
  }

  /**
   * A buffer of at least `bytes` (rounded to 4) for the tensor `name`. `exact` skips size classes (for
   * weights uploaded once). Throws EngineError('gpu-limit') naming the tensor when it cannot exist here.
   */
  acquire(name: string, bytes: number, usage: GPUBufferUsageFlags = STORAGE_USAGE, exact = false): GPUBuffer {
    const need = Math.max(4, alignTo(bytes, 4));
    const isStorage = (usage & BufferUsage.STORAGE) !== 0;
    this.dev.checkTensorSize(name, need, isStorage);
    const size = exact ? need : Math.min(sizeClass(need), this.maxSizeFor(usage, need));
    const key = `${usage}:${size}`;
    const list = this.freeLists.get(key);
    const reused = list?.pop();
    if (reused) {
      this.stats.reused++;
      this.inUse.add(reused);
      return reused;
    }
    const buf = this.device.createBuffer({ size, usage, label: name });
    this.all.add(buf);
    this.inUse.add(buf);
    this.stats.created++;
    this.stats.createdBytes += size;
    this.stats.allocatedBytes += size;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.allocatedBytes);
    return buf;
  }

  /** A tensor view over a pooled buffer: `numel` 4-byte elements. */
  tensor(name: string, numel: number, usage: GPUBufferUsageFlags = STORAGE_USAGE, exact = false): GpuTensor {
    const bytes = Math.max(4, numel * 4);
    return { buffer: this.acquire(name, bytes, usage, exact), offset: 0, bytes, name };
  }

  /** Upload a host array into a new (exactly sized) tensor. */
  upload(name: string, data: Float32Array | Uint32Array | Int32Array): GpuTensor {
    const t = this.tensor(name, data.length, STORAGE_USAGE, true);
    if (data.length > 0)
      this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  }

  /** Upload 16-bit weight values (bit patterns, two per u32: an even length) into a new exact tensor. */
  uploadHalves(name: string, bits: Uint16Array, dtype: 'f16' | 'bf16'): GpuTensor {
    if (bits.length % 2 !== 0) throw new Error(`BufferPool.uploadHalves: ${name} has an odd length`);
    const bytes = Math.max(4, bits.byteLength);
    const t: GpuTensor = {
      buffer: this.acquire(name, bytes, STORAGE_USAGE, true),
      offset: 0,
      bytes,
      name,
      dtype,
    };
    if (bits.length > 0)
      this.device.queue.writeBuffer(t.buffer, 0, bits.buffer, bits.byteOffset, bits.byteLength);
    return t;
  }

  /** Return a buffer (or a tensor's buffer) for reuse. Releasing twice or a foreign buffer throws. */
  release(b: GPUBuffer | GpuTensor | null | undefined): void {
    if (!b) return;
    const buf = 'buffer' in b ? b.buffer : b;
    if (!this.inUse.delete(buf)) throw new Error(`BufferPool: release of a buffer not in use (${buf.label})`);
    const key = `${buf.usage}:${buf.size}`;
    let list = this.freeLists.get(key);
    if (!list) {
      list = [];
      this.freeLists.set(key, list);
    }
    list.push(buf);
  }

  /** Destroy the free buffers (keep those in use). */
  trim(): void {
    for (const list of this.freeLists.values()) {
      for (const b of list) {
        this.all.delete(b);
        this.stats.allocatedBytes -= b.size;
        b.destroy();
      }
    }
    this.freeLists.clear();
  }

  /** Destroy every buffer this pool ever created. */
  destroy(): void {
    for (const b of this.all) b.destroy();
    this.stats.allocatedBytes = 0;
    this.all.clear();
    this.inUse.clear();
    this.freeLists.clear();
  }

  /** Bytes on the device now (every buffer in use or free) and their high-water mark since resetPeak(). */
  get allocatedBytes(): number {
    return this.stats.allocatedBytes;
  }

  get peakBytes(): number {
    return this.stats.peakBytes;
  }

  /** Start the high-water mark again from what is allocated now. */
  resetPeak(): void {
    this.stats.peakBytes = this.stats.allocatedBytes;
  }

  info(): PoolStats & { inUse: number } {
    let free = 0;
    for (const l of this.freeLists.values()) free += l.length;
    return { ...this.stats, live: this.all.size, free, inUse: this.inUse.size };
  }

  private maxSizeFor(usage: GPUBufferUsageFlags, need: number): number {
    const l = this.dev.limits;
    const cap =
      (usage & BufferUsage.STORAGE) !== 0
        ? Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize)
        : l.maxBufferSize;
    return Math.max(need, Math.floor(cap / 4) * 4);
  }
}
