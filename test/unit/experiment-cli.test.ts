// `npm run experiment` as a user runs it, CI-sized: the built-in model, `dirichlet`, G = 4, 20 steps (the
// command's defaults), on the CPU reference. Every metric is in every line of metrics.jsonl, the run's
// files are written, and the same seed gives the same metrics (timings aside).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { STEP_METRIC_FIELDS, type StepMetrics } from '../../src/rl/metrics.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const FIELDS = STEP_METRIC_FIELDS;
const TIMING = new Set(['tokensPerSecond', 'rolloutMs', 'trainMs', 'wallMs', 'elapsedMs']);

async function experiment(seed: number): Promise<{ out: string; stdout: string; metrics: StepMetrics[] }> {
  const out = mkdtempSync(join(tmpdir(), 'motg-exp-'));
  dirs.push(out);
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'scripts/experiment.ts', '--cpu', '--seed', String(seed), '--out', out],
    { cwd: ROOT, maxBuffer: 1 << 24 },
  );
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as StepMetrics);
  return { out, stdout, metrics };
}

const withoutTimings = (m: StepMetrics) =>
  Object.fromEntries(Object.entries(m).filter(([k]) => !TIMING.has(k)));

describe('npm run experiment (defaults: built-in model, dirichlet, G = 4, 20 steps)', () => {
  it('completes, writes every metric and file, and a fixed seed reproduces the metrics', async () => {
    const a = await experiment(5);
    expect(a.stdout).toContain('backend: cpu');
    expect(a.stdout).toContain('motg-builtin');
    expect(a.metrics.map((m) => m.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const m of a.metrics) {
      for (const f of FIELDS) expect(m[f], `${f} at step ${m.step}`).toBeDefined();
      expect(m.hiddenEntropy).toHaveLength(2); // the built-in model's two layers
      expect(m.mixtureRate).toBeGreaterThan(0); // dirichlet mixes while thinking
    }
    expect(a.metrics.some((m) => m.rewardStd > 0)).toBe(true);
    for (const f of [
      'eval.jsonl',
      'summary.json',
      'config.json',
      'checkpoint.safetensors',
      'model.safetensors',
    ])
      expect(existsSync(join(a.out, f)), f).toBe(true);
    const summary = JSON.parse(readFileSync(join(a.out, 'summary.json'), 'utf8'));
    expect(summary.preset).toBe('dirichlet');
    expect(summary.G).toBe(4);
    expect(summary.steps).toBe(20);
    const b = await experiment(5);
    expect(b.metrics.map(withoutTimings)).toEqual(a.metrics.map(withoutTimings));
    expect(readFileSync(join(b.out, 'eval.jsonl'), 'utf8')).toBe(
      readFileSync(join(a.out, 'eval.jsonl'), 'utf8'),
    );
  }, 300_000);
});
