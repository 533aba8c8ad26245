// SwiGLU activation of the Qwen2 MLP: down(silu(gate(x)) · up(x)). The projections are linear layers;
// this is the elementwise middle.

/** out, gate, up (n elements): out = silu(gate) · up, silu(x) = x / (1 + e^−x). */
export function swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    out[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}

/**
 * Backward of swigluForward: with σ = 1 / (1 + e^−g), silu(g) = g·σ and silu'(g) = σ·(1 + g·(1 − σ)):
 * dgate = dout · up · silu'(gate), dup = dout · silu(gate) (activation gradients, overwritten).
 */
export function swigluBackward(
  dgate: Float32Array,
  dup: Float32Array,
  dout: Float32Array,
  gate: Float32Array,
  up: Float32Array,
  n: number,
): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    const s = 1 / (1 + Math.exp(-g));
    const d = dout[i];
    dgate[i] = d * up[i] * s * (1 + g * (1 - s));
    dup[i] = d * g * s;
  }
}
