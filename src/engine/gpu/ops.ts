// The GPU layers, one function per kernel, named and ordered like the CPU reference (ref/*.ts):
// outputs first, then inputs, then sizes. Each records dispatches on a CommandRecorder; nothing runs
// until the recorder is submitted.
import { EngineError } from '../errors.ts';
import { NOISE_STRIDE } from '../ref/embedding.ts';
import type { InputNoise } from '../ref/model.ts';
import type { GpuTensor } from './buffers.ts';
import type { CommandRecorder } from './commands.ts';
import { attentionForwardKernel } from './kernels/attention.wgsl.ts';
import { attentionBackwardKernel, attentionBackwardKvKernel } from './kernels/attentionBackward.wgsl.ts';
import { residualForwardKernel, swigluForwardKernel } from './kernels/elementwise.wgsl.ts';
import { residualBackwardKernel, swigluBackwardKernel } from './kernels/elementwiseBackward.wgsl.ts';
import { embeddingForwardKernel, mixtureForwardKernel } from './kernels/embedding.wgsl.ts';
import { embeddingBackwardKernel, mixtureBackwardKernel } from './kernels/embeddingBackward.wgsl.ts';
import {
  entropyForwardKernel,
  gatherLogprobsForwardKernel,
  logSoftmaxForwardKernel,
} from './kernels/logits.wgsl.ts';
import { logprobLossBackwardKernel } from './kernels/lossBackward.wgsl.ts';
import {
  type MatmulVersion,
  matmulV1Kernel,
  matmulV2Kernel,
  matmulV3Kernel,
  matmulV4Kernel,
  matmulV5Kernel,
  matmulV6Kernel,
} from './kernels/matmul.wgsl.ts';
import { matmulBackwardBiasKernel, matmulBackwardWeightKernel } from './kernels/matmulBackward.wgsl.ts';
import { inputNoiseKernel } from './kernels/mixtureEmbed.wgsl.ts';
import {
  adamwUpdateKernel,
  gradNormFinalizeKernel,
  gradNormPartialKernel,
  sgdUpdateKernel,
} from './kernels/optim.wgsl.ts';
import { rmsnormForwardKernel } from './kernels/rmsnorm.wgsl.ts';
import { rmsnormBackwardKernel, rmsnormBackwardWeightKernel } from './kernels/rmsnormBackward.wgsl.ts';
import { ropeForwardKernel, scatterRowsKernel } from './kernels/rope.wgsl.ts';
import { ropeBackwardKernel } from './kernels/ropeBackward.wgsl.ts';
import { argmaxKernel, sampleKernel } from './kernels/sample.wgsl.ts';
import type { KernelDef } from './pipelines.ts';

const EW = 64; // workgroup size of the elementwise kernels (their WG default)

function elementwise(n: number): number {
  return Math.ceil(n / EW);
}

/** out (N, C) = wte[ids]. ids (N) u32, wte (V, C). */
export function embeddingForward(
  rec: CommandRecorder,
  out: GpuTensor,
  ids: GpuTensor,
  wte: GpuTensor,
  N: number,
  C: number,
  V: number,
): void {
  rec.dispatch(embeddingForwardKernel, {
    params: { N, C, V },
    bind: { out, ids, wte },
    workgroups: elementwise(N * C),
  });
}

/** out (N, C) = Σ_j weights[n, j] · wte[ids[n, j]]. ids (N, K) u32, weights (N, K). */
export function mixtureForward(
  rec: CommandRecorder,
  out: GpuTensor,
  ids: GpuTensor,
  weights: GpuTensor,
  wte: GpuTensor,
  N: number,
  K: number,
  C: number,
  V: number,
): void {
  rec.dispatch(mixtureForwardKernel, {
    params: { N, K, C, V },
    bind: { out, ids, weights, wte },
    workgroups: elementwise(N * C),
  });
}

