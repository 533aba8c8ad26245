// Seeded random initialisation of a Qwen2 model (as HF's `_init_weights`: normal(0, std) for linear and
// embedding weights, zeros for biases, ones for norms). Used to make test models and to start the
// built-in model's training.

import { counterUniform } from '../../mot/rng.ts';
import { expectedParameters, type Qwen2Config } from '../config.ts';
import type { WeightMap } from '../tensor.ts';

export function initQwen2Weights(config: Qwen2Config, seed: number, std = 0.02, biasStd = 0): WeightMap {
  const weights: WeightMap = new Map();
  let stream = 0;
  for (const [name, shape] of expectedParameters(config)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const id = stream++;
    if (name.endsWith('layernorm.weight') || name === 'model.norm.weight') data.fill(1);
    else if (name.endsWith('.bias')) {
      if (biasStd > 0) for (let i = 0; i < n; i++) data[i] = biasStd * gaussian(seed, id, i);
    } else for (let i = 0; i < n; i++) data[i] = std * gaussian(seed, id, i);
    weights.set(name, { shape, data });
  }
  return weights;
}

/** Standard normal from two counter uniforms (Box–Muller). */
export function gaussian(seed: number, stream: number, index: number): number {
  const u1 = counterUniform(seed, stream, index, 0) || 1 / 16777216;
  const u2 = counterUniform(seed, stream, index, 1);
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
