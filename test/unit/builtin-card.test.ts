// The model card and its loss figure, and the built-in config files.
import { describe, expect, it } from 'vitest';
import { lossCurveSvg, modelCard, smoothLosses, type TrainingRecord } from '../../src/builtin/card.ts';
import {
  builtinConfig,
  builtinConfigJson,
  builtinGenerationConfig,
  parameterCount,
} from '../../src/builtin/model.ts';
import { expectedParameters } from '../../src/engine/config.ts';
import { buildByteTokenizer } from '../../src/engine/model/byteTokenizer.ts';

const tok = buildByteTokenizer();
const arch = {
  hiddenSize: 64,
  intermediateSize: 176,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  maxPositionEmbeddings: 512,
};

describe('built-in config', () => {
  it('is a valid Qwen2 config with our special tokens, and counts its parameters', () => {
    const cfg = builtinConfig(arch, tok);
    expect(cfg.vocabSize).toBe(tok.vocabSize);
    expect(cfg.tieWordEmbeddings).toBe(true);
    expect(cfg.eosTokenIds).toEqual([tok.ids['<|im_end|>']]);
    let n = 0;
    for (const shape of expectedParameters(cfg).values()) n += shape.reduce((a, b) => a * b, 1);
    expect(parameterCount(cfg)).toBe(n);
    expect(builtinConfigJson(arch, tok).model_type).toBe('qwen2');
    expect(builtinGenerationConfig(tok).eos_token_id).toEqual([
      tok.ids['<|im_end|>'],
      tok.ids['<|endoftext|>'],
    ]);
  });
});

describe('model card', () => {
  const losses = Array.from({ length: 100 }, (_, i) => 5 / (1 + i / 10));
  it('smooths the loss curve by windows', () => {
    const s = smoothLosses([4, 2, 1, 1, 3], 2);
    expect(s).toEqual([
      [2, 3],
      [4, 1],
      [5, 3],
    ]);
  });

  it('draws the loss as an SVG path', () => {
    const svg = lossCurveSvg(losses);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toMatch(/<path d="M[\d.]+,[\d.]+( L[\d.]+,[\d.]+){10,}"/);
  });

  it('writes the recipe, the size and the per-task accuracies', () => {
    const summary = (task: string, accuracy: number) => ({
      task,
      level: 'trivial',
      n: 100,
      temperature: 1,
      accuracy,
      mean_score: accuracy,
      format_rate: 0.99,
      tokens_per_s: 300,
    });
    const record: TrainingRecord = {
      id: 'motg-builtin',
      seed: 7,
      command: 'npm run train:builtin -- --seed 7',
      config: builtinConfigJson(arch, tok),
      numParameters: 125952,
      weightBytes: 503808,
      vocabSize: 519,
      numMerges: 256,
      tasks: [{ task: 'chain_sum', level: 'trivial', examples: 1000 }],
      systemPrompt: 'Think.',
      sample: { prompt: 'P<think>', completion: '\nC' },
      batchSize: 16,
      steps: 100,
      lr: 0.003,
      minLr: 0.0003,
      warmupSteps: 50,
      weightDecay: 0.01,
      clipNorm: 1,
      threads: 2,
      elapsedMs: 60000,
      tokensPerSecond: 1000,
      losses,
      checkpoints: [{ step: 50, minutes: 0.5, results: [summary('chain_sum', 0.1)] }],
      results: [summary('chain_sum', 0.42)],
      greedy: [summary('chain_sum', 0.6)],
      evalSeed: 12345,
      createdWith: 'test',
    };
    const card = modelCard(record);
    expect(card).toContain('# motg-builtin');
    expect(card).toContain('| chain_sum | trivial | 100 | 42% | 0.420 | 99% | 60% |');
    expect(card).toContain('seed 7');
    expect(card).toContain('npm run train:builtin -- --seed 7');
    expect(card).toContain('| hidden_size | 64 |');
    expect(card).toContain('| 50 | 0.5 | chain_sum 10% |');
    expect(card).toContain('![training loss](loss.svg)');
  });
});
