// Export a run as one .zip (run.json with the settings and every metric, steps.csv, evals.csv, train.csv,
// and a PNG of each chart on screen), and import such a file (or a bare run.json) back to view it.

import { readZip, writeZip, type ZipEntry } from '../../client/zip.ts';
import { evalsCsv, parseRunFile, RunFileError, stepsCsv, trainCsv } from '../../store/lib/runFile.ts';
import type { RunFile } from '../../store/types.ts';

export interface LegendEntry {
  label: string;
  color: string;
  /** An SVG stroke-dasharray ("7 3"); none: a solid line. */
  dash?: string;
}

/** The entries of a chart's `data-export-legend`: `label=colour` or `label=colour~dash`, joined by '|'. */
export function parseLegend(spec: string): LegendEntry[] {
  return spec
    .split('|')
    .filter(Boolean)
    .map((part) => {
      // The colour follows the last '=' (a label may hold one: "G=4").
      const at = part.lastIndexOf('=');
      const [color, dash] = part.slice(at + 1).split('~');
      return dash ? { label: part.slice(0, at), color, dash } : { label: part.slice(0, at), color };
    });
}

const LEGEND_ROW = 20;

/** The legend laid out in rows that fit `width` (x of each entry, row index). */
function legendRows(ctx: CanvasRenderingContext2D, legend: LegendEntry[], width: number) {
  let x = 12;
  let row = 0;
  return legend.map((e) => {
    const w = 26 + ctx.measureText(e.label).width;
    if (x > 12 && x + w > width) {
      x = 12;
      row++;
    }
    const at = { e, x, row };
    x += w;
    return at;
  });
}

/**
 * Renders an on-screen SVG to PNG bytes (2× for sharpness), on an opaque background, with an optional
 * legend under it (charts whose legend is HTML), wrapped into as many rows as it needs.
 */
export async function svgToPng(
  svg: SVGSVGElement,
  background: string,
  legend: LegendEntry[] = [],
  textColor = '#555',
): Promise<Uint8Array> {
  const box = svg.getBoundingClientRect();
  const w = Math.max(1, Math.round(box.width));
  const h = Math.max(1, Math.round(box.height));
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('width', String(w));
  clone.setAttribute('height', String(h));
  // Inline the computed colours the page's CSS gives text and lines, so the image looks the same.
  const src = svg.querySelectorAll<SVGElement>('*');
  const dst = clone.querySelectorAll<SVGElement>('*');
  src.forEach((el, i) => {
    const cs = getComputedStyle(el);
    const d = dst[i];
    for (const prop of [
      'fill',
      'stroke',
      'font-size',
      'font-family',
      'opacity',
      'stroke-width',
      'stroke-dasharray',
    ]) {
      const v = cs.getPropertyValue(prop);
      if (v) d.style.setProperty(prop, v);
    }
  });
  const text = new XMLSerializer().serializeToString(clone);
  const url = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.decoding = 'sync';
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error('the chart could not be drawn as an image'));
      img.src = url;
    });
    const canvas = document.createElement('canvas');
    const font = '12px system-ui, sans-serif';
    const measure = canvas.getContext('2d');
    if (!measure) throw new Error('no 2D canvas');
    measure.font = font;
    const placed = legendRows(measure, legend, w);
    const legendH = placed.length > 0 ? (1 + Math.max(...placed.map((p) => p.row))) * LEGEND_ROW + 4 : 0;
    canvas.width = w * 2;
    canvas.height = (h + legendH) * 2;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas');
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.scale(2, 2);
    ctx.drawImage(img, 0, 0, w, h);
    ctx.font = font;
    ctx.textBaseline = 'middle';
    for (const { e, x, row } of placed) {
      const y = h + 2 + row * LEGEND_ROW + LEGEND_ROW / 2;
      // The series' own line: its colour and dash, as the chart draws it.
      ctx.strokeStyle = e.color;
      ctx.lineWidth = 2.4;
      ctx.setLineDash(e.dash ? e.dash.split(/[ ,]+/).map(Number) : []);
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 16, y);
      ctx.stroke();
      ctx.fillStyle = textColor;
      ctx.fillText(e.label, x + 20, y);
    }
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
    if (!blob) throw new Error('the chart image could not be encoded');
    return new Uint8Array(await blob.arrayBuffer());
  } finally {
    URL.revokeObjectURL(url);
  }
}

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'chart'
  );
}

/** The zip's bytes: the run, its CSVs, and every chart marked `data-export-chart="name"` on the page. */
export async function buildExport(run: RunFile, root: ParentNode = document): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const entries: ZipEntry[] = [
    { name: 'run.json', data: enc.encode(`${JSON.stringify(run, null, 1)}\n`) },
    { name: 'steps.csv', data: enc.encode(stepsCsv(run)) },
    { name: 'evals.csv', data: enc.encode(evalsCsv(run)) },
    { name: 'train.csv', data: enc.encode(trainCsv(run)) },
  ];
  const bg = getComputedStyle(document.body).backgroundColor || '#ffffff';
  const seen = new Set<string>();
  const fg = getComputedStyle(document.body).color || '#555';
  for (const holder of root.querySelectorAll<HTMLElement>('[data-export-chart]')) {
    // The chart is the largest SVG inside (legend icons are small SVGs too).
    let svg: SVGSVGElement | null = null;
    let area = 0;
    for (const s of holder.querySelectorAll('svg')) {
      const b = s.getBoundingClientRect();
      if (b.width * b.height > area) {
        area = b.width * b.height;
        svg = s;
      }
    }
    if (!svg) continue;
    const legend = parseLegend(holder.dataset.exportLegend ?? '');
    let name = slug(holder.dataset.exportChart ?? 'chart');
    while (seen.has(name)) name += '-2';
    seen.add(name);
    try {
      entries.push({ name: `charts/${name}.png`, data: await svgToPng(svg, bg, legend, fg) });
    } catch {
      // a chart that cannot be drawn is left out; the numbers are in the CSVs
    }
  }
  return writeZip(entries);
}

export function exportFileName(run: RunFile): string {
  const stamp = (run.createdAt || new Date().toISOString()).slice(0, 19).replace(/[:T]/g, '-');
  return `motg-run-${stamp}.zip`;
}

/** A run from an exported .zip or a run.json. */
export async function readRunFile(file: File): Promise<RunFile> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const isZip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b;
  if (!isZip) return parseRunFile(new TextDecoder().decode(bytes));
  let entries: ZipEntry[];
  try {
    entries = readZip(bytes);
  } catch (e) {
    throw new RunFileError(`${file.name}: ${(e as Error).message}`);
  }
  const json = entries.find((e) => e.name === 'run.json' || e.name.endsWith('/run.json'));
  if (!json) throw new RunFileError(`${file.name}: no run.json inside (is it an export of this page?)`);
  return parseRunFile(new TextDecoder().decode(json.data));
}
