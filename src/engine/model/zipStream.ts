// Writing a ZIP (stored entries: weights and PNGs compress poorly) one piece at a time with fflate's
// streaming writer, which learns each entry's size and CRC as the bytes pass and writes them after it (data
// descriptors), so each source is read once and nothing is gathered: a model's export holds about one tensor
// beyond the model. No Zip64: an entry over 4 GiB is refused before any of it is read. Both the page's run
// export (client/zip.ts writeZip) and the worker's trained-model export (worker/trainedExport.ts) use it.

import { Zip, ZipPassThrough } from 'fflate';
import { EngineError } from '../errors.ts';
import type { ByteSource } from './safetensorsStream.ts';

export interface ZipEntry {
  name: string;
  data: Uint8Array;
}

/** An entry whose bytes come in pieces (read once). */
export type ZipSource = { name: string } & ByteSource;

export type ZipInput = ZipEntry | ZipSource;

/** Stored ZIP entries without Zip64 hold at most 4 GiB each. */
const ZIP32_MAX = 0xffffffff;

/** Hands the ZIP of `entries` to `onPiece` in order, a piece at a time (each piece is used at once: copy it
 * to keep it, as a source may reuse its buffers). */
export function zipStream(
  entries: Iterable<ZipInput>,
  onPiece: (piece: Uint8Array) => void,
  when = new Date(),
): void {
  let failure: Error | null = null;
  const zip = new Zip((err, data) => {
    if (err) failure = err;
    else onPiece(data);
  });
  for (const e of entries) {
    const size = 'data' in e ? e.data.length : e.size;
    if (size > ZIP32_MAX)
      throw new EngineError(
        'invalid-argument',
        `${e.name}: ${size} bytes, over the 4 GiB a ZIP entry holds`,
        {
          file: e.name,
        },
      );
    const entry = new ZipPassThrough(e.name);
    entry.mtime = when;
    zip.add(entry);
    if ('data' in e) entry.push(e.data, true);
    else {
      for (const piece of e.chunks()) entry.push(piece);
      entry.push(new Uint8Array(0), true);
    }
    if (failure) throw failure;
  }
  zip.end();
  if (failure) throw failure;
}
