// Linear layer in HF layout: out (N, OC) = alpha · inp (N, IC) · Wᵀ + bias + beta · out, W (OC, IC).
// With W_IN_OUT the weight is read as (IC, OC) instead: the dense mixture probs (N, V) @ wte (V, C).
// beta = 1 accumulates into out (the residual stream, the LoRA term); beta = 0 never reads out.
// Numbered versions as in llm.c dev/cuda; each is checked against ref/linear.ts in test/gpu and timed
// in bench/kernels.bench.ts. ops.ts pickMatmulVersion says which one runs where.

import type { WeightDtype } from '../buffers.ts';
import type { BindingKind, ParamType } from '../pipelines.ts';
import { perDtype, weightBinding } from './weightLoad.wgsl.ts';

/** The numbered matmul versions of this workbench (ops.ts MATMUL_KERNELS maps each to its kernel). */
export type MatmulVersion = 1 | 2 | 3 | 4 | 5 | 6;

const bindings: readonly (readonly [string, BindingKind])[] = [
  ['out', 'storage'],
  ['inp', 'read-only-storage'],
  ['weight', 'read-only-storage'],
  ['bias', 'read-only-storage'],
];
const params: readonly (readonly [string, ParamType])[] = [
  ['N', 'u32'],
  ['IC', 'u32'],
  ['OC', 'u32'],
  ['alpha', 'f32'],
  ['beta', 'f32'],
];

// weight (OC, IC), or (IC, OC) if W_IN_OUT, in the storage dtype (weightLoad.wgsl.ts).
const header = (dtype: WeightDtype) => /* wgsl */ `
struct Params { N: u32, IC: u32, OC: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (N, OC)
@group(0) @binding(2) var<storage, read> inp: array<f32>;        // (N, IC)
${weightBinding(3, 'weight', dtype)}
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // (OC), read only if HAS_BIAS

override HAS_BIAS: bool = false;
override W_IN_OUT: bool = false;

fn w_at(o: u32, k: u32) -> f32 {
  if (W_IN_OUT) { return weight_at(k * p.OC + o); }
  return weight_at(o * p.IC + k);
}

fn store(n: u32, o: u32, acc: f32) {
  let i = n * p.OC + o;
  var v = p.alpha * acc;
  if (HAS_BIAS) { v += bias[o]; }
  if (p.beta != 0.0) { v += p.beta * out[i]; }
  out[i] = v;
}
`;

/** v1: one invocation per output element, 16×16 workgroups. Grid (⌈OC/16⌉, ⌈N/16⌉). */
export const matmulV1Kernel = perDtype((dtype, suffix) => ({
  name: `matmul_forward_v1${suffix}`,
  bindings,
  params,
  source: /* wgsl */ `${header(dtype)}
@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let o = gid.x;
  let n = gid.y;
  if (o >= p.OC || n >= p.N) { return; }
  var acc = 0.0;
  for (var k = 0u; k < p.IC; k++) { acc += inp[n * p.IC + k] * w_at(o, k); }
  store(n, o, acc);
}
`,
}));

/** v2: 16×16 output tile per workgroup, 16-wide k tiles staged in workgroup memory. Grid (⌈OC/16⌉, ⌈N/16⌉). */
export const matmulV2Kernel = perDtype((dtype, suffix) => ({
  name: `matmul_forward_v2${suffix}`,
  bindings,
  params,
  source: /* wgsl */ `${header(dtype)}
var<workgroup> As: array<f32, 256>; // [n][k]
var<workgroup> Ws: array<f32, 256>; // [o][k]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let n0 = wid.y * 16u;
  let o0 = wid.x * 16u;
  var acc = 0.0;
  for (var k0 = 0u; k0 < p.IC; k0 += 16u) {
    // thread (x, y) loads A[n0 + y, k0 + x] and W[o0 + y, k0 + x]
    let k = k0 + lid.x;
    var a = 0.0;
    if (n0 + lid.y < p.N && k < p.IC) { a = inp[(n0 + lid.y) * p.IC + k]; }
    As[lid.y * 16u + lid.x] = a;
    var w = 0.0;
    if (o0 + lid.y < p.OC && k < p.IC) { w = w_at(o0 + lid.y, k); }
    Ws[lid.y * 16u + lid.x] = w;
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) { acc += As[lid.y * 16u + kk] * Ws[lid.x * 16u + kk]; }
    workgroupBarrier();
  }
  if (n0 + lid.y < p.N && o0 + lid.x < p.OC) { store(n0 + lid.y, o0 + lid.x, acc); }
}
`,
}));