/**
 * out (N, C) += std · n of each position that `noise.counters` (N, 4) u32 [1 = noisy, seed, row, step]
 * marks: the Gaussian noise on mixture inputs regenerated from the counter RNG (ref/embedding.ts
 * InputNoise). `upload` puts the counters on the device for this call.
 */
export function inputNoiseForward(
  rec: CommandRecorder,
  out: GpuTensor,
  noise: InputNoise,
  N: number,
  C: number,
  upload: (name: string, data: Uint32Array) => GpuTensor,
): void {
  if (noise.counters.length !== N * NOISE_STRIDE)
    throw new EngineError(
      'invalid-argument',
      `mixture noise: ${noise.counters.length} counter words != B·T·${NOISE_STRIDE} = ${N * NOISE_STRIDE}`,
    );
  if (!(noise.std > 0)) return;
  rec.dispatch(inputNoiseKernel, {
    params: { N, C, noiseStd: noise.std },
    bind: { out, counters: upload('mixture noise counters', noise.counters) },
    workgroups: elementwise(N * C),
  });
}

/** out (N, C) = probs (N, V) @ wte (V, C): the matmul with the weight read in [in, out] layout. */
export function denseMixtureForward(
  rec: CommandRecorder,
  out: GpuTensor,
  probs: GpuTensor,
  wte: GpuTensor,
  N: number,
  V: number,
  C: number,
): void {
  matmulForward(rec, out, probs, wte, null, N, V, C, { wInOut: true });
}

/** out (N, C), rstd (N) or null, inp (N, C), weight (C). */
export function rmsnormForward(
  rec: CommandRecorder,
  out: GpuTensor,
  rstd: GpuTensor | null,
  inp: GpuTensor,
  weight: GpuTensor,
  N: number,
  C: number,
  eps: number,
): void {
  const scratch = rstd ?? rec.ctx.scratchTensor(N);
  rec.dispatch(rmsnormForwardKernel, {
    params: { N, C, eps },
    bind: { out, rstd: scratch, inp, weight },
    workgroups: N,
  });
}

export const MATMUL_KERNELS: Record<MatmulVersion, KernelDef> = {
  1: matmulV1Kernel,
  2: matmulV2Kernel,
  3: matmulV3Kernel,
  4: matmulV4Kernel,
  5: matmulV5Kernel,
  6: matmulV6Kernel,
};

/** Rows up to which the GEMV kernels (v4–v6) beat the tiled one: decode steps and small batches. */
export const GEMV_MAX_ROWS = 16;

export interface MatmulOptions {
  /** out = alpha · inp · Wᵀ + bias + beta · out (default alpha 1, beta 0). */
  alpha?: number;
  beta?: number;
  /** Weight stored (IC, OC) instead of HF's (OC, IC); only v1–v3. */
  wInOut?: boolean;
  /** Force a version (bench, tests); default: pickMatmulVersion, or the context's matmulOverride. */
  version?: MatmulVersion;
  /** v6: invocations per output (8…256, a power of two); default pickGemvLanes. */
  lanes?: number;
}

/**
 * Which version runs by default (bench/kernels.bench.ts has the numbers): the 64×64 tiled v3 for many
 * rows; for few rows (decode) the GEMV v6 (v4 when IC % 4 ≠ 0) on a GPU, and the naive v1 on a software
 * adapter, where the GEMVs' barriers and reductions cost more than they save.
 */
export function pickMatmulVersion(N: number, IC: number, wInOut: boolean, software = false): MatmulVersion {
  if (wInOut || N > GEMV_MAX_ROWS) return 3;
  if (software) return 1;
  return IC % 4 === 0 ? 6 : 4;
}

/** v6 lanes per output: fewer lanes (more outputs per workgroup) when there are many outputs. */
export function pickGemvLanes(IC: number, OC: number): number {
  if (OC >= 4096) return 32;
  return IC >= 2048 ? 128 : 64;
}

