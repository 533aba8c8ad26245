// When the GPU goes away the page says so kindly, says what to do next, and keeps working. In Debian's
// Chromium with real WebGPU (SwiftShader):
//  - a lost device (the engine's GPUDevice destroyed in the worker through the `?test-hooks` hook, as a
//    driver reset would): the next decode shows what happened and two ways on; "Restart on the GPU" brings
//    the engine back on WebGPU, "Continue on the CPU" on the CPU reference; a decode runs after each, and
//    the earlier results stay on the page. Screenshot: docs/screenshots/08-device-lost.png.
//  - a device lost while GRPO trains: the run ends, the page shows the same recovery notice, and after a
//    restart a new run trains.
//  - a browser without WebGPU at all (no navigator.gpu, in the page nor in the engine's worker): a kind
//    notice, and the built-in model runs on the CPU path, labelled. (A browser whose WebGPU offers no
//    adapter is playground.spec.ts's CPU-path test.)
//  - a page opened over plain http from another host: WebGPU exists only in secure pages, so the notice
//    says to open it over https or on localhost rather than to change browsers.
import { join, resolve } from 'node:path';
import { expect, type Page, test } from '@playwright/test';
import type { TestHooks } from '../../src/client/engineClient.ts';
import { watchErrors } from '../helpers/page.ts';

const SHOTS = resolve('docs/screenshots');

declare global {
  interface Window {
    __motgTestHooks?: TestHooks;
  }
}

async function setNumber(page: Page, label: string, value: number): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(String(value));
}

/** A decode of the task item `index` (a knob change re-runs the decode), finished on both sides. */
async function decodeItem(page: Page, index: number): Promise<void> {
  await setNumber(page, 'Item #', index);
  await expect(page.getByTestId('results-item')).toContainText(`item ${index},`);
  await expect(page.getByTestId('side-discrete').getByTestId('generate-done')).toBeVisible();
  await expect(page.getByTestId('side-mixture').getByTestId('generate-done')).toBeVisible();
  await expect(page.getByTestId('side-mixture').getByTestId('mixture-chip').first()).toBeVisible();
}

async function loseDevice(page: Page): Promise<void> {
  await page.evaluate(async () => {
    if (!window.__motgTestHooks) throw new Error('no test hooks: open the page with ?test-hooks');
    await window.__motgTestHooks.loseDevice();
  });
}

