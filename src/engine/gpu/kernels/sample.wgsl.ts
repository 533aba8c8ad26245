// Decoding: the next token of each row from its logits, returning only ids. Greedy = argmax (first on
// ties, as torch.argmax); sampling = inverse CDF of softmax(x / temperature) at
// u = counter_uniform(seed, row, step, 0) — mot/rng.ts has the hash, engine/sampling.ts the CPU twin.
// Row r's logits are row r · stride + offset of x (stride = T, offset = T − 1: the last position).
// One workgroup of WG (a power of two) invocations per row.
import { WGSL_COUNTER_RNG } from '../../../mot/rng.ts';
import type { KernelDef } from '../pipelines.ts';

/** ids (N) = argmax over V of row r · stride + offset of x. */
export const argmaxKernel: KernelDef = {
  name: 'argmax',
  bindings: [
    ['ids', 'storage'],
    ['x', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['stride', 'u32'],
    ['offset', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, V: u32, stride: u32, offset: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>; // (N)
@group(0) @binding(2) var<storage, read> x: array<f32>;         // (N · stride, V)

override WG: u32 = 256;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = (row * p.stride + p.offset) * p.V;
  var bv = -3.4e38;
  var bi = 0xffffffffu;
  for (var i = lid; i < p.V; i += WG) {
    let xv = x[base + i];
    if (xv > bv || bi == 0xffffffffu) { bv = xv; bi = i; }
  }
  bestV[lid] = bv;
  bestI[lid] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = bestV[lid + s];
      let oi = bestI[lid + s];
      let mv = bestV[lid];
      let mi = bestI[lid];
      if (oi != 0xffffffffu && (mi == 0xffffffffu || ov > mv || (ov == mv && oi < mi))) {
        bestV[lid] = ov;
        bestI[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (lid == 0u) { ids[row] = bestI[0]; }
}
`,
};

/** ids (N) = inverse-CDF sample of softmax(x[r · stride + offset] / temperature) at counter_uniform(seed, r, step, 0). */
export const sampleKernel: KernelDef = {
  name: 'sample',
  bindings: [
    ['ids', 'storage'],
    ['x', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['V', 'u32'],
    ['stride', 'u32'],
    ['offset', 'u32'],
    ['invTemperature', 'f32'],
    ['seed', 'u32'],
    ['step', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, V: u32, stride: u32, offset: u32, invTemperature: f32, seed: u32, step: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>; // (N)
@group(0) @binding(2) var<storage, read> x: array<f32>;         // (N · stride, V)
${WGSL_COUNTER_RNG}
override WG: u32 = 256;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let base = (row * p.stride + p.offset) * p.V;
  let s = p.invTemperature;
  // 1. row max of s·x
  var m = -3.0e38;
  for (var i = lid; i < p.V; i += WG) { m = max(m, s * x[base + i]); }
  red[lid] = m;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] = max(red[lid], red[lid + st]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  // 2. mass of each invocation's contiguous chunk [lid·chunk, (lid+1)·chunk)
  let chunk = (p.V + WG - 1u) / WG;
  let lo = min(lid * chunk, p.V);
  let hi = min(lo + chunk, p.V);
  var mass = 0.0;
  for (var i = lo; i < hi; i++) { mass += exp(s * x[base + i] - mx); }
  red[lid] = mass;
  workgroupBarrier();
  // 3. one invocation walks the chunk sums, then the chosen chunk, to the target u · total
  if (lid == 0u) {
    var total = 0.0;
    for (var t = 0u; t < WG; t++) { total += red[t]; }
    let goal = counter_uniform(p.seed, row, p.step, 0u) * total;
    var acc = 0.0;
    var tc = WG;
    var lastPos = 0u;
    for (var t = 0u; t < WG; t++) {
      if (red[t] > 0.0) { lastPos = t; }
      if (tc == WG && acc + red[t] > goal) { tc = t; }
      if (tc == WG) { acc += red[t]; }
    }
    if (tc == WG) { tc = lastPos; acc = total - red[lastPos]; }
    let clo = min(tc * chunk, p.V);
    let chi = min(clo + chunk, p.V);
    var id = clo;
    for (var i = clo; i < chi; i++) {
      let e = exp(s * x[base + i] - mx);
      if (e > 0.0) { id = i; }
      acc += e;
      if (acc > goal) { break; }
    }
    ids[row] = id;
  }
}
`,
};
