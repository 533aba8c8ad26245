// Datasets: import reasoning-gym JSONL (text, a Node file, a URL) and generate our own.

import { getTask } from './registry.ts';
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

/** Parses JSONL text, one reasoning-gym entry per non-blank line. */
export function parseJsonl(text: string, source = '<text>'): DatasetItem[] {
  const items: DatasetItem[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineText = lines[i];
    if (lineText.trim() === '') continue;
    const line = i + 1;
    const fail = (reason: string): never => {
      throw new DatasetParseError(source, line, reason);
    };
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
    if (typeof task !== 'string' || task === '') {
      fail('no task name: need metadata.source_dataset or a "task" field');
    }
    items.push({
      task: task as string,
      entry: { question: obj.question as string, answer: obj.answer as string | null, metadata },
      line,
      raw: obj,
    });
  }
  return items;
}

/** Reads a JSONL file (Node only: node:fs is loaded on demand so browser bundles stay clean). */
export async function loadJsonlFile(path: string): Promise<DatasetItem[]> {
  const fsModule = 'node:fs/promises';
  const fs = (await import(/* @vite-ignore */ fsModule)) as typeof import('node:fs/promises');
  return parseJsonl(await fs.readFile(path, 'utf8'), path);
}

/** Fetches a JSONL file over HTTP(S) (browser or Node 18+). */
export async function loadJsonlUrl(url: string, fetchImpl: typeof fetch = fetch): Promise<DatasetItem[]> {
  const res = await fetchImpl(url);
  if (!res.ok) throw new Error(`fetching ${url}: HTTP ${res.status} ${res.statusText}`);
  return parseJsonl(await res.text(), url);
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
