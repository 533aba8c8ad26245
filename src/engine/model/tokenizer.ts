// Qwen2-family tokenizer: byte-level BPE from a Hugging Face `tokenizer.json`, special tokens from
// `tokenizer_config.json` (+ `generation_config.json`), chat templates rendered with @huggingface/jinja.
// Built on @huggingface/tokenizers (the tokenizer core of transformers.js, without its model code), so it
// runs in a browser worker and in Node. No DOM, no `node:` imports.
import { Template } from '@huggingface/jinja';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { CONFIG_BOUNDS } from '../config.ts';
import { EngineError, isEngineError, jsonForMessage } from '../errors.ts';
import { type ChatTemplateLimits, renderChatTemplate } from './chatTemplate.ts';

type Json = Record<string, unknown>;

/** Anything that can read a model folder's small text files by name (null when the file is absent). */
export interface TokenizerSource {
  readText(name: string): Promise<string | null>;
}

export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** Append the header that opens the assistant's turn (`<|im_start|>assistant\n` for Qwen). Default false. */
  addGenerationPrompt?: boolean;
  /** Tool (function) JSON schemas, for templates that support tool use. */
  tools?: unknown[] | null;
  /** Retrieval documents, for templates that support them. */
  documents?: unknown[] | null;
  /** Qwen3-style switch: `false` renders an empty think block after the generation prompt. Omitted when undefined. */
  enableThinking?: boolean;
  /** Name of the template when the tokenizer has several (e.g. 'tool_use'); default: 'default'. */
  templateName?: string;
  /** Extra variables for the template. */
  extra?: Record<string, unknown>;
  /** Rendering budget; default DEFAULT_CHAT_TEMPLATE_LIMITS. */
  limits?: ChatTemplateLimits;
}

export interface EncodeOptions {
  /** Add the post-processor's special tokens (none for Qwen2). Default true, as in Hugging Face. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop tokens marked `special` (e.g. `<|im_end|>`; not `<think>`, which Qwen3 marks non-special). */
  skipSpecialTokens?: boolean;
}

export interface SpecialTokens {
  bos: string | null;
  eos: string | null;
  pad: string | null;
  unk: string | null;
  /** Every added token flagged `special: true` in tokenizer.json, by content. */
  all: string[];
}

export interface TokenizerFromJsonOptions {
  /** generation_config.json (object or text): its `eos_token_id` / `pad_token_id` join the tokenizer's. */
  generationConfig?: unknown;
  /** A chat template that replaces tokenizer_config.json's (e.g. the text of `chat_template.jinja`). */
  chatTemplate?: string;
  /** File names used in error messages. */
  files?: { tokenizer?: string; config?: string; generationConfig?: string; chatTemplate?: string };
}

function invalid(file: string, message: string): EngineError {
  return new EngineError('tokenizer-invalid', `${file}: ${message}`, { file });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function parseJsonObject(raw: unknown, file: string): Json {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw invalid(file, `not valid JSON (${errorText(e)})`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(file, 'expected a JSON object');
  }
  return value as Json;
}

/** A special-token entry in tokenizer_config.json is either a string or an AddedToken-like `{content}`. */
function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Json).content === 'string') {
    return (v as Json).content as string;
  }
  return null;
}

function idList(v: unknown): number[] {
  if (typeof v === 'number' && Number.isInteger(v)) return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number' && Number.isInteger(x));
  return [];
}

