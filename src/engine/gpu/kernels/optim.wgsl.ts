// Optimizer kernels (train/optim.ts is the reference): the global gradient norm, AdamW and SGD.
// Every update reads the gradient as g = grad · gradScale · clip, where gradScale is set by the caller
// (e.g. 1 / micro-batches for a mean) and clip = gnorm[1] is written on the GPU by grad_norm_finalize
// (torch's clip_grad_norm_: min(1, maxNorm / (‖gradScale · grad‖ + 1e-6)), or 1 when not clipping) —
// so a whole step runs without a round trip to the CPU and only the norm comes back.
// The update kernels run in one of three modes (override MODE): 0 updates; 1 only checks, setting flag[0]
// when the update would leave a parameter past `limit` (or non-finite), an optimizer buffer or the norm
// non-finite; 2 updates unless flag[0] is set. A step that runs every tensor in mode 1, then in mode 2,
// is all-or-nothing and reads back one flag. Finiteness is tested on the bits (WGSL may assume no NaN/Inf).
import type { KernelDef } from '../pipelines.ts';

/** WGSL shared by the update kernels: the mode, and |x| > the f32 whose bits are `limitBits` (NaN too). */
const GUARD_WGSL = /* wgsl */ `
override MODE: u32 = 0u; // 0: update, 1: check only, 2: update unless flagged
const FINITE_MAX_BITS: u32 = 0x7f7fffffu;
fn pastLimit(x: f32, limitBits: u32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > limitBits; }
`;

/**
 * partials[slot + w] = Σ (scale · grad)² over the elements w·WG + lid + k·parts·WG of one gradient, for
 * the `parts` workgroups w of this dispatch (one dispatch per gradient tensor).
 */
