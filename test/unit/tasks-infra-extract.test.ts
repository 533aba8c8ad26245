// extract_answer against every `extraction` record of the golden fixtures, plus edge cases whose
// expected values were printed by reasoning-gym's own extract_answer (CPython 3.11.7).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonl } from '../../src/tasks/dataset.ts';
import { extractAnswer } from '../../src/tasks/extract.ts';
import { RG_DIR } from '../helpers/fixtures.ts';

type Variant = { name: string; completion: string; strip: boolean; extracted: string | null };
type Extraction = { completion: string; extracted: string | null; variants: Variant[] };

function fixtureExtractions(): { task: string; index: number; ex: Extraction }[] {
  const out: { task: string; index: number; ex: Extraction }[] = [];
  for (const file of readdirSync(RG_DIR).filter((f) => f.endsWith('.jsonl'))) {
    for (const item of parseJsonl(readFileSync(join(RG_DIR, file), 'utf8'), file)) {
      const ex = item.raw?.extraction as Extraction | undefined;
      if (ex) out.push({ task: item.task, index: Number(item.raw?.index), ex });
    }
  }
  return out;
}

describe('extractAnswer on the golden extraction records', () => {
  const records = fixtureExtractions();

  it('has the records of all 29 tasks (5 each in the shared part)', () => {
    expect(new Set(records.map((r) => r.task)).size).toBe(29);
    expect(records.length).toBe(145);
  });

  it('reproduces every main completion and every variant', () => {
    let checked = 0;
    for (const { task, index, ex } of records) {
      expect(extractAnswer(ex.completion), `${task} ${index}`).toBe(ex.extracted);
      expect(ex.variants.map((v) => v.name)).toEqual([
        'padded_newlines',
        'two_answer_blocks_last_wins',
        'no_tags',
        'padded_spaces_strip_false',
      ]);
      for (const v of ex.variants) {
        expect(extractAnswer(v.completion, 'answer', v.strip), `${task} ${index} ${v.name}`).toBe(
          v.extracted,
        );
        checked++;
      }
    }
    expect(checked).toBe(580);
  });
});

describe('extractAnswer edge cases', () => {
  const cases: [string, string | null, string | null][] = [
    // [completion, strip=true, strip=false]
    ['<answer>a</answer><answer>b</answer>', 'b', 'b'],
    ['<answer><answer>x</answer>', '<answer>x', '<answer>x'],
    ['<answer>\n\n x \n\n</answer>', 'x', '\n x \n'],
    ['<answer>\u3000x\u3000</answer>', 'x', 'x'],
    ['<ANSWER>x</ANSWER>', null, null],
    ['<answer>a</answer>junk</answer>', 'a', 'a'],
    ['<answer></answer>', '', ''],
    ['<answer>  </answer>', '', ''],
    ['<answer>a\n<answer>b</answer>', 'a\n<answer>b', 'a\n<answer>b'],
  ];
  it.each(cases)('%j → %j / %j', (completion, stripped, raw) => {
    expect(extractAnswer(completion)).toBe(stripped);
    expect(extractAnswer(completion, 'answer', false)).toBe(raw);
  });

  it('supports another tag name, literally', () => {
    expect(extractAnswer('<think> a </think>', 'think')).toBe('a');
    expect(extractAnswer('<a.b>x</a.b><axb>y</axb>', 'a.b')).toBe('x');
  });
});
