// Our own small tokenizer in the Hugging Face `tokenizer.json` format: Qwen's byte-level BPE scheme (same
// pre-tokenizer and decoder) over a tiny vocabulary — the 256 byte symbols, optional merges, and the chat
// and reasoning markers as added special tokens, so `</think>` is one token. Loads like any HF tokenizer.

import { EngineError } from '../errors.ts';

/** GPT-2's byte → printable-unicode map that byte-level BPE uses for its symbols. */
export function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const map: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    map[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return map;
}

/** Special tokens of our tokenizers, in id order after the byte vocabulary and the merges. */
export const DEFAULT_SPECIAL_TOKENS = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<think>',
  '</think>',
  '<answer>',
  '</answer>',
];

/** Qwen2.5-style chat template (system prompt optional), rendered by @huggingface/jinja. */
export const QWEN_STYLE_CHAT_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

export interface ByteTokenizerSpec {
  /** Merges as pairs of byte-level symbols (strings in the byteToUnicode alphabet), in priority order. */
  merges?: [string, string][];
  specialTokens?: string[];
  /** Tokens that are added (one id each) but not `special` (kept when decoding with skipSpecialTokens). */
  nonSpecial?: string[];
  chatTemplate?: string;
  eosToken?: string;
  padToken?: string;
}

export interface ByteTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  vocabSize: number;
  ids: Record<string, number>;
}

export function buildByteTokenizer(spec: ByteTokenizerSpec = {}): ByteTokenizerFiles {
  const symbols = byteToUnicode();
  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => {
    vocab[s] = i;
  });
  const merges = spec.merges ?? [];
  for (const [a, b] of merges) {
    if (!(a in vocab) || !(b in vocab)) {
      throw new EngineError('tokenizer-invalid', `merge ${a} + ${b}: parts not in the vocabulary`);
    }
    if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  }
  const specials = spec.specialTokens ?? DEFAULT_SPECIAL_TOKENS;
  const nonSpecial = new Set(spec.nonSpecial ?? ['<think>', '</think>', '<answer>', '</answer>']);
  let next = Object.keys(vocab).length;
  const ids: Record<string, number> = {};
  const added = specials.map((content) => {
    ids[content] = next;
    return {
      id: next++,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: !nonSpecial.has(content),
    };
  });
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        {
          type: 'Split',
          pattern: {
            Regex:
              "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
          },
          behavior: 'Isolated',
          invert: false,
        },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const decoderEntries: Record<string, unknown> = {};
  for (const a of added) decoderEntries[String(a.id)] = { ...a, id: undefined };
  const eos = spec.eosToken ?? '<|im_end|>';
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: decoderEntries,
    bos_token: null,
    chat_template: spec.chatTemplate ?? QWEN_STYLE_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: eos,
    errors: 'replace',
    model_max_length: 4096,
    pad_token: spec.padToken ?? '<|endoftext|>',
    split_special_tokens: false,
    tokenizer_class: 'Qwen2Tokenizer',
    unk_token: null,
  };
  return { tokenizerJson, tokenizerConfig, vocabSize: next, ids };
}
