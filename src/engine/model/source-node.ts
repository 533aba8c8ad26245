// Node only: a model folder on disk as a ModelSource (tests, scripts, benchmarks).
import { open, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { EngineError } from '../errors.ts';
import type { ModelSource, RangeRead } from './source.ts';

export class DirModelSource implements ModelSource {
  readonly label: string;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.label = dir;
  }

  async readFile(name: string): Promise<Uint8Array | null> {
    const path = join(this.dir, ...name.split(/[\\/]/));
    try {
      const buf = await readFile(path);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw new EngineError('file-missing', `${name}: could not read ${path} (${(e as Error).message})`, {
        file: name,
      });
    }
  }

  /** Reads only [start, end) from disk, into `into` when it is large enough (a reused scratch buffer). */
  async readRange(name: string, start: number, end: number, into?: Uint8Array): Promise<RangeRead | null> {
    const path = join(this.dir, ...name.split(/[\\/]/));
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw new EngineError('file-missing', `${name}: could not open ${path} (${(e as Error).message})`, {
        file: name,
      });
    }
    try {
      const fileSize = (await handle.stat()).size;
      const want = Math.max(0, Math.min(end, fileSize) - start);
      const out = into && into.byteLength >= want ? into.subarray(0, want) : new Uint8Array(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await handle.read(out, got, want - got, start + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return { bytes: out.subarray(0, got), fileSize };
    } finally {
      await handle.close();
    }
  }

  async readText(name: string): Promise<string | null> {
    const b = await this.readFile(name);
    return b === null ? null : new TextDecoder('utf-8').decode(b);
  }

  /** Every file under the folder, '/'-separated relative paths. */
  async list(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const ent of await readdir(d, { withFileTypes: true })) {
        const p = join(d, ent.name);
        if (ent.isDirectory()) await walk(p);
        else out.push(relative(this.dir, p).split(sep).join('/'));
      }
    };
    await walk(this.dir);
    return out.sort();
  }
}
