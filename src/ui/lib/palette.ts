// One colour per decode mode / preset, the same in every chart, table, legend and exported image: a reader
// learns "orange is dirichlet" once. Each colour is a mid tone with at least 3:1 contrast against both the
// light (#ffffff) and the dark (#1e2025) panel, so one value serves both themes (and the PNG export, which
// cannot read CSS variables). test/unit/palette.test.ts checks the contrast and that no two collide.
import type { DecodeMode } from '../../store/types.ts';

export const MODE_COLORS: Readonly<Record<DecodeMode, string>> = Object.freeze({
  'discrete-top-k': '#2b7bb9', // blue: the matched baseline, the decode panel's default left side
  discrete: '#0f8a8a', // teal: the other discrete baseline, a cousin of blue
  dirichlet: '#d9480f', // orange: the paper's method, the default mixture
  'different-tokens': '#8a5cf5', // violet
  'soft-thinking': '#2f9e44', // green
  'mixture-of-inputs': '#d6336c', // pink
  'soft-tokens': '#9c7a00', // ochre
});

/** A mode's colour; an unknown name (an old run file) gets a neutral grey. */
export function modeColor(mode: string): string {
  return (MODE_COLORS as Record<string, string>)[mode] ?? '#7a7f8c';
}

/** Dash patterns that tell apart several runs of one preset (the first run is solid). */
export const RUN_DASHES = ['', '7 3', '2 2', '9 3 2 3', '4 4'] as const;

/** `hex` moved a fraction `t` toward grey #808080 (its luminance stays inside the band both themes read). */
function toGrey(hex: string, t: number): string {
  const c = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return `#${c
    .map((v) =>
      Math.round(v + (128 - v) * t)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

/**
 * The look of each run: its preset's colour, and for the 2nd, 3rd, … run of one preset a dash pattern
 * and a greyer shade of it (so runs of one preset read as a family, yet apart).
 */
export function runStyles(presets: readonly string[]): { color: string; dash: string; nth: number }[] {
  const seen = new Map<string, number>();
  return presets.map((p) => {
    const nth = seen.get(p) ?? 0;
    seen.set(p, nth + 1);
    const base = modeColor(p);
    return {
      color: nth === 0 ? base : toGrey(base, Math.min(0.6, 0.3 * nth)),
      dash: RUN_DASHES[nth % RUN_DASHES.length],
      nth,
    };
  });
}
