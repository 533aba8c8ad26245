// The one evaluator (rl/evaluate.ts): how it averages (per item the fraction of samples scoring 1, per task
// the mean over items), the order it works in (rows, cancel check, prompts, decoding, scoring), batching,
// cancellation; its rollout decoder over the real loop; and the page's evaluation (store/lib/evalRun.ts) on
// top of it, over a scripted engine.
import { describe, expect, it } from 'vitest';
import { builtinConfig } from '../../src/builtin/model.ts';
import { buildBuiltinTokenizer } from '../../src/builtin/tokenizer.ts';
import { CpuBackend } from '../../src/engine/cpuBackend.ts';
import { ReferenceStepper } from '../../src/engine/decode/referenceStepper.ts';
import type { StepperConfig } from '../../src/engine/decode/stepper.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { Tokenizer } from '../../src/engine/model/tokenizer.ts';
import {
  completionsByPrompt,
  datasetItems,
  type EvalCompletion,
  type EvalItem,
  type EvalProgress,
  type EvalScore,
  evaluateItems,
  rolloutDecoder,
  scoreCompletion,
} from '../../src/rl/evaluate.ts';
import { rolloutSettings, rolloutStopSettings, runRollout } from '../../src/rl/rollout.ts';
import { judge } from '../../src/store/lib/decodeRun.ts';
import { type EvalEngine, evaluate } from '../../src/store/lib/evalRun.ts';
import { drawItem, sampleSeed } from '../../src/store/lib/items.ts';
import { DEFAULT_SETTINGS } from '../../src/store/settings.ts';
import { getTask } from '../../src/tasks/registry.ts';
import { computeReward } from '../../src/tasks/reward.ts';
import type { RolloutRequest, RolloutResult } from '../../src/worker/api.ts';

/** Items whose question names them, so a scripted decoder and scorer can tell them apart. */
function items(spec: [task: string, count: number][]): EvalItem[] {
  return spec.flatMap(([task, count]) =>
    Array.from({ length: count }, (_, index) => ({
      task,
      level: 'L',
      index,
      entry: { question: `${task}#${index}`, answer: null, metadata: {} },
    })),
  );
}

/** Completion text "<question>/<sample>"; its score and reward come from a table keyed by that text. */
function scripted(table: Record<string, Partial<EvalScore>>) {
  const calls: string[][] = [];
  return {
    calls,
    decode: async (prompts: { item: EvalItem; promptIds: number[] }[], samples: number) => {
      calls.push(prompts.map((p) => p.item.entry.question));
      return prompts.map(({ item, promptIds }) =>
        Array.from(
          { length: samples },
          (_, j): EvalCompletion => ({ completion: `${item.entry.question}/${j}`, tokens: promptIds[0] + j }),
        ),
      );
    },
    score: (completion: string): EvalScore => ({
      answer: completion,
      score: 0,
      reward: 0,
      format: false,
      ...table[completion],
    }),
  };
}

