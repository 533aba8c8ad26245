// Mixture-of-token rollouts (rl/rollout.ts) on the CPU: the loop's bookkeeping with a scripted stepper
// (multi-token `</think>`, Cold Stop forcing, EOS, length, skipped steps, positions), Engine.rollout over
// comlink with the built-in model (determinism, records, stop rules, evaluation mode, typed errors), and the
// replay (rl/trainingBatch.ts): the training forward on the recorded inputs reproduces every behaviour
// log-likelihood.

import { resolve } from 'node:path';
import { expose, proxy, wrap } from 'comlink';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mixtureEmbedding } from '../../src/engine/decode/referenceStepper.ts';
import type {
  PrefillRequest,
  RolloutStepper,
  RowStep,
  StepRequest,
} from '../../src/engine/decode/stepper.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import { embedInputs } from '../../src/engine/ref/model.ts';
import { makeSettings } from '../../src/mot/presets.ts';
import type { StepRecord } from '../../src/mot/step.ts';
import { STOP_DEFAULTS } from '../../src/mot/stop.ts';
import { type RolloutStepEvent, runRollout } from '../../src/rl/rollout.ts';
import { buildTrainingBatch, replayLogLikelihoods } from '../../src/rl/trainingBatch.ts';
import type { EngineApi, RolloutRequest, RolloutResult } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';
import { installErrorTransfer } from '../../src/worker/errorTransfer.ts';

const BUILTIN = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');
const THINK_END = 260;
const IM_END = 258;

// ---- The loop with a scripted stepper ------------------------------------------------------------------

interface Script {
  reps: number[];
  entropy?: number;
}

/** Returns scripted representatives per row (one per sampled step) and logs every request. */
class ScriptStepper implements RolloutStepper {
  readonly path = 'reference' as const;
  readonly log: { step: number; modes: string[]; inputs?: StepRequest['inputs']; positions: number[] }[] = [];
  private readonly next: number[];
  constructor(private readonly scripts: Script[]) {
    this.next = scripts.map(() => 0);
  }
  async prefill(req: PrefillRequest): Promise<(RowStep | null)[]> {
    this.log.push({ step: req.step, modes: req.modes, positions: Array.from(req.positions) });
    return this.emit(req.modes, req.step);
  }
  async step(req: StepRequest): Promise<(RowStep | null)[]> {
    this.log.push({
      step: req.step,
      modes: req.modes,
      inputs: req.inputs,
      positions: Array.from(req.positions),
    });
    return this.emit(req.modes, req.step);
  }
  dispose(): void {}
  private emit(modes: string[], step: number): (RowStep | null)[] {
    return modes.map((mode, b) => {
      if (mode === 'skip') return null;
      const s = this.scripts[b];
      const rep = s.reps[this.next[b]++] ?? 99;
      const record: StepRecord = {
        mode: mode === 'thinking' ? 'mixture' : 'discrete',
        ids: mode === 'thinking' ? [rep, 50] : [rep],
        weights: mode === 'thinking' ? [0.75, 0.25] : [1],
        representative: rep,
        temperature: 0.9,
        logLikelihood: -1,
        entropy: s.entropy ?? 2,
        argmax: rep,
        sampled: null,
        noise: null,
        counters: { seed: 0, row: b, step },
      };
      return { record, hiddenEntropy: [1, 2] };
    });
  }
}

