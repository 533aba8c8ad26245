// The playground in Debian's Chromium with real WebGPU (SwiftShader): the example run is on screen at once,
// the built-in model loads, a side-by-side decode shows mixture chips and the hidden-state entropy heatmap,
// knobs re-run without reloading the model and land in the URL, export writes a .zip that import reads back,
// and a reload restores the run. Also: a Hub model (the Hub's URLs routed to a local folder), a local
// folder, a refusal when the settings do not fit, and the CPU path without WebGPU. Screenshots go to
// docs/screenshots/. Settings are kept tiny: SwiftShader is slow.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { readZip } from '../../src/client/zip.ts';
import { modelReady, serveAsHub, setNumber, watchErrors } from '../helpers/page.ts';

const SHOTS = resolve('docs/screenshots');
const MODEL_DIR = resolve('public/models/motg-tiny-random');

test('example run at once, built-in model, side-by-side decode, share, export, import, reload', async ({
  page,
}, info) => {
  const errors = watchErrors(page);
  await page.goto('/');
  // Alive at once: the bundled example run is on screen before the model has loaded.
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'example', { timeout: 10_000 });
  await expect(page.getByTestId('side-mixture').getByTestId('mixture-chip').first()).toBeVisible();
  await expect(page.getByTestId('entropy-heatmap').first()).toBeVisible();
  await expect(page.getByTestId('eval-table')).toBeVisible();
  await page.screenshot({ path: join(SHOTS, '01-example-run.png'), fullPage: true });

  // The built-in model loads on WebGPU.
  await modelReady(page);
  await expect(page.getByTestId('adapter')).toContainText('WebGPU');
  await expect(page.getByTestId('fit-status')).toContainText('Fits');
  await expect(page.getByTestId('model')).toHaveAttribute('data-loads', '1');

  // Side by side: discrete and the dirichlet preset, same prompt and seed.
  await setNumber(page, 'New tokens', 16);
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
  const discrete = page.getByTestId('side-discrete');
  const mixture = page.getByTestId('side-mixture');
  await expect(discrete.getByTestId('generate-done')).toBeVisible();
  await expect(mixture.getByTestId('generate-done')).toBeVisible();
  await expect(mixture.getByTestId('mixture-chip').first()).toBeVisible();
  expect(await discrete.getByTestId('token-stream').locator('.chip').count()).toBeLessThanOrEqual(16);
  await expect(page.getByTestId('entropy-heatmap')).toHaveCount(2);
  await expect(page.getByTestId('entropy-chart')).toBeVisible();
  // A chip's details open on keyboard focus.
  await mixture.getByTestId('mixture-chip').first().focus();
  await expect(mixture.getByTestId('step-details')).toContainText('Step 0 · mixture');
  await expect(mixture.getByTestId('step-details')).toContainText('representative');
  await discrete.getByTestId('token-stream').locator('.chip').first().focus();
  await page.keyboard.press('ArrowRight');
  await expect(discrete.getByTestId('step-details')).toContainText('Step 1 · discrete');
  await page.screenshot({ path: join(SHOTS, '02-side-by-side-decode.png'), fullPage: true });

  // A cheap knob re-runs at once and never reloads the model; it lands in the URL hash.
  await setNumber(page, 'Temperature', 0.5);
  await expect(mixture.locator('.params')).toContainText('temperature 0.5');
  await expect(mixture.getByTestId('generate-done')).toBeVisible();
  await expect(page.getByTestId('model')).toHaveAttribute('data-loads', '1');
  await setNumber(page, 'Group size G', 2);
  await expect(page.getByTestId('model')).toHaveAttribute('data-loads', '1');
  expect(new URL(page.url()).hash).toContain('t=0.5');
  expect(new URL(page.url()).hash).toContain('m.g=2');

  // Evaluate: a tiny held-out run lands in the comparison table.
  await setNumber(page, 'Questions per task', 2);
  await setNumber(page, 'Max new tokens', 24);
  await page.getByTestId('eval-run').click();
  await expect(page.getByTestId('eval-table').locator('tbody tr')).toHaveCount(1);
  await expect(page.getByTestId('eval-table')).not.toContainText('running', { timeout: 120_000 });
  await expect(page.getByTestId('eval-table')).toContainText('chain_sum');
  await page
    .locator('section[aria-labelledby="evaluate-heading"]')
    .screenshot({ path: join(SHOTS, '09-evaluate.png') });

  // Export: one .zip with the run, its CSVs and the charts as PNG.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  const zipPath = info.outputPath('run.zip');
  await download.saveAs(zipPath);
  expect(download.suggestedFilename()).toMatch(/^motg-run-.*\.zip$/);
  const entries = readZip(new Uint8Array(await readFile(zipPath)));
  const names = entries.map((e) => e.name);
  expect(names).toEqual(
    expect.arrayContaining(['run.json', 'steps.csv', 'evals.csv', 'charts/next-token-entropy.png']),
  );
  expect(names.some((n) => n.startsWith('charts/hidden-entropy-'))).toBe(true);
  const run = JSON.parse(new TextDecoder().decode(entries.find((e) => e.name === 'run.json')?.data));
  expect(run.format).toBe('motg-run');
  expect(run.decode.sides.map((s: { mode: string }) => s.mode)).toEqual(['discrete-top-k', 'dirichlet']);
  expect(run.settings.decode.temperature).toBe(0.5);
  // The mixture stream marks every step whose representative is not the most probable token, and only those.
  type Step = { mode: string; ids: number[]; representative: number; argmax?: number };
  const offTop = (run.decode.sides[1].steps as Step[]).filter(
    (st) => st.mode === 'mixture' && st.ids.length > 1 && st.argmax !== st.representative,
  ).length;
  expect((run.decode.sides[1].steps as Step[]).every((st) => typeof st.argmax === 'number')).toBe(true);
  await expect(mixture.getByTestId('token-stream').locator('[data-off-top]')).toHaveCount(offTop);
  const png = entries.find((e) => e.name === 'charts/next-token-entropy.png')?.data;
  expect(Array.from(png?.slice(1, 4) ?? [])).toEqual([0x50, 0x4e, 0x47]);
  // A real chart image, not a legend icon: its PNG width (bytes 16..19) is the chart's, doubled.
  expect(png ? new DataView(png.buffer, png.byteOffset).getUint32(16) : 0).toBeGreaterThan(400);
  const chipsBefore = await mixture.getByTestId('token-stream').locator('.chip').count();

  // A link reproduces the setup in a fresh tab.
  const other = await page.context().newPage();
  await other.goto(page.url());
  await expect(other.getByLabel('Temperature', { exact: true })).toHaveValue('0.5');
  await expect(other.getByLabel('Group size G', { exact: true })).toHaveValue('2');
  await other.close();

  // Reload: the finished run comes back from the browser's storage.
  await page.reload();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'restored', {
    timeout: 10_000,
  });
  await expect(page.getByTestId('side-mixture').getByTestId('token-stream').locator('.chip')).toHaveCount(
    chipsBefore,
  );
  await expect(page.getByTestId('eval-table').locator('tbody tr')).toHaveCount(1);
  await expect(page.getByLabel('Temperature', { exact: true })).toHaveValue('0.5');

  // Import the exported file: it is shown as an imported run.
  await page.getByTestId('import').setInputFiles(zipPath);
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'imported');
  await expect(page.getByTestId('side-mixture').getByTestId('mixture-chip').first()).toBeVisible();
  await modelReady(page);
  expect(errors).toEqual([]);
});

