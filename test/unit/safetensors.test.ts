import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/errors.ts';
import {
  bf16BitsToF32,
  f16BitsToF32,
  parseSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
} from '../../src/engine/model/safetensors.ts';
import { requireFixtures, TINY_MODELS } from '../helpers/fixtures.ts';
import {
  assembleSafetensors,
  entry,
  mutateHeader,
  readFixture,
  sixteenBitFile,
  splitSafetensors,
} from '../helpers/malformed.ts';

requireFixtures();
const FILE = 'model.safetensors';
const model = readFixture('qwen2-tiny-a', FILE);

/** Run `fn`, expect an EngineError with `code` whose message names the file (and the tensor). */
function expectError(fn: () => unknown, code: string, tensor?: string): EngineError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(EngineError);
  const e = caught as EngineError;
  expect(e.code).toBe(code);
  expect(e.file).toBe(FILE);
  expect(e.message).toContain(FILE);
  if (tensor !== undefined) {
    expect(e.tensor).toBe(tensor);
    expect(e.message).toContain(tensor);
  }
  return e;
}

describe('f16 / bf16 conversion', () => {
  it('converts f16 bit patterns exactly (normals, subnormals, zeros, inf, nan)', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x3555, 0.333251953125],
      [0x7bff, 65504],
      [0x0400, 2 ** -14], // smallest normal
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x8001, -(2 ** -24)],
      [0x0000, 0],
      [0x7c00, Number.POSITIVE_INFINITY],
      [0xfc00, Number.NEGATIVE_INFINITY],
    ];
    for (const [bits, want] of cases) expect(f16BitsToF32(bits)).toBe(want);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(Number.isNaN(f16BitsToF32(0xfc01))).toBe(true);
  });

  it('converts bf16 bit patterns exactly', () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x4049, 3.140625],
      [0x7f7f, 3.3895313892515355e38], // largest finite
      [0x0080, 2 ** -126], // smallest normal
      [0x0001, 2 ** -133], // smallest subnormal
      [0x7f80, Number.POSITIVE_INFINITY],
      [0xff80, Number.NEGATIVE_INFINITY],
    ];
    for (const [bits, want] of cases) expect(bf16BitsToF32(bits)).toBe(want);
    expect(Object.is(bf16BitsToF32(0x8000), -0)).toBe(true);
    expect(Number.isNaN(bf16BitsToF32(0x7fc0))).toBe(true);
  });

  it('decodes F16 and BF16 tensors from a file, aligned or not, keeping NaN payload bits', () => {
    const f16 = [0x3c00, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x7e01, 0x8000, 0x7bff];
    const bf16 = [0x3f80, 0x0001, 0x7f80, 0xff80, 0x7fc1, 0x8000, 0x4049];
    for (const pad of [0, 1, 2, 3]) {
      const bytes = sixteenBitFile(
        [
          { name: 'h', dtype: 'F16', bits: f16 },
          { name: 'b', dtype: 'BF16', bits: bf16 },
        ],
        pad,
      );
      const t = parseSafetensors(bytes, FILE);
      const h = t.get('h')!;
      const b = t.get('b')!;
      expect(h.dtype).toBe('F16');
      expect(b.dtype).toBe('BF16');
      expect(h.shape).toEqual([f16.length]);
      expect([...h.data]).toEqual(f16.map(f16BitsToF32));
      expect([...b.data]).toEqual(bf16.map(bf16BitsToF32));
      // NaN payloads: f16 0x7e01 → f32 bits 0x7fc02000; bf16 0x7fc1 → 0x7fc10000
      expect(new Uint32Array(h.data.buffer, h.data.byteOffset, h.data.length)[5]).toBe(0x7fc02000);
      expect(new Uint32Array(b.data.buffer, b.data.byteOffset, b.data.length)[4]).toBe(0x7fc10000);
    }
  });
});

describe('integer tensors', () => {
  it('reads integer dtypes exactly as f32 (golden ids are I32)', () => {
    const golden = parseSafetensors(readFixture('qwen2-tiny-a', 'golden.safetensors'), 'golden.safetensors');
    const ids = golden.get('ids')!;
    expect(ids.dtype).toBe('I32');
    expect(ids.data.every((v) => Number.isInteger(v) && v >= 0 && v < 512)).toBe(true);
    // I64 and I8 written by hand, negative values included
    const data = new Uint8Array(8 * 3 + 2);
    const dv = new DataView(data.buffer);
    dv.setBigInt64(0, -5n, true);
    dv.setBigInt64(8, 123456n, true);
    dv.setBigInt64(16, 16777216n, true);
    dv.setInt8(24, -128);
    dv.setInt8(25, 127);
    const bytes = assembleSafetensors(
      {
        a: { dtype: 'I64', shape: [3], data_offsets: [0, 24] },
        b: { dtype: 'I8', shape: [2], data_offsets: [24, 26] },
      },
      data,
    );
    const t = parseSafetensors(bytes, FILE);
    expect([...t.get('a')!.data]).toEqual([-5, 123456, 16777216]);
    expect([...t.get('b')!.data]).toEqual([-128, 127]);
    // a value f32 cannot hold exactly is refused, naming the tensor
    dv.setBigInt64(8, 16777217n, true);
    const big = assembleSafetensors(
      { a: { dtype: 'I64', shape: [3], data_offsets: [0, 24] } },
      data.subarray(0, 24),
    );
    expectError(() => parseSafetensors(big, FILE), 'safetensors-dtype', 'a');
  });
});

