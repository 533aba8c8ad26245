// Strict scoring is all or nothing on every recorded reasoning-gym candidate, never above the faithful
// score except where a task's own strict scorer closes a gap, and the oracle always scores 1.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getTask, oracleAnswer } from '../../src/tasks/registry.ts';
import { strictScore } from '../../src/tasks/strict.ts';
import type { TaskEntry } from '../../src/tasks/types.ts';
import { RG_DIR } from '../helpers/fixtures.ts';

interface Line extends TaskEntry {
  task: string;
  scores: { candidate: string | null; score: number | null; kind: string }[];
}

const files = readdirSync(RG_DIR).filter((f) => f.endsWith('.jsonl'));

describe.each(files)('strict scoring on %s', (file) => {
  const lines = readFileSync(join(RG_DIR, file), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
  it('is 0 or 1, 1 for the oracle, and ≤ the faithful score', () => {
    for (const line of lines) {
      const task = getTask(line.task);
      // The oracle scores 1 wherever it is right (propositional_logic's example answer is not always a
      // valid conclusion in reasoning-gym: index 19 scores 0.05 there, and 0 here).
      if (task.score(oracleAnswer(task, line), line).score === 1) {
        expect(strictScore(task, oracleAnswer(task, line), line).score).toBe(1);
      }
      for (const c of line.scores) {
        const strict = strictScore(task, c.candidate, line).score;
        expect([0, 1]).toContain(strict);
        const faithful = task.score(c.candidate, line).score;
        if (strict === 1) expect(faithful).toBe(1);
      }
    }
  });
  it('gives no credit to an answer merely containing the oracle', () => {
    for (const line of lines) {
      const task = getTask(line.task);
      const inText = line.scores.find((c) => c.kind === 'oracle_in_text');
      if (!inText || inText.candidate === null) continue;
      const faithful = task.score(inText.candidate, line).score;
      // knights_knaves's parser genuinely reads "The answer is …" as the full answer.
      if (faithful < 1) expect(strictScore(task, inText.candidate, line).score).toBe(0);
    }
  });
});