test('a stopped decode and a stopped evaluation are kept as interrupted and survive a reload', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await page.goto('/');
  await modelReady(page);
  // The trained built-in model answers in ~20 tokens; a random model (loaded as a local folder) runs
  // to the length limit: long enough to stop by hand.
  await page.getByLabel('Local folder').check();
  await page.locator('#folder-input').setInputFiles(MODEL_DIR);
  await expect(page.getByTestId('model')).toContainText('motg-tiny-random');
  await setNumber(page, 'Temperature', 0);
  await setNumber(page, 'New tokens', 300);
  await page.getByTestId('generate').click();
  const stop = page.getByTestId('decode-panel').getByRole('button', { name: 'Stop' });
  await expect(stop).toBeEnabled();
  await expect(
    page.getByTestId('side-discrete').getByTestId('token-stream').locator('.chip').nth(3),
  ).toBeVisible();
  await stop.click();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
  await expect(page.getByTestId('side-discrete').getByTestId('generate-done')).toContainText('interrupted');
  await page.reload();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'restored', {
    timeout: 10_000,
  });
  await expect(page.getByTestId('side-discrete').getByTestId('generate-done')).toContainText('interrupted');
  expect(errors).toEqual([]);
});

test('a Hugging Face model id: files fetched with progress, cached, loaded; the link keeps the id', async ({
  page,
}) => {
  const errors = watchErrors(page);
  let weightFetches = 0;
  await page.context().route('https://huggingface.co/**', (route) => {
    if (route.request().url().endsWith('model.safetensors') && !route.request().headers().range)
      weightFetches++;
    return serveAsHub(route, { dir: MODEL_DIR, repos: ['test-org/motg-tiny'] });
  });
  await page.goto('/');
  await modelReady(page);
  await page.getByLabel('Hugging Face').check();
  await page.getByLabel('Hub model id').fill('test-org/motg-tiny');
  await page.getByTestId('hub-load').click();
  await expect(page.getByTestId('load-progress')).toBeVisible();
  await expect(page.getByTestId('load-progress')).toContainText('model.safetensors');
  await expect(page.getByTestId('model')).toContainText('test-org/motg-tiny');
  await expect(page.getByTestId('model')).toHaveAttribute('data-loads', '2');
  expect(new URL(page.url()).hash).toContain('m=hf%3Atest-org%2Fmotg-tiny');
  expect(weightFetches).toBe(1);
  // A missing repository is refused with a clear message, and the loaded model stays.
  await page.getByLabel('Hub model id').fill('test-org/missing');
  await page.getByTestId('hub-load').click();
  await expect(page.getByTestId('error')).toContainText('no config.json');
  await expect(page.getByTestId('model')).toContainText('test-org/motg-tiny');
  await page.screenshot({ path: join(SHOTS, '04-hub-model.png'), fullPage: true });
  // Reloading the link loads it again from the browser cache (no second weights download).
  await page.reload();
  await expect(page.getByTestId('model')).toContainText('test-org/motg-tiny');
  expect(weightFetches).toBe(1);
  expect(errors).toEqual([]);
});

