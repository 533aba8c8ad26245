// Where model and adapter files come from: a URL folder (works in a worker), files the user picked or
// dropped in the browser, bytes held in memory. `source-node.ts` adds a Node directory source.
// Names are paths relative to the model folder, '/'-separated (e.g. `config.json`, `adapter/adapter_config.json`).
import { EngineError, type EngineErrorCode } from '../errors.ts';

export interface ModelSource {
  /** Human-readable origin for messages (a URL, a folder, "dropped files"). */
  readonly label: string;
  /** The file's bytes, or null when the file does not exist. Other failures throw EngineError('file-missing'). */
  readFile(name: string): Promise<Uint8Array | null>;
  /** The file as UTF-8 text, or null when it does not exist. */
  readText(name: string): Promise<string | null>;
  /** Names of the files the source can see, where it can list them (a URL source cannot). */
  list?(): Promise<string[]>;
  /**
   * Bytes [start, end) of the file (clipped to its end) and the file's size, or null when the file does
   * not exist: lets a loader read a safetensors header and then one tensor at a time without the whole
   * file in memory. `into`, when given and large enough, may receive the bytes (a reused scratch buffer).
   */
  readRange?(name: string, start: number, end: number, into?: Uint8Array): Promise<RangeRead | null>;
}

/** What a ranged read returns: the bytes asked for (fewer only at the end of the file) and the file size. */
export interface RangeRead {
  bytes: Uint8Array;
  fileSize: number;
}

const utf8 = new TextDecoder('utf-8');

async function textOf(src: ModelSource, name: string): Promise<string | null> {
  const b = await src.readFile(name);
  return b === null ? null : utf8.decode(b);
}

/** Read and parse a JSON file; null when absent. Malformed JSON throws EngineError(`code`) naming the file. */
export async function readJson(
  source: ModelSource,
  name: string,
  code: EngineErrorCode = 'config-invalid',
): Promise<unknown | null> {
  const text = await source.readText(name);
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new EngineError(code, `${name}: not valid JSON (${(e as Error).message}) in ${source.label}`, {
      file: name,
    });
  }
}

function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1];
}

function normalise(name: string): string {
  return name.replace(/\\/g, '/').replace(/^\.?\/+/, '');
}

export type ProgressFn = (name: string, loadedBytes: number, totalBytes: number | null) => void;

/** Files under a base URL (`${baseUrl}/${name}`). HTTP 404/410 → null. Works in a browser, a worker, Node. */
export class UrlModelSource implements ModelSource {
  readonly label: string;
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly onProgress?: ProgressFn;

  /** `fetchFn` defaults to the global fetch (called unbound-safe). `onProgress` reports download progress. */
  constructor(baseUrl: string, fetchFn?: typeof fetch, onProgress?: ProgressFn) {
    this.base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    this.label = baseUrl;
    this.fetchFn = fetchFn ?? ((input, init) => fetch(input, init));
    this.onProgress = onProgress;
  }

  urlOf(name: string): string {
    return this.base + normalise(name).split('/').map(encodeURIComponent).join('/');
  }

