// Incremental decoding on the CPU reference: the KV cache gives the full forward's logits at every step,
// and a left-padded batch decodes like each row alone.
import { describe, expect, it } from 'vitest';
import { checkTensor } from '../../src/check/tensorCheck.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { qwen2Forward, RefKvCache } from '../../src/engine/ref/model.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

const config = tinyConfig();
const model = { config, weights: initQwen2Weights(config, 7, 0.2, 0.1) };
const V = config.vocabSize;

describe('KV cache (reference)', () => {
  it('prefill + one-token steps reproduce the full forward logits at every step', () => {
    const ids = [5, 17, 99, 3, 42, 8, 61, 0, 77];
    const full = qwen2Forward(model, { kind: 'ids', ids }, 1, ids.length).logits;
    const cache = new RefKvCache(config, 1, 16);
    const prefill = 4;
    const first = qwen2Forward(model, { kind: 'ids', ids: ids.slice(0, prefill) }, 1, prefill, {
      cache,
    }).logits;
    expect(checkTensor('prefill', first, full.subarray(0, prefill * V)).pass).toBe(true);
    for (let t = prefill; t < ids.length; t++) {
      const step = qwen2Forward(model, { kind: 'ids', ids: [ids[t]] }, 1, 1, { cache }).logits;
      const c = checkTensor(`step ${t}`, step, full.subarray(t * V, (t + 1) * V), 1e-5);
      expect(c.pass, `${c.name}: ${c.maxAbsErr} > ${c.tol}`).toBe(true);
    }
    expect(cache.length).toBe(ids.length);
  });

  it('a left-padded batch decodes the same as each row alone', () => {
    const rows = [
      [11, 12, 13, 14, 15, 16],
      [21, 22, 23],
    ];
    const T = 6;
    const ids: number[] = [];
    const mask: number[] = [];
    const pos: number[] = [];
    for (const r of rows) {
      const pad = T - r.length;
      for (let t = 0; t < T; t++) {
        ids.push(t < pad ? 0 : r[t - pad]);
        mask.push(t < pad ? 0 : 1);
        pos.push(Math.max(0, t - pad));
      }
    }
    const cache = new RefKvCache(config, 2, 12);
    qwen2Forward(model, { kind: 'ids', ids }, 2, T, { cache, attentionMask: mask, positionIds: pos });
    const next = [
      [31, 32, 33],
      [41, 42, 43],
    ];
    const alone = rows.map(
      (r, b) => qwen2Forward(model, { kind: 'ids', ids: [...r, ...next[b]] }, 1, r.length + 3).logits,
    );
    for (let s = 0; s < 3; s++) {
      const stepPos = rows.map((r) => r.length + s);
      const logits = qwen2Forward(model, { kind: 'ids', ids: [next[0][s], next[1][s]] }, 2, 1, {
        cache,
        positionIds: stepPos,
      }).logits;
      for (let b = 0; b < 2; b++) {
        const t = rows[b].length + s;
        const c = checkTensor(
          `row ${b} step ${s}`,
          logits.subarray(b * V, (b + 1) * V),
          alone[b].subarray(t * V, (t + 1) * V),
          1e-5,
        );
        expect(c.pass, `${c.name}: ${c.maxAbsErr} > ${c.tol}`).toBe(true);
      }
    }
  });
});
