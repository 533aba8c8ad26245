// The named recipes of `npm run train:builtin`: the default one unchanged, `--recipe small` (motg-small,
// issue 14) larger, harder, with its held-out pools out of the SFT data; and motg-small's model card.
import { describe, expect, it } from 'vitest';
import { parseArgs, readRecipe } from '../../scripts/builtin-recipe.ts';
import { modelCard, type TargetMeasurement, type TrainingRecord } from '../../src/builtin/card.ts';
import { buildExamples, easiestLevel, formatHeldOutCounts, heldOutCountFor } from '../../src/builtin/data.ts';
import { builtinConfig, builtinConfigJson, parameterCount } from '../../src/builtin/model.ts';
import { buildBuiltinTokenizer } from '../../src/builtin/tokenizer.ts';
import { heldOutPool, normaliseQuestion } from '../../src/rl/heldOut.ts';

const recipe = (...argv: string[]) => readRecipe(parseArgs(argv));
const tok = buildBuiltinTokenizer({ numMerges: 256 });

describe('train:builtin recipes', () => {
  it('without --recipe, resolves to the committed model recipe', () => {
    const r = recipe();
    expect(r.name).toBe('builtin');
    expect(r.outDir.endsWith('public/models/motg-builtin')).toBe(true);
    expect(r.id).toBe('motg-builtin');
    expect([r.steps, r.batchSize, r.lr, r.minLr, r.warmupSteps]).toEqual([2200, 16, 5e-3, 5e-4, 50]);
    expect([r.selectFrom, r.selectEvery, r.selectN, r.selectTarget]).toEqual([1000, 100, 60, 0.45]);
    expect(r.arch).toEqual({
      hiddenSize: 64,
      intermediateSize: 176,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      maxPositionEmbeddings: 512,
    });
    expect(r.taskSpecs).toEqual([
      { task: 'chain_sum', level: easiestLevel('chain_sum'), weight: 0.4 },
      { task: 'basic_arithmetic', level: easiestLevel('basic_arithmetic'), weight: 1.2 },
      { task: 'leg_counting', level: easiestLevel('leg_counting'), weight: 1.6 },
      { task: 'products', level: easiestLevel('products'), weight: 0.8 },
    ]);
    expect([r.heldOut, r.maxNewTokens, r.generationMaxNewTokens, r.gpu]).toEqual([
      { chain_sum: 100, basic_arithmetic: 100, leg_counting: 100, products: 40 },
      160,
      128,
      'off',
    ]);
    expect(recipe('--recipe', 'builtin')).toEqual(r);
    expect(recipe('--gpu').gpu).toBe('on');
  });

  it('--recipe small: a larger model under 20 MB, harder levels, longer completions, held-out pools on', () => {
    const r = recipe('--recipe', 'small');
    const base = recipe();
    expect(r.id).toBe('motg-small');
    expect(r.outDir.endsWith('public/models/motg-small')).toBe(true);
    const params = parameterCount(builtinConfig(r.arch, tok));
    expect(params).toBeGreaterThan(10 * parameterCount(builtinConfig(base.arch, tok)));
    expect(params * 4).toBeLessThan(20e6);
    expect(builtinConfigJson(r.arch, tok).vocab_size).toBe(tok.vocabSize);
    for (const spec of r.taskSpecs) expect(spec.level).not.toBe(easiestLevel(spec.task));
    expect(r.taskSpecs.map((t) => t.task)).toEqual(base.taskSpecs.map((t) => t.task));
    for (const { task } of r.taskSpecs) expect(heldOutCountFor(r.heldOut, task)).toBeGreaterThanOrEqual(100);
    expect(r.maxNewTokens).toBeGreaterThan(base.maxNewTokens);
    expect(r.gpu).toBe('auto');
    expect(recipe('--recipe', 'small', '--cpu').gpu).toBe('off');
    expect(recipe('--recipe', 'small', '--held-out', '0', '--steps', '2').heldOut).toBe(0);
    expect(() => recipe('--recipe', 'tiny')).toThrow(/unknown recipe tiny/);
    expect(() => recipe('--tasks', 'chain_sum@impossible')).toThrow(/no level impossible/);
  });

  it('--held-out takes one count or a count per task; the default recipe leaves each pool out', () => {
    expect(recipe('--held-out', '7').heldOut).toBe(7);
    const perTask = recipe('--held-out', 'chain_sum:100,products:40').heldOut;
    expect(['chain_sum', 'products', 'leg_counting'].map((t) => heldOutCountFor(perTask, t))).toEqual([
      100, 40, 0,
    ]);
    expect(formatHeldOutCounts(perTask)).toBe('chain_sum:100,products:40');
    expect(() => recipe('--held-out', 'chain_sum:-1')).toThrow(/not a count/);
    expect(() => recipe('--held-out', 'nonsense_task:3')).toThrow();
    const r = recipe();
    const examples = buildExamples(
      r.taskSpecs.map(({ task, level }) => ({ task, level, count: 60 })),
      r.seed,
      { heldOut: r.heldOut },
    );
    for (const { task, level } of r.taskSpecs) {
      const pool = heldOutPool(task, level, heldOutCountFor(r.heldOut, task));
      expect(pool.entries.length).toBeGreaterThan(0);
      const texts = examples
        .filter((ex) => ex.task === task)
        .map((ex) => normaliseQuestion(ex.entry.question));
      expect(texts).toHaveLength(60);
      expect(texts.filter((t) => pool.texts.has(t))).toEqual([]);
    }
  });

  it("small's SFT data leaves out its held-out pools and reasons longer than the default's", () => {
    const r = recipe('--recipe', 'small');
    const parts = r.taskSpecs.map(({ task, level }) => ({ task, level, count: 40 }));
    const small = buildExamples(parts, r.seed, { heldOut: r.heldOut });
    for (const { task, level } of r.taskSpecs) {
      const pool = heldOutPool(task, level, heldOutCountFor(r.heldOut, task));
      const texts = small.filter((ex) => ex.task === task).map((ex) => normaliseQuestion(ex.entry.question));
      expect(texts).toHaveLength(40);
      expect(texts.filter((t) => pool.texts.has(t))).toEqual([]);
    }
    const base = buildExamples(
      recipe().taskSpecs.map(({ task, level }) => ({ task, level, count: 40 })),
      1,
    );
    const meanLines = (exs: typeof small) =>
      exs.reduce((a, ex) => a + ex.completion.split('\n').length, 0) / exs.length;
    expect(meanLines(small)).toBeGreaterThan(meanLines(base) + 1);
  });
});

