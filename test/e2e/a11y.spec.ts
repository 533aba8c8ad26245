// Accessibility in Debian's Chromium: axe-core finds no serious or critical violation on any view of the
// page (the bundled example run; the built-in model loaded; after a decode; after an evaluation; the Train
// panel with a tiny run's charts), each at 1280 px and 390 px wide, in the light and the dark scheme. And
// the keyboard: a decode's token chips are one tab stop (a roving tabindex: arrow keys, Home and End move
// inside the stream). The work is tiny (12 tokens, G = 2, 2 steps): SwiftShader is slow.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page, test } from '@playwright/test';

const WIDTHS = [1280, 390];
const SCHEMES = ['light', 'dark'] as const;
// axe leaves its experimental rules off; label-content-name-mismatch (mixture chips) is one of them.
const EXPERIMENTAL = [
  'css-orientation-lock',
  'focus-order-semantics',
  'hidden-content',
  'label-content-name-mismatch',
  'p-as-heading',
  'table-fake-caption',
  'td-has-header',
];

interface Found {
  view: string;
  rule: string;
  impact: string;
  nodes: string[];
}

/** Every serious or critical violation of one view, at both widths and in both schemes. */
async function scan(page: Page, view: string): Promise<Found[]> {
  const found: Found[] = [];
  for (const width of WIDTHS)
    for (const colorScheme of SCHEMES) {
      await page.setViewportSize({ width, height: 900 });
      await page.emulateMedia({ colorScheme });
      const rules = Object.fromEntries(EXPERIMENTAL.map((id) => [id, { enabled: true }]));
      const res = await new AxeBuilder({ page }).options({ rules }).analyze();
      for (const v of res.violations)
        if (v.impact === 'serious' || v.impact === 'critical')
          found.push({
            view: `${view} @${width}px ${colorScheme}`,
            rule: v.id,
            impact: v.impact,
            nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`),
          });
    }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.emulateMedia({ colorScheme: 'light' });
  return found;
}

async function setNumber(page: Page, label: string, value: number, scope = page.locator('body')) {
  const field = scope.getByLabel(label, { exact: true });
  await field.fill(String(value));
  await field.blur();
}

test('axe: no serious or critical violations on any view, wide and narrow, light and dark', async ({
  page,
}) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const found: Found[] = [];
  await page.goto('/');
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'example', { timeout: 10_000 });
  await expect(page.getByTestId('entropy-heatmap').first()).toBeVisible();
  found.push(...(await scan(page, 'example run')));

  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(page.getByTestId('model')).toContainText('parameters');
  found.push(...(await scan(page, 'model loaded')));

  await setNumber(page, 'New tokens', 12);
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
  await expect(page.getByTestId('side-discrete').getByTestId('generate-done')).toBeVisible();
  await expect(page.getByTestId('side-mixture').getByTestId('generate-done')).toBeVisible();
  found.push(...(await scan(page, 'after a decode')));

  const evaluate = page.locator('section[aria-labelledby="evaluate-heading"]');
  await setNumber(page, 'Questions per task', 1, evaluate);
  await setNumber(page, 'Max new tokens', 12, evaluate);
  await page.getByTestId('eval-run').click();
  await expect(page.getByTestId('eval-table').locator('tbody tr')).toHaveCount(1);
  await expect(page.getByTestId('eval-table')).not.toContainText('running', { timeout: 120_000 });
  found.push(...(await scan(page, 'after an evaluation')));

  const train = page.locator('section[aria-labelledby="train-heading"]');
  await setNumber(page, 'G (completions per prompt)', 2, train);
  await setNumber(page, 'Steps', 2, train);
  await setNumber(page, 'Completion tokens', 12, train);
  await train.getByTestId('train-start').click();
  await expect(train.getByTestId('train-chart-reward')).toHaveAttribute('data-points', '2', {
    timeout: 240_000,
  });
  await expect(train.getByTestId('train-active')).toHaveCount(0);
  found.push(...(await scan(page, 'after a tiny training run')));

  console.log(JSON.stringify(found, null, 1));
  expect(found).toEqual([]);
  expect(errors).toEqual([]);
});

test("keyboard: a decode's token chips are one tab stop; arrow keys, Home and End move inside", async ({
  page,
}) => {
  await page.goto('/');
  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(page.getByTestId('model')).toContainText('parameters');
  await setNumber(page, 'New tokens', 12);
  await page.getByTestId('generate').click();
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'live');
  const discrete = page.getByTestId('side-discrete');
  await expect(discrete.getByTestId('generate-done')).toBeVisible();
  await expect(page.getByTestId('side-mixture').getByTestId('generate-done')).toBeVisible();
  const stream = discrete.getByTestId('token-stream');
  const chips = stream.locator('button.chip');
  const n = await chips.count();
  expect(n).toBeGreaterThan(2);
  // One tab stop per stream on the whole page (two sides), not one per chip.
  await expect(page.locator('[data-testid="token-stream"] button.chip:not([tabindex="-1"])')).toHaveCount(2);
  await expect(stream.locator('button.chip[tabindex="0"]')).toHaveAttribute('data-step', '0');

  const focusedStep = () =>
    page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.step ?? null);
  const details = discrete.getByTestId('step-details');
  await chips.first().focus();
  await page.keyboard.press('ArrowRight');
  expect(await focusedStep()).toBe('1');
  await expect(details).toContainText('Step 1');
  await page.keyboard.press('End');
  expect(await focusedStep()).toBe(String(n - 1));
  await expect(details).toContainText(`Step ${n - 1}`);
  await page.keyboard.press('ArrowRight');
  expect(await focusedStep()).toBe(String(n - 1));
  await page.keyboard.press('Home');
  expect(await focusedStep()).toBe('0');
  await page.keyboard.press('ArrowLeft');
  expect(await focusedStep()).toBe('0');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  expect(await focusedStep()).toBe('2');

  // Tab leaves the stream at once; Shift+Tab comes back to the chip last visited.
  const insideStream = () =>
    stream.evaluate((list) => list.contains(document.activeElement) && document.activeElement !== list);
  await page.keyboard.press('Tab');
  expect(await insideStream()).toBe(false);
  await page.keyboard.press('Shift+Tab');
  expect(await insideStream()).toBe(true);
  expect(await focusedStep()).toBe('2');
  await expect(stream.locator('button.chip[tabindex="0"]')).toHaveCount(1);
  // A chip's accessible name is its visible text, with its step before it.
  await expect(chips.nth(2)).toHaveAccessibleName(/^step 2: /);
});
