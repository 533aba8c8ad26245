// Split-V decoding: the kernels of sample.wgsl.ts (argmax, inverse-CDF sampling) and logits.wgsl.ts's entropy
// with a row's V logits spread over many workgroups. With B = 8 rows and V = 151,936 the one-workgroup-per-row
// kernels run 8 workgroups; here pass 1 runs one per (row, chunk of Vc entries) and pass 2 one per row over
// the ≤ VOCAB_CHUNKS_MAX chunk summaries (re-reading one chunk when it samples).
//
// Pass 1 (vocabChunkStatsKernel) writes 3 u32 per (row, chunk): the bits of the chunk's max of x, then its
// first index (MODE 0, 1) or the bits of Σ e^z · z (MODE 2), then the bits of Σ e^z (MODE 1, 2), where
// z = s·x − m, s = 1 / temperature and m = max(NEG, s · chunk max) — s·max(x) = max(s·x) exactly, as rounding
// is monotone, so m is what the unchunked kernels would compute over the chunk.
// Pass 2 combines: greedy takes the first chunk holding the largest max (chunks in order: the lowest index on
// ties, as torch.argmax); sampling forms the row max M, the chunk masses Σ_c e^(m_c − M), the target u · total,
// the first chunk whose running mass passes it, and inside that chunk the same two-level inverse-CDF walk as
// sampleKernel; entropy = log Z − Y / Z from the rescaled sums.
import { WGSL_COUNTER_RNG } from '../../../mot/rng.ts';
import type { KernelDef } from '../pipelines.ts';

/** Most chunks per row pass 2 takes (its workgroup size): ops.ts widens the chunk when V needs more. */
export const VOCAB_CHUNKS_MAX = 256;
/** u32 words of pass 1's output per (row, chunk). */
export const VOCAB_CHUNK_WORDS = 3;
/** Pass 1's MODE: what it sums besides the max. */
export const CHUNK_MODE = { argmax: 0, sample: 1, entropy: 2 } as const;

/** Split-V for argmax, sampling and entropy (ops.ts), or one workgroup per row over all V; chunk: its width. */
export interface VocabSplit {
  chunked: boolean;
  chunk?: number;
}
/** Automatic split-V: for V above this (and, for the entropy, at most VOCAB_SPLIT_MAX_ROWS rows). */
export const VOCAB_SPLIT_ABOVE = 4096;
export const VOCAB_SPLIT_MAX_ROWS = 64;
export const VOCAB_SPLIT_CHUNK = 2048;

/** The chunk width for rows of V (0: one workgroup per row), widened to at most VOCAB_CHUNKS_MAX chunks. */
export function vocabChunkWidth(V: number, fewRows: boolean, forced?: VocabSplit): number {
  if (forced ? !forced.chunked : !(fewRows && V > VOCAB_SPLIT_ABOVE)) return 0;
  const chunk = forced?.chunk ?? VOCAB_SPLIT_CHUNK;
  if (!(Number.isInteger(chunk) && chunk >= 1)) throw new Error(`vocab split: chunk = ${chunk}`);
  return Math.max(chunk, Math.ceil(V / VOCAB_CHUNKS_MAX));
}

const common = /* wgsl */ `
const NEG = -3.0e38;
const NONE = 0xffffffffu;
override WG: u32 = ${VOCAB_CHUNKS_MAX};
var<workgroup> red: array<f32, WG>;
var<workgroup> red2: array<f32, WG>;
var<workgroup> redI: array<u32, WG>;

// (red, redI)[0] = the largest value, the lowest index among equals (NONE: empty slot)
fn reduce_argmax(lid: u32) {
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      let ov = red[lid + st];
      let oi = redI[lid + st];
      let mv = red[lid];
      let mi = redI[lid];
      if (oi != NONE && (mi == NONE || ov > mv || (ov == mv && oi < mi))) {
        red[lid] = ov;
        redI[lid] = oi;
      }
    }
    workgroupBarrier();
  }
}

// red[0] = Σ red, red2[0] = Σ red2
fn reduce_sums(lid: u32) {
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) {
      red[lid] += red[lid + st];
      red2[lid] += red2[lid + st];
    }
    workgroupBarrier();
  }
}

// red[0] = max of red
fn reduce_max(lid: u32) {
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st >>= 1u) {
    if (lid < st) { red[lid] = max(red[lid], red[lid + st]); }
    workgroupBarrier();
  }
}
`;

