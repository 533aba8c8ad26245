// The per-token log-probability loss (ref/loss.ts), forward and backward fused, written inline like
// llm.c's fused classifier:  loss = −Σ_n coef[n] · log_softmax(logits[n])[target[n]]
//   logp[n] = log_softmax(logits[n])[target[n]]
//   dlogits[n, v] = dloss · coef[n] · (softmax(logits[n])[v] − [v = target[n]])
// The softmax is never stored: each row's log-sum-exp is computed in the workgroup, then the row of
// logits is overwritten by its gradient in place (one (N, V) buffer, as the training memory plan has).
// The loss itself is −Σ coef · logp over the N read-back log-probs (ops.ts logprobLossBackward).
import type { KernelDef } from '../pipelines.ts';

/** dlogits (N, V): logits on entry, d loss / d logits on exit; logp (N); targets (N) u32; coef (N). */
export const logprobLossBackwardKernel: KernelDef = {
  name: 'logprob_loss_backward',
  bindings: [
    ['dlogits', 'storage'],
    ['logp', 'storage'],
    ['targets', 'read-only-storage'],
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
@group(0) @binding(1) var<storage, read_write> dlogits: array<f32>; // (N, V) logits in, gradient out
@group(0) @binding(2) var<storage, read_write> logp: array<f32>;    // (N)
@group(0) @binding(3) var<storage, read> targets: array<u32>;       // (N)
@group(0) @binding(4) var<storage, read> coef: array<f32>;          // (N)

override WG: u32 = 256;
const NEG = -3.0e38;
var<workgroup> red: array<f32, WG>;

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
  let t = min(targets[row], p.V - 1u);
  if (lid == 0u) { logp[row] = dlogits[base + t] - lse; }
  // The target's logit (owned by invocation t % WG) is read above before anyone overwrites it.
  storageBarrier();
  let c = p.dloss * coef[row];
  for (var i = lid; i < p.V; i += WG) {
    var g = 0.0;
    if (c != 0.0) { g = c * (exp(dlogits[base + i] - lse) - select(0.0, 1.0, i == t)); }
    dlogits[base + i] = g;
  }
}
`,
};