/** Checks what a Qwen2-family tokenizer.json must have, before the library sees it. */
function validateTokenizerJson(tj: Json, file: string): void {
  const model = tj.model;
  if (typeof model !== 'object' || model === null || Array.isArray(model)) {
    throw invalid(file, 'missing "model" section');
  }
  const m = model as Json;
  if (m.type !== undefined && m.type !== 'BPE') {
    throw invalid(
      file,
      `model type "${String(m.type)}" is not supported (Qwen2-family tokenizers are byte-level BPE)`,
    );
  }
  if (typeof m.vocab !== 'object' || m.vocab === null || Array.isArray(m.vocab)) {
    throw invalid(file, 'model.vocab must be an object mapping tokens to ids');
  }
  if (!Array.isArray(m.merges)) {
    throw invalid(file, 'model.merges must be an array');
  }
  if (tj.added_tokens !== undefined && !Array.isArray(tj.added_tokens)) {
    throw invalid(file, '"added_tokens" must be an array');
  }
  // Before the tokenizer is built: a string, fractional or huge id would encode to ids no model has
  // (or size tables by a 1e9 id).
  for (const [token, id] of Object.entries(m.vocab as Json))
    checkTokenId(id, `model.vocab["${token}"]`, file);
  for (const [i, t] of ((tj.added_tokens ?? []) as unknown[]).entries()) {
    const e = t as Json;
    if (typeof e !== 'object' || e === null || typeof e.content !== 'string')
      throw invalid(file, `added_tokens[${i}] must be an object with a string "content"`);
    checkTokenId(e.id, `added_tokens[${i}].id`, file);
  }
  if (typeof tj.decoder !== 'object' || tj.decoder === null) {
    throw invalid(file, 'missing "decoder" section');
  }
}

function checkTokenId(id: unknown, field: string, file: string): void {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= CONFIG_BOUNDS.vocab_size)
    throw invalid(
      file,
      `${field} must be an integer id from 0 to ${CONFIG_BOUNDS.vocab_size - 1}, got ${jsonForMessage(id)}`,
    );
}

/** tokenizer_config.json's chat_template: a string, or a list of `{name, template}` (or a name → template map). */
function collectTemplates(raw: unknown, file: string): Map<string, string> {
  const out = new Map<string, string>();
  if (raw === undefined || raw === null) return out;
  if (typeof raw === 'string') {
    out.set('default', raw);
  } else if (Array.isArray(raw)) {
    for (const entry of raw) {
      const e = entry as Json;
      if (
        typeof e !== 'object' ||
        e === null ||
        typeof e.name !== 'string' ||
        typeof e.template !== 'string'
      ) {
        throw invalid(file, 'chat_template list entries must be {name, template} strings');
      }
      out.set(e.name, e.template);
    }
  } else if (typeof raw === 'object') {
    for (const [name, t] of Object.entries(raw as Json)) {
      if (typeof t !== 'string') throw invalid(file, `chat_template "${name}" must be a string`);
      out.set(name, t);
    }
  } else {
    throw invalid(file, 'chat_template must be a string or a list of named templates');
  }
  return out;
}

/** GPT-2's byte ↔ printable-character table, inverted: character code → byte. */
function buildUnicodeToByte(): Map<string, number> {
  const printable = (b: number): boolean =>
    (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    if (printable(b)) {
      map.set(String.fromCharCode(b), b);
    } else {
      map.set(String.fromCharCode(256 + extra), b);
      extra++;
    }
  }
  return map;
}

let unicodeToByte: Map<string, number> | null = null;
const utf8Encoder = new TextEncoder();

function isByteLevelDecoder(decoder: unknown): boolean {
  if (typeof decoder !== 'object' || decoder === null) return false;
  const d = decoder as Json;
  return d.type === 'ByteLevel';
}

export class Tokenizer {
  /** Number of token ids the tokenizer knows (base vocabulary + added tokens) = max id + 1. */
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokens;
  /** Ids that end generation: tokenizer_config's eos token, then generation_config's eos_token_id(s). */
  readonly eosTokenIds: number[];
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  /** True when the tokenizer's decoder is byte-level (all Qwen2-family tokenizers). */
  readonly byteLevel: boolean;

  private readonly hf: HfTokenizer;
  private readonly templates: Map<string, Template>;
  /** Where the templates came from (tokenizer_config.json or chat_template.jinja), for error messages. */
  private readonly templateFile: string;
  private readonly addedById: Map<number, { content: string; special: boolean }>;
  private readonly specialIds: Set<number>;

