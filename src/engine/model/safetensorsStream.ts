// A safetensors file as a stream of pieces: the header, then each tensor's bytes, one at a time. The bytes
// are the same as writeSafetensors' (sorted names, F32, header padded with spaces to a multiple of 8), but
// no piece is larger than one tensor: on a little-endian machine a piece is a view of the tensor itself, so
// exporting a model needs about one tensor of memory beyond the model, not a second copy of it.

import { EngineError } from '../errors.ts';
import { numel } from '../tensor.ts';

export type TensorsToWrite =
  | Map<string, { shape: number[]; data: Float32Array }>
  | Record<string, { shape: number[]; data: Float32Array }>;

/** Bytes that can be read (more than once) piece by piece, with their total length known up front. */
export interface ByteSource {
  size: number;
  chunks(): Iterable<Uint8Array>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const isNonNegInt = (v: number) => Number.isInteger(v) && v >= 0;

/**
 * The safetensors file of f32 `tensors` as a ByteSource. The tensors are checked now (as writeSafetensors
 * checks them); their data is read each time the chunks are iterated, so it must not change in between.
 */
export function safetensorsSource(tensors: TensorsToWrite, metadata?: Record<string, string>): ByteSource {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') {
      throw new EngineError('invalid-argument', 'writeSafetensors: "__metadata__" cannot be a tensor name', {
        tensor: name,
      });
    }
    if (!t.shape.every(isNonNegInt) || numel(t.shape) !== t.data.length) {
      throw new EngineError(
        'invalid-argument',
        `writeSafetensors: tensor "${name}" has shape [${t.shape.join(', ')}] but ${t.data.length} values`,
        { tensor: name },
      );
    }
    const size = 4 * t.data.length;
    header[name] = { dtype: 'F32', shape: t.shape.slice(), data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = json.byteLength + ((8 - (json.byteLength % 8)) % 8);
  const head = new Uint8Array(8 + headerLength);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, headerLength % 2 ** 32, true);
  dv.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.byteLength);
  return {
    size: head.byteLength + offset,
    *chunks() {
      yield head;
      for (const [, t] of entries) yield tensorBytes(t.data);
    },
  };
}

/** The little-endian bytes of `data`: a view of it where the machine is little-endian, else one copy. */
function tensorBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(4 * i, data[i], true);
  return out;
}

/** All of a source's bytes in one array (for callers that need a whole file). */
export function sourceBytes(source: ByteSource): Uint8Array {
  const out = new Uint8Array(source.size);
  let pos = 0;
  for (const c of source.chunks()) {
    if (pos + c.byteLength <= out.byteLength) out.set(c, pos);
    pos += c.byteLength;
  }
  if (pos !== out.byteLength)
    throw new EngineError(
      'invalid-argument',
      `byte source gave ${pos} bytes, not the ${source.size} it declared`,
    );
  return out;
}
