// `npm run experiment -- --browser`: the headless-Chromium path of the experiment CLI (the fallback where
// Node's WebGPU has no adapter), forced here where lavapipe makes Node's WebGPU available. A tiny GRPO run
// (built-in model, dirichlet, G = 4, 3 steps) in Debian's Chromium on SwiftShader: the output names headless
// Chromium, and the run folder holds the same files as the Node path, every metric in every step's line.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from '@playwright/test';
import { STEP_METRIC_FIELDS, type StepMetrics } from '../../src/rl/metrics.ts';

const ROOT = resolve(import.meta.dirname, '../..');

const FIELDS = STEP_METRIC_FIELDS;

test('experiment --browser: a 3-step GRPO run in headless Chromium writes the Node path’s files', async () => {
  test.setTimeout(240_000);
  const out = mkdtempSync(join(tmpdir(), 'motg-exp-browser-'));
  try {
    const args = ['tsx', 'scripts/experiment.ts', '--browser', '--preset', 'dirichlet', '--group', '4'];
    args.push('--steps', '3', '--eval-every', '0', '--out', out);
    const { stdout } = await promisify(execFile)('npx', args, { cwd: ROOT, maxBuffer: 1 << 24 });
    // execFile rejects on a non-zero exit code, so reaching here means exit code 0.
    expect(stdout).toMatch(/backend: webgpu in headless Chromium [\d.]+ \(/);
    expect(stdout).toContain('motg-builtin');

    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as StepMetrics);
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    for (const m of metrics) for (const f of FIELDS) expect(m[f], `${f} at step ${m.step}`).toBeDefined();

    const evals = readFileSync(join(out, 'eval.jsonl'), 'utf8').trim().split('\n');
    expect(evals.length).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(evals.at(-1) as string).step).toBe(3);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.backend).toContain('in headless Chromium');
    expect(summary.steps).toBe(3);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.browser).toBe(true);
    expect(config.resolved.grpo.num_generations).toBe(4);
    for (const f of ['checkpoint.safetensors', 'model.safetensors'])
      expect(existsSync(join(out, f)), f).toBe(true);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
