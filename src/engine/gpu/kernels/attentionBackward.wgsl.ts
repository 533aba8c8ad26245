// Backward of causal grouped-query attention (attention.wgsl.ts; ref/attention.ts attentionBackward).
// The probabilities are recomputed from q, k and the mask, not saved by the forward. With p the
// softmax row of query i and s = 1/√D:
//   dp_j = dout_i · v_j;  dscore_j = p_j (dp_j − Σ_k p_k dp_k) · s
//   dq_i = Σ_j dscore_j k_j;  dk_j = Σ_{h, i} dscore_ij q_i;  dv_j = Σ_{h, i} p_ij dout_i
// Two kernels, no atomics: attention_backward (one workgroup per query row) writes dq and the rows of
// p and dscore into two (B, H, Tq, Tk) buffers; attention_backward_kv (one invocation per element of
// dk/dv) sums them over the queries and the H / KVH heads of its group, in a fixed order.
// All of dq, dk, dv are activation gradients (overwritten). Query i is absolute position qStart + i and
// sees key j iff j ≤ qStart + i and mask[b, j] ≠ 0 (the forward's rule); k, v, mask hold Tk positions.
import type { KernelDef } from '../pipelines.ts';

const params = [
  ['B', 'u32'],
  ['Tq', 'u32'],
  ['Tk', 'u32'],
  ['qStart', 'u32'],
  ['H', 'u32'],
  ['KVH', 'u32'],
  ['scale', 'f32'],
] as const;

/**
 * One workgroup per (b, h, i). Invocation lid owns keys j ≡ lid (mod WG): it writes the score, then p,
 * then dp, then dscore of those keys into the att / dscore rows and reads back only its own; dq goes
 * through workgroup memory, WG keys at a time, each invocation owning dimensions d ≡ lid (mod WG).
 */
export const attentionBackwardKernel: KernelDef = {
  name: 'attention_backward',
  bindings: [
    ['dq', 'storage'],
    ['att', 'storage'],
    ['dscore', 'storage'],
    ['dout', 'read-only-storage'],
    ['q', 'read-only-storage'],
    ['k', 'read-only-storage'],
    ['v', 'read-only-storage'],
    ['mask', 'read-only-storage'],
  ],
  params,
  source: /* wgsl */ `
struct Params { B: u32, Tq: u32, Tk: u32, qStart: u32, H: u32, KVH: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dq: array<f32>;     // (B, Tq, H·D)
@group(0) @binding(2) var<storage, read_write> att: array<f32>;    // (B, H, Tq, Tk) probabilities
@group(0) @binding(3) var<storage, read_write> dscore: array<f32>; // (B, H, Tq, Tk) d loss / d score
@group(0) @binding(4) var<storage, read> dout: array<f32>;         // (B, Tq, H·D)
@group(0) @binding(5) var<storage, read> q: array<f32>;            // (B, Tq, H·D), after RoPE
@group(0) @binding(6) var<storage, read> k: array<f32>;            // (B, Tk, KVH·D), after RoPE
@group(0) @binding(7) var<storage, read> v: array<f32>;            // (B, Tk, KVH·D)
@group(0) @binding(8) var<storage, read> mask: array<u32>;         // (B, Tk), 1 = real token

override D: u32 = 64;
override WG: u32 = 64;
const NEG = -3.0e38;

var<workgroup> qs: array<f32, D>;
var<workgroup> dos: array<f32, D>;
var<workgroup> red: array<f32, WG>;
var<workgroup> ds: array<f32, WG>;

fn reduce_max(x: f32, lid: u32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] = max(red[lid], red[lid + st]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(x: f32, lid: u32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] += red[lid + st]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let idx = wid.x + wid.y * nwg.x;
  if (idx >= p.B * p.H * p.Tq) { return; }
  let i = idx % p.Tq;
  let h = (idx / p.Tq) % p.H;
  let b = idx / (p.Tq * p.H);
  let kvh = h / (p.H / p.KVH);
  let qBase = ((b * p.Tq + i) * p.H + h) * D;
  let aBase = ((b * p.H + h) * p.Tq + i) * p.Tk;
  let rowStride = p.KVH * D;
  for (var d = lid; d < D; d += WG) {
    qs[d] = q[qBase + d];
    dos[d] = dout[qBase + d];
  }
  workgroupBarrier();
  let last = min(p.qStart + i, p.Tk - 1u);

  // Scores of the visible keys (stored in att for now) and their max.
  var m = NEG;
  for (var j = lid; j < p.Tk; j += WG) {
    var s = NEG;
    if (j <= last && mask[b * p.Tk + j] != 0u) {
      let kBase = (b * p.Tk + j) * rowStride + kvh * D;
      var dotv = 0.0;
      for (var d = 0u; d < D; d++) { dotv += qs[d] * k[kBase + d]; }
      s = dotv * p.scale;
      m = max(m, s);
    }
    att[aBase + j] = s;
  }
  let mx = reduce_max(m, lid);
  var l = 0.0;
  for (var j = lid; j < p.Tk; j += WG) {
    if (j <= last && mask[b * p.Tk + j] != 0u) { l += exp(att[aBase + j] - mx); }
  }
  let sum = reduce_sum(l, lid);

  // p_j, dp_j = dout · v_j (kept in dscore for now) and Σ p_j dp_j.
  var pdp = 0.0;
  for (var j = lid; j < p.Tk; j += WG) {
    var pj = 0.0;
    var dp = 0.0;
    if (j <= last && mask[b * p.Tk + j] != 0u && sum > 0.0) {
      pj = exp(att[aBase + j] - mx) / sum;
      let vBase = (b * p.Tk + j) * rowStride + kvh * D;
      for (var d = 0u; d < D; d++) { dp += dos[d] * v[vBase + d]; }
    }
    att[aBase + j] = pj;
    dscore[aBase + j] = dp;
    pdp += pj * dp;
  }
  let sdp = reduce_sum(pdp, lid);

  // dscore_j = p_j (dp_j − Σ p dp) s, then dq = Σ_j dscore_j k_j, WG keys at a time.
  var acc: array<f32, 4>;
  let nChunks = (p.Tk + WG - 1u) / WG;
  for (var c = 0u; c < nChunks; c++) {
    let j = c * WG + lid;
    var g = 0.0;
    if (j < p.Tk) {
      let pj = att[aBase + j];
      if (pj != 0.0) { g = pj * (dscore[aBase + j] - sdp) * p.scale; }
      dscore[aBase + j] = g;
    }
    ds[lid] = g;
    workgroupBarrier();
    for (var r = 0u; r < 4u; r++) {
      let d = lid + r * WG;
      if (d < D) {
        var a = acc[r];
        for (var t = 0u; t < WG; t++) {
          let gt = ds[t];
          if (gt != 0.0) { a += gt * k[(b * p.Tk + c * WG + t) * rowStride + kvh * D + d]; }
        }
        acc[r] = a;
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let d = lid + r * WG;
    if (d < D) { dq[qBase + d] = acc[r]; }
  }
}
`,
};

