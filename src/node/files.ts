// Node only: a run folder as a RunSink. Files are replaced atomically (written to a temporary file in the
// same folder, then renamed over the old one), so a run killed mid-write leaves the previous complete file
// — a checkpoint is never half-written.
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { RunSink } from '../experiment/run.ts';

/** Writes `data` to `path` through a temporary file and a rename (atomic on one file system). */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Writes `pieces` one after another to `path`, through a temporary file and a rename like writeFileAtomic. */
export function writePiecesAtomic(path: string, pieces: Iterable<Uint8Array>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const piece of pieces) {
        for (let done = 0; done < piece.byteLength; )
          done += writeSync(fd, piece, done, piece.byteLength - done);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** The file's bytes, or null when it does not exist. */
export function readFileOrNull(path: string): Uint8Array | null {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength); // a plain Uint8Array, not a Buffer
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Files into a folder with node:fs. */
export function dirSink(out: string): RunSink {
  const at = (name: string) => join(out, name);
  return {
    async write(name, data) {
      writeFileAtomic(at(name), data);
    },
    async writePieces(name, pieces) {
      writePiecesAtomic(at(name), pieces);
    },
    async append(name, text) {
      mkdirSync(dirname(at(name)), { recursive: true });
      appendFileSync(at(name), text);
    },
    async read(name) {
      return readFileOrNull(at(name));
    },
  };
}
