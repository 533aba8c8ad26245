// The first page in Debian's Chromium with real WebGPU (SwiftShader): it shows the adapter, loads the
// built-in model in the worker, and streams a greedy generation token by token.
import { expect, test } from '@playwright/test';

test('page shows the WebGPU adapter and streams generated tokens', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('adapter')).toContainText('WebGPU');
  await expect(page.getByTestId('model')).toContainText('parameters');
  await page.getByLabel('New tokens', { exact: true }).fill('12');
  await page.getByTestId('generate').click();
  // The discrete side of the playground's decode; the page shows the bundled example run until this one
  // is the tab's own (live) run.
  const side = page.getByTestId('side-discrete');
  // Tokens arrive one by one: the stream grows before the run is done.
  await expect(side.getByTestId('token-stream').locator('.token').first()).toBeVisible();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
  await expect(side.getByTestId('generate-done')).toBeVisible();
  const count = await side.getByTestId('token-stream').locator('.token').count();
  expect(count).toBeGreaterThanOrEqual(1);
  expect(count).toBeLessThanOrEqual(12);
  await expect(side.getByTestId('generate-done')).toContainText(`${count} tokens`);
  expect(errors).toEqual([]);
});
