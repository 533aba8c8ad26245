// The log-prob loss of lossBackward.wgsl.ts (ref/loss.ts weightedLogprobLoss) over the vocabulary in
// chunks, so training never holds the (N, V) logits (gpu/headChunks.ts strings these together):
//   forward, per chunk [v0, v0 + W) of lm_head: the chunk's logits (N, W) → each row's running max and
//     Σ exp(x − max) (an online log-sum-exp) and the logits of the K targets that fall in the chunk;
//   then once per row: lse, ℓ = Σ_k a_k (x[target_k] − lse) and the gradient weights a_k and s = Σ a_k,
//     exactly as logprobLossBackwardKernel forms them (fixed weights, or RENORM's q_k (1 + log p_k − ℓ));
//   backward, per chunk (its logits recomputed): dlogits[n, v] = dloss · coef[n] · (s · e^(x − lse) −
//     Σ_k a_k [v = target_k]), written over the chunk's logits.
// What the backward needs is O(N·K): the (N, 2) [lse, s] and the (N, K) a_k.
import type { KernelDef } from '../pipelines.ts';

/**
 * One chunk of W logits per row (x (N, W), vocabulary ids v0 … v0 + W − 1): stats (N, 2) = [max, Σ exp(x −
 * max)] updated (started afresh when `first`); gathered (N, K) = the logit of each target in the chunk.
 * targets (N, K) u32, clamped to V − 1 as the fused kernel does. Override K.
 */
