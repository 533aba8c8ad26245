// Issue 16's chart helpers: one colour per mode (readable on both themes, no two alike, runs of one preset
// told apart), the EMA smoothing, the export legend's format, and when a decode on screen belongs to other
// settings than the knobs show.
import { describe, expect, it } from 'vitest';
import { paramsFor } from '../../src/store/lib/decodeRun.ts';
import { buildPrompt, drawItem } from '../../src/store/lib/items.ts';
import { DECODE_MODES, DEFAULT_DECODE } from '../../src/store/settings.ts';
import type { DecodeResult, DecodeSettings, SideResult } from '../../src/store/types.ts';
import { parseLegend } from '../../src/ui/lib/exportRun.ts';
import { MODE_COLORS, modeColor, RUN_DASHES, runStyles } from '../../src/ui/lib/palette.ts';
import { decodeDifferences } from '../../src/ui/lib/staleDecode.ts';
import { ema, exportLegend } from '../../src/ui/widgets/chartKit.tsx';

/** WCAG 2 contrast ratio of two #rrggbb colours. */
function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => {
      const v = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

const LIGHT_PANEL = '#ffffff';
const DARK_PANEL = '#1e2025';

describe('palette', () => {
  it('gives every decode mode its own colour, 3:1 against the light and the dark panel', () => {
    expect(Object.keys(MODE_COLORS).sort()).toEqual([...DECODE_MODES].sort());
    const colours = DECODE_MODES.map(modeColor);
    expect(new Set(colours).size).toBe(DECODE_MODES.length);
    for (const c of colours) {
      expect(contrast(c, LIGHT_PANEL), c).toBeGreaterThanOrEqual(3);
      expect(contrast(c, DARK_PANEL), c).toBeGreaterThanOrEqual(3);
    }
    expect(modeColor('no-such-mode')).toMatch(/^#[0-9a-f]{6}$/);
  });

  it("colours a run by its preset, not its position; a preset's later runs get a dash and a shade", () => {
    const styles = runStyles(['dirichlet', 'discrete', 'dirichlet', 'dirichlet', 'discrete']);
    expect(styles[0]).toEqual({ color: MODE_COLORS.dirichlet, dash: '', nth: 0 });
    expect(styles[1]).toEqual({ color: MODE_COLORS.discrete, dash: '', nth: 0 });
    expect(styles.map((s) => s.nth)).toEqual([0, 0, 1, 2, 1]);
    expect(styles[2].dash).toBe(RUN_DASHES[1]);
    expect(styles[3].dash).toBe(RUN_DASHES[2]);
    const dirichlet = [styles[0], styles[2], styles[3]].map((s) => s.color);
    expect(new Set(dirichlet).size).toBe(3);
    // The order of runs does not change a preset's first colour.
    expect(runStyles(['discrete', 'dirichlet'])[1].color).toBe(MODE_COLORS.dirichlet);
    // Shades stay readable on both themes.
    for (const mode of DECODE_MODES)
      for (const s of runStyles(Array(5).fill(mode))) {
        expect(contrast(s.color, LIGHT_PANEL), `${mode} ${s.nth}`).toBeGreaterThanOrEqual(3);
        expect(contrast(s.color, DARK_PANEL), `${mode} ${s.nth}`).toBeGreaterThanOrEqual(3);
      }
  });
});

describe('EMA smoothing', () => {
  it('is bias-corrected (a constant stays constant) and skips missing values', () => {
    expect(ema([2, 2, 2])).toEqual([2, 2, 2]);
    const s = ema([0, 10, null, 10], 0.5);
    expect(s[0]).toBe(0);
    // (0.5·0.5·0 + 0.5·10) / (1 − 0.25) = 6.667; the gap stays a gap and does not count as a step.
    expect(s[1]).toBeCloseTo(20 / 3, 6);
    expect(s[2]).toBeNull();
    expect(s[3]).toBeCloseTo((0.5 * 5 + 5) / (1 - 0.125), 6);
  });
});

describe('export legend', () => {
  it('round-trips names with "=", colours and dash patterns', () => {
    const items = [
      { name: 'run 1 G=4', color: '#d9480f' },
      { name: 'a|b', color: '#2b7bb9', dash: '7 3' },
    ];
    expect(parseLegend(exportLegend(items))).toEqual([
      { label: 'run 1 G=4', color: '#d9480f' },
      { label: 'a/b', color: '#2b7bb9', dash: '7 3' },
    ]);
  });
});

function side(mode: SideResult['mode'], d: DecodeSettings): SideResult {
  return {
    mode,
    via: 'rollout',
    params: paramsFor(mode, d),
    steps: [],
    text: '',
    stopReason: 'eos',
    mixingOffAt: null,
    answer: null,
    score: null,
    reward: null,
    format: null,
    ms: 1,
    tokensPerSecond: 1,
    interrupted: false,
  };
}

function resultOf(d: DecodeSettings): DecodeResult {
  const { item } = drawItem(d.task, d.level, d.itemSeed, d.index);
  return {
    prompt: buildPrompt(item.question, d.wrap),
    item,
    promptTokens: 10,
    sides: [side(d.baseline, d), side(d.preset, d)],
  };
}

describe('a decode on screen against the knobs', () => {
  const d = DEFAULT_DECODE;
  const modes = [d.baseline, d.preset];

  it('matches the settings it was made with', () => {
    expect(decodeDifferences(resultOf(d), d, modes)).toEqual([]);
  });

  it('names what differs: the item, the modes, a knob of either side', () => {
    const r = resultOf(d);
    expect(decodeDifferences(r, { ...d, index: d.index + 1 }, modes)).toEqual(['prompt']);
    expect(decodeDifferences(r, { ...d, wrap: !d.wrap }, modes)).toEqual(['prompt']);
    expect(decodeDifferences(r, { ...d, temperature: 0.5 }, modes)).toEqual(['temperature']);
    expect(decodeDifferences(r, { ...d, maxNewTokens: 32, seed: 9 }, modes)).toEqual(['seed', 'new tokens']);
    expect(decodeDifferences(r, d, ['discrete', d.preset])).toEqual(['modes']);
    expect(decodeDifferences(r, { ...d, source: 'text' }, modes)).toEqual(['prompt']);
  });

  it('does not count a knob the result does not record (a file from before it existed)', () => {
    const r = resultOf(d);
    for (const s of r.sides) delete s.params.maxNewTokens;
    expect(decodeDifferences(r, { ...d, maxNewTokens: 7 }, modes)).toEqual([]);
  });
});
