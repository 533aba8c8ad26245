// Writes a small randomly initialised Qwen2 model with our byte-level tokenizer, in the Hugging Face
// folder layout, to public/models/<id>/ — the model the first page and the e2e test run before the
// trained built-in model exists. Deterministic for its seed.
// Usage: npx tsx scripts/make-random-model.ts [outDir] [seed]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseQwen2Config } from '../src/engine/config.ts';
import { buildByteTokenizer } from '../src/engine/model/byteTokenizer.ts';
import { initQwen2Weights } from '../src/engine/model/init.ts';
import { writeSafetensors } from '../src/engine/model/safetensors.ts';

const outDir = resolve(process.argv[2] ?? 'public/models/motg-tiny-random');
const seed = Number(process.argv[3] ?? 1234);
const tok = buildByteTokenizer();
const rawConfig = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  vocab_size: tok.vocabSize,
  hidden_size: 64,
  intermediate_size: 176,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  hidden_act: 'silu',
  max_position_embeddings: 512,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: null,
  eos_token_id: tok.ids['<|im_end|>'],
  pad_token_id: tok.ids['<|endoftext|>'],
  torch_dtype: 'float32',
};
const config = parseQwen2Config(rawConfig);
// A larger init than HF's 0.02 so the random model's next-token distributions are not flat.
const weights = initQwen2Weights(config, seed, 0.3, 0.1);
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'config.json'), `${JSON.stringify(rawConfig, null, 2)}\n`);
writeFileSync(
  join(outDir, 'generation_config.json'),
  `${JSON.stringify({ eos_token_id: [tok.ids['<|im_end|>'], tok.ids['<|endoftext|>']], pad_token_id: tok.ids['<|endoftext|>'] }, null, 2)}\n`,
);
writeFileSync(join(outDir, 'tokenizer.json'), `${JSON.stringify(tok.tokenizerJson)}\n`);
writeFileSync(join(outDir, 'tokenizer_config.json'), `${JSON.stringify(tok.tokenizerConfig, null, 2)}\n`);
writeFileSync(join(outDir, 'model.safetensors'), writeSafetensors(weights, { format: 'pt' }));
writeFileSync(
  join(outDir, 'README.md'),
  `# motg-tiny-random\n\nA randomly initialised Qwen2-architecture model (seed ${seed}, ${[...weights.values()].reduce((a, t) => a + t.data.length, 0)} parameters) with the project's byte-level tokenizer. It produces noise: it exists so the engine, the page and the tests have a real model folder in the Hugging Face layout. Made by \`npx tsx scripts/make-random-model.ts\`.\n`,
);
console.log(`wrote ${outDir}`);