/**
 * dk[b, j, kvh, d] = Σ_{h in group kvh} Σ_i dscore[b, h, i, j] · q[b, i, h, d] and dv likewise with att
 * and dout; i runs over the queries that can see key j (qStart + i ≥ j). One invocation per element.
 */
export const attentionBackwardKvKernel: KernelDef = {
  name: 'attention_backward_kv',
  bindings: [
    ['dk', 'storage'],
    ['dv', 'storage'],
    ['att', 'read-only-storage'],
    ['dscore', 'read-only-storage'],
    ['dout', 'read-only-storage'],
    ['q', 'read-only-storage'],
  ],
  params: [...params, ['D', 'u32']],
  source: /* wgsl */ `
struct Params { B: u32, Tq: u32, Tk: u32, qStart: u32, H: u32, KVH: u32, scale: f32, D: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dk: array<f32>;  // (B, Tk, KVH·D)
@group(0) @binding(2) var<storage, read_write> dv: array<f32>;  // (B, Tk, KVH·D)
@group(0) @binding(3) var<storage, read> att: array<f32>;       // (B, H, Tq, Tk)
@group(0) @binding(4) var<storage, read> dscore: array<f32>;    // (B, H, Tq, Tk)
@group(0) @binding(5) var<storage, read> dout: array<f32>;      // (B, Tq, H·D)
@group(0) @binding(6) var<storage, read> q: array<f32>;         // (B, Tq, H·D)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * WG;
  let width = p.KVH * p.D;
  if (idx >= p.B * p.Tk * width) { return; }
  let d = idx % p.D;
  let kvh = (idx / p.D) % p.KVH;
  let j = (idx / width) % p.Tk;
  let b = idx / (width * p.Tk);
  let group = p.H / p.KVH;
  var i0 = 0u;
  if (j > p.qStart) { i0 = j - p.qStart; }
  var gk = 0.0;
  var gv = 0.0;
  for (var hh = 0u; hh < group; hh++) {
    let h = kvh * group + hh;
    for (var i = i0; i < p.Tq; i++) {
      let a = ((b * p.H + h) * p.Tq + i) * p.Tk + j;
      let qi = ((b * p.Tq + i) * p.H + h) * p.D + d;
      gk += dscore[a] * q[qi];
      gv += att[a] * dout[qi];
    }
  }
  dk[idx] = gk;
  dv[idx] = gv;
}
`,
};
