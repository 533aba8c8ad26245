// Issue 15 fuzz suite, run inputs: a GRPO checkpoint, a dataset JSONL file, an experiment config and a
// shared link's URL hash. Each format: ≥ 1,000 seeded mutations of a tiny valid original; every case must
// end in the module's typed error or in a result that passes the original's checks, within 5 s.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../scripts/experiment.ts';
import { EngineError } from '../../src/engine/errors.ts';
import {
  parseSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
} from '../../src/engine/model/safetensors.ts';
import { checkExperimentConfig, checkRunnable } from '../../src/experiment/schema.ts';
import { SettingsError } from '../../src/mot/settings.ts';
import {
  CHECKPOINT_VERSION,
  decodeCheckpoint,
  encodeCheckpoint,
  type TrainerCheckpoint,
  validateCheckpoint,
} from '../../src/rl/checkpoint.ts';
import { TrainingError } from '../../src/rl/errors.ts';
import { Sha256 } from '../../src/rl/sha256.ts';
import { makeTrainerConfig } from '../../src/rl/trainer.ts';
import {
  DEFAULT_SETTINGS,
  sanitizeSettings,
  settingsFromHash,
  settingsToHash,
} from '../../src/store/settings.ts';
import { DEFAULT_TRAIN_FORM } from '../../src/store/trainForm.ts';
import type { ExperimentSettings } from '../../src/store/types.ts';
import { DatasetParseError, parseJsonlBytes, UnknownLevelError } from '../../src/tasks/dataset.ts';
import { hasTask, scoreEntry, UnknownTaskError } from '../../src/tasks/registry.ts';
import {
  excerpt,
  type FuzzReport,
  type FuzzRng,
  mutateBytes,
  mutateJson,
  mutateJsonText,
  mutateText,
  printReports,
  runFuzz,
} from '../helpers/fuzz.ts';

/** Per format; the issue asks for at least 1,000. */
const CASES = 2000;
const reports: FuzzReport[] = [];
const dir = mkdtempSync(join(tmpdir(), 'motg-fuzz-'));
afterAll(() => {
  printReports(reports);
  rmSync(dir, { recursive: true, force: true });
});

function expectClean(r: FuzzReport): void {
  reports.push(r);
  expect(r.cases).toBeGreaterThanOrEqual(1000);
  expect(r.failures, `${r.format}: untyped exceptions or slow cases`).toEqual([]);
  expect(r.untyped).toBe(0);
  expect(r.timeouts).toBe(0);
}

const withCode = (e: { name: string; code?: string }) => (e.code ? `${e.name}:${e.code}` : e.name);

// ---- checkpoint ----------------------------------------------------------------------------------

function tinyCheckpoint(): TrainerCheckpoint {
  const w = Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]);
  const b = Float32Array.from([0.01, 0.02]);
  return {
    version: CHECKPOINT_VERSION,
    trainer: { step: 3, updates: 3, skipped: 1, elapsedMs: 12.5 },
    config: makeTrainerConfig({ grpo: { max_steps: 10, optim: 'adamw', num_generations: 2 } }),
    policy: {
      params: { 'layer.w': w, 'layer.b': b },
      optimizer: {
        kind: 'adamw',
        t: 2,
        slots: {
          'layer.w': { steps: 2, bufs: [w.map((x) => x / 10), w.map((x) => x * x)] },
          'layer.b': { steps: 1, bufs: [b.map((x) => x / 10), b.map((x) => x * x)] },
        },
      },
    },
  };
}

