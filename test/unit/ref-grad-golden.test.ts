// The CPU reference's backward against transformers' (float64) gradients for both fixture models:
// loss.*, every grad.*, mixloss.value, every mixgrad.*, lora.loss.value and every lora_grad.*, each
// within 1e-4 × max|reference|.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { gradientParity, gradientTensorNames } from '../../src/check/gradParity.ts';
import { loadGoldenSet } from '../../src/check/parity.ts';
import { DEFAULT_REL_TOL, formatCheck } from '../../src/check/tensorCheck.ts';
import { expectedParameters } from '../../src/engine/config.ts';
import { loadLoraAdapter } from '../../src/engine/model/lora.ts';
import { subSource } from '../../src/engine/model/source.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import { loraGradName } from '../../src/engine/ref/backward.ts';
import { HF_GOLDEN_DIR, requireFixtures, TINY_MODELS } from '../helpers/fixtures.ts';

requireFixtures();

describe.each(TINY_MODELS)('reference gradients match transformers on %s', (name) => {
  it('loss, log-probs and every gradient within 1e-4 × max|reference|', async () => {
    const source = new DirModelSource(join(HF_GOLDEN_DIR, name));
    const model = await loadModel(source);
    const adapter = await loadLoraAdapter(subSource(source, 'adapter'), model.config);
    const golden = await loadGoldenSet(source);
    const checks = gradientParity(golden, { config: model.config, weights: model.weights }, adapter);

    // Every tensor the issue names is there: one grad.* and one mixgrad.* per parameter (the tied
    // head is the embedding), one lora_grad.* per adapter matrix.
    const names = checks.map((c) => c.name);
    expect(names).toEqual(gradientTensorNames(golden));
    const params = [...expectedParameters(model.config).keys()];
    for (const p of params) {
      expect(names).toContain(`grad.${p}`);
      expect(names).toContain(`mixgrad.${p}`);
    }
    for (const base of adapter.layers.keys()) {
      expect(names).toContain(`lora_grad.${loraGradName(base, 'A')}`);
      expect(names).toContain(`lora_grad.${loraGradName(base, 'B')}`);
    }
    for (const n of ['loss.value', 'loss.logp', 'mixloss.value', 'lora.loss.value'])
      expect(names).toContain(n);
    expect(names.filter((n) => n.startsWith('grad.')).length).toBe(params.length);
    expect(names.filter((n) => n.startsWith('lora_grad.')).length).toBe(2 * adapter.layers.size);

    for (const c of checks) {
      expect(c.tol).toBeGreaterThan(0);
      expect(c.pass, formatCheck('cpu', c)).toBe(true);
    }
  });

  it('a gradient 0.1 % off is reported as a failure (the check can fail)', async () => {
    const source = new DirModelSource(join(HF_GOLDEN_DIR, name));
    const model = await loadModel(source);
    const golden = await loadGoldenSet(source);
    // Perturb the golden tensor itself: the comparison must notice a 1e-3 relative error in one entry.
    const key = 'grad.model.norm.weight';
    const t = golden.tensors.get(key);
    if (!t) throw new Error(`missing ${key}`);
    let big = 0;
    for (let i = 0; i < t.data.length; i++) if (Math.abs(t.data[i]) > Math.abs(t.data[big])) big = i;
    const data = t.data.slice();
    data[big] *= 1 + 10 * DEFAULT_REL_TOL;
    golden.tensors.set(key, { shape: t.shape, data });
    const checks = gradientParity(golden, { config: model.config, weights: model.weights }, null);
    const c = checks.find((x) => x.name === key);
    expect(c?.pass).toBe(false);
    // Without an adapter the lora checks are skipped.
    expect(checks.some((x) => x.name.startsWith('lora'))).toBe(false);
  });
});
