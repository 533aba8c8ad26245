import { perDtype, weightBinding } from './weightLoad.wgsl.ts';

/** out[n, :] = wte[ids[n], :]. One invocation per output element; ids outside [0, V) give zeros. */
export const embeddingForwardKernel = perDtype((dtype, suffix) => ({
  name: `embedding_forward${suffix}`,
  bindings: [
    ['out', 'storage'],
    ['ids', 'read-only-storage'],
    ['wte', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['C', 'u32'],
    ['V', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, C: u32, V: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (N, C)
@group(0) @binding(2) var<storage, read> ids: array<u32>;       // (N)
${weightBinding(3, 'wte', dtype)}

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N * p.C) { return; }
  let n = i / p.C;
  let c = i % p.C;
  let id = ids[n];
  var v = 0.0;
  if (id < p.V) { v = wte_at(id * p.C + c); }
  out[i] = v;
}
`,
}));

/** out[n, :] = Σ_j weights[n, j] · wte[ids[n, j], :]. ids/weights (N, K). */
export const mixtureForwardKernel = perDtype((dtype, suffix) => ({
  name: `mixture_forward${suffix}`,
  bindings: [
    ['out', 'storage'],
    ['ids', 'read-only-storage'],
    ['weights', 'read-only-storage'],
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
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (N, C)
@group(0) @binding(2) var<storage, read> ids: array<u32>;       // (N, K)
@group(0) @binding(3) var<storage, read> weights: array<f32>;   // (N, K)
${weightBinding(4, 'wte', dtype)}

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N * p.C) { return; }
  let n = i / p.C;
  let c = i % p.C;
  var acc = 0.0;
  for (var j = 0u; j < p.K; j++) {
    let id = ids[n * p.K + j];
    if (id < p.V) { acc += weights[n * p.K + j] * wte_at(id * p.C + c); }
  }
  out[i] = acc;
}
`,
}));
