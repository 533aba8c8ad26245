// The Engine through comlink over a MessageChannel, as the page uses it from the worker: load, generate
// with streamed tokens, typed errors that survive the boundary, and a good load right after a bad one.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expose, proxy, wrap } from 'comlink';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/errors.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import type { EngineApi, TokenEvent } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';
import { installErrorTransfer } from '../../src/worker/errorTransfer.ts';

const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');

installErrorTransfer();
const channel = new MessageChannel();
const engineImpl = new Engine({
  gpu: null,
  resolveSource: (loc) => {
    if (loc.kind !== 'url') throw new Error('node test: url locations only');
    return new DirModelSource(loc.baseUrl);
  },
});
expose(engineImpl, channel.port1);
const engine = wrap<EngineApi>(channel.port2);
afterAll(() => {
  channel.port1.close();
  channel.port2.close();
});

describe('Engine over comlink (CPU backend)', () => {
  it('initialises without a GPU and says so', async () => {
    const info = await engine.init({ backend: 'auto' });
    expect(info.backend).toBe('cpu');
  });

  it('loads the built-in model and streams a deterministic greedy generation', async () => {
    const info = await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
    expect(info.hasTokenizer).toBe(true);
    expect(info.chatTemplate).toBe(true);
    const events: TokenEvent[] = [];
    const a = await engine.generate(
      'Hello',
      { maxNewTokens: 6, greedy: true },
      proxy((ev: TokenEvent) => {
        events.push(ev);
      }),
    );
    expect(a.ids.length).toBeGreaterThan(0);
    expect(a.ids.length).toBeLessThanOrEqual(6);
    expect(events.map((e) => e.id)).toEqual(a.ids);
    const b = await engine.generate('Hello', { maxNewTokens: 6, greedy: true });
    expect(b.ids).toEqual(a.ids);
    // Sampling: same seed, same tokens; the prompt is wrapped in the chat template.
    const s1 = await engine.generate('Hello', { maxNewTokens: 6, temperature: 1, seed: 5 });
    const s2 = await engine.generate('Hello', { maxNewTokens: 6, temperature: 1, seed: 5 });
    expect(s2.ids).toEqual(s1.ids);
    expect(s1.promptIds.length).toBeGreaterThan(5);
  });

  it('greedy decoding picks the argmax of the full forward at every step', async () => {
    const prompt = await engine.tokenize('abc');
    const g = await engine.generate(prompt, { maxNewTokens: 4, greedy: true });
    const all = [...prompt, ...g.ids];
    const V = 263;
    const { logits } = await engineImpl.backend.forward({ kind: 'ids', ids: all }, 1, all.length);
    for (let i = 0; i < g.ids.length; i++) {
      const row = logits.subarray((prompt.length - 1 + i) * V, (prompt.length + i) * V);
      expect(g.ids[i]).toBe(row.indexOf(Math.max(...row)));
    }
  });

  it('a corrupt weights file is a typed error, and a good model loads right after', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'motg-bad-'));
    cpSync(BUILTIN, bad, { recursive: true });
    const bytes = readFileSync(join(bad, 'model.safetensors'));
    writeFileSync(join(bad, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    const err = await engine.loadModel({ kind: 'url', baseUrl: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).code).toMatch(/^safetensors-/);
    expect((err as EngineError).file).toBe('model.safetensors');
    // The previous model still works, and a good load succeeds.
    expect((await engine.generate('x', { maxNewTokens: 2, greedy: true })).ids.length).toBeGreaterThan(0);
    const info = await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
    expect(info.numParameters).toBeGreaterThan(0);
  });

  it.each([
    ['truncated weights', (dir: string) => truncate(join(dir, 'model.safetensors')), /^safetensors-/],
    [
      'broken tokenizer.json',
      (dir: string) => writeFileSync(join(dir, 'tokenizer.json'), '{"model": '),
      /^tokenizer-invalid$/,
    ],
    [
      'config contradicting the weights',
      (dir: string) => patchConfig(dir, { hidden_size: 96 }),
      /^config-mismatch$|^tensor-shape$/,
    ],
    ['missing config.json', (dir: string) => rmSync(join(dir, 'config.json')), /^file-missing$/],
  ] as const)(
    '%s: a typed error over the worker boundary, then a good model loads',
    async (_label, damage, code) => {
      const bad = mkdtempSync(join(tmpdir(), 'motg-bad-'));
      cpSync(BUILTIN, bad, { recursive: true });
      damage(bad);
      const err = await engine.loadModel({ kind: 'url', baseUrl: bad }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).code).toMatch(code);
      expect((err as EngineError).message.length).toBeGreaterThan(10);
      const info = await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
      expect(info.hasTokenizer).toBe(true);
      expect((await engine.generate('ok', { maxNewTokens: 2, greedy: true })).ids.length).toBeGreaterThan(0);
    },
  );

  it('supervised training in the worker lowers the loss and the trained weights are used afterwards', async () => {
    await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
    const ids = await engine.tokenize('abcabcabcabc');
    const data = Array.from({ length: 8 }, () => ({ ids, lossStart: 1 }));
    const before = await engine.score(ids);
    const steps: number[] = [];
    const result = await engine.trainSupervised(
      data,
      { batchSize: 4, steps: 30, lr: 1e-2, seed: 1 },
      proxy((p: { loss: number }) => {
        steps.push(p.loss);
      }),
    );
    expect(result.losses).toHaveLength(30);
    expect(steps).toHaveLength(30);
    expect(result.losses[29]).toBeLessThan(0.5 * result.losses[0]);
    const after = await engine.score(ids);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(after.logprobs)).toBeGreaterThan(mean(before.logprobs));
  });

  it('rejects bad arguments with typed errors', async () => {
    const err = await engine.generate('x', { maxNewTokens: 2, temperature: -1 }).catch((e: unknown) => e);
    expect((err as EngineError).code).toBe('invalid-argument');
  });
});

function truncate(path: string): void {
  const bytes = readFileSync(path);
  writeFileSync(path, bytes.subarray(0, bytes.length - 100));
}

function patchConfig(dir: string, patch: Record<string, unknown>): void {
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), ...patch }));
}
