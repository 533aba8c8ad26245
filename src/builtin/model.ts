// The built-in model's architecture (a small Qwen2) and the JSON files of its folder. Pure: the files
// are written by scripts/train-builtin.ts.
import { parseQwen2Config, type Qwen2Config } from '../engine/config.ts';

export interface BuiltinArch {
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  maxPositionEmbeddings: number;
}

/**
 * The recipe's default size, chosen by measurement on the 2-core CPU trainer: at equal steps a
 * 355k-parameter model (hidden 96, 3 layers, MLP 256) learned no faster than this 126k one while each
 * step cost about 3× as much, so within a 90-minute budget the small one sees ~3× more examples.
 */
export const DEFAULT_ARCH: BuiltinArch = {
  hiddenSize: 64,
  intermediateSize: 176,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  maxPositionEmbeddings: 512,
};

/**
 * motg-small (`--recipe small`, issue 14): a model large enough to stay uncertain between a few tokens on
 * harder levels, so mixtures of tokens mix. 3.3 M parameters, 13 MB in f32 (the bound is 20 MB); head
 * dimension 64 as in Qwen2.5-0.5B.
 */
export const SMALL_ARCH: BuiltinArch = {
  hiddenSize: 256,
  intermediateSize: 768,
  numHiddenLayers: 4,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  maxPositionEmbeddings: 512,
};

export interface TokenIds {
  vocabSize: number;
  ids: Record<string, number>;
}

/** config.json of the built-in model (Qwen2ForCausalLM, tied embeddings, f32). */
export function builtinConfigJson(arch: BuiltinArch, tok: TokenIds): Record<string, unknown> {
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    vocab_size: tok.vocabSize,
    hidden_size: arch.hiddenSize,
    intermediate_size: arch.intermediateSize,
    num_hidden_layers: arch.numHiddenLayers,
    num_attention_heads: arch.numAttentionHeads,
    num_key_value_heads: arch.numKeyValueHeads,
    hidden_act: 'silu',
    max_position_embeddings: arch.maxPositionEmbeddings,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    use_sliding_window: false,
    bos_token_id: null,
    eos_token_id: tok.ids['<|im_end|>'],
    pad_token_id: tok.ids['<|endoftext|>'],
    torch_dtype: 'float32',
  };
}

export function builtinConfig(arch: BuiltinArch, tok: TokenIds): Qwen2Config {
  return parseQwen2Config(builtinConfigJson(arch, tok));
}

/** generation_config.json: stop at `<|im_end|>` or `<|endoftext|>`; sample at T = 1 by default. */
export function builtinGenerationConfig(tok: TokenIds, maxNewTokens = 128): Record<string, unknown> {
  return {
    eos_token_id: [tok.ids['<|im_end|>'], tok.ids['<|endoftext|>']],
    pad_token_id: tok.ids['<|endoftext|>'],
    do_sample: true,
    temperature: 1.0,
    max_new_tokens: maxNewTokens,
  };
}

/** Number of parameters of a config (tied head counted once). */
export function parameterCount(cfg: Qwen2Config): number {
  const { vocabSize: V, hiddenSize: C, intermediateSize: I, numAttentionHeads: H, numKeyValueHeads: K } = cfg;
  const D = cfg.headDim;
  const layer =
    C + C * H * D + 2 * C * K * D + (cfg.attentionBias ? H * D + 2 * K * D : 0) + H * D * C + C + 3 * C * I;
  return V * C + cfg.numHiddenLayers * layer + C + (cfg.tieWordEmbeddings ? 0 : V * C);
}
