// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON (`{"__metadata__": {..}, "<name>": {"dtype", "shape", "data_offsets"}}`),
// then the data section; offsets are relative to the start of the data section.
// Reading validates everything a bad or cut-off file can get wrong and converts F32/F16/BF16 to f32
// (exactly). Integer tensors (ids, masks: BOOL, U8, I8, I16, U16, I32, U32, I64, U64) are read too, as
// f32, when every value is an integer of magnitude at most 2^24 (so exact); model loading accepts
// only the float dtypes for parameters.
// Writing produces F32 files laid out as the Hugging Face writer does (header padded with spaces to a
// multiple of 8 bytes, tensors sorted by name and packed in that order).
import { EngineError, jsonForMessage } from '../errors.ts';
import { numel } from '../tensor.ts';
import { safetensorsSource, sourceBytes, type TensorsToWrite } from './safetensorsStream.ts';

export type SafetensorsFloatDtype = 'F32' | 'F16' | 'BF16';
export type SafetensorsIntDtype = 'BOOL' | 'U8' | 'I8' | 'I16' | 'U16' | 'I32' | 'U32' | 'I64' | 'U64';
export type SafetensorsDtype = SafetensorsFloatDtype | SafetensorsIntDtype;

/** Bytes per element of the dtypes this reader converts. */
export const DTYPE_SIZE: Readonly<Record<SafetensorsDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  BOOL: 1,
  U8: 1,
  I8: 1,
  I16: 2,
  U16: 2,
  I32: 4,
  U32: 4,
  I64: 8,
  U64: 8,
};

export function isFloatDtype(d: SafetensorsDtype): d is SafetensorsFloatDtype {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

/** One entry of the header, validated. `begin`/`end` are byte offsets inside the data section. */
export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** N, the JSON length in bytes. */
  headerLength: number;
  /** Byte offset of the data section in the file (8 + N). */
  dataOffset: number;
  /** Size of the file the header was checked against. */
  fileSize: number;
  /** `__metadata__` (string map), when the file has one. */
  metadata?: Record<string, string>;
  /** Tensors in header order. */
  tensors: SafetensorsEntry[];
}

/** A decoded tensor: f32 data, row-major; `dtype` says what the file stored. Usable as a HostTensor. */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array;
}

export interface ParseSafetensorsOptions {
  /** Decode only the tensors this accepts (the header is still validated in full). */
  filter?: (name: string) => boolean;
  /** Always copy F32 data. By default an F32 tensor whose bytes are 4-byte aligned is a zero-copy view
   * on the input buffer (so it shares memory with `bytes`). F16/BF16 are always converted into new arrays. */
  copy?: boolean;
}

/** Largest header accepted (the Hugging Face reader's limit is 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function asBytes(bytes: ArrayBuffer | Uint8Array): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
}

function isDtype(d: unknown): d is SafetensorsDtype {
  return typeof d === 'string' && Object.hasOwn(DTYPE_SIZE, d);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function err(
  code: ConstructorParameters<typeof EngineError>[0],
  file: string,
  tensor: string | undefined,
  msg: string,
) {
  const where = tensor === undefined ? `${file}` : `${file}: tensor "${tensor}"`;
  return new EngineError(code, `${where}: ${msg}`, tensor === undefined ? { file } : { file, tensor });
}

/**
 * Read and validate the header. `bytes` must hold at least the first 8 + N bytes of the file; pass
 * `fileSize` when `bytes` is only a prefix of the file (e.g. a ranged download), otherwise the length of
 * `bytes` is the file size. Throws EngineError ('safetensors-truncated' | 'safetensors-header-length' |
 * 'safetensors-header-json' | 'safetensors-dtype' | 'safetensors-byte-length' | 'safetensors-offsets'),
 * naming `file` and, where there is one, the tensor.
 */
export function readSafetensorsHeader(
  bytes: ArrayBuffer | Uint8Array,
  file: string,
  opts: { fileSize?: number } = {},
): SafetensorsHeader {
  const u8 = asBytes(bytes);
  const fileSize = opts.fileSize ?? u8.byteLength;
  const headerLength = readHeaderLength(u8, file, fileSize);
  const json = parseHeaderJson(u8.subarray(8, 8 + headerLength), file);
  const dataOffset = 8 + headerLength;
  let metadata: Record<string, string> | undefined;
  const tensors: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') metadata = parseMetadata(raw, file);
    else tensors.push(parseEntry(name, raw, file));
  }
  checkLayout(tensors, file, dataOffset, fileSize);
  return { headerLength, dataOffset, fileSize, metadata, tensors };
}

