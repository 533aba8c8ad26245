import { parseQwen2Config, type Qwen2Config } from '../../src/engine/config.ts';

/** A small Qwen2 config with awkward sizes (nothing a multiple of 4/16/64 where it can be avoided). */
export function tinyConfig(overrides: Record<string, unknown> = {}): Qwen2Config {
  return parseQwen2Config({
    model_type: 'qwen2',
    vocab_size: 101,
    hidden_size: 36,
    intermediate_size: 50,
    num_hidden_layers: 2,
    num_attention_heads: 6,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: false,
    max_position_embeddings: 64,
    ...overrides,
  });
}

/** The built-in model's shape (public/models/motg-builtin: hidden 64, MLP 176, 2 layers, 4 heads, GQA 2)
 * with vocabulary V: for tests of what grows with the vocabulary. */
export function builtinLikeConfig(V: number): Qwen2Config {
  return parseQwen2Config({
    model_type: 'qwen2',
    vocab_size: V,
    hidden_size: 64,
    intermediate_size: 176,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    max_position_embeddings: 64,
  });
}
