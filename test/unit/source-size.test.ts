// Files a newcomer can read (issue 11): no source file over 700 lines. Generated data and task generators
// ported from reasoning-gym may be longer; none is today, so the exception list is empty. (Functions over
// 120 lines are refused by biome's complexity/noExcessiveLinesPerFunction in `npm run lint`.)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const MAX_LINES = 700;
/** Path → why it may be longer. */
const EXCEPTIONS: Record<string, string> = {};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|tsx)$/.test(name) ? [path] : [];
  });
}

describe('source sizes', () => {
  it(`no file in src/, workers/, scripts/, bench/ over ${MAX_LINES} lines`, () => {
    const files = ['src', 'workers', 'scripts', 'bench'].flatMap((d) => sources(join(ROOT, d)));
    expect(files.length).toBeGreaterThan(100);
    const long = files
      .map((f) => ({ file: relative(ROOT, f), lines: readFileSync(f, 'utf8').split('\n').length }))
      .filter((x) => x.lines > MAX_LINES && !(x.file in EXCEPTIONS))
      .map((x) => `${x.file}: ${x.lines} lines`);
    expect(long).toEqual([]);
  });
});
