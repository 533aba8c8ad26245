// The CPU reference against Hugging Face transformers' golden outputs, for both fixture models.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forwardParity, forwardTensorNames, loadGoldenSet } from '../../src/check/parity.ts';
import { cpuFactory, parityBackends } from '../../src/check/parityBackends.ts';
import { formatCheck } from '../../src/check/tensorCheck.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { HF_GOLDEN_DIR, TINY_MODELS } from '../helpers/fixtures.ts';

describe.each(TINY_MODELS)('CPU reference matches transformers on %s', (name) => {
  it('every forward tensor within 1e-4 × max|reference|', async () => {
    const dir = join(HF_GOLDEN_DIR, name);
    const golden = await loadGoldenSet(new DirModelSource(dir));
    const checks = await forwardParity(golden, await parityBackends(dir, name, cpuFactory));
    const names = checks.map((c) => c.name);
    // Every tensor the issue names is present and checked.
    for (const required of [
      'logits',
      'hidden.embed',
      'hidden.layer0',
      'hidden.layer1',
      'hidden.final_norm',
      'padded.logits',
      'mix.logits',
      'dense.logits',
      'bf16.logits',
      'lora.logits',
    ]) {
      expect(names).toContain(required);
    }
    expect(checks.length).toBe(forwardTensorNames(golden).length);
    for (const c of checks) expect(c.pass, formatCheck('cpu', c)).toBe(true);
  });
});
