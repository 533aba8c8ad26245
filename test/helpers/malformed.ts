// Build safetensors files byte by byte for tests, including malformed ones: the writer in src only
// writes valid F32 files, these helpers write whatever header and data a test asks for.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { HF_GOLDEN_DIR } from './fixtures.ts';

export type Header = Record<string, unknown>;

export function readFixture(model: string, file: string): Uint8Array {
  const buf = readFileSync(resolve(HF_GOLDEN_DIR, model, file));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Split a safetensors file into its decoded header JSON and its data section. */
export function splitSafetensors(bytes: Uint8Array): { header: Header; data: Uint8Array } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Header;
  return { header, data: bytes.subarray(8 + n) };
}

/** Assemble a file from a header (object or raw JSON text) and data. `headerLength` overrides the
 * length field; `pad` appends that many spaces to the header. */
export function assembleSafetensors(
  header: Header | string,
  data: Uint8Array,
  opts: { headerLength?: number; pad?: number } = {},
): Uint8Array {
  const text = (typeof header === 'string' ? header : JSON.stringify(header)) + ' '.repeat(opts.pad ?? 0);
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  const dv = new DataView(out.buffer);
  const n = opts.headerLength ?? json.byteLength;
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

/** A copy of `bytes` with its header changed by `edit` (data section unchanged). */
export function mutateHeader(bytes: Uint8Array, edit: (h: Header) => void): Uint8Array {
  const { header, data } = splitSafetensors(bytes);
  edit(header);
  return assembleSafetensors(header, data);
}

/** Entry of a header, typed for edits. */
export function entry(
  h: Header,
  name: string,
): { dtype: string; shape: number[]; data_offsets: [number, number] } {
  const e = h[name];
  if (!e) throw new Error(`no tensor ${name} in header`);
  return e as { dtype: string; shape: number[]; data_offsets: [number, number] };
}

/** bf16 bit pattern of an f32 value, rounded to nearest even (as torch's .to(torch.bfloat16)). */
export function f32ToBf16Bits(x: number): number {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff; // NaN stays NaN
  const rounded = u + 0x7fff + ((u >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** Build a file with one tensor per entry from raw little-endian 16-bit patterns (dtype F16 / BF16). */
export function sixteenBitFile(
  tensors: { name: string; dtype: 'F16' | 'BF16'; bits: number[] }[],
  pad = 0,
): Uint8Array {
  const header: Header = {};
  let off = 0;
  const parts: Uint8Array[] = [];
  for (const t of tensors) {
    const b = new Uint8Array(2 * t.bits.length);
    t.bits.forEach((v, i) => {
      b[2 * i] = v & 0xff;
      b[2 * i + 1] = (v >> 8) & 0xff;
    });
    header[t.name] = { dtype: t.dtype, shape: [t.bits.length], data_offsets: [off, off + b.length] };
    off += b.length;
    parts.push(b);
  }
  const data = new Uint8Array(off);
  let p = 0;
  for (const b of parts) {
    data.set(b, p);
    p += b.length;
  }
  return assembleSafetensors(header, data, { pad });
}