const rowParams = [
  ['N', 'u32'],
  ['V', 'u32'],
  ['stride', 'u32'],
  ['offset', 'u32'],
  ['Vc', 'u32'],
  ['chunks', 'u32'],
  ['invTemperature', 'f32'],
] as const;

/** Pass 1: partials (N, chunks, 3) from row r · stride + offset of x, one workgroup per (row, chunk). */
export const vocabChunkStatsKernel: KernelDef = {
  name: 'vocab_chunk_stats',
  bindings: [
    ['partials', 'storage'],
    ['x', 'read-only-storage'],
  ],
  params: rowParams,
  source: /* wgsl */ `
struct Params { N: u32, V: u32, stride: u32, offset: u32, Vc: u32, chunks: u32, invTemperature: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> partials: array<u32>; // (N, chunks, 3)
@group(0) @binding(2) var<storage, read> x: array<f32>;              // (N · stride, V)
override MODE: u32 = 0u;
${common}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (g >= p.N * p.chunks) { return; }
  let row = g / p.chunks;
  let lo = (g % p.chunks) * p.Vc;
  let hi = min(lo + p.Vc, p.V);
  let base = (row * p.stride + p.offset) * p.V;
  var bv = -3.4e38;
  var bi = NONE;
  for (var i = lo + lid; i < hi; i += WG) {
    let xv = x[base + i];
    if (xv > bv || bi == NONE) { bv = xv; bi = i; }
  }
  red[lid] = bv;
  redI[lid] = bi;
  reduce_argmax(lid);
  let cmax = red[0];
  let cidx = redI[0];
  workgroupBarrier();
  var mass = 0.0;
  var ez = 0.0;
  if (MODE != 0u) {
    let s = p.invTemperature;
    let m = max(NEG, s * cmax);
    for (var i = lo + lid; i < hi; i += WG) {
      let z = s * x[base + i] - m;
      let e = exp(z);
      mass += e;
      if (e > 0.0) { ez += e * z; }
    }
    red[lid] = mass;
    red2[lid] = ez;
    reduce_sums(lid);
    mass = red[0];
    ez = red2[0];
  }
  if (lid == 0u) {
    let o = g * 3u;
    partials[o] = bitcast<u32>(cmax);
    partials[o + 1u] = select(cidx, bitcast<u32>(ez), MODE == 2u);
    partials[o + 2u] = bitcast<u32>(mass);
  }
}
`,
};