describe('the rollout loop', () => {
  it('follows the stop rules per row: multi-token </think>, Cold Stop forcing, EOS, length', async () => {
    const settings = makeSettings('dirichlet');
    const stop = { ...STOP_DEFAULTS, thinkEnd: [7, 8], eos: [2], coldStop: true, coldStopSteps: 2 };
    const scripts: Script[] = [
      { reps: [1, 7, 8, 3, 2] }, // spells </think> at steps 1–2, then EOS at step 4
      { reps: [4, 5, 6, 6, 6, 6], entropy: 0 }, // Cold Stop after 2 cold steps: forced 7, 8
      { reps: [9, 9, 9, 9, 9, 9, 9, 9] }, // runs to the length limit
    ];
    const run3 = await runRollout(() => new ScriptStepper(scripts), [[100, 101, 102], [103], [104, 105]], {
      settings,
      stop,
      maxNewTokens: 6,
      seed: 0,
      G: 1,
      padId: 0,
    });
    const [a, b, c] = run3.trajectories;
    // Row 0: thinking ends on the representatives 7, 8; EOS is an action but not a token.
    expect(a.tokens).toEqual([1, 7, 8, 3]);
    expect(a.stopReason).toBe('eos');
    expect(a.records.map((r) => r.phase)).toEqual(['thinking', 'thinking', 'thinking', 'answer', 'answer']);
    expect(a.stats.switchReason).toBe('think-end');
    expect(a.stats.switchStep).toBe(2);
    expect(a.stats.switchToken).toBe(3);
    expect(a.inputs).toHaveLength(4);
    expect(a.records.map((r) => r.position)).toEqual([2, 3, 4, 5, 6]);
    // Row 1: two cold steps force </think> (two tokens) after the second record; those steps sample nothing.
    expect(b.tokens.slice(0, 4)).toEqual([4, 5, 7, 8]);
    expect(b.stats.switchReason).toBe('cold-stop');
    expect(b.stats.forcedTokens).toBe(2);
    expect(b.records[2].phase).toBe('answer');
    expect(b.records.map((r) => r.step)).toEqual([0, 1, 4, 5]);
    expect(b.records.map((r) => r.position)).toEqual([0, 1, 4, 5]);
    expect(b.inputs.slice(0, 4)).toEqual([
      { kind: 'action', record: 0 },
      { kind: 'action', record: 1 },
      { kind: 'token', id: 7 },
      { kind: 'token', id: 8 },
    ]);
    expect(b.stopReason).toBe('length');
    expect(b.tokens).toHaveLength(6);
    // Row 2: the length limit.
    expect(c.tokens).toHaveLength(6);
    expect(c.stopReason).toBe('length');
    expect(c.stats.switchReason).toBe('none');
    expect(c.stats.mixtureSteps).toBe(6);
    expect(c.stats.meanEffectiveTokens).toBeCloseTo(1 / (0.75 ** 2 + 0.25 ** 2), 12);

    // The stepper saw skip modes while forced tokens were fed, and masked/padded finished rows.
    const s = new ScriptStepper(scripts);
    await runRollout(() => s, [[100, 101, 102], [103], [104, 105]], {
      settings,
      stop,
      maxNewTokens: 6,
      seed: 0,
      G: 1,
      padId: 0,
    });
    const modes1 = s.log.map((l) => l.modes[1]);
    expect(modes1.slice(0, 6)).toEqual(['thinking', 'thinking', 'skip', 'skip', 'answer', 'answer']);
    expect(s.log[3].inputs?.[1]).toEqual({ kind: 'id', id: 7 });
    expect(s.log[4].inputs?.[1]).toEqual({ kind: 'id', id: 8 });
    expect(s.log[5].inputs?.[0]).toEqual({ kind: 'id', id: 0 }); // row 0 finished at step 4: padding
    expect(s.log[5].modes[0]).toBe('skip');
    expect(s.log[2].positions).toEqual([4, 2, 3]); // |prompt| + step − 1
  });

  it('the training batch places every input and action where the rollout had them', async () => {
    const settings = makeSettings('dirichlet');
    const stop = { ...STOP_DEFAULTS, thinkEnd: [7], eos: [2], coldStop: true, coldStopSteps: 2 };
    const run = await runRollout(
      () => new ScriptStepper([{ reps: [4, 5, 6, 2] }, { reps: [3, 3, 2], entropy: 0 }]),
      [[100, 101], [102]],
      { settings, stop, maxNewTokens: 8, seed: 0, G: 1, padId: 0 },
    );
    const batch = buildTrainingBatch(run.trajectories, { padId: 0 });
    expect(batch.lengths).toEqual([2 + 3, 1 + 3]);
    expect(batch.T).toBe(5);
    expect(batch.input.kind).toBe('mixture');
    const input = batch.input;
    if (input.kind !== 'mixture') return;
    const K = input.k;
    const at = (b: number, t: number) => {
      const ids: number[] = [];
      const w: number[] = [];
      for (let j = 0; j < K; j++) {
        ids.push(input.ids[(b * batch.T + t) * K + j]);
        w.push(input.weights[(b * batch.T + t) * K + j]);
      }
      return { ids, w };
    };
    expect(at(0, 0)).toEqual({ ids: [100, 100], w: [1, 0] });
    expect(at(0, 2)).toEqual({ ids: [4, 50], w: [0.75, 0.25] }); // the first action's mixture
    expect(at(1, 3)).toEqual({ ids: [7, 7], w: [1, 0] }); // the forced </think>
    expect(Array.from(batch.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    expect(batch.actions.map((x) => [x.row, x.position])).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [0, 4],
      [1, 0],
      [1, 1],
      [1, 3],
    ]);
  });
});

// ---- Engine.rollout over comlink (CPU backend) -----------------------------------------------------------

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

const PROMPTS = ['What is 2 + 3?', { question: 'Spell cat backwards.' }];
// A set of ids that often ends a trajectory (the random model puts ~1/263 on each id).
const EOS_SET = [IM_END, ...Array.from({ length: 20 }, (_, i) => 65 + i)];

