// Backward of the input embeddings (embedding.wgsl.ts): the scatter-add into the embedding matrix and
// the mixture weights' gradient. Accumulation rule: see gpu/opsBackward.ts.
//
// The scatter-add is deterministic, without atomics (llm.c's encoder_backward buckets): the token ids
// are on the CPU anyway, so the CPU groups the entries by token id (opsBackward.ts planEmbeddingBackward) and
// one invocation per (token, channel) sums its entries in a fixed order, then adds into its row.
// A dense mixture (probs @ wte) is the matmul's backward (opsBackward.ts denseMixtureBackward).
import type { KernelDef } from '../pipelines.ts';
import { perDtype, weightBinding } from './weightLoad.wgsl.ts';

/**
 * dwte[id_u, c] += Σ_{e ∈ bucket u} w_e · dout[rows[e], c] for every bucket u (one per distinct id).
 * buckets (U, 3) u32: [id, first entry, one past the last]; rows (E) u32: the dout row of each entry;
 * weights (E): w_e, read only if HAS_WEIGHTS (a mixture), else 1. One invocation per (u, c).
 */
export const embeddingBackwardKernel: KernelDef = {
  name: 'embedding_backward',
  bindings: [
    ['dwte', 'storage'],
    ['dout', 'read-only-storage'],
    ['buckets', 'read-only-storage'],
    ['rows', 'read-only-storage'],
    ['weights', 'read-only-storage'],
  ],
  params: [
    ['U', 'u32'],
    ['C', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { U: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dwte: array<f32>;  // (V, C)  +=
@group(0) @binding(2) var<storage, read> dout: array<f32>;        // (N, C)
@group(0) @binding(3) var<storage, read> buckets: array<u32>;     // (U, 3)
@group(0) @binding(4) var<storage, read> rows: array<u32>;        // (E)
@group(0) @binding(5) var<storage, read> weights: array<f32>;     // (E), if HAS_WEIGHTS

override WG: u32 = 64;
override HAS_WEIGHTS: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.U * p.C) { return; }
  let u = i / p.C;
  let c = i % p.C;
  let id = buckets[u * 3u];
  var acc = 0.0;
  for (var e = buckets[u * 3u + 1u]; e < buckets[u * 3u + 2u]; e++) {
    var w = 1.0;
    if (HAS_WEIGHTS) { w = weights[e]; }
    acc += w * dout[rows[e] * p.C + c];
  }
  dwte[id * p.C + c] += acc;
}
`,
};

/**
 * dweights[n, j] = dout[n, :] · wte[ids[n, j], :] (an activation gradient, overwritten). ids (N, K).
 * One workgroup of WG (a power of two) per entry (n, j), tree reduction over C.
 */
export const mixtureBackwardKernel = perDtype((dtype, suffix) => ({
  name: `mixture_backward${suffix}`,
  bindings: [
    ['dweights', 'storage'],
    ['dout', 'read-only-storage'],
    ['ids', 'read-only-storage'],
    ['wte', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['K', 'u32'],
    ['C', 'u32'],
    ['V', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, K: u32, C: u32, V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dweights: array<f32>; // (N, K)
@group(0) @binding(2) var<storage, read> dout: array<f32>;           // (N, C)
@group(0) @binding(3) var<storage, read> ids: array<u32>;            // (N, K)
${weightBinding(4, 'wte', dtype)}

override WG: u32 = 64;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let e = wid.x + wid.y * nwg.x;
  if (e >= p.N * p.K) { return; }
  let n = e / p.K;
  let id = ids[e];
  var s = 0.0;
  if (id < p.V) {
    for (var c = lid; c < p.C; c += WG) { s += dout[n * p.C + c] * wte_at(id * p.C + c); }
  }
  red[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] += red[lid + st]; }
    workgroupBarrier();
  }
  if (lid == 0u) { dweights[e] = red[0]; }
}
`,
}));
