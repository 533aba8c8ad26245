// The Train panel in Debian's Chromium with real WebGPU (SwiftShader): settings the GPU trainer cannot
// train are refused kindly with the compatible setting one click away, then a tiny GRPO run (G = 2,
// 3 steps, short completions) on the built-in model fills every chart with 3 points and the rollout table;
// its settings are in the link, the run's export holds its steps (run.json, train.csv, chart images), the
// trained model exports as a Hugging Face folder, and a reload restores the run and its form. A second run
// joins the restored one; a second start while it runs is refused (disabled, with the reason). Screenshot: docs/screenshots/07-train.png.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Download, expect, type Page, test } from '@playwright/test';
import { readZip } from '../../src/client/zip.ts';

const SHOTS = resolve('docs/screenshots');

async function setNumber(page: Page, label: string, value: number): Promise<void> {
  await page.getByLabel(label, { exact: true }).fill(String(value));
}

async function downloadOf(page: Page, click: () => Promise<void>): Promise<Download> {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  return download;
}

async function zipEntries(download: Download): Promise<Map<string, Uint8Array>> {
  const entries = readZip(new Uint8Array(await readFile(await download.path())));
  return new Map(entries.map((e) => [e.name, e.data]));
}

const CHARTS = ['reward', 'accuracy', 'kl', 'loss', 'clip', 'zero-std', 'tps', 'hidden-entropy'];

