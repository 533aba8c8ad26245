// GRPO checkpoints: the trainable parameters (adapter or weights), the optimizer state, and the trainer's
// counters. Every random choice of the trainer is counter-based on (seed, step), so the step count is the
// whole RNG state and a resume is exact. As plain data (crosses comlink) and as one safetensors file:
// tensors `param.<name>` and `opt.<name>.<i>`, everything else JSON in `__metadata__.motg_checkpoint`.

import { parseSafetensors, writeSafetensors } from '../engine/model/safetensors.ts';
import type { OptimizerState } from '../engine/train/optim.ts';
import { TrainingError } from './errors.ts';
import type { PolicyState } from './policy/policy.ts';
import type { GrpoTrainer, TrainerConfig, TrainerSnapshot } from './trainer.ts';

export const CHECKPOINT_VERSION = 1;

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

/** Restores weights, optimizer state and counters; the run's seed and batch settings must match. */
export async function loadCheckpoint(trainer: GrpoTrainer, ck: TrainerCheckpoint): Promise<void> {
  if (ck.version !== CHECKPOINT_VERSION)
    throw new TrainingError(
      'bad-checkpoint',
      `checkpoint version ${ck.version}, expected ${CHECKPOINT_VERSION}`,
    );
  const a = ck.config.grpo;
  const b = trainer.config.grpo;
  for (const k of ['seed', 'num_generations', 'per_device_train_batch_size', 'optim'] as const)
    if (a[k] !== b[k])
      throw new TrainingError('bad-checkpoint', `checkpoint ${k} = ${a[k]}, this run has ${b[k]}`);
  await trainer.host.policy.importState(ck.policy);
  trainer.restore(ck.trainer);
}

/** One safetensors file. */
export function encodeCheckpoint(ck: TrainerCheckpoint): Uint8Array {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [k, v] of Object.entries(ck.policy.params))
    tensors.set(`param.${k}`, { shape: [v.length], data: v });
  let opt: { kind: string; t: number; steps: Record<string, number>; bufs: Record<string, number> } | null =
    null;
  if (ck.policy.optimizer) {
    const o = ck.policy.optimizer;
    opt = { kind: o.kind, t: o.t, steps: {}, bufs: {} };
    for (const [k, s] of Object.entries(o.slots)) {
      opt.steps[k] = s.steps;
      opt.bufs[k] = s.bufs.length;
      for (const [i, b] of s.bufs.entries()) tensors.set(`opt.${k}.${i}`, { shape: [b.length], data: b });
    }
  }
  const meta = { version: ck.version, trainer: ck.trainer, config: ck.config, optimizer: opt };
  return writeSafetensors(tensors, { motg_checkpoint: JSON.stringify(meta) });
}

export function decodeCheckpoint(bytes: Uint8Array): TrainerCheckpoint {
  const u8 = bytes;
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const headerLength = dv.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(u8.subarray(8, 8 + headerLength)));
  const raw = header?.__metadata__?.motg_checkpoint;
  if (typeof raw !== 'string') throw new TrainingError('bad-checkpoint', 'not a MoT-G checkpoint');
  const meta = JSON.parse(raw);
  const t = parseSafetensors(u8, 'checkpoint', { copy: true });
  const params: Record<string, Float32Array> = {};
  for (const [k, v] of t) if (k.startsWith('param.')) params[k.slice(6)] = v.data;
  let optimizer: OptimizerState | null = null;
  if (meta.optimizer) {
    optimizer = { kind: meta.optimizer.kind, t: meta.optimizer.t, slots: {} };
    for (const [k, steps] of Object.entries(meta.optimizer.steps as Record<string, number>)) {
      const n = meta.optimizer.bufs[k] as number;
      const bufs: Float32Array[] = [];
      for (let i = 0; i < n; i++) {
        const b = t.get(`opt.${k}.${i}`);
        if (!b) throw new TrainingError('bad-checkpoint', `missing optimizer buffer ${k}.${i}`);
        bufs.push(b.data);
      }
      optimizer.slots[k] = { steps, bufs };
    }
  }
  return { version: meta.version, trainer: meta.trainer, config: meta.config, policy: { params, optimizer } };
}
