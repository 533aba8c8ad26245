// A GRPO run interrupted by a reload resumes in the page from the checkpoint the browser kept (IndexedDB)
// and ends with the same metrics as an uninterrupted run of the same seed on the same backend (WebGPU on
// SwiftShader here), compared in the runs' exports with the timing fields left out. A second run in the
// same tab starts from the model as loaded, not from the first run's weights, and repeats it.
import { readFile } from 'node:fs/promises';
import { type Browser, expect, type Page, test } from '@playwright/test';
import { readZip } from '../../src/client/zip.ts';
import { deterministicMetrics, type StepMetrics } from '../../src/rl/metrics.ts';

const STEPS = 6;

async function setNumber(page: Page, label: string, value: number): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(String(value));
}

async function ready(page: Page): Promise<void> {
  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(page.getByTestId('model')).toContainText('parameters');
}

/** The exported run's training runs (run.json inside the export zip). */
async function exportedRuns(
  page: Page,
): Promise<{ label: string; status: string; history: StepMetrics[] }[]> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  const entries = readZip(new Uint8Array(await readFile(await download.path())));
  const json = entries.find((e) => e.name === 'run.json');
  if (!json) throw new Error('run.json missing from the export');
  return JSON.parse(new TextDecoder().decode(json.data)).train;
}

const panelOf = (page: Page) => page.locator('section[aria-labelledby="train-heading"]');

async function uninterrupted(browser: Browser, hash: string): Promise<StepMetrics[]> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`/${hash}`);
  await ready(page);
  const panel = panelOf(page);
  await expect(panel.getByLabel('Checkpoint every (steps)', { exact: true })).toHaveValue('2');
  await panel.getByTestId('train-start').click();
  // Once started, the page shows this tab's run (one), not the bundled example's two.
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
  await expect(panel.getByTestId('train-run-list').locator('li')).toHaveCount(1);
  await expect(panel.getByTestId('train-run-list').locator('li')).toHaveAttribute('data-status', 'finished', {
    timeout: 280_000,
  });
  // The engine now holds the trained weights, and says so; a second run still starts from the model as
  // loaded (the default), so with the same seed it repeats the first run step for step.
  await expect(page.getByTestId('model-weights')).toHaveAttribute('data-trained', 'true');
  await panel.getByTestId('train-start').click();
  await expect(panel.getByTestId('train-run-list').locator('li').nth(1)).toHaveAttribute(
    'data-status',
    'finished',
    { timeout: 280_000 },
  );
  const runs = await exportedRuns(page);
  await context.close();
  expect(runs).toHaveLength(2);
  expect(runs[1].history.map(deterministicMetrics)).toEqual(runs[0].history.map(deterministicMetrics));
  return runs[0].history;
}

test('resume: a run interrupted by a reload continues from its checkpoint and ends as an uninterrupted run', async ({
  page,
  browser,
}) => {
  test.setTimeout(900_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await ready(page);
  const panel = panelOf(page);
  await setNumber(page, 'G (completions per prompt)', 2);
  await setNumber(page, 'Steps', STEPS);
  await setNumber(page, 'Completion tokens', 16);
  await setNumber(page, 'Checkpoint every (steps)', 2);
  await expect.poll(() => new URL(page.url()).hash).toContain('g.ck=2');
  const hash = new URL(page.url()).hash;

  // Interrupt the run by a reload once it is past its step-2 checkpoint.
  await panel.getByTestId('train-start').click();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
  await expect(panel.getByTestId('train-run-list').locator('li')).toHaveCount(1);
  await expect(panel.getByTestId('train-chart-reward')).toHaveAttribute('data-points', '3', {
    timeout: 280_000,
  });
  await page.reload();
  await ready(page);
  const item = panel.getByTestId('train-run-list').locator('li');
  await expect(item).toHaveAttribute('data-status', 'interrupted');
  const resume = panel.getByTestId('train-resume-run');
  await expect(resume).toHaveText('Resume from step 2');
  await expect(resume).toHaveAttribute('aria-disabled', 'false');

  // Resume: the steps after the checkpoint run again and the run finishes.
  await resume.click();
  await expect(item).toHaveAttribute('data-status', 'finished', { timeout: 280_000 });
  await expect(panel.getByTestId('train-chart-reward')).toHaveAttribute('data-points', String(STEPS));
  await expect(panel.getByTestId('train-resume-run')).toHaveCount(0);
  const resumed = (await exportedRuns(page))[0];
  expect(resumed.history.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);

  // The same seed, uninterrupted, in a fresh browser profile: the same metrics, step for step.
  const whole = await uninterrupted(browser, hash);
  expect(whole.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(resumed.history.map(deterministicMetrics)).toEqual(whole.map(deterministicMetrics));
  expect(errors).toEqual([]);
});