/** Linear layer, HF layout: out (N, OC) = alpha · inp (N, IC) · weight (OC, IC)ᵀ + bias (OC) + beta · out. */
export function matmulForward(
  rec: CommandRecorder,
  out: GpuTensor,
  inp: GpuTensor,
  weight: GpuTensor,
  bias: GpuTensor | null,
  N: number,
  IC: number,
  OC: number,
  opts: MatmulOptions = {},
): void {
  const wInOut = opts.wInOut ?? false;
  const override = rec.ctx.matmulOverride?.(N, IC, OC, wInOut);
  const version =
    opts.version ?? override?.version ?? pickMatmulVersion(N, IC, wInOut, rec.ctx.dev.isSoftware);
  if (wInOut && version > 3) throw new Error(`matmul v${version} has no [in, out] weight layout`);
  if ((version === 5 || version === 6) && IC % 4 !== 0)
    throw new Error(`matmul v${version} needs IC % 4 = 0 (IC = ${IC})`);
  const constants: Record<string, number | boolean> = { HAS_BIAS: bias !== null };
  if (version <= 3) constants.W_IN_OUT = wInOut;
  let workgroups: number | [number, number, number];
  if (version <= 2) workgroups = [Math.ceil(OC / 16), Math.ceil(N / 16), 1];
  else if (version === 3) workgroups = [Math.ceil(OC / 64), Math.ceil(N / 64), 1];
  else if (version === 6) {
    const lanes = opts.lanes ?? override?.lanes ?? pickGemvLanes(IC, OC);
    if (!(lanes >= 8 && lanes <= 256 && (lanes & (lanes - 1)) === 0))
      throw new Error(`matmul v6: lanes ${lanes}`);
    constants.LANES = lanes;
    workgroups = Math.ceil(OC / (256 / lanes));
  } else workgroups = OC;
  rec.dispatch(MATMUL_KERNELS[version], {
    constants,
    params: { N, IC, OC, alpha: opts.alpha ?? 1, beta: opts.beta ?? 0 },
    bind: { out, inp, weight, bias: bias ?? rec.ctx.dummy },
    workgroups,
  });
}

/**
 * cos/sin table (N, D) for RoPE at the given positions, in float64 then rounded: row n holds
 * cos(pos_n · θ^(−2i/D)) for i < D/2, then the sines.
 */
export function ropeTable(positions: ArrayLike<number>, N: number, D: number, theta: number): Float32Array {
  const half = D / 2;
  const out = new Float32Array(N * D);
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / theta ** ((2 * i) / D);
  for (let n = 0; n < N; n++) {
    const pos = positions[n];
    for (let i = 0; i < half; i++) {
      const f = pos * invFreq[i];
      out[n * D + i] = Math.cos(f);
      out[n * D + half + i] = Math.sin(f);
    }
  }
  return out;
}

/** Where rows go: row n → (n / T) · outT + outStart + n % T (default: the same row). */
export interface RowPlacement {
  T: number;
  outT: number;
  outStart: number;
}

/** out rows ← rope(inp (N, nH, D)) with the table cs (N, D) from ropeTable. out ≠ inp. */
export function ropeForward(
  rec: CommandRecorder,
  out: GpuTensor,
  inp: GpuTensor,
  cs: GpuTensor,
  N: number,
  nH: number,
  D: number,
  place: RowPlacement = { T: N, outT: N, outStart: 0 },
): void {
  rec.dispatch(ropeForwardKernel, {
    params: { N, T: place.T, nH, D, outT: place.outT, outStart: place.outStart },
    bind: { out, inp, cs },
    workgroups: elementwise((N * nH * D) / 2),
  });
}

/** out rows ← inp rows (N, W), placed as for ropeForward (the values into a KV cache). */
export function scatterRows(
  rec: CommandRecorder,
  out: GpuTensor,
  inp: GpuTensor,
  N: number,
  W: number,
  place: RowPlacement,
): void {
  rec.dispatch(scatterRowsKernel, {
    params: { N, T: place.T, W, outT: place.outT, outStart: place.outStart },
    bind: { out, inp },
    workgroups: elementwise(N * W),
  });
}

