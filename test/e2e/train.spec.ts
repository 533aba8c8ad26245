// The Train panel in Debian's Chromium with real WebGPU (SwiftShader): settings the GPU trainer cannot
// train are refused kindly with the compatible setting one click away, then a tiny GRPO run (G = 2,
// 3 steps, short completions) on the built-in model fills every chart with 3 points and the rollout table;
// a second start while it runs is refused. Screenshot: docs/screenshots/07-train.png.
import { join, resolve } from 'node:path';
import { expect, type Page, test } from '@playwright/test';

const SHOTS = resolve('docs/screenshots');

async function setNumber(page: Page, label: string, value: number): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(String(value));
}

test('train: a tiny GRPO run charts 3 steps; GPU-incompatible settings are refused kindly', async ({
  page,
}) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(page.getByTestId('model')).toContainText('parameters');
  await expect(page.getByTestId('adapter')).toContainText('WebGPU');

  const panel = page.locator('section[aria-labelledby="train-heading"]');
  await setNumber(page, 'G (completions per prompt)', 2);
  await setNumber(page, 'Steps', 3);
  await setNumber(page, 'Completion tokens', 8);

  // The exact likelihood does not train on WebGPU: a kind message with the compatible setting.
  await panel.getByLabel('Likelihood', { exact: true }).selectOption('exact');
  await expect(panel.getByTestId('train-gpu-hint')).toBeVisible();
  await panel.getByTestId('train-start').click();
  await expect(panel.getByTestId('train-error')).toContainText('cannot train on the GPU');
  await panel.getByTestId('train-use-compatible').click();
  await expect(panel.getByTestId('train-error')).toHaveCount(0);
  await expect(panel.getByLabel('Likelihood', { exact: true })).toHaveValue('paper-one');

  // A tiny run: every chart gets its 3 points, the table the latest group's 2 rollouts.
  await panel.getByTestId('train-start').click();
  for (const id of ['reward', 'accuracy', 'kl', 'loss', 'clip', 'zero-std', 'tps', 'hidden-entropy'])
    await expect(panel.getByTestId(`train-chart-${id}`)).toHaveAttribute('data-points', '3', {
      timeout: 240_000,
    });
  await expect(panel.getByTestId('train-active')).toHaveCount(0);
  await expect(panel.getByTestId('train-rollouts').locator('tbody tr')).toHaveCount(2);
  await expect(panel.getByTestId('train-chart-reward').locator('.recharts-line-dots circle')).toHaveCount(3);
  await expect(panel.getByTestId('train-run-count')).toContainText('1 run');
  await panel.screenshot({ path: join(SHOTS, '07-train.png') });

  // A long second run: another start while it runs is refused; pause, one step, stop; both runs stay.
  await setNumber(page, 'Steps', 500);
  await panel.getByTestId('train-start').click();
  await panel.getByTestId('train-start').click();
  await expect(panel.getByTestId('train-refused')).toContainText('already in progress');
  await panel.getByTestId('train-pause').click();
  await expect(panel.getByTestId('train-resume')).toBeVisible();
  const bar = panel.getByRole('progressbar');
  const before = Number(await bar.getAttribute('aria-valuenow'));
  await panel.getByTestId('train-step').click();
  await expect(bar).toHaveAttribute('aria-valuenow', String(before + 1));
  await panel.getByTestId('train-stop').click();
  await expect(panel.getByTestId('train-active')).toHaveCount(0);
  await expect(panel.getByTestId('train-refused')).toHaveCount(0);
  await expect(panel.getByTestId('train-run-count')).toContainText('2 runs');
  await expect(panel.getByTestId('train-chart-reward').locator('.recharts-legend-item')).toHaveCount(2);
  expect(errors).toEqual([]);
});
