// Counter-based random numbers: u = f(seed, row, step, draw), the same on the CPU and in WGSL, so the
// same seed gives the same samples on any device and a rollout can be replayed from its counters.
// f is the PCG hash (Jarzynski & Olano 2020) applied in a chain; 24-bit mantissa output in [0, 1).

export function pcgHash(x: number): number {
  const state = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Uniform in [0, 1) with 24 random bits (exactly representable in f32, so WGSL agrees bit for bit). */
export function counterUniform(seed: number, row: number, step: number, draw = 0): number {
  let h = pcgHash(seed >>> 0);
  h = pcgHash((h ^ (row >>> 0)) >>> 0);
  h = pcgHash((h ^ (step >>> 0)) >>> 0);
  h = pcgHash((h ^ (draw >>> 0)) >>> 0);
  return (h >>> 8) / 16777216;
}

/** The same function in WGSL, to paste into kernels that sample (keeps one definition in one place). */
export const WGSL_COUNTER_RNG = /* wgsl */ `
fn pcg_hash(x: u32) -> u32 {
  let state = x * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
fn counter_uniform(seed: u32, row: u32, step: u32, draw: u32) -> f32 {
  var h = pcg_hash(seed);
  h = pcg_hash(h ^ row);
  h = pcg_hash(h ^ step);
  h = pcg_hash(h ^ draw);
  return f32(h >> 8u) / 16777216.0;
}
`;
