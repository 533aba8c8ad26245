// The Hugging Face source, kindly, in Debian's Chromium (the Hub's URLs routed: refused, or served from a
// local folder in the Hub's layout): with the network refused a Hub load says, beside the control and
// within 5 s, what happened and what to do next, the error code only under Details, and the built-in
// model stays loaded; before a download the size (from the Hub's listing) and the memory this device
// needs are shown, and a large download waits for a second click; the cache view lists the model a load
// cached, with the site's storage estimate, and deletes it. axe finds nothing serious in either state.
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import { modelReady, serveAsHub } from '../helpers/page.ts';

const MODEL_DIR = resolve('public/models/motg-tiny-random');
const FILES = [
  'config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'generation_config.json',
];
/** A repository whose weights the listing reports as 2 GiB: the page must ask before downloading. */
const BIG = 'test-org/motg-big';

/** Serious or critical axe violations in the Model panel, light and dark. */
async function panelViolations(page: Page): Promise<string[]> {
  const found: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const res = await new AxeBuilder({ page }).include('[data-testid="model-panel"]').analyze();
    for (const v of res.violations)
      if (v.impact === 'serious' || v.impact === 'critical')
        found.push(`${colorScheme} ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return found;
}

test('with the network refused, a Hub load says what to do next beside the control within 5 s', async ({
  page,
}) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.context().route('https://huggingface.co/**', (route) => route.abort('connectionrefused'));
  await page.goto('/');
  await modelReady(page);
  const builtin = await page.getByTestId('model').textContent();
  await page.getByLabel('Hugging Face').check();
  await page.getByLabel('Hub model id').fill('test-org/motg-tiny');
  const button = page.getByTestId('hub-load');
  const started = Date.now();
  await button.click();
  const note = page.getByTestId('hub-source').getByTestId('error');
  await expect(note).toBeVisible({ timeout: 5_000 });
  expect(Date.now() - started).toBeLessThan(5_000);
  await expect(note).toHaveAttribute('role', 'alert');
  await expect(note).toContainText('Could not reach the Hugging Face Hub');
  await expect(note).toContainText('Check your internet connection');
  await expect(note).toContainText('open it with Local folder');
  await expect(note.getByTestId('hub-kept')).toContainText('is still loaded');
  // The code only under Details.
  const code = note.getByTestId('hub-error-code');
  await expect(code).toBeHidden();
  await note.getByText('Details', { exact: true }).click();
  await expect(code).toHaveText('hub-network');
  // Beside the control (right under the button), not in the banner at the top of the page.
  const b = await button.boundingBox();
  const n = await note.boundingBox();
  if (!b || !n) throw new Error('no layout');
  expect(n.y).toBeGreaterThan(b.y);
  expect(n.y - (b.y + b.height)).toBeLessThan(120);
  await expect(page.locator('.notices [data-testid="error"]')).toHaveCount(0);
  // Nothing changed: the built-in model is still the one loaded.
  await expect(page.getByTestId('model')).toHaveText(builtin ?? '');
  await expect(page.getByTestId('model')).toHaveAttribute('data-loads', '1');
  expect(await panelViolations(page)).toEqual([]);
  expect(errors).toEqual([]);
});

test('size and memory before a download; the cache view lists and deletes a cached model', async ({
  page,
}) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const weightGets: string[] = [];
  await page.context().route('https://huggingface.co/**', (route) =>
    serveAsHub(route, {
      dir: MODEL_DIR,
      repos: ['test-org/motg-tiny', BIG],
      reportedSize: (repo, file, actual) =>
        repo === BIG && file === 'model.safetensors' ? 2 * 1024 ** 3 : actual,
      onWeights: (repo) => weightGets.push(repo),
    }),
  );
  await page.goto('/');
  await modelReady(page);
  await page.getByLabel('Hugging Face').check();
  const hub = page.getByTestId('hub-source');

  // A large download: Load shows its size and waits for a second click; nothing big was fetched.
  await page.getByLabel('Hub model id').fill(BIG);
  await page.getByTestId('hub-load').click();
  await expect(hub.getByTestId('hub-confirm')).toContainText('Download 2.00 GiB and load');
  await expect(hub.getByTestId('hub-size')).toContainText('2.00 GiB');
  expect(weightGets).toEqual([]);

  // A small one, checked first: the listing's exact size and the memory report for this device.
  const bytes = (await Promise.all(FILES.map((f) => stat(join(MODEL_DIR, f))))).reduce(
    (a, s) => a + s.size,
    0,
  );
  await page.getByLabel('Hub model id').fill('test-org/motg-tiny');
  await expect(hub.getByTestId('hub-confirm')).toHaveCount(0);
  await hub.getByTestId('hub-check-size').click();
  await expect(hub.getByTestId('hub-size')).toHaveAttribute('data-bytes', String(bytes));
  await expect(hub.getByTestId('hub-check')).toContainText(`in ${FILES.length} files`);
  await expect(hub.getByTestId('hub-fit')).toContainText('decoding needs about');
  await expect(hub.getByTestId('hub-fit')).toContainText('✓');
  // A ceiling on decoding speed from this device's measured copy bandwidth.
  const speed = hub.getByTestId('hub-speed');
  await expect(speed).toContainText('at most about');
  expect(Number(await speed.getAttribute('data-tokens-per-second'))).toBeGreaterThan(0);
  expect(weightGets).toEqual([]);
  await hub.getByTestId('hub-load').click();
  await expect(page.getByTestId('model')).toContainText('test-org/motg-tiny');
  expect(weightGets).toEqual(['test-org/motg-tiny']);

  // The cache view: the model with its files and size, the site's storage, and Delete.
  const cache = hub.getByTestId('hub-cache');
  await cache.getByText('Models kept in this browser').click();
  const row = cache.locator('tr[data-model="test-org/motg-tiny"]');
  await expect(row).toContainText(`(${FILES.length} files)`);
  await expect(row).toContainText('436.55 KiB');
  await expect(cache.getByTestId('hub-storage')).toContainText('This site stores');
  await expect(cache.getByTestId('hub-persist')).toBeVisible();
  expect(await panelViolations(page)).toEqual([]);
  await row.getByRole('button', { name: 'Delete test-org/motg-tiny from the browser cache' }).click();
  await expect(row).toHaveCount(0);
  await expect(cache.getByTestId('hub-cache-note')).toContainText('Deleted test-org/motg-tiny@main (5 files');
  const left = await page.evaluate(async () => {
    const names = await caches.keys();
    const urls: string[] = [];
    for (const n of names) for (const r of await (await caches.open(n)).keys()) urls.push(r.url);
    return urls.filter((u) => u.includes('motg-tiny'));
  });
  expect(left).toEqual([]);
  // The loaded model stays loaded.
  await expect(page.getByTestId('model')).toContainText('test-org/motg-tiny');
  expect(errors).toEqual([]);
});
