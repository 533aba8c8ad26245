// A model from the Hugging Face Hub, in the browser: transformers.js's Hub utilities say which files a
// repository has and how big they are (ModelRegistry.get_file_metadata: cache-aware Range requests,
// a typed error for gated or private repositories), and its `env` gives the host, the path template and
// the Cache Storage bucket. The files are then streamed with a progress report per file into that same
// browser cache (so transformers.js and this page share downloads), and handed to the engine as File
// objects. transformers.js is imported on first use only: it pulls in onnxruntime-web, which the rest of
// the page does not need.

import { isSafeShardName } from '../engine/model/weights.ts';

export interface HubFile {
  name: string;
  size: number | null;
  fromCache: boolean;
}

export interface HubPlan {
  id: string;
  revision: string;
  config: unknown;
  files: HubFile[];
}

export interface FileProgress {
  name: string;
  loaded: number;
  total: number | null;
  cached: boolean;
  done: boolean;
}

export class HubError extends Error {
  constructor(
    message: string,
    readonly code: 'hub-not-found' | 'hub-denied' | 'hub-network' | 'hub-layout',
  ) {
    super(message);
    this.name = 'HubError';
  }
}

type Transformers = typeof import('@huggingface/transformers');
let lib: Promise<Transformers> | null = null;

function transformers(): Promise<Transformers> {
  lib ??= import('@huggingface/transformers').then((t) => {
    // Only the Hub: never look for models on this page's own server.
    t.env.allowLocalModels = false;
    t.env.allowRemoteModels = true;
    return t;
  });
  return lib;
}

export function isHubId(id: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(id) && !id.includes('..');
}

/** A revision (branch, tag or commit) that cannot step out of the repository's path. */
export function isHubRevision(revision: string): boolean {
  return /^[A-Za-z0-9][\w./-]{0,199}$/.test(revision) && !revision.includes('..');
}

/**
 * The shard files a model.safetensors.index.json names, each checked (engine/model/weights.ts
 * isSafeShardName: a plain `.safetensors` file name, also after percent-decoding) before anything is
 * fetched from it: a crafted index must not send the download to another repository.
 */
export function shardNamesOf(indexText: string, id: string): string[] {
  let raw: unknown;
  try {
    raw = JSON.parse(indexText);
  } catch {
    throw new HubError(`${id}: model.safetensors.index.json is not valid JSON.`, 'hub-layout');
  }
  const map = typeof raw === 'object' && raw !== null ? (raw as { weight_map?: unknown }).weight_map : null;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new HubError(`${id}: model.safetensors.index.json has no "weight_map" object.`, 'hub-layout');
  const shards = [...new Set(Object.values(map))];
  if (shards.length === 0)
    throw new HubError(`${id}: model.safetensors.index.json lists no weight files.`, 'hub-layout');
  for (const s of shards) {
    if (!isSafeShardName(s)) {
      const shown = JSON.stringify(s)?.slice(0, 120) ?? String(s);
      throw new HubError(
        `${id}: model.safetensors.index.json names ${shown} as a weight file, which is not a plain .safetensors file name; nothing was fetched from it.`,
        'hub-layout',
      );
    }
  }
  return (shards as string[]).sort();
}

async function metadata(
  t: Transformers,
  id: string,
  revision: string,
  name: string,
): Promise<HubFile | null> {
  try {
    const m = await t.ModelRegistry.get_file_metadata(id, name, { revision });
    return m.exists ? { name, size: m.size ?? null, fromCache: m.fromCache === true } : null;
  } catch (e) {
    const status = (e as { status?: number | null }).status;
    if (status === 401 || status === 403)
      throw new HubError(
        `${id}: the Hub refused access to ${name} (HTTP ${status}). The repository is gated or private; this page cannot sign in.`,
        'hub-denied',
      );
    throw new HubError(
      `${id}: could not reach the Hub for ${name} (${(e as Error).message}).`,
      'hub-network',
    );
  }
}

async function urlOf(id: string, revision: string, name: string): Promise<string> {
  const t = await transformers();
  const host = t.env.remoteHost.endsWith('/') ? t.env.remoteHost : `${t.env.remoteHost}/`;
  const path = t.env.remotePathTemplate
    .replaceAll('{model}', id)
    .replaceAll('{revision}', encodeURIComponent(revision));
  return `${host}${path}${path.endsWith('/') ? '' : '/'}${name}`;
}

