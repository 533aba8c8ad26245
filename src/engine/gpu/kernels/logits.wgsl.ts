// Distributions from logits (ref/logits.ts): log-softmax, gathered log-probs, entropy of
// softmax(x / temperature), and the same entropy over the C hidden dimensions of a residual vector.
// One workgroup of WG (a power of two) invocations per row; two tree reductions per row.
import type { KernelDef } from '../pipelines.ts';

// Shared by the three kernels: row max of s·x, then Σ e^(s·x − max) (and Σ e·z for the entropy).
const reductions = /* wgsl */ `
override WG: u32 = 256;
const NEG = -3.0e38;
var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, WG>;

fn row_max(base: u32, n: u32, s: f32, lid: u32) -> f32 {
  var m = NEG;
  for (var i = lid; i < n; i += WG) { m = max(m, s * x[base + i]); }
  red[lid] = m;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] = max(red[lid], red[lid + st]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

// returns (Σ e^z, Σ e^z · z) with z = s·x − mx
fn row_sums(base: u32, n: u32, s: f32, mx: f32, lid: u32) -> vec2f {
  var a = 0.0;
  var b = 0.0;
  for (var i = lid; i < n; i += WG) {
    let z = s * x[base + i] - mx;
    let e = exp(z);
    a += e;
    b += e * z;
  }
  red[lid] = a;
  red2[lid] = b;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      red[lid] += red[lid + st];
      red2[lid] += red2[lid + st];
    }
    workgroupBarrier();
  }
  let r = vec2f(red[0], red2[0]);
  workgroupBarrier();
  return r;
}
`;

/** out (N, V) = log_softmax(x (N, V)) along V. */
export const logSoftmaxForwardKernel: KernelDef = {
  name: 'log_softmax_forward',
  bindings: [
    ['out', 'storage'],
    ['x', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (N, V)
@group(0) @binding(2) var<storage, read> x: array<f32>;         // (N, V) logits
${reductions}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.V;
  let mx = row_max(base, p.V, 1.0, lid);
  let lse = mx + log(row_sums(base, p.V, 1.0, mx, lid).x);
  for (var i = lid; i < p.V; i += WG) { out[base + i] = x[base + i] - lse; }
}
`,
};

/** out (N, K) = log_softmax(x)[n, targets[n, k]]: K targets per row (override K, default 1). */
export const gatherLogprobsForwardKernel: KernelDef = {
  name: 'gather_logprobs_forward',
  bindings: [
    ['out', 'storage'],
    ['x', 'read-only-storage'],
    ['targets', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (N, K)
@group(0) @binding(2) var<storage, read> x: array<f32>;         // (N, V) logits
@group(0) @binding(3) var<storage, read> targets: array<u32>;   // (N, K)
override K: u32 = 1u;
${reductions}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.V;
  let mx = row_max(base, p.V, 1.0, lid);
  let lse = mx + log(row_sums(base, p.V, 1.0, mx, lid).x);
  for (var k = lid; k < K; k += WG) {
    out[row * K + k] = x[base + min(targets[row * K + k], p.V - 1u)] - lse;
  }
}
`,
};

/**
 * out (N) = entropy (nats) of softmax(x[n] / temperature) over a row of V: next-token entropy of logits,
 * or with V = C and temperature 1 the hidden-state entropy of a residual vector (MOTG.md §4).
 */
export const entropyForwardKernel: KernelDef = {
  name: 'entropy_forward',
  bindings: [
    ['out', 'storage'],
    ['x', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['invTemperature', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, V: u32, invTemperature: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (N)
@group(0) @binding(2) var<storage, read> x: array<f32>;         // (N, V)
${reductions}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.V;
  let mx = row_max(base, p.V, p.invTemperature, lid);
  let sums = row_sums(base, p.V, p.invTemperature, mx, lid);
  if (lid == 0u) { out[row] = log(sums.x) - sums.y / sums.x; }
}
`,
};