/**
 * v3: 64×64 output tile per workgroup of 16×16 invocations, 4×4 outputs each (rows ly + 16i, columns
 * lx + 16j), k in steps of 16 through workgroup memory. Grid (⌈OC/64⌉, ⌈N/64⌉).
 */
export const matmulV3Kernel = perDtype((dtype, suffix) => ({
  name: `matmul_forward_v3${suffix}`,
  bindings,
  params,
  source: /* wgsl */ `${header(dtype)}
const TILE = 64u;
const TK = 16u;
var<workgroup> As: array<f32, 1024>; // [k][n] (TK × TILE)
var<workgroup> Ws: array<f32, 1024>; // [k][o] (TK × TILE)

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let n0 = wid.y * TILE;
  let o0 = wid.x * TILE;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.IC; k0 += TK) {
    for (var e = 0u; e < 4u; e++) {
      let idx = li + e * 256u;
      // A tile: row r, column kk; consecutive invocations read consecutive k.
      let r = idx / TK;
      let kk = idx % TK;
      var a = 0.0;
      if (n0 + r < p.N && k0 + kk < p.IC) { a = inp[(n0 + r) * p.IC + k0 + kk]; }
      As[kk * TILE + r] = a;
      // W tile: consecutive invocations read consecutive k (HF layout) or consecutive o (W_IN_OUT).
      var wo = idx / TK;
      var wk = idx % TK;
      if (W_IN_OUT) {
        wo = idx % TILE;
        wk = idx / TILE;
      }
      var w = 0.0;
      if (o0 + wo < p.OC && k0 + wk < p.IC) { w = w_at(o0 + wo, k0 + wk); }
      Ws[wk * TILE + wo] = w;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = As[kk * TILE + lid.y + 16u * i];
        b[i] = Ws[kk * TILE + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let n = n0 + lid.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let o = o0 + lid.x + 16u * j;
      if (n < p.N && o < p.OC) { store(n, o, acc[i * 4u + j]); }
    }
  }
}
`,
}));

/**
 * v4 (GEMV, decode): one workgroup of WG invocations per output o; the invocations stride over k and
 * carry up to 8 rows of inp at once, so each weight row is read once per 8 rows; tree reduction.
 * HF layout only. Grid: OC workgroups (2-D when over the per-dimension limit).
 */
export const matmulV4Kernel = perDtype((dtype, suffix) => ({
  name: `matmul_forward_v4${suffix}`,
  bindings,
  params,
  source: /* wgsl */ `${header(dtype)}
const ROWS = 8u;
override WG: u32 = 256;
var<workgroup> red: array<f32, ROWS * WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  if (o >= p.OC) { return; }
  for (var n0 = 0u; n0 < p.N; n0 += ROWS) {
    // zeroed explicitly: some drivers keep a loop-local array's value across iterations
    var acc = array<f32, ROWS>();
    for (var k = lid; k < p.IC; k += WG) {
      let w = weight_at(o * p.IC + k);
      for (var r = 0u; r < ROWS; r++) {
        if (n0 + r < p.N) { acc[r] += w * inp[(n0 + r) * p.IC + k]; }
      }
    }
    for (var r = 0u; r < ROWS; r++) { red[r * WG + lid] = acc[r]; }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s) {
        for (var r = 0u; r < ROWS; r++) { red[r * WG + lid] += red[r * WG + lid + s]; }
      }
      workgroupBarrier();
    }
    if (lid < ROWS && n0 + lid < p.N) { store(n0 + lid, o, red[lid * WG]); }
    workgroupBarrier();
  }
}
`,
}));

