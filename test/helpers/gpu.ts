// GPU test helpers: one shared EngineDevice per test process, random inputs, upload and readback.
import { expect } from 'vitest';
import { checkTensor, formatCheck } from '../../src/check/tensorCheck.ts';
import type { GpuTensor } from '../../src/engine/gpu/buffers.ts';
import { GpuContext } from '../../src/engine/gpu/commands.ts';
import { type EngineDevice, requestEngineDevice } from '../../src/engine/gpu/device.ts';
import { nodeGpu } from '../../src/node/webgpu.ts';

let shared: Promise<EngineDevice> | null = null;

/** The process-wide test device (Dawn's GPU object stays referenced in src/node/webgpu.ts). */
export function testDevice(): Promise<EngineDevice> {
  shared ??= nodeGpu().then((gpu) =>
    requestEngineDevice(gpu, {
      onLost: (e) => {
        throw e;
      },
    }),
  );
  return shared;
}

export async function testContext(): Promise<GpuContext> {
  return new GpuContext(await testDevice());
}

/** Deterministic uniform [-scale, scale) floats (mulberry32). */
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** Deterministic integers in [0, hi). */
export function randomInts(n: number, seed: number, hi: number): Uint32Array {
  const f = randomFloats(n, seed, 1);
  return Uint32Array.from(f, (x) => Math.min(hi - 1, Math.floor(((x + 1) / 2) * hi)));
}

export function upload(
  ctx: GpuContext,
  name: string,
  data: Float32Array | Uint32Array | Int32Array,
): GpuTensor {
  return ctx.pool.upload(name, data);
}

/** A tensor filled with NaN, so an element the kernel never writes fails the comparison. */
export function poisoned(ctx: GpuContext, name: string, numel: number): GpuTensor {
  return ctx.pool.upload(name, new Float32Array(numel).fill(Number.NaN));
}

export async function readF32(ctx: GpuContext, t: GpuTensor, numel = t.bytes / 4): Promise<Float32Array> {
  const rec = ctx.recorder('test read');
  rec.read(t, numel * 4);
  const [buf] = await rec.submit();
  return new Float32Array(buf);
}

export async function readU32(ctx: GpuContext, t: GpuTensor, numel = t.bytes / 4): Promise<Uint32Array> {
  const rec = ctx.recorder('test read');
  rec.read(t, numel * 4);
  const [buf] = await rec.submit();
  return new Uint32Array(buf);
}

/** Assert a GPU result matches the reference within rel × max|ref| (the project's rule, src/check/tensorCheck.ts). */
export function expectClose(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rel = 1e-4,
  mask?: (i: number) => boolean,
): void {
  const c = checkTensor(name, got, want, rel, mask);
  if (!c.pass) {
    const msg = `${formatCheck('webgpu', c)} worst @${c.worst.index}: got ${c.worst.got} want ${c.worst.want}`;
    expect.fail(msg);
  }
}