  private constructor(
    hf: HfTokenizer,
    tj: Json,
    cfg: Json,
    templates: Map<string, Template>,
    templateFile: string,
    gen: Json | null,
  ) {
    this.hf = hf;
    this.templates = templates;
    this.templateFile = templateFile;
    this.byteLevel = isByteLevelDecoder(tj.decoder);

    this.addedById = new Map();
    this.specialIds = new Set();
    const specialAll: string[] = [];
    for (const [id, t] of hf.get_added_tokens_decoder()) {
      this.addedById.set(id, { content: t.content, special: t.special });
      if (t.special) {
        this.specialIds.add(id);
        specialAll.push(t.content);
      }
    }

    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const bos = tokenString(cfg.bos_token);
    const eos = tokenString(cfg.eos_token);
    const pad = tokenString(cfg.pad_token);
    const unk = tokenString(cfg.unk_token);
    this.specialTokens = { bos, eos, pad, unk, all: specialAll };

    const eosIds: number[] = [];
    const eosId = eos === null ? null : this.tokenToId(eos);
    if (eosId !== null) eosIds.push(eosId);
    for (const id of idList(gen?.eos_token_id)) if (!eosIds.includes(id)) eosIds.push(id);
    this.eosTokenIds = eosIds;

    const bosId = bos === null ? null : this.tokenToId(bos);
    this.bosTokenId = bosId ?? idList(gen?.bos_token_id)[0] ?? null;
    const padId = pad === null ? null : this.tokenToId(pad);
    this.padTokenId = padId ?? idList(gen?.pad_token_id)[0] ?? null;
  }

  /**
   * Builds a tokenizer from `tokenizer.json` and `tokenizer_config.json` (parsed objects or their text).
   * Throws EngineError('tokenizer-invalid') naming the file when either is broken or unsupported.
   */
  static fromJson(
    tokenizerJson: unknown,
    tokenizerConfig: unknown,
    options: TokenizerFromJsonOptions = {},
  ): Tokenizer {
    const tokFile = options.files?.tokenizer ?? 'tokenizer.json';
    const cfgFile = options.files?.config ?? 'tokenizer_config.json';
    const genFile = options.files?.generationConfig ?? 'generation_config.json';
    const tplFile = options.files?.chatTemplate ?? 'chat_template.jinja';

    const tj = parseJsonObject(tokenizerJson, tokFile);
    const cfg =
      tokenizerConfig === undefined || tokenizerConfig === null
        ? {}
        : parseJsonObject(tokenizerConfig, cfgFile);
    const gen =
      options.generationConfig === undefined ? null : parseJsonObject(options.generationConfig, genFile);
    validateTokenizerJson(tj, tokFile);

    // Templates first: they are cheap to check, the 150k-entry BPE is not.
    const sources =
      options.chatTemplate !== undefined
        ? { file: tplFile, templates: new Map([['default', options.chatTemplate]]) }
        : { file: cfgFile, templates: collectTemplates(cfg.chat_template, cfgFile) };
    const templates = new Map<string, Template>();
    for (const [name, text] of sources.templates) {
      try {
        templates.set(name, new Template(text));
      } catch (e) {
        const label = name === 'default' ? 'chat template' : `chat template "${name}"`;
        throw invalid(sources.file, `${label} does not parse (${errorText(e)})`);
      }
    }

    let hf: HfTokenizer;
    try {
      hf = new HfTokenizer(tj, cfg);
    } catch (e) {
      throw invalid(tokFile, `could not build the tokenizer (${errorText(e)})`);
    }
    return new Tokenizer(hf, tj, cfg, templates, sources.file, gen);
  }

