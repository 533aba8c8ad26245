// Backward of the elementwise kernels (elementwise.wgsl.ts): SwiGLU and the residual add.
// Accumulation rule: see gpu/opsBackward.ts.
import type { KernelDef } from '../pipelines.ts';

/**
 * With σ = sigmoid(gate), silu = gate · σ, silu' = σ · (1 + gate · (1 − σ)):
 * dgate = dout · up · silu'(gate), dup = dout · silu(gate) (activation gradients, overwritten); all (n).
 */
export const swigluBackwardKernel: KernelDef = {
  name: 'swiglu_backward',
  bindings: [
    ['dgate', 'storage'],
    ['dup', 'storage'],
    ['dout', 'read-only-storage'],
    ['gate', 'read-only-storage'],
    ['up', 'read-only-storage'],
  ],
  params: [['n', 'u32']],
  source: /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(2) var<storage, read_write> dup: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> gate: array<f32>;
@group(0) @binding(5) var<storage, read> up: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = gate[i];
  let e = exp(-abs(g));
  let sig = select(e / (1.0 + e), 1.0 / (1.0 + e), g >= 0.0);
  let d = dout[i];
  dgate[i] = d * up[i] * sig * (1.0 + g * (1.0 - sig));
  dup[i] = d * g * sig;
}
`,
};

/** da += dout and, if HAS_B, db += dout: the residual stream accumulates; all (n). */
export const residualBackwardKernel: KernelDef = {
  name: 'residual_backward',
  bindings: [
    ['da', 'storage'],
    ['db', 'storage'],
    ['dout', 'read-only-storage'],
  ],
  params: [['n', 'u32']],
  source: /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> da: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;

override WG: u32 = 64;
override HAS_B: bool = true;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let d = dout[i];
  da[i] += d;
  if (HAS_B) { db[i] += d; }
}
`,
};
