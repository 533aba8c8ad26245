// Worked traces and SFT examples: every answer scores 1.0, every completion has the reward's format,
// and the traces are the computations they claim to be.
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_TASKS,
  buildExamples,
  completionText,
  defaultMixture,
  promptText,
  SYSTEM_PROMPT,
  tokenizeExample,
} from '../../src/builtin/data.ts';
import { buildBuiltinTokenizer } from '../../src/builtin/tokenizer.ts';
import {
  basicArithmeticTrace,
  chainSumTrace,
  legCountingTrace,
  productsTrace,
  TRACED_TASKS,
  traceFor,
} from '../../src/builtin/traces.ts';
import { Tokenizer } from '../../src/engine/model/tokenizer.ts';
import { rolloutPromptText, templateAsksForAnswer } from '../../src/rl/prompt.ts';
import { generateDataset } from '../../src/tasks/dataset.ts';
import { getTask } from '../../src/tasks/registry.ts';
import { computeReward } from '../../src/tasks/reward.ts';
import type { TaskEntry } from '../../src/tasks/types.ts';

const entry = (metadata: Record<string, unknown>, answer = ''): TaskEntry => ({
  question: '',
  answer,
  metadata,
});

describe('worked traces', () => {
  it('chain_sum: running sums, one term at a time', () => {
    expect(chainSumTrace(entry({ expression: '13 - 88 + 59' }))).toBe('13 - 88 = -75\n-75 + 59 = -16');
    expect(chainSumTrace(entry({ expression: '4 + -3' }))).toBe('4 + -3 = 1');
  });

  it('basic_arithmetic: one operation per line in Python precedence, `/` floored', () => {
    expect(basicArithmeticTrace(entry({ expression: '3 + 4 * 5' }))).toBe('4 * 5 = 20\n3 + 20 = 23');
    expect(basicArithmeticTrace(entry({ expression: '-4 - -5' }))).toBe('-4 - -5 = 1');
    expect(basicArithmeticTrace(entry({ expression: '-( 3 + 4 ) * 2' }))).toBe(
      '3 + 4 = 7\n-(7) = -7\n-7 * 2 = -14',
    );
    expect(basicArithmeticTrace(entry({ expression: '-7 / 2' }))).toBe('-7 / 2 = -4');
    expect(basicArithmeticTrace(entry({ expression: '8-2-1' }))).toBe('8 - 2 = 6\n6 - 1 = 5');
  });

  it('products: one line for a one-digit factor, place values otherwise', () => {
    expect(productsTrace(entry({ expression: '7 * 8' }))).toBe('7 * 8 = 56');
    expect(productsTrace(entry({ expression: '23 * 45' }))).toBe(
      '23 * 45 = 23 * 40 + 23 * 5\n23 * 40 = 920\n23 * 5 = 115\n920 + 115 = 1035',
    );
  });

  it('leg_counting: legs per animal, then the running total', () => {
    expect(legCountingTrace(entry({ animals: { duck: 1, bee: 3 } }))).toBe(
      '1 duck: 1 * 2 = 2\n3 bees: 3 * 6 = 18\n2 + 18 = 20',
    );
  });

  it('ends every trace at the oracle answer on all curriculum levels of the arithmetic tasks', () => {
    for (const task of ['chain_sum', 'basic_arithmetic', 'products', 'leg_counting']) {
      for (const level of getTask(task).levels) {
        for (const item of generateDataset(task, level.name, 11, 60)) {
          const last = traceFor(task, item.entry).split('\n').pop() as string;
          expect(last.endsWith(`= ${item.entry.answer}`), `${task}/${level.name}: ${last}`).toBe(true);
        }
      }
    }
  });
});

describe('SFT examples', () => {
  it('every traced task: the answer scores 1.0 and the completion gets every format term', () => {
    for (const task of TRACED_TASKS) {
      const def = getTask(task);
      for (const ex of buildExamples([{ task, count: 150 }], 5)) {
        expect(def.score(ex.answer, ex.entry).score, `${task}: ${ex.answer}`).toBe(1);
        const r = computeReward(ex.completion, def, ex.entry, 'paper');
        expect(r.score).toBe(1);
        expect(r.format).toBe(0.5);
        expect(r.thinkClose).toBe(0.5);
        expect(r.answerOpen).toBe(0.125);
        expect(r.answerClose).toBe(0.125);
        expect(r.trailing).toBe(0);
        expect(ex.prompt).toBe(promptText(ex.entry.question));
        expect(ex.prompt.endsWith('<|im_start|>assistant\n<think>')).toBe(true);
        expect(ex.prompt).toContain(SYSTEM_PROMPT);
      }
    }
  });

  it('uses the easiest level by default and is deterministic per seed', () => {
    const a = buildExamples(defaultMixture(20), 9);
    const b = buildExamples(defaultMixture(20), 9);
    const c = buildExamples(defaultMixture(20), 10);
    expect(a.map((e) => e.prompt + e.completion)).toEqual(b.map((e) => e.prompt + e.completion));
    expect(a.map((e) => e.prompt)).not.toEqual(c.map((e) => e.prompt));
    expect(new Set(a.map((e) => e.task))).toEqual(new Set(BUILTIN_TASKS));
    expect(a.every((e) => e.level === getTask(e.task).levels[0].name)).toBe(true);
  });

  it('completion format and the loss span of a tokenized example', () => {
    expect(completionText('1 + 2 = 3', '3')).toBe('\n1 + 2 = 3\n</think>\n<answer>\n3\n</answer>');
    const built = buildBuiltinTokenizer();
    const tok = Tokenizer.fromJson(built.tokenizerJson, built.tokenizerConfig);
    const [ex] = buildExamples([{ task: 'chain_sum', count: 1 }], 1);
    const withPrefill = tokenizeExample(tok, ex);
    const without = tokenizeExample(tok, ex, { learnPrefill: false });
    expect(withPrefill.ids[withPrefill.lossStart]).toBe(built.ids['<think>']);
    expect(without.lossStart).toBe(withPrefill.lossStart + 1);
    expect(withPrefill.ids[withPrefill.ids.length - 1]).toBe(built.ids['<|im_end|>']);
    expect(tok.decode(withPrefill.ids.slice(without.lossStart))).toBe(`${ex.completion}<|im_end|>`);
  });
});

describe('rollout prompts of the built-in model', () => {
  it('GRPO and decode prompts are the prompts the model was trained on (its own system prompt)', () => {
    const built = buildBuiltinTokenizer({ numMerges: 64 });
    const tok = Tokenizer.fromJson(built.tokenizerJson, built.tokenizerConfig);
    expect(templateAsksForAnswer(tok)).toBe(true);
    const q = 'State the final answer to the following arithmetic problem: 6 + 4 =';
    expect(rolloutPromptText(q, tok)).toBe(promptText(q));
    expect(rolloutPromptText(q, tok)).toContain(SYSTEM_PROMPT);
    // An explicit system prompt still wins.
    expect(rolloutPromptText(q, tok, { systemPrompt: 'Be brief.' })).toContain('system\nBe brief.<|im_end|>');
  });
});