test('a local folder in the Hugging Face layout loads (picker and drag-and-drop); settings that do not fit are refused before loading', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await page.goto('/');
  await modelReady(page);
  await page.getByLabel('Local folder').check();
  await page.locator('#folder-input').setInputFiles(MODEL_DIR);
  await expect(page.getByTestId('model')).toContainText('motg-tiny-random');
  await expect(page.getByTestId('model')).toHaveAttribute('data-loads', '2');
  // Drag and drop: the built-in model's files dropped on the drop zone load the same way.
  const builtinDir = resolve('public/models/motg-builtin');
  const names = [
    'config.json',
    'generation_config.json',
    'model.safetensors',
    'tokenizer.json',
    'tokenizer_config.json',
  ];
  const payload = await Promise.all(
    names.map(async (name) => ({ name, bytes: (await readFile(join(builtinDir, name))).toString('base64') })),
  );
  await page.getByTestId('dropzone').evaluate((zone, files) => {
    const dt = new DataTransfer();
    for (const f of files)
      dt.items.add(new File([Uint8Array.from(atob(f.bytes), (c) => c.charCodeAt(0))], f.name));
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, payload);
  await expect(page.getByTestId('model')).toHaveAttribute('data-loads', '3');
  await expect(page.getByTestId('model')).toContainText('0.13 M parameters');
  await expect(page.getByTestId('model')).toContainText('hidden 64');
  // Too big for this adapter: refused clearly, nothing allocated, the model stays.
  await setNumber(page, 'Group size G', 256);
  await setNumber(page, 'Tokens per sequence N', 65536);
  await expect(page.getByTestId('fit-status')).toContainText("Won't fit");
  await page.getByLabel('Built-in').check();
  await page.getByRole('button', { name: 'Load built-in' }).click();
  await expect(page.getByTestId('error')).toContainText('was not loaded');
  await expect(page.getByTestId('model')).toHaveAttribute('data-loads', '3');
  await page.getByTestId('model-panel').screenshot({ path: join(SHOTS, '05-wont-fit.png') });
  expect(errors).toEqual([]);
});

test('narrow screen and dark theme', async ({ page }) => {
  await page.setViewportSize({ width: 420, height: 900 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/');
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'example');
  await modelReady(page);
  await page.screenshot({ path: join(SHOTS, '03-narrow-dark.png'), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});

test('without WebGPU the built-in model runs on the CPU path, labelled, with a kind notice', async ({
  playwright,
  baseURL,
}) => {
  // A browser without --enable-unsafe-webgpu: Chromium on Linux then offers no WebGPU adapter.
  const browser = await playwright.chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-quic', '--disable-background-networking', '--disable-component-update'],
  });
  try {
    const page = await browser.newPage({ baseURL });
    const errors = watchErrors(page);
    await page.goto('/');
    await expect(page.getByTestId('adapter')).toContainText('CPU — slower');
    await expect(page.getByTestId('notice-no-webgpu')).toBeVisible();
    await modelReady(page);
    await setNumber(page, 'New tokens', 8);
    await page.getByTestId('generate').click();
    await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
    await expect(page.getByTestId('side-mixture').getByTestId('mixture-chip').first()).toBeVisible();
    await page.screenshot({ path: join(SHOTS, '06-cpu-path.png') });
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
});
