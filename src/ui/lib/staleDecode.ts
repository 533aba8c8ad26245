// Whether the decode on screen was made with the settings the knobs show. A link (or an example, or an
// imported run) can show results of other settings; the Decode panel says so, with one click to run the
// settings shown.
import { paramsFor } from '../../store/lib/decodeRun.ts';
import { buildPrompt, drawItem } from '../../store/lib/items.ts';
import type { DecodeMode, DecodeResult, DecodeSettings } from '../../store/types.ts';

const PARAM_NAMES: Record<string, string> = {
  temperature: 'temperature',
  seed: 'seed',
  maxNewTokens: 'new tokens',
  k: 'k',
  concentration: 'concentration c',
  topP: 'top-p',
  minP: 'min-p',
  coldStop: 'Cold Stop',
  beta: 'β',
  sigma: 'noise σ',
};

function promptDiffers(result: DecodeResult, d: DecodeSettings): boolean {
  if (d.source === 'text') return result.item !== null || result.prompt !== buildPrompt(d.text, d.wrap);
  const it = result.item;
  if (!it || it.task !== d.task || it.level !== d.level || it.seed !== d.itemSeed || it.index !== d.index)
    return true;
  try {
    return (
      result.prompt !== buildPrompt(drawItem(d.task, d.level, d.itemSeed, d.index).item.question, d.wrap)
    );
  } catch {
    return true;
  }
}

/**
 * What differs between a decode result and the settings `d` (readable names, empty when it matches):
 * the prompt, the modes decoded (`modes`: what a run now decodes), and each side's knobs. A knob the
 * result does not record (a file from before it existed) is not counted.
 */
export function decodeDifferences(result: DecodeResult, d: DecodeSettings, modes: DecodeMode[]): string[] {
  const out: string[] = [];
  if (promptDiffers(result, d)) out.push('prompt');
  const shownModes = result.sides.map((s) => s.mode);
  if (shownModes.some((m, i) => m !== modes[i])) out.push('modes');
  const params = new Set<string>();
  for (const side of result.sides) {
    if (!modes.includes(side.mode)) continue;
    for (const [key, want] of Object.entries(paramsFor(side.mode, d)))
      if (key !== 'mode' && key in side.params && side.params[key] !== want) params.add(key);
  }
  for (const key of params) out.push(PARAM_NAMES[key] ?? key);
  return out;
}
