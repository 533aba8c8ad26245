// f32 ↔ 16-bit floats on the host, for weights kept in 16 bits on the GPU (gpu/kernels/weightLoad.wgsl.ts):
// IEEE half (f16) and bfloat16 (bf16), both rounded to nearest, ties to even (what PyTorch's .to() does).
import { bf16BitsToF32, f16BitsToF32 } from './safetensors.ts';

export type HalfDtype = 'f16' | 'bf16';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bf16 bit pattern nearest to x (ties to even); NaN stays a quiet NaN of the same sign. */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return ((bits >>> 16) | 0x40) & 0xffff;
  const rounded = bits + 0x7fff + ((bits >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** The f16 bit pattern nearest to x (ties to even, subnormals kept, overflow to ±Infinity). */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A subnormal half (or zero): shift the implicit-1 mantissa right, rounding to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Rounding up may carry into the exponent (and up to Infinity): that is the correct result.
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/** The values of `data` as 16-bit patterns, padded to an even length (two per u32 on the GPU). */
export function packHalves(data: ArrayLike<number>, dtype: HalfDtype): Uint16Array {
  const out = new Uint16Array(data.length + (data.length & 1));
  const conv = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < data.length; i++) out[i] = conv(data[i]);
  return out;
}

/** 16-bit patterns back to f32 (exact). */
export function unpackHalves(bits: Uint16Array, dtype: HalfDtype, numel = bits.length): Float32Array {
  const out = new Float32Array(numel);
  const conv = dtype === 'f16' ? f16BitsToF32 : bf16BitsToF32;
  for (let i = 0; i < numel; i++) out[i] = conv(bits[i]);
  return out;
}

/** Round every value to the nearest value of the 16-bit dtype (a model "stored in 16 bits", widened). */
export function roundToHalf(data: ArrayLike<number>, dtype: HalfDtype): Float32Array {
  return unpackHalves(packHalves(data, dtype), dtype, data.length);
}
