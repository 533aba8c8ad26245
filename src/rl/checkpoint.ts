// GRPO checkpoints: the trainable parameters (adapter or weights), the optimizer state, and the trainer's
// counters. Every random choice of the trainer is counter-based on (seed, step), so the step count is the
// whole RNG state and a resume is exact. As plain data (crosses comlink) and as one safetensors file:
// tensors `param.<name>` and `opt.<name>.<i>`, everything else JSON in `__metadata__.motg_checkpoint`, and
// `__metadata__.motg_checkpoint_sha256` over that JSON and every tensor's bytes. A checkpoint is validated
// (version, counters, shapes, finiteness, checksum) before anything of it is used: a bad one is a
// TrainingError('bad-checkpoint') naming the file and the field or tensor.

import { jsonForMessage, nestedDeeperThan } from '../engine/errors.ts';
import { parseSafetensors, readSafetensorsHeader, writeSafetensors } from '../engine/model/safetensors.ts';
import type { OptimizerState } from '../engine/train/optim.ts';
import { TrainingError } from './errors.ts';
import type { PolicyState } from './policy/policy.ts';
import { Sha256 } from './sha256.ts';
import type { GrpoTrainer, TrainerConfig, TrainerSnapshot } from './trainer.ts';

/** 2: the checksum. */
export const CHECKPOINT_VERSION = 2;

export interface TrainerCheckpoint {
  version: number;
  /** Step count, updates, skipped steps, elapsed time: with the seed in `config`, the RNG state. */
  trainer: TrainerSnapshot;
  config: TrainerConfig;
  policy: PolicyState;
}

export async function saveCheckpoint(trainer: GrpoTrainer): Promise<TrainerCheckpoint> {
  return {
    version: CHECKPOINT_VERSION,
    trainer: trainer.snapshot(),
    config: structuredClone(trainer.config),
    policy: await trainer.host.policy.exportState(),
  };
}

const bad = (file: string, why: string): TrainingError =>
  new TrainingError('bad-checkpoint', `${file}: ${why}`);

/** Restores weights, optimizer state and counters; the run's seed and batch settings must match. */
export async function loadCheckpoint(
  trainer: GrpoTrainer,
  ck: TrainerCheckpoint,
  file = 'checkpoint',
): Promise<void> {
  validateCheckpoint(ck, file);
  const a = ck.config.grpo;
  const b = trainer.config.grpo;
  for (const k of ['seed', 'num_generations', 'per_device_train_batch_size', 'optim'] as const)
    if (a[k] !== b[k]) throw bad(file, `${k} = ${a[k]}, this run has ${b[k]}`);
  // The held-out pool decides which items training redraws: another size would change the draws.
  const heldA = ck.config.heldOut?.count ?? 0;
  const heldB = trainer.config.heldOut.count;
  if (heldA !== heldB) throw bad(file, `heldOut.count = ${heldA}, this run has ${heldB}`);
  if (ck.trainer.step > b.max_steps)
    throw bad(file, `step ${ck.trainer.step} is past this run's max_steps ${b.max_steps}`);
  await trainer.host.policy.importState(ck.policy);
  trainer.restore(ck.trainer);
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function firstNonFinite(v: Float32Array): number {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) return i;
  return -1;
}

/**
 * Throws TrainingError('bad-checkpoint') unless the checkpoint is self-consistent: this version, counters
 * that are integers ≥ 0 within what `step` steps can do, an optimizer whose state matches the parameters'
 * shapes, and finite values everywhere.
 */
