// The committed built-in model is an ordinary Hugging Face folder: it loads through the same code as any
// Hub model (config, safetensors, tokenizer), transformers.js's own AutoTokenizer reads its tokenizer
// files to the same ids and chat template as ours, and the engine generates in the trained format.
import { resolve } from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { buildExamples, chatMessages } from '../../src/builtin/data.ts';
import { BUILTIN_MODEL_ID } from '../../src/client/builtinModel.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { Tokenizer } from '../../src/engine/model/tokenizer.ts';
import { loadModel } from '../../src/engine/model/weights.ts';
import { Engine } from '../../src/worker/engine.ts';

const MODELS = resolve(import.meta.dirname, '../../public/models');
const DIR = resolve(MODELS, BUILTIN_MODEL_ID);

describe(`built-in model ${BUILTIN_MODEL_ID}`, () => {
  it('loads like any HF folder: Qwen2 config, f32 safetensors under 20 MB, every parameter present', async () => {
    const m = await loadModel(new DirModelSource(DIR));
    expect(m.rawConfig.model_type).toBe('qwen2');
    expect(m.files).toContain('model.safetensors');
    const bytes = [...m.weights.values()].reduce((a, t) => a + t.data.length * 4, 0);
    expect(bytes).toBeLessThan(20e6);
  });

  it('transformers.js AutoTokenizer and our tokenizer agree on ids and on the chat template', async () => {
    env.allowRemoteModels = false;
    env.localModelPath = `${MODELS}/`;
    const hf = await AutoTokenizer.from_pretrained(BUILTIN_MODEL_ID);
    const ours = await Tokenizer.fromSource(new DirModelSource(DIR));
    const examples = buildExamples(
      ['chain_sum', 'basic_arithmetic', 'leg_counting', 'products'].map((task) => ({ task, count: 10 })),
      99,
    );
    for (const ex of examples) {
      const text = ex.prompt + ex.completion;
      expect(hf.encode(text, { add_special_tokens: false })).toEqual(
        ours.encode(text, { addSpecialTokens: false }),
      );
      const messages = chatMessages(ex.entry.question);
      const theirs = hf.apply_chat_template(messages, {
        tokenize: false,
        add_generation_prompt: true,
      }) as string;
      expect(theirs).toBe(ours.applyChatTemplate(messages, { addGenerationPrompt: true }));
    }
    // `</think>` is one token in both.
    expect(hf.encode('</think>', { add_special_tokens: false })).toHaveLength(1);
    expect(ours.encode('</think>', { addSpecialTokens: false })).toHaveLength(1);
  });

  it('the engine (CPU path) answers a training-format prompt in the trained format', async () => {
    const engine = new Engine({
      gpu: null,
      resolveSource: (l) => new DirModelSource(l.kind === 'url' ? l.baseUrl : ''),
    });
    await engine.init({ backend: 'cpu' });
    await engine.loadModel({ kind: 'url', baseUrl: DIR });
    const [ex] = buildExamples([{ task: 'chain_sum', count: 1 }], 4242);
    const out = await engine.generate(await engine.tokenize(ex.prompt), { maxNewTokens: 120, greedy: true });
    expect(out.stopReason).toBe('eos');
    expect(out.text).toMatch(/<\/think>\s*<answer>[\s\S]*?<\/answer>/);
    await engine.dispose();
  });
});