/** Workgroup size of the attention kernel; D ≤ 4 · this. */
export const ATTENTION_WG = 64;

/** Same contract as ref attentionForward (without the saved probabilities); mask (B, kvStride) u32. */
export function attentionForward(
  rec: CommandRecorder,
  out: GpuTensor,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  mask: GpuTensor,
  B: number,
  Tq: number,
  Tk: number,
  qStart: number,
  H: number,
  KVH: number,
  D: number,
  kvStride: number = Tk,
): void {
  if (D > 4 * ATTENTION_WG) throw new Error(`attention: head dim ${D} > ${4 * ATTENTION_WG}`);
  rec.dispatch(attentionForwardKernel, {
    constants: { D, WG: ATTENTION_WG },
    params: { B, Tq, Tk, qStart, H, KVH, kvStride, scale: 1 / Math.sqrt(D) },
    bind: { out, q, k, v, mask },
    workgroups: B * H * Tq,
  });
}

export function swigluForward(
  rec: CommandRecorder,
  out: GpuTensor,
  gate: GpuTensor,
  up: GpuTensor,
  n: number,
): void {
  rec.dispatch(swigluForwardKernel, { params: { n }, bind: { out, gate, up }, workgroups: elementwise(n) });
}

export function residualForward(
  rec: CommandRecorder,
  out: GpuTensor,
  a: GpuTensor,
  b: GpuTensor,
  n: number,
): void {
  rec.dispatch(residualForwardKernel, { params: { n }, bind: { out, a, b }, workgroups: elementwise(n) });
}

/** out (N, V) = log_softmax(logits (N, V)). */
export function logSoftmaxForward(
  rec: CommandRecorder,
  out: GpuTensor,
  logits: GpuTensor,
  N: number,
  V: number,
): void {
  rec.dispatch(logSoftmaxForwardKernel, { params: { N, V }, bind: { out, x: logits }, workgroups: N });
}

/** out (N) = log_softmax(logits)[n, targets[n]]; targets (N) u32. */
export function gatherLogprobsForward(
  rec: CommandRecorder,
  out: GpuTensor,
  logits: GpuTensor,
  targets: GpuTensor,
  N: number,
  V: number,
): void {
  rec.dispatch(gatherLogprobsForwardKernel, {
    params: { N, V },
    bind: { out, x: logits, targets },
    workgroups: N,
  });
}

/** out (N) = entropy of softmax(logits[n] / temperature), nats. */
export function entropyForward(
  rec: CommandRecorder,
  out: GpuTensor,
  logits: GpuTensor,
  N: number,
  V: number,
  temperature = 1,
): void {
  rec.dispatch(entropyForwardKernel, {
    params: { N, V, invTemperature: 1 / temperature },
    bind: { out, x: logits },
    workgroups: N,
  });
}

/** out (N) = entropy of softmax over the C hidden dimensions of hidden[n] (MOTG.md §4). */
export function hiddenEntropyForward(
  rec: CommandRecorder,
  out: GpuTensor,
  hidden: GpuTensor,
  N: number,
  C: number,
): void {
  entropyForward(rec, out, hidden, N, C, 1);
}

/** Which row of the logits each output row reads: r · stride + offset (default: row r). */
export interface RowSelect {
  stride: number;
  offset: number;
}

/** ids (N) u32 = argmax of logits row r · stride + offset (V wide), first index on ties. */
export function argmaxForward(
  rec: CommandRecorder,
  ids: GpuTensor,
  logits: GpuTensor,
  N: number,
  V: number,
  rows: RowSelect = { stride: 1, offset: 0 },
): void {
  rec.dispatch(argmaxKernel, { params: { N, V, ...rows }, bind: { ids, x: logits }, workgroups: N });
}