/** The checkpoint's checksum as checkpoint.ts computes it, so a metadata mutation reaches the checks. */
function resign(meta: string, tensors: Map<string, { shape: number[]; data: Float32Array }>): Uint8Array {
  const enc = new TextEncoder();
  const h = new Sha256().update(enc.encode(meta));
  for (const name of [...tensors.keys()].sort()) {
    const d = (tensors.get(name) as { data: Float32Array }).data;
    h.update(enc.encode(`\0${name}\0`));
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return writeSafetensors(tensors, { motg_checkpoint: meta, motg_checkpoint_sha256: h.hex() });
}

function mutateCheckpoint(rng: FuzzRng, bytes: Uint8Array): Uint8Array {
  if (rng.chance(0.3)) return mutateBytes(rng, bytes);
  const meta = readSafetensorsHeader(bytes, 'ck').metadata?.motg_checkpoint as string;
  const tensors = parseSafetensors(bytes, 'ck', { copy: true });
  if (rng.chance(0.2)) {
    // A tensor's values changed (NaN, huge) or one dropped, then re-signed: only the checks stand.
    const names = [...tensors.keys()];
    const name = rng.pick(names);
    if (rng.chance(0.3)) tensors.delete(name);
    else tensors.get(name)!.data[0] = rng.pick([Number.NaN, Number.POSITIVE_INFINITY, 3e38, -0]);
    return resign(meta, tensors);
  }
  return resign(mutateJsonText(rng, JSON.parse(meta)), tensors);
}

// ---- dataset -------------------------------------------------------------------------------------

const DATASET_LINES = [
  { question: 'What is 2 + 3?', answer: '5', metadata: { source_dataset: 'chain_sum', source_index: 0 } },
  { question: 'Count the 1 bits of 5.', answer: '2', metadata: { source_dataset: 'count_bits', n: 5 } },
  { question: 'Q', answer: null, task: 'chain_sum', metadata: {} },
];
const DATASET_TEXT = `${DATASET_LINES.map((l) => JSON.stringify(l)).join('\n')}\n`;

function mutateDataset(rng: FuzzRng): Uint8Array {
  const enc = new TextEncoder();
  if (rng.chance(0.4)) return mutateBytes(rng, enc.encode(DATASET_TEXT));
  const lines = DATASET_LINES.map((l) => JSON.stringify(l));
  const i = rng.int(lines.length);
  lines[i] = mutateJsonText(rng, DATASET_LINES[i] as never);
  if (rng.chance(0.1)) return enc.encode(`\ufeff${lines.join('\r\n')}`);
  return enc.encode(lines.join('\n'));
}

// ---- URL hash ------------------------------------------------------------------------------------

const LINK_SETTINGS: ExperimentSettings = {
  model: { kind: 'hub', id: 'org/model', revision: 'v2' },
  memory: { ...DEFAULT_SETTINGS.memory, group: 2, recompute: true },
  decode: { ...DEFAULT_SETTINGS.decode, temperature: 0.5, preset: 'soft-tokens', text: 'a & b=c' },
  eval: { ...DEFAULT_SETTINGS.eval, tasks: ['chain_sum'], n: 3 },
  train: {
    ...DEFAULT_TRAIN_FORM,
    tasks: [
      { task: 'chain_sum', level: 'trivial', weight: 1 },
      { task: 'leg_counting', level: 'trivial', weight: 2.5 },
    ],
    G: 2,
    learningRate: 3e-6,
    mode: 'lora',
  },
};
const HASH_TOKENS = [
  '&',
  '=',
  '#',
  '%',
  '%ZZ',
  '%E0%A4%A',
  '+',
  ',',
  ':',
  '@',
  'm=hf:',
  'm=folder:',
  'm=hf:../../x',
  '__proto__=1',
  'constructor=x',
  'g.tasks=chain_sum:trivial:1e999',
  'g.tasks=__proto__:trivial:1',
  'e.tasks=__proto__,toString',
  'task=__proto__',
  't=NaN',
  'k=1e308',
  'g.lr=-0',
  'seed=2147483649',
  'new=0x10',
  'e.n= 5',
  'lvl=hasOwnProperty',
  'x'.repeat(5000),
];

describe('fuzz: run inputs (seeded, ≥ 1,000 mutations each)', () => {
  it('a checkpoint through decodeCheckpoint', async () => {
    const original = tinyCheckpoint();
    const bytes = encodeCheckpoint(original);
    validateCheckpoint(decodeCheckpoint(bytes), 'original');
    const r = await runFuzz({
      format: 'checkpoint',
      seed: 1506,
      cases: CASES,
      make: (rng) => mutateCheckpoint(rng, bytes),
      check: (b) => {
        const ck = decodeCheckpoint(b, 'fuzz.safetensors');
        validateCheckpoint(ck, 'accepted');
        // What was accepted must write and read back unchanged.
        const again = decodeCheckpoint(encodeCheckpoint(ck), 'again');
        if (JSON.stringify(again.trainer) !== JSON.stringify(ck.trainer))
          throw new Error('round trip changed');
      },
      classify: (e) => (e instanceof TrainingError ? withCode(e) : null),
      show: (b) => excerpt(b, 300),
    });
    expectClean(r);
  });

  it('a dataset JSONL file through parseJsonlBytes', async () => {
    const r = await runFuzz({
      format: 'dataset jsonl',
      seed: 1507,
      cases: CASES,
      make: mutateDataset,
      check: (b) => {
        const items = parseJsonlBytes(b, 'fuzz.jsonl');
        if (items.length === 0) throw new Error('accepted an empty dataset');
        for (const it of items) {
          if (!hasTask(it.task)) throw new Error(`accepted unknown task ${it.task}`);
          if (typeof it.entry.question !== 'string') throw new Error('accepted a non-string question');
          if (it.entry.answer !== null && typeof it.entry.answer !== 'string')
            throw new Error('accepted a non-string answer');
          if (typeof it.entry.metadata !== 'object' || it.entry.metadata === null)
            throw new Error('accepted non-object metadata');
          if (!(Number.isInteger(it.line) && it.line >= 1)) throw new Error(`line ${it.line}`);
          // An imported item is scored during training: its metadata must not break the task's scorer.
          const { score } = scoreEntry(it.task, it.entry.answer ?? '', it.entry);
          if (!Number.isFinite(score)) throw new Error(`scored ${score}`);
        }
      },
      classify: (e) => (e instanceof DatasetParseError ? e.name : null),
      show: (b) => excerpt(b, 300),
    });
    expectClean(r);
  });

  it('an experiment config through checkExperimentConfig + checkRunnable, and as a file through the CLI', async () => {
    const text = readFileSync('experiments/tiny-protocol.json', 'utf8');
    const original = JSON.parse(text);
    checkRunnable(checkExperimentConfig(original, 'tiny-protocol.json'));
    const path = join(dir, 'fuzz.json');
    const r = await runFuzz({
      format: 'experiment config',
      seed: 1508,
      cases: CASES,
      make: (rng): { json?: unknown; text?: string } => {
        if (rng.chance(0.6)) return { json: mutateJson(rng, original) };
        if (rng.chance(0.5)) return { text: mutateJsonText(rng, original) };
        return { text: new TextDecoder().decode(mutateBytes(rng, new TextEncoder().encode(text))) };
      },
      check: (c) => {
        if (c.text !== undefined) {
          // The CLI's path: the file read, parsed, merged over the flags' defaults and checked.
          writeFileSync(path, c.text);
          const cfg = parseArgs([path]);
          checkRunnable(cfg);
          return;
        }
        const cfg = checkExperimentConfig(c.json, 'fuzz.json');
        checkRunnable(cfg);
        // The accepted config, written out and read back, passes again.
        checkRunnable(checkExperimentConfig(JSON.parse(JSON.stringify(cfg)), 'again.json'));
      },
      classify: (e) =>
        e instanceof SettingsError || e instanceof TrainingError || e instanceof EngineError
          ? withCode(e)
          : e instanceof UnknownLevelError || e instanceof UnknownTaskError
            ? e.name
            : null,
      show: (c) => excerpt(c.text ?? JSON.stringify(c.json), 400),
    });
    expectClean(r);
  });

  it('a shared link through settingsFromHash', async () => {
    const original = settingsToHash(LINK_SETTINGS);
    expect(settingsFromHash(original)).toEqual(LINK_SETTINGS);
    const r = await runFuzz({
      format: 'url hash',
      seed: 1509,
      cases: CASES,
      make: (rng) => {
        let h = original;
        for (let k = 1 + rng.int(3); k > 0; k--) h = mutateText(rng, h, HASH_TOKENS);
        return h;
      },
      check: (hash) => {
        const s = settingsFromHash(hash);
        // Every accepted value passes the link's own checks: re-checked as an untrusted object and as a
        // link written back, the settings come out the same.
        expect(sanitizeSettings(s)).toEqual(s);
        expect(settingsFromHash(settingsToHash(s))).toEqual(s);
      },
      // settingsFromHash refuses nothing: an invalid field keeps its default, so any exception is a bug.
      classify: () => null,
      show: (h) => excerpt(h, 400),
    });
    expectClean(r);
  });
});