/** Pass 2, greedy: ids (N) = the first index of the row's largest logit, from pass 1 (MODE argmax or sample). */
export const vocabChunksArgmaxKernel: KernelDef = {
  name: 'vocab_chunks_argmax',
  bindings: [
    ['ids', 'storage'],
    ['partials', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['chunks', 'u32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, chunks: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;  // (N)
@group(0) @binding(2) var<storage, read> partials: array<u32>;   // (N, chunks, 3)
${common}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  red[lid] = -3.4e38;
  redI[lid] = NONE;
  if (lid < p.chunks) {
    let o = (row * p.chunks + lid) * 3u;
    red[lid] = bitcast<f32>(partials[o]);
    redI[lid] = partials[o + 1u];
  }
  reduce_argmax(lid);
  if (lid == 0u) { ids[row] = redI[0]; }
}
`,
};

/** Pass 2, sampling: ids (N) = inverse-CDF sample of softmax(x / temperature) at counter_uniform(seed, r, step, 0). */
export const vocabChunksSampleKernel: KernelDef = {
  name: 'vocab_chunks_sample',
  bindings: [
    ['ids', 'storage'],
    ['partials', 'read-only-storage'],
    ['x', 'read-only-storage'],
  ],
  params: [...rowParams, ['seed', 'u32'], ['step', 'u32']],
  source: /* wgsl */ `
struct Params {
  N: u32, V: u32, stride: u32, offset: u32, Vc: u32, chunks: u32, invTemperature: f32, seed: u32, step: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> ids: array<u32>;  // (N)
@group(0) @binding(2) var<storage, read> partials: array<u32>;   // (N, chunks, 3)
@group(0) @binding(3) var<storage, read> x: array<f32>;          // (N · stride, V)
${WGSL_COUNTER_RNG}
${common}
var<workgroup> pickChunk: u32;
var<workgroup> pickAcc: f32;
var<workgroup> pickGoal: f32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let s = p.invTemperature;
  let pb = row * p.chunks * 3u;
  // 1. row max M of s·x from the chunk maxima
  var cm = NEG;
  if (lid < p.chunks) { cm = max(NEG, s * bitcast<f32>(partials[pb + lid * 3u])); }
  red[lid] = cm;
  reduce_max(lid);
  let mx = red[0];
  workgroupBarrier();
  // 2. each chunk's mass Σ e^(s·x − M)
  var w = 0.0;
  if (lid < p.chunks) { w = bitcast<f32>(partials[pb + lid * 3u + 2u]) * exp(cm - mx); }
  red2[lid] = w;
  workgroupBarrier();
  // 3. one invocation totals them in order and finds the chunk where the running mass passes u · total
  if (lid == 0u) {
    var total = 0.0;
    for (var t = 0u; t < p.chunks; t++) { total += red2[t]; }
    let goal = counter_uniform(p.seed, row, p.step, 0u) * total;
    var acc = 0.0;
    var tc = p.chunks;
    var lastPos = 0u;
    for (var t = 0u; t < p.chunks; t++) {
      if (red2[t] > 0.0) { lastPos = t; }
      if (tc == p.chunks && acc + red2[t] > goal) { tc = t; }
      if (tc == p.chunks) { acc += red2[t]; }
    }
    if (tc == p.chunks) { tc = lastPos; acc = total - red2[lastPos]; }
    pickChunk = tc;
    pickAcc = acc;
    pickGoal = goal;
  }
  workgroupBarrier();
  // 4. inside that chunk, sampleKernel's walk: the mass of each invocation's contiguous piece, then one
  //    invocation walks the pieces and the chosen piece's entries
  let base = (row * p.stride + p.offset) * p.V;
  let clo = pickChunk * p.Vc;
  let chi = min(clo + p.Vc, p.V);
  let piece = (chi - clo + WG - 1u) / WG;
  let lo = min(clo + lid * piece, chi);
  let hi = min(lo + piece, chi);
  var mass = 0.0;
  for (var i = lo; i < hi; i++) { mass += exp(s * x[base + i] - mx); }
  red[lid] = mass;
  workgroupBarrier();
  if (lid == 0u) {
    let goal = pickGoal;
    var acc = pickAcc;
    var chunkTotal = 0.0;
    for (var t = 0u; t < WG; t++) { chunkTotal += red[t]; }
    var tp = WG;
    var lastPos = 0u;
    for (var t = 0u; t < WG; t++) {
      if (red[t] > 0.0) { lastPos = t; }
      if (tp == WG && acc + red[t] > goal) { tp = t; }
      if (tp == WG) { acc += red[t]; }
    }
    if (tp == WG) { tp = lastPos; acc = pickAcc + chunkTotal - red[lastPos]; }
    let plo = min(clo + tp * piece, chi);
    let phi = min(plo + piece, chi);
    var id = plo;
    for (var i = plo; i < phi; i++) {
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

/** Pass 2, entropy: out (N) = entropy (nats) of softmax(x / temperature), from pass 1 in MODE entropy. */
export const vocabChunksEntropyKernel: KernelDef = {
  name: 'vocab_chunks_entropy',
  bindings: [
    ['out', 'storage'],
    ['partials', 'read-only-storage'],
  ],
  params: [
    ['N', 'u32'],
    ['chunks', 'u32'],
    ['invTemperature', 'f32'],
  ],
  source: /* wgsl */ `
struct Params { N: u32, chunks: u32, invTemperature: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;  // (N)
@group(0) @binding(2) var<storage, read> partials: array<u32>;   // (N, chunks, 3)
${common}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.N) { return; }
  let o = (row * p.chunks + lid) * 3u;
  var cm = NEG;
  if (lid < p.chunks) { cm = max(NEG, p.invTemperature * bitcast<f32>(partials[o])); }
  red[lid] = cm;
  reduce_max(lid);
  let mx = red[0];
  workgroupBarrier();
  // Z = Σ_c S_c e^(m_c − M); Y = Σ_c e^(m_c − M) (Y_c + (m_c − M) S_c), as z = (s·x − m_c) + (m_c − M)
  var z = 0.0;
  var y = 0.0;
  if (lid < p.chunks) {
    let w = exp(cm - mx);
    let sc = bitcast<f32>(partials[o + 2u]);
    if (w > 0.0 && sc > 0.0) {
      z = sc * w;
      y = w * (bitcast<f32>(partials[o + 1u]) + (cm - mx) * sc);
    }
  }
  red[lid] = z;
  red2[lid] = y;
  reduce_sums(lid);
  if (lid == 0u) { out[row] = log(red[0]) - red2[0] / red[0]; }
}
`,
};