test('a lost GPU device: a kind message, then the engine restarts on the GPU or goes on on the CPU', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await page.goto('/?test-hooks');
  await expect(page.getByTestId('engine-status')).toHaveText('ready · WebGPU');
  await expect(page.getByTestId('adapter')).toContainText('WebGPU');
  await setNumber(page, 'New tokens', 8);
  await decodeItem(page, 1);
  const status = page.getByTestId('engine-status');
  const notice = page.getByTestId('notice-device-lost');

  // The device goes away (as in a driver reset); the user's next decode finds out.
  await loseDevice(page);
  await page.getByTestId('generate').click();
  await expect(notice).toBeVisible();
  await expect(notice).toContainText('The GPU stopped responding');
  await expect(notice).toContainText('Your settings and results are kept');
  await expect(status).toHaveText('GPU lost');
  // One message, not the raw error beside it; the earlier decode is still on the page.
  await expect(page.getByTestId('error')).toHaveCount(0);
  await expect(page.getByTestId('results-item')).toContainText('item 1,');
  await expect(page.getByTestId('side-mixture').getByTestId('mixture-chip').first()).toBeVisible();
  await page.screenshot({ path: join(SHOTS, '08-device-lost.png') });

  // Restart on the GPU: a fresh worker and device, the same model, decodes again.
  await notice.getByRole('button', { name: 'Restart on the GPU' }).click();
  await expect(notice).toHaveCount(0);
  await expect(status).toHaveText('ready · WebGPU');
  await expect(page.getByTestId('adapter')).toContainText('WebGPU');
  await expect(page.getByTestId('model')).toContainText('parameters');
  await decodeItem(page, 2);

  // Lost again; this time the user goes on on the CPU.
  await loseDevice(page);
  await page.getByTestId('generate').click();
  await expect(notice).toBeVisible();
  await notice.getByRole('button', { name: 'Continue on the CPU' }).click();
  await expect(notice).toHaveCount(0);
  await expect(status).toHaveText('ready · CPU — slower');
  await expect(page.getByTestId('adapter')).toContainText('CPU — slower (you chose the CPU)');
  // The user chose it: no "no WebGPU here" notice, and the way back is one click.
  await expect(page.getByTestId('notice-no-webgpu')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'try WebGPU again' })).toBeVisible();
  await decodeItem(page, 3);
  await expect(page.getByTestId('error')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a device lost while GRPO trains: the run stops with the recovery notice, and training works after a restart', async ({
  page,
}) => {
  const errors = watchErrors(page);
  await page.goto('/?test-hooks');
  await expect(page.getByTestId('engine-status')).toHaveText('ready · WebGPU');
  const panel = page.locator('section[aria-labelledby="train-heading"]');
  await setNumber(page, 'G (completions per prompt)', 2);
  await setNumber(page, 'Completion tokens', 8);
  await setNumber(page, 'Steps', 500);
  await panel.getByTestId('train-start').click();
  await expect(panel.getByTestId('train-chart-reward')).toHaveAttribute('data-points', /^[1-9]/, {
    timeout: 120_000,
  });
  await loseDevice(page);
  const notice = page.getByTestId('notice-device-lost');
  await expect(notice).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId('engine-status')).toHaveText('GPU lost');
  await expect(panel.getByTestId('train-active')).toHaveCount(0);
  // The steps done before the loss stay on the charts.
  await expect(panel.getByTestId('train-run-count')).toContainText('1 run');

  await notice.getByRole('button', { name: 'Restart on the GPU' }).click();
  await expect(page.getByTestId('engine-status')).toHaveText('ready · WebGPU');
  await setNumber(page, 'Steps', 1);
  await panel.getByTestId('train-start').click();
  await expect(panel.getByTestId('train-run-count')).toContainText('2 runs');
  await expect(panel.getByTestId('train-active')).toHaveCount(0, { timeout: 120_000 });
  await expect(panel.getByTestId('train-error')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a browser without WebGPU: a kind notice, and the built-in model runs on the CPU path', async ({
  page,
}) => {
  const errors = watchErrors(page);
  // No navigator.gpu in the page, nor in the engine's worker (its script is served with one line first).
  await page.addInitScript(() => {
    delete (Navigator.prototype as { gpu?: unknown }).gpu;
  });
  await page.context().route(/\/engine\.worker[^/]*\.js(\?.*)?$/, async (route) => {
    const response = await route.fetch();
    const body = `delete WorkerNavigator.prototype.gpu;\n${await response.text()}`;
    await route.fulfill({ response, body });
  });
  await page.goto('/');
  expect(await page.evaluate(() => 'gpu' in navigator)).toBe(false);
  const notice = page.getByTestId('notice-no-webgpu');
  await expect(notice).toContainText('No WebGPU here, so the model runs on the CPU — slower.');
  await expect(notice).toContainText('This browser does not offer WebGPU.');
  await expect(notice).toContainText('Everything still works with the built-in model.');
  await expect(page.getByTestId('engine-status')).toHaveText('ready · CPU — slower');
  await expect(page.getByTestId('adapter')).toContainText('CPU — slower (no WebGPU)');
  await setNumber(page, 'New tokens', 8);
  await decodeItem(page, 1);
  await expect(page.getByTestId('error')).toHaveCount(0);
  await page.screenshot({ path: test.info().outputPath('no-webgpu.png') });
  expect(errors).toEqual([]);
});

test('a page opened over plain http from another host: WebGPU needs https or localhost, and it says so', async ({
  page,
  baseURL,
}) => {
  const errors = watchErrors(page);
  // http://motg-lan.test is the playground as served on a LAN address: not a secure context, so the
  // browser offers no navigator.gpu there (nor in its workers). The requests go to the test server.
  const lan = 'http://motg-lan.test';
  await page.context().route(`${lan}/**`, async (route) => {
    const url = new URL(route.request().url());
    const response = await route.fetch({ url: `${baseURL}${url.pathname}${url.search}` });
    await route.fulfill({ response });
  });
  await page.goto(`${lan}/`);
  expect(await page.evaluate(() => [isSecureContext, 'gpu' in navigator])).toEqual([false, false]);
  const notice = page.getByTestId('notice-no-webgpu');
  await expect(notice).toContainText('WebGPU works only on secure pages');
  await expect(notice).toContainText('https://');
  await expect(page.getByTestId('engine-status')).toHaveText('ready · CPU — slower');
  await setNumber(page, 'New tokens', 8);
  await decodeItem(page, 1);
  await page.screenshot({ path: test.info().outputPath('plain-http.png') });
  expect(errors).toEqual([]);
});