/** ids (N) u32 sampled from softmax(logits row / temperature) at u = counterUniform(seed, r, step). */
export function sampleForward(
  rec: CommandRecorder,
  ids: GpuTensor,
  logits: GpuTensor,
  N: number,
  V: number,
  temperature: number,
  seed: number,
  step: number,
  rows: RowSelect = { stride: 1, offset: 0 },
): void {
  if (!(temperature > 0))
    throw new Error(`sample: temperature must be > 0 (use argmax for greedy), got ${temperature}`);
  rec.dispatch(sampleKernel, {
    params: { N, V, ...rows, invTemperature: 1 / temperature, seed: seed >>> 0, step: step >>> 0 },
    bind: { ids, x: logits },
    workgroups: N,
  });
}

// ---- Backward ------------------------------------------------------------------------------------
// Accumulation rule, for every *Backward below and its kernel (as ref/ and llm.c): parameter gradients
// `+=` (so micro-batches and the two uses of a tied embedding add up), activation gradients `=`
// (overwritten), except the residual stream, whose gradient `+=` because every branch adds into it
// (rmsnormBackward's dinp, residualBackward). A frozen parameter's gradient is null: nothing is
// recorded for it. Zero a parameter gradient (CommandRecorder.clear) before a step's first micro-batch.

/** The scatter-add of embeddingBackward grouped by token id on the CPU (the ids are there anyway). */
export interface EmbeddingPlan {
  /** Distinct ids. */
  U: number;
  /** (U, 3): [id, first entry, one past the last], ids ascending. */
  buckets: Uint32Array;
  /** (E): the dout row of each entry, grouped by bucket, in input order within a bucket. */
  rows: Uint32Array;
  /** (E): each entry's weight (mixtures), or null (plain ids: weight 1). */
  weights: Float32Array | null;
}

/** The plan for ids (N·K entries; entry e feeds dout row ⌊e / K⌋ with weight weights[e]). */
export function planEmbeddingBackward(
  ids: ArrayLike<number>,
  weights: ArrayLike<number> | null,
  K = 1,
): EmbeddingPlan {
  const byId = new Map<number, number[]>();
  for (let e = 0; e < ids.length; e++) {
    const id = ids[e];
    let list = byId.get(id);
    if (!list) {
      list = [];
      byId.set(id, list);
    }
    list.push(e);
  }
  const sorted = [...byId.keys()].sort((a, b) => a - b);
  const buckets = new Uint32Array(sorted.length * 3);
  const rows = new Uint32Array(ids.length);
  const w = weights ? new Float32Array(ids.length) : null;
  let at = 0;
  sorted.forEach((id, u) => {
    buckets[u * 3] = id;
    buckets[u * 3 + 1] = at;
    for (const e of byId.get(id)!) {
      rows[at] = Math.floor(e / K);
      if (w && weights) w[at] = weights[e];
      at++;
    }
    buckets[u * 3 + 2] = at;
  });
  return { U: sorted.length, buckets, rows, weights: w };
}

/** An EmbeddingPlan on the device. */
export interface GpuEmbeddingPlan {
  U: number;
  buckets: GpuTensor;
  rows: GpuTensor;
  weights: GpuTensor | null;
}

/** dwte (V, C) += dout rows scattered by the plan (weighted for a mixture). Deterministic. */
export function embeddingBackward(
  rec: CommandRecorder,
  dwte: GpuTensor,
  dout: GpuTensor,
  plan: GpuEmbeddingPlan,
  C: number,
): void {
  if (plan.U === 0) return;
  rec.dispatch(embeddingBackwardKernel, {
    constants: { HAS_WEIGHTS: plan.weights !== null },
    params: { U: plan.U, C },
    bind: {
      dwte,
      dout,
      buckets: plan.buckets,
      rows: plan.rows,
      weights: plan.weights ?? rec.ctx.dummy,
    },
    workgroups: elementwise(plan.U * C),
  });
}

