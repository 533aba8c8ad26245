// The training head over the vocabulary in chunks (kernels/chunkedLoss.wgsl.ts): lm_head, the log-softmax,
// ℓ and the loss's backward never hold more than one chunk of logits, (N, Vc) instead of (N, V).
//   recordHeadLoss: per chunk [v0, v0 + Vc) of lm_head's rows, the chunk's logits (the forward's matmul on
//     a row view of the weight) into ONE reused buffer, an online log-sum-exp and the targets' logits
//     gathered; then ℓ, and what the backward needs: lse and s (N, 2), the targets' gradient weights (N, K).
//   recordHeadBackward: per chunk, the logits recomputed, their gradient formed in place from those, then
//     dnormed (+)= dlogits_c · W_c and, when lm_head (or a tied embedding) is trained, dW_c += dlogits_cᵀ ·
//     normed.
// A chunk is a multiple of 128 rows, so a 16-bit weight's row view stays 256-byte aligned.
import { EngineError } from '../errors.ts';
import { type GpuTensor, rowsView } from './buffers.ts';
import type { CommandRecorder } from './commands.ts';
import { headChunkFinalize, headChunkLse, matmulForward } from './ops.ts';
import { headChunkGrad, matmulBackwardWeight } from './opsBackward.ts';

/** Vocabulary rows per chunk of the training head unless the trainer is told otherwise. */
export const DEFAULT_HEAD_CHUNK = 8192;
/** A chunk's rows are a multiple of this (a row view's byte offset must be 256-aligned even at 2 bytes). */
export const HEAD_CHUNK_ALIGN = 128;

/** The chunk width actually used for a vocabulary of V: `chunk` (a multiple of 128) clamped to V. */
export function headChunkRows(V: number, chunk: number = DEFAULT_HEAD_CHUNK): number {
  if (!(Number.isInteger(chunk) && chunk >= HEAD_CHUNK_ALIGN && chunk % HEAD_CHUNK_ALIGN === 0))
    throw new EngineError('invalid-argument', `headChunk ${chunk}: must be a positive multiple of 128`);
  return Math.min(chunk, V);
}

/** The head's tensors: its input, weight and the buffers the chunks share. */
export interface ChunkedHead {
  N: number;
  C: number;
  V: number;
  /** Vocabulary rows per chunk (headChunkRows); the last chunk may be narrower. */
  Vc: number;
  normed: GpuTensor; // (N, C)     input of lm_head
  lmHead: GpuTensor; // (V, C)
  chunk: GpuTensor; // (N, Vc)     one chunk's logits, then their gradient
  stats: GpuTensor; // (N, 2)      running max and Σ exp; after the loss, lse and s
}

/** The positions' targets and what the loss keeps of them. */
export interface HeadTargets {
  K: number;
  targets: GpuTensor; // (N, K) u32
  weights: GpuTensor | null; // (N, K); null: all 1
  renormalise: boolean;
  gathered: GpuTensor; // (N, K)   the targets' logits, then their gradient weights a_k
}

/** Each chunk's first vocabulary id and width. */
function chunks(h: ChunkedHead): [number, number][] {
  const out: [number, number][] = [];
  for (let v0 = 0; v0 < h.V; v0 += h.Vc) out.push([v0, Math.min(h.Vc, h.V - v0)]);
  return out;
}

/** The logits of vocabulary ids [v0, v0 + W) into h.chunk (N, W); returns the weight's row view. */
function chunkLogits(rec: CommandRecorder, h: ChunkedHead, v0: number, W: number): GpuTensor {
  const w = rowsView(h.lmHead, v0, W, h.C);
  matmulForward(rec, h.chunk, h.normed, w, null, h.N, h.C, W);
  return w;
}

/**
 * ℓ (N) into `logp` (ref/loss.ts weightedLogprobLoss's value), h.stats = [lse, s] and t.gathered = the
 * gradient weights; with `tlp` (N, K), log_softmax of each target too.
 */
export function recordHeadLoss(
  rec: CommandRecorder,
  h: ChunkedHead,
  t: HeadTargets,
  logp: GpuTensor,
  tlp: GpuTensor | null = null,
): void {
  for (const [v0, W] of chunks(h)) {
    chunkLogits(rec, h, v0, W);
    headChunkLse(rec, h.stats, t.gathered, h.chunk, t.targets, h.N, W, v0, h.V, t.K, v0 === 0);
  }
  headChunkFinalize(rec, logp, h.stats, t.gathered, tlp, t.weights, h.N, t.K, t.renormalise);
}

/**
 * After recordHeadLoss: dnormed (N, C) = d loss / d normed for loss = −Σ dloss · coef · ℓ (overwritten),
 * and dlmHead (V, C) += d loss / d lm_head, or null when frozen. coef (N).
 */
export function recordHeadBackward(
  rec: CommandRecorder,
  h: ChunkedHead,
  t: HeadTargets,
  coef: GpuTensor,
  dloss: number,
  dnormed: GpuTensor,
  dlmHead: GpuTensor | null,
): void {
  const { N, C, V } = h;
  for (const [v0, W] of chunks(h)) {
    const w = chunkLogits(rec, h, v0, W);
    headChunkGrad(rec, h.chunk, h.stats, t.gathered, t.targets, coef, N, W, v0, V, t.K, dloss);
    matmulForward(rec, dnormed, h.chunk, w, null, N, W, C, { wInOut: true, beta: v0 === 0 ? 0 : 1 });
    if (dlmHead) matmulBackwardWeight(rec, rowsView(dlmHead, v0, W, C), h.chunk, h.normed, N, C, W);
  }
}