function request(over: Partial<RolloutRequest> = {}): RolloutRequest {
  return {
    prompts: PROMPTS,
    G: 3,
    preset: 'dirichlet',
    maxNewTokens: 16,
    seed: 11,
    systemPrompt: 'Think, then answer.',
    ...over,
  };
}

beforeAll(async () => {
  await engine.init({ backend: 'cpu' });
  await engine.loadModel({ kind: 'url', baseUrl: BUILTIN });
});

describe('Engine.rollout over comlink (CPU backend)', () => {
  it('decodes prompts × G trajectories with a record per step, deterministically', async () => {
    const events: RolloutStepEvent[] = [];
    const a = await engine.rollout(
      request(),
      proxy((ev: RolloutStepEvent) => {
        events.push(ev);
      }),
    );
    expect(a.backend).toBe('cpu');
    expect(a.path).toBe('reference');
    expect(a.trajectories).toHaveLength(6);
    expect(a.stop.thinkEnd).toEqual([THINK_END]);
    expect(a.promptIds[0].at(-1)).toBe(259); // prefilled <think>
    for (const tr of a.trajectories) {
      expect(tr.promptIndex).toBe(Math.floor(tr.row / 3));
      expect(tr.records.length).toBeGreaterThan(0);
      for (const r of tr.records) {
        expect(r.counters).toEqual({ seed: 11, row: tr.row, step: r.step });
        expect(r.hiddenEntropy).toHaveLength(2);
        for (const h of r.hiddenEntropy) expect(h).toBeGreaterThan(0);
        for (const h of r.hiddenEntropy) expect(h).toBeLessThanOrEqual(Math.log(64) + 1e-6);
        expect(r.weights.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 6);
        expect(Number.isFinite(r.logLikelihood)).toBe(true);
        if (r.phase === 'thinking') {
          expect(r.mode).toBe('mixture');
          expect(r.ids).toHaveLength(2);
          expect(r.ids).toContain(r.representative);
        } else expect(r.mode).toBe('discrete');
      }
      expect(tr.completion.length).toBeGreaterThan(0);
      expect(tr.stats.length).toBe(tr.tokens.length);
    }
    // Rows differ (different counters), the callback saw every record.
    expect(new Set(a.trajectories.map((t) => t.tokens.join(','))).size).toBe(6);
    const seen = events.flatMap((e) => e.updates.filter((u) => u.record).map((u) => u.row));
    expect(seen.length).toBe(a.trajectories.reduce((s, t) => s + t.records.length, 0));
    expect(events.at(-1)?.active).toBe(0);
    // Same seed → the same rollouts; another seed → others.
    const b = await engine.rollout(request());
    expect(b.trajectories.map((t) => t.tokens)).toEqual(a.trajectories.map((t) => t.tokens));
    expect(b.trajectories.map((t) => t.records.map((r) => r.weights))).toEqual(
      a.trajectories.map((t) => t.records.map((r) => r.weights)),
    );
    const c = await engine.rollout(request({ seed: 12 }));
    expect(c.trajectories.map((t) => t.tokens)).not.toEqual(a.trajectories.map((t) => t.tokens));
  });

  it('EOS ends rows at different times; Cold Stop forces </think>, then the answer is discrete', async () => {
    const r = await engine.rollout(
      request({
        maxNewTokens: 24,
        stop: { eos: EOS_SET, coldStop: true, coldStopThreshold: 100, coldStopSteps: 3 },
      }),
    );
    const lengths = new Set<number>();
    for (const tr of r.trajectories) {
      lengths.add(tr.tokens.length);
      expect(tr.records.slice(0, 3).every((x) => x.mode === 'mixture')).toBe(true);
      if (tr.records.length > 3 && tr.stats.switchReason === 'cold-stop') {
        expect(tr.tokens[3]).toBe(THINK_END);
        expect(tr.records.slice(3).every((x) => x.mode === 'discrete' && x.phase === 'answer')).toBe(true);
        expect(tr.thinking.endsWith('</think>')).toBe(true);
      }
      if (tr.stopReason === 'eos') expect(EOS_SET).toContain(tr.records.at(-1)?.representative);
    }
    expect(r.trajectories.some((t) => t.stopReason === 'eos')).toBe(true);
    expect(r.trajectories.some((t) => t.stats.switchReason === 'cold-stop')).toBe(true);
    expect(lengths.size).toBeGreaterThan(1);
  });

  it('evaluation with evalMixture off decodes the thinking phase discretely', async () => {
    const r = await engine.rollout(request({ purpose: 'eval', settings: { evalMixture: false }, G: 1 }));
    expect(r.settings.mixture).toBe(false);
    for (const tr of r.trajectories) expect(tr.stats.mixtureSteps).toBe(0);
  });

  it('rejects bad requests with typed errors', async () => {
    const e1 = await engine.rollout(request({ G: 0 })).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(EngineError);
    expect((e1 as EngineError).code).toBe('invalid-argument');
    const e2 = await engine.rollout(request({ settings: { k: 1000 } })).catch((e: unknown) => e);
    expect((e2 as EngineError).code).toBe('invalid-argument');
    expect((e2 as Error).message).toMatch(/^k:/);
    const e3 = await engine.rollout(request({ prompts: [{ ids: [1, 999] }] })).catch((e: unknown) => e);
    expect((e3 as EngineError).code).toBe('invalid-argument');
  });
});