/**
 * Backward of mixtureForward: dwte (V, C) += weights[n, j] · dout[n, :] into row ids[n, j] through
 * `plan` (planEmbeddingBackward(ids, weights, K)), or null when frozen; dweights (N, K) = dout[n, :] ·
 * wte[ids[n, j], :], or null. ids (N, K) u32 on the device.
 */
export function mixtureBackward(
  rec: CommandRecorder,
  dwte: GpuTensor | null,
  dweights: GpuTensor | null,
  dout: GpuTensor,
  plan: GpuEmbeddingPlan | null,
  ids: GpuTensor,
  wte: GpuTensor,
  N: number,
  K: number,
  C: number,
  V: number,
): void {
  if (dwte) {
    if (!plan) throw new Error('mixtureBackward: dwte needs the embedding plan');
    embeddingBackward(rec, dwte, dout, plan, C);
  }
  if (dweights) {
    rec.dispatch(mixtureBackwardKernel, {
      params: { N, K, C, V },
      bind: { dweights, dout, ids, wte },
      workgroups: N * K,
    });
  }
}

/** Backward of denseMixtureForward: dwte (V, C) += probsᵀ · dout (or null); dprobs (N, V) = dout · wteᵀ (or null). */
export function denseMixtureBackward(
  rec: CommandRecorder,
  dwte: GpuTensor | null,
  dprobs: GpuTensor | null,
  dout: GpuTensor,
  probs: GpuTensor,
  wte: GpuTensor,
  N: number,
  V: number,
  C: number,
): void {
  if (dwte) matmulBackwardWeight(rec, dwte, probs, dout, N, C, V);
  if (dprobs) matmulForward(rec, dprobs, dout, wte, null, N, C, V);
}

/** Backward of rmsnormForward from the saved rstd: dinp (N, C) `+=` (residual stream), dweight (C) `+=` or null. */
export function rmsnormBackward(
  rec: CommandRecorder,
  dinp: GpuTensor,
  dweight: GpuTensor | null,
  dout: GpuTensor,
  inp: GpuTensor,
  weight: GpuTensor,
  rstd: GpuTensor,
  N: number,
  C: number,
): void {
  rec.dispatch(rmsnormBackwardKernel, {
    params: { N, C },
    bind: { dinp, dout, inp, weight, rstd },
    workgroups: N,
  });
  if (dweight) {
    rec.dispatch(rmsnormBackwardWeightKernel, {
      params: { N, C },
      bind: { dweight, dout, inp, rstd },
      workgroups: elementwise(C),
    });
  }
}

/** dweight (OC, IC) += alpha · doutᵀ (OC, N) · inp (N, IC). */
export function matmulBackwardWeight(
  rec: CommandRecorder,
  dweight: GpuTensor,
  dout: GpuTensor,
  inp: GpuTensor,
  N: number,
  IC: number,
  OC: number,
  alpha = 1,
): void {
  rec.dispatch(matmulBackwardWeightKernel, {
    params: { N, IC, OC, alpha },
    bind: { dweight, dout, inp },
    workgroups: [Math.ceil(IC / 64), Math.ceil(OC / 64), 1],
  });
}

export interface MatmulBackwardOptions {
  /** dinp += dout · W instead of = (several layers reading one input: q/k/v, gate/up). */
  accumulate?: boolean;
}

/**
 * Backward of matmulForward (HF layout W (OC, IC)): dinp (N, IC) = dout · W — the forward's tiled
 * kernel with W read as [in, out] — or null; dweight (OC, IC) += doutᵀ · inp and dbias (OC) += Σ_n dout,
 * each null when frozen.
 */
export function matmulBackward(
  rec: CommandRecorder,
  dinp: GpuTensor | null,
  dweight: GpuTensor | null,
  dbias: GpuTensor | null,
  dout: GpuTensor,
  inp: GpuTensor,
  weight: GpuTensor,
  N: number,
  IC: number,
  OC: number,
  opts: MatmulBackwardOptions = {},
): void {
  if (dinp)
    matmulForward(rec, dinp, dout, weight, null, N, OC, IC, { wInOut: true, beta: opts.accumulate ? 1 : 0 });
  if (dweight) matmulBackwardWeight(rec, dweight, dout, inp, N, IC, OC);
  if (dbias) {
    rec.dispatch(matmulBackwardBiasKernel, {
      params: { N, OC },
      bind: { dbias, dout },
      workgroups: elementwise(OC),
    });
  }
}

