// The page's speed estimate rests on a measured copy bandwidth: on the WebGPU device (a timed
// buffer-to-buffer copy) and on the CPU path (a typed-array copy), a positive, finite rate that a larger
// copy does not make absurd, with the probe's buffers released.
import { describe, expect, it } from 'vitest';
import { measureBandwidth } from '../../src/engine/gpu/bandwidth.ts';
import { testDevice } from '../helpers/gpu.ts';

describe('measureBandwidth', () => {
  it('gives a positive, finite bytes-per-second on the GPU and on the CPU path', async () => {
    const dev = await testDevice();
    const gpu = await measureBandwidth(dev, 4 * 1024 ** 2);
    const cpu = await measureBandwidth(null, 4 * 1024 ** 2);
    for (const b of [gpu, cpu]) {
      expect(Number.isFinite(b)).toBe(true);
      // Between 1 MB/s and 100 TB/s: anything outside is a unit or timing mistake.
      expect(b).toBeGreaterThan(1e6);
      expect(b).toBeLessThan(1e14);
    }
  });
});