export function validateCheckpoint(ck: TrainerCheckpoint, file = 'checkpoint'): void {
  if (ck.version !== CHECKPOINT_VERSION)
    throw bad(file, `version ${jsonForMessage(ck.version)}, expected ${CHECKPOINT_VERSION}`);
  const s = ck.trainer as Partial<TrainerSnapshot> | undefined;
  const grpo = ck.config?.grpo;
  if (typeof s !== 'object' || s === null) throw bad(file, 'no trainer counters');
  if (typeof grpo !== 'object' || grpo === null) throw bad(file, 'no config.grpo');
  for (const k of ['step', 'updates', 'skipped'] as const)
    if (!isCount(s[k])) throw bad(file, `trainer.${k} = ${jsonForMessage(s[k])} is not an integer ≥ 0`);
  const step = s.step as number;
  if (!isCount(grpo.max_steps) || !isCount(grpo.num_iterations) || step > grpo.max_steps)
    throw bad(file, `trainer.step ${step} is past config.grpo.max_steps ${jsonForMessage(grpo.max_steps)}`);
  const maxUpdates = step * grpo.num_iterations;
  if ((s.updates as number) > maxUpdates)
    throw bad(file, `trainer.updates ${s.updates} exceeds ${maxUpdates} (step × num_iterations)`);
  if ((s.skipped as number) > step) throw bad(file, `trainer.skipped ${s.skipped} exceeds step ${step}`);
  if (typeof s.elapsedMs !== 'number' || !(s.elapsedMs >= 0) || !Number.isFinite(s.elapsedMs))
    throw bad(file, `trainer.elapsedMs = ${jsonForMessage(s.elapsedMs)} is not a finite number ≥ 0`);
  const params = ck.policy?.params ?? {};
  if (Object.keys(params).length === 0) throw bad(file, 'no parameters');
  for (const [k, v] of Object.entries(params)) {
    const i = firstNonFinite(v);
    if (i >= 0) throw bad(file, `parameter ${k}[${i}] = ${v[i]} is not finite`);
  }
  const o = ck.policy.optimizer;
  if (!o) return;
  if (o.kind !== grpo.optim) throw bad(file, `optimizer.kind ${jsonForMessage(o.kind)} is not ${grpo.optim}`);
  if (!isCount(o.t) || o.t > maxUpdates)
    throw bad(file, `optimizer.t = ${jsonForMessage(o.t)}: not an integer in 0..${maxUpdates} (the updates)`);
  for (const [k, slot] of Object.entries(o.slots)) {
    const p = params[k];
    if (!p) throw bad(file, `optimizer state for ${k}, which is not a parameter`);
    if (!isCount(slot.steps) || slot.steps > o.t)
      throw bad(file, `optimizer ${k}: steps = ${jsonForMessage(slot.steps)} is not an integer in 0..${o.t}`);
    for (const [j, buf] of slot.bufs.entries()) {
      if (buf.length !== p.length)
        throw bad(file, `optimizer ${k}.${j} has ${buf.length} values, the parameter ${p.length}`);
      const i = firstNonFinite(buf);
      if (i >= 0) throw bad(file, `optimizer ${k}.${j}[${i}] = ${buf[i]} is not finite`);
    }
  }
}

interface OptimizerMeta {
  kind: string;
  t: number;
  steps: Record<string, number>;
  bufs: Record<string, number>;
}

/** SHA-256 over the metadata JSON and every tensor (name, then its little-endian f32 bytes), by name. */
function checksum(meta: string, tensors: Map<string, { data: Float32Array }>): string {
  const enc = new TextEncoder();
  const h = new Sha256().update(enc.encode(meta));
  for (const name of [...tensors.keys()].sort()) {
    const d = (tensors.get(name) as { data: Float32Array }).data;
    h.update(enc.encode(`\0${name}\0`));
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.hex();
}

/** One safetensors file. */
export function encodeCheckpoint(ck: TrainerCheckpoint): Uint8Array {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [k, v] of Object.entries(ck.policy.params))
    tensors.set(`param.${k}`, { shape: [v.length], data: v });
  let opt: OptimizerMeta | null = null;
  if (ck.policy.optimizer) {
    const o = ck.policy.optimizer;
    opt = { kind: o.kind, t: o.t, steps: {}, bufs: {} };
    for (const [k, s] of Object.entries(o.slots)) {
      opt.steps[k] = s.steps;
      opt.bufs[k] = s.bufs.length;
      for (const [i, b] of s.bufs.entries()) tensors.set(`opt.${k}.${i}`, { shape: [b.length], data: b });
    }
  }
  const meta = JSON.stringify({
    version: ck.version,
    trainer: ck.trainer,
    config: ck.config,
    optimizer: opt,
  });
  return writeSafetensors(tensors, {
    motg_checkpoint: meta,
    motg_checkpoint_sha256: checksum(meta, tensors),
  });
}

