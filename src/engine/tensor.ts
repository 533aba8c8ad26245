// A named host tensor: f32 data in row-major order with its shape. HF layouts throughout
// (a linear weight is [out, in]).
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function tensor(shape: number[], data?: Float32Array): HostTensor {
  const n = numel(shape);
  if (data && data.length !== n)
    throw new Error(`tensor: data length ${data.length} != shape ${shape.join('x')}`);
  return { shape, data: data ?? new Float32Array(n) };
}

/** Model weights by HF parameter name. */
export type WeightMap = Map<string, HostTensor>;

/** A copy whose arrays are its own. */
export function cloneWeights(w: WeightMap): WeightMap {
  const out: WeightMap = new Map();
  for (const [k, t] of w) out.set(k, { ...t, data: t.data.slice() });
  return out;
}
