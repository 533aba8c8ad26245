// Resuming a headless run (issue 15): a run stopped after step 3 and continued with --resume ends with the
// metrics of an uninterrupted run (timings aside); without --resume a non-empty --out is refused and left
// as it was; a tampered checkpoint is refused with a typed error naming the field.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  type TrainerCheckpoint,
  validateCheckpoint,
} from '../../src/rl/checkpoint.ts';
import { TrainingError } from '../../src/rl/errors.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TIMING = new Set(['tokensPerSecond', 'rolloutMs', 'trainMs', 'wallMs', 'elapsedMs']);
const ARGS = ['--cpu', '--task', 'chain_sum', '--preset', 'dirichlet', '--group', '2', '--steps', '6'];
ARGS.push('--seed', '5', '--checkpoint-every', '2');

const root = mkdtempSync(join(tmpdir(), 'motg-resume-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

function experiment(args: string[], env: Record<string, string> = {}): Promise<Exit> {
  return new Promise((ok) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/experiment.ts', ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 1 << 24 },
      (err, stdout, stderr) =>
        ok({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const metricsOf = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => !TIMING.has(k))));

/** Every file of a folder: name → bytes and modification time. */
const snapshot = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir).map((f) => [
      f,
      [readFileSync(join(dir, f)).toString('base64'), statSync(join(dir, f)).mtimeMs],
    ]),
  );

describe('npm run experiment --resume', () => {
  const whole = join(root, 'whole');
  const cut = join(root, 'cut');
  let first: [Exit, Exit];

  beforeAll(async () => {
    first = await Promise.all([
      experiment([...ARGS, '--out', whole]),
      experiment([...ARGS, '--out', cut], { MOTG_TEST_EXIT_AFTER_STEP: '3' }),
    ]);
  }, 120_000);

  it('refuses a non-empty --out without --resume and touches nothing', async () => {
    expect(first[0].code, first[0].stderr).toBe(0);
    expect(first[1].code).toBe(75); // the hook's exit right after step 3
    expect(metricsOf(cut).map((m) => m.step)).toEqual([1, 2, 3]);
    const before = snapshot(cut);
    const again = await experiment([...ARGS, '--out', cut]);
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim()).toMatch(/^TrainingError: --out .* is not empty: pass --resume/);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(snapshot(cut)).toEqual(before);
  }, 60_000);

  it('continues from the step-2 checkpoint and ends with the uninterrupted metrics', async () => {
    const r = await experiment([...ARGS, '--out', cut, '--resume']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('resumed from checkpoint.safetensors at step 2');
    expect(metricsOf(cut).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(metricsOf(cut)).toEqual(metricsOf(whole));
    expect(readFileSync(join(cut, 'eval.jsonl'), 'utf8')).toBe(
      readFileSync(join(whole, 'eval.jsonl'), 'utf8'),
    );
    expect(readFileSync(join(cut, 'model.safetensors'))).toEqual(
      readFileSync(join(whole, 'model.safetensors')),
    );
    expect(readdirSync(cut).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 60_000);

  describe('a tampered checkpoint is refused', () => {
    const load = () => decodeCheckpoint(readFileSync(join(whole, 'checkpoint.safetensors')), 'ck');
    const refused = (ck: TrainerCheckpoint, message: RegExp) => {
      const bytes = encodeCheckpoint(ck); // re-encoded: a valid checksum, so the fields are what is checked
      expect(() => decodeCheckpoint(bytes, 'ck')).toThrow(TrainingError);
      expect(() => decodeCheckpoint(bytes, 'ck')).toThrow(message);
    };

    it('accepts the untouched file', () => {
      const ck = load();
      expect(ck.trainer.step).toBe(6);
      expect(() => validateCheckpoint(ck)).not.toThrow();
    });

    it.each([
      [25, /ck: trainer.step 25 is past config.grpo.max_steps 6/],
      [-3, /ck: trainer.step = -3 is not an integer ≥ 0/],
      ['x', /ck: trainer.step = "x" is not an integer ≥ 0/],
    ])('step %s', (step, message) => {
      const ck = load();
      refused({ ...ck, trainer: { ...ck.trainer, step: step as number } }, message);
    });

    it('optimizer t = 1e9, NaN parameters, a wrong version', () => {
      const ck = load();
      const o = ck.policy.optimizer;
      if (!o) throw new Error('the run uses AdamW: its checkpoint has an optimizer state');
      refused(
        { ...ck, policy: { ...ck.policy, optimizer: { ...o, t: 1e9 } } },
        /ck: optimizer.t = 1000000000/,
      );
      const [name, p] = Object.entries(ck.policy.params)[0];
      const nan = Float32Array.from(p);
      nan[3] = Number.NaN;
      refused(
        { ...ck, policy: { ...ck.policy, params: { ...ck.policy.params, [name]: nan } } },
        /\[3\] = NaN is not finite/,
      );
      refused({ ...ck, version: 1 }, /ck: version 1, expected 2/);
    });

    it('flipped bits in a tensor or in the metadata, and a truncated file', () => {
      const bytes = new Uint8Array(readFileSync(join(whole, 'checkpoint.safetensors')));
      const data = bytes.slice();
      data[data.length - 5] ^= 0x10;
      expect(() => decodeCheckpoint(data, 'ck')).toThrow(/ck: checksum mismatch/);
      const meta = bytes.slice();
      const at = Buffer.from(meta).indexOf('"updates":');
      meta[at + 10] ^= 0x01; // a digit of the updates count becomes another digit
      expect(() => decodeCheckpoint(meta, 'ck')).toThrow(TrainingError);
      expect(() => decodeCheckpoint(bytes.subarray(0, 100), 'ck')).toThrow(TrainingError);
    });
  });
});
