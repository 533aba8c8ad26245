// reasoning-gym's `utils.extract_answer`: the text of the LAST <answer>…</answer> block.

import { PY_WS_CLASS, pyStrip } from './common.ts';

const cache = new Map<string, RegExp>();

function tagRegex(tagName: string): RegExp {
  let re = cache.get(tagName);
  if (!re) {
    // Python: f"<{tag}>\s?(.*?)\s?</{tag}>" with DOTALL. `\s` is Python's Unicode whitespace set; the
    // tag is escaped here (Python pastes it in raw, which only matters for regex metacharacters).
    const tag = tagName.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const ws = `[${PY_WS_CLASS}]?`;
    re = new RegExp(`<${tag}>${ws}([\\s\\S]*?)${ws}</${tag}>`, 'g');
    cache.set(tagName, re);
  }
  return re;
}

/**
 * `extract_answer(completion, tag_name, strip)`: regex `<tag>\s?(.*?)\s?</tag>` (DOTALL), last
 * non-overlapping match wins, Python's `.strip()` when `strip`; null when there is no block.
 * Note the `\s?`: with strip=false, `<answer>  X  </answer>` gives `" X "`.
 */
export function extractAnswer(completion: string, tagName = 'answer', strip = true): string | null {
  let last: string | null = null;
  for (const m of completion.matchAll(tagRegex(tagName))) last = m[1];
  if (last === null) return null;
  return strip ? pyStrip(last) : last;
}
