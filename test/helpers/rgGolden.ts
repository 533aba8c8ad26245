// Reading the reasoning-gym golden JSONL files (one entry per line with its recorded candidate scores).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TaskEntry } from '../../src/tasks/types.ts';
import { RG_DIR } from './fixtures.ts';

export interface GoldenScore {
  candidate: string | null;
  score: number | null;
  kind: string;
  error?: string;
}

export interface GoldenLine {
  index: number;
  question: string;
  answer: string | null;
  metadata: Record<string, unknown>;
  scores: GoldenScore[];
}

export function loadGolden(name: string): GoldenLine[] {
  return readFileSync(resolve(RG_DIR, `${name}.jsonl`), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as GoldenLine);
}

export const toEntry = (g: GoldenLine): TaskEntry => ({
  question: g.question,
  answer: g.answer,
  metadata: g.metadata,
});
