// The vitest wrapper of src/check/ortParity.ts: registers one suite that checks a backend of ours against
// onnxruntime-web (wasm EP, Node) on qwen2-tiny-a's model.onnx, one test per ORT_PARITY_SHAPES entry.
// Shared by the CPU reference's test (unit) and the WebGPU backend's (gpu).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeOrtParity,
  formatOrtCheck,
  ORT_PARITY_SHAPES,
  type OrtParityModel,
  openOrtParity,
  ortLogitsCheck,
} from '../../src/check/ortParity.ts';
import type { Backend } from '../../src/engine/backend.ts';
import type { Qwen2Config } from '../../src/engine/config.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import type { WeightMap } from '../../src/engine/tensor.ts';
import { HF_GOLDEN_DIR } from './fixtures.ts';

const DIR = `${HF_GOLDEN_DIR}/qwen2-tiny-a`;

/** Registers the suite: `label` names our backend in the output ('cpu', 'webgpu'). */
export function describeOrtParity(
  label: string,
  makeBackend: (config: Qwen2Config, weights: WeightMap) => Promise<Backend>,
): void {
  let model: OrtParityModel;
  let ours: Backend;

  beforeAll(async () => {
    const opened = await openOrtParity(new DirModelSource(DIR));
    if (!opened) throw new Error(`${DIR} has no model.onnx`);
    model = opened;
    ours = await makeBackend(model.config, model.weights);
  });
  afterAll(async () => {
    await closeOrtParity(model);
    ours.dispose();
  });

  describe(`onnxruntime-web (wasm) vs our ${label} backend, qwen2-tiny-a`, () => {
    it.each(ORT_PARITY_SHAPES)(
      'B=%i T=%i seed=%i: logits agree within 1e-4 × max|logit|',
      async (B, T, seed) => {
        const c = await ortLogitsCheck(ours, model.peer, model.config.vocabSize, [B, T, seed]);
        const what = `${label} vs ort-wasm`;
        console.log(formatOrtCheck(what, c));
        expect(c.oursLength).toBe(c.expectedLength);
        expect(c.ortLength).toBe(c.expectedLength);
        expect(c.tol).toBeGreaterThan(1e-4); // max|logit| > 1: the logits are not trivially zero
        expect(c.pass, formatOrtCheck(what, c)).toBe(true);
      },
    );
  });
}
