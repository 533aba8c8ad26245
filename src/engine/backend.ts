// What the Engine needs from a compute backend. Two implementations: the CPU reference (cpuBackend.ts)
// and WebGPU (gpu/gpuBackend.ts). Both take HF-named weights and the same inputs.
import type { ForwardResult, ModelInput } from './ref/model.ts';

/** Where the model runs: our WGSL kernels, or the CPU reference. */
export type BackendKind = 'webgpu' | 'cpu';

export interface ForwardOptions {
  /** (B, T) positions; default: cache length + t. */
  positionIds?: ArrayLike<number>;
  /** (B, T) 1 = token, 0 = padding. */
  attentionMask?: ArrayLike<number>;
  hiddenStates?: boolean;
  /** Apply the loaded LoRA adapter (off = the base model, the GRPO reference policy). */
  lora?: boolean;
}

export interface DecodeOptions extends ForwardOptions {
  greedy: boolean;
  temperature: number;
  seed: number;
  /** Step counter fed to the RNG (with the row index). */
  step: number;
}

/** A KV cache for B rows of up to `capacity` positions, owned by the backend that made it. */
export interface KvCacheHandle {
  readonly B: number;
  readonly capacity: number;
  readonly length: number;
  dispose(): void;
}

/** Cache rows filled from one row of another cache: row `from`'s positions go to each row in `to`. */
export interface KvRowCopy {
  from: number;
  to: readonly number[];
}

export interface Backend {
  readonly kind: BackendKind;
  /** Full forward (or, with a cache, the new positions appended to it); logits read back. */
  forward(
    input: ModelInput,
    B: number,
    T: number,
    opts?: ForwardOptions & { cache?: KvCacheHandle },
  ): Promise<ForwardResult>;
  createCache(B: number, capacity: number): KvCacheHandle;
  /** Copy the cached positions [0, n) (keys and values of every layer, and the mask) of rows of `src` into
   * rows of `dst`, which then holds n positions: a prompt prefilled once for the rows that continue it. */
  copyCacheRows(
    src: KvCacheHandle,
    dst: KvCacheHandle,
    copies: readonly KvRowCopy[],
    n: number,
  ): Promise<void>;
  /** Append T positions for each row to the cache, then choose each row's next token from the last
   * position's logits. Only the ids come back. */
  decode(cache: KvCacheHandle, input: ModelInput, T: number, opts: DecodeOptions): Promise<Int32Array>;
  dispose(): void;
}
