// Residual stream: out = a + b (out may alias a).
export function residualForward(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/** Backward of residualForward: da += dout, db += dout (the residual stream accumulates; either may be null). */
export function residualBackward(
  da: Float32Array | null,
  db: Float32Array | null,
  dout: Float32Array,
  n: number,
): void {
  if (da) for (let i = 0; i < n; i++) da[i] += dout[i];
  if (db) for (let i = 0; i < n; i++) db[i] += dout[i];
}