// ---- Replay ------------------------------------------------------------------------------------------

async function embedTokens(): Promise<Float32Array> {
  const { weights } = await loadModel(new DirModelSource(BUILTIN));
  const t = weights.get('model.embed_tokens.weight');
  if (!t) throw new Error('no embedding matrix');
  return t.data;
}

describe('replay: the training forward reproduces the behaviour log-likelihoods (CPU)', () => {
  const cases: [string, Partial<RolloutRequest>][] = [
    ['dirichlet (paper)', { preset: 'dirichlet' }],
    [
      'dirichlet exact, α < 1',
      { preset: 'dirichlet', settings: { likelihood: 'exact', concentration: 0.2, k: 3 } },
    ],
    ['different-tokens exact', { preset: 'different-tokens', settings: { likelihood: 'exact' } }],
    ['mixture-of-inputs', { preset: 'mixture-of-inputs' }],
    ['soft-tokens exact (noise on e_t)', { preset: 'soft-tokens', settings: { likelihood: 'exact' } }],
    ['soft-tokens paper (log π(r) after noisy inputs)', { preset: 'soft-tokens' }],
    ['discrete', { preset: 'discrete' }],
  ];
  it.each(cases)('%s, with Cold Stop and EOS', async (_label, over) => {
    const r: RolloutResult = await engine.rollout(
      request({
        G: 2,
        maxNewTokens: 12,
        stop: { eos: EOS_SET, coldStop: true, coldStopThreshold: 100, coldStopSteps: 4 },
        hiddenEntropy: false,
        ...over,
      }),
    );
    const backend = engineImpl.backend;
    const wte = await embedTokens();
    const batch = buildTrainingBatch(r.trajectories, { padId: 256, noiseStd: r.noiseStd });
    expect(batch.input.kind).toBe('mixture');
    if (r.settings.noiseSigma > 0) {
      // Noisy steps stay mixtures, with the counters their noise is regenerated from; the embedded inputs are
      // exactly the rollout's (Σ w E[id] + σ n in one double accumulator, as the reference stepper fed them).
      expect(r.noiseStd).toBeGreaterThan(0);
      if (batch.input.kind !== 'mixture' || !batch.input.noise) throw new Error('no noise on the inputs');
      expect(batch.input.noise.std).toBe(r.noiseStd);
      const noisy = r.trajectories.flatMap((tr) =>
        tr.inputs.filter((inp) => inp.kind === 'action' && tr.records[inp.record].noise !== null),
      );
      expect(noisy.length).toBeGreaterThan(0);
      let marked = 0;
      for (let n = 0; n < batch.B * batch.T; n++) marked += batch.input.noise.counters[n * 4];
      expect(marked).toBe(noisy.length);
      const model = await loadModel(new DirModelSource(BUILTIN));
      const got = embedInputs(model, batch.input, batch.B * batch.T);
      const want = new Float32Array(batch.B * batch.T * 64);
      r.trajectories.forEach((tr, b) => {
        const seq = [
          ...tr.promptIds.map((id) => ({ ids: [id], weights: [1], noise: null })),
          ...tr.inputs.map((inp) => {
            if (inp.kind === 'token') return { ids: [inp.id], weights: [1], noise: null };
            const rec = tr.records[inp.record];
            return {
              ids: rec.ids,
              weights: rec.weights,
              noise: rec.noise ? { std: r.noiseStd, counters: rec.counters } : null,
            };
          }),
        ];
        for (let t = 0; t < batch.T; t++) {
          const q = seq[t] ?? { ids: [256], weights: [1], noise: null };
          mixtureEmbedding(want, (b * batch.T + t) * 64, q.ids, q.weights, wte, 64, q.noise);
        }
      });
      expect(got).toEqual(want);
    }
    const ll = await replayLogLikelihoods(backend, batch, r.settings, 263, { embedding: { E: wte, C: 64 } });
    expect(ll.length).toBeGreaterThan(10);
    batch.actions.forEach((a, i) => {
      const want = a.record.logLikelihood;
      expect(Math.abs(ll[i] - want), `action ${i}: ${ll[i]} vs ${want}`).toBeLessThan(
        1e-4 * Math.max(1, Math.abs(want)),
      );
    });
  });
});
