// Fused kernels of an inference decode step (few rows, nothing kept for a backward): each folds an RMSNorm
// into the GEMV(s) that read its output, so a layer records 5 dispatches instead of 14 (forward.ts).
//   fused_qkv_rope:    q/k/v projections + bias + RoPE; q to its buffer, k and v into the KV cache rows.
//   fused_norm_swiglu: gate/up projections + silu(gate) · up.
//   fused_norm_linear: one projection (the final norm + lm_head), input row n · inStride + inOffset.
// Each comes in two variants (FusedVariant), one body under the same header:
//   lanes (GPUs): RMSNorm then a linear map is  y[n, o] = rstd[n] · Σ_c W[o, c] · (g[c] · x[n, c]),  so each
//     group of LANES invocations accumulates Σ W·(g⊙x) and Σ x² of its rows in one pass over C, 1/rms comes
//     from the Σ x² partials of the workgroup's first group, and no normed activation is written. Layout as
//     matmul v6: WG / LANES outputs (or output pairs) per workgroup, up to ROWS rows per pass, one barrier.
//   serial (software adapters, where the separate path runs matmul v1): the same arithmetic in the same
//     order as rmsnorm_forward (its 128 partials and tree) then matmul v1 (one invocation per output, k in
//     order), so a decode step gives bit for bit the tokens of the separate kernels (the golden outputs).
// Both need C % 4 = 0 (vec4 inputs) and read the weights in their storage dtype (weightLoad.wgsl.ts).
import type { WeightDtype } from '../buffers.ts';
import type { BindingKind, KernelDef, ParamType } from '../pipelines.ts';
import { perDtype, weightBinding } from './weightLoad.wgsl.ts';

/** Invocations per workgroup of the fused kernels; their workgroup memory is ROWS·(2·WG/LANES+1)·(LANES+1)
 * floats, within the 16 KiB every adapter offers for any LANES ≥ 8. */
export const FUSED_WG = 128;
/** Rows of inp per pass over the weights. */
const ROWS = 8;
/** Rows a fused kernel takes at most (ops.ts GEMV_MAX_ROWS: a decode step). */
export const FUSED_MAX_ROWS = 16;

/** Which body a fused kernel runs (see the file comment). */
export type FusedVariant = 'lanes' | 'serial';

/**
 * The lanes body. `paired`: each output reads two weight rows (w1, w2) and gets both sums; the header
 * defines p (with N, C, eps), `inp` and `lnw` as vec4 arrays, count() (outputs), inRow(n), w1/w2(o, k4)
 * and finish(o, n, y1, y2), y = rstd · Σ W·(g⊙x) before bias.
 */
function lanesBody(paired: boolean): string {
  const slots = paired ? '2u * OPW + 1u' : 'OPW + 1u';
  const pairOnly = (s: string) => (paired ? s : '');
  return /* wgsl */ `
override LANES: u32 = 32;   // 8 ≤ LANES ≤ WG, a power of two
const WG = ${FUSED_WG}u;
const ROWS = ${ROWS}u;
override OPW: u32 = WG / LANES;       // outputs per workgroup
override GS: u32 = LANES + 1u;        // padded stride of one sum's partials
override SQ: u32 = ${slots} - 1u;     // slot of the Σ x² partials
override RS: u32 = (${slots}) * GS + 1u;
var<workgroup> red: array<f32, ROWS * RS>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let o0 = (wid.x + wid.y * nwg.x) * OPW;
  let total = count();
  if (o0 >= total) { return; }
  let g = lid / LANES;
  let lane = lid % LANES;
  let o = o0 + g;
  let C4 = p.C / 4u;
  for (var n0 = 0u; n0 < p.N; n0 += ROWS) {
    // zeroed explicitly: some drivers keep a loop-local array's value across iterations
    var a1 = array<f32, ROWS>();
    ${pairOnly('var a2 = array<f32, ROWS>();')}
    var sq = array<f32, ROWS>();
    if (o < total) {
      for (var k = lane; k < C4; k += LANES) {
        let wa = w1(o, k);
        ${pairOnly('let wb = w2(o, k);')}
        let gk = lnw[k];
        for (var r = 0u; r < ROWS; r++) {
          if (n0 + r < p.N) {
            let x = inp[inRow(n0 + r) * C4 + k];
            let xg = x * gk;
            a1[r] += dot(wa, xg);
            ${pairOnly('a2[r] += dot(wb, xg);')}
            sq[r] += dot(x, x);
          }
        }
      }
    }
    for (var r = 0u; r < ROWS; r++) {
      red[r * RS + ${paired ? '2u * g' : 'g'} * GS + lane] = a1[r];
      ${pairOnly('red[r * RS + (2u * g + 1u) * GS + lane] = a2[r];')}
      if (g == 0u) { red[r * RS + SQ * GS + lane] = sq[r]; }
    }
    workgroupBarrier();
    if (lid < OPW * ROWS) {
      let gg = lid % OPW;
      let r = lid / OPW;
      let oo = o0 + gg;
      if (oo < total && n0 + r < p.N) {
        var s1 = 0.0;
        var s2 = 0.0;
        var ss = 0.0;
        for (var i = 0u; i < LANES; i++) {
          s1 += red[r * RS + ${paired ? '2u * gg' : 'gg'} * GS + i];
          ${pairOnly('s2 += red[r * RS + (2u * gg + 1u) * GS + i];')}
          ss += red[r * RS + SQ * GS + i];
        }
        let rstd = 1.0 / sqrt(ss / f32(p.C) + p.eps);
        finish(oo, n0 + r, rstd * s1, rstd * s2);
      }
    }
    workgroupBarrier();
  }
}
`;
}

