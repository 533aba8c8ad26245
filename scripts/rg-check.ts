// Checks our scorers against reasoning-gym's recorded scores: `npm run rg-check -- <folder>`.
// For every *.jsonl, every entry, every candidate in `scores`: our score must equal the recorded float
// exactly (a recorded error / null score means we must report a scoring error). Also checks the
// `extraction` records (extract_answer output, its variants, and the score of the extracted text).
// Prints `MISMATCH <task> <index> <kind> want=<x> got=<y>` per failure, then `<N> passed, <M> failed`.

import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pyFloatRepr } from '../src/tasks/common.ts';
import { loadJsonlFile } from '../src/tasks/dataset.ts';
import { extractAnswer } from '../src/tasks/extract.ts';
import { getTask, hasTask } from '../src/tasks/registry.ts';
import type { TaskEntry } from '../src/tasks/types.ts';

/** A score, or a label: `error` (a scoring error), `task-not-registered`, `threw:<Name>` (a crash). */
type Outcome = number | string;

let passed = 0;
let failed = 0;

const text = (o: Outcome): string => (typeof o === 'number' ? pyFloatRepr(o) : o);

function check(task: string, index: unknown, kind: string, want: Outcome, got: Outcome): void {
  // Scores compare as floats (exact ===), labels and extracted strings as text.
  if (want === got) {
    passed++;
  } else {
    failed++;
    console.log(`MISMATCH ${task} ${index} ${kind} want=${text(want)} got=${text(got)}`);
  }
}

function ourScore(task: string, answer: string | null, entry: TaskEntry): Outcome {
  if (!hasTask(task)) return 'task-not-registered';
  try {
    const r = getTask(task).score(answer, entry);
    return r.error !== undefined ? 'error' : r.score;
  } catch (e) {
    return `threw:${e instanceof Error ? e.name : 'unknown'}`;
  }
}

/** The recorded score, or `error` when reasoning-gym raised. */
function recordedScore(rec: Record<string, unknown>): Outcome {
  if (rec.error !== undefined || typeof rec.score !== 'number') return 'error';
  return rec.score;
}

const show = (s: unknown): string => JSON.stringify(s ?? null);

async function main(): Promise<number> {
  const folder = process.argv[2];
  if (!folder) {
    console.error('usage: npm run rg-check -- <folder with reasoning-gym *.jsonl>');
    return 2;
  }
  const dir = resolve(folder);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    console.error(`cannot read folder ${dir} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    return 2;
  }
  const files = names.filter((f) => f.endsWith('.jsonl')).sort();
  if (files.length === 0) {
    console.error(`no *.jsonl files in ${dir}`);
    return 2;
  }

  const missing = new Set<string>();
  for (const file of files) {
    // Tasks the registry lacks are kept: each of their candidates is reported as a mismatch below.
    for (const item of await loadJsonlFile(join(dir, file), { allowUnknownTasks: true })) {
      const raw = item.raw ?? {};
      const task = item.task;
      const index = raw.index ?? item.entry.metadata.source_index;
      if (!hasTask(task)) missing.add(task);

      const scores = Array.isArray(raw.scores) ? (raw.scores as Record<string, unknown>[]) : [];
      for (const rec of scores) {
        const candidate = typeof rec.candidate === 'string' ? rec.candidate : null;
        check(task, index, String(rec.kind), recordedScore(rec), ourScore(task, candidate, item.entry));
      }

      const ex = raw.extraction as Record<string, unknown> | undefined;
      if (ex) {
        const extracted = extractAnswer(String(ex.completion));
        check(task, index, 'extraction', show(ex.extracted), show(extracted));
        check(
          task,
          index,
          'extraction_score',
          recordedScore({ score: ex.score_of_extracted }),
          ourScore(task, extracted, item.entry),
        );
        for (const v of (ex.variants as Record<string, unknown>[] | undefined) ?? []) {
          const got = extractAnswer(String(v.completion), 'answer', v.strip !== false);
          check(task, index, `extraction:${v.name}`, show(v.extracted), show(got));
        }
      }
    }
  }

  for (const task of [...missing].sort()) {
    console.log(`NOTE task ${task} is not in the registry: each of its candidates counts as failed`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    // One line, no stack trace: a bad file is a DatasetParseError naming the file and the line.
    console.error((e instanceof Error ? `${e.name}: ${e.message}` : String(e)).replace(/\s*\n\s*/g, ' '));
    process.exit(2);
  },
);
