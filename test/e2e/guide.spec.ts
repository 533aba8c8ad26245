// The guided first path in Debian's Chromium with real WebGPU (SwiftShader): a first visit shows it;
// following it end to end on the built-in model (its one-click steps, kept tiny: a 24-token decode, 2
// questions per task, two GRPO runs of G = 2, 3 steps, 24 tokens) reaches a side-by-side evaluation and
// two overlaid training runs; finishing it is remembered, so a second visit does not show it, and the
// header's Guide button brings it back. Screenshots of each step: docs/screenshots/guide-1.png … guide-5.png.
import { join, resolve } from 'node:path';
import { expect, type Locator, type Page, test } from '@playwright/test';

const SHOTS = resolve('docs/screenshots');

/** The panel at the top of the viewport (the guide card stays in view beside it), then a screenshot. */
async function shot(page: Page, panel: Locator, name: string): Promise<void> {
  await page.mouse.move(0, 0); // no chart tooltip left under the pointer
  await panel.evaluate((el) => el.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: join(SHOTS, name) });
}

test('guide: a first visit follows the guided path to a side-by-side evaluation and two overlaid runs', async ({
  page,
}) => {
  test.setTimeout(900_000);
  await page.setViewportSize({ width: 1280, height: 900 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  // The card (side column) and the current step's strip in the panel where it happens.
  const guide = page.getByTestId('guide');
  const here = page.getByTestId('guide-here');
  const action = here.getByTestId('guide-action');
  await expect(guide).toHaveAttribute('data-step', '1');
  await expect(page.getByTestId('decode-panel').getByTestId('guide-here')).toBeVisible();
  await expect(here.getByTestId('guide-current')).toContainText('Notice');
  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(action).toBeEnabled();
  await page.screenshot({ path: join(SHOTS, 'guide-1.png') });

  // 1. A short side-by-side decode; the guide moves on when it is done.
  await action.click();
  await expect(guide).toHaveAttribute('data-step', '2', { timeout: 240_000 });
  const mixture = page.getByTestId('side-mixture');
  await expect(mixture.getByTestId('generate-done')).toBeVisible();
  expect(await mixture.getByTestId('token-stream').locator('.chip').count()).toBeLessThanOrEqual(24);
  await expect(page.getByTestId('explain-step')).toHaveAttribute('data-kind', 'mixture');
  await expect(page.getByTestId('explain-panel').getByTestId('guide-here')).toBeVisible();
  await shot(page, page.getByTestId('explain-panel'), 'guide-2.png');

  // 2. Inspect a mixture step in the explainer: its most mixed one.
  await action.click();
  await expect(guide).toHaveAttribute('data-step', '3');
  await expect(page.getByTestId('explain-step')).toHaveAttribute('data-kind', 'mixture');
  await expect(page.getByTestId('explain-neff')).toBeVisible();
  await shot(page, page.getByTestId('explain-panel'), 'guide-3.png');

  // 3. Both modes on the same questions: two rows of one table, the baseline's and the preset's.
  await action.click();
  await expect(guide).toHaveAttribute('data-step', '4', { timeout: 480_000 });
  const rows = page.getByTestId('eval-table').locator('tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toContainText('discrete-top-k');
  await expect(rows.nth(1)).toContainText('dirichlet');
  for (const i of [0, 1]) await expect(rows.nth(i)).toContainText('n=2×1');
  await shot(page, page.getByTestId('evaluate-panel'), 'guide-4.png');

  // 4. Two tiny GRPO runs, one per mode, overlaid on every chart.
  await action.click();
  await expect(guide).toHaveAttribute('data-step', '5', { timeout: 600_000 });
  await expect(page.getByTestId('train-panel').getByTestId('guide-here')).toBeVisible();
  const train = page.getByTestId('train-panel');
  await expect(train.getByTestId('train-run-count')).toContainText('2 runs');
  const runs = train.getByTestId('train-run-list').locator('li');
  await expect(runs).toHaveCount(2);
  for (const i of [0, 1]) await expect(runs.nth(i)).toHaveAttribute('data-status', 'finished');
  await expect(runs.nth(0)).toContainText('discrete-top-k G=2');
  await expect(runs.nth(1)).toContainText('dirichlet G=2');
  await expect(train.getByTestId('train-chart-reward')).toHaveAttribute('data-points', '3');
  await expect(train.getByTestId('train-chart-reward').locator('.recharts-line')).toHaveCount(2);
  await shot(page, train.getByTestId('train-run-list'), 'guide-5.png');

  // 5. Compare, then finish: remembered.
  await expect(here.getByTestId('guide-current')).toContainText('evaluation table');
  await action.click();
  await expect(guide).toHaveCount(0);
  await expect(here).toHaveCount(0);

  // A second visit does not show it; the Guide button brings it back at its first step.
  await page.reload();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', /restored|live/);
  await expect(page.getByTestId('guide')).toHaveCount(0);
  await page.getByTestId('guide-open').click();
  await expect(page.getByTestId('guide')).toHaveAttribute('data-step', '1');
  await expect(page.getByTestId('decode-panel').getByTestId('guide-here')).toBeVisible();
  await page.getByTestId('guide-close').click();
  await expect(page.getByTestId('guide')).toHaveCount(0);
  expect(errors).toEqual([]);
});