describe('evaluateItems', () => {
  it('averages per item, then per task: fractions, means over completions, tokens, overall', async () => {
    const s = scripted({
      'a#0/0': { score: 1, reward: 3, format: true },
      'a#0/2': { score: 0.5, reward: 1, format: true },
      'a#1/1': { score: 1, reward: 2 },
      'a#1/2': { score: 1, reward: 2, format: true },
      'b#0/0': { score: 1, reward: 1 },
    });
    const progress: EvalProgress[] = [];
    const report = await evaluateItems(
      items([
        ['a', 2],
        ['b', 1],
      ]),
      {
        samples: 3,
        prompt: (it) => [10 * (it.index + 1)],
        decode: s.decode,
        score: s.score,
        onItem: (p) => progress.push({ ...p, tasks: p.tasks.map((r) => ({ ...r })) }),
      },
    );
    expect(report.interrupted).toBe(false);
    expect(s.calls).toEqual([['a#0'], ['a#1'], ['b#0']]); // one item per decode by default
    expect(report.tasks).toEqual([
      {
        task: 'a',
        level: 'L',
        questions: 2,
        samples: 3,
        accuracy: (1 / 3 + 2 / 3) / 2,
        meanScore: 3.5 / 6,
        formatRate: 3 / 6,
        meanReward: 8 / 6,
        tokens: 10 + 11 + 12 + 20 + 21 + 22,
        correct: [1, 2], // per item, of its 3 samples (pass@k reads these)
      },
      {
        task: 'b',
        level: 'L',
        questions: 1,
        samples: 3,
        accuracy: 1 / 3,
        meanScore: 1 / 3,
        formatRate: 0,
        meanReward: 1 / 3,
        tokens: 33,
        correct: [1],
      },
    ]);
    expect(report.overall).toEqual({
      items: 3,
      completions: 9,
      accuracy: (1 / 3 + 2 / 3 + 1 / 3) / 3,
      meanScore: 4.5 / 9,
      formatRate: 3 / 9,
      meanReward: 9 / 9,
      tokens: 96 + 33,
    });
    expect(progress.map((p) => [p.itemsDone, p.done, p.total, p.tasks.length])).toEqual([
      [1, 3, 9, 1],
      [2, 6, 9, 1],
      [3, 9, 9, 2],
    ]);
    expect(progress[0].tasks[0]).toMatchObject({ questions: 1, accuracy: 1 / 3, tokens: 33 });
    expect(progress[1].completions.map((c) => c.correct)).toEqual([false, true, true]);
  });

  it('decodes `itemsPerDecode` items per call, in order (the trainer: all in one batched rollout)', async () => {
    const s = scripted({});
    const all = items([
      ['a', 3],
      ['b', 2],
    ]);
    await evaluateItems(all, {
      samples: 1,
      prompt: () => [1],
      decode: s.decode,
      score: s.score,
      itemsPerDecode: 2,
    });
    expect(s.calls).toEqual([['a#0', 'a#1'], ['a#2', 'b#0'], ['b#1']]);
    s.calls.length = 0;
    const r = await evaluateItems(all, {
      samples: 2,
      prompt: () => [1],
      decode: s.decode,
      score: s.score,
      itemsPerDecode: 5,
    });
    expect(s.calls).toEqual([['a#0', 'a#1', 'a#2', 'b#0', 'b#1']]);
    expect(r.tasks.map((t) => [t.task, t.questions])).toEqual([
      ['a', 3],
      ['b', 2],
    ]);
    await expect(
      evaluateItems(all, { samples: 1, prompt: () => [1], decode: s.decode, itemsPerDecode: 0 }),
    ).rejects.toThrow(RangeError);
    await expect(
      evaluateItems(all, { samples: 1, prompt: () => [1], decode: async () => [] }),
    ).rejects.toThrow(/0 completion lists for 1 prompts/);
  });

  it('stops when cancelled: before a decode (its task row already shown), or on a cancelled completion', async () => {
    const s = scripted({ 'a#0/0': { score: 1 } });
    let checks = 0;
    const r = await evaluateItems(
      items([
        ['a', 1],
        ['b', 2],
      ]),
      {
        samples: 1,
        prompt: () => [1],
        decode: s.decode,
        score: s.score,
        cancelled: () => ++checks > 1,
      },
    );
    expect(r.interrupted).toBe(true);
    expect(r.tasks.map((t) => [t.task, t.questions, t.accuracy])).toEqual([
      ['a', 1, 1],
      ['b', 0, 0],
    ]);
    const c = await evaluateItems(items([['a', 2]]), {
      samples: 2,
      prompt: () => [1],
      decode: async (ps) =>
        ps.map((p) => [
          { completion: 'x', tokens: 1 },
          { completion: 'y', tokens: 1, stopReason: p.item.index === 1 ? 'cancelled' : 'eos' },
        ]),
      score: s.score,
    });
    expect(c.interrupted).toBe(true);
    expect(c.tasks[0].questions).toBe(1); // the cancelled item is not counted
    expect(c.overall.completions).toBe(2);
  });

  it('scores with the task reward (tiny) by default, as the page judges a task item', async () => {
    const { item, entry } = drawItem('chain_sum', 'trivial', 1, 0);
    const text = `\n..\n</think>\n<answer>\n${entry.answer}\n</answer>`;
    const tiny = computeReward(text, getTask('chain_sum'), entry, 'tiny');
    expect(scoreCompletion(text, 'chain_sum', entry)).toEqual({
      answer: tiny.answer,
      score: tiny.score,
      reward: tiny.total,
      format: tiny.format > 0,
    });
    expect(judge(text, item, entry)).toEqual(scoreCompletion(text, 'chain_sum', entry));
    expect(judge(text, item, entry)).toMatchObject({ answer: entry.answer, score: 1, format: true });
    const [first] = datasetItems('chain_sum', 'trivial', 1, 1);
    expect(first).toEqual({ task: 'chain_sum', level: 'trivial', index: 0, entry });
    const report = await evaluateItems([first], {
      samples: 1,
      prompt: () => [1],
      decode: async () => [[{ completion: text, tokens: 5 }]],
    });
    expect(report.tasks[0]).toMatchObject({
      accuracy: 1,
      meanScore: 1,
      formatRate: 1,
      meanReward: tiny.total,
    });
  });
});

