// One mixture-of-token decoding step per row on the GPU (MOTG.md §1), the twin of src/mot/step.ts: from the
// row's logits, p = softmax(z/T), the top-k / top-p / min-p candidates, the chosen ids (top k, k draws without
// replacement by Gumbel-top-k, every candidate, or one categorical draw), the weights (renormalised, Dirichlet
// with Gamma sampling correct for α < 1, Gumbel-softmax, Mixture of Inputs), the representative, the behaviour
// log-likelihood in the paper or exact mode, and the entropy. Randomness comes from counter_uniform(seed, row,
// step, draw) with src/mot/random.ts's draw layout (DRAW, WEIGHT_BLOCK), so ids and representatives equal the
// CPU step's and weights / likelihoods agree to f32 rounding.
//
// One workgroup of WG invocations per row. The candidate set is a prefix of the ids sorted by decreasing
// logit (ties: lower id first), found without sorting V entries: a binary search over the 32-bit monotone key
// of the logit for the threshold where a count (or a probability mass, for top-p) is reached, then over ids
// among ties. The few chosen ids are gathered into a per-row scratch list and bitonic-sorted there.
//
// Outputs per row b: recIds/recW (b, 0..n), meta (b, 0..8) = n, representative, argmax, sampled (0xffffffff:
// none), mixture flag, bits of log-likelihood, of entropy, of temperature. ctrl (b, 0..8) = mode (0 skip,
// 1 thinking, 2 answer), counter row, counter step, (inputs of the embedding kernel).
import { WGSL_COUNTER_RNG } from '../../../mot/rng.ts';
import type { KernelDef } from '../pipelines.ts';

/** WGSL of random.ts: uniform, Gumbel, Box–Muller normal, log-Gamma (Marsaglia–Tsang with the α < 1 boost). */
export const WGSL_MOT_RANDOM = /* wgsl */ `
${WGSL_COUNTER_RNG}
const DRAW_CHOICE: u32 = 0u;
const DRAW_WEIGHTS: u32 = 0x10000000u;
const DRAW_MOI: u32 = 0x40000000u;
const DRAW_REP: u32 = 0x50000000u;
const DRAW_NOISE: u32 = 0x60000000u;
const WEIGHT_BLOCK: u32 = 64u;
const GAMMA_ATTEMPTS: u32 = 21u;
const TWO_PI: f32 = 6.283185307179586;

fn mot_uniform(seed: u32, row: u32, step: u32, draw: u32) -> f32 {
  return counter_uniform(seed, row, step, draw);
}
// (0, 1]: 1 − u, exact in f32.
fn mot_uniform_pos(seed: u32, row: u32, step: u32, draw: u32) -> f32 {
  return 1.0 - counter_uniform(seed, row, step, draw);
}
fn mot_gumbel(seed: u32, row: u32, step: u32, draw: u32) -> f32 {
  let u = max(counter_uniform(seed, row, step, draw), 2.98023223876953125e-8); // 2^-25
  return -log(-log(u));
}
fn mot_normal(seed: u32, row: u32, step: u32, draw: u32) -> f32 {
  let u1 = mot_uniform_pos(seed, row, step, draw);
  let u2 = counter_uniform(seed, row, step, draw + 1u);
  return sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2);
}
fn mot_log_gamma_sample(alpha: f32, seed: u32, row: u32, step: u32, base: u32) -> f32 {
  let boost = alpha < 1.0;
  var a = alpha;
  if (boost) { a = alpha + 1.0; }
  let d = a - 1.0 / 3.0;
  let cc = 1.0 / sqrt(9.0 * d);
  var logX = log(d);
  for (var attempt = 0u; attempt < GAMMA_ATTEMPTS; attempt++) {
    let x = mot_normal(seed, row, step, base + 3u * attempt);
    let t = 1.0 + cc * x;
    if (t <= 0.0) { continue; }
    let v = t * t * t;
    let logU = log(mot_uniform_pos(seed, row, step, base + 3u * attempt + 2u));
    if (logU < 0.5 * x * x + d - d * v + d * log(v)) {
      logX = log(d * v);
      break;
    }
  }
  if (boost) { logX += log(mot_uniform_pos(seed, row, step, base + WEIGHT_BLOCK - 1u)) / alpha; }
  return logX;
}
`;

