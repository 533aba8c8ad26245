// Node only: a model folder on disk as a ModelSource (tests, scripts, benchmarks).
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { EngineError } from '../errors.ts';
import type { ModelSource } from './source.ts';

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
