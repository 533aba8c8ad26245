// Backward of RMSNorm (rmsnorm.wgsl.ts) from the saved rstd. With g = weight · dout, x̂ = x · rstd:
//   dinp (N, C) += rstd · (g − x̂ · mean(g · x̂))   (`+=`: the input is the residual stream)
//   dweight (C) += Σ_n dout · x̂
// Accumulation rule: see gpu/opsBackward.ts.
import type { KernelDef } from '../pipelines.ts';

/** dinp += …; one workgroup of WG (a power of two) per row. */
export const rmsnormBackwardKernel: KernelDef = {
  name: 'rmsnorm_backward',
  bindings: [
    ['dinp', 'storage'],
    ['dout', 'read-only-storage'],
    ['inp', 'read-only-storage'],
    ['weight', 'read-only-storage'],
    ['rstd', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['C', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dinp: array<f32>; // (N, C)  +=
@group(0) @binding(2) var<storage, read> dout: array<f32>;       // (N, C)
@group(0) @binding(3) var<storage, read> inp: array<f32>;        // (N, C)
@group(0) @binding(4) var<storage, read> weight: array<f32>;     // (C)
@group(0) @binding(5) var<storage, read> rstd: array<f32>;       // (N)

override WG: u32 = 128;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = row * p.C;
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) { s += weight[c] * dout[base + c] * inp[base + c]; }
  red[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] += red[lid + st]; }
    workgroupBarrier();
  }
  let r = rstd[row];
  let k = red[0] * r * r / f32(p.C);
  for (var c = lid; c < p.C; c += WG) {
    dinp[base + c] += r * (weight[c] * dout[base + c] - inp[base + c] * k);
  }
}
`,
};

/** dweight (C) += Σ_n dout[n, c] · inp[n, c] · rstd[n]. One invocation per channel, rows in order. */
export const rmsnormBackwardWeightKernel: KernelDef = {
  name: 'rmsnorm_backward_weight',
  bindings: [
    ['dweight', 'storage'],
    ['dout', 'read-only-storage'],
    ['inp', 'read-only-storage'],
    ['rstd', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['C', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, C: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>; // (C)  +=
@group(0) @binding(2) var<storage, read> dout: array<f32>;          // (N, C)
@group(0) @binding(3) var<storage, read> inp: array<f32>;           // (N, C)
@group(0) @binding(4) var<storage, read> rstd: array<f32>;          // (N)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = gid.x + gid.y * nwg.x * WG;
  if (c >= p.C) { return; }
  var s = 0.0;
  for (var n = 0u; n < p.N; n++) { s += dout[n * p.C + c] * inp[n * p.C + c] * rstd[n]; }
  dweight[c] += s;
}
`,
};
