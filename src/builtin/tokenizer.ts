// The built-in model's tokenizer: our byte-level BPE (model/byteTokenizer.ts) with merges learned from
// the tasks' own text. Training is the classic BPE loop, deterministic: split the corpus like the
// tokenizer's pre-tokenizer does (added tokens first, then Qwen's split regex, then bytes → symbols),
// count adjacent symbol pairs weighted by word frequency, merge the most frequent pair (ties: the
// lexicographically smallest pair), repeat. Digits are never merged: the pre-tokenizer isolates each.
import {
  type ByteTokenizerFiles,
  buildByteTokenizer,
  byteToUnicode,
  DEFAULT_SPECIAL_TOKENS,
} from '../engine/model/byteTokenizer.ts';
import { getTask } from '../tasks/registry.ts';
import { buildExamples, type MixturePart, SYSTEM_PROMPT } from './data.ts';
import { TRACED_TASKS } from './traces.ts';

/**
 * Qwen2.5-style chat template: our system prompt when the conversation has none (as Qwen2.5 inserts
 * its own), `<|im_start|>role\ncontent<|im_end|>\n` per message, and the assistant header when asked.
 */
export const BUILTIN_CHAT_TEMPLATE =
  "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\n" +
  SYSTEM_PROMPT +
  "<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// The pre-tokenizer's split regex (byteTokenizer.ts), in JS syntax: JS has no `(?i:…)`, so the
// contractions spell out both cases.
const SPLIT_RE =
  /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The pre-tokens of `text` as byte-level symbol strings, added (special) tokens left out. */
export function preTokenize(
  text: string,
  specialTokens: readonly string[] = DEFAULT_SPECIAL_TOKENS,
): string[] {
  const symbols = byteToUnicode();
  const utf8 = new TextEncoder();
  const specials = [...specialTokens].sort((a, b) => b.length - a.length).map(escapeRegex);
  const segments = specials.length > 0 ? text.split(new RegExp(specials.join('|'))) : [text];
  const out: string[] = [];
  for (const segment of segments) {
    for (const m of segment.normalize('NFC').matchAll(SPLIT_RE)) {
      let s = '';
      for (const b of utf8.encode(m[0])) s += symbols[b];
      out.push(s);
    }
  }
  return out;
}

/** Code-point symbols of a byte-level word (each symbol is one character of the byteToUnicode map). */
function splitSymbols(word: string): string[] {
  return Array.from(word);
}

/**
 * Learns up to `numMerges` BPE merges from `texts`, stopping early when no pair occurs at least
 * `minCount` times. Deterministic: ties go to the lexicographically smallest (left, right) pair.
 */
export function learnMerges(
  texts: Iterable<string>,
  numMerges: number,
  options: { minCount?: number; specialTokens?: readonly string[] } = {},
): [string, string][] {
  const minCount = options.minCount ?? 2;
  const freq = new Map<string, number>();
  for (const text of texts) {
    for (const w of preTokenize(text, options.specialTokens)) freq.set(w, (freq.get(w) ?? 0) + 1);
  }
  const words = [...freq.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([w, count]) => ({ symbols: splitSymbols(w), count }));
  const merges: [string, string][] = [];
  const SEP = '\u0000';
  while (merges.length < numMerges) {
    const pairs = new Map<string, number>();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = symbols[i] + SEP + symbols[i + 1];
        pairs.set(key, (pairs.get(key) ?? 0) + count);
      }
    }
    let bestKey: string | null = null;
    let bestCount = 0;
    for (const [key, count] of pairs) {
      if (count > bestCount || (count === bestCount && bestKey !== null && key < bestKey)) {
        bestKey = key;
        bestCount = count;
      }
    }
    if (bestKey === null || bestCount < minCount) break;
    const [a, b] = bestKey.split(SEP) as [string, string];
    merges.push([a, b]);
    const merged = a + b;
    for (const w of words) {
      const s = w.symbols;
      if (s.length < 2) continue;
      const next: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(s[i]);
      }
      w.symbols = next;
    }
  }
  return merges;
}

export interface BuiltinTokenizerOptions {
  /** Number of merges to learn (fewer when the corpus runs out of repeated pairs). Default 256. */
  numMerges?: number;
  /** Tasks whose text the merges are learned from. Default: every task with a worked trace. */
  tasks?: readonly string[];
  /** Examples per task and curriculum level in the corpus. Default 200. */
  perLevel?: number;
  /** Corpus seed. Default 0. */
  seed?: number;
}

/** The merge-learning corpus: rendered SFT texts (prompt + completion) of every level of `tasks`. */
export function tokenizerCorpus(options: BuiltinTokenizerOptions = {}): string[] {
  const tasks = options.tasks ?? TRACED_TASKS;
  const perLevel = options.perLevel ?? 200;
  const parts: MixturePart[] = [];
  for (const task of tasks) {
    for (const level of levelNames(task)) parts.push({ task, level, count: perLevel });
  }
  return buildExamples(parts, options.seed ?? 0).map((ex) => ex.prompt + ex.completion + '<|im_end|>');
}

function levelNames(task: string): string[] {
  return getTask(task).levels.map((l) => l.name);
}

/** Builds the built-in tokenizer (tokenizer.json + tokenizer_config.json) from the tasks' text. */
export function buildBuiltinTokenizer(options: BuiltinTokenizerOptions = {}): ByteTokenizerFiles & {
  merges: [string, string][];
} {
  const merges = learnMerges(tokenizerCorpus(options), options.numMerges ?? 256);
  const files = buildByteTokenizer({ merges, chatTemplate: BUILTIN_CHAT_TEMPLATE });
  return { ...files, merges };
}