async function cacheBucket(): Promise<Cache | null> {
  const t = await transformers();
  if (!t.env.useBrowserCache || typeof caches === 'undefined') return null;
  try {
    return await caches.open(t.env.cacheKey);
  } catch {
    return null;
  }
}

/** Which files the repository has, their sizes, and config.json (small, fetched first). */
export async function planHubModel(id: string, revision = 'main'): Promise<HubPlan> {
  if (!isHubId(id))
    throw new HubError(
      `"${id}" is not a Hub model id (owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct).`,
      'hub-not-found',
    );
  if (!isHubRevision(revision))
    throw new HubError(`"${revision}" is not a revision (a branch, tag or commit).`, 'hub-not-found');
  const t = await transformers();
  const config = await metadata(t, id, revision, 'config.json');
  if (!config)
    throw new HubError(`${id}@${revision}: no config.json on the Hub (is the id right?).`, 'hub-not-found');
  const files: HubFile[] = [config];
  const index = await metadata(t, id, revision, 'model.safetensors.index.json');
  let shards: string[] = [];
  if (index) {
    files.push(index);
    shards = shardNamesOf(new TextDecoder().decode(await fetchFile(id, revision, index, () => {})), id);
  } else shards = ['model.safetensors'];
  for (const s of shards) {
    const m = await metadata(t, id, revision, s);
    if (!m)
      throw new HubError(
        `${id}: ${s} is missing; the engine needs safetensors weights in the Hugging Face layout.`,
        'hub-layout',
      );
    files.push(m);
  }
  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
    const m = await metadata(t, id, revision, name);
    if (m) files.push(m);
  }
  if (!files.some((f) => f.name === 'tokenizer.json'))
    throw new HubError(`${id}: no tokenizer.json; the playground needs the model's tokenizer.`, 'hub-layout');
  // transformers.js remembers a file's metadata for the session; what the cache holds now is asked anew.
  const cache = await cacheBucket();
  if (cache)
    for (const f of files) f.fromCache = (await cache.match(await urlOf(id, revision, f.name))) !== undefined;
  const configBytes = await fetchFile(id, revision, config, () => {});
  let configJson: unknown;
  try {
    configJson = JSON.parse(new TextDecoder().decode(configBytes));
  } catch {
    throw new HubError(`${id}: config.json is not valid JSON.`, 'hub-layout');
  }
  return { id, revision, config: configJson, files };
}

/** One file's bytes: from the browser cache when there, else streamed from the Hub and cached. */
async function fetchFile(
  id: string,
  revision: string,
  file: HubFile,
  onProgress: (p: FileProgress) => void,
  signal?: AbortSignal,
): Promise<Uint8Array<ArrayBuffer>> {
  const url = await urlOf(id, revision, file.name);
  const cache = await cacheBucket();
  const hit = cache ? await cache.match(url) : undefined;
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onProgress({ name: file.name, loaded: bytes.length, total: bytes.length, cached: true, done: true });
    return bytes;
  }
  let res: Response;
  try {
    res = await fetch(url, { signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new HubError(`${file.name}: download failed (${(e as Error).message}).`, 'hub-network');
  }
  if (!res.ok)
    throw new HubError(
      `${file.name}: the Hub answered HTTP ${res.status}.`,
      res.status === 404 ? 'hub-not-found' : 'hub-network',
    );
  const header = res.headers.get('content-length');
  const total = header && /^\d+$/.test(header) ? Number(header) : file.size;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.byteLength;
      onProgress({ name: file.name, loaded, total, cached: false, done: false });
    }
  } else {
    const b = new Uint8Array(await res.arrayBuffer());
    chunks.push(b);
    loaded = b.length;
  }
  const bytes = new Uint8Array(loaded);
  let pos = 0;
  for (const c of chunks) {
    bytes.set(c, pos);
    pos += c.length;
  }
  onProgress({ name: file.name, loaded, total: loaded, cached: false, done: true });
  if (cache) {
    try {
      await cache.put(
        url,
        new Response(bytes, {
          headers: {
            'content-type': res.headers.get('content-type') ?? 'application/octet-stream',
            'content-length': String(loaded),
          },
        }),
      );
    } catch {
      // quota: the model still loads, it is just not cached
    }
  }
  return bytes;
}

