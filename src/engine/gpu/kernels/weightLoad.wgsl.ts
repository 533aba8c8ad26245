// Reading a weight matrix that may be stored in 16 bits. A 16-bit weight keeps two halves per u32 (element
// 2j in the low half, 2j + 1 in the high half: the bytes of a little-endian f16/bf16 array, so a bf16
// checkpoint's bytes are uploaded as they are), which every WebGPU adapter can bind; each read widens to
// f32 and all arithmetic stays f32. f16 unpacks with unpack2x16float; bf16 is the upper half of an f32.
// A kernel that reads a weight declares it with weightBinding and reads it with `<name>_at(i)` (element i
// of the flat array) or, with vec4 = true, `<name>_at4(i4)` (elements 4·i4 … 4·i4 + 3).
import type { WeightDtype } from '../buffers.ts';
import type { KernelDef } from '../pipelines.ts';

/** WGSL: the read-only storage binding `name` of a weight of this dtype and its accessor function. */
export function weightBinding(binding: number, name: string, dtype: WeightDtype, vec4 = false): string {
  const decl = (type: string) => `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${type}>;`;
  if (dtype === 'f32') {
    if (vec4) return `${decl('vec4f')}\nfn ${name}_at4(i4: u32) -> vec4f { return ${name}[i4]; }`;
    return `${decl('f32')}\nfn ${name}_at(i: u32) -> f32 { return ${name}[i]; }`;
  }
  // A 16-bit value h widened: f16 by unpack2x16float, bf16 as the high half of an f32.
  const wide = (word: string, high: boolean) =>
    dtype === 'f16'
      ? `unpack2x16float(${word})[${high ? 1 : 0}]`
      : `bitcast<f32>(${high ? `${word} & 0xffff0000u` : `${word} << 16u`})`;
  if (vec4) {
    const body =
      dtype === 'f16'
        ? `return vec4f(unpack2x16float(w.x), unpack2x16float(w.y));`
        : `return vec4f(${wide('w.x', false)}, ${wide('w.x', true)}, ${wide('w.y', false)}, ${wide('w.y', true)});`;
    return `${decl('vec2u')}\nfn ${name}_at4(i4: u32) -> vec4f { let w = ${name}[i4]; ${body} }`;
  }
  return `${decl('u32')}
fn ${name}_at(i: u32) -> f32 {
  let w = ${name}[i >> 1u];
  if ((i & 1u) == 1u) { return ${wide('w', true)}; }
  return ${wide('w', false)};
}`;
}

/** One KernelDef per storage dtype, built once: the f32 one keeps the plain name, the others get a suffix. */
export function perDtype(
  make: (dtype: WeightDtype, suffix: string) => KernelDef,
): (d: WeightDtype) => KernelDef {
  const made = new Map<WeightDtype, KernelDef>();
  return (dtype) => {
    let def = made.get(dtype);
    if (!def) {
      def = make(dtype, dtype === 'f32' ? '' : `_${dtype}`);
      made.set(dtype, def);
    }
    return def;
  };
}
