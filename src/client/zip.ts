// ZIP files. Reading is fflate's: stored and deflated entries, Zip64, data descriptors, so a run exported
// here and re-packed by another tool (an operating system's "compress", Python's zipfile) imports back.
// Writing is engine/model/zipStream.ts (stored entries, a piece at a time); writeZip gathers its pieces for
// small bundles such as a run's export.

import { unzipSync } from 'fflate';
import { type ZipEntry, type ZipInput, zipStream } from '../engine/model/zipStream.ts';

export type { ZipEntry, ZipInput, ZipSource } from '../engine/model/zipStream.ts';

/** The whole ZIP in one array (small bundles; a model's export streams zipStream into a Blob instead). */
export function writeZip(entries: ZipInput[], when = new Date()): Uint8Array {
  const parts: Uint8Array[] = [];
  zipStream(entries, (p) => parts.push(p.slice()), when);
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Folders and the resource forks macOS adds when it zips a folder (`__MACOSX/…`) are no files of a run. */
const isFile = (name: string) => !name.endsWith('/') && !name.startsWith('__MACOSX/');

/** The files of a ZIP (stored or deflated entries), in the archive's order; throws a readable Error. */
export function readZip(bytes: Uint8Array): ZipEntry[] {
  let files: Record<string, Uint8Array>;
  // The central directory's order (an object's keys would put names like "1" first).
  const names: string[] = [];
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        if (isFile(f.name) && !names.includes(f.name)) names.push(f.name);
        return isFile(f.name);
      },
    });
  } catch (e) {
    const m = (e as Error).message;
    throw new Error(
      /invalid zip/i.test(m)
        ? 'not a ZIP file (no end of central directory)'
        : `the ZIP could not be read: ${m}`,
    );
  }
  return names.map((name) => ({ name, data: files[name] }));
}