/**
 * Backward of the LoRA term of a linear layer, y = x · Wᵀ + b + scale · (x · Aᵀ) · Bᵀ, with W, b frozen:
 * u = x · Aᵀ (N, r) is recomputed into `u`; du = scale · dout · B (N, r) into `du`;
 * dB (OC, r) += scale · doutᵀ · u; dA (r, IC) += duᵀ · x; dinp (N, IC) = (or +=) dout · W + du · A.
 */
export function matmulLoraBackward(
  rec: CommandRecorder,
  dinp: GpuTensor | null,
  dA: GpuTensor | null,
  dB: GpuTensor | null,
  dout: GpuTensor,
  inp: GpuTensor,
  weight: GpuTensor,
  A: GpuTensor,
  B: GpuTensor,
  scale: number,
  N: number,
  IC: number,
  OC: number,
  r: number,
  u: GpuTensor,
  du: GpuTensor,
  opts: MatmulBackwardOptions = {},
): void {
  matmulForward(rec, du, dout, B, null, N, OC, r, { wInOut: true, alpha: scale });
  if (dB) {
    matmulForward(rec, u, inp, A, null, N, IC, r);
    matmulBackwardWeight(rec, dB, dout, u, N, r, OC, scale);
  }
  if (dA) matmulBackwardWeight(rec, dA, du, inp, N, IC, r);
  if (dinp) {
    matmulForward(rec, dinp, dout, weight, null, N, OC, IC, { wInOut: true, beta: opts.accumulate ? 1 : 0 });
    matmulForward(rec, dinp, du, A, null, N, r, IC, { wInOut: true, beta: 1 });
  }
}

/** Backward of ropeForward (same-row placement): dinp = the inverse rotation of dout; dinp ≠ dout. */
export function ropeBackward(
  rec: CommandRecorder,
  dinp: GpuTensor,
  dout: GpuTensor,
  cs: GpuTensor,
  N: number,
  nH: number,
  D: number,
): void {
  rec.dispatch(ropeBackwardKernel, {
    params: { N, nH, D },
    bind: { dinp, dout, cs },
    workgroups: elementwise((N * nH * D) / 2),
  });
}

/**
 * Backward of attentionForward (k, v, mask with Tk positions per row, no cache stride), recomputing the
 * probabilities: dq (B, Tq, H·D), dk, dv (B, Tk, KVH·D), all overwritten. att and dscore are (B, H, Tq, Tk)
 * scratch tensors (the probabilities and the score gradients, kept between the two kernels).
 */
export function attentionBackward(
  rec: CommandRecorder,
  dq: GpuTensor,
  dk: GpuTensor,
  dv: GpuTensor,
  att: GpuTensor,
  dscore: GpuTensor,
  dout: GpuTensor,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  mask: GpuTensor,
  B: number,
  Tq: number,
  Tk: number,
  qStart: number,
  H: number,
  KVH: number,
  D: number,
): void {
  if (D > 4 * ATTENTION_WG) throw new Error(`attention backward: head dim ${D} > ${4 * ATTENTION_WG}`);
  const params = { B, Tq, Tk, qStart, H, KVH, scale: 1 / Math.sqrt(D) };
  rec.dispatch(attentionBackwardKernel, {
    constants: { D, WG: ATTENTION_WG },
    params,
    bind: { dq, att, dscore, dout, q, k, v, mask },
    workgroups: B * H * Tq,
  });
  rec.dispatch(attentionBackwardKvKernel, {
    params: { ...params, D },
    bind: { dk, dv, att, dscore, dout, q },
    workgroups: elementwise(B * Tk * KVH * D),
  });
}

