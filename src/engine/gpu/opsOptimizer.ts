// The optimizer on the GPU: the global gradient norm with its clip factor, and the AdamW and SGD updates
// of a parameter in place (train/optim.ts is the CPU reference). optimizer.ts drives them.
import type { GpuTensor } from './buffers.ts';
import type { CommandRecorder } from './commands.ts';
import {
  adamwUpdateKernel,
  gradNormFinalizeKernel,
  gradNormPartialKernel,
  sgdUpdateKernel,
} from './kernels/optim.wgsl.ts';
import { elementwise } from './ops.ts';

const NORM_WG = 256;
const NORM_MAX_PARTS = 64;

/** Workgroups (partial sums) the norm uses for a gradient of n elements. */
function normParts(n: number): number {
  return Math.max(1, Math.min(NORM_MAX_PARTS, Math.ceil(n / NORM_WG)));
}

/** Elements the partials tensor of gradNorm needs for these gradient sizes. */
export function gradNormPartials(sizes: readonly number[]): number {
  return sizes.reduce((a, n) => a + normParts(n), 0);
}

/**
 * gnorm (2) = [‖scale · grads‖₂ over every tensor, clip factor min(1, maxNorm / (norm + 1e-6)) or 1
 * when maxNorm ≤ 0]. partials: gradNormPartials(sizes) elements of scratch. Deterministic.
 */
export function gradNorm(
  rec: CommandRecorder,
  gnorm: GpuTensor,
  partials: GpuTensor,
  grads: readonly { t: GpuTensor; n: number }[],
  scale: number,
  maxNorm: number,
): void {
  let slot = 0;
  for (const { t, n } of grads) {
    const parts = normParts(n);
    rec.dispatch(gradNormPartialKernel, {
      params: { n, slot, parts, scale },
      bind: { partials, grad: t },
      workgroups: [parts, 1, 1],
    });
    slot += parts;
  }
  rec.dispatch(gradNormFinalizeKernel, {
    params: { count: slot, maxNorm: Math.max(maxNorm, 0) },
    bind: { gnorm, partials },
    workgroups: [1, 1, 1],
  });
}

/**
 * How an update kernel treats the step's flag (one u32, see kernels/optim.wgsl.ts): 'check' only sets it
 * when the update would leave a parameter past `limit` or non-finite, or state or norm non-finite;
 * 'apply' updates unless it is set. Without a guard the update is unconditional.
 */
export interface UpdateGuard {
  flag: GpuTensor;
  mode: 'check' | 'apply';
  limit: number;
}

const GUARD_MODE = { check: 1, apply: 2 } as const;

/** The mode constant, the flag binding and the limit of a guard (none: mode 0, which never touches the
 * flag: the context's dummy, not the scratch, which SGD without momentum binds as its buffer). */
function guardArgs(rec: CommandRecorder, guard: UpdateGuard | undefined) {
  return {
    mode: guard ? GUARD_MODE[guard.mode] : 0,
    flag: guard?.flag ?? rec.ctx.dummy,
    limit: guard?.limit ?? 0,
  };
}

export interface GpuAdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based count of updates including this one (bias correction). */
  step: number;
  /** Multiplies the gradient before clipping (1 / micro-batches for a mean). Default 1. */
  gradScale?: number;
}

/** One AdamW update of param (n) in place, with the clip factor gnorm[1] (see gradNorm). */
export function adamwUpdate(
  rec: CommandRecorder,
  param: GpuTensor,
  grad: GpuTensor,
  m: GpuTensor,
  v: GpuTensor,
  gnorm: GpuTensor,
  n: number,
  o: GpuAdamWStep,
  guard?: UpdateGuard,
): void {
  if (!(o.step >= 1)) throw new RangeError(`adamwUpdate: step must be ≥ 1, got ${o.step}`);
  const g = guardArgs(rec, guard);
  rec.dispatch(adamwUpdateKernel, {
    constants: { MODE: g.mode },
    params: {
      n,
      lr: o.lr,
      beta1: o.beta1,
      beta2: o.beta2,
      eps: o.eps,
      weightDecay: o.weightDecay,
      bc1: 1 - o.beta1 ** o.step,
      bc2: 1 - o.beta2 ** o.step,
      gradScale: o.gradScale ?? 1,
      limit: g.limit,
    },
    bind: { param, m, v, grad, gnorm, flag: g.flag },
    workgroups: elementwise(n),
  });
}

export interface GpuSgdStep {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  /** 1-based; on step 1 the momentum buffer is set to the gradient. */
  step: number;
  gradScale?: number;
}

/** One SGD update of param (n) in place; buf is the momentum buffer (null when momentum is 0). */
export function sgdUpdate(
  rec: CommandRecorder,
  param: GpuTensor,
  grad: GpuTensor,
  buf: GpuTensor | null,
  gnorm: GpuTensor,
  n: number,
  o: GpuSgdStep,
  guard?: UpdateGuard,
): void {
  const hasMomentum = o.momentum !== 0;
  if (hasMomentum && !buf) throw new Error('sgdUpdate: momentum needs a buffer');
  const g = guardArgs(rec, guard);
  rec.dispatch(sgdUpdateKernel, {
    constants: { HAS_MOMENTUM: hasMomentum, MODE: g.mode },
    params: {
      n,
      lr: o.lr,
      momentum: o.momentum,
      dampening: o.dampening,
      weightDecay: o.weightDecay,
      gradScale: o.gradScale ?? 1,
      first: o.step <= 1 ? 1 : 0,
      nesterov: o.nesterov ? 1 : 0,
      limit: g.limit,
    },
    bind: { param, buf: buf ?? rec.ctx.scratchTensor(1), grad, gnorm, flag: g.flag },
    workgroups: elementwise(n),
  });
}
