// A plain SVG line chart for the reports (scripts/reproduction-report.ts): no dependencies, so figures are
// plain files that render on GitHub and in any browser.

// Ten distinct colours: a figure overlays up to nine cells of a task without repeating one.
const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#a16207',
  '#db2777',
  '#4b5563',
  '#65a30d',
];

/** A plain line chart: series of (x, y) points, axes labelled, legend on top. */
export function lineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: { label: string; points: [number, number][] }[],
): string {
  const W = 640;
  const H = 340;
  const pad = { l: 60, r: 16, t: 60, b: 44 };
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys);
  let y1 = Math.max(...ys);
  const span = y1 - y0 || Math.abs(y1) || 1;
  y0 -= 0.05 * span;
  y1 += 0.05 * span;
  const xPos = (x: number) => pad.l + ((x - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  const yPos = (y: number) => pad.t + (1 - (y - y0) / (y1 - y0)) * (H - pad.t - pad.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${pad.l}" y="16" font-size="13">${title}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const y = y0 + ((y1 - y0) * k) / 4;
    parts.push(
      `<line x1="${pad.l}" x2="${W - pad.r}" y1="${yPos(y).toFixed(1)}" y2="${yPos(y).toFixed(1)}" stroke="#e5e7eb"/>`,
      `<text x="${pad.l - 6}" y="${(yPos(y) + 4).toFixed(1)}" text-anchor="end">${y.toPrecision(3)}</text>`,
    );
    const x = x0 + ((x1 - x0) * k) / 4;
    parts.push(
      `<text x="${xPos(x).toFixed(1)}" y="${H - pad.b + 16}" text-anchor="middle">${Math.round(x)}</text>`,
    );
  }
  parts.push(
    `<rect x="${pad.l}" y="${pad.t}" width="${W - pad.l - pad.r}" height="${H - pad.t - pad.b}" fill="none" stroke="#9ca3af"/>`,
    `<text x="${(pad.l + W - pad.r) / 2}" y="${H - 8}" text-anchor="middle">${xLabel}</text>`,
    `<text transform="translate(14 ${(pad.t + H - pad.b) / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const d = s.points
      .filter(([, y]) => Number.isFinite(y))
      .map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${xPos(x).toFixed(1)},${yPos(y).toFixed(1)}`)
      .join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    // Three legend entries per row.
    const lx = pad.l + (i % 3) * 190;
    const ly = 26 + Math.floor(i / 3) * 14;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="14" height="4" fill="${color}"/>`,
      `<text x="${lx + 18}" y="${ly + 5}">${s.label}</text>`,
    );
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
