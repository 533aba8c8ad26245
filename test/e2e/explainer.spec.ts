// "How MoT-G works" in Debian's Chromium with real WebGPU (SwiftShader): after a side-by-side decode on the
// built-in model, the explainer's numbers for a step — top-k ids, weights, representative, effective number
// of tokens 1/Σw² — equal those of the engine itself. The comparison is against an independent rollout
// asked of the page's engine (its own comlink client, `?test-hooks`) with the request the decode makes
// (same prompt ids, preset, knobs and seed), not against the page's own copy of the numbers: the explainer
// must show what the engine computes. Also: the step slider and buttons, the preset lines, a "What to
// look for" note in each of the Decode, Evaluate and Train panels, and axe on all of it opened.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';
import type { RolloutRecord } from '../../src/rl/rollout.ts';
import { overridesFor, stopOverridesFor } from '../../src/store/lib/decodeRun.ts';
import { buildPrompt, drawItem } from '../../src/store/lib/items.ts';
import { settingsFromHash } from '../../src/store/settings.ts';

// A flatter distribution (T = 1.2) and a Dirichlet that stays near p̃ (c = 10) mix visibly on the built-in
// model; 16 tokens keep SwiftShader quick.
const HASH = '#t=1.2&c=10&new=16';

interface EngineRollout {
  records: RolloutRecord[];
  meanEffectiveTokens: number;
  promptTokens: number;
}

/** The engine's own rollout for the decode's mixture side, through the page's engine client. */
async function engineRollout(page: Page): Promise<EngineRollout> {
  const d = settingsFromHash(HASH).decode;
  const item = drawItem(d.task, d.level, d.itemSeed, d.index).item;
  const request = {
    prompt: buildPrompt(item.question, d.wrap),
    preset: d.preset,
    settings: overridesFor(d.preset, d),
    stop: stopOverridesFor(d.preset, d),
    maxNewTokens: d.maxNewTokens,
    seed: d.seed,
  };
  return page.evaluate(async (r) => {
    type Hook = {
      tokenize(t: string): Promise<number[]>;
      rollout(q: unknown): Promise<{
        trajectories: { records: RolloutRecord[]; stats: { meanEffectiveTokens: number } }[];
      }>;
    };
    const engine = (globalThis as unknown as { __motgEngine?: Hook }).__motgEngine;
    if (!engine) throw new Error('no engine hook: open the page with ?test-hooks');
    const ids = await engine.tokenize(r.prompt);
    const res = await engine.rollout({
      prompts: [{ ids }],
      G: 1,
      preset: r.preset,
      settings: r.settings,
      stop: r.stop,
      maxNewTokens: r.maxNewTokens,
      seed: r.seed,
      purpose: 'train',
      hiddenEntropy: true,
    });
    const t = res.trajectories[0];
    return { records: t.records, meanEffectiveTokens: t.stats.meanEffectiveTokens, promptTokens: ids.length };
  }, request);
}

const neff = (w: number[]) => 1 / w.reduce((a, x) => a + x * x, 0);

/** The explainer's step as it shows it: data attributes (full precision) and the visible text. */
async function shownStep(page: Page) {
  const box = page.getByTestId('explain-step');
  return {
    index: Number(await box.getAttribute('data-step')),
    kind: await box.getAttribute('data-kind'),
    ids: (await box.getAttribute('data-ids'))?.split(',').map(Number) ?? [],
    weights: JSON.parse((await box.getAttribute('data-weights')) ?? '[]') as number[],
    neff: Number(await box.getAttribute('data-neff')),
    representative: Number(await box.getAttribute('data-representative')),
    weightTexts: await box.getByTestId('explain-weight').allTextContents(),
    neffText: (await box.getByTestId('explain-neff').textContent())?.trim(),
    idTexts: await box
      .getByTestId('explain-ids')
      .locator('li[data-id]')
      .evaluateAll((li) => li.map((x) => Number(x.getAttribute('data-id')))),
  };
}

async function expectEngineStep(page: Page, rec: RolloutRecord): Promise<void> {
  const s = await shownStep(page);
  expect(s.kind).toBe('mixture');
  expect(s.ids).toEqual(rec.ids);
  expect(s.idTexts).toEqual(rec.ids);
  expect(s.representative).toBe(rec.representative);
  expect(s.weights).toHaveLength(rec.weights.length);
  rec.weights.forEach((w, j) => {
    expect(s.weights[j]).toBeCloseTo(w, 6);
    expect(s.weightTexts[j]).toBe(w.toFixed(3));
  });
  expect(s.neff).toBeCloseTo(neff(rec.weights), 6);
  expect(s.neffText).toBe(neff(rec.weights).toFixed(3));
}

