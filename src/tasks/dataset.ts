// Datasets: import reasoning-gym JSONL (text, a Node file, a URL) and generate our own.

import { getTask, hasTask } from './registry.ts';
import type { TaskConfig, TaskDefinition, TaskEntry } from './types.ts';

export interface DatasetItem {
  /** reasoning-gym task name: `metadata.source_dataset`, else the line's `task` field. */
  task: string;
  entry: TaskEntry;
  /** 1-based line number in the source, for imported items (0 for generated ones). */
  line: number;
  /** The parsed JSON object of the line (keeps extra fields such as `scores`), for imported items. */
  raw?: Record<string, unknown>;
}

/** Bad JSONL input, naming the source and the line. */
export class DatasetParseError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${source}:${line}: ${reason}`);
    this.name = 'DatasetParseError';
  }
}

export class UnknownLevelError extends Error {
  constructor(
    readonly task: string,
    readonly level: string,
  ) {
    super(`task "${task}" has no level "${level}"`);
    this.name = 'UnknownLevelError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The longest line accepted (bytes of UTF-8, or UTF-16 units of text): a bigger one is refused unread. */
export const MAX_LINE_BYTES = 1 << 20;

/** Control and invisible characters as \uXXXX, so a message shows what is in the file. */
const visible = (s: string): string =>
  Array.from(s, (c) => {
    const u = c.charCodeAt(0);
    const invisible =
      u < 0x20 || (u >= 0x7f && u <= 0x9f) || u === 0xad || (u >= 0x200b && u <= 0x200f) || u === 0xfeff;
    return invisible || (u >= 0x2028 && u <= 0x202e) || (u >= 0x2060 && u <= 0x2064)
      ? `\\u${u.toString(16).padStart(4, '0')}`
      : c;
  }).join('');

/** One line's entry: the structure checked (the task name is checked by parseJsonl). */
function parseLine(lineText: string, source: string, line: number): DatasetItem {
  const fail = (reason: string): never => {
    throw new DatasetParseError(source, line, visible(reason));
  };
  if (lineText.length > MAX_LINE_BYTES) fail(`line longer than ${MAX_LINE_BYTES} characters`);
  let obj: unknown;
  try {
    obj = JSON.parse(lineText);
  } catch (e) {
    fail(`invalid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!isObject(obj)) return fail('expected a JSON object');
  if (typeof obj.question !== 'string') fail('"question" must be a string');
  if (obj.answer !== null && typeof obj.answer !== 'string') fail('"answer" must be a string or null');
  if (!isObject(obj.metadata)) fail('"metadata" must be an object');
  const metadata = obj.metadata as Record<string, unknown>;
  const task = typeof metadata.source_dataset === 'string' ? metadata.source_dataset : obj.task;
  if (typeof task !== 'string' || task === '')
    fail('no task name: need metadata.source_dataset or a "task" field');
  return {
    task: task as string,
    entry: { question: obj.question as string, answer: obj.answer as string | null, metadata },
    line,
    raw: obj,
  };
}

export interface JsonlOptions {
  /** Keep entries of tasks the registry lacks (rg-check reports them itself); default: refused. */
  allowUnknownTasks?: boolean;
}

/**
 * Parses JSONL text, one reasoning-gym entry per non-blank line (a leading BOM is dropped). Refuses, naming
 * the line: malformed entries, lines over MAX_LINE_BYTES, then tasks not in the registry; an empty file.
 */
export function parseJsonl(text: string, source = '<text>', opts: JsonlOptions = {}): DatasetItem[] {
  const items: DatasetItem[] = [];
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '') items.push(parseLine(lines[i], source, i + 1));
  }
  if (items.length === 0) throw new DatasetParseError(source, 0, 'empty: no JSONL entries');
  // After the structure, so a malformed line is named first.
  for (const it of items)
    if (!opts.allowUnknownTasks && !hasTask(it.task))
      throw new DatasetParseError(
        source,
        it.line,
        `unknown task "${visible(it.task)}" (not in the registry)`,
      );
  return items;
}

/**
 * Parses JSONL bytes: each line's length is checked before anything is decoded, and the bytes must be
 * UTF-8 (a leading BOM is dropped); errors name the line.
 */
export function parseJsonlBytes(
  bytes: Uint8Array,
  source = '<bytes>',
  opts: JsonlOptions = {},
): DatasetItem[] {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (let line = 1; start <= bytes.length; line++) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    if (end - start > MAX_LINE_BYTES)
      throw new DatasetParseError(source, line, `line longer than ${MAX_LINE_BYTES} bytes`);
    try {
      decoder.decode(bytes.subarray(start, end));
    } catch {
      throw new DatasetParseError(source, line, 'not valid UTF-8');
    }
    start = end + 1;
  }
  return parseJsonl(decoder.decode(bytes), source, opts);
}

/** Reads a JSONL file (Node only: node:fs is loaded on demand so browser bundles stay clean). */
export async function loadJsonlFile(path: string, opts: JsonlOptions = {}): Promise<DatasetItem[]> {
  const fsModule = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsModule)) as typeof import('node:fs/promises');
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(path);
  } catch (e) {
    throw new DatasetParseError(path, 0, `cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return parseJsonlBytes(bytes, path, opts);
}

/** Fetches a JSONL file over HTTP(S) (browser or Node 18+). */
export async function loadJsonlUrl(url: string, fetchImpl: typeof fetch = fetch): Promise<DatasetItem[]> {
  const res = await fetchImpl(url);
  if (!res.ok) throw new Error(`fetching ${url}: HTTP ${res.status} ${res.statusText}`);
  return parseJsonlBytes(new Uint8Array(await res.arrayBuffer()), url);
}

/**
 * The config for a task: a level name, or overrides on top of the defaults (undefined → defaults).
 */
export function resolveConfig(task: TaskDefinition, configOrLevel?: TaskConfig | string): TaskConfig {
  if (configOrLevel === undefined) return { ...task.defaults };
  if (typeof configOrLevel === 'string') {
    const level = task.levels.find((l) => l.name === configOrLevel);
    if (!level) throw new UnknownLevelError(task.name, configOrLevel);
    return { ...task.defaults, ...level.config };
  }
  return { ...task.defaults, ...configOrLevel };
}

/** Items 0..n-1 of `task` for `seed` (deterministic), with a level name or config overrides. */
export function generateDataset(
  task: TaskDefinition | string,
  configOrLevel: TaskConfig | string | undefined,
  seed: number,
  n: number,
): DatasetItem[] {
  const def = typeof task === 'string' ? getTask(task) : task;
  const config = resolveConfig(def, configOrLevel);
  return Array.from({ length: n }, (_, index) => ({
    task: def.name,
    entry: def.generate(config, seed, index),
    line: 0,
  }));
}
