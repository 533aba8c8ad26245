// Backward of causal grouped-query attention (attention.wgsl.ts; ref/attention.ts attentionBackward),
// FlashAttention-2 style: no (Tq, Tk) buffer. The probabilities are recomputed tile by tile from q, k, the
// mask and the forward's per-query log-sum-exp lse (p_ij = exp(s·q_i·k_j − lse_i)). With s = 1/√D:
//   dp_ij = dout_i · v_j;  delta_i = Σ_j p_ij dp_ij;  dscore_ij = p_ij (dp_ij − delta_i) · s
//   dq_i = Σ_j dscore_ij k_j;  dk_j = Σ_{h, i} dscore_ij q_i;  dv_j = Σ_{h, i} p_ij dout_i
// delta_i is summed from the very p and dp the dscores use (one more pass over the keys), not taken as
// dout_i · out_i as FlashAttention-2 does: that differs by the forward's rounding, so Σ_j dscore_ij, zero
// in exact arithmetic, is not zero to rounding, and gradients that should be ~0 (k_proj.bias along the
// slowest RoPE pair) get noise that Adam then scales up to a full step (test/gpu/train.test.ts, SFT).
// Two kernels, no atomics (WGSL has none for f32), each recomputing p and dp for its tiles:
// attention_backward_dq, one workgroup per (b, h, tile of queries), writes dq and delta;
// attention_backward_dkdv, one workgroup per (b, kv head, tile of keys), reads delta and sums over the
// H / KVH query heads of its group and the queries, in a fixed order.
// Query i is absolute position qStart + i and sees key j iff j ≤ qStart + i and mask[b, j] ≠ 0 (the
// forward's rule); k, v, mask hold Tk positions per row. A query with no visible key gets dq = 0 and
// gives nothing to dk, dv. Tiles are TILE queries × TILE keys (TILE² ≤ 64 invocations score one pair
// each); q, dout, k and v tiles of TILE·D floats sit in workgroup memory, and each invocation owns OWN of
// the TILE·D outputs (≤ MAX_OWN: opsBackward.ts attentionBackwardTile keeps TILE·D ≤ 64·MAX_OWN).
import type { KernelDef } from '../pipelines.ts';

const params = [
  ['B', 'u32'],
  ['Tq', 'u32'],
  ['Tk', 'u32'],
  ['qStart', 'u32'],
  ['H', 'u32'],
  ['KVH', 'u32'],
  ['scale', 'f32'],
  ['tile', 'u32'],
] as const;

// What both kernels share: the tiles, the visibility rule, and p, dp and dscore of one (query, key) pair.
const common = /* wgsl */ `
// p.tile = TILE: the loops over a tile's rows or columns nested in the (unrolled) loop over an invocation's
// outputs read the uniform, so that a driver does not unroll them too: lavapipe's LLVM took 10-20 s to
// compile each kernel with the whole nest unrolled.
struct Params { B: u32, Tq: u32, Tk: u32, qStart: u32, H: u32, KVH: u32, scale: f32, tile: u32 }
@group(0) @binding(0) var<uniform> p: Params;

override D: u32 = 64;
override TILE: u32 = 8;
override OWN: u32 = 8; // outputs an invocation owns: ⌈TILE·D / WG⌉ ≤ MAX_OWN
const WG = 64u;
const MAX_OWN = 16u;

var<workgroup> qs: array<f32, TILE * D>;  // the query tile's q rows (0 past Tq)
var<workgroup> dos: array<f32, TILE * D>; // and their dout rows
var<workgroup> ks: array<f32, TILE * D>;  // the key tile's k rows (0 past Tk)
var<workgroup> vs: array<f32, TILE * D>;  // and their v rows
var<workgroup> lses: array<f32, TILE>;    // lse of the query tile's rows
var<workgroup> deltas: array<f32, TILE>;  // delta of the query tile's rows
var<workgroup> dss: array<f32, TILE * TILE>; // dscore of (query row, key column)

fn visible(b: u32, i: u32, j: u32) -> bool {
  return i < p.Tq && j < p.Tk && j <= p.qStart + i && mask[b * p.Tk + j] != 0u;
}

// p and dp of query row r = i − i0 and key column c = j − j0 of the loaded tiles; 0 if not visible.
fn prob_and_dprob(b: u32, i0: u32, j0: u32, r: u32, c: u32) -> vec2f {
  if (!visible(b, i0 + r, j0 + c)) { return vec2f(0.0); }
  var sdot = 0.0;
  var dp = 0.0;
  for (var d = 0u; d < D; d++) {
    sdot += qs[r * D + d] * ks[c * D + d];
    dp += dos[r * D + d] * vs[c * D + d];
  }
  return vec2f(exp(sdot * p.scale - lses[r]), dp);
}

fn dscore(g: vec2f, r: u32) -> f32 {
  return g.x * (g.y - deltas[r]) * p.scale;
}

// The k, v rows of keys j0 .. j0 + TILE − 1 of kv head kvh into ks, vs.
fn load_keys(b: u32, kvh: u32, j0: u32, lid: u32) {
  let row = p.KVH * D;
  for (var e = lid; e < TILE * D; e += WG) {
    let j = j0 + e / D;
    var kx = 0.0;
    var vx = 0.0;
    if (j < p.Tk) {
      let at = (b * p.Tk + j) * row + kvh * D + e % D;
      kx = k[at];
      vx = v[at];
    }
    ks[e] = kx;
    vs[e] = vx;
  }
}

// The q, dout rows of queries i0 .. i0 + TILE − 1 of head h into qs, dos.
fn load_queries(b: u32, h: u32, i0: u32, lid: u32) {
  let row = p.H * D;
  for (var e = lid; e < TILE * D; e += WG) {
    let i = i0 + e / D;
    var qx = 0.0;
    var dx = 0.0;
    if (i < p.Tq) {
      let at = (b * p.Tq + i) * row + h * D + e % D;
      qx = q[at];
      dx = dout[at];
    }
    qs[e] = qx;
    dos[e] = dx;
  }
}
`;

