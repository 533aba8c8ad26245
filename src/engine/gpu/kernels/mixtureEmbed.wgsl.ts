// The input of the next step of a mixture-of-token rollout, and the hidden-state entropy of each step.
// mixture_embed: e_b = Σ_j w_bj · wte[id_bj] over the row's recorded ids and weights (the previous step's
// mixture_step output), plus σ · n with n_c = standard normal at draws DRAW_NOISE + 2c of the record's
// counters when the fed record is a noisy mixture step — or wte[id] when the row feeds a given token (a
// forced `</think>`, padding). hidden_entropy: −Σ q log q, q = softmax over the C hidden dimensions of one
// row of the residual stream (MOTG.md §4), written to out[b · L + layer]. input_noise: the same noise added
// again to the training forward's mixture inputs, from each position's recorded counters.
import type { KernelDef } from '../pipelines.ts';
import { WGSL_MOT_RANDOM } from './motRandom.wgsl.ts';
import { perDtype, weightBinding } from './weightLoad.wgsl.ts';

/** out (B, C): the next inputs. ctrl (B, 8): [1] counter row, [3] given id (0xffffffff: the record),
 * [4] counter step of the record being fed. meta (B, 8): [0] n, [4] mixture flag. */
export const mixtureEmbedKernel = perDtype((dtype, suffix) => ({
  name: `mixture_embed${suffix}`,
  bindings: [
    ['out', 'storage'],
    ['ctrl', 'read-only-storage'],
    ['recIds', 'read-only-storage'],
    ['recW', 'read-only-storage'],
    ['rowMeta', 'read-only-storage'],
    ['wte', 'read-only-storage'],
  ],
  params: [
    ['B', 'u32'],
    ['C', 'u32'],
    ['K', 'u32'],
    ['V', 'u32'],
    ['seed', 'u32'],
    ['noiseStd', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { B: u32, C: u32, K: u32, V: u32, seed: u32, noiseStd: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;   // (B, C)
@group(0) @binding(2) var<storage, read> ctrl: array<u32>;        // (B, 8)
@group(0) @binding(3) var<storage, read> recIds: array<u32>;      // (B, K)
@group(0) @binding(4) var<storage, read> recW: array<f32>;        // (B, K)
@group(0) @binding(5) var<storage, read> rowMeta: array<u32>;        // (B, 8)
${weightBinding(6, 'wte', dtype)}
${WGSL_MOT_RANDOM}
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.B * p.C) { return; }
  let b = i / p.C;
  let c = i % p.C;
  let given = ctrl[b * 8u + 3u];
  if (given != 0xffffffffu) {
    var v = 0.0;
    if (given < p.V) { v = wte_at(given * p.C + c); }
    out[i] = v;
    return;
  }
  let n = min(rowMeta[b * 8u], p.K);
  var acc = 0.0;
  for (var j = 0u; j < n; j++) {
    let id = recIds[b * p.K + j];
    if (id < p.V) { acc += recW[b * p.K + j] * wte_at(id * p.C + c); }
  }
  if (p.noiseStd > 0.0 && rowMeta[b * 8u + 4u] == 1u) {
    acc += p.noiseStd * mot_normal(p.seed, ctrl[b * 8u + 1u], ctrl[b * 8u + 4u], DRAW_NOISE + 2u * c);
  }
  out[i] = acc;
}
`,
}));

/**
 * out[n, c] += std · n_c for the positions `counters` marks noisy: the noise mixture_embed added when the
 * rollout fed that input (same mot_normal of the same counters and draws, added to the f32 mixture sum),
 * regenerated for the training forward (ref/embedding.ts InputNoise). counters (N, 4): [1 = noisy, seed,
 * row, step]. Runs after mixture_forward; no gradient (the noise is a constant of the input).
 */
export const inputNoiseKernel: KernelDef = {
  name: 'input_noise',
  bindings: [
    ['out', 'storage'],
    ['counters', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['C', 'u32'],
    ['noiseStd', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, C: u32, noiseStd: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (N, C)
@group(0) @binding(2) var<storage, read> counters: array<u32>;   // (N, 4)
${WGSL_MOT_RANDOM}
override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.N * p.C) { return; }
  let n = i / p.C;
  let c = i % p.C;
  if (counters[n * 4u] != 1u) { return; }
  let acc = out[i];
  out[i] = acc + p.noiseStd * mot_normal(counters[n * 4u + 1u], counters[n * 4u + 2u], counters[n * 4u + 3u], DRAW_NOISE + 2u * c);
}
`,
};

/** For row r = h[(b · stride + offset) · C ..][0..C): out[b · L + layer] = entropy of softmax(r), and
 * out[(B + b) · L + layer] = the scale-free entropy of its energy shares r_c² / Σ r² (mot/diagnostics.ts
 * energyEntropy, on r / max|r| as there). One workgroup per row. */
export const hiddenEntropyKernel: KernelDef = {
  name: 'hidden_entropy',
  bindings: [
    ['out', 'storage'],
    ['h', 'read-only-storage'],
  ],
  params: [
    ['B', 'u32'],
    ['C', 'u32'],
    ['stride', 'u32'],
    ['offset', 'u32'],
    ['L', 'u32'],
    ['layer', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { B: u32, C: u32, stride: u32, offset: u32, L: u32, layer: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (2, B, L): softmax, then scale-free
@group(0) @binding(2) var<storage, read> h: array<f32>;         // (B · stride, C)

override WG: u32 = 64;
var<workgroup> red: array<vec4f, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let b = wid.x + wid.y * nwg.x;
  if (b >= p.B) { return; }
  let base = (b * p.stride + p.offset) * p.C;
  var m = -3.4e38;
  var a = 0.0;
  for (var c = lid; c < p.C; c += WG) { m = max(m, h[base + c]); a = max(a, abs(h[base + c])); }
  red[lid] = vec4f(m, a, 0.0, 0.0);
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = vec4f(max(red[lid].xy, red[lid + s].xy), 0.0, 0.0); }
    workgroupBarrier();
  }
  let mx = red[0].x;
  let inv = select(0.0, 1.0 / red[0].y, red[0].y > 0.0);
  workgroupBarrier();
  // (Σ e^z, Σ e^z · z) of the softmax; (Σ q, Σ q log q) of q = (h / max|h|)².
  var acc = vec4f(0.0);
  for (var c = lid; c < p.C; c += WG) {
    let z = h[base + c] - mx;
    let e = exp(z);
    let x = h[base + c] * inv;
    let q = x * x;
    acc += vec4f(e, e * z, q, select(0.0, q * log(q), q > 0.0));
  }
  red[lid] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let t = red[0];
    out[b * p.L + p.layer] = log(t.x) - t.y / t.x;
    out[(p.B + b) * p.L + p.layer] = select(0.0, log(t.z) - t.w / t.z, t.z > 0.0);
  }
}
`,
};
