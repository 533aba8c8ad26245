// The per-token log-probability loss (ref/loss.ts), forward and backward fused, written inline like
// llm.c's fused classifier, over K weighted targets per position (K = 1: one target, weight 1):
//   ℓ[n] = Σ_k a[n,k] · log_softmax(logits[n])[target[n,k]]      loss = −Σ_n coef[n] · ℓ[n]
//   dlogits[n, v] = dloss · coef[n] · (s[n] · softmax(logits[n])[v] − Σ_k a[n,k] [v = target[n,k]])
// with s = Σ_k a. The weights a are either given (fixed, `HAS_W`; absent: 1), or, with `RENORM`, the
// current policy's renormalised probabilities of the targets, not detached (the paper's `weighted-ids` rule,
// MOTG.md §2): q_k ∝ w_k · p(target_k), ℓ = Σ_k q_k log p(target_k), whose gradient has the same form with
// a_k = q_k (1 + log p(target_k) − ℓ) and s = Σ_k a_k = 1. Weight 0 pads a position's list to K.
// The softmax is never stored: each row's log-sum-exp is computed in the workgroup, then the row of
// logits is overwritten by its gradient in place. This needs the whole (N, V) logits: GpuTrainer uses the
// same loss over vocabulary chunks instead (chunkedLoss.wgsl.ts, headChunks.ts); this kernel is the
// one-buffer form, checked against ref/loss.ts in test/gpu/backward-kernels.test.ts.
// The loss itself is −Σ coef · ℓ over the N read-back ℓ (opsBackward.ts logprobLossBackward).
import type { KernelDef } from '../pipelines.ts';

/**
 * dlogits (N, V): logits on entry, d loss / d logits on exit; logp (N) = ℓ; targets (N, K) u32;
 * coef (N); weights (N, K) (read only with HAS_W). Overrides: K, HAS_W, RENORM (needs weights ≥ 0).
 */
export const logprobLossBackwardKernel: KernelDef = {
  name: 'logprob_loss_backward',
  bindings: [
    ['dlogits', 'storage'],
    ['logp', 'storage'],
    ['targets', 'read-only-storage'],
    ['coef', 'read-only-storage'],
    ['weights', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['dloss', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, V: u32, dloss: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>; // (N, V) logits in, gradient out
@group(0) @binding(2) var<storage, read_write> logp: array<f32>;    // (N) ℓ
@group(0) @binding(3) var<storage, read> targets: array<u32>;       // (N, K)
@group(0) @binding(4) var<storage, read> coef: array<f32>;          // (N)
@group(0) @binding(5) var<storage, read> weights: array<f32>;       // (N, K) with HAS_W

override WG: u32 = 256;
override K: u32 = 1u;
override HAS_W: bool = false;
override RENORM: bool = false;
const NEG = -3.0e38;
var<workgroup> red: array<f32, WG>;
var<workgroup> eid: array<u32, K>; // the row's targets
var<workgroup> ea: array<f32, K>;  // their gradient weights a_k
var<workgroup> es: f32;            // s = Σ a_k

fn weight(row: u32, k: u32) -> f32 {
  if (HAS_W) { return weights[row * K + k]; }
  return 1.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.V;
  // Each invocation reads and later writes only its own elements i ≡ lid (mod WG).
  var m = NEG;
  for (var i = lid; i < p.V; i += WG) { m = max(m, dlogits[base + i]); }
  red[lid] = m;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] = max(red[lid], red[lid + st]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  var s = 0.0;
  for (var i = lid; i < p.V; i += WG) { s += exp(dlogits[base + i] - mx); }
  red[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] += red[lid + st]; }
    workgroupBarrier();
  }
  let lse = mx + log(red[0]);
  if (lid == 0u) {
    // The targets' logits are read here, before anyone overwrites them (the barriers below).
    var ell = 0.0;
    var sa = 0.0;
    if (RENORM) {
      // ea holds log p(target) first, then a_k; the renormaliser in the log domain.
      var lm = NEG;
      for (var k = 0u; k < K; k++) {
        let t = min(targets[row * K + k], p.V - 1u);
        eid[k] = t;
        ea[k] = dlogits[base + t] - lse;
        if (weight(row, k) > 0.0) { lm = max(lm, ea[k]); }
      }
      var z = 0.0;
      for (var k = 0u; k < K; k++) {
        let w = weight(row, k);
        if (w > 0.0) { z += w * exp(ea[k] - lm); }
      }
      if (z > 0.0) {
        for (var k = 0u; k < K; k++) {
          let w = weight(row, k);
          if (w > 0.0) { ell += w * exp(ea[k] - lm) / z * ea[k]; }
        }
        for (var k = 0u; k < K; k++) {
          let w = weight(row, k);
          var a = 0.0;
          if (w > 0.0) { a = w * exp(ea[k] - lm) / z * (1.0 + (ea[k] - ell)); }
          ea[k] = a;
        }
        sa = 1.0;
      } else {
        for (var k = 0u; k < K; k++) { ea[k] = 0.0; }
      }
    } else {
      for (var k = 0u; k < K; k++) {
        let t = min(targets[row * K + k], p.V - 1u);
        let w = weight(row, k);
        eid[k] = t;
        ea[k] = w;
        ell += w * (dlogits[base + t] - lse);
        sa += w;
      }
    }
    es = sa;
    logp[row] = ell;
  }
  workgroupBarrier();
  storageBarrier();
  let c = p.dloss * coef[row];
  let sc = es;
  for (var i = lid; i < p.V; i += WG) {
    var g = 0.0;
    if (c != 0.0) {
      var hit = 0.0;
      for (var k = 0u; k < K; k++) { hit += select(0.0, ea[k], i == eid[k]); }
      g = c * (sc * exp(dlogits[base + i] - lse) - hit);
    }
    dlogits[base + i] = g;
  }
}
`,
};

/**
 * dlogits (N, V) row n ×= dloss · coef[n] (a row whose factor is 0 becomes exactly 0): the per-position
 * gradient the loss kernel left at unit coefficients, scaled by each position's coefficient once they are
 * known (GpuTrainer.backwardFrom). coef (N).
 */
export const scaleRowsKernel: KernelDef = {
  name: 'scale_rows',
  bindings: [
    ['dlogits', 'storage'],
    ['coef', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['dloss', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, V: u32, dloss: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>; // (N, V)
@group(0) @binding(2) var<storage, read> coef: array<f32>;          // (N)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N * p.V) { return; }
  let c = p.dloss * coef[i / p.V];
  dlogits[i] = select(0.0, c * dlogits[i], c != 0.0);
}
`,
};
