// Issue 16, fair and legible comparisons in Debian's Chromium (SwiftShader): one colour per mode/preset in
// the decode, evaluation and training charts; stepped lines; the "mixing off" label inside the chart;
// heatmaps whose columns line up; legends that never squeeze a plot (3 runs); a number field that commits
// once ("32" is one decode at 32, not one at 3 first); refused controls that look disabled and say why; a
// shared link in a fresh browser context whose shown results are marked until one click runs them; and a
// run re-zipped with deflate by Python that imports back.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, type Locator, test } from '@playwright/test';
import { DEFAULT_SETTINGS, settingsToHash } from '../../src/store/settings.ts';
import { modelReady, setNumber, watchErrors } from '../helpers/page.ts';

declare global {
  interface Window {
    __engineCalls: { path: string; arg: string }[];
  }
}

/** Records every call the page makes to the engine worker (comlink APPLY messages). */
function recordEngineCalls() {
  window.__engineCalls = [];
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (this: Worker, msg: unknown, ...rest: never[]) {
    const m = msg as { type?: string; path?: string[]; argumentList?: { value?: unknown }[] } | null;
    if (m?.type === 'APPLY') {
      let arg = '';
      try {
        arg = JSON.stringify((m.argumentList ?? []).map((x) => x.value ?? null));
      } catch {
        arg = '?';
      }
      window.__engineCalls.push({ path: (m.path ?? []).join('.'), arg });
    }
    return post.call(this, msg, ...rest);
  } as typeof post;
}

/** Each line of a recharts chart: its stroke and dash, in drawing order. */
async function lineStyles(chart: Locator): Promise<{ stroke: string; dash: string | null }[]> {
  return chart
    .locator('path.recharts-line-curve')
    .evaluateAll((ps) =>
      ps.map((p) => ({ stroke: p.getAttribute('stroke') ?? '', dash: p.getAttribute('stroke-dasharray') })),
    );
}

/** The legend under a chart: name → colour. */
async function legendColours(chart: Locator): Promise<Record<string, string>> {
  const items = await chart
    .locator('.chart-legend-item')
    .evaluateAll((els) => els.map((e) => [e.textContent ?? '', e.getAttribute('data-color') ?? '']));
  return Object.fromEntries(items);
}