/** The serial body: one invocation per output (pair) for every row; y = Σ_k normed[n, k] · W[o, k] in order
 * of k, with normed = g · (x · rstd) and rstd as rmsnorm_forward computes it (WG 128). */
function serialBody(paired: boolean): string {
  const pairOnly = (s: string) => (paired ? s : '');
  return /* wgsl */ `
const WG = ${FUSED_WG}u;
const ROWS = ${ROWS}u;
const MAX_ROWS = ${FUSED_MAX_ROWS}u;
var<workgroup> rstds: array<f32, MAX_ROWS>;

fn inpAt(i: u32) -> f32 { return inp[i / 4u][i % 4u]; }

// rmsnorm_forward's 1/rms of row n: the partial Σ x² of each of its 128 invocations, then its tree.
fn rowRstd(n: u32) -> f32 {
  var part: array<f32, 128>;
  let base = inRow(n) * p.C;
  for (var l = 0u; l < 128u; l++) {
    var ss = 0.0;
    for (var c = l; c < p.C; c += 128u) {
      let x = inpAt(base + c);
      ss += x * x;
    }
    part[l] = ss;
  }
  for (var s = 64u; s > 0u; s >>= 1u) {
    for (var i = 0u; i < s; i++) { part[i] += part[i + s]; }
  }
  return 1.0 / sqrt(part[0] / f32(p.C) + p.eps);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  if (lid < p.N) { rstds[lid] = rowRstd(lid); }
  workgroupBarrier();
  let o = (wid.x + wid.y * nwg.x) * WG + lid;
  if (o >= count()) { return; }
  let C4 = p.C / 4u;
  for (var n0 = 0u; n0 < p.N; n0 += ROWS) {
    var a1 = array<f32, ROWS>();
    ${pairOnly('var a2 = array<f32, ROWS>();')}
    for (var k = 0u; k < C4; k++) {
      let wa = w1(o, k);
      ${pairOnly('let wb = w2(o, k);')}
      let gk = lnw[k];
      for (var r = 0u; r < ROWS; r++) {
        let n = n0 + r;
        if (n < p.N) {
          let x = inp[inRow(n) * C4 + k];
          let rs = rstds[n];
          for (var j = 0u; j < 4u; j++) {
            let xn = gk[j] * (x[j] * rs);
            a1[r] += xn * wa[j];
            ${pairOnly('a2[r] += xn * wb[j];')}
          }
        }
      }
    }
    for (var r = 0u; r < ROWS; r++) {
      if (n0 + r < p.N) { finish(o, n0 + r, a1[r], ${paired ? 'a2[r]' : '0.0'}); }
    }
  }
}
`;
}

/** Outputs per workgroup of a variant (LANES for the lanes one). */
export function fusedOutputsPerWorkgroup(variant: FusedVariant, lanes: number): number {
  return variant === 'serial' ? FUSED_WG : FUSED_WG / lanes;
}

type Family = Record<FusedVariant, (dtype: WeightDtype) => KernelDef>;

