// Causal grouped-query attention with a key mask, a query offset and a KV cache (ref/attention.ts).
// Query i of row b is absolute position qStart + i; it attends key j iff j ≤ qStart + i and
// mask[b, j] ≠ 0. Query head h reads key/value head h / (H / KVH). k, v, mask have room for kvStride
// positions per row. A query with no visible key outputs zeros.
// One workgroup per (b, h, i): keys in chunks of WG (one score per invocation), online softmax, each
// invocation owning output dimensions d ≡ lid (mod WG). D ≤ 4·WG.
// With WRITE_LSE (training), it also writes each query's log-sum-exp of its scaled scores,
// lse[b, h, i] = m + log l (0 for a query with no visible key), from which the backward
// (attentionBackward.wgsl.ts) recomputes the probabilities. Inference binds a dummy there: the branch
// is compiled out.
import type { KernelDef } from '../pipelines.ts';

export const attentionForwardKernel: KernelDef = {
  name: 'attention_forward',
  bindings: [
    ['out', 'storage'],
    ['q', 'read-only-storage'],
    ['k', 'read-only-storage'],
    ['v', 'read-only-storage'],
    ['mask', 'read-only-storage'],
    ['lse', 'storage'],
  ],
  params: [
    ['B', 'u32'],
    ['Tq', 'u32'],
    ['Tk', 'u32'],
    ['qStart', 'u32'],
    ['H', 'u32'],
    ['KVH', 'u32'],
    ['kvStride', 'u32'],
    ['scale', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { B: u32, Tq: u32, Tk: u32, qStart: u32, H: u32, KVH: u32, kvStride: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (B, Tq, H·D)
@group(0) @binding(2) var<storage, read> q: array<f32>;         // (B, Tq, H·D), after RoPE
@group(0) @binding(3) var<storage, read> k: array<f32>;         // (B, kvStride, KVH·D), after RoPE
@group(0) @binding(4) var<storage, read> v: array<f32>;         // (B, kvStride, KVH·D)
@group(0) @binding(5) var<storage, read> mask: array<u32>;      // (B, kvStride), 1 = real token
@group(0) @binding(6) var<storage, read_write> lse: array<f32>; // (B, H, Tq) with WRITE_LSE

override D: u32 = 64;
override WG: u32 = 64;
override WRITE_LSE: bool = false;
const NEG = -3.0e38;

var<workgroup> qs: array<f32, D>;
var<workgroup> ps: array<f32, WG>;

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
  for (var d = lid; d < D; d += WG) { qs[d] = q[qBase + d]; }
  workgroupBarrier();

  let last = min(p.qStart + i, p.Tk - 1u);
  let rowStride = p.KVH * D;
  var m = NEG;
  var l = 0.0;
  var acc: array<f32, 4>;
  let nChunks = last / WG + 1u;
  for (var c = 0u; c < nChunks; c++) {
    let j = c * WG + lid;
    var s = NEG;
    var ok = false;
    if (j <= last && mask[b * p.kvStride + j] != 0u) {
      let kBase = (b * p.kvStride + j) * rowStride + kvh * D;
      var dotv = 0.0;
      for (var d = 0u; d < D; d++) { dotv += qs[d] * k[kBase + d]; }
      s = dotv * p.scale;
      ok = true;
    }
    ps[lid] = s;
    workgroupBarrier();
    var cmax = NEG;
    for (var t = 0u; t < WG; t++) { cmax = max(cmax, ps[t]); }
    let mNew = max(m, cmax);
    workgroupBarrier();
    var e = 0.0;
    if (ok) { e = exp(s - mNew); }
    ps[lid] = e;
    workgroupBarrier();
    let corr = exp(m - mNew);
    var psum = 0.0;
    for (var t = 0u; t < WG; t++) { psum += ps[t]; }
    l = l * corr + psum;
    for (var r = 0u; r < 4u; r++) {
      let d = lid + r * WG;
      if (d < D) {
        var a = acc[r] * corr;
        for (var t = 0u; t < WG; t++) {
          let pt = ps[t];
          if (pt != 0.0) { a += pt * v[(b * p.kvStride + c * WG + t) * rowStride + kvh * D + d]; }
        }
        acc[r] = a;
      }
    }
    m = mNew;
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let d = lid + r * WG;
    if (d < D) { out[qBase + d] = select(0.0, acc[r] / l, l > 0.0); }
  }
  if (WRITE_LSE && lid == 0u) { lse[(b * p.H + h) * p.Tq + i] = select(0.0, m + log(l), l > 0.0); }
}
`,
};