function parseMeta(raw: string, file: string): Record<string, unknown> {
  let meta: unknown;
  try {
    meta = JSON.parse(raw);
  } catch (e) {
    throw bad(file, `metadata is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    throw bad(file, 'metadata is not an object');
  // Messages format counters with `${x}`, which recurses into a list: no deeply nested values.
  if (nestedDeeperThan(meta, 32)) throw bad(file, 'metadata nested more than 32 levels deep');
  return meta as Record<string, unknown>;
}

/** The optimizer state from its metadata and the `opt.*` tensors. */
function readOptimizer(
  m: OptimizerMeta,
  t: Map<string, { data: Float32Array }>,
  file: string,
): OptimizerState {
  if (
    typeof m !== 'object' ||
    typeof m.steps !== 'object' ||
    typeof m.bufs !== 'object' ||
    !m.steps ||
    !m.bufs
  )
    throw bad(file, 'optimizer metadata is malformed');
  const optimizer: OptimizerState = { kind: m.kind as OptimizerState['kind'], t: m.t, slots: {} };
  for (const [k, steps] of Object.entries(m.steps)) {
    const n = m.bufs[k];
    if (!isCount(n) || n > 2) throw bad(file, `optimizer.bufs.${k} = ${jsonForMessage(n)} is not 0, 1 or 2`);
    const bufs: Float32Array[] = [];
    for (let i = 0; i < n; i++) {
      const b = t.get(`opt.${k}.${i}`);
      if (!b) throw bad(file, `missing optimizer buffer ${k}.${i}`);
      bufs.push(b.data);
    }
    optimizer.slots[k] = { steps, bufs };
  }
  return optimizer;
}

/** Parses and validates a checkpoint file (see validateCheckpoint); `file` names it in errors. */
export function decodeCheckpoint(fileBytes: Uint8Array, file = 'checkpoint'): TrainerCheckpoint {
  // A plain view: a Node Buffer's slice() is a view too, which parseSafetensors' copy would not copy.
  const bytes = new Uint8Array(fileBytes.buffer, fileBytes.byteOffset, fileBytes.byteLength);
  let metadata: Record<string, string> | undefined;
  let t: Map<string, { dtype: string; shape: number[]; data: Float32Array }>;
  try {
    metadata = readSafetensorsHeader(bytes, file).metadata;
    t = parseSafetensors(bytes, file, { copy: true });
  } catch (e) {
    throw bad(file, e instanceof Error ? e.message : String(e));
  }
  const raw = metadata?.motg_checkpoint;
  if (typeof raw !== 'string') throw bad(file, 'not a MoT-G checkpoint (no motg_checkpoint metadata)');
  const meta = parseMeta(raw, file);
  if (meta.version !== CHECKPOINT_VERSION)
    throw bad(file, `version ${jsonForMessage(meta.version)}, expected ${CHECKPOINT_VERSION}`);
  for (const [name, x] of t) {
    if (!name.startsWith('param.') && !name.startsWith('opt.')) throw bad(file, `unexpected tensor ${name}`);
    if (x.dtype !== 'F32' || x.shape.length !== 1) throw bad(file, `tensor ${name} is not a 1-D F32 tensor`);
  }
  if (metadata?.motg_checkpoint_sha256 !== checksum(raw, t))
    throw bad(file, 'checksum mismatch: the file was changed or damaged after it was written');
  const params: Record<string, Float32Array> = {};
  for (const [k, v] of t) if (k.startsWith('param.')) params[k.slice(6)] = v.data;
  const optimizer = meta.optimizer ? readOptimizer(meta.optimizer as OptimizerMeta, t, file) : null;
  const ck = {
    version: meta.version,
    trainer: meta.trainer,
    config: meta.config,
    policy: { params, optimizer },
  } as TrainerCheckpoint;
  validateCheckpoint(ck, file);
  return ck;
}
