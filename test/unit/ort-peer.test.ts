import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOrtSession,
  type OrtPeerSession,
  ortLogits,
  releaseOrtSession,
} from '../../src/check/ortPeer.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { HF_GOLDEN_DIR } from '../helpers/fixtures.ts';

// golden.safetensors stores `ids` as I32, which the engine's safetensors loader (F32/F16/BF16 only)
// rejects, so this test reads the two tensors it needs with a minimal local reader.
interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

function readRawSafetensors(buf: Uint8Array): Map<string, RawTensor> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, RawTensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [a, b] = e.data_offsets;
    out.set(name, { dtype: e.dtype, shape: e.shape, bytes: buf.slice(8 + n + a, 8 + n + b) });
  }
  return out;
}

function f32(t: RawTensor): Float32Array {
  expect(t.dtype).toBe('F32');
  return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4);
}

function i32(t: RawTensor): Int32Array {
  expect(t.dtype).toBe('I32');
  return new Int32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4);
}

const DIR = `${HF_GOLDEN_DIR}/qwen2-tiny-a`;
const golden = readRawSafetensors(new Uint8Array(readFileSync(`${DIR}/golden.safetensors`)));
const ids = i32(golden.get('ids')!);
const expected = f32(golden.get('logits')!);
const [B, T] = golden.get('ids')!.shape;
const V = golden.get('logits')!.shape[2];

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const x of a) m = Math.max(m, Math.abs(x));
  return m;
}

function maxDiff(a: Float32Array, b: Float32Array, from = 0, to = a.length): number {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

let peer: OrtPeerSession;
beforeAll(async () => {
  peer = await createOrtSession(new Uint8Array(readFileSync(`${DIR}/model.onnx`)), {
    executionProvider: 'wasm',
  });
});
afterAll(async () => {
  await releaseOrtSession(peer);
});

describe('onnxruntime-web peer (wasm EP, Node)', () => {
  it('golden shapes', () => {
    expect([B, T, V]).toEqual([2, 12, 512]);
    expect(peer.inputName).toBe('input_ids');
    expect(peer.outputName).toBe('logits');
    expect(peer.executionProvider).toBe('wasm');
  });

  it('logits for golden ids (Int32Array) match HF within 1e-4 × max|logit|', async () => {
    const logits = await ortLogits(peer, ids, B, T);
    expect(logits.length).toBe(B * T * V);
    const scale = maxAbs(expected);
    const err = maxDiff(logits, expected);
    console.log(
      `ort wasm vs HF golden: max|Δ| = ${err.toExponential(3)}, max|logit| = ${scale.toFixed(3)}, rel = ${(err / scale).toExponential(3)}`,
    );
    expect(scale).toBeGreaterThan(1);
    expect(err).toBeLessThanOrEqual(1e-4 * scale);
  });

  it('number[][] input gives the same logits, and each row is independent', async () => {
    const rows = [Array.from(ids.subarray(0, T)), Array.from(ids.subarray(T, 2 * T))];
    const both = await ortLogits(peer, rows, B, T);
    const flat = await ortLogits(peer, ids, B, T);
    expect(maxDiff(both, flat)).toBe(0);
    const second = await ortLogits(peer, [rows[1]], 1, T);
    const scale = maxAbs(expected);
    expect(maxDiff(second, expected.subarray(T * V), 0, T * V)).toBeLessThanOrEqual(1e-4 * scale);
  });

  it('a shorter prefix gives the golden logits of the prefix (causal)', async () => {
    const t = 5;
    const out = await ortLogits(peer, [Array.from(ids.subarray(0, t))], 1, t);
    expect(maxDiff(out, expected.subarray(0, t * V))).toBeLessThanOrEqual(1e-4 * maxAbs(expected));
  });

  it('rejects mis-shaped ids', async () => {
    await expect(ortLogits(peer, ids, 3, T)).rejects.toBeInstanceOf(EngineError);
    await expect(ortLogits(peer, [[1, 2, 3]], 1, 4)).rejects.toThrow(/row 0/);
    await expect(ortLogits(peer, [[1, 2.5]], 1, 2)).rejects.toThrow(/not an integer/);
    await expect(ortLogits(peer, ids, 0, T)).rejects.toThrow(/positive integers/);
  });

  it('bad model bytes and unavailable WebGPU are EngineErrors', async () => {
    await expect(
      createOrtSession(new Uint8Array([1, 2, 3, 4]), { executionProvider: 'wasm', file: 'broken.onnx' }),
    ).rejects.toMatchObject({ code: 'invalid-argument', file: 'broken.onnx' });
    await expect(createOrtSession(new Uint8Array(0), { executionProvider: 'wasm' })).rejects.toBeInstanceOf(
      EngineError,
    );
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    if (nav?.gpu === undefined) {
      await expect(
        createOrtSession(new Uint8Array([1]), { executionProvider: 'webgpu' }),
      ).rejects.toMatchObject({
        code: 'webgpu-unavailable',
      });
    }
  });
});