  async readFile(name: string): Promise<Uint8Array | null> {
    const url = this.urlOf(name);
    let res: Response;
    try {
      res = await this.fetchFn(url);
    } catch (e) {
      throw new EngineError('file-missing', `${name}: could not fetch ${url} (${(e as Error).message})`, {
        file: name,
      });
    }
    if (res.status === 404 || res.status === 410) return null;
    if (!res.ok) {
      throw new EngineError('file-missing', `${name}: fetching ${url} failed with HTTP ${res.status}`, {
        file: name,
      });
    }
    // Dev servers with an SPA fallback answer a missing file with index.html and status 200.
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('text/html') && !/\.html?$/i.test(name)) return null;
    const lenHeader = res.headers.get('content-length');
    const total = lenHeader !== null && /^\d+$/.test(lenHeader) ? Number(lenHeader) : null;
    if (!this.onProgress || !res.body) return new Uint8Array(await res.arrayBuffer());
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let loaded = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      this.onProgress(name, loaded, total);
    }
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(loaded);
    let pos = 0;
    for (const c of chunks) {
      out.set(c, pos);
      pos += c.byteLength;
    }
    return out;
  }

  readText(name: string): Promise<string | null> {
    return textOf(this, name);
  }

  /**
   * An HTTP Range request. A server that ignores Range answers 200 with the whole file: then the body is
   * read as a stream, keeping only [start, end), and the stream stays open for the next read further on
   * (a loader reads tensors in file order), so the file is downloaded once and never held whole.
   */
  async readRange(name: string, start: number, end: number): Promise<RangeRead | null> {
    const open = this.openBodies.get(name);
    if (open && open.pos <= start) return open.take(start, end);
    this.closeBody(name);
    const url = this.urlOf(name);
    let res: Response;
    try {
      res = await this.fetchFn(url, { headers: { Range: `bytes=${start}-${Math.max(start, end - 1)}` } });
    } catch (e) {
      throw new EngineError('file-missing', `${name}: could not fetch ${url} (${(e as Error).message})`, {
        file: name,
      });
    }
    if (res.status === 404 || res.status === 410) return null;
    if (res.status === 416) return { bytes: new Uint8Array(0), fileSize: start };
    if (!res.ok) {
      throw new EngineError('file-missing', `${name}: fetching ${url} failed with HTTP ${res.status}`, {
        file: name,
      });
    }
    const type = res.headers.get('content-type') ?? '';
    if (type.includes('text/html') && !/\.html?$/i.test(name)) return null;
    if (res.status === 206) {
      const total = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
      const bytes = new Uint8Array(await res.arrayBuffer()).subarray(0, Math.max(0, end - start));
      return { bytes, fileSize: total ? Number(total[1]) : start + bytes.byteLength };
    }
    const lenHeader = res.headers.get('content-length');
    if (!res.body || lenHeader === null || !/^\d+$/.test(lenHeader)) {
      // No stream or no size: the whole file it is (small files, unusual servers).
      const whole = new Uint8Array(await res.arrayBuffer());
      return { bytes: whole.slice(start, end), fileSize: whole.byteLength };
    }
    const body = new SequentialBody(res.body.getReader(), Number(lenHeader));
    this.openBodies.set(name, body);
    return body.take(start, end);
  }

  private readonly openBodies = new Map<string, SequentialBody>();

  private closeBody(name: string): void {
    this.openBodies.get(name)?.cancel();
    this.openBodies.delete(name);
  }
}

/** A response body read front to back: each take() skips to `start` and keeps only [start, end). */
class SequentialBody {
  pos = 0;
  private pending: Uint8Array | null = null;

  constructor(
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    readonly fileSize: number,
  ) {}

  async take(start: number, end: number): Promise<RangeRead> {
    const stop = Math.min(end, this.fileSize);
    const out = new Uint8Array(Math.max(0, stop - start));
    while (this.pos < stop) {
      let chunk = this.pending;
      this.pending = null;
      if (!chunk) {
        const { done, value } = await this.reader.read();
        if (done) break;
        chunk = value;
      }
      const chunkEnd = this.pos + chunk.byteLength;
      const from = Math.max(start, this.pos);
      const to = Math.min(stop, chunkEnd);
      if (to > from) out.set(chunk.subarray(from - this.pos, to - this.pos), from - start);
      if (chunkEnd > stop) {
        this.pending = chunk.subarray(stop - this.pos);
        this.pos = stop;
      } else this.pos = chunkEnd;
    }
    return { bytes: out, fileSize: this.fileSize };
  }

  cancel(): void {
    this.reader.cancel().catch(() => {});
  }
}

/**
 * Files picked with a folder picker (`<input webkitdirectory>`) or dropped: a File[] (matched by
 * `webkitRelativePath` or name) or a Map from path to Blob. A name is found by its relative path first
 * (a path ending in `/<name>`), then by basename; when several files share the basename, the one with
 * the shortest path (nearest the picked folder's root) wins.
 */
export class FileListModelSource implements ModelSource {
  readonly label: string;
  private readonly entries: { path: string; blob: Blob }[];

