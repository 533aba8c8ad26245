// Backward of the linear layer (matmul.wgsl.ts), HF layout W (OC, IC). Accumulation rule: see
// gpu/opsBackward.ts.
//   dinp (N, IC)   = dout (N, OC) · W          — the forward kernel with W read as [in, out] (ops.ts)
//   dweight (OC, IC) += alpha · doutᵀ · inp    — matmul_backward_weight, below
//   dbias (OC)     += Σ_n dout[n, :]           — matmul_backward_bias, below
// Both reductions over the N rows run in a fixed order (no atomics): the result is deterministic.
import type { KernelDef } from '../pipelines.ts';

/**
 * dweight (OC, IC) += alpha · doutᵀ (OC, N) · inp (N, IC). 64×64 tile of dweight per workgroup of
 * 16×16 invocations, 4×4 outputs each (rows ly + 16i, columns lx + 16j), N in steps of 16 through
 * workgroup memory; consecutive invocations load consecutive columns of dout and inp.
 * Grid (⌈IC/64⌉, ⌈OC/64⌉). Also the dense mixture's dwte (V, C) += probsᵀ · dout.
 */
export const matmulBackwardWeightKernel: KernelDef = {
  name: 'matmul_backward_weight',
  bindings: [
    ['dweight', 'storage'],
    ['dout', 'read-only-storage'],
    ['inp', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['IC', 'u32'],
    ['OC', 'u32'],
    ['alpha', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, IC: u32, OC: u32, alpha: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dweight: array<f32>; // (OC, IC)  +=
@group(0) @binding(2) var<storage, read> dout: array<f32>;          // (N, OC)
@group(0) @binding(3) var<storage, read> inp: array<f32>;           // (N, IC)

const TILE = 64u;
const TK = 16u;
var<workgroup> As: array<f32, 1024>; // [k][o] (TK × TILE)
var<workgroup> Bs: array<f32, 1024>; // [k][i] (TK × TILE)

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let o0 = wid.y * TILE;
  let i0 = wid.x * TILE;
  var acc: array<f32, 16>;
  for (var n0 = 0u; n0 < p.N; n0 += TK) {
    for (var e = 0u; e < 4u; e++) {
      let idx = li + e * 256u;
      let r = idx % TILE;
      let kk = idx / TILE;
      let n = n0 + kk;
      var a = 0.0;
      if (n < p.N && o0 + r < p.OC) { a = dout[n * p.OC + o0 + r]; }
      As[kk * TILE + r] = a;
      var b = 0.0;
      if (n < p.N && i0 + r < p.IC) { b = inp[n * p.IC + i0 + r]; }
      Bs[kk * TILE + r] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a[i] = As[kk * TILE + lid.y + 16u * i];
        b[i] = Bs[kk * TILE + lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] += a[i] * b[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let o = o0 + lid.y + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let c = i0 + lid.x + 16u * j;
      if (o < p.OC && c < p.IC) {
        let at = o * p.IC + c;
        dweight[at] = dweight[at] + p.alpha * acc[i * 4u + j];
      }
    }
  }
}
`,
};

/** dbias (OC) += Σ_n dout[n, o]. One invocation per o, rows summed in order. */
export const matmulBackwardBiasKernel: KernelDef = {
  name: 'matmul_backward_bias',
  bindings: [
    ['dbias', 'storage'],
    ['dout', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['OC', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, OC: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> dbias: array<f32>; // (OC)  +=
@group(0) @binding(2) var<storage, read> dout: array<f32>;        // (N, OC)

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.OC) { return; }
  var s = 0.0;
  for (var n = 0u; n < p.N; n++) { s += dout[n * p.OC + o]; }
  dbias[o] += s;
}
`,
};