describe('parseSafetensors on the fixture', () => {
  it('reads the header and every tensor', () => {
    const h = readSafetensorsHeader(model, FILE);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.dataOffset).toBe(8 + h.headerLength);
    expect(h.tensors.length).toBe(26);
    const t = parseSafetensors(model, FILE);
    expect(t.size).toBe(26);
    const emb = t.get('model.embed_tokens.weight')!;
    expect(emb.shape).toEqual([512, 128]);
    expect(emb.dtype).toBe('F32');
    const dv = new DataView(model.buffer, model.byteOffset + h.dataOffset, 8);
    expect(emb.data[0]).toBe(dv.getFloat32(0, true));
    expect(emb.data[1]).toBe(dv.getFloat32(4, true));
  });

  it('views aligned F32 data by default, copies with copy: true, decodes unaligned data', () => {
    const view = parseSafetensors(model, FILE).get('model.norm.weight')!;
    expect(view.data.buffer).toBe(model.buffer);
    const copy = parseSafetensors(model, FILE, { copy: true }).get('model.norm.weight')!;
    expect(copy.data.buffer).not.toBe(model.buffer);
    expect([...copy.data]).toEqual([...view.data]);
    // A Node Buffer (whose slice() is a view of a shared pool) is copied too, into exactly n floats.
    const buf = Buffer.from(model);
    const fromBuffer = parseSafetensors(buf, FILE, { copy: true }).get('model.norm.weight')!;
    expect(fromBuffer.data.buffer.byteLength).toBe(fromBuffer.data.length * 4);
    expect([...fromBuffer.data]).toEqual([...view.data]);
    // Shift the data section by one byte: every F32 tensor is unaligned.
    const { header, data } = splitSafetensors(model);
    const len = JSON.stringify(header).length;
    const shifted = assembleSafetensors(header, data, { pad: (9 - (len % 8)) % 8 });
    expect(readSafetensorsHeader(shifted, FILE).dataOffset % 4).not.toBe(0);
    const un = parseSafetensors(shifted, FILE).get('model.norm.weight')!;
    expect([...un.data]).toEqual([...view.data]);
  });

  it('decodes only what filter accepts', () => {
    const t = parseSafetensors(model, FILE, { filter: (n) => n.startsWith('model.layers.1.') });
    expect(t.size).toBe(12);
    expect(t.has('model.embed_tokens.weight')).toBe(false);
  });

  it('takes an ArrayBuffer as well as a Uint8Array', () => {
    const ab = model.slice().buffer;
    expect(parseSafetensors(ab, FILE).size).toBe(26);
  });
});

describe('writeSafetensors', () => {
  it('round-trips tensors and metadata, header padded with spaces to 8 bytes', () => {
    const tensors = {
      b: { shape: [2, 3], data: new Float32Array([1, -2, 3.5, Number.POSITIVE_INFINITY, -0, 1e-40]) },
      a: { shape: [1], data: new Float32Array([7]) },
      s: { shape: [], data: new Float32Array([42]) },
    };
    const bytes = writeSafetensors(tensors, { format: 'pt', note: 'x' });
    const h = readSafetensorsHeader(bytes, FILE);
    expect(h.dataOffset % 8).toBe(0);
    expect(h.metadata).toEqual({ format: 'pt', note: 'x' });
    expect(h.tensors.map((t) => t.name)).toEqual(['a', 'b', 's']); // sorted by name
    const json = new TextDecoder().decode(bytes.subarray(8, h.dataOffset));
    expect(json.trimEnd().endsWith('}')).toBe(true);
    expect(json.slice(json.trimEnd().length)).toMatch(/^ *$/);
    const back = parseSafetensors(bytes, FILE);
    expect(back.get('b')!.shape).toEqual([2, 3]);
    expect([...back.get('b')!.data]).toEqual([...tensors.b.data]);
    expect(back.get('s')!.shape).toEqual([]);
    expect(back.get('s')!.data[0]).toBe(42);
  });

  it('rewrites the fixture models byte for byte', () => {
    for (const m of TINY_MODELS) {
      const bytes = readFixture(m, FILE);
      const rewritten = writeSafetensors(parseSafetensors(bytes, FILE), { format: 'pt' });
      expect(rewritten.byteLength).toBe(bytes.byteLength);
      expect(Buffer.compare(Buffer.from(rewritten), Buffer.from(bytes))).toBe(0);
    }
  });

  it('refuses data that does not match the shape', () => {
    expect(() => writeSafetensors(new Map([['x', { shape: [3], data: new Float32Array(2) }]]))).toThrow(
      EngineError,
    );
  });
});

