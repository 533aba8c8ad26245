// Choosing the next token from one row of logits on the CPU (the GPU path does the same in WGSL).
import { counterUniform } from '../mot/rng.ts';

export interface SampleOptions {
  greedy: boolean;
  temperature: number;
  seed: number;
  row: number;
  step: number;
}

/** Index of the largest logit; ties go to the lowest index (as torch.argmax). */
export function argmax(logits: ArrayLike<number>, base: number, V: number): number {
  let best = 0;
  let bestValue = logits[base];
  for (let v = 1; v < V; v++) {
    if (logits[base + v] > bestValue) {
      bestValue = logits[base + v];
      best = v;
    }
  }
  return best;
}

/** Sample from softmax(logits / T) by inverting the CDF at u = counterUniform(seed, row, step). */
export function sampleToken(logits: ArrayLike<number>, base: number, V: number, o: SampleOptions): number {
  if (o.greedy || o.temperature <= 0) return argmax(logits, base, V);
  const inv = 1 / o.temperature;
  let max = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[base + v] * inv);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[base + v] * inv - max);
  const target = counterUniform(o.seed, o.row, o.step) * sum;
  let acc = 0;
  for (let v = 0; v < V; v++) {
    acc += Math.exp(logits[base + v] * inv - max);
    if (acc > target) return v;
  }
  return V - 1;
}
