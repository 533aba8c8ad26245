// Elementwise kernels: the SwiGLU middle of the MLP and the residual add.
import type { KernelDef } from '../pipelines.ts';

/** out = silu(gate) · up, silu(x) = x / (1 + e^−x); all (n). */
export const swigluForwardKernel: KernelDef = {
  name: 'swiglu_forward',
  bindings: [
    ['out', 'storage'],
    ['gate', 'read-only-storage'],
    ['up', 'read-only-storage'],
  ],
  params: [['n', 'u32']],
  source: /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> up: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = gate[i];
  // sigmoid without overflow: e = exp(−|g|) ≤ 1
  let e = exp(-abs(g));
  let sig = select(e / (1.0 + e), 1.0 / (1.0 + e), g >= 0.0);
  out[i] = g * sig * up[i];
}
`,
};

/** out = a + b; all (n). (The model adds into the residual stream through the matmul's beta = 1.) */
export const residualForwardKernel: KernelDef = {
  name: 'residual_forward',
  bindings: [
    ['out', 'storage'],
    ['a', 'read-only-storage'],
    ['b', 'read-only-storage'],
  ],
  params: [['n', 'u32']],
  source: /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  out[i] = a[i] + b[i];
}
`,
};
