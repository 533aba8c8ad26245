// f32 → f16 / bf16 rounding on the host (src/engine/model/halfFloat.ts), checked exhaustively against the
// exact 16-bit → f32 tables: every finite pattern survives a round trip, and a value between two neighbours
// goes to the nearer one, ties to the even pattern.
import { describe, expect, it } from 'vitest';
import {
  f32ToBf16Bits,
  f32ToF16Bits,
  packHalves,
  roundToHalf,
  unpackHalves,
} from '../../src/engine/model/halfFloat.ts';
import { bf16BitsToF32, f16BitsToF32 } from '../../src/engine/model/safetensors.ts';

const cases = [
  { dtype: 'f16' as const, toBits: f32ToF16Bits, toF32: f16BitsToF32, expBits: 0x7c00 },
  { dtype: 'bf16' as const, toBits: f32ToBf16Bits, toF32: bf16BitsToF32, expBits: 0x7f80 },
];

describe.each(cases)('$dtype rounding', ({ dtype, toBits, toF32, expBits }) => {
  const finite = (h: number) => (h & expBits) !== expBits;

  it('every finite pattern round-trips (±0 and subnormals included)', () => {
    for (let h = 0; h < 0x10000; h++) if (finite(h)) expect(toBits(toF32(h))).toBe(h);
  });

  it('midpoints round to the even neighbour, anything past them to the nearer one', () => {
    let checked = 0;
    for (let h = 0; h < 0x7fff; h++) {
      const next = h + 1;
      if (!finite(h) || !finite(next)) continue;
      const a = toF32(h);
      const b = toF32(next);
      const mid = (a + b) / 2; // exact in f64; representable in f32 for both formats
      if (Math.fround(mid) !== mid) continue;
      expect(toBits(mid)).toBe(h % 2 === 0 ? h : next);
      expect(toBits(-mid)).toBe((h % 2 === 0 ? h : next) | 0x8000);
      const above = Math.fround(mid + (b - a) / 8);
      if (above > mid && above < b) expect(toBits(above)).toBe(next);
      checked++;
    }
    expect(checked).toBeGreaterThan(30_000);
  });

  it('overflow goes to infinity and NaN stays NaN', () => {
    expect(toBits(Number.POSITIVE_INFINITY)).toBe(expBits);
    expect(toBits(Number.NEGATIVE_INFINITY)).toBe(expBits | 0x8000);
    expect(Number.isNaN(toF32(toBits(Number.NaN)))).toBe(true);
    if (dtype === 'f16') expect(toBits(70000)).toBe(0x7c00);
  });

  it('packs to an even length and unpacks to the rounded values', () => {
    const data = Float32Array.from([1 / 3, -2.5, 1e-3, 65504, 0.1]);
    const bits = packHalves(data, dtype);
    expect(bits.length).toBe(6);
    expect(bits[5]).toBe(0);
    const back = unpackHalves(bits, dtype, data.length);
    expect(Array.from(back)).toEqual(Array.from(roundToHalf(data, dtype)));
    for (let i = 0; i < data.length; i++) {
      const rel = Math.abs(back[i] - data[i]) / Math.abs(data[i]);
      expect(rel).toBeLessThanOrEqual(dtype === 'f16' ? 2 ** -11 : 2 ** -8);
    }
  });
});

it('known patterns: 1/3 and 0.1', () => {
  expect(f32ToF16Bits(1 / 3)).toBe(0x3555);
  expect(f32ToBf16Bits(1 / 3)).toBe(0x3eab);
  expect(f32ToF16Bits(0.1)).toBe(0x2e66);
  expect(f32ToBf16Bits(0.1)).toBe(0x3dcd);
});
