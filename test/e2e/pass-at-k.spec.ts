// The Evaluate panel charts pass@k for the matched discrete baseline and a mixture preset on the same
// held-out questions (Chen et al.'s unbiased estimator over each question's samples); the bundled example
// run shows the two already.
import { expect, test } from '@playwright/test';

test('evaluate: pass@k of discrete-top-k and dirichlet on the same questions, one curve each', async ({
  page,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(page.getByTestId('model')).toContainText('parameters');
  const panel = page.locator('section[aria-labelledby="evaluate-heading"]');
  await panel.getByLabel('Questions per task', { exact: true }).fill('2');
  await panel.getByLabel('Samples per question', { exact: true }).fill('4');
  await panel.getByLabel('Max new tokens', { exact: true }).fill('40');
  // The matched baseline is the default mode.
  await expect(panel.getByLabel('Decode mode', { exact: true })).toHaveValue('discrete-top-k');
  // The bundled example run shows the matched baseline beside the default preset, 4 samples each.
  const chart = panel.getByTestId('passk-chart');
  await expect(chart).toHaveAttribute('data-series', '2');
  await expect(chart).toContainText('discrete-top-k');
  await panel.getByTestId('eval-run').click();
  await expect(panel.getByTestId('eval-table').locator('tbody tr')).toHaveCount(1, { timeout: 240_000 });
  await expect(chart).toHaveAttribute('data-series', '1', { timeout: 240_000 });
  await expect(panel.getByTestId('eval-run')).toBeEnabled({ timeout: 240_000 });
  await panel.getByLabel('Decode mode', { exact: true }).selectOption('dirichlet');
  await panel.getByTestId('eval-run').click();
  await expect(panel.getByTestId('eval-table').locator('tbody tr')).toHaveCount(2, { timeout: 240_000 });
  await expect(chart).toHaveAttribute('data-series', '2', { timeout: 240_000 });
  await expect(chart).toContainText('#1 discrete-top-k');
  await expect(chart).toContainText('#2 dirichlet');
  // k runs 1…4 (the samples per question): four points on each of the two curves.
  await expect(chart.locator('.recharts-line-dots circle')).toHaveCount(8);
});
