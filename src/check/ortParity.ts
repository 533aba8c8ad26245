// onnxruntime-web as an independent check of one of our backends' forward pass: the same weights, exported
// by torch to model.onnx, must give that backend's logits within rel × max|logit| at a few awkward shapes.
// Used by the tests (the CPU reference in test/unit/ort-vs-engine.test.ts, the WebGPU backend in
// test/gpu/ort-vs-webgpu.test.ts) and by `npm run parity` when the folder has a model.onnx. No DOM and no
// `node:` imports: the folder comes as a ModelSource.

import type { Backend } from '../engine/backend.ts';
import type { Qwen2Config } from '../engine/config.ts';
import type { ModelSource } from '../engine/model/source.ts';
import { loadModel } from '../engine/model/weights.ts';
import type { WeightMap } from '../engine/tensor.ts';
import {
  createOrtSession,
  type OrtExecutionProvider,
  type OrtPeerSession,
  ortLogits,
  releaseOrtSession,
} from './ortPeer.ts';
import { checkTensor, DEFAULT_REL_TOL, formatCheck, type TensorCheck } from './tensorCheck.ts';

/** Deterministic ids in [0, V) (an LCG: only reproducibility matters). */
export function seededIds(n: number, seed: number, V: number): Int32Array {
  let s = seed >>> 0;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % V;
  }
  return out;
}

/** (B, T, seed) of the checks: sizes that are no multiple of a tile, one row, and T past a tile. */
export const ORT_PARITY_SHAPES: readonly (readonly [B: number, T: number, seed: number])[] = [
  [2, 12, 1],
  [2, 12, 7],
  [1, 5, 3],
  [3, 20, 11],
];

/** A folder's f32 model and an onnxruntime-web session on its model.onnx. */
export interface OrtParityModel {
  config: Qwen2Config;
  weights: WeightMap;
  peer: OrtPeerSession;
}

/** Loads the folder's weights and opens ORT on its model.onnx; null when the folder has no model.onnx. */
export async function openOrtParity(
  source: ModelSource,
  executionProvider: OrtExecutionProvider = 'wasm',
): Promise<OrtParityModel | null> {
  const onnx = await source.readFile('model.onnx');
  if (onnx === null) return null;
  const { config, weights } = await loadModel(source);
  const peer = await createOrtSession(onnx, { executionProvider });
  return { config, weights, peer };
}

/** Frees the ORT session (the weights are plain memory). */
export async function closeOrtParity(model: OrtParityModel): Promise<void> {
  await releaseOrtSession(model.peer);
}

/** One shape's logits check, with the sizes each side returned (both must be B·T·V). */
export interface OrtLogitsCheck extends TensorCheck {
  B: number;
  T: number;
  seed: number;
  rel: number;
  expectedLength: number;
  oursLength: number;
  ortLength: number;
}

/** Our backend's logits vs ORT's on seeded ids of one shape; a size mismatch on either side fails it. */
export async function ortLogitsCheck(
  ours: Backend,
  peer: OrtPeerSession,
  vocabSize: number,
  [B, T, seed]: readonly [number, number, number],
  rel = DEFAULT_REL_TOL,
): Promise<OrtLogitsCheck> {
  const ids = seededIds(B * T, seed, vocabSize);
  const mine = (await ours.forward({ kind: 'ids', ids }, B, T)).logits;
  const theirs = await ortLogits(peer, ids, B, T);
  const expectedLength = B * T * vocabSize;
  const c = checkTensor(`ort.logits(B=${B},T=${T},seed=${seed})`, mine, theirs, rel);
  const sized = mine.length === expectedLength && theirs.length === expectedLength;
  return {
    ...c,
    pass: c.pass && sized,
    B,
    T,
    seed,
    rel,
    expectedLength,
    oursLength: mine.length,
    ortLength: theirs.length,
  };
}

/** formatCheck's line, plus the error relative to max|ORT logit|. */
export function formatOrtCheck(backend: string, c: OrtLogitsCheck): string {
  return `${formatCheck(backend, c)} rel=${((c.maxAbsErr * c.rel) / c.tol).toExponential(3)}`;
}

/** Every shape of ORT_PARITY_SHAPES on one backend. */
export async function ortParity(
  ours: Backend,
  model: OrtParityModel,
  rel = DEFAULT_REL_TOL,
): Promise<OrtLogitsCheck[]> {
  const checks: OrtLogitsCheck[] = [];
  for (const shape of ORT_PARITY_SHAPES)
    checks.push(await ortLogitsCheck(ours, model.peer, model.config.vocabSize, shape, rel));
  return checks;
}