  /**
   * Reads `tokenizer.json` (required), `tokenizer_config.json`, `generation_config.json` and
   * `chat_template.jinja` (optional; it replaces tokenizer_config.json's template, as in transformers).
   */
  static async fromSource(source: TokenizerSource): Promise<Tokenizer> {
    const [tj, cfg, gen, tpl] = await Promise.all([
      source.readText('tokenizer.json'),
      source.readText('tokenizer_config.json'),
      source.readText('generation_config.json'),
      source.readText('chat_template.jinja'),
    ]);
    if (tj === null) {
      throw new EngineError('file-missing', 'tokenizer.json is missing from the model folder', {
        file: 'tokenizer.json',
      });
    }
    return Tokenizer.fromJson(tj, cfg, {
      generationConfig: gen ?? undefined,
      chatTemplate: tpl ?? undefined,
    });
  }

  /** Text → token ids. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') {
      throw new EngineError('invalid-argument', `encode: expected a string, got ${typeof text}`);
    }
    return this.hf.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** Token ids → text. Unknown ids are skipped (as in Hugging Face); an empty list gives ''. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const list = Array.from(ids);
    for (const id of list) {
      if (!Number.isSafeInteger(id)) {
        throw new EngineError('invalid-argument', `decode: token id ${id} is not an integer`);
      }
    }
    if (list.length === 0) return '';
    return this.hf.decode(list, { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** One token's text, for display (a token holding part of a UTF-8 character shows as U+FFFD). */
  decodeToken(id: number): string {
    return this.decode([id]);
  }

  /** Token string (e.g. 'Ġthe', '<|im_end|>') → id, or null when unknown. */
  tokenToId(token: string): number | null {
    return this.hf.token_to_id(token) ?? null;
  }

  /** Id → token string in the vocabulary's byte-level spelling, or null when unknown. */
  idToToken(id: number): string | null {
    return this.hf.id_to_token(id) ?? null;
  }

  /** True for added tokens flagged `special` (the ones `skipSpecialTokens` drops). */
  isSpecial(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** Added-token content for an id (special or not), or null when the id is a base-vocabulary token. */
  addedTokenContent(id: number): { content: string; special: boolean } | null {
    return this.addedById.get(id) ?? null;
  }

  get hasChatTemplate(): boolean {
    return this.templates.size > 0;
  }

  /** Renders messages with the tokenizer's chat template (as transformers' `apply_chat_template(tokenize=False)`). */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    const tools = options.tools ?? null;
    let name = options.templateName;
    if (name === undefined) {
      name = tools !== null && this.templates.has('tool_use') ? 'tool_use' : 'default';
    }
    const template = this.templates.get(name);
    if (template === undefined) {
      const msg =
        this.templates.size === 0
          ? 'this tokenizer has no chat template'
          : `no chat template named "${name}" (have: ${[...this.templates.keys()].join(', ')})`;
      throw new EngineError('invalid-argument', `applyChatTemplate: ${msg}`);
    }
    const vars: Record<string, unknown> = {
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? false,
      tools,
      documents: options.documents ?? null,
    };
    const st = this.specialTokens;
    if (st.bos !== null) vars.bos_token = st.bos;
    if (st.eos !== null) vars.eos_token = st.eos;
    if (st.pad !== null) vars.pad_token = st.pad;
    if (st.unk !== null) vars.unk_token = st.unk;
    if (options.enableThinking !== undefined) vars.enable_thinking = options.enableThinking;
    Object.assign(vars, options.extra ?? {});
    try {
      return renderChatTemplate(template, vars, this.templateFile, options.limits);
    } catch (e) {
      if (isEngineError(e)) throw e;
      throw new EngineError(
        'invalid-argument',
        `applyChatTemplate: the chat template failed (${errorText(e)})`,
      );
    }
  }