test('train: a tiny GRPO run charts 3 steps, is kept in the link and the export, survives a reload', async ({
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
  await setNumber(page, 'Completion tokens', 20);

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
  for (const id of CHARTS)
    await expect(panel.getByTestId(`train-chart-${id}`)).toHaveAttribute('data-points', '3', {
      timeout: 240_000,
    });
  await expect(panel.getByTestId('train-active')).toHaveCount(0);
  await expect(panel.getByTestId('train-rollouts').locator('tbody tr')).toHaveCount(2);
  await expect(panel.getByTestId('train-chart-reward').locator('.recharts-line-dots circle')).toHaveCount(3);
  await expect(panel.getByTestId('train-run-count')).toContainText('1 run');
  await expect(panel.getByTestId('train-run-list').locator('li')).toHaveAttribute('data-status', 'finished');

  // The form is in the link.
  const hash = new URL(page.url()).hash;
  for (const part of ['g.G=2', 'g.steps=3', 'g.new=20']) expect(hash).toContain(part);

  // Export run: run.json holds the 3 steps, train.csv a header and 3 rows, the training charts are images.
  const runZip = await downloadOf(page, () => page.getByTestId('export').click());
  const run = await zipEntries(runZip);
  const json = JSON.parse(new TextDecoder().decode(run.get('run.json')));
  expect(json.train).toHaveLength(1);
  expect(json.train[0].history.map((m: { step: number }) => m.step)).toEqual([1, 2, 3]);
  expect(json.train[0].form).toMatchObject({ G: 2, steps: 3, maxCompletion: 20 });
  expect(json.settings.train).toMatchObject({ G: 2, steps: 3 });
  const csv = new TextDecoder().decode(run.get('train.csv')).trim().split('\n');
  expect(csv).toHaveLength(4);
  expect(csv[0]).toContain('reward_mean');
  expect(csv[0]).toContain('hidden_entropy_per_layer');
  for (const id of CHARTS) expect(run.has(`charts/train-${id}.png`), `charts/train-${id}.png`).toBe(true);

  // Export trained model: full fine-tuning gives a Hugging Face folder the Model panel can load back.
  const exportModel = panel.getByTestId('train-export-model');
  await expect(exportModel).toBeEnabled();
  const modelZip = await downloadOf(page, () => exportModel.click());
  expect(modelZip.suggestedFilename()).toMatch(/^motg-model-.*\.zip$/);
  const model = await zipEntries(modelZip);
  expect(model.has('model.safetensors')).toBe(true);
  expect(model.has('config.json')).toBe(true);
  expect(model.get('model.safetensors')?.length).toBeGreaterThan(100_000);
  await expect(panel.getByTestId('train-error')).toHaveCount(0);
  await panel.screenshot({ path: join(SHOTS, '07-train.png') });

  // The exported run imports back: its training shows, view only.
  await page.getByTestId('import').setInputFiles(await runZip.path());
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'imported');
  await expect(panel.getByTestId('train-view-only')).toBeVisible();
  await expect(panel.getByTestId('train-chart-reward')).toHaveAttribute('data-points', '3');
  await expect(panel.getByTestId('train-export-model')).toHaveCount(0);
  await page.getByRole('button', { name: 'Back to your run' }).click();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
  await expect(panel.getByTestId('train-view-only')).toHaveCount(0);

  // Reload: the run comes back with its charts, rollouts and form (the form from the link).
  await page.reload();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', /restored|live/);
  for (const id of CHARTS)
    await expect(panel.getByTestId(`train-chart-${id}`)).toHaveAttribute('data-points', '3');
  await expect(panel.getByTestId('train-chart-reward').locator('.recharts-line-dots circle')).toHaveCount(3);
  await expect(panel.getByTestId('train-rollouts').locator('tbody tr')).toHaveCount(2);
  await expect(panel.getByLabel('G (completions per prompt)', { exact: true })).toHaveValue('2');
  await expect(panel.getByLabel('Steps', { exact: true })).toHaveValue('3');
  await expect(panel.getByLabel('Completion tokens', { exact: true })).toHaveValue('20');
  // The engine of the new page holds no trained model: nothing to export until this tab trains.
  await expect(panel.getByTestId('train-export-model')).toBeDisabled();
  await expect(page.getByTestId('engine-status')).toContainText('ready');

  // A long second run, training a fresh LoRA adapter: another start while it runs is refused; pause, one step, stop; both runs stay.
  await setNumber(page, 'Steps', 500);
  await panel.getByLabel('Parameters', { exact: true }).selectOption('lora');
  await setNumber(page, 'LoRA rank', 4);
  // The hash follows each committed field change (poll: a number field commits on its own schedule).
  await expect.poll(() => new URL(page.url()).hash).toContain('g.mode=lora');
  await expect.poll(() => new URL(page.url()).hash).toContain('g.r=4');
  await panel.getByTestId('train-start').click();
  // Start is refused while it runs: disabled, with the reason beside it.
  await expect(panel.getByTestId('train-start')).toBeDisabled();
  await expect(panel.getByTestId('train-start-why')).toContainText('in progress');
  // A pause lands after the step in flight, and says so until then.
  await panel.getByTestId('train-pause').click();
  await expect(panel.getByTestId('train-pause')).toHaveText('Pausing after this step…');
  await expect(panel.getByTestId('train-resume')).toBeVisible();
  const bar = panel.getByRole('progressbar');
  const before = Number(await bar.getAttribute('aria-valuenow'));
  await panel.getByTestId('train-step').click();
  await expect(bar).toHaveAttribute('aria-valuenow', String(before + 1));
  await panel.getByTestId('train-stop').click();
  await expect(panel.getByTestId('train-active')).toHaveCount(0);
  await expect(panel.getByTestId('train-refused')).toHaveCount(0);
  // It joins the restored run on the charts.
  await expect(panel.getByTestId('train-run-count')).toContainText('2 runs');
  await expect(panel.getByTestId('train-chart-reward').locator('.chart-legend-item')).toHaveCount(2);
  await expect(panel.getByTestId('train-run-list').locator('li').last()).toHaveAttribute(
    'data-status',
    'stopped',
  );
  // Its model is a peft adapter.
  const adapterZip = await downloadOf(page, () => panel.getByTestId('train-export-model').click());
  expect(adapterZip.suggestedFilename()).toMatch(/^motg-adapter-.*\.zip$/);
  const adapter = await zipEntries(adapterZip);
  expect(JSON.parse(new TextDecoder().decode(adapter.get('adapter_config.json')))).toMatchObject({ r: 4 });
  expect(adapter.has('adapter_model.safetensors')).toBe(true);
  await panel.screenshot({ path: test.info().outputPath('train-after-reload.png') });
  expect(errors).toEqual([]);
});