/** N from the first 8 bytes, checked against the file size, the size limit and the bytes given. */
function readHeaderLength(u8: Uint8Array, file: string, fileSize: number): number {
  if (fileSize < 8 || u8.byteLength < 8) {
    throw err(
      'safetensors-truncated',
      file,
      undefined,
      `file is ${fileSize} bytes, too short for a safetensors header`,
    );
  }
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const headerLength = hi * 2 ** 32 + lo;
  if (headerLength > fileSize - 8) {
    throw err(
      'safetensors-header-length',
      file,
      undefined,
      `header length ${headerLength} is beyond the end of the file (${fileSize} bytes); the file is truncated or not a safetensors file`,
    );
  }
  if (headerLength > MAX_HEADER_BYTES) {
    throw err(
      'safetensors-header-length',
      file,
      undefined,
      `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`,
    );
  }
  if (u8.byteLength < 8 + headerLength) {
    throw err(
      'safetensors-truncated',
      file,
      undefined,
      `only ${u8.byteLength} bytes given, the header needs ${8 + headerLength}`,
    );
  }
  return headerLength;
}

/** The header's N bytes as a JSON object (strict UTF-8). */
function parseHeaderJson(headerBytes: Uint8Array, file: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw err('safetensors-header-json', file, undefined, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw err(
      'safetensors-header-json',
      file,
      undefined,
      `header is not valid JSON (${(e as Error).message})`,
    );
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw err('safetensors-header-json', file, undefined, 'header JSON is not an object');
  }
  return json as Record<string, unknown>;
}

/** `__metadata__`: an object whose values are all strings. */
function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw err('safetensors-header-json', file, undefined, '"__metadata__" must be an object of strings');
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') {
      throw err(
        'safetensors-header-json',
        file,
        undefined,
        `"__metadata__.${k}" must be a string, got ${jsonForMessage(v)}`,
      );
    }
  }
  return raw as Record<string, string>;
}