/** Both variants of a fused kernel, each built once per weight dtype. */
function family(
  name: string,
  bindings: [string, BindingKind][],
  params: [string, ParamType][],
  header: (dtype: WeightDtype) => string,
  paired: boolean,
): Family {
  const make = (variant: FusedVariant, body: string) =>
    perDtype((dtype, suffix) => ({
      name: `${name}${variant === 'serial' ? '_serial' : ''}${suffix}`,
      bindings,
      params,
      source: `${header(dtype)}\n${body}`,
    }));
  return { lanes: make('lanes', lanesBody(paired)), serial: make('serial', serialBody(paired)) };
}

const normInputs = (first: number) => /* wgsl */ `
@group(0) @binding(${first}) var<storage, read> inp: array<vec4f>;  // (rows, C / 4)
@group(0) @binding(${first + 1}) var<storage, read> lnw: array<vec4f>;  // (C / 4) the norm's weight`;

/**
 * q (N, H·D) = rope(rmsnorm(inp) · Wqᵀ + bq); the cache rows (n / T) · outT + outStart + n % T of kc and
 * vc (·, KVH·D) get rope(… Wk, bk) and … Wv + bv. One output pair (i, i + D/2) of one head per group:
 * RoPE rotates exactly that pair. Grid: ⌈(H + 2·KVH)·D/2 / OPW⌉ workgroups.
 */
export const fusedQkvRopeKernel: Family = family(
  'fused_qkv_rope',
  [
    ['q', 'storage'],
    ['kc', 'storage'],
    ['vc', 'storage'],
    ['inp', 'read-only-storage'],
    ['lnw', 'read-only-storage'],
    ['qw', 'read-only-storage'],
    ['kw', 'read-only-storage'],
    ['vw', 'read-only-storage'],
    ['qb', 'read-only-storage'],
    ['kb', 'read-only-storage'],
    ['vb', 'read-only-storage'],
    ['cs', 'read-only-storage'],
  ],
  [
    ['N', 'u32'],
    ['C', 'u32'],
    ['H', 'u32'],
    ['KVH', 'u32'],
    ['D', 'u32'],
    ['T', 'u32'],
    ['outT', 'u32'],
    ['outStart', 'u32'],
    ['eps', 'f32'],
  ],
  (dtype) => /* wgsl */ `
struct Params { N: u32, C: u32, H: u32, KVH: u32, D: u32, T: u32, outT: u32, outStart: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;   // (N, H·D)
@group(0) @binding(2) var<storage, read_write> kc: array<f32>;  // (B·outT, KVH·D)
@group(0) @binding(3) var<storage, read_write> vc: array<f32>;  // (B·outT, KVH·D)
${normInputs(4)}
${weightBinding(6, 'qw', dtype, true)}
${weightBinding(7, 'kw', dtype, true)}
${weightBinding(8, 'vw', dtype, true)}
@group(0) @binding(9) var<storage, read> qb: array<f32>;   // each read only if its HAS_*B
@group(0) @binding(10) var<storage, read> kb: array<f32>;
@group(0) @binding(11) var<storage, read> vb: array<f32>;
@group(0) @binding(12) var<storage, read> cs: array<f32>;  // (N, D) cos, then sin

override HAS_QB: bool = false;
override HAS_KB: bool = false;
override HAS_VB: bool = false;

fn count() -> u32 { return (p.H + 2u * p.KVH) * (p.D / 2u); }
fn inRow(n: u32) -> u32 { return n; }

// Output pair o: projection 0 (q), 1 (k) or 2 (v), its head, and the weight row of the pair's first half.
struct Pair { proj: u32, head: u32, i: u32, row: u32 }
fn pairOf(o: u32) -> Pair {
  let half = p.D / 2u;
  let hh = o / half;
  let i = o % half;
  var proj = 0u;
  var head = hh;
  if (hh >= p.H + p.KVH) { proj = 2u; head = hh - p.H - p.KVH; }
  else if (hh >= p.H) { proj = 1u; head = hh - p.H; }
  return Pair(proj, head, i, head * p.D + i);
}
fn wrow(proj: u32, row: u32, k: u32) -> vec4f {
  let i4 = row * (p.C / 4u) + k;
  if (proj == 0u) { return qw_at4(i4); }
  if (proj == 1u) { return kw_at4(i4); }
  return vw_at4(i4);
}
fn w1(o: u32, k: u32) -> vec4f { let a = pairOf(o); return wrow(a.proj, a.row, k); }
fn w2(o: u32, k: u32) -> vec4f { let a = pairOf(o); return wrow(a.proj, a.row + p.D / 2u, k); }
fn biasAt(proj: u32, row: u32) -> f32 {
  if (proj == 0u && HAS_QB) { return qb[row]; }
  if (proj == 1u && HAS_KB) { return kb[row]; }
  if (proj == 2u && HAS_VB) { return vb[row]; }
  return 0.0;
}

fn finish(o: u32, n: u32, y1: f32, y2: f32) {
  let a = pairOf(o);
  let half = p.D / 2u;
  let x1 = y1 + biasAt(a.proj, a.row);
  let x2 = y2 + biasAt(a.proj, a.row + half);
  let cacheRow = (n / p.T) * p.outT + p.outStart + n % p.T;
  let kvBase = (cacheRow * p.KVH + a.head) * p.D + a.i;
  if (a.proj == 2u) {
    vc[kvBase] = x1;
    vc[kvBase + half] = x2;
    return;
  }
  let c = cs[n * p.D + a.i];
  let s = cs[n * p.D + half + a.i];
  let r1 = x1 * c - x2 * s;
  let r2 = x2 * c + x1 * s;
  if (a.proj == 0u) {
    let qBase = (n * p.H + a.head) * p.D + a.i;
    q[qBase] = r1;
    q[qBase + half] = r2;
  } else {
    kc[kvBase] = r1;
    kc[kvBase + half] = r2;
  }
}
`,
  true,
);