describe('malformed files', () => {
  it('a shape nested 20,000 lists deep is a typed error, not a RangeError (found by the fuzz suite)', () => {
    const deepShape = `${'['.repeat(20_000)}1${']'.repeat(20_000)}`;
    const header = new TextEncoder().encode(
      `{"x":{"dtype":"F32","shape":${deepShape},"data_offsets":[0,4]}}`,
    );
    const bytes = new Uint8Array(8 + header.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    expect(() => parseSafetensors(bytes, 'deep.safetensors')).toThrow(EngineError);
  });

  it('a file shorter than 8 bytes is truncated', () => {
    expectError(() => parseSafetensors(model.subarray(0, 5), FILE), 'safetensors-truncated');
  });

  it('a file cut inside its data is truncated, naming the tensor cut off', () => {
    const h = readSafetensorsHeader(model, FILE);
    const last = [...h.tensors].sort((a, b) => b.end - a.end)[0];
    expectError(
      () => parseSafetensors(model.subarray(0, model.byteLength - 100), FILE),
      'safetensors-truncated',
      last.name,
    );
  });

  it('a header length beyond the file is refused', () => {
    const bad = model.slice();
    new DataView(bad.buffer).setUint32(0, bad.byteLength, true);
    const e = expectError(() => parseSafetensors(bad, FILE), 'safetensors-header-length');
    expect(e.message).toContain(String(bad.byteLength));
    // a file cut inside its header
    expectError(() => parseSafetensors(model.subarray(0, 100), FILE), 'safetensors-header-length');
  });

  it('a header that is not JSON, or not an object, is refused', () => {
    const { data } = splitSafetensors(model);
    expectError(
      () => parseSafetensors(assembleSafetensors('{"a": {"dtype": "F32",', data), FILE),
      'safetensors-header-json',
    );
    expectError(() => parseSafetensors(assembleSafetensors('[1, 2]', data), FILE), 'safetensors-header-json');
    const badMeta = mutateHeader(model, (h) => {
      h.__metadata__ = { format: 3 };
    });
    expectError(() => parseSafetensors(badMeta, FILE), 'safetensors-header-json');
    const badShape = mutateHeader(model, (h) => {
      entry(h, 'model.norm.weight').shape = [-128] as number[];
    });
    expectError(() => parseSafetensors(badShape, FILE), 'safetensors-header-json', 'model.norm.weight');
  });

  it('an unknown dtype is refused, naming the tensor', () => {
    const bad = mutateHeader(model, (h) => {
      const e = entry(h, 'model.layers.0.input_layernorm.weight');
      e.dtype = 'F8_E4M3';
    });
    const e = expectError(
      () => parseSafetensors(bad, FILE),
      'safetensors-dtype',
      'model.layers.0.input_layernorm.weight',
    );
    expect(e.message).toContain('F8_E4M3');
  });

  it('a shape that does not match the byte length is refused', () => {
    const bad = mutateHeader(model, (h) => {
      entry(h, 'model.layers.1.mlp.up_proj.weight').shape = [352, 127];
    });
    expectError(
      () => parseSafetensors(bad, FILE),
      'safetensors-byte-length',
      'model.layers.1.mlp.up_proj.weight',
    );
    const dtype = mutateHeader(model, (h) => {
      entry(h, 'model.norm.weight').dtype = 'BF16'; // half the bytes the offsets give
    });
    expectError(() => parseSafetensors(dtype, FILE), 'safetensors-byte-length', 'model.norm.weight');
  });

  it('overlapping offsets are refused', () => {
    const bad = mutateHeader(model, (h) => {
      const e = entry(h, 'model.layers.0.input_layernorm.weight');
      e.data_offsets = [e.data_offsets[0] - 4, e.data_offsets[1] - 4];
    });
    const e = expectError(
      () => parseSafetensors(bad, FILE),
      'safetensors-offsets',
      'model.layers.0.input_layernorm.weight',
    );
    expect(e.message).toContain('model.embed_tokens.weight');
  });

  it('offsets outside the data section are refused', () => {
    const size = splitSafetensors(model).data.byteLength;
    const bad = mutateHeader(model, (h) => {
      entry(h, 'model.layers.0.input_layernorm.weight').data_offsets = [size + 1024, size + 1024 + 512];
    });
    expectError(
      () => parseSafetensors(bad, FILE),
      'safetensors-offsets',
      'model.layers.0.input_layernorm.weight',
    );
    const reversed = mutateHeader(model, (h) => {
      entry(h, 'model.norm.weight').data_offsets = [512, 0];
    });
    expectError(() => parseSafetensors(reversed, FILE), 'safetensors-offsets', 'model.norm.weight');
  });
});