/** One tensor entry: shape, offsets and dtype well-formed, and the offsets spanning exactly its bytes. */
function parseEntry(name: string, raw: unknown, file: string): SafetensorsEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw err('safetensors-header-json', file, name, 'entry is not an object');
  }
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw err(
      'safetensors-header-json',
      file,
      name,
      `"shape" must be an array of non-negative integers, got ${jsonForMessage(shape)}`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
    throw err(
      'safetensors-header-json',
      file,
      name,
      `"data_offsets" must be two non-negative integers, got ${jsonForMessage(offsets)}`,
    );
  }
  if (typeof dtype !== 'string') {
    throw err(
      'safetensors-header-json',
      file,
      name,
      `"dtype" must be a string, got ${jsonForMessage(dtype)}`,
    );
  }
  if (!isDtype(dtype)) {
    throw err(
      'safetensors-dtype',
      file,
      name,
      `dtype ${dtype} is not supported (F32, F16, BF16, and integer types for non-weights)`,
    );
  }
  const [begin, end] = offsets as number[];
  if (end < begin) {
    throw err('safetensors-offsets', file, name, `data_offsets [${begin}, ${end}] end before they begin`);
  }
  const want = numel(shape) * DTYPE_SIZE[dtype];
  if (want !== end - begin) {
    throw err(
      'safetensors-byte-length',
      file,
      name,
      `shape [${shape.join(', ')}] × ${dtype} needs ${want} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  return { name, dtype, shape: shape.slice(), begin, end };
}

/** Layout: no two tensors may share bytes, and all must lie inside the data section. A packed layout
 * (contiguous from 0) that runs past the end means the file was cut short, not a bad header. */
function checkLayout(tensors: SafetensorsEntry[], file: string, dataOffset: number, fileSize: number): void {
  const dataSize = fileSize - dataOffset;
  const sorted = tensors.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  let contiguous = sorted.length === 0 || sorted[0].begin === 0;
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end) {
      throw err(
        'safetensors-offsets',
        file,
        cur.name,
        `data_offsets [${cur.begin}, ${cur.end}] overlap those of "${prev.name}" [${prev.begin}, ${prev.end}]`,
      );
    }
    if (cur.begin !== prev.end) contiguous = false;
  }
  for (const t of tensors) {
    if (t.end <= dataSize) continue;
    if (contiguous) {
      // A well-formed packed layout whose last bytes are missing: the file was cut short.
      throw err(
        'safetensors-truncated',
        file,
        t.name,
        `data ends at byte ${dataOffset + t.end} but the file has only ${fileSize} bytes (file truncated?)`,
      );
    }
    throw err(
      'safetensors-offsets',
      file,
      t.name,
      `data_offsets [${t.begin}, ${t.end}] are outside the data section (${dataSize} bytes)`,
    );
  }
}

// ---- dtype conversion ----------------------------------------------------------------------------

let f16Table: Float32Array | null = null;

/** f32 value of every f16 bit pattern (exact: every f16 is an f32; NaN payloads are kept). */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const bits = new Uint32Array(65536);
  const out = new Float32Array(bits.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) {
      // zero or subnormal: mant · 2^-24, exact in f32
      out[h] = (sign ? -1 : 1) * mant * 2 ** -24;
    } else if (exp === 31) {
      bits[h] = (sign | 0x7f800000 | (mant << 13)) >>> 0;
    } else {
      bits[h] = (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
    }
  }
  f16Table = out;
  return out;
}

/** Exact conversion of one f16 bit pattern to a number. */
export function f16BitsToF32(h: number): number {
  return f16ToF32Table()[h & 0xffff];
}

/** Exact conversion of one bf16 bit pattern to a number. */
export function bf16BitsToF32(h: number): number {
  const u = new Uint32Array([(h & 0xffff) << 16]);
  return new Float32Array(u.buffer)[0];
}

function readU16(u8: Uint8Array, start: number, n: number): Uint16Array {
  if (LITTLE_ENDIAN && (u8.byteOffset + start) % 2 === 0)
    return new Uint16Array(u8.buffer, u8.byteOffset + start, n);
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = u8[start + 2 * i] | (u8[start + 2 * i + 1] << 8);
  return out;
}

const MAX_EXACT_INT = 2 ** 24;

function decodeInt(u8: Uint8Array, start: number, e: SafetensorsEntry, file: string): Float32Array {
  const n = numel(e.shape);
  const size = DTYPE_SIZE[e.dtype];
  const dv = new DataView(u8.buffer, u8.byteOffset + start, n * size);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * size;
    let v: number;
    switch (e.dtype) {
      case 'BOOL':
      case 'U8':
        v = dv.getUint8(o);
        break;
      case 'I8':
        v = dv.getInt8(o);
        break;
      case 'I16':
        v = dv.getInt16(o, true);
        break;
      case 'U16':
        v = dv.getUint16(o, true);
        break;
      case 'I32':
        v = dv.getInt32(o, true);
        break;
      case 'U32':
        v = dv.getUint32(o, true);
        break;
      case 'I64':
        v = dv.getInt32(o + 4, true) * 2 ** 32 + dv.getUint32(o, true);
        break;
      default:
        v = dv.getUint32(o + 4, true) * 2 ** 32 + dv.getUint32(o, true);
    }
    if (v > MAX_EXACT_INT || v < -MAX_EXACT_INT) {
      throw err(
        'safetensors-dtype',
        file,
        e.name,
        `${e.dtype} value ${v} at index ${i} cannot be held exactly as f32`,
      );
    }
    out[i] = v;
  }
  return out;
}

function decode(
  u8: Uint8Array,
  start: number,
  e: SafetensorsEntry,
  copy: boolean,
  file: string,
): Float32Array {
  const n = numel(e.shape);
  if (e.dtype === 'F32') {
    if (LITTLE_ENDIAN) {
      if (!copy && (u8.byteOffset + start) % 4 === 0)
        return new Float32Array(u8.buffer, u8.byteOffset + start, n);
      // Copy into a fresh buffer (a Node Buffer's slice() is a view of its shared pool, not a copy).
      const out = new Float32Array(n);
      new Uint8Array(out.buffer).set(u8.subarray(start, start + 4 * n));
      return out;
    }
    const dv = new DataView(u8.buffer, u8.byteOffset + start, 4 * n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    return out;
  }
  if (!isFloatDtype(e.dtype)) return decodeInt(u8, start, e, file);
  const src = readU16(u8, start, n);
  if (e.dtype === 'BF16') {
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
    return new Float32Array(bits.buffer);
  }
  const table = f16ToF32Table();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = table[src[i]];
  return out;
}

/** Parse a whole safetensors file into f32 tensors by name (header order). Errors as readSafetensorsHeader. */
export function parseSafetensors(
  bytes: ArrayBuffer | Uint8Array,
  file: string,
  opts: ParseSafetensorsOptions = {},
): Map<string, SafetensorsTensor> {
  const u8 = asBytes(bytes);
  const header = readSafetensorsHeader(u8, file);
  const out = new Map<string, SafetensorsTensor>();
  for (const e of header.tensors) {
    if (opts.filter && !opts.filter(e.name)) continue;
    out.set(e.name, {
      dtype: e.dtype,
      shape: e.shape.slice(),
      data: decode(u8, header.dataOffset + e.begin, e, opts.copy === true, file),
    });
  }
  return out;
}

// ---- writing -------------------------------------------------------------------------------------

export type { TensorsToWrite } from './safetensorsStream.ts';

/**
 * Serialise f32 tensors to a safetensors file (F32). Tensors are sorted by name and packed in that order;
 * the header is padded with spaces so the data section starts at a multiple of 8, as the Hugging Face
 * writer does. `metadata` becomes `__metadata__` (omitted when undefined). One array: safetensorsSource
 * gives the same bytes piece by piece.
 */
export function writeSafetensors(tensors: TensorsToWrite, metadata?: Record<string, string>): Uint8Array {
  return sourceBytes(safetensorsSource(tensors, metadata));
}
