// Part of the mixture_step kernel (mixtureStep.wgsl.ts composes it into one module; it uses that module's
// params `p`, bindings, row state and the selection's helpers): the sequential work of invocation 0 on the
// short list of chosen ids — categorical draws over it, the weights of a mixture step (renormalised,
// Dirichlet, Gumbel-softmax, Mixture of Inputs) and the representative, and the exact-mode densities
// (Dirichlet / Concrete, scored from the draw's log-weights before the floor; Plackett–Luce). The CPU twins
// are src/mot/weights.ts and src/mot/likelihood.ts.

/** WGSL: the list routines (no barriers: invocation 0 only). */
export const WGSL_MIXTURE_LIST = /* wgsl */ `
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

// Exact mode: log Dir(w; c·p̃) less the θ-independent −Σ log w_j, or the Concrete log-density of w, from
// log w_j = recW_j − log Σ exp(recW) while recW holds the draw's unnormalised log-weights, i.e. before
// softmax_floor_list floors them (likelihood.ts dirichletTerm / concreteTerm); p̃ = p over the list.
var<private> weightsLogDensity: f32 = 0.0;
fn log_weights_density(m: u32) {
  if (p.exact == 0u) { return; }
  var mx = -3.4e38;
  for (var j = 0u; j < m; j++) { mx = max(mx, recW[ob + j]); }
  var se = 0.0;
  for (var j = 0u; j < m; j++) { se += exp(recW[ob + j] - mx); }
  let lse = mx + log(se);
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
      // α log w stays O(1) as α → 0 (log w ≈ log U / α), where (α − 1) log w would not.
      d += a * (recW[ob + j] - lse) - mot_lgamma(a);
    }
    weightsLogDensity = d + mot_lgamma(sa);
    return;
  }
  let tau = p.gumbelTau;
  let fm = f32(m);
  var tmax = -3.4e38;
  for (var j = 0u; j < m; j++) {
    tmax = max(tmax, log(prob(sv[kb + j]) / z) - tau * (recW[ob + j] - lse));
  }
  var st = 0.0;
  for (var j = 0u; j < m; j++) {
    let lq = log(prob(sv[kb + j]) / z);
    let lw = recW[ob + j] - lse;
    st += exp(lq - tau * lw - tmax);
    d += lq - (tau + 1.0) * lw;
  }
  weightsLogDensity = d + mot_lgamma(fm) + (fm - 1.0) * log(tau) - fm * (tmax + log(st));
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
    log_weights_density(m);
    softmax_floor_list(m);
  } else if (m > 1u && p.weightKind == 2u) {
    for (var j = 0u; j < m; j++) {
      let g = mot_gumbel(p.seed, crow, cstep, DRAW_WEIGHTS + sv[kb + j] * WEIGHT_BLOCK);
      recW[ob + j] = (log(recW[ob + j]) + g) / p.gumbelTau;
    }
    log_weights_density(m);
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
`;
