// Backward of RoPE (rope.wgsl.ts): the inverse (transposed) rotation with the same cos/sin table.
// For i < D/2:  dinp[i] = dout[i] cos + dout[i + D/2] sin;  dinp[i + D/2] = dout[i + D/2] cos − dout[i] sin.
// An activation gradient (overwritten); dinp ≠ dout.
import type { KernelDef } from '../pipelines.ts';

/** dinp, dout (N, nH, D); cs (N, D) from ops.ts ropeTable. One invocation per rotated pair. */
export const ropeBackwardKernel: KernelDef = {
  name: 'rope_backward',
  bindings: [
    ['dinp', 'storage'],
    ['dout', 'read-only-storage'],
    ['cs', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['nH', 'u32'],
    ['D', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, nH: u32, D: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>; // (N, nH, D)
@group(0) @binding(2) var<storage, read> dout: array<f32>;       // (N, nH, D)
@group(0) @binding(3) var<storage, read> cs: array<f32>;         // (N, D)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half = p.D / 2u;
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx >= p.N * p.nH * half) { return; }
  let i = idx % half;
  let h = (idx / half) % p.nH;
  let n = idx / (half * p.nH);
  let base = (n * p.nH + h) * p.D;
  let c = cs[n * p.D + i];
  let s = cs[n * p.D + half + i];
  let d1 = dout[base + i];
  let d2 = dout[base + i + half];
  dinp[base + i] = d1 * c + d2 * s;
  dinp[base + i + half] = d2 * c - d1 * s;
}
`,
};
