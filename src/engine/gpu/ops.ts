// The forward GPU layers, one function per kernel, named and ordered like the CPU reference (ref/*.ts):
// outputs first, then inputs, then sizes. Each records dispatches on a CommandRecorder; nothing runs
// until the recorder is submitted. Their backwards are in opsBackward.ts, the optimizer's kernels in
// opsOptimizer.ts; forward.ts strings these into the model's forward pass.
import { EngineError } from '../errors.ts';
import { NOISE_STRIDE } from '../ref/embedding.ts';
import type { InputNoise } from '../ref/model.ts';
import type { GpuTensor, WeightDtype } from './buffers.ts';
import type { CommandRecorder, GpuContext } from './commands.ts';
import { attentionForwardKernel } from './kernels/attention.wgsl.ts';
import { headChunkFinalizeKernel, headChunkLseKernel } from './kernels/chunkedLoss.wgsl.ts';
import {
  CHUNK_MODE,
  VOCAB_CHUNK_WORDS,
  VOCAB_SPLIT_MAX_ROWS,
  type VocabSplit,
  vocabChunkStatsKernel,
  vocabChunksArgmaxKernel,
  vocabChunksEntropyKernel,
  vocabChunksSampleKernel,
  vocabChunkWidth,
} from './kernels/chunkedSample.wgsl.ts';
import { residualForwardKernel, swigluForwardKernel } from './kernels/elementwise.wgsl.ts';
import { embeddingForwardKernel, mixtureForwardKernel } from './kernels/embedding.wgsl.ts';
import {
  FUSED_MAX_ROWS,
  type FusedVariant,
  fusedNormLinearKernel,
  fusedNormSwigluKernel,
  fusedOutputsPerWorkgroup,
  fusedQkvRopeKernel,
} from './kernels/fusedDecode.wgsl.ts';
import {
  entropyForwardKernel,
  gatherLogprobsForwardKernel,
  logSoftmaxForwardKernel,
} from './kernels/logits.wgsl.ts';
import {
  type MatmulVersion,
  matmulV1Kernel,
  matmulV2Kernel,
  matmulV3Kernel,
  matmulV4Kernel,
  matmulV5Kernel,
  matmulV6Kernel,
} from './kernels/matmul.wgsl.ts';
import { inputNoiseKernel } from './kernels/mixtureEmbed.wgsl.ts';
import { rmsnormForwardKernel } from './kernels/rmsnorm.wgsl.ts';
import { ropeForwardKernel, scatterRowsKernel } from './kernels/rope.wgsl.ts';
import { argmaxKernel, sampleKernel } from './kernels/sample.wgsl.ts';
import type { KernelDef } from './pipelines.ts';

const EW = 64; // workgroup size of the elementwise kernels (their WG default)