/** dq (overwritten) and delta (B, H, Tq); one workgroup per (b, h, query tile). */
export const attentionBackwardDqKernel: KernelDef = {
  name: 'attention_backward_dq',
  bindings: [
    ['dq', 'storage'],
    ['delta', 'storage'],
    ['dout', 'read-only-storage'],
    ['lse', 'read-only-storage'],
    ['q', 'read-only-storage'],
    ['k', 'read-only-storage'],
    ['v', 'read-only-storage'],
    ['mask', 'read-only-storage'],
  ],
  params,
  source: /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> dq: array<f32>;    // (B, Tq, H·D)
@group(0) @binding(2) var<storage, read_write> delta: array<f32>; // (B, H, Tq)
@group(0) @binding(3) var<storage, read> dout: array<f32>;        // (B, Tq, H·D)
@group(0) @binding(4) var<storage, read> lse: array<f32>;         // (B, H, Tq)
@group(0) @binding(5) var<storage, read> q: array<f32>;           // (B, Tq, H·D), after RoPE
@group(0) @binding(6) var<storage, read> k: array<f32>;           // (B, Tk, KVH·D), after RoPE
@group(0) @binding(7) var<storage, read> v: array<f32>;           // (B, Tk, KVH·D)
@group(0) @binding(8) var<storage, read> mask: array<u32>;        // (B, Tk), 1 = real token
${common}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let nQT = (p.Tq + TILE - 1u) / TILE;
  let idx = wid.x + wid.y * nwg.x;
  if (idx >= p.B * p.H * nQT) { return; }
  let i0 = (idx % nQT) * TILE;
  let h = (idx / nQT) % p.H;
  let b = idx / (nQT * p.H);
  let kvh = h / (p.H / p.KVH);
  load_queries(b, h, i0, lid);
  if (lid < TILE) {
    var ls = 0.0;
    if (i0 + lid < p.Tq) { ls = lse[(b * p.H + h) * p.Tq + i0 + lid]; }
    lses[lid] = ls;
  }
  // Key tiles up to the last key the tile's last query sees.
  let lastKey = min(p.qStart + min(i0 + TILE, p.Tq) - 1u, p.Tk - 1u);
  let nKT = lastKey / TILE + 1u;

  // First pass: delta. Invocation (r, c) sums p dp over column c of every key tile, then row r's sum.
  var pdp = 0.0;
  for (var kt = 0u; kt < nKT; kt++) {
    workgroupBarrier();
    load_keys(b, kvh, kt * TILE, lid);
    workgroupBarrier();
    if (lid < TILE * TILE) {
      let g = prob_and_dprob(b, i0, kt * TILE, lid / TILE, lid % TILE);
      pdp += g.x * g.y;
    }
  }
  workgroupBarrier();
  if (lid < TILE * TILE) { dss[lid] = pdp; }
  workgroupBarrier();
  if (lid < TILE) {
    var sum = 0.0;
    for (var c = 0u; c < p.tile; c++) { sum += dss[lid * TILE + c]; }
    deltas[lid] = sum;
    if (i0 + lid < p.Tq) { delta[(b * p.H + h) * p.Tq + i0 + lid] = sum; }
  }

  // Second pass: dscore, and dq = Σ_j dscore_j k_j.
  var acc: array<f32, MAX_OWN>;
  for (var kt = 0u; kt < nKT; kt++) {
    let j0 = kt * TILE;
    workgroupBarrier();
    load_keys(b, kvh, j0, lid);
    workgroupBarrier();
    if (lid < TILE * TILE) {
      let r = lid / TILE;
      dss[lid] = dscore(prob_and_dprob(b, i0, j0, r, lid % TILE), r);
    }
    workgroupBarrier();
    for (var u = 0u; u < OWN; u++) {
      let e = lid + u * WG;
      if (e < TILE * D) {
        let r = e / D;
        let d = e % D;
        var a = acc[u];
        for (var c = 0u; c < p.tile; c++) { a += dss[r * TILE + c] * ks[c * D + d]; }
        acc[u] = a;
      }
    }
  }
  for (var u = 0u; u < OWN; u++) {
    let e = lid + u * WG;
    let i = i0 + e / D;
    if (e < TILE * D && i < p.Tq) { dq[(b * p.Tq + i) * p.H * D + h * D + e % D] = acc[u]; }
  }
}
`,
};

/** dk, dv (overwritten) from delta (attention_backward_dq's); one workgroup per (b, kv head, key tile). */
export const attentionBackwardDkDvKernel: KernelDef = {
  name: 'attention_backward_dkdv',
  bindings: [
    ['dk', 'storage'],
    ['dv', 'storage'],
    ['delta', 'read-only-storage'],
    ['dout', 'read-only-storage'],
    ['lse', 'read-only-storage'],
    ['q', 'read-only-storage'],
    ['k', 'read-only-storage'],
    ['v', 'read-only-storage'],
    ['mask', 'read-only-storage'],
  ],
  params,
  source: /* wgsl */ `
