// The layer rules of .dependency-cruiser.cjs (run by `npm run lint`) catch what they are for: a probe tree
// with an upward import or a cycle fails them, the same tree without them passes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const BIN = join(ROOT, 'node_modules/.bin/depcruise');
let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Writes the files (path → imported paths) under a fresh src/ and runs the rules on it. */
function cruise(files: Record<string, string[]>): { ok: boolean; out: string } {
  dir = mkdtempSync(join(tmpdir(), 'layers-'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    '{"compilerOptions":{"allowImportingTsExtensions":true,"noEmit":true}}',
  );
  for (const [path, imports] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    const lines = imports.map((to, i) => `import { x as x${i} } from '${to}';\nconsole.log(x${i});`);
    writeFileSync(file, `${lines.join('\n')}\nexport const x = 1;\n`);
  }
  try {
    const out = execFileSync(BIN, ['--config', CONFIG, 'src'], { cwd: dir, encoding: 'utf8' });
    return { ok: true, out };
  } catch (e) {
    return { ok: false, out: String((e as { stdout?: string }).stdout) };
  }
}

describe('layer rules (dependency-cruiser)', () => {
  it('pass imports that point down', () => {
    const r = cruise({
      'src/mot/a.ts': [],
      'src/engine/gpu/m.ts': ['../../mot/a.ts'],
      'src/rl/t.ts': ['../engine/gpu/m.ts', '../tasks/c.ts'],
      'src/tasks/c.ts': [],
      'src/worker/e.ts': ['../rl/t.ts'],
    });
    expect(r.out).toContain('no dependency violations');
    expect(r.ok).toBe(true);
  });

  it('fail an upward import: engine → rl', () => {
    const r = cruise({ 'src/engine/a.ts': ['../rl/b.ts'], 'src/rl/b.ts': [] });
    expect(r.ok).toBe(false);
    expect(r.out).toContain('layers-engine');
  });

  it('fail mot importing the engine, and the store importing the UI', () => {
    const r = cruise({
      'src/mot/a.ts': ['../engine/gpu/b.ts'],
      'src/engine/gpu/b.ts': [],
      'src/store/s.ts': ['../ui/c.ts'],
      'src/ui/c.ts': [],
    });
    expect(r.ok).toBe(false);
    expect(r.out).toContain('layers-mot');
    expect(r.out).toContain('layers-store');
  });

  it('fail a cycle inside one room', () => {
    const r = cruise({ 'src/rl/a.ts': ['./b.ts'], 'src/rl/b.ts': ['./a.ts'] });
    expect(r.ok).toBe(false);
    expect(r.out).toContain('no-circular');
  });
});
