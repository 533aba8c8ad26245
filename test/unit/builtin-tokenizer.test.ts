// The built-in model's tokenizer: merges learned from the tasks' text, loaded like any HF tokenizer.
import { describe, expect, it } from 'vitest';
import {
  buildExamples,
  chatMessages,
  defaultMixture,
  promptText,
  SYSTEM_PROMPT,
  tokenizeExample,
} from '../../src/builtin/data.ts';
import { buildBuiltinTokenizer, learnMerges, preTokenize } from '../../src/builtin/tokenizer.ts';
import { TRACED_TASKS } from '../../src/builtin/traces.ts';
import { buildByteTokenizer } from '../../src/engine/model/byteTokenizer.ts';
import { Tokenizer } from '../../src/engine/model/tokenizer.ts';

const built = buildBuiltinTokenizer();
const tok = Tokenizer.fromJson(built.tokenizerJson, built.tokenizerConfig);

describe('learnMerges', () => {
  it('merges the most frequent pair first, ties by order, and never merges digits', () => {
    const merges = learnMerges(['abab abab ab 1212 1212 1212', 'cd'], 10);
    // a+b occurs 5 times; then ab+ab and Ġ+ab tie at 2 and the smaller pair wins; then nothing repeats.
    expect(merges).toEqual([
      ['a', 'b'],
      ['ab', 'ab'],
    ]);
    // "1212" three times, but digits are pre-tokenized one by one: never a digit merge.
    for (const [a, b] of merges) expect(/\d/.test(a) || /\d/.test(b)).toBe(false);
    expect(learnMerges(['abab abab ab 1212 1212 1212', 'cd'], 10)).toEqual(merges);
    expect(learnMerges(['abab abab ab', 'cd'], 1)).toEqual([['a', 'b']]);
    // Stops when no pair repeats.
    expect(learnMerges(['xy'], 10, { minCount: 2 })).toEqual([]);
  });

  it('pre-tokenizes like the tokenizer: special tokens apart, one digit per piece', () => {
    expect(preTokenize('<think>\n12 + 3 = 15\n</think>')).toEqual([
      'Ċ',
      '1',
      '2',
      'Ġ+',
      'Ġ',
      '3',
      'Ġ=',
      'Ġ',
      '1',
      '5',
      'Ċ',
    ]);
  });
});

describe('built-in tokenizer', () => {
  it('loads with Tokenizer.fromJson and has a small vocabulary', () => {
    expect(built.merges.length).toBe(256);
    expect(built.vocabSize).toBe(256 + 256 + 7);
    expect(tok.vocabSize).toBe(built.vocabSize);
    expect(tok.eosTokenIds).toContain(built.ids['<|im_end|>']);
    expect(tok.padTokenId).toBe(built.ids['<|endoftext|>']);
  });

  it('keeps the default byte tokenizer unchanged when no merges are given', () => {
    const plain = buildByteTokenizer();
    expect(plain.vocabSize).toBe(263);
    expect((plain.tokenizerJson.model as { merges: unknown[] }).merges).toEqual([]);
  });

  it('encodes each chat and reasoning marker as one token', () => {
    for (const t of [
      '<|im_start|>',
      '<|im_end|>',
      '<|endoftext|>',
      '<think>',
      '</think>',
      '<answer>',
      '</answer>',
    ]) {
      expect(tok.encode(t, { addSpecialTokens: false })).toEqual([built.ids[t]]);
    }
    const ids = tok.encode('x\n</think>\n<answer>', { addSpecialTokens: false });
    expect(ids.filter((i) => i === built.ids['</think>'])).toHaveLength(1);
  });

  it('learned the words of the tasks as single tokens', () => {
    for (const w of [' legs', ' answer', ' multiplication']) {
      expect(tok.encode(w, { addSpecialTokens: false }).length).toBeLessThanOrEqual(2);
    }
    expect(tok.encode(' legs', { addSpecialTokens: false })).toHaveLength(1);
  });

  it('round-trips every generated training text exactly, and the split encoding equals the whole', () => {
    const examples = buildExamples(defaultMixture(40, TRACED_TASKS), 3);
    let tokens = 0;
    let chars = 0;
    for (const ex of examples) {
      const text = `${ex.prompt}${ex.completion}<|im_end|>`;
      const ids = tok.encode(text, { addSpecialTokens: false });
      expect(tok.decode(ids)).toBe(text);
      expect(tokenizeExample(tok, ex).ids).toEqual(ids);
      tokens += ids.length;
      chars += text.length;
    }
    // The merges pay: well under half a token per character.
    expect(tokens / chars).toBeLessThan(0.45);
  });

  it('renders the Qwen-style chat template, inserting our system prompt when there is none', () => {
    const q = 'What is 2 + 3?';
    expect(tok.applyChatTemplate(chatMessages(q), { addGenerationPrompt: true }) + '<think>').toBe(
      promptText(q),
    );
    expect(tok.applyChatTemplate([{ role: 'user', content: q }], { addGenerationPrompt: true })).toBe(
      `<|im_start|>system\n${SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`,
    );
  });

  it('is deterministic', () => {
    const again = buildBuiltinTokenizer();
    expect(again.merges).toEqual(built.merges);
    expect(JSON.stringify(again.tokenizerJson)).toBe(JSON.stringify(built.tokenizerJson));
  });
});
