// onnxruntime-web (wasm EP, Node) as an independent check of one of our backends: the same qwen2-tiny-a
// weights, exported by torch to model.onnx, must give that backend's logits within 1e-4 × max|logit| at a
// few awkward shapes. Shared by the CPU reference's test (unit) and the WebGPU backend's (gpu).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOrtSession,
  type OrtPeerSession,
  ortLogits,
  releaseOrtSession,
} from '../../src/check/ortPeer.ts';
import { checkTensor, formatCheck } from '../../src/check/tensorCheck.ts';
import type { Backend } from '../../src/engine/backend.ts';
import type { Qwen2Config } from '../../src/engine/config.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import type { WeightMap } from '../../src/engine/tensor.ts';
import { HF_GOLDEN_DIR } from './fixtures.ts';

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

/** Registers the suite: `label` names our backend in the output ('cpu', 'webgpu'). */
export function describeOrtParity(
  label: string,
  makeBackend: (config: Qwen2Config, weights: WeightMap) => Promise<Backend>,
): void {
  let peer: OrtPeerSession;
  let ours: Backend;
  let V: number;

  beforeAll(async () => {
    const model = await loadModel(new DirModelSource(DIR));
    V = model.config.vocabSize;
    ours = await makeBackend(model.config, model.weights);
    peer = await createOrtSession(new Uint8Array(readFileSync(`${DIR}/model.onnx`)), {
      executionProvider: 'wasm',
    });
  });
  afterAll(async () => {
    await releaseOrtSession(peer);
    ours.dispose();
  });

  describe(`onnxruntime-web (wasm) vs our ${label} backend, qwen2-tiny-a`, () => {
    const shapes: [number, number, number][] = [
      [2, 12, 1],
      [2, 12, 7],
      [1, 5, 3],
      [3, 20, 11],
    ];
    it.each(shapes)('B=%i T=%i seed=%i: logits agree within 1e-4 × max|logit|', async (B, T, seed) => {
      const ids = seededIds(B * T, seed, V);
      const mine = (await ours.forward({ kind: 'ids', ids }, B, T)).logits;
      const theirs = await ortLogits(peer, ids, B, T);
      expect(mine.length).toBe(B * T * V);
      expect(theirs.length).toBe(B * T * V);
      const c = checkTensor(`logits B=${B} T=${T}`, mine, theirs);
      const what = `${label} vs ort-wasm`;
      console.log(`${formatCheck(what, c)} rel=${((c.maxAbsErr * 1e-4) / c.tol).toExponential(3)}`);
      expect(c.tol).toBeGreaterThan(1e-4); // max|logit| > 1: the logits are not trivially zero
      expect(c.pass, formatCheck(what, c)).toBe(true);
    });
  });
}
