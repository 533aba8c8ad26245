// The tensors of one call (a forward, a decode step, a training backward): its uploaded inputs (ids,
// mixture weights, targets, …) and its per-call outputs, taken from the pool while the call is recorded
// and all given back after its submit, whatever happens.
import { EngineError } from '../errors.ts';
import type { GpuTensor } from './buffers.ts';
import type { GpuContext } from './commands.ts';

export class CallTensors {
  private live: GpuTensor[] = [];

  constructor(private readonly ctx: GpuContext) {}

  /** An uninitialised tensor for this call. */
  tensor(name: string, numel: number): GpuTensor {
    const t = this.ctx.pool.tensor(name, numel);
    this.live.push(t);
    return t;
  }

  /** `data` on the device for this call (written before the submit). */
  upload(name: string, data: Float32Array | Uint32Array): GpuTensor {
    const t = this.tensor(name, data.length);
    if (data.length > 0)
      this.ctx.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  }

  /** n token ids as u32, each checked to be in [0, V). */
  ids(name: string, ids: ArrayLike<number>, n: number, V: number): GpuTensor {
    if (ids.length !== n)
      throw new EngineError('invalid-argument', `${name}: ${ids.length} ids, expected ${n}`);
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (!(Number.isInteger(id) && id >= 0 && id < V)) {
        throw new EngineError(
          'invalid-argument',
          `${name}: token id ${id} at ${i} is outside the vocabulary [0, ${V})`,
        );
      }
    }
    return this.upload(name, ids instanceof Uint32Array ? ids : Uint32Array.from(ids));
  }

  /** Give every tensor of the call back to the pool. */
  releaseAll(): void {
    for (const t of this.live) this.ctx.pool.release(t);
    this.live = [];
  }
}