describe('motg-small model card', () => {
  const r = recipe('--recipe', 'small');
  const record: TrainingRecord = {
    id: 'motg-small',
    recipe: 'small',
    heldOut: r.heldOut,
    maxNewTokens: r.maxNewTokens,
    seed: 1,
    command: 'npm run train:builtin -- --recipe small',
    config: builtinConfigJson(r.arch, tok),
    numParameters: 3_000_000,
    weightBytes: 12_000_000,
    vocabSize: tok.vocabSize,
    numMerges: 256,
    tasks: r.taskSpecs.map(({ task, level }) => ({ task, level, examples: 100 })),
    systemPrompt: 'Think.',
    sample: { prompt: 'P<think>', completion: '\nC' },
    batchSize: r.batchSize,
    steps: 10,
    lr: r.lr,
    minLr: r.minLr,
    warmupSteps: r.warmupSteps,
    weightDecay: 0.01,
    clipNorm: 1,
    threads: 1,
    elapsedMs: 1000,
    tokensPerSecond: 100,
    losses: [3, 2, 1],
    checkpoints: [],
    results: [],
    evalSeed: 12345,
    createdWith: 'test',
  };

  it('states both targets as to be measured when nothing was measured', () => {
    const card = modelCard(record);
    expect(card).toContain('second built-in model');
    expect(card).toContain('## Targets');
    expect(card).toContain('**to be measured after training**');
    expect(card).toContain('npm run measure:builtin -- --model public/models/motg-small');
    expect(card).not.toMatch(/Target [12]:/);
    expect(card).toContain('--level easy');
  });

  it('reports a measurement with each verdict', () => {
    const m: TargetMeasurement = {
      command: 'npm run measure:builtin -- --model x',
      measuredWith: 'test',
      n: 100,
      samples: 4,
      seed: 777,
      maxNewTokens: 256,
      tasks: [
        { task: 'chain_sum', level: 'easy', accuracy: 0.35, formatRate: 0.97, dirichletAccuracy: 0.4 },
        { task: 'products', level: 'easy', accuracy: 0.8, formatRate: 0.99, dirichletAccuracy: 0.81 },
      ],
      mixing: { thinkingSteps: 200, mixingSteps: 50, meanEffectiveTokens: 1.21 },
    };
    const card = modelCard(record, m);
    expect(card).not.toContain('to be measured');
    expect(card).toContain('| chain_sum | easy | 35% | 97% | 40% |');
    expect(card).toContain('- Target 1: **not met**.');
    expect(card).toContain('50 of 200 thinking steps mix (25%; mean 1/Σw² 1.21): met.');
  });

  it('leaves the default model card without a targets section', () => {
    const card = modelCard({ ...record, id: 'motg-builtin', recipe: undefined });
    expect(card).not.toContain('## Targets');
    expect(card).toContain("The MoT-G Playground's built-in model:");
  });
});
