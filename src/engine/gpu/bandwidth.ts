// How fast this device moves memory: a buffer-to-buffer copy timed on the GPU queue (WebGPU), or a typed
// array copy (the CPU path). Decoding one token reads every weight once, so weight bytes / bandwidth is a
// floor on a token's time and bandwidth / weight bytes a ceiling on tokens per second — the page's speed
// estimate for a model before it is downloaded. The copy reads and writes, so bytes moved = 2 × size.
import type { EngineDevice } from './device.ts';

const PROBE_BYTES = 64 * 1024 ** 2;
const REPEATS = 4;

/** Bytes per second the device copies (median of a few timed copies after a warm-up). */
export async function measureBandwidth(dev: EngineDevice | null, bytes = PROBE_BYTES): Promise<number> {
  return dev ? gpuBandwidth(dev, bytes) : cpuBandwidth(bytes);
}

async function gpuBandwidth(dev: EngineDevice, bytes: number): Promise<number> {
  const device = dev.device;
  const size = Math.min(bytes, device.limits.maxBufferSize) & ~3;
  const src = device.createBuffer({ size, usage: GPUBufferUsage.COPY_SRC });
  const dst = device.createBuffer({ size, usage: GPUBufferUsage.COPY_DST });
  try {
    const times: number[] = [];
    for (let i = 0; i <= REPEATS; i++) {
      const enc = device.createCommandEncoder();
      enc.copyBufferToBuffer(src, 0, dst, 0, size);
      const t0 = performance.now();
      device.queue.submit([enc.finish()]);
      await device.queue.onSubmittedWorkDone();
      if (i > 0) times.push(performance.now() - t0); // the first copy warms up
    }
    return (2 * size) / (median(times) / 1000);
  } finally {
    src.destroy();
    dst.destroy();
  }
}

function cpuBandwidth(bytes: number): number {
  const a = new Float32Array(bytes / 4);
  const b = new Float32Array(bytes / 4);
  const times: number[] = [];
  for (let i = 0; i <= REPEATS; i++) {
    const t0 = performance.now();
    b.set(a);
    if (i > 0) times.push(performance.now() - t0);
  }
  return (2 * bytes) / (Math.max(median(times), 1e-3) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[s.length >> 1];
}