/** True when every segment of an SVG path is horizontal or vertical (a stepped line, no curves). */
function stepped(d: string): boolean {
  if (/[CQSAT]/i.test(d)) return false;
  const pts = [...d.matchAll(/(-?[\d.]+)[ ,](-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  return (
    pts.length > 2 &&
    pts.every(
      (p, i) => i === 0 || Math.abs(p[0] - pts[i - 1][0]) < 0.01 || Math.abs(p[1] - pts[i - 1][1]) < 0.01,
    )
  );
}

test('one colour per preset in decode, evaluation and training; stepped charts; "32" is one decode; refusals say why', async ({
  page,
}) => {
  test.setTimeout(600_000);
  const errors = watchErrors(page);
  await page.addInitScript(recordEngineCalls);
  await page.goto('/');
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'example', { timeout: 10_000 });

  // The example's decode: the "mixing off" label sits inside its chart, the two heatmaps (runs of different
  // lengths) share one cell width and their columns start at the same x.
  const entropy = page.getByTestId('entropy-chart');
  const label = entropy.getByTestId('mixing-off-label');
  await expect(entropy.locator('svg.recharts-surface')).toBeVisible();
  const example = JSON.parse(readFileSync(resolve('public/example-run.json'), 'utf8'));
  if (example.decode.sides.some((s: { mixingOffAt: number | null }) => s.mixingOffAt !== null)) {
    await expect(label).toBeVisible();
    // Inside its own SVG on every side (what the PNG export draws is that SVG).
    const inside = () =>
      label.evaluate((t) => {
        const a = t.getBoundingClientRect();
        const b = (t as SVGTextElement).ownerSVGElement?.getBoundingClientRect();
        return !!b && a.width > 0 && a.left >= b.left && a.top >= b.top && a.right <= b.right + 0.5;
      });
    await expect.poll(inside).toBe(true);
  }
  const heatmaps = page.getByTestId('entropy-heatmap');
  await expect(heatmaps).toHaveCount(2);
  const widths = await heatmaps.evaluateAll((fs) => fs.map((f) => f.getAttribute('data-cell-width')));
  expect(widths[0]).toBe(widths[1]);
  const firstCells = await heatmaps.evaluateAll((fs) =>
    fs.map((f) => {
      const r = f.querySelector('rect')?.getBoundingClientRect();
      return r ? [Math.round(r.x), Math.round(r.width)] : null;
    }),
  );
  expect(firstCells[0]).toEqual(firstCells[1]);

  // Typing "32" slowly (half a second per key) into New tokens: one decode, at 32.
  await modelReady(page);
  await page.evaluate(() => {
    window.__engineCalls = [];
  });
  const newTokens = page.getByLabel('New tokens', { exact: true });
  await newTokens.fill('');
  await newTokens.pressSequentially('32', { delay: 500 });
  // While it decodes, Run is refused: disabled, and it says why (it never turns into "Run again").
  await expect(page.getByTestId('decode-run-why')).toBeVisible({ timeout: 10_000 });
  await expect(page.getByTestId('generate')).toBeDisabled();
  await expect(page.getByTestId('generate')).toHaveText('Run');
  const mixture = page.getByTestId('side-mixture');
  await expect(mixture.getByTestId('generate-done')).toBeVisible();
  await expect(page.getByTestId('generate')).toBeEnabled();
  await page.waitForTimeout(1500); // a late second decode would start within this
  const calls = await page.evaluate(() => window.__engineCalls);
  expect(calls.filter((c) => c.path === 'tokenize')).toHaveLength(1);
  const decodes = calls.filter((c) => c.path === 'rollout' || c.path === 'generate');
  // One decode: its two sides (the baseline and the preset), each at 32 new tokens.
  expect(decodes.length).toBeGreaterThanOrEqual(1);
  expect(decodes.length).toBeLessThanOrEqual(2);
  for (const c of decodes) expect(c.arg).toContain('"maxNewTokens":32');
  await expect(page.getByTestId('decode-stale')).toHaveCount(0);

  // Stepped lines; each side's line in its mode's colour (the legend names the mode).
  const lines = await lineStyles(entropy);
  const decodeColours = await legendColours(entropy);
  expect(Object.keys(decodeColours)).toEqual(['discrete-top-k', 'dirichlet']);
  expect(lines.map((l) => l.stroke)).toEqual(Object.values(decodeColours));
  expect(decodeColours['discrete-top-k']).not.toBe(decodeColours.dirichlet);
  for (const d of await entropy
    .locator('path.recharts-line-curve')
    .evaluateAll((ps) => ps.map((p) => p.getAttribute('d') ?? '')))
    expect(stepped(d), d.slice(0, 80)).toBe(true);
  // Smoothing is off by default and one click away.
  await expect(entropy).toHaveAttribute('data-smooth', 'false');
  await entropy.getByTestId('entropy-smooth').check();
  await expect(entropy).toHaveAttribute('data-smooth', 'true');

  // An evaluation in the mixture preset: its bar has the decode's dirichlet colour.
  const evaluate = page.locator('section[aria-labelledby="evaluate-heading"]');
  await setNumber(evaluate, 'Questions per task', 1);
  await setNumber(evaluate, 'Samples per question', 1);
  await setNumber(evaluate, 'Max new tokens', 8);
  await evaluate.getByLabel('Decode mode', { exact: true }).selectOption('dirichlet');
  await evaluate.getByTestId('eval-run').click();
  await expect(evaluate.getByTestId('eval-table').locator('tbody tr')).toHaveCount(1);
  await expect(evaluate.getByTestId('eval-table')).not.toContainText('running', { timeout: 120_000 });
  const bar = evaluate.getByTestId('eval-chart').locator('.recharts-bar-rectangle path').first();
  await expect(bar).toHaveAttribute('fill', decodeColours.dirichlet);
  await expect(evaluate.getByTestId('eval-table').locator('tbody tr .swatch')).toHaveAttribute(
    'data-color',
    decodeColours.dirichlet,
  );

  // A two-step GRPO run of the dirichlet preset: its line has the same colour. Start is refused while it runs.
  const train = page.locator('section[aria-labelledby="train-heading"]');
  await setNumber(train, 'G (completions per prompt)', 2);
  await setNumber(train, 'Steps', 2);
  await setNumber(train, 'Completion tokens', 8);
  await train.getByTestId('train-start').click();
  await expect(train.getByTestId('train-start')).toBeDisabled();
  await expect(train.getByTestId('train-start-why')).toContainText('in progress');
  await expect(train.getByTestId('train-chart-reward')).toHaveAttribute('data-points', '2', {
    timeout: 240_000,
  });
  await expect(train.getByTestId('train-active')).toHaveCount(0, { timeout: 120_000 });
  await expect(train.getByTestId('train-start')).toBeEnabled();
  const reward = await lineStyles(train.getByTestId('train-chart-reward'));
  expect(reward.map((l) => l.stroke)).toEqual([decodeColours.dirichlet]);
  expect(errors).toEqual([]);
});

test('three runs: the hidden-entropy plot keeps its height, a preset’s second run is dashed; a deflated re-zip imports', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await page.goto('/');
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'example', { timeout: 10_000 });
  const train = page.locator('section[aria-labelledby="train-heading"]');
  const hidden = train.getByTestId('train-chart-hidden-entropy');
  const plotHeight = async () => (await hidden.locator('.chart-box').boundingBox())?.height ?? 0;
  const before = await plotHeight();
  expect(before).toBeGreaterThan(120);

  // The example's runs and a copy of its last run: two runs of one preset.
  const example = JSON.parse(readFileSync(resolve('public/example-run.json'), 'utf8'));
  const last = example.train[example.train.length - 1];
  example.train.push({ ...last, id: `${last.id}-again`, label: `${last.label} (again)` });
  expect(example.train.length).toBeGreaterThanOrEqual(3);
  await page.getByTestId('import').setInputFiles({
    name: 'three-runs.json',
    mimeType: 'application/json',
    buffer: Buffer.from(JSON.stringify(example)),
  });
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'imported');
  await expect(train.getByTestId('train-legend-reward').locator('li')).toHaveCount(example.train.length);
  expect(await plotHeight()).toBeCloseTo(before, 0);
  await expect(hidden.locator('.chart-legend')).toBeVisible();
  const rewardLines = await lineStyles(train.getByTestId('train-chart-reward'));
  const n = rewardLines.length;
  // The copy: its preset's family of colour, and a dash where the first run of that preset is solid.
  expect(rewardLines[n - 2].dash ?? '').toBe('');
  expect(rewardLines[n - 1].dash).toBe('7 3');
  expect(rewardLines[n - 1].stroke).not.toBe(rewardLines[n - 2].stroke);

  // A run exported by the page and re-zipped by Python's zipfile with deflate (in a folder) imports back.
  await page.getByTestId('import').setInputFiles(resolve('test/fixtures-local/run-repacked-deflate.zip'));
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'imported');
  await expect(page.getByTestId('run-origin')).toContainText('Imported run');
  await expect(page.getByTestId('side-mixture').getByTestId('mixture-chip').first()).toBeVisible();
  await expect(train.getByTestId('train-legend-reward')).toHaveCount(0);
  await expect(train.getByTestId('train-chart-reward')).toHaveAttribute('data-points', '4');
  expect(errors).toEqual([]);
});