/** Every file of the plan as File objects for the engine, with a progress report per file. */
export async function downloadHubModel(
  plan: HubPlan,
  onProgress: (p: FileProgress) => void,
  signal?: AbortSignal,
): Promise<File[]> {
  const out: File[] = [];
  for (const f of plan.files) {
    const bytes = await fetchFile(plan.id, plan.revision, f, onProgress, signal);
    out.push(new File([bytes], f.name));
  }
  return out;
}

/** What a plan downloads: every file's bytes, those already in the browser cache, and files of unknown size. */
export function planBytes(plan: HubPlan): { total: number; cached: number; unknown: number } {
  let total = 0;
  let cached = 0;
  let unknown = 0;
  for (const f of plan.files) {
    if (f.size === null) unknown++;
    total += f.size ?? 0;
    if (f.fromCache) cached += f.size ?? 0;
  }
  return { total, cached, unknown };
}

export interface CachedModel {
  id: string;
  revision: string;
  files: { name: string; size: number }[];
  bytes: number;
}

/** The cache entries' URLs follow the Hub's path template: the model id, revision and file name back. */
async function cachedFileOf(url: string): Promise<{ id: string; revision: string; name: string } | null> {
  const t = await transformers();
  const host = t.env.remoteHost.endsWith('/') ? t.env.remoteHost : `${t.env.remoteHost}/`;
  if (!url.startsWith(host)) return null;
  const escaped = t.env.remotePathTemplate.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
  const pattern = escaped.replace('{model}', '(?<model>.+?)').replace('{revision}', '(?<rev>[^/]+)');
  const m = new RegExp(`^${pattern}${pattern.endsWith('/') ? '' : '/'}(?<name>.+)$`).exec(
    url.slice(host.length),
  );
  const { model, rev, name } = m?.groups ?? {};
  if (!model || !rev || !name) return null;
  try {
    return { id: model, revision: decodeURIComponent(rev), name: decodeURIComponent(name) };
  } catch {
    return null;
  }
}

/** Every model the browser's Hub cache holds (this page's downloads and transformers.js's), largest first. */
export async function listHubCache(): Promise<CachedModel[]> {
  const cache = await cacheBucket();
  if (!cache) return [];
  const models = new Map<string, CachedModel>();
  for (const req of await cache.keys()) {
    const file = await cachedFileOf(req.url);
    if (!file) continue;
    const res = await cache.match(req);
    const header = res?.headers.get('content-length');
    // A Blob's size is known without reading its bytes.
    const size = header && /^\d+$/.test(header) ? Number(header) : ((await res?.blob())?.size ?? 0);
    const key = `${file.id}@${file.revision}`;
    const m = models.get(key) ?? { id: file.id, revision: file.revision, files: [], bytes: 0 };
    m.files.push({ name: file.name, size });
    m.bytes += size;
    models.set(key, m);
  }
  return [...models.values()].sort((a, b) => b.bytes - a.bytes || a.id.localeCompare(b.id));
}

/** Deletes one model's files (one revision) from the browser cache; returns how many entries went. */
export async function deleteHubCache(id: string, revision: string): Promise<number> {
  const cache = await cacheBucket();
  if (!cache) return 0;
  let deleted = 0;
  for (const req of await cache.keys()) {
    const file = await cachedFileOf(req.url);
    if (file && file.id === id && file.revision === revision && (await cache.delete(req))) deleted++;
  }
  return deleted;
}

export interface StorageState {
  /** Bytes this site stores (all of its storage, not only the Hub cache), and the browser's quota. */
  usage: number | null;
  quota: number | null;
  /** The browser keeps this site's storage when space runs low (navigator.storage.persist granted). */
  persisted: boolean | null;
}

export async function storageState(): Promise<StorageState> {
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  const estimate = storage?.estimate ? await storage.estimate().catch(() => null) : null;
  const persisted = storage?.persisted ? await storage.persisted().catch(() => null) : null;
  return { usage: estimate?.usage ?? null, quota: estimate?.quota ?? null, persisted };
}

/** Asks the browser to keep this site's storage (it may say no: the answer is returned). */
export async function persistStorage(): Promise<boolean> {
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!storage?.persist) return false;
  return storage.persist().catch(() => false);
}