export const gradNormPartialKernel: KernelDef = {
  name: 'grad_norm_partial',
  bindings: [
    ['partials', 'storage'],
    ['grad', 'read-only-storage'],
  ],
  params: [
    ['n', 'u32'],
    ['slot', 'u32'],
    ['parts', 'u32'],
    ['scale', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { n: u32, slot: u32, parts: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;

override WG: u32 = 256;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let w = wid.x;
  var s = 0.0;
  for (var i = w * WG + lid; i < p.n; i += p.parts * WG) {
    let g = p.scale * grad[i];
    s += g * g;
  }
  red[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] += red[lid + st]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[p.slot + w] = red[0]; }
}
`,
};

/** gnorm[0] = √(Σ partials[0..count)), gnorm[1] = the clip factor (1 when maxNorm ≤ 0). One workgroup. */
export const gradNormFinalizeKernel: KernelDef = {
  name: 'grad_norm_finalize',
  bindings: [
    ['gnorm', 'storage'],
    ['partials', 'read-only-storage'],
  ],
  params: [
    ['count', 'u32'],
    ['maxNorm', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { count: u32, maxNorm: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> gnorm: array<f32>; // (2) norm, clip factor
@group(0) @binding(2) var<storage, read> partials: array<f32>;

override WG: u32 = 256;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.count; i += WG) { s += partials[i]; }
  red[lid] = s;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] += red[lid + st]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let norm = sqrt(red[0]);
    var clip = 1.0;
    if (p.maxNorm > 0.0) { clip = min(1.0, p.maxNorm / (norm + 1e-6)); }
    gnorm[0] = norm;
    gnorm[1] = clip;
  }
}
`,
};

/**
 * One AdamW step (torch.optim.AdamW), in place; bc1 = 1 − β1^step and bc2 = 1 − β2^step come from the
 * CPU (f64). m ← β1 m + (1 − β1) g; v ← β2 v + (1 − β2) g²; p ← p − lr (m/bc1 / (√(v/bc2) + eps) + wd p).
 */
export const adamwUpdateKernel: KernelDef = {
  name: 'adamw_update',
  bindings: [
    ['param', 'storage'],
    ['m', 'storage'],
    ['v', 'storage'],
    ['grad', 'read-only-storage'],
    ['gnorm', 'read-only-storage'],
    ['flag', 'storage'],
  ],
  params: [
    ['n', 'u32'],
    ['lr', 'f32'],
    ['beta1', 'f32'],
    ['beta2', 'f32'],
    ['eps', 'f32'],
    ['weightDecay', 'f32'],
    ['bc1', 'f32'],
    ['bc2', 'f32'],
    ['gradScale', 'f32'],
    ['limit', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weightDecay: f32, bc1: f32, bc2: f32,
                gradScale: f32, limit: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
@group(0) @binding(5) var<storage, read> gnorm: array<f32>; // (2) norm, clip factor
@group(0) @binding(6) var<storage, read_write> flag: array<atomic<u32>>; // (1) set: refuse the step
${GUARD_WGSL}
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  if (MODE == 2u && atomicLoad(&flag[0]) != 0u) { return; }
  let g = grad[i] * p.gradScale * gnorm[1];
  let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
  let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
  let w = param[i];
  let wi = w - p.lr * ((mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps) + p.weightDecay * w);
  if (MODE == 1u) {
    let bad = pastLimit(wi, bitcast<u32>(p.limit)) || pastLimit(mi, FINITE_MAX_BITS) ||
      pastLimit(vi, FINITE_MAX_BITS) || (i == 0u && pastLimit(gnorm[0], FINITE_MAX_BITS));
    if (bad) { atomicOr(&flag[0], 1u); }
    return;
  }
  m[i] = mi;
  v[i] = vi;
  param[i] = wi;
}
`,
};

/**
 * One SGD step (torch.optim.SGD), in place: g ← g + wd · p; with momentum, buf ← g on the first step,
 * else μ buf + (1 − dampening) g, and the direction is g + μ buf (nesterov) or buf; p ← p − lr · d.
 */
export const sgdUpdateKernel: KernelDef = {
  name: 'sgd_update',
  bindings: [
    ['param', 'storage'],
    ['buf', 'storage'],
    ['grad', 'read-only-storage'],
    ['gnorm', 'read-only-storage'],
    ['flag', 'storage'],
  ],
  params: [
    ['n', 'u32'],
    ['lr', 'f32'],
    ['momentum', 'f32'],
    ['dampening', 'f32'],
    ['weightDecay', 'f32'],
    ['gradScale', 'f32'],
    ['first', 'u32'],
    ['nesterov', 'u32'],
    ['limit', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { n: u32, lr: f32, momentum: f32, dampening: f32, weightDecay: f32, gradScale: f32,
                first: u32, nesterov: u32, limit: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;   // momentum buffer, if HAS_MOMENTUM
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read> gnorm: array<f32>;       // (2) norm, clip factor
@group(0) @binding(5) var<storage, read_write> flag: array<atomic<u32>>; // (1) set: refuse the step
${GUARD_WGSL}
override WG: u32 = 64;
override HAS_MOMENTUM: bool = false;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  if (MODE == 2u && atomicLoad(&flag[0]) != 0u) { return; }
  let w = param[i];
  var g = grad[i] * p.gradScale * gnorm[1] + p.weightDecay * w;
  var b = 0.0;
  if (HAS_MOMENTUM) {
    b = g;
    if (p.first == 0u) { b = p.momentum * buf[i] + (1.0 - p.dampening) * g; }
    g = select(b, g + p.momentum * b, p.nesterov != 0u);
  }
  let wi = w - p.lr * g;
  if (MODE == 1u) {
    let bad = pastLimit(wi, bitcast<u32>(p.limit)) || pastLimit(b, FINITE_MAX_BITS) ||
      (i == 0u && pastLimit(gnorm[0], FINITE_MAX_BITS));
    if (bad) { atomicOr(&flag[0], 1u); }
    return;
  }
  if (HAS_MOMENTUM) { buf[i] = b; }
  param[i] = wi;
}
`,
};