/** act (N, I) = silu(rmsnorm(inp) · Wgᵀ) · (rmsnorm(inp) · Wuᵀ). Grid: ⌈I / OPW⌉ workgroups. */
export const fusedNormSwigluKernel: Family = family(
  'fused_norm_swiglu',
  [
    ['act', 'storage'],
    ['inp', 'read-only-storage'],
    ['lnw', 'read-only-storage'],
    ['gw', 'read-only-storage'],
    ['uw', 'read-only-storage'],
  ],
  [
    ['N', 'u32'],
    ['C', 'u32'],
    ['I', 'u32'],
    ['eps', 'f32'],
  ],
  (dtype) => /* wgsl */ `
struct Params { N: u32, C: u32, I: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> act: array<f32>;  // (N, I)
${normInputs(2)}
${weightBinding(4, 'gw', dtype, true)}
${weightBinding(5, 'uw', dtype, true)}

fn count() -> u32 { return p.I; }
fn inRow(n: u32) -> u32 { return n; }
fn w1(o: u32, k: u32) -> vec4f { return gw_at4(o * (p.C / 4u) + k); }
fn w2(o: u32, k: u32) -> vec4f { return uw_at4(o * (p.C / 4u) + k); }

fn finish(o: u32, n: u32, gate: f32, up: f32) {
  // sigmoid without overflow, as swiglu_forward: e = exp(−|g|) ≤ 1
  let e = exp(-abs(gate));
  let sig = select(e / (1.0 + e), 1.0 / (1.0 + e), gate >= 0.0);
  act[n * p.I + o] = gate * sig * up;
}
`,
  true,
);

/** out (N, OC) = rmsnorm(inp row n · inStride + inOffset) · Wᵀ. Grid: ⌈OC / OPW⌉ workgroups. */
export const fusedNormLinearKernel: Family = family(
  'fused_norm_linear',
  [
    ['out', 'storage'],
    ['inp', 'read-only-storage'],
    ['lnw', 'read-only-storage'],
    ['weight', 'read-only-storage'],
  ],
  [
    ['N', 'u32'],
    ['C', 'u32'],
    ['OC', 'u32'],
    ['inStride', 'u32'],
    ['inOffset', 'u32'],
    ['eps', 'f32'],
  ],
  (dtype) => /* wgsl */ `
struct Params { N: u32, C: u32, OC: u32, inStride: u32, inOffset: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (N, OC)
${normInputs(2)}
${weightBinding(4, 'weight', dtype, true)}

fn count() -> u32 { return p.OC; }
fn inRow(n: u32) -> u32 { return n * p.inStride + p.inOffset; }
fn w1(o: u32, k: u32) -> vec4f { return weight_at4(o * (p.C / 4u) + k); }

fn finish(o: u32, n: u32, y: f32, unused: f32) { out[n * p.OC + o] = y; }
`,
  false,
);