test('a shared link in a fresh browser context marks results of other settings and runs its own in one click', async ({
  browser,
}) => {
  const link = settingsToHash({
    ...DEFAULT_SETTINGS,
    decode: { ...DEFAULT_SETTINGS.decode, index: 3, temperature: 0.5, maxNewTokens: 12 },
  });
  expect(link).toContain('t=0.5');
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`/${link}`);
  await expect(page.getByLabel('Temperature', { exact: true })).toHaveValue('0.5');
  // The example's results are on screen, marked as another setup's, before the model is even loaded.
  const stale = page.getByTestId('decode-stale');
  await expect(stale).toContainText('other settings');
  await expect(stale).toContainText('temperature');
  await expect(stale).toContainText('prompt');
  await modelReady(page);
  await page.getByTestId('decode-run-shown').click();
  const mixture = page.getByTestId('side-mixture');
  await expect(mixture.getByTestId('generate-done')).toBeVisible();
  await expect(page.getByTestId('side-discrete').getByTestId('generate-done')).toBeVisible();
  await expect(stale).toHaveCount(0);
  await expect(page.getByTestId('results-item')).toContainText('item 3');
  await expect(mixture.locator('.params')).toContainText('temperature 0.5');
  expect(await mixture.getByTestId('token-stream').locator('.chip').count()).toBeLessThanOrEqual(12);
  expect(errors).toEqual([]);
  await context.close();
});