test('explainer: a step’s top-k ids, weights and effective number of tokens are the engine’s', async ({
  page,
}) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`/?test-hooks${HASH}`);
  const panel = page.getByTestId('explain-panel');
  // Before any model: the bundled example's steps, said to be the example's.
  await expect(panel.getByTestId('explain-source')).toContainText('bundled example');
  await expect(panel.getByTestId('explain-step')).toHaveAttribute('data-mode', 'dirichlet');
  await page.getByTestId('guide-close').click();
  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(page.getByTestId('model')).toContainText('parameters');

  await page.getByTestId('generate').click();
  const mixture = page.getByTestId('side-mixture');
  await expect(mixture.getByTestId('generate-done')).toBeVisible();
  await expect(mixture.locator('.params')).toContainText('concentration 10');
  await expect(panel.getByTestId('explain-source')).not.toContainText('bundled example');

  const engine = await engineRollout(page);
  await expect(page.getByTestId('results-item')).toContainText(`${engine.promptTokens} prompt tokens`);
  const mixtureRecords = engine.records.filter((r) => r.mode === 'mixture');
  expect(mixtureRecords.length).toBeGreaterThan(1);

  // Step 0, then the most mixed step: the same numbers as the engine's records at those steps (before the
  // thinking ends, step t of the transcript is record t: no stop rule forced a token yet).
  await expect(panel.getByTestId('explain-step')).toHaveAttribute('data-step', '0');
  await expectEngineStep(page, engine.records[0]);
  await panel.getByTestId('explain-most-mixed').click();
  const best = engine.records.reduce(
    (b, r, i) => (r.mode === 'mixture' && neff(r.weights) > neff(engine.records[b].weights) ? i : b),
    0,
  );
  await expect(panel.getByTestId('explain-step')).toHaveAttribute('data-step', String(best));
  await expectEngineStep(page, engine.records[best]);
  // The effective number of tokens really is above one somewhere: the mixture is visible.
  expect(neff(engine.records[best].weights)).toBeGreaterThan(1.05);
  // The decode's summary: the engine's own mean 1/Σw² over the mixture steps.
  await expect(panel.getByTestId('explain-spread')).toContainText(
    `mean 1/Σw² = ${engine.meanEffectiveTokens.toFixed(2)}`,
  );

  // Prev / Next and the slider walk the steps.
  await panel.getByRole('button', { name: 'Next decode step' }).click();
  await expect(panel.getByTestId('explain-step')).toHaveAttribute('data-step', String(best + 1));
  await panel.getByRole('button', { name: 'Previous decode step' }).click();
  await expect(panel.getByTestId('explain-step')).toHaveAttribute('data-step', String(best));
  await panel.getByTestId('explain-slider').focus();
  await page.keyboard.press('Home');
  await expect(panel.getByTestId('explain-step')).toHaveAttribute('data-step', '0');
  await expect(panel.getByTestId('explain-where')).toContainText('step 0 of');
  await panel.getByTestId('explain-most-mixed').click();
  await panel.screenshot({ path: test.info().outputPath('explainer.png') });

  // One line per preset, the Dirichlet line saying why c = 1 is nearly one-hot.
  await panel.getByText('The presets in one line each').click();
  await expect(panel.getByTestId('explain-presets').locator('dt')).toHaveCount(7);
  await expect(panel.getByTestId('explain-presets')).toContainText('nearly one-hot');

  // "What to look for" in the three panels, closed until asked for.
  for (const [id, text] of [
    ['decode', 'Next-token entropy'],
    ['evaluate', 'Same items'],
    ['train', 'Zero-variance groups'],
  ]) {
    const note = page.getByTestId(`look-for-${id}`);
    await expect(note.getByText(text, { exact: true })).toBeHidden();
    await note.locator('summary').click();
    await expect(note.getByText(text, { exact: true })).toBeVisible();
    await expect(note).toContainText('reward');
  }

  // All of it open: no serious or critical axe violation, wide and narrow, light and dark.
  for (const width of [1280, 390])
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.setViewportSize({ width, height: 900 });
      await page.emulateMedia({ colorScheme });
      const res = await new AxeBuilder({ page })
        .include('[data-testid="explain-panel"]')
        .include('[data-testid^="look-for-"]')
        .analyze();
      const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      expect(bad.map((v) => `${width}px ${colorScheme}: ${v.id} ${v.nodes[0]?.target.join(' ')}`)).toEqual(
        [],
      );
    }
  expect(errors).toEqual([]);
});