/** v5: v4 with vec4 loads of the weight and inp rows. Needs IC % 4 = 0. */
export const matmulV5Kernel = perDtype((dtype, suffix) => ({
  name: `matmul_forward_v5${suffix}`,
  bindings,
  params,
  source: /* wgsl */ `
struct Params { N: u32, IC: u32, OC: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (N, OC)
@group(0) @binding(2) var<storage, read> inp: array<vec4f>;      // (N, IC / 4)
${weightBinding(3, 'weight', dtype, true)}
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // (OC), read only if HAS_BIAS

override HAS_BIAS: bool = false;
const ROWS = 8u;
override WG: u32 = 256;
var<workgroup> red: array<f32, ROWS * WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let o = wid.x + wid.y * nwg.x;
  if (o >= p.OC) { return; }
  let IC4 = p.IC / 4u;
  for (var n0 = 0u; n0 < p.N; n0 += ROWS) {
    // zeroed explicitly: some drivers keep a loop-local array's value across iterations
    var acc = array<f32, ROWS>();
    for (var k = lid; k < IC4; k += WG) {
      let w = weight_at4(o * IC4 + k);
      for (var r = 0u; r < ROWS; r++) {
        if (n0 + r < p.N) { acc[r] += dot(w, inp[(n0 + r) * IC4 + k]); }
      }
    }
    for (var r = 0u; r < ROWS; r++) { red[r * WG + lid] = acc[r]; }
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s) {
        for (var r = 0u; r < ROWS; r++) { red[r * WG + lid] += red[r * WG + lid + s]; }
      }
      workgroupBarrier();
    }
    if (lid < ROWS && n0 + lid < p.N) {
      let n = n0 + lid;
      let i = n * p.OC + o;
      var v = p.alpha * red[lid * WG];
      if (HAS_BIAS) { v += bias[o]; }
      if (p.beta != 0.0) { v += p.beta * out[i]; }
      out[i] = v;
    }
    workgroupBarrier();
  }
}
`,
}));

/**
 * v6 (GEMV, decode): LANES invocations per output and 256 / LANES outputs per workgroup, vec4 loads of
 * the weight and inp rows, up to 8 rows of inp at once. Partial sums go to workgroup memory (padded
 * against bank conflicts); after one barrier, one invocation per (output, row) adds its LANES partials.
 * Needs IC % 4 = 0. Grid: ⌈OC / (256 / LANES)⌉ workgroups.
 */
export const matmulV6Kernel = perDtype((dtype, suffix) => ({
  name: `matmul_forward_v6${suffix}`,
  bindings,
  params,
  source: /* wgsl */ `
struct Params { N: u32, IC: u32, OC: u32, alpha: f32, beta: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (N, OC)
@group(0) @binding(2) var<storage, read> inp: array<vec4f>;      // (N, IC / 4)
${weightBinding(3, 'weight', dtype, true)}
@group(0) @binding(4) var<storage, read> bias: array<f32>;       // (OC), read only if HAS_BIAS

override HAS_BIAS: bool = false;
override LANES: u32 = 32;   // 8 ≤ LANES ≤ 256, a power of two
const WG = 256u;
const ROWS = 8u;
override OPW: u32 = WG / LANES;          // outputs per workgroup
override GS: u32 = LANES + 1u;           // padded stride of one output's partials
override RS: u32 = OPW * GS + 1u;        // padded stride of one row's partials
var<workgroup> red: array<f32, ROWS * RS>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let o0 = (wid.x + wid.y * nwg.x) * OPW;
  if (o0 >= p.OC) { return; }
  let g = lid / LANES;
  let lane = lid % LANES;
  let o = o0 + g;
  let IC4 = p.IC / 4u;
  for (var n0 = 0u; n0 < p.N; n0 += ROWS) {
    var acc = array<f32, ROWS>();
    if (o < p.OC) {
      for (var k = lane; k < IC4; k += LANES) {
        let w = weight_at4(o * IC4 + k);
        for (var r = 0u; r < ROWS; r++) {
          if (n0 + r < p.N) { acc[r] += dot(w, inp[(n0 + r) * IC4 + k]); }
        }
      }
    }
    for (var r = 0u; r < ROWS; r++) { red[r * RS + g * GS + lane] = acc[r]; }
    workgroupBarrier();
    if (lid < OPW * ROWS) {
      let gg = lid % OPW;
      let r = lid / OPW;
      let oo = o0 + gg;
      if (oo < p.OC && n0 + r < p.N) {
        var s = 0.0;
        for (var i = 0u; i < LANES; i++) { s += red[r * RS + gg * GS + i]; }
        let idx = (n0 + r) * p.OC + oo;
        var v = p.alpha * s;
        if (HAS_BIAS) { v += bias[oo]; }
        if (p.beta != 0.0) { v += p.beta * out[idx]; }
        out[idx] = v;
      }
    }
    workgroupBarrier();
  }
}
`,
}));