describe('rolloutDecoder', () => {
  const built = buildBuiltinTokenizer();
  const tok = Tokenizer.fromJson(built.tokenizerJson, built.tokenizerConfig);
  const config = builtinConfig(
    {
      hiddenSize: 32,
      intermediateSize: 64,
      numHiddenLayers: 1,
      numAttentionHeads: 2,
      numKeyValueHeads: 1,
      maxPositionEmbeddings: 256,
    },
    built,
  );
  const backend = new CpuBackend(config, initQwen2Weights(config, 1, 0.3));
  const V = config.vocabSize;
  const shape = { vocabSize: V, hiddenSize: config.hiddenSize, numHiddenLayers: config.numHiddenLayers };
  const makeStepper = (c: StepperConfig) => new ReferenceStepper(backend, shape, c, null);
  const loop = {
    settings: rolloutSettings('dirichlet', {}, V, 'eval'),
    stop: rolloutStopSettings(tok.encode('</think>', { addSpecialTokens: false }), tok.eosTokenIds, {}, V),
    maxNewTokens: 6,
    seed: 5,
    padId: 0,
    hiddenEntropy: false,
    text: { decode: (ids: number[]) => tok.decode(ids, { skipSpecialTokens: false }) },
  };

  it('decodes a batch of prompts in one rollout: samples per prompt, in prompt order', async () => {
    const prompts = ['What is 1 + 2?', 'What is 3 * 4?'].map((q) =>
      tok.encode(q, { addSpecialTokens: false }),
    );
    const batch = datasetItems('chain_sum', 'trivial', 1, 2).map((item, i) => ({
      item,
      promptIds: prompts[i],
    }));
    const got = await rolloutDecoder(makeStepper, loop)(batch, 3);
    const run = await runRollout(makeStepper, prompts, { ...loop, G: 3 });
    expect(got).toEqual(completionsByPrompt(run.trajectories, 2));
    expect(got.map((c) => c.length)).toEqual([3, 3]);
    expect(got[1][2]).toEqual({
      completion: run.trajectories[5].completion,
      tokens: run.trajectories[5].tokens.length,
      stopReason: run.trajectories[5].stopReason,
    });
  });
});

describe("the page's evaluation (store/lib/evalRun.ts) on the evaluator", () => {
  /** An engine whose rollout answers item by item: the oracle for sample 0, a wrong answer otherwise. */
  function scriptedEngine(): { engine: EvalEngine; requests: RolloutRequest[] } {
    const requests: RolloutRequest[] = [];
    const questions = new Map<number, string>();
    const engine = {
      tokenize: async (text: string) => {
        const id = questions.size + 1;
        questions.set(id, text);
        return [id];
      },
      rollout: async (req: RolloutRequest): Promise<RolloutResult> => {
        requests.push(req);
        const prompt = questions.get((req.prompts[0] as { ids: number[] }).ids[0]) ?? '';
        const oracle = /(\d+) \* (\d+)/.exec(prompt);
        const right = oracle ? String(Number(oracle[1]) * Number(oracle[2])) : '?';
        const trajectories = Array.from({ length: req.G }, (_, g) => ({
          promptIndex: 0,
          completion: `\nx\n</think>\n<answer>\n${g === 0 ? right : 'no'}\n</answer>`,
          tokens: [1, 2, 3],
          stopReason: 'eos',
        }));
        return { trajectories, tokensPerSecond: 0 } as unknown as RolloutResult;
      },
    } as unknown as EvalEngine;
    return { engine, requests };
  }

  it('one rollout of `samples` rows per question, seeded per question; rows per task', async () => {
    const { engine, requests } = scriptedEngine();
    const s = { ...DEFAULT_SETTINGS.eval, tasks: ['products'], level: 'trivial', n: 3, samples: 4, seed: 8 };
    const seen: [number, number][] = [];
    const out = await evaluate(engine, s, {
      texts: undefined as never,
      eos: [],
      onProgress: (_, done, total) => seen.push([done, total]),
    });
    expect(requests.map((r) => [r.G, r.seed, r.purpose])).toEqual(
      [0, 1, 2].map((i) => [4, sampleSeed(8, i, 0), 'eval']),
    );
    expect(seen).toEqual([
      [4, 12],
      [8, 12],
      [12, 12],
    ]);
    expect(out.interrupted).toBe(false);
    const rewards = datasetItems('products', 'trivial', 8, 3).flatMap(({ entry }) =>
      [entry.answer, 'no', 'no', 'no'].map(
        (a) => scoreCompletion(`\nx\n</think>\n<answer>\n${a}\n</answer>`, 'products', entry).reward,
      ),
    );
    expect(out.results).toEqual([
      {
        task: 'products',
        level: 'trivial',
        questions: 3,
        samples: 4,
        accuracy: 0.25,
        meanScore: 0.25,
        formatRate: 1,
        meanReward: rewards.reduce((a, b) => a + b, 0) / 12,
        tokens: 36,
        correct: [1, 1, 1],
      },
    ]);
  });
});