  /** `applyChatTemplate` then `encode` without extra special tokens. */
  encodeChat(messages: ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, options), { addSpecialTokens: false });
  }

  /** A fresh incremental decoder (one per generated sequence). */
  streamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder(this, options);
  }

  /** Raw bytes of one token for byte-level decoding; null for unknown ids. @internal */
  tokenBytes(id: number): Uint8Array | null {
    const added = this.addedById.get(id);
    if (added !== undefined) return utf8Encoder.encode(added.content);
    const token = this.hf.id_to_token(id);
    if (token === undefined) return null;
    unicodeToByte ??= buildUnicodeToByte();
    const bytes: number[] = [];
    for (const ch of token) {
      const b = unicodeToByte.get(ch);
      if (b !== undefined) bytes.push(b);
      else for (const x of utf8Encoder.encode(ch)) bytes.push(x);
    }
    return Uint8Array.from(bytes);
  }
}

/**
 * Refuses a tokenizer that can produce ids the model has no embedding row for: they would load, then fail
 * mid-generation with an untyped RangeError. Throws EngineError('tokenizer-invalid') naming the file.
 */
export function checkTokenizerFitsModel(tokenizer: Tokenizer, modelVocabSize: number): void {
  if (tokenizer.vocabSize > modelVocabSize) {
    throw invalid(
      'tokenizer.json',
      `token ids go up to ${tokenizer.vocabSize - 1}, beyond the model's vocabulary (config.json vocab_size ${modelVocabSize})`,
    );
  }
  const named = [...tokenizer.eosTokenIds, tokenizer.bosTokenId, tokenizer.padTokenId];
  for (const id of named) {
    if (id !== null && (id < 0 || id >= modelVocabSize)) {
      throw invalid(
        'generation_config.json',
        `token id ${id} is outside the model's vocabulary (config.json vocab_size ${modelVocabSize})`,
      );
    }
  }
}

/**
 * Incremental detokenizer for streaming display. Byte-level BPE splits multi-byte UTF-8 characters
 * (CJK, emoji) across tokens: `push(id)` returns only text whose bytes are complete ('' while a
 * character is still partial). The concatenation of all `push` results plus `flush()` equals
 * `tokenizer.decode(ids, options)`.
 */
export class StreamDecoder {
  private readonly tok: Tokenizer;
  private readonly skipSpecial: boolean;
  private utf8: TextDecoder;
  // Fallback for non-byte-level decoders: ids since the last emitted boundary.
  private pending: number[] = [];
  private emitted = '';

  constructor(tokenizer: Tokenizer, options: DecodeOptions = {}) {
    this.tok = tokenizer;
    this.skipSpecial = options.skipSpecialTokens ?? false;
    this.utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  }

  /** Feeds one generated id; returns the newly completed text (possibly ''). */
  push(id: number): string {
    if (!Number.isSafeInteger(id)) {
      throw new EngineError('invalid-argument', `StreamDecoder.push: token id ${id} is not an integer`);
    }
    const added = this.tok.addedTokenContent(id);
    if (added?.special && this.skipSpecial) return '';
    if (!this.tok.byteLevel) return this.pushGeneric(id);
    if (added !== null) {
      // Added tokens are not byte-encoded; a partial character before them is cut off (U+FFFD), as in decode().
      return this.utf8.decode() + added.content;
    }
    const bytes = this.tok.tokenBytes(id);
    if (bytes === null) return '';
    return this.utf8.decode(bytes, { stream: true });
  }

  /** Ends the stream: returns what is left (an incomplete character becomes U+FFFD) and resets. */
  flush(): string {
    if (!this.tok.byteLevel) {
      const rest = this.tok
        .decode(this.pending, { skipSpecialTokens: this.skipSpecial })
        .slice(this.emitted.length);
      this.pending = [];
      this.emitted = '';
      return rest;
    }
    return this.utf8.decode();
  }

  /** Forgets any partial character. */
  reset(): void {
    this.utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    this.pending = [];
    this.emitted = '';
  }

  private pushGeneric(id: number): string {
    this.pending.push(id);
    const text = this.tok.decode(this.pending, { skipSpecialTokens: this.skipSpecial });
    if (text.endsWith('\uFFFD') || text.length < this.emitted.length || !text.startsWith(this.emitted))
      return '';
    const out = text.slice(this.emitted.length);
    this.emitted = text;
    return out;
  }
}
