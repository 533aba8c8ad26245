// Part of the mixture_step kernel (mixtureStep.wgsl.ts composes it into one module; it uses that module's
// params `p`, bindings, `WG` and `ALL`): the workgroup scratch and the row's state, the monotone keys and
// probabilities of the row's logits, and the candidate selection — the threshold search over keys (a count
// or a probability mass reached without sorting V entries), the gather of the chosen ids into the per-row
// scratch list and its bitonic sort, and one categorical draw over the candidates.

/** WGSL: row state, keys and the selection passes (every routine with barriers is called from one place). */
export const WGSL_MIXTURE_SELECT = /* wgsl */ `
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
`;
