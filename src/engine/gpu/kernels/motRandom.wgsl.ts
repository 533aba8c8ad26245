// The WGSL twin of src/mot/random.ts, pasted into the kernels that sample (mixture_step, mixture_embed,
// input_noise): uniform, Gumbel, Box–Muller normal, log-Gamma, and log Γ for the exact likelihood. The
// draw-index layout (DRAW, WEIGHT_BLOCK) is interpolated from random.ts itself, so CPU and GPU read the same
// counters by construction rather than by a hand-kept copy.
import { DRAW, GAMMA_ATTEMPTS, WEIGHT_BLOCK } from '../../../mot/random.ts';
import { WGSL_COUNTER_RNG } from '../../../mot/rng.ts';

/** A u32 draw offset as the WGSL literal `0x…u` (8 hex digits, the layout's ranges read at a glance). */
function hexU32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}u`;
}

/** WGSL of random.ts: uniform, Gumbel, Box–Muller normal, log-Gamma (Marsaglia–Tsang with the α < 1 boost). */
export const WGSL_MOT_RANDOM = /* wgsl */ `
${WGSL_COUNTER_RNG}
const DRAW_CHOICE: u32 = ${DRAW.choice}u;
const DRAW_WEIGHTS: u32 = ${hexU32(DRAW.weights)};
const DRAW_MOI: u32 = ${hexU32(DRAW.moiSample)};
const DRAW_REP: u32 = ${hexU32(DRAW.representative)};
const DRAW_NOISE: u32 = ${hexU32(DRAW.noise)};
const WEIGHT_BLOCK: u32 = ${WEIGHT_BLOCK}u;
const GAMMA_ATTEMPTS: u32 = ${GAMMA_ATTEMPTS}u;
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