/** Backward of swigluForward: dgate, dup (n) overwritten. */
export function swigluBackward(
  rec: CommandRecorder,
  dgate: GpuTensor,
  dup: GpuTensor,
  dout: GpuTensor,
  gate: GpuTensor,
  up: GpuTensor,
  n: number,
): void {
  rec.dispatch(swigluBackwardKernel, {
    params: { n },
    bind: { dgate, dup, dout, gate, up },
    workgroups: elementwise(n),
  });
}

/** Backward of residualForward: da += dout, db += dout (db may be null); the residual stream accumulates. */
export function residualBackward(
  rec: CommandRecorder,
  da: GpuTensor,
  db: GpuTensor | null,
  dout: GpuTensor,
  n: number,
): void {
  rec.dispatch(residualBackwardKernel, {
    constants: { HAS_B: db !== null },
    params: { n },
    bind: { da, db: db ?? rec.ctx.scratchTensor(1), dout },
    workgroups: elementwise(n),
  });
}

/** Several weighted targets per position for logprobLossBackward (ref/loss.ts weightedLogprobLoss). */
export interface LossTargets {
  /** Targets per position: `targets` (and `weights`) hold K entries per position. */
  K: number;
  /** (N, K) the weights; null: all 1. Weight 0 pads a position's list to K. */
  weights: GpuTensor | null;
  /** The weights are renormalised by the current softmax, not detached (the `weighted-ids` rule). */
  renormalise?: boolean;
}

/**
 * The log-prob loss, fused forward and backward (ref/loss.ts): `dlogits` holds the logits (N, V) on
 * entry and dloss · coef[n] · (s · softmax − Σ_k a_k onehot(target_k)) on exit; logp (N) = ℓ =
 * Σ_k a_k log_softmax[target_k] (one target, weight 1: log_softmax[target]). The loss is −Σ coef · ℓ,
 * summed on the CPU from the read-back ℓ. Without `multi`, one target per position.
 */
export function logprobLossBackward(
  rec: CommandRecorder,
  dlogits: GpuTensor,
  logp: GpuTensor,
  targets: GpuTensor,
  coef: GpuTensor,
  N: number,
  V: number,
  dloss = 1,
  multi: LossTargets | null = null,
): void {
  const K = multi?.K ?? 1;
  if (!(Number.isInteger(K) && K >= 1)) throw new Error(`logprobLossBackward: K = ${K}`);
  const weights = multi?.weights ?? null;
  rec.dispatch(logprobLossBackwardKernel, {
    constants: { K, HAS_W: weights !== null, RENORM: multi?.renormalise === true },
    params: { N, V, dloss },
    bind: { dlogits, logp, targets, coef, weights: weights ?? rec.ctx.scratchTensor(1) },
    workgroups: N,
  });
}

// ---- Optimizer ------------------------------------------------------------------------------------

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
): void {
  if (!(o.step >= 1)) throw new RangeError(`adamwUpdate: step must be ≥ 1, got ${o.step}`);
  rec.dispatch(adamwUpdateKernel, {
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
    },
    bind: { param, m, v, grad, gnorm },
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
): void {
  const hasMomentum = o.momentum !== 0;
  if (hasMomentum && !buf) throw new Error('sgdUpdate: momentum needs a buffer');
  rec.dispatch(sgdUpdateKernel, {
    constants: { HAS_MOMENTUM: hasMomentum },
    params: {
      n,
      lr: o.lr,
      momentum: o.momentum,
      dampening: o.dampening,
      weightDecay: o.weightDecay,
      gradScale: o.gradScale ?? 1,
      first: o.step <= 1 ? 1 : 0,
      nesterov: o.nesterov ? 1 : 0,
    },
    bind: { param, buf: buf ?? rec.ctx.scratchTensor(1), grad, gnorm },
    workgroups: elementwise(n),
  });
}
