// Model folders in the Hugging Face layout whose weights are 16-bit safetensors (as the Qwen2.5 checkpoints
// ship, BF16): in memory for small tests, or written to disk tensor by tensor for big ones (the stream-load
// bench writes a 0.5B-shaped folder without holding it).
import { closeSync, openSync, writeSync } from 'node:fs';
import { packHalves } from '../../src/engine/model/halfFloat.ts';
import type { WeightMap } from '../../src/engine/tensor.ts';

export type HalfFileDtype = 'BF16' | 'F16';

interface Entry {
  name: string;
  shape: number[];
  /** 'F32' for the 1-D parameters when asked (norms/biases kept f32, as some checkpoints do). */
  dtype: HalfFileDtype | 'F32';
}

/** The header (padded with spaces to a multiple of 8, as HF writes it) and each tensor's byte range. */
function layout(entries: Entry[]): { header: Uint8Array; ranges: [number, number][] } {
  const json: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  const ranges: [number, number][] = [];
  for (const e of entries) {
    const n = e.shape.reduce((a, b) => a * b, 1) * (e.dtype === 'F32' ? 4 : 2);
    json[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + n] };
    ranges.push([offset, offset + n]);
    offset += n;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const pad = (8 - (text.byteLength % 8)) % 8;
  const header = new Uint8Array(8 + text.byteLength + pad);
  new DataView(header.buffer).setUint32(0, text.byteLength + pad, true);
  header.set(text, 8);
  header.fill(0x20, 8 + text.byteLength);
  return { header, ranges };
}

function sortedEntries(shapes: Map<string, number[]>, dtype: HalfFileDtype): Entry[] {
  return [...shapes]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, shape]) => ({ name, shape, dtype }));
}

/** The weights as one 16-bit safetensors file in memory (values rounded to the dtype, ties to even). */
export function halfSafetensors(weights: WeightMap, dtype: HalfFileDtype): Uint8Array {
  const entries = sortedEntries(new Map([...weights].map(([n, t]) => [n, t.shape])), dtype);
  const { header, ranges } = layout(entries);
  const out = new Uint8Array(header.byteLength + (ranges.at(-1)?.[1] ?? 0));
  out.set(header, 0);
  entries.forEach((e, i) => {
    const bits = packHalves(weights.get(e.name)!.data, dtype === 'BF16' ? 'bf16' : 'f16');
    out.set(new Uint8Array(bits.buffer, 0, ranges[i][1] - ranges[i][0]), header.byteLength + ranges[i][0]);
  });
  return out;
}

/**
 * Write a 16-bit safetensors file to `path` one tensor at a time: `fill(name, numel)` gives each tensor's
 * bit patterns (at least numel of them), so no more than one tensor is in memory.
 */
export function writeHalfSafetensorsFile(
  path: string,
  shapes: Map<string, number[]>,
  dtype: HalfFileDtype,
  fill: (name: string, numel: number) => Uint16Array,
): void {
  const entries = sortedEntries(shapes, dtype);
  const { header } = layout(entries);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    for (const e of entries) {
      const numel = e.shape.reduce((a, b) => a * b, 1);
      const bits = fill(e.name, numel);
      writeSync(fd, new Uint8Array(bits.buffer, bits.byteOffset, numel * 2));
    }
  } finally {
    closeSync(fd);
  }
}