/** log Γ(x), x > 0, in f32: shift to x ≥ 8 by Σ log(x + i), then Stirling's series. */
export const WGSL_LGAMMA = /* wgsl */ `
fn mot_lgamma(x0: f32) -> f32 {
  var x = x0;
  var s = 0.0;
  for (var i = 0u; i < 16u; i++) {
    if (x >= 8.0) { break; }
    s += log(x);
    x += 1.0;
  }
  let inv = 1.0 / x;
  let inv2 = inv * inv;
  let series = inv * (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 / 1680.0)));
  return (x - 0.5) * log(x) - x + 0.91893853320467274 + series - s;
}
`;

/** Codes of the settings in the kernel's params (gpu/mixture.ts maps MotSettings onto them). */
export const SELECT_CODE = { top: 0, sample: 1, all: 2 } as const;
export const WEIGHT_CODE = { renormalised: 0, dirichlet: 1, 'gumbel-softmax': 2, moi: 3 } as const;
export const REPRESENTATIVE_CODE = {
  weighted: 0,
  'weighted-topk-quirk': 1,
  argmax: 2,
  'max-weight': 3,
  sampled: 4,
} as const;
/** Row modes in ctrl. */
export const MODE_CODE = { skip: 0, thinking: 1, answer: 2 } as const;
/** u32 per row of meta and of ctrl. */
export const META_STRIDE = 8;
export const CTRL_STRIDE = 8;
export const NO_ID = 0xffffffff;

