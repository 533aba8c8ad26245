// RMSNorm as Qwen2RMSNorm: out = weight · inp / sqrt(mean(inp²) + eps). One workgroup per row.
import type { KernelDef } from '../pipelines.ts';

/** out (N, C), rstd (N) saved for the backward, inp (N, C), weight (C). WG must be a power of two. */
export const rmsnormForwardKernel: KernelDef = {
  name: 'rmsnorm_forward',
  bindings: [
    ['out', 'storage'],
    ['rstd', 'storage'],
    ['inp', 'read-only-storage'],
    ['weight', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['C', 'u32'],
    ['eps', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, C: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (N, C)
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>; // (N)
@group(0) @binding(3) var<storage, read> inp: array<f32>;        // (N, C)
@group(0) @binding(4) var<storage, read> weight: array<f32>;     // (C)

override WG: u32 = 128;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  var ss = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let x = inp[base + c];
    ss += x * x;
  }
  red[lid] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = 1.0 / sqrt(red[0] / f32(p.C) + p.eps);
  if (lid == 0u) { rstd[row] = r; }
  for (var c = lid; c < p.C; c += WG) {
    out[base + c] = weight[c] * (inp[base + c] * r);
  }
}
`,
};
