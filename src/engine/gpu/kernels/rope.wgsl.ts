// Rotary position embedding, HF rotate-half, and the KV-cache append. The cos/sin table is built on the
// CPU in float64 from the explicit position ids (gpu/ops.ts ropeTable), so no trig precision is lost
// on the GPU and every layer shares one table.
// Both kernels write row n of inp to row (n / T) · outT + outStart + n % T of out: with outT = T and
// outStart = 0 that is the same row; with outT = cache capacity and outStart = cache length it appends
// the new positions of every batch row to the cache.
import type { KernelDef } from '../pipelines.ts';

/** out (B·outT, nH, D) rows ← rope(inp (N = B·T, nH, D)); cs (N, D): cos f_i for i < D/2, then sin f_i. */
export const ropeForwardKernel: KernelDef = {
  name: 'rope_forward',
  bindings: [
    ['out', 'storage'],
    ['inp', 'read-only-storage'],
    ['cs', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['T', 'u32'],
    ['nH', 'u32'],
    ['D', 'u32'],
    ['outT', 'u32'],
    ['outStart', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, T: u32, nH: u32, D: u32, outT: u32, outStart: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (B·outT, nH, D)
@group(0) @binding(2) var<storage, read> inp: array<f32>;       // (N, nH, D)
@group(0) @binding(3) var<storage, read> cs: array<f32>;        // (N, D)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let half = p.D / 2u;
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx >= p.N * p.nH * half) { return; }
  let i = idx % half;
  let h = (idx / half) % p.nH;
  let n = idx / (half * p.nH);
  let inBase = (n * p.nH + h) * p.D;
  let outRow = (n / p.T) * p.outT + p.outStart + n % p.T;
  let outBase = (outRow * p.nH + h) * p.D;
  let c = cs[n * p.D + i];
  let s = cs[n * p.D + half + i];
  let x1 = inp[inBase + i];
  let x2 = inp[inBase + i + half];
  out[outBase + i] = x1 * c - x2 * s;
  out[outBase + i + half] = x2 * c + x1 * s;
}
`,
};

/** out row (n / T) · outT + outStart + n % T ← inp row n, rows of W floats (the values into the cache). */
export const scatterRowsKernel: KernelDef = {
  name: 'scatter_rows',
  bindings: [
    ['out', 'storage'],
    ['inp', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['T', 'u32'],
    ['W', 'u32'],
    ['outT', 'u32'],
    ['outStart', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, T: u32, W: u32, outT: u32, outStart: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (B·outT, W)
@group(0) @binding(2) var<storage, read> inp: array<f32>;       // (N, W)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx >= p.N * p.W) { return; }
  let n = idx / p.W;
  let c = idx % p.W;
  let outRow = (n / p.T) * p.outT + p.outStart + n % p.T;
  out[outRow * p.W + c] = inp[idx];
}
`,
};