export const mixtureStepKernel: KernelDef = {
  name: 'mixture_step',
  bindings: [
    ['ctrl', 'read-only-storage'],
    ['x', 'read-only-storage'],
    ['recIds', 'storage'],
    ['recW', 'storage'],
    ['rowMeta', 'storage'],
    ['sk', 'storage'],
    ['sv', 'storage'],
  ],
  params: [
    ['V', 'u32'],
    ['K', 'u32'],
    ['P', 'u32'],
    ['C', 'u32'],
    ['seed', 'u32'],
    ['mixture', 'u32'],
    ['selectKind', 'u32'],
    ['k', 'u32'],
    ['weightKind', 'u32'],
    ['repRule', 'u32'],
    ['exact', 'u32'],
    ['weightedIds', 'u32'],
    ['tMix', 'f32'],
    ['tDisc', 'f32'],
    ['paperOne', 'u32'],
    ['noise', 'u32'],
    ['topP', 'f32'],
    ['minP', 'f32'],
    ['dTopK', 'u32'],
    ['dTopP', 'f32'],
    ['dMinP', 'f32'],
    ['concentration', 'f32'],
    ['gumbelTau', 'f32'],
    ['moiBeta', 'f32'],
  ],
  source: /* wgsl */ `
struct Params {
  V: u32, K: u32, P: u32, C: u32,
  seed: u32, mixture: u32, selectKind: u32, k: u32,
  weightKind: u32, repRule: u32, exact: u32, weightedIds: u32,
  tMix: f32, tDisc: f32, paperOne: u32, noise: u32,
  topP: f32, minP: f32, dTopK: u32, dTopP: f32,
  dMinP: f32, concentration: f32, gumbelTau: f32, moiBeta: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ctrl: array<u32>;         // (B, 8)
@group(0) @binding(2) var<storage, read> x: array<f32>;            // (B, V) logits
@group(0) @binding(3) var<storage, read_write> recIds: array<u32>; // (B, K)
@group(0) @binding(4) var<storage, read_write> recW: array<f32>;   // (B, K)
@group(0) @binding(5) var<storage, read_write> rowMeta: array<u32>;   // (B, 8)
@group(0) @binding(6) var<storage, read_write> sk: array<u32>;     // (B, P) scratch keys
@group(0) @binding(7) var<storage, read_write> sv: array<u32>;     // (B, P) scratch ids
${WGSL_MOT_RANDOM}
${WGSL_LGAMMA}
override WG: u32 = 256;
const ALL: u32 = 0xffffffffu;
const WEIGHT_FLOOR: f32 = 1e-20;
const ALPHA_FLOOR: f32 = 1e-30;

// Reductions are flat (each invocation's partial, then invocation 0 adds them in order): on software
// adapters every inlined barrier costs compile time, so each routine with barriers is called from ONE place
// (the threshold search runs as one loop around one pass) and the per-list work is sequential on invocation 0.
var<workgroup> r4: array<vec4f, WG>;
var<workgroup> ru: array<u32, WG>;
var<workgroup> ru2: array<u32, WG>;
var<workgroup> sh4: vec4f;
var<workgroup> shv: vec4u;
var<workgroup> shu: u32;
var<workgroup> counter: atomic<u32>;

// The row's state (identical in every invocation of the workgroup).
var<private> rb: u32;       // b · V
var<private> kb: u32;       // b · P
var<private> ob: u32;       // b · K
var<private> crow: u32;
var<private> cstep: u32;
var<private> greedy: bool;
var<private> invT: f32;
var<private> zmax: f32;
var<private> logS: f32;     // log Σ exp((z − zmax)/T)
var<private> amax: u32;
var<private> candKey: u32;  // the candidate set: key > candKey, or key == candKey and id < candEnd
var<private> candEnd: u32;

// Monotone u32 of an f32 (−0 as +0): a > b as floats ⟺ key(a) > key(b).
fn fkey(f: f32) -> u32 {
  var b = bitcast<u32>(f);
  if ((b & 0x7fffffffu) == 0u) { b = 0u; }
  if ((b & 0x80000000u) != 0u) { return ~b; }
  return b | 0x80000000u;
}
fn zkey(v: u32) -> u32 { return fkey(x[rb + v]); }
fn logprob(v: u32) -> f32 { return (x[rb + v] - zmax) * invT - logS; }
fn prob(v: u32) -> f32 {
  if (greedy) { return select(0.0, 1.0, v == amax); }
  return exp(logprob(v));
}
fn is_cand(v: u32) -> bool {
  let k = zkey(v);
  return k > candKey || (k == candKey && v < candEnd);
}
fn gkey(v: u32) -> u32 {
  return fkey(logprob(v) + mot_gumbel(p.seed, crow, cstep, DRAW_CHOICE + v));
}
// The key of v for a kind (0: logit, 1: Gumbel key of a candidate), 0 when v is not in the kind's domain.
fn key_of(kind: u32, v: u32) -> u32 {
  if (kind == 0u) { return zkey(v); }
  if (!is_cand(v)) { return 0u; }
  return gkey(v);
}

fn reduce4(a: vec4f, lid: u32) -> vec4f {
  r4[lid] = a;
  workgroupBarrier();
  if (lid == 0u) {
    var t = vec4f(0.0);
    for (var i = 0u; i < WG; i++) { t += r4[i]; }
    sh4 = t;
  }
  return workgroupUniformLoad(&sh4);
}

// Count (x) and probability mass (y) of { v : key(v) > tk, or key(v) == tk and v < tEnd }.
fn stat(kind: u32, tk: u32, tEnd: u32, lid: u32) -> vec2f {
  var acc = vec4f(0.0);
  for (var v = lid; v < p.V; v += WG) {
    let key = key_of(kind, v);
    if (key != 0u && (key > tk || (key == tk && v < tEnd))) { acc += vec4f(1.0, prob(v), 0.0, 0.0); }
  }
  return reduce4(acc, lid).xy;
}

struct Thresh { tk: u32, te: u32, count: f32, mass: f32 }

// The set of the first ids by decreasing key (ties: lower id first) whose count (which = 0) or mass
// (which = 1) reaches goal: tk = the largest key with stat(key ≥ tk) ≥ goal, then te = the smallest end among
// ties at tk. One pass per iteration: the key search (≤ 32), > and ≥ at tk, the tie search, the final stat.
fn threshold(kind: u32, which: u32, goal: f32, lid: u32) -> Thresh {
  var phase = 0u;
  var lo = 0u;
  var hi = ALL;
  var a = 1u;
  var c = p.V;
  var gt = vec2f(0.0);
  var res = Thresh(0u, ALL, 0.0, 0.0);
  loop {
    var qk = lo;
    var qe = ALL;
    var mid = 0u;
    if (phase == 0u) {
      if (lo >= hi) {
        phase = 1u;
        qe = 0u;
      } else {
        mid = lo + (hi - lo) / 2u + ((hi - lo) & 1u);
        qk = mid;
      }
    } else if (phase == 3u) {
      if (a >= c) {
        phase = 4u;
        qe = a;
      } else {
        mid = (a + c) / 2u;
        qe = mid;
      }
    }
    let s = stat(kind, qk, qe, lid);
    if (phase == 0u) {
      if (s[which] >= goal) { lo = mid; } else { hi = mid - 1u; }
    } else if (phase == 1u) {
      gt = s;
      phase = 2u;
    } else if (phase == 2u) {
      if (s.x - gt.x > 1.0) {
        phase = 3u;
      } else {
        res = Thresh(lo, ALL, s.x, s.y);
        break;
      }
    } else if (phase == 3u) {
      if (s[which] >= goal) { c = mid; } else { a = mid + 1u; }
    } else {
      res = Thresh(lo, a, s.x, s.y);
      break;
    }
  }
  return res;
}

// Gather { v : key > tk or (key == tk and v < tEnd) } into sk/sv (unordered); returns how many.
fn gather(kind: u32, tk: u32, tEnd: u32, lid: u32) -> u32 {
  if (lid == 0u) { atomicStore(&counter, 0u); }
  workgroupBarrier();
  for (var v = lid; v < p.V; v += WG) {
    let key = key_of(kind, v);
    if (key != 0u && (key > tk || (key == tk && v < tEnd))) {
      let i = atomicAdd(&counter, 1u);
      if (i < p.P) {
        sk[kb + i] = key;
        sv[kb + i] = v;
      }
    }
  }
  workgroupBarrier();
  if (lid == 0u) { shu = min(atomicLoad(&counter), p.P); }
  return workgroupUniformLoad(&shu);
}

// Bitonic sort of the first m scratch entries by decreasing key, ties by increasing id.
fn sort_list(m: u32, lid: u32) {
  var n2 = 1u;
  loop {
    if (n2 >= m) { break; }
    n2 <<= 1u;
  }
  for (var i = m + lid; i < n2; i += WG) {
    sk[kb + i] = 0u;
    sv[kb + i] = ALL;
  }
  storageBarrier();
  for (var kk = 2u; kk <= n2; kk <<= 1u) {
    for (var j = kk >> 1u; j > 0u; j >>= 1u) {
      for (var i = lid; i < n2; i += WG) {
        let l = i ^ j;
        if (l > i) {
          let ka = sk[kb + i];
          let va = sv[kb + i];
          let kc = sk[kb + l];
          let vc = sv[kb + l];
          let aFirst = ka > kc || (ka == kc && va < vc);
          if (aFirst != ((i & kk) == 0u)) {
            sk[kb + i] = kc;
            sv[kb + i] = vc;
            sk[kb + l] = ka;
            sv[kb + l] = va;
          }
        }
      }
      storageBarrier();
    }
  }
}

// One categorical draw over the candidates scanned in increasing id order (random.ts sampleCategorical):
// each invocation's contiguous chunk mass, then invocation 0 walks the chunks and the chosen chunk.
fn sample_candidates(draw: u32, lid: u32) -> u32 {
  let chunk = (p.V + WG - 1u) / WG;
  let lo = min(lid * chunk, p.V);
  let hi = min(lo + chunk, p.V);
  var mass = 0.0;
  for (var v = lo; v < hi; v++) {
    if (is_cand(v)) { mass += prob(v); }
  }
  r4[lid] = vec4f(mass, 0.0, 0.0, 0.0);
  workgroupBarrier();
  if (lid == 0u) {
    var total = 0.0;
    for (var t = 0u; t < WG; t++) { total += r4[t].x; }
    let goal = mot_uniform(p.seed, crow, cstep, draw) * total;
    var acc = 0.0;
    var tc = WG;
    var lastPos = 0u;
    for (var t = 0u; t < WG; t++) {
      if (r4[t].x > 0.0) { lastPos = t; }
      if (tc == WG && acc + r4[t].x > goal) { tc = t; }
      if (tc == WG) { acc += r4[t].x; }
    }
    if (tc == WG) {
      tc = lastPos;
      acc = total - r4[lastPos].x;
    }
    let clo = min(tc * chunk, p.V);
    let chi = min(clo + chunk, p.V);
    var id = amax;
    for (var v = clo; v < chi; v++) {
      if (!is_cand(v)) { continue; }
      let e = prob(v);
      if (e <= 0.0) { continue; }
      id = v;
      acc += e;
      if (acc > goal) { break; }
    }
    shu = id;
  }
  return workgroupUniformLoad(&shu);
}

// ---- Sequential work on the short list (invocation 0 only; no barriers) ----

// Index drawn from recW[ob .. ob + m) by inverting the CDF at one uniform, in list order.
fn categorical_list(m: u32, draw: u32) -> u32 {
  var sum = 0.0;
  for (var j = 0u; j < m; j++) { sum += recW[ob + j]; }
  let goal = mot_uniform(p.seed, crow, cstep, draw) * sum;
  var acc = 0.0;
  var last = 0u;
  for (var j = 0u; j < m; j++) {
    let w = recW[ob + j];
    if (w <= 0.0) { continue; }
    acc += w;
    last = j;
    if (acc > goal) { return j; }
  }
  return last;
}

// recW ← softmax(recW) over the list, then floored at WEIGHT_FLOOR and renormalised (weights.ts).
fn softmax_floor_list(m: u32) {
  var mx = -3.4e38;
  for (var j = 0u; j < m; j++) { mx = max(mx, recW[ob + j]); }
  var s = 0.0;
  for (var j = 0u; j < m; j++) {
    let e = exp(recW[ob + j] - mx);
    recW[ob + j] = e;
    s += e;
  }
  var s2 = 0.0;
  for (var j = 0u; j < m; j++) {
    let w = max(recW[ob + j] / s, WEIGHT_FLOOR);
    recW[ob + j] = w;
    s2 += w;
  }
  for (var j = 0u; j < m; j++) { recW[ob + j] = recW[ob + j] / s2; }
}

// p̃ over the list into recW (uniform when the list has no mass); returns Σ p.
fn renormalised_list(m: u32) -> f32 {
  var z = 0.0;
  for (var j = 0u; j < m; j++) { z += prob(sv[kb + j]); }
  for (var j = 0u; j < m; j++) {
    var q = 1.0 / f32(m);
    if (z > 0.0) { q = prob(sv[kb + j]) / z; }
    recW[ob + j] = q;
  }
  return z;
}

// The weights of a mixture step over the list (recW), and (representative, J, sampled): J is the
// Categorical(w) draw of the weighted representative rules.
fn list_weights(m: u32) -> vec3u {
  renormalised_list(m);
  var sampled = ALL;
  if (m > 1u && p.weightKind == 1u) {
    for (var j = 0u; j < m; j++) {
      let alpha = max(p.concentration * recW[ob + j], ALPHA_FLOOR);
      recW[ob + j] = mot_log_gamma_sample(alpha, p.seed, crow, cstep, DRAW_WEIGHTS + sv[kb + j] * WEIGHT_BLOCK);
    }
    softmax_floor_list(m);
  } else if (m > 1u && p.weightKind == 2u) {
    for (var j = 0u; j < m; j++) {
      let g = mot_gumbel(p.seed, crow, cstep, DRAW_WEIGHTS + sv[kb + j] * WEIGHT_BLOCK);
      recW[ob + j] = (log(recW[ob + j]) + g) / p.gumbelTau;
    }
    softmax_floor_list(m);
  } else if (p.weightKind == 3u) {
    // Mixture of Inputs: y ~ p̃, w = (H p̃ + (β + 1 − H) [j = y]) / (β + 1), H = entropy / log m.
    let slot = categorical_list(m, DRAW_MOI);
    var H = 0.0;
    if (m > 1u) {
      for (var j = 0u; j < m; j++) {
        let q = recW[ob + j];
        if (q > 0.0) { H -= q * log(q); }
      }
      H = H / log(f32(m));
    }
    let beta = p.moiBeta;
    for (var j = 0u; j < m; j++) {
      recW[ob + j] = (H * recW[ob + j] + select(0.0, beta + 1.0 - H, j == slot)) / (beta + 1.0);
    }
    sampled = sv[kb + slot];
  }
  var rep = sv[kb];
  var J = 0u;
  if (p.repRule == 2u) {
    rep = amax;
  } else if (p.repRule == 3u) {
    var best = 0u;
    for (var j = 1u; j < m; j++) { if (recW[ob + j] > recW[ob + best]) { best = j; } }
    rep = sv[kb + best];
  } else if (p.repRule == 4u) {
    if (sampled != ALL) { rep = sampled; }
  } else {
    J = categorical_list(m, DRAW_REP);
    rep = sv[kb + J];
  }
  return vec3u(rep, J, sampled);
}

// log Dir(w; c·p̃) or the Concrete log-density of w (exact mode), with p̃ = p over the list.
fn weights_density(m: u32) -> f32 {
  var z = 0.0;
  for (var j = 0u; j < m; j++) { z += prob(sv[kb + j]); }
  var d = 0.0;
  if (p.weightKind == 1u) {
    var sa = 0.0;
    for (var j = 0u; j < m; j++) {
      var q = 1.0 / f32(m);
      if (z > 0.0) { q = prob(sv[kb + j]) / z; }
      let a = max(p.concentration * q, ALPHA_FLOOR);
      sa += a;
      d += -mot_lgamma(a) + (a - 1.0) * log(recW[ob + j]);
    }
    return d + mot_lgamma(sa);
  }
  let tau = p.gumbelTau;
  let fm = f32(m);
  var tmax = -3.4e38;
  for (var j = 0u; j < m; j++) {
    tmax = max(tmax, log(prob(sv[kb + j]) / z) - tau * log(recW[ob + j]));
  }
  var se = 0.0;
  for (var j = 0u; j < m; j++) {
    let lq = log(prob(sv[kb + j]) / z);
    se += exp(lq - tau * log(recW[ob + j]) - tmax);
    d += lq - (tau + 1.0) * log(recW[ob + j]);
  }
  return d + mot_lgamma(fm) + (fm - 1.0) * log(tau) - fm * (tmax + log(se));
}

// Plackett–Luce log-probability of the list in draw order from p over the candidates:
// Σ_j log p(x_j) − log Z − log R_j with R_j = (tail + Σ_{l≥j} p(x_l)) / Z (likelihood.ts).
fn plackett_luce(m: u32, Z: f32, tail: f32) -> f32 {
  var pl = 0.0;
  for (var j = 0u; j < m; j++) {
    var rest = tail;
    for (var l = j; l < m; l++) { rest += prob(sv[kb + l]); }
    pl += logprob(sv[kb + j]) - log(Z) - log(rest / Z);
  }
  return pl;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let b = wid.x + wid.y * nwg.x;
  rb = b * p.V;
  kb = b * p.P;
  ob = b * p.K;
  let mb = b * 8u;
  if (lid == 0u) { shu = ctrl[b * 8u]; }
  let mode = workgroupUniformLoad(&shu);
  crow = ctrl[b * 8u + 1u];
  cstep = ctrl[b * 8u + 2u];
  if (mode == 0u) {
    if (lid == 0u) {
      rowMeta[mb] = 0u;
      rowMeta[mb + 4u] = 0u;
    }
    return;
  }
  let discrete = mode == 2u || p.mixture == 0u;
  let mixture = !discrete;
  var T = p.tMix;
  if (discrete) { T = p.tDisc; }
  let isGreedy = T <= 0.0;
  greedy = isGreedy;
  invT = select(1.0 / T, 0.0, isGreedy);
  // The likelihood temperature (the paper's code: 1).
  var tl = T;
  if (p.exact == 0u && p.paperOne == 1u) { tl = 1.0; }
  let invl = select(1.0 / tl, 0.0, tl <= 0.0);

  // 1. argmax (lowest id on ties), then log Σ exp((z − zmax)/T), the entropy, log Σ at tl.
  var bk = 0u;
  var bi = ALL;
  for (var v = lid; v < p.V; v += WG) {
    let kv = zkey(v);
    if (bi == ALL || kv > bk) {
      bk = kv;
      bi = v;
    }
  }
  ru[lid] = bk;
  ru2[lid] = bi;
  workgroupBarrier();
  if (lid == 0u) {
    var k0 = ru[0];
    var i0 = ru2[0];
    for (var t = 1u; t < WG; t++) {
      let ok = ru[t];
      let oi = ru2[t];
      if (oi != ALL && (i0 == ALL || ok > k0 || (ok == k0 && oi < i0))) {
        k0 = ok;
        i0 = oi;
      }
    }
    shu = i0;
  }
  amax = workgroupUniformLoad(&shu);
  zmax = x[rb + amax];
  var acc = vec4f(0.0);
  for (var v = lid; v < p.V; v += WG) {
    let dz = x[rb + v] - zmax;
    let d = dz * invT;
    let e = exp(d);
    acc += vec4f(e, e * d, exp(dz * invl), 0.0);
  }
  let sums = reduce4(acc, lid);
  var entropy = 0.0;
  logS = 0.0;
  if (!isGreedy) {
    logS = log(sums.x);
    entropy = logS - sums.y / sums.x;
  }
  let logSl = log(sums.z);

  // 2. Filter counts: ids with p ≥ minP · max p, ids with p > 0.
  var topK = 0u;
  var topP = p.topP;
  var minP = p.minP;
  if (discrete) {
    topK = p.dTopK;
    topP = p.dTopP;
    minP = p.dMinP;
  }
  let thrMin = minP * prob(amax);
  var cacc = vec4f(0.0);
  for (var v = lid; v < p.V; v += WG) {
    let q = prob(v);
    cacc += vec4f(select(0.0, 1.0, minP > 0.0 && q >= thrMin), select(0.0, 1.0, q > 0.0), 0.0, 0.0);
  }
  let counts = reduce4(cacc, lid);

  // 3. Thresholds, one search site: job 0 the top-p prefix, job 1 the candidate set (the shortest prefix of
  //    the filters), job 2 the list (top m of the candidates, or m Gumbel-top-k draws among them).
  var n = f32(p.V);
  var m = 1u;
  var nc = 1u;
  candKey = 0u;
  candEnd = ALL;
  var listKind = 0u;
  var listK = 0u;
  var listE = ALL;
  let sampleOne = discrete || (p.selectKind == 1u && p.k == 1u);
  for (var job = 0u; job < 3u; job++) {
    var isActive = false;
    var kind = 0u;
    var which = 0u;
    var goal = 0.0;
    if (job == 0u) {
      isActive = !isGreedy && topP < 1.0;
      which = 1u;
      goal = topP;
    } else if (job == 1u) {
      if (isGreedy) {
        n = 1.0;
      } else {
        if (topK > 0u) { n = min(n, f32(topK)); }
        if (minP > 0.0) { n = min(n, max(counts.x, 1.0)); }
        n = min(n, max(counts.y, 1.0));
      }
      nc = u32(n);
      isActive = n < f32(p.V);
      goal = n;
    } else {
      if (sampleOne) { break; }
      if (p.selectKind == 1u) {
        m = min(p.k, nc);
        kind = 1u;
      } else if (p.selectKind == 0u) {
        m = min(p.k, nc);
      } else {
        m = nc;
      }
      listKind = kind;
      listK = candKey;
      listE = candEnd;
      if (kind == 1u) {
        listK = 0u;
        listE = ALL;
      }
      isActive = m < nc;
      goal = f32(m);
    }
    if (!isActive) { continue; }
    let t = threshold(kind, which, goal, lid);
    if (job == 0u) {
      n = min(n, t.count);
    } else if (job == 1u) {
      candKey = t.tk;
      candEnd = t.te;
    } else {
      listK = t.tk;
      listE = t.te;
    }
  }

  // 4. The chosen ids into sv[kb ..]: one categorical draw, or the gathered and sorted list.
  if (sampleOne) {
    let y = sample_candidates(DRAW_CHOICE, lid);
    if (lid == 0u) { sv[kb] = y; }
    m = 1u;
  } else {
    m = gather(listKind, listK, listE, lid);
    sort_list(m, lid);
  }
  storageBarrier();
  m = min(m, p.K);
  for (var j = lid; j < m; j += WG) { recIds[ob + j] = sv[kb + j]; }

  // 5. Weights and the representative (invocation 0).
  if (lid == 0u) {
    var r = vec3u(sv[kb], 0u, ALL);
    if (discrete) {
      renormalised_list(m);
      r = vec3u(sv[kb], 0u, sv[kb]);
    } else {
      r = list_weights(m);
    }
    shv = vec4u(r, 0u);
  }
  let chosen = workgroupUniformLoad(&shv);
  var rep = chosen.x;
  let sampled = chosen.z;
  if (mixture && p.repRule == 1u) {
    // The author code's quirk: the J-th id of the top list of p over the whole vocabulary.
    let t = threshold(0u, 0u, f32(chosen.y + 1u), lid);
    var best = 0u;
    for (var v = lid; v < p.V; v += WG) {
      if (zkey(v) == t.tk && v < t.te) { best = max(best, v + 1u); }
    }
    ru[lid] = best;
    workgroupBarrier();
    if (lid == 0u) {
      var mx = 0u;
      for (var i = 0u; i < WG; i++) { mx = max(mx, ru[i]); }
      shu = mx - 1u;
    }
    rep = workgroupUniformLoad(&shu);
  }

  // 6. Parallel sums of the exact likelihood: p over the candidates (and outside the list), ‖noise‖².
  let exactMode = p.exact == 1u && tl > 0.0;
  var candSums = vec4f(0.0);
  if (exactMode && (discrete || p.selectKind == 1u)) {
    var cs = vec4f(0.0);
    for (var v = lid; v < p.V; v += WG) {
      if (!is_cand(v)) { continue; }
      let q = prob(v);
      var inList = false;
      if (mixture) {
        for (var j = 0u; j < m; j++) { if (sv[kb + j] == v) { inList = true; } }
      }
      cs += vec4f(q, select(q, 0.0, inList), 0.0, 0.0);
    }
    candSums = reduce4(cs, lid);
  }
  var noiseSq = 0.0;
  if (exactMode && mixture && p.noise == 1u) {
    var sq = 0.0;
    for (var c = lid; c < p.C; c += WG) {
      let nv = mot_normal(p.seed, crow, cstep, DRAW_NOISE + 2u * c);
      sq += nv * nv;
    }
    noiseSq = reduce4(vec4f(sq, 0.0, 0.0, 0.0), lid).x;
  }

  // 7. The behaviour log-likelihood and the outputs (invocation 0).
  if (lid == 0u) {
    var ll = 0.0;
    if (tl > 0.0) {
      if (p.exact == 0u) {
        if (mixture && p.weightedIds == 1u) {
          var z = 0.0;
          for (var j = 0u; j < m; j++) { z += exp((x[rb + sv[kb + j]] - zmax) * invl - logSl); }
          for (var j = 0u; j < m; j++) {
            let lq = (x[rb + sv[kb + j]] - zmax) * invl - logSl;
            var q = 1.0 / f32(m);
            if (z > 0.0) { q = exp(lq) / z; }
            ll += q * lq;
          }
        } else {
          ll = (x[rb + rep] - zmax) * invl - logSl;
        }
      } else if (discrete) {
        ll = logprob(rep) - log(candSums.x);
      } else {
        if (p.selectKind == 1u) { ll += plackett_luce(m, candSums.x, candSums.y); }
        if (m > 1u && (p.weightKind == 1u || p.weightKind == 2u)) { ll += weights_density(m); }
        if (p.weightKind == 3u) {
          var z = 0.0;
          for (var j = 0u; j < m; j++) { z += prob(sv[kb + j]); }
          ll += logprob(sampled) - log(z);
        }
        if (p.noise == 1u) { ll += -0.5 * noiseSq; }
      }
    }
    rowMeta[mb] = m;
    rowMeta[mb + 1u] = rep;
    rowMeta[mb + 2u] = amax;
    var smp = ALL;
    if (discrete || p.weightKind == 3u) { smp = sampled; }
    rowMeta[mb + 3u] = smp;
    rowMeta[mb + 4u] = select(0u, 1u, mixture);
    rowMeta[mb + 5u] = bitcast<u32>(ll);
    rowMeta[mb + 6u] = bitcast<u32>(entropy);
    rowMeta[mb + 7u] = bitcast<u32>(T);
  }
}
`,
};