  constructor(files: File[] | Map<string, Blob>, label = 'selected files') {
    this.label = label;
    this.entries =
      files instanceof Map
        ? [...files.entries()].map(([path, blob]) => ({ path: normalise(path), blob }))
        : files.map((f) => ({ path: normalise(f.webkitRelativePath || f.name), blob: f as Blob }));
  }

  private find(name: string): Blob | null {
    const want = normalise(name);
    const byPath = this.entries.filter((e) => e.path === want || e.path.endsWith(`/${want}`));
    const base = basename(want);
    const pool = byPath.length > 0 ? byPath : this.entries.filter((e) => basename(e.path) === base);
    if (pool.length === 0) return null;
    pool.sort((a, b) => a.path.split('/').length - b.path.split('/').length || a.path.length - b.path.length);
    return pool[0].blob;
  }

  async readFile(name: string): Promise<Uint8Array | null> {
    const blob = this.find(name);
    if (!blob) return null;
    try {
      return new Uint8Array(await blob.arrayBuffer());
    } catch (e) {
      throw new EngineError(
        'file-missing',
        `${name}: could not read it from ${this.label} (${(e as Error).message})`,
        {
          file: name,
        },
      );
    }
  }

  readText(name: string): Promise<string | null> {
    return textOf(this, name);
  }

  async list(): Promise<string[]> {
    return this.entries.map((e) => e.path);
  }

  /** Blob.slice: only the bytes asked for are read. */
  async readRange(name: string, start: number, end: number): Promise<RangeRead | null> {
    const blob = this.find(name);
    if (!blob) return null;
    try {
      return { bytes: new Uint8Array(await blob.slice(start, end).arrayBuffer()), fileSize: blob.size };
    } catch (e) {
      throw new EngineError(
        'file-missing',
        `${name}: could not read it from ${this.label} (${(e as Error).message})`,
        {
          file: name,
        },
      );
    }
  }
}

/** Files held in memory (bytes or text), e.g. an adapter just trained, or a test's mutated copy. */
export class MemoryModelSource implements ModelSource {
  readonly label: string;
  readonly files: Map<string, Uint8Array>;

  constructor(
    files: Map<string, Uint8Array | string> | Record<string, Uint8Array | string>,
    label = 'memory',
  ) {
    this.label = label;
    this.files = new Map();
    const enc = new TextEncoder();
    const list = files instanceof Map ? [...files.entries()] : Object.entries(files);
    for (const [k, v] of list) this.files.set(normalise(k), typeof v === 'string' ? enc.encode(v) : v);
  }

  async readFile(name: string): Promise<Uint8Array | null> {
    return this.files.get(normalise(name)) ?? null;
  }

  readText(name: string): Promise<string | null> {
    return textOf(this, name);
  }

  async list(): Promise<string[]> {
    return [...this.files.keys()];
  }

  async readRange(name: string, start: number, end: number): Promise<RangeRead | null> {
    const b = this.files.get(normalise(name));
    return b ? { bytes: b.subarray(start, end), fileSize: b.byteLength } : null;
  }
}

/** The files of `source` under the folder `prefix` (e.g. `subSource(model, 'adapter')`). */
export function subSource(source: ModelSource, prefix: string): ModelSource {
  const p = normalise(prefix).replace(/\/+$/, '');
  const full = (name: string) => (p === '' ? normalise(name) : `${p}/${normalise(name)}`);
  const sub: ModelSource = {
    label: `${source.label}/${p}`,
    readFile: (name) => source.readFile(full(name)),
    readText: (name) => source.readText(full(name)),
  };
  const readRange = source.readRange?.bind(source);
  if (readRange) sub.readRange = (name, start, end, into) => readRange(full(name), start, end, into);
  const list = source.list?.bind(source);
  if (list) {
    sub.list = async () => {
      const out: string[] = [];
      for (const n of await list()) {
        if (n.startsWith(`${p}/`)) out.push(n.slice(p.length + 1));
        else if (n.includes(`/${p}/`)) out.push(n.slice(n.indexOf(`/${p}/`) + p.length + 2));
      }
      return out;
    };
  }
  return sub;
}