export const headChunkLseKernel: KernelDef = {
  name: 'head_chunk_lse',
  bindings: [
    ['stats', 'storage'],
    ['gathered', 'storage'],
    ['x', 'read-only-storage'],
    ['targets', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['W', 'u32'],
    ['v0', 'u32'],
    ['V', 'u32'],
    ['first', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, W: u32, v0: u32, V: u32, first: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;    // (N, 2) running max, Σ exp(x − max)
@group(0) @binding(2) var<storage, read_write> gathered: array<f32>; // (N, K) the targets' logits
@group(0) @binding(3) var<storage, read> x: array<f32>;              // (N, W) this chunk's logits
@group(0) @binding(4) var<storage, read> targets: array<u32>;        // (N, K)

override WG: u32 = 256;
override K: u32 = 1u;
const NEG = -3.0e38;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.W;
  // Only invocation 0 reads and writes the row's stats, so no other invocation races with it.
  var mOld = NEG;
  var sOld = 0.0;
  if (lid == 0u && p.first == 0u) {
    mOld = stats[row * 2u];
    sOld = stats[row * 2u + 1u];
  }
  var m = mOld;
  for (var i = lid; i < p.W; i += WG) { m = max(m, x[base + i]); }
  red[lid] = m;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] = max(red[lid], red[lid + st]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  var s = 0.0;
  for (var i = lid; i < p.W; i += WG) { s += exp(x[base + i] - mx); }
  red[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] += red[lid + st]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    stats[row * 2u] = mx;
    stats[row * 2u + 1u] = red[0] + select(sOld * exp(mOld - mx), 0.0, p.first != 0u);
  }
  for (var k = lid; k < K; k += WG) {
    let t = min(targets[row * K + k], p.V - 1u);
    if (t >= p.v0 && t < p.v0 + p.W) { gathered[row * K + k] = x[base + t - p.v0]; }
  }
}
`,
};

/**
 * After the last chunk, one invocation per row: stats (N, 2) [max, Σ] → [lse, s]; gathered (N, K) the
 * targets' logits → their gradient weights a_k; logp (N) = ℓ; with HAS_TLP, tlp (N, K) = log_softmax of
 * each target. weights (N, K) read only with HAS_W. Overrides: K, HAS_W, RENORM, HAS_TLP.
 */
export const headChunkFinalizeKernel: KernelDef = {
  name: 'head_chunk_finalize',
  bindings: [
    ['stats', 'storage'],
    ['gathered', 'storage'],
    ['logp', 'storage'],
    ['tlp', 'storage'],
    ['weights', 'read-only-storage'],
  ],
  params: [['N', 'u32']],
  source: /* wgsl */ `
struct Params { N: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;    // (N, 2)
@group(0) @binding(2) var<storage, read_write> gathered: array<f32>; // (N, K)
@group(0) @binding(3) var<storage, read_write> logp: array<f32>;     // (N) ℓ
@group(0) @binding(4) var<storage, read_write> tlp: array<f32>;      // (N, K) with HAS_TLP
@group(0) @binding(5) var<storage, read> weights: array<f32>;        // (N, K) with HAS_W

override WG: u32 = 64;
override K: u32 = 1u;
override HAS_W: bool = false;
override RENORM: bool = false;
override HAS_TLP: bool = false;
const NEG = -3.0e38;

fn weight(row: u32, k: u32) -> f32 {
  if (HAS_W) { return weights[row * K + k]; }
  return 1.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.x + gid.y * nwg.x * WG;
  if (row >= p.N) { return; }
  let lse = stats[row * 2u] + log(stats[row * 2u + 1u]);
  let g0 = row * K;
  if (HAS_TLP) {
    for (var k = 0u; k < K; k++) { tlp[g0 + k] = gathered[g0 + k] - lse; }
  }
  var ell = 0.0;
  var sa = 0.0;
  if (RENORM) {
    // log p(target_k) = gathered − lse, read again where needed; the renormaliser in the log domain.
    var lm = NEG;
    for (var k = 0u; k < K; k++) {
      if (weight(row, k) > 0.0) { lm = max(lm, gathered[g0 + k] - lse); }
    }
    var z = 0.0;
    for (var k = 0u; k < K; k++) {
      let w = weight(row, k);
      if (w > 0.0) { z += w * exp(gathered[g0 + k] - lse - lm); }
    }
    if (z > 0.0) {
      for (var k = 0u; k < K; k++) {
        let w = weight(row, k);
        let lp = gathered[g0 + k] - lse;
        if (w > 0.0) { ell += w * exp(lp - lm) / z * lp; }
      }
      for (var k = 0u; k < K; k++) {
        let w = weight(row, k);
        let lp = gathered[g0 + k] - lse;
        var a = 0.0;
        if (w > 0.0) { a = w * exp(lp - lm) / z * (1.0 + (lp - ell)); }
        gathered[g0 + k] = a;
      }
      sa = 1.0;
    } else {
      for (var k = 0u; k < K; k++) { gathered[g0 + k] = 0.0; }
    }
  } else {
    for (var k = 0u; k < K; k++) {
      let w = weight(row, k);
      ell += w * (gathered[g0 + k] - lse);
      sa += w;
      gathered[g0 + k] = w;
    }
  }
  stats[row * 2u] = lse;
  stats[row * 2u + 1u] = sa;
  logp[row] = ell;
}
`,
};

/**
 * dlogits (N, W): one chunk's logits (ids v0 … v0 + W − 1) on entry, dloss · coef[n] · (s · e^(x − lse) −
 * Σ_k a_k [v = target_k]) on exit (a row whose factor is 0 becomes exactly 0). stats (N, 2) [lse, s] and
 * grad (N, K) the a_k, as headChunkFinalizeKernel left them; targets (N, K) u32; coef (N). Override K.
 */
export const headChunkGradKernel: KernelDef = {
  name: 'head_chunk_grad',
  bindings: [
    ['dlogits', 'storage'],
    ['stats', 'read-only-storage'],
    ['grad', 'read-only-storage'],
    ['targets', 'read-only-storage'],
    ['coef', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['W', 'u32'],
    ['v0', 'u32'],
    ['V', 'u32'],
    ['dloss', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, W: u32, v0: u32, V: u32, dloss: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>; // (N, W) logits in, gradient out
@group(0) @binding(2) var<storage, read> stats: array<f32>;         // (N, 2) lse, s
@group(0) @binding(3) var<storage, read> grad: array<f32>;          // (N, K) a_k
@group(0) @binding(4) var<storage, read> targets: array<u32>;       // (N, K)
@group(0) @binding(5) var<storage, read> coef: array<f32>;          // (N)

override WG: u32 = 256;
override K: u32 = 1u;
var<workgroup> eid: array<u32, K>;
var<workgroup> ea: array<f32, K>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  for (var k = lid; k < K; k += WG) {
    eid[k] = min(targets[row * K + k], p.V - 1u);
    ea[k] = grad[row * K + k];
  }
  workgroupBarrier();
  let base = row * p.W;
  let c = p.dloss * coef[row];
  let lse = stats[row * 2u];
  let sc = stats[row * 2u + 1u];
  for (var i = lid; i < p.W; i += WG) {
    var g = 0.0;
    if (c != 0.0) {
      var hit = 0.0;
      for (var k = 0u; k < K; k++) { hit += select(0.0, ea[k], p.v0 + i == eid[k]); }
      g = c * (sc * exp(dlogits[base + i] - lse) - hit);
    }
    dlogits[base + i] = g;
  }
}
`,
};
