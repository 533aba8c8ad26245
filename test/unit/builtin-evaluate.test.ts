// Evaluation plumbing (builtin/evaluate.ts over rl/evaluate.ts): prompts in the training format, accuracy /
// score / format from the completions, and the backend decode loop on a real (random) model.
import { describe, expect, it } from 'vitest';
import { exampleFor, promptText } from '../../src/builtin/data.ts';
import { backendGenerator, evaluateTask, type GenerateFn } from '../../src/builtin/evaluate.ts';
import { builtinConfig } from '../../src/builtin/model.ts';
import { buildBuiltinTokenizer } from '../../src/builtin/tokenizer.ts';
import { CpuBackend } from '../../src/engine/cpuBackend.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { Tokenizer } from '../../src/engine/model/tokenizer.ts';
import { generateDataset } from '../../src/tasks/dataset.ts';

const built = buildBuiltinTokenizer();
const tok = Tokenizer.fromJson(built.tokenizerJson, built.tokenizerConfig);
const END = built.ids['<|im_end|>'];

describe('evaluateTask', () => {
  it('scores oracle completions as 100% and broken ones as 0%, from prompts in the training format', async () => {
    const items = generateDataset('chain_sum', 'trivial', 77, 6);
    const byPrompt = new Map(
      items.map((it) => [
        promptText(it.entry.question),
        exampleFor('chain_sum', 'trivial', 0, it.entry).completion,
      ]),
    );
    const seenSeeds = new Set<number>();
    // Oracle for even items, a wrong answer without the answer block for odd ones.
    const gen: GenerateFn = async (ids, o) => {
      seenSeeds.add(o.seed);
      const prompt = tok.decode(ids);
      const completion = byPrompt.get(prompt);
      if (completion === undefined) throw new Error(`unexpected prompt ${prompt}`);
      const i = [...byPrompt.keys()].indexOf(prompt);
      const text = i % 2 === 0 ? completion : '\n1 + 1 = 2\n</think>\nno answer';
      return { ids: [...tok.encode(text, { addSpecialTokens: false }), END] };
    };
    const soFar: number[] = [];
    const { summary, samples } = await evaluateTask(gen, tok, {
      task: 'chain_sum',
      n: 6,
      seed: 77,
      temperature: 1,
      onItem: (done, _, accuracy) => soFar.push(done, accuracy),
    });
    expect(summary).toMatchObject({
      task: 'chain_sum',
      level: 'trivial',
      n: 6,
      accuracy: 0.5,
      format_rate: 0.5,
    });
    expect(summary.mean_score).toBeCloseTo(0.5, 9);
    expect(seenSeeds.size).toBe(6);
    expect(samples[0].completion.endsWith('</answer>')).toBe(true); // the stop token is not part of it
    expect(samples[1].answer).toBeNull();
    // The running accuracy comes from the one evaluator (rl/evaluate.ts), as npm run evaluate prints it.
    expect(soFar).toEqual([1, 1, 2, 1 / 2, 3, 2 / 3, 4, 2 / 4, 5, 3 / 5, 6, 3 / 6]);
  });

  it('runs a model through backendGenerator: deterministic per seed, stops at the token limit', async () => {
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
    const gen = backendGenerator(backend, tok.eosTokenIds, config.maxPositionEmbeddings);
    const opts = { task: 'products', n: 2, seed: 3, temperature: 1, maxNewTokens: 5 };
    const a = await evaluateTask(gen, tok, opts);
    const b = await evaluateTask(gen, tok, opts);
    expect(a.samples.map((s) => s.completion)).toEqual(b.samples.map((s) => s.completion));
    for (const s of a.samples) expect(s.tokens).toBeLessThanOrEqual(5);
    expect(a.summary.accuracy).toBe(0);
  });
});
