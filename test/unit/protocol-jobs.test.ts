// The built-in protocol's job lists (experiments/builtin-protocol.sh): the device kit's copies are the
// generator's output, and every cell the report compares has the five seeds MOTG.md §5 asks for.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRESET_NAMES } from '../../src/mot/presets.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const jobs = (stage: string, model = 'public/models/motg-builtin', runs = 'runs/builtin-protocol') =>
  execFileSync('bash', ['experiments/builtin-protocol.sh', 'jobs', stage, model, runs], { cwd: ROOT })
    .toString()
    .trim()
    .split('\n');
const flag = (line: string, name: string) => line.match(new RegExp(`--${name} (\\S+)`))?.[1];

describe('builtin protocol jobs', () => {
  it("the device kit's job files are the generator's output", () => {
    for (const stage of ['sweep', 'matrix']) {
      const kit = readFileSync(resolve(ROOT, `bench/device/${stage}-jobs.txt`), 'utf8')
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#'));
      expect(kit).toEqual(jobs(stage, 'models/motg-builtin', 'runs'));
    }
  });

  it('every matrix cell has seeds 0–4, one folder per job, known presets; the sweep brackets 3e-4', () => {
    const matrix = jobs('matrix');
    const cells = new Map<string, string[]>();
    for (const line of matrix) {
      expect(PRESET_NAMES).toContain(flag(line, 'preset'));
      expect(flag(line, 'lr')).toBe('LR');
      const key = ['task', 'preset', 'group', 'likelihood'].map((f) => flag(line, f)).join(' ');
      cells.set(key, [...(cells.get(key) ?? []), flag(line, 'seed') ?? '']);
    }
    for (const seeds of cells.values()) expect(seeds.sort()).toEqual(['0', '1', '2', '3', '4']);
    const outs = matrix.map((l) => flag(l, 'out'));
    expect(new Set(outs).size).toBe(outs.length);
    // The exact likelihood trains only on the CPU reference.
    for (const line of matrix) expect(line.startsWith('cpu ')).toBe(flag(line, 'likelihood') === 'exact');
    // Matched and full-vocabulary baselines beside each mixture preset, and the G curve.
    expect([...cells.keys()]).toEqual(
      expect.arrayContaining([
        'chain_sum:trivial discrete 5 ',
        'chain_sum:trivial discrete-top-k 5 ',
        'chain_sum:trivial dirichlet 5 ',
        'chain_sum:trivial discrete-top-k 2 ',
        'chain_sum:trivial discrete-top-k 10 ',
        'chain_sum:trivial dirichlet 5 exact',
      ]),
    );
    const lrs = new Set(jobs('sweep').map((l) => Number(flag(l, 'lr'))));
    expect(Math.min(...lrs)).toBeLessThan(3e-4);
    expect(Math.max(...lrs)).toBeGreaterThan(3e-4);
  });
});
