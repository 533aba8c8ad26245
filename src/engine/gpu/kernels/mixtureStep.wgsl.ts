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
//
// The WGSL is composed from parts: motRandom.wgsl.ts (random.ts in WGSL), mixtureSelect.wgsl.ts (row state
// and candidate selection), mixtureList.wgsl.ts (weights and densities on the chosen list), and the entry
// point below.
import { ALPHA_FLOOR, WEIGHT_FLOOR } from '../../../mot/weights.ts';
import type { KernelDef } from '../pipelines.ts';
import { WGSL_MIXTURE_LIST } from './mixtureList.wgsl.ts';
import { WGSL_MIXTURE_SELECT } from './mixtureSelect.wgsl.ts';
import { WGSL_LGAMMA, WGSL_MOT_RANDOM } from './motRandom.wgsl.ts';

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
const WEIGHT_FLOOR: f32 = ${WEIGHT_FLOOR};
const ALPHA_FLOOR: f32 = ${ALPHA_FLOOR};
${WGSL_MIXTURE_SELECT}${WGSL_MIXTURE_LIST}
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
        if (m > 1u && (p.weightKind == 1u || p.weightKind == 2u)) { ll += weightsLogDensity; }
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
