// A minimal ZIP (stored entries, no compression): enough to bundle an exported run (JSON, CSV, PNG) or a
// trained model into one download and to read such a bundle back. Reads only stored entries (what this
// writer makes). The writer streams: zipChunks yields the archive piece by piece (headers, then each
// entry's own pieces, then the central directory), so a model's weights are never copied into one array.
// Weights compress poorly, hence no deflate; no Zip64, so an entry or archive past 4 GiB is refused.

import { EngineError } from '../engine/errors.ts';
import type { ByteSource } from '../engine/model/safetensorsStream.ts';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The running CRC-32 register after `data` (start from 0xffffffff, finish with `^ 0xffffffff`). */
function crcUpdate(c: number, data: Uint8Array): number {
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return c;
}

export function crc32(data: Uint8Array): number {
  return (crcUpdate(0xffffffff, data) ^ 0xffffffff) >>> 0;
}

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

/** An entry whose bytes come in pieces (read twice: once for the CRC, once to write them). */
export type ZipSource = { name: string } & ByteSource;

export type ZipInput = ZipEntry | ZipSource;

const ZIP32_MAX = 0xffffffff;

/** DOS date/time of `d` (local time), as ZIP stores it. */
function dosTime(d: Date): [number, number] {
  const time = (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2);
  const date = ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate();
  return [time, date];
}

function tooLarge(name: string, what: string): EngineError {
  return new EngineError(
    'invalid-argument',
    `${name}: ${what} is over 4 GiB, more than a ZIP without Zip64 holds`,
    {
      file: name,
    },
  );
}

/** An entry's pieces (an in-memory entry is one piece) and its CRC, checking the declared size. */
function entryPieces(e: ZipInput): { size: number; crc: number; pieces: () => Iterable<Uint8Array> } {
  if ('data' in e) return { size: e.data.length, crc: crc32(e.data), pieces: () => [e.data] };
  if (e.size > ZIP32_MAX) throw tooLarge(e.name, `the entry (${e.size} bytes)`);
  let c = 0xffffffff;
  let n = 0;
  for (const piece of e.chunks()) {
    c = crcUpdate(c, piece);
    n += piece.byteLength;
  }
  if (n !== e.size)
    throw new EngineError('invalid-argument', `${e.name}: gave ${n} bytes, not the ${e.size} it declared`, {
      file: e.name,
    });
  return { size: n, crc: (c ^ 0xffffffff) >>> 0, pieces: () => e.chunks() };
}

/** The local file header (30 bytes + name) or central directory record (46 bytes + name) of an entry. */
function entryHeader(
  kind: 'local' | 'central',
  name: Uint8Array,
  e: { size: number; crc: number; offset: number },
  [time, date]: [number, number],
): Uint8Array {
  const local = kind === 'local';
  const out = new Uint8Array((local ? 30 : 46) + name.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, local ? 0x04034b50 : 0x02014b50, true);
  // The central record has "version made by" before the local header's fields: shift those by 2.
  const at = local ? 4 : 6;
  if (!local) v.setUint16(4, 20, true);
  v.setUint16(at, 20, true); // version needed
  v.setUint16(at + 2, 0x0800, true); // UTF-8 names
  v.setUint16(at + 4, 0, true); // stored
  v.setUint16(at + 6, time, true);
  v.setUint16(at + 8, date, true);
  v.setUint32(at + 10, e.crc, true);
  v.setUint32(at + 14, e.size, true);
  v.setUint32(at + 18, e.size, true);
  v.setUint16(at + 22, name.length, true);
  if (!local) v.setUint32(42, e.offset, true);
  out.set(name, local ? 30 : 46);
  return out;
}

/**
 * The ZIP of `entries`, piece by piece: each entry's local header then its own pieces (views, not copies),
 * then the central directory. Concatenated, the pieces are the bytes writeZip returns.
 */
export function* zipChunks(entries: Iterable<ZipInput>, when = new Date()): Generator<Uint8Array> {
  const enc = new TextEncoder();
  const stamp = dosTime(when);
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const { size, crc, pieces } = entryPieces(e);
    if (offset > ZIP32_MAX) throw tooLarge(e.name, 'the archive before this entry');
    const local = entryHeader('local', name, { size, crc, offset }, stamp);
    centrals.push(entryHeader('central', name, { size, crc, offset }, stamp));
    yield local;
    let written = 0;
    for (const piece of pieces()) {
      written += piece.byteLength;
      yield piece;
    }
    // A source that changed between the CRC pass and this one would leave a corrupt archive.
    if (written !== size)
      throw new EngineError('invalid-argument', `${e.name}: its bytes changed while being zipped`, {
        file: e.name,
      });
    offset += local.length + size;
  }
  if (centrals.length > 0xffff) throw tooLarge('zip', 'the entry count (over 65535)');
  if (offset > ZIP32_MAX) throw tooLarge('zip', 'the archive');
  const centralSize = centrals.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, centrals.length, true);
  ev.setUint16(10, centrals.length, true);
  ev.setUint32(12, centralSize, true);
  ev.setUint32(16, offset, true);
  yield* centrals;
  yield end;
}

/** The whole ZIP in one array (small bundles; a large export streams zipChunks instead). */
export function writeZip(entries: ZipInput[], when = new Date()): Uint8Array {
  const parts = [...zipChunks(entries, when)];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Entries of a ZIP made of stored entries; throws on anything else. */
export function readZip(bytes: Uint8Array): ZipEntry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (v.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a ZIP file (no end of central directory)');
  const count = v.getUint16(eocd + 10, true);
  let p = v.getUint32(eocd + 16, true);
  const dec = new TextDecoder();
  const out: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (v.getUint32(p, true) !== 0x02014b50) throw new Error('ZIP central directory is damaged');
    const method = v.getUint16(p + 10, true);
    const size = v.getUint32(p + 20, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const localOffset = v.getUint32(p + 42, true);
    const name = dec.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    if (method !== 0)
      throw new Error(`${name}: compressed ZIP entries are not supported (export from this page)`);
    const lNameLen = v.getUint16(localOffset + 26, true);
    const lExtraLen = v.getUint16(localOffset + 28, true);
    const start = localOffset + 30 + lNameLen + lExtraLen;
    out.push({ name, data: bytes.slice(start, start + size) });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}
