// onnxruntime-web (wasm EP, Node) as an independent check of OUR engine: the same qwen2-tiny-a weights,
// exported by torch to model.onnx, must give the CPU reference's logits within 1e-4 × max|logit|.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkTensor, formatCheck } from '../../src/engine/check.ts';
import { CpuBackend } from '../../src/engine/cpuBackend.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import {
  createOrtSession,
  type OrtPeerSession,
  ortLogits,
  releaseOrtSession,
} from '../../src/engine/onnx/ortPeer.ts';
import { HF_GOLDEN_DIR } from '../helpers/fixtures.ts';

const DIR = `${HF_GOLDEN_DIR}/qwen2-tiny-a`;

/** Deterministic ids in [0, V) (an LCG; only reproducibility matters here). */
function seededIds(n: number, seed: number, V: number): Int32Array {
  let s = seed >>> 0;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % V;
  }
  return out;
}

let peer: OrtPeerSession;
let cpu: CpuBackend;
let V: number;

beforeAll(async () => {
  const model = await loadModel(new DirModelSource(DIR));
  V = model.config.vocabSize;
  cpu = new CpuBackend(model.config, model.weights);
  peer = await createOrtSession(new Uint8Array(readFileSync(`${DIR}/model.onnx`)), {
    executionProvider: 'wasm',
  });
});
afterAll(async () => {
  await releaseOrtSession(peer);
  cpu.dispose();
});

describe('onnxruntime-web (wasm) vs our CPU reference, qwen2-tiny-a', () => {
  const shapes: [number, number, number][] = [
    [2, 12, 1],
    [2, 12, 7],
    [1, 5, 3],
    [3, 20, 11],
  ];
  it.each(shapes)('B=%i T=%i seed=%i: logits agree within 1e-4 × max|logit|', async (B, T, seed) => {
    const ids = seededIds(B * T, seed, V);
    const ours = (await cpu.forward({ kind: 'ids', ids }, B, T)).logits;
    const theirs = await ortLogits(peer, ids, B, T);
    expect(ours.length).toBe(B * T * V);
    expect(theirs.length).toBe(B * T * V);
    const c = checkTensor(`logits B=${B} T=${T}`, ours, theirs);
    console.log(
      `${formatCheck('cpu vs ort-wasm', c)} rel=${((c.maxAbsErr * 1e-4) / c.tol).toExponential(3)}`,
    );
    expect(c.tol).toBeGreaterThan(1e-4); // max|logit| > 1: the logits are not trivially zero
    expect(c.pass, formatCheck('cpu vs ort-wasm', c)).toBe(true);
  });
});
