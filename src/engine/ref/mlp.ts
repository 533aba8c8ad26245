// SwiGLU activation of the Qwen2 MLP: down(silu(gate(x)) · up(x)). The projections are linear layers;
// this is the elementwise middle.

/** out, gate, up (n elements): out = silu(gate) · up, silu(x) = x / (1 + e^−x). */
export function swigluForward(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i];
    out[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}