/** Workgroups of an elementwise kernel over n elements (shared with opsBackward.ts, opsOptimizer.ts). */
export function elementwise(n: number): number {
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
  rec.dispatch(embeddingForwardKernel(wte.dtype ?? 'f32'), {
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
  rec.dispatch(mixtureForwardKernel(wte.dtype ?? 'f32'), {
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

/** Each matmul version's kernel for a weight storage dtype. */
export const MATMUL_KERNELS: Record<MatmulVersion, (dtype: WeightDtype) => KernelDef> = {
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
  rec.dispatch(MATMUL_KERNELS[version](weight.dtype ?? 'f32'), {
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

/** Same contract as ref attentionForward (without the saved probabilities); mask (B, kvStride) u32.
 * `lse` (B, H, Tq), when given (training), receives each query's log-sum-exp for attentionBackward. */
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
  lse: GpuTensor | null = null,
): void {
  if (D > 4 * ATTENTION_WG) throw new Error(`attention: head dim ${D} > ${4 * ATTENTION_WG}`);
  rec.dispatch(attentionForwardKernel, {
    constants: { D, WG: ATTENTION_WG, WRITE_LSE: lse !== null },
    params: { B, Tq, Tk, qStart, H, KVH, kvStride, scale: 1 / Math.sqrt(D) },
    bind: { out, q, k, v, mask, lse: lse ?? rec.ctx.dummy },
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

/** out (N, K) = log_softmax(logits)[n, targets[n, k]]; targets (N, K) u32 (K = 1: one per row). */
export function gatherLogprobsForward(
  rec: CommandRecorder,
  out: GpuTensor,
  logits: GpuTensor,
  targets: GpuTensor,
  N: number,
  V: number,
  K = 1,
): void {
  if (!(Number.isInteger(K) && K >= 1)) throw new Error(`gatherLogprobsForward: K = ${K}`);
  rec.dispatch(gatherLogprobsForwardKernel, {
    constants: { K },
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
  // Many rows (a scored sequence) fill the GPU already: split-V only for a few.
  const Vc = vocabChunkWidth(V, N <= VOCAB_SPLIT_MAX_ROWS, forcedVocabSplit.get(rec.ctx));
  if (Vc > 0) {
    const invTemperature = 1 / temperature;
    const stats = { N, V, Vc, rows: { stride: 1, offset: 0 }, invTemperature };
    const { partials, chunks } = recordVocabChunkStats(rec, logits, stats, CHUNK_MODE.entropy);
    const params = { N, chunks, invTemperature };
    rec.dispatch(vocabChunksEntropyKernel, { params, bind: { out, partials }, workgroups: N });
    return;
  }
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

const forcedVocabSplit = new WeakMap<GpuContext, VocabSplit>();

/** Tests and benchmarks: force split-V on or off for a context's decode kernels (null: automatic again). */
export function forceVocabSplit(ctx: GpuContext, split: VocabSplit | null): void {
  if (split) forcedVocabSplit.set(ctx, split);
  else forcedVocabSplit.delete(ctx);
}

/** Split-V pass 1 into the context's scratch tensor, which only the pass 2 dispatched right after reads. */
function recordVocabChunkStats(
  rec: CommandRecorder,
  x: GpuTensor,
  o: { N: number; V: number; Vc: number; rows: RowSelect; invTemperature: number },
  mode: number,
): { partials: GpuTensor; chunks: number } {
  const chunks = Math.ceil(o.V / o.Vc);
  const partials = rec.ctx.scratchTensor(o.N * chunks * VOCAB_CHUNK_WORDS);
  rec.dispatch(vocabChunkStatsKernel, {
    constants: { MODE: mode },
    params: { N: o.N, V: o.V, ...o.rows, Vc: o.Vc, chunks, invTemperature: o.invTemperature },
    bind: { partials, x },
    workgroups: o.N * chunks,
  });
  return { partials, chunks };
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
  const Vc = vocabChunkWidth(V, true, forcedVocabSplit.get(rec.ctx));
  if (Vc === 0) {
    rec.dispatch(argmaxKernel, { params: { N, V, ...rows }, bind: { ids, x: logits }, workgroups: N });
    return;
  }
  const stats = { N, V, Vc, rows, invTemperature: 1 };
  const { partials, chunks } = recordVocabChunkStats(rec, logits, stats, CHUNK_MODE.argmax);
  rec.dispatch(vocabChunksArgmaxKernel, { params: { N, chunks }, bind: { ids, partials }, workgroups: N });
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
  const invTemperature = 1 / temperature;
  const draw = { invTemperature, seed: seed >>> 0, step: step >>> 0 };
  const Vc = vocabChunkWidth(V, true, forcedVocabSplit.get(rec.ctx));
  if (Vc === 0) {
    rec.dispatch(sampleKernel, {
      params: { N, V, ...rows, ...draw },
      bind: { ids, x: logits },
      workgroups: N,
    });
    return;
  }
  const stats = { N, V, Vc, rows, invTemperature };
  const { partials, chunks } = recordVocabChunkStats(rec, logits, stats, CHUNK_MODE.sample);
  const params = { N, V, ...rows, Vc, chunks, ...draw };
  rec.dispatch(vocabChunksSampleKernel, { params, bind: { ids, partials, x: logits }, workgroups: N });
}

// ---- The fused kernels of an inference decode step (kernels/fusedDecode.wgsl.ts; forward.ts picks them).

/** Whether the fused RMSNorm + GEMV kernels take N rows of width C: few rows (a decode step), C % 4 = 0. */
export function fusedNormFits(N: number, C: number): boolean {
  return N >= 1 && N <= Math.min(GEMV_MAX_ROWS, FUSED_MAX_ROWS) && C % 4 === 0;
}

/** fusedQkvRopeForward binds 12 storage buffers: more than the WebGPU default (8) some adapters stop at. */
export function fusedQkvFits(rec: CommandRecorder, N: number, C: number, D: number): boolean {
  return fusedNormFits(N, C) && D % 2 === 0 && rec.ctx.dev.limits.maxStorageBuffersPerShaderStage >= 12;
}

/** Lanes per output of the fused kernels' lanes variant: more for wide rows on a GPU; few on a software
 * adapter (which runs it only when asked: tests), where each workgroup's barriers cost. */
export function pickFusedLanes(C: number, software: boolean): number {
  if (software) return 8;
  return C >= 2048 ? 64 : 32;
}

/** Which body the fused kernels run (kernels/fusedDecode.wgsl.ts): on a software adapter the serial one,
 * bit for bit the separate kernels there (rmsnorm + matmul v1, see pickMatmulVersion). */
export interface FusedOptions {
  variant?: FusedVariant;
}

function fusedDispatch(rec: CommandRecorder, C: number, outputs: number, opts: FusedOptions) {
  const variant = opts.variant ?? (rec.ctx.dev.isSoftware ? 'serial' : 'lanes');
  const lanes = pickFusedLanes(C, rec.ctx.dev.isSoftware);
  const constants: Record<string, number | boolean> = variant === 'lanes' ? { LANES: lanes } : {};
  return { variant, constants, workgroups: Math.ceil(outputs / fusedOutputsPerWorkgroup(variant, lanes)) };
}

/** A layer's q/k/v_proj weights and biases (absent biases: null). */
export interface QkvWeights {
  qw: GpuTensor;
  kw: GpuTensor;
  vw: GpuTensor;
  qb: GpuTensor | null;
  kb: GpuTensor | null;
  vb: GpuTensor | null;
}

/**
 * rmsnorm(inp (N, C), lnw) → q/k/v_proj + bias → RoPE (table cs (N, D)), in ONE dispatch: q (N, H·D), and
 * the keys and values into the cache rows kc / vc (·, KVH·D) placed as ropeForward places them. Same
 * result as rmsnormForward, three matmulForward, two ropeForward and scatterRows (up to rounding).
 */
export function fusedQkvRopeForward(
  rec: CommandRecorder,
  q: GpuTensor,
  kc: GpuTensor,
  vc: GpuTensor,
  inp: GpuTensor,
  lnw: GpuTensor,
  w: QkvWeights,
  cs: GpuTensor,
  N: number,
  C: number,
  H: number,
  KVH: number,
  D: number,
  eps: number,
  place: RowPlacement,
  opts: FusedOptions = {},
): void {
  if (!fusedQkvFits(rec, N, C, D)) throw new Error(`fused q/k/v: N = ${N}, C = ${C}, D = ${D} do not fit`);
  const shape = fusedDispatch(rec, C, ((H + 2 * KVH) * D) / 2, opts);
  const dummy = rec.ctx.dummy;
  rec.dispatch(fusedQkvRopeKernel[shape.variant](w.qw.dtype ?? 'f32'), {
    constants: { ...shape.constants, HAS_QB: w.qb !== null, HAS_KB: w.kb !== null, HAS_VB: w.vb !== null },
    params: { N, C, H, KVH, D, T: place.T, outT: place.outT, outStart: place.outStart, eps },
    bind: {
      q,
      kc,
      vc,
      inp,
      lnw,
      qw: w.qw,
      kw: w.kw,
      vw: w.vw,
      qb: w.qb ?? dummy,
      kb: w.kb ?? dummy,
      vb: w.vb ?? dummy,
      cs,
    },
    workgroups: shape.workgroups,
  });
}

/** act (N, I) = silu(rmsnorm(inp) · gateᵀ) · (rmsnorm(inp) · upᵀ) in ONE dispatch (inp (N, C), lnw (C)). */
export function fusedNormSwigluForward(
  rec: CommandRecorder,
  act: GpuTensor,
  inp: GpuTensor,
  lnw: GpuTensor,
  gate: GpuTensor,
  up: GpuTensor,
  N: number,
  C: number,
  I: number,
  eps: number,
  opts: FusedOptions = {},
): void {
  if (!fusedNormFits(N, C)) throw new Error(`fused norm + swiglu: N = ${N}, C = ${C} do not fit`);
  const shape = fusedDispatch(rec, C, I, opts);
  rec.dispatch(fusedNormSwigluKernel[shape.variant](gate.dtype ?? 'f32'), {
    constants: shape.constants,
    params: { N, C, I, eps },
    bind: { act, inp, lnw, gw: gate, uw: up },
    workgroups: shape.workgroups,
  });
}

/** out (N, OC) = rmsnorm(inp row n · rows.stride + rows.offset) · weightᵀ in ONE dispatch (the final norm and
 * lm_head of a decode step, reading each row's last position in place). */
export function fusedNormLinearForward(
  rec: CommandRecorder,
  out: GpuTensor,
  inp: GpuTensor,
  lnw: GpuTensor,
  weight: GpuTensor,
  N: number,
  C: number,
  OC: number,
  eps: number,
  rows: RowSelect = { stride: 1, offset: 0 },
  opts: FusedOptions = {},
): void {
  if (!fusedNormFits(N, C)) throw new Error(`fused norm + linear: N = ${N}, C = ${C} do not fit`);
  const shape = fusedDispatch(rec, C, OC, opts);
  rec.dispatch(fusedNormLinearKernel[shape.variant](weight.dtype ?? 'f32'), {
    constants: shape.constants,
    params: { N, C, OC, inStride: rows.stride, inOffset: rows.offset, eps },
    bind: { out, inp, lnw, weight },
    workgroups: shape.workgroups,
  });
}

/**
 * One chunk of the chunked log-prob loss (kernels/chunkedLoss.wgsl.ts): x (N, W) the logits of vocabulary
 * ids [v0, v0 + W); stats (N, 2) the running [max, Σ exp] (started afresh when `first`); gathered (N, K)
 * receives the logits of the targets (N, K) u32 in the chunk.
 */
export function headChunkLse(
  rec: CommandRecorder,
  stats: GpuTensor,
  gathered: GpuTensor,
  x: GpuTensor,
  targets: GpuTensor,
  N: number,
  W: number,
  v0: number,
  V: number,
  K: number,
  first: boolean,
): void {
  rec.dispatch(headChunkLseKernel, {
    constants: { K },
    params: { N, W, v0, V, first: first ? 1 : 0 },
    bind: { stats, gathered, x, targets },
    workgroups: N,
  });
}

/**
 * After headChunkLse over every chunk: logp (N) = ℓ, stats (N, 2) → [lse, s], gathered (N, K) → the
 * targets' gradient weights a_k (ref/loss.ts weightedRow); tlp (N, K) = log_softmax of each target, or
 * null. weights (N, K) or null (all 1); `renormalise`: the `weighted-ids` rule.
 */
export function headChunkFinalize(
  rec: CommandRecorder,
  logp: GpuTensor,
  stats: GpuTensor,
  gathered: GpuTensor,
  tlp: GpuTensor | null,
  weights: GpuTensor | null,
  N: number,
  K: number,
  renormalise: boolean,
): void {
  rec.dispatch(headChunkFinalizeKernel, {
    constants: { K, HAS_W: weights !== null, RENORM: renormalise, HAS_TLP: tlp !== null },
    params: { N },
    bind: {
      stats,
      gathered,
      logp,
      tlp: tlp ?? rec.ctx.scratchTensor(1),
      weights: weights ?? rec.ctx.dummy,
    },
    workgroups: elementwise(N),
  });
}
