// Issue 15 probe: a tokenizer whose ids reach past the model's vocabulary is refused when the folder loads
// (a typed error naming the file), instead of loading and failing mid-generation with a RangeError.
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/errors.ts';
import { buildByteTokenizer } from '../../src/engine/model/byteTokenizer.ts';
import { MemoryModelSource, type ModelSource } from '../../src/engine/model/source.ts';
import { checkTokenizerFitsModel, Tokenizer } from '../../src/engine/model/tokenizer.ts';
import { readModelFolder } from '../../src/worker/modelFolder.ts';
import { requireFixtures } from '../helpers/fixtures.ts';
import { readFixture } from '../helpers/malformed.ts';

requireFixtures();
const M = 'qwen2-tiny-a'; // vocab_size 512
const MODEL_VOCAB = 512;

function folderWith(tokenizer: ReturnType<typeof buildByteTokenizer>): ModelSource {
  return new MemoryModelSource({
    'config.json': readFixture(M, 'config.json'),
    'model.safetensors': readFixture(M, 'model.safetensors'),
    'tokenizer.json': JSON.stringify(tokenizer.tokenizerJson),
    'tokenizer_config.json': JSON.stringify(tokenizer.tokenizerConfig),
  });
}

const noResolve = (): ModelSource => {
  throw new Error('no other locations in this test');
};

/** A byte tokenizer with `extra` more special tokens than the default 263 ids. */
const tokenizerFiles = (extra: number) =>
  buildByteTokenizer({
    specialTokens: [
      '<|endoftext|>',
      '<|im_start|>',
      '<|im_end|>',
      ...Array.from({ length: extra }, (_, i) => `<x${i}>`),
    ],
  });

describe('tokenizer ids against the model vocabulary', () => {
  it('a tokenizer with ids up to 555 on a 512-token model is refused at load, naming tokenizer.json', async () => {
    const files = tokenizerFiles(297);
    expect(files.vocabSize).toBe(556);
    const e = await readModelFolder(folderWith(files), {}, noResolve, null).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).code).toBe('tokenizer-invalid');
    expect((e as EngineError).file).toBe('tokenizer.json');
    expect((e as EngineError).message).toBe(
      "tokenizer.json: token ids go up to 555, beyond the model's vocabulary (config.json vocab_size 512)",
    );
  });

  it('a tokenizer that fits loads, and its largest id is a valid embedding row', async () => {
    const files = tokenizerFiles(0);
    const folder = await readModelFolder(folderWith(files), {}, noResolve, null);
    expect(folder.tokenizer?.vocabSize).toBe(259);
    expect(folder.tokenizer!.vocabSize).toBeLessThanOrEqual(folder.config.vocabSize);
  });

  it('an eos / pad id from generation_config.json beyond the vocabulary is refused, naming that file', () => {
    const files = tokenizerFiles(0);
    for (const gen of [{ eos_token_id: [258, 600] }, { pad_token_id: 512 }]) {
      const tok = Tokenizer.fromJson(
        files.tokenizerJson,
        { ...files.tokenizerConfig, pad_token: null },
        {
          generationConfig: gen,
        },
      );
      expect(() => checkTokenizerFitsModel(tok, MODEL_VOCAB)).toThrow(EngineError);
      try {
        checkTokenizerFitsModel(tok, MODEL_VOCAB);
      } catch (e) {
        expect((e as EngineError).code).toBe('tokenizer-invalid');
        expect((e as EngineError).file).toBe('generation_config.json');
        expect((e as EngineError).message).toContain('outside the model');
      }
    }
  });
});