@group(0) @binding(1) var<storage, read_write> dk: array<f32>; // (B, Tk, KVH·D)
@group(0) @binding(2) var<storage, read_write> dv: array<f32>; // (B, Tk, KVH·D)
@group(0) @binding(3) var<storage, read> delta: array<f32>;    // (B, H, Tq)
@group(0) @binding(4) var<storage, read> dout: array<f32>;     // (B, Tq, H·D)
@group(0) @binding(5) var<storage, read> lse: array<f32>;      // (B, H, Tq)
@group(0) @binding(6) var<storage, read> q: array<f32>;        // (B, Tq, H·D), after RoPE
@group(0) @binding(7) var<storage, read> k: array<f32>;        // (B, Tk, KVH·D), after RoPE
@group(0) @binding(8) var<storage, read> v: array<f32>;        // (B, Tk, KVH·D)
@group(0) @binding(9) var<storage, read> mask: array<u32>;     // (B, Tk), 1 = real token
${common}
var<workgroup> ps: array<f32, TILE * TILE>; // p of (query row, key column)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let nKT = (p.Tk + TILE - 1u) / TILE;
  let idx = wid.x + wid.y * nwg.x;
  if (idx >= p.B * p.KVH * nKT) { return; }
  let j0 = (idx % nKT) * TILE;
  let kvh = (idx / nKT) % p.KVH;
  let b = idx / (nKT * p.KVH);
  let group = p.H / p.KVH;
  load_keys(b, kvh, j0, lid);
  // Query tiles from the first query that sees key j0 (qStart + i ≥ j0).
  let firstTile = select(0u, j0 - p.qStart, j0 > p.qStart) / TILE;
  let nQT = (p.Tq + TILE - 1u) / TILE;
  var accK: array<f32, MAX_OWN>;
  var accV: array<f32, MAX_OWN>;
  for (var hh = 0u; hh < group; hh++) {
    let h = kvh * group + hh;
    for (var qt = firstTile; qt < nQT; qt++) {
      let i0 = qt * TILE;
      workgroupBarrier();
      load_queries(b, h, i0, lid);
      if (lid < TILE) {
        let i = i0 + lid;
        var dl = 0.0;
        var ls = 0.0;
        if (i < p.Tq) {
          let row = (b * p.H + h) * p.Tq + i;
          dl = delta[row];
          ls = lse[row];
        }
        deltas[lid] = dl;
        lses[lid] = ls;
      }
      workgroupBarrier();
      if (lid < TILE * TILE) {
        let r = lid / TILE;
        let g = prob_and_dprob(b, i0, j0, r, lid % TILE);
        ps[lid] = g.x;
        dss[lid] = dscore(g, r);
      }
      workgroupBarrier();
      for (var u = 0u; u < OWN; u++) {
        let e = lid + u * WG;
        if (e < TILE * D) {
          let c = e / D;
          let d = e % D;
          var ak = accK[u];
          var av = accV[u];
          for (var r = 0u; r < p.tile; r++) {
            ak += dss[r * TILE + c] * qs[r * D + d];
            av += ps[r * TILE + c] * dos[r * D + d];
          }
          accK[u] = ak;
          accV[u] = av;
        }
      }
    }
  }
  for (var u = 0u; u < OWN; u++) {
    let e = lid + u * WG;
    let j = j0 + e / D;
    if (e < TILE * D && j < p.Tk) {
      let at = (b * p.Tk + j) * p.KVH * D + kvh * D + e % D;
      dk[at] = accK[u];
      dv[at] = accV[u];
    }
  }
}
`,
};
