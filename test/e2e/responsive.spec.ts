// The page stays responsive while the engine worker trains: a tiny GRPO run on the built-in model in
// Debian's Chromium with real WebGPU (SwiftShader), watched from the first step's metrics on the page
// until the run has finished, while the user types into a field and switches a select.
//
// The claim: no main-thread task in that window runs for more than 50 ms (the Long Tasks API's own
// threshold). It is checked on each task's main-thread CPU time, from a Chrome trace (RunTask `tdur`),
// and not on the Long Tasks API's wall-clock durations, which are collected too (window.__longTasks)
// and reported beside it: on this project's 2-core machines the SwiftShader GPU process, the engine
// worker and other jobs share the cores, so a task with 10 ms of work can take 100 ms of wall time
// waiting for a core. A task's CPU time is what the page's own code decides; on a machine with a free
// core wall and CPU time agree. Long animation frames (which scripts ran) name the cause on failure.
//
// Also narrow screens (390 px): the Model panel comes first, and a table wider than the screen scrolls
// inside its box with a visible hint, by keyboard too, while the page itself never scrolls sideways.
import { expect, type Page, test } from '@playwright/test';

interface Timed {
  name: string;
  startTime: number;
  duration: number;
}
interface Loaf extends Timed {
  scripts: string[];
}

declare global {
  interface Window {
    __longTasks: Timed[];
    __loafs: Loaf[];
    __events: Timed[];
  }
}

/** Installed before the app's scripts: long tasks, long animation frames, inputs slower than 16 ms. */
function observe(): void {
  window.__longTasks = [];
  window.__loafs = [];
  window.__events = [];
  const on = (type: string, fn: (e: PerformanceEntry) => void, extra: object = {}) => {
    try {
      new PerformanceObserver((list) => list.getEntries().forEach(fn)).observe({
        type,
        buffered: true,
        ...extra,
      } as PerformanceObserverInit);
    } catch {
      // an entry type this browser lacks: its list stays empty
    }
  };
  on('longtask', (e) =>
    window.__longTasks.push({ name: e.name, startTime: e.startTime, duration: e.duration }),
  );
  on('long-animation-frame', (e) => {
    type Script = { invoker: string; sourceURL: string; sourceFunctionName: string; duration: number };
    const f = e as PerformanceEntry & { scripts: Script[] };
    window.__loafs.push({
      name: f.name,
      startTime: f.startTime,
      duration: f.duration,
      scripts: f.scripts.map(
        (s) =>
          `${s.invoker} ${s.sourceFunctionName}@${s.sourceURL.split('/').pop()} ${Math.round(s.duration)} ms`,
      ),
    });
  });
  on('event', (e) => window.__events.push({ name: e.name, startTime: e.startTime, duration: e.duration }), {
    durationThreshold: 16,
  });
}

interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
}

/** A main-thread task of the window: page-clock start, wall and CPU milliseconds. */
interface Task {
  at: number;
  wallMs: number;
  cpuMs: number;
}

const MARK = 'responsive-window';

/** The page's main-thread tasks from a trace: the thread is the one that recorded MARK. */
function mainThreadTasks(trace: { traceEvents: TraceEvent[] }, markTime: number): Task[] {
  const mark = trace.traceEvents.find((e) => e.name === MARK);
  if (!mark) throw new Error(`the trace has no ${MARK} mark`);
  // Trace timestamps are µs on the browser's monotonic clock; the mark gives the page clock's offset.
  const offset = mark.ts / 1000 - markTime;
  return trace.traceEvents
    .filter(
      (e) =>
        e.ph === 'X' &&
        e.name === 'ThreadControllerImpl::RunTask' &&
        e.pid === mark.pid &&
        e.tid === mark.tid,
    )
    .map((e) => ({ at: e.ts / 1000 - offset, wallMs: (e.dur ?? 0) / 1000, cpuMs: (e.tdur ?? 0) / 1000 }));
}

const ms = (x: number) => Math.round(x);

async function entries(page: Page, from: number) {
  return page.evaluate((a) => {
    const inside = <T extends Timed>(xs: T[]) => xs.filter((x) => x.startTime >= a);
    return {
      longTasks: inside(window.__longTasks),
      loafs: inside(window.__loafs),
      events: inside(window.__events),
    };
  }, from);
}

test('the page stays responsive (no long main-thread tasks) while the worker trains', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(observe);
  await page.goto('/');
  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(page.getByTestId('adapter')).toContainText('WebGPU');
  const supported = await page.evaluate(() => PerformanceObserver.supportedEntryTypes);
  expect(supported).toEqual(expect.arrayContaining(['longtask', 'long-animation-frame', 'event']));

  const panel = page.locator('section[aria-labelledby="train-heading"]');
  const setNumber = (label: string, v: number) => page.getByLabel(label, { exact: true }).fill(String(v));
  await setNumber('G (completions per prompt)', 2);
  await setNumber('Steps', 4);
  await setNumber('Completion tokens', 8);

  await panel.getByTestId('train-start').click();
  const reward = panel.getByTestId('train-chart-reward');
  await expect(reward).toHaveAttribute('data-points', '1', { timeout: 240_000 });

  // The window opens once the first step is on the page (its charts drawn) and closes when the run ends.
  const browser = page.context().browser();
  if (!browser) throw new Error('no browser');
  await browser.startTracing(page, { categories: ['toplevel', 'blink.user_timing'] });
  const from = await page.evaluate((name) => performance.mark(name).startTime, MARK);
  // At least two steps land inside the window.
  expect(Number(await reward.getAttribute('data-points'))).toBeLessThanOrEqual(2);

  // Interact while it trains: type into the run's seed box, switch the Evaluate panel's level (neither
  // starts engine work); each change must show.
  const seed = page.getByLabel('Train seed', { exact: true });
  const level = page
    .locator('section[aria-labelledby="evaluate-heading"]')
    .getByLabel('Level', { exact: true });
  const levels = ['easy', 'trivial', 'easy'];
  await seed.fill('');
  for (const [i, value] of ['7', '70', '701'].entries()) {
    await seed.press(value.slice(-1));
    await expect(seed).toHaveValue(value);
    await level.selectOption(levels[i]);
    await expect(level).toHaveValue(levels[i]);
  }
  await expect(panel.getByTestId('train-active')).toHaveCount(0, { timeout: 240_000 });
  await expect(reward).toHaveAttribute('data-points', '4');
  const trace = JSON.parse((await browser.stopTracing()).toString('utf8'));
  const to = await page.evaluate(() => performance.now());

  const tasks = mainThreadTasks(trace, from).filter((t) => t.at >= from - 1 && t.at <= to);
  const seen = await entries(page, from);
  const cpuOf = (x: Timed) =>
    Math.max(0, ...tasks.filter((t) => Math.abs(t.at - x.startTime) < 2).map((t) => t.cpuMs));
  const heavy = tasks.filter((t) => t.cpuMs > 50);
  const report = {
    windowMs: ms(to - from),
    tasks: tasks.length,
    maxTaskCpuMs: ms(Math.max(0, ...tasks.map((t) => t.cpuMs))),
    maxTaskWallMs: ms(Math.max(0, ...tasks.map((t) => t.wallMs))),
    longTasks: seen.longTasks.map(
      (x) => `${ms(x.startTime)}: ${ms(x.duration)} ms wall, ${ms(cpuOf(x))} ms CPU`,
    ),
    heavyTasks: heavy.map((t) => ({
      at: ms(t.at),
      cpuMs: ms(t.cpuMs),
      wallMs: ms(t.wallMs),
      scripts: seen.loafs
        .filter((f) => t.at >= f.startTime - 1 && t.at <= f.startTime + f.duration)
        .flatMap((f) => f.scripts),
    })),
    slowInputs: seen.events.map((x) => `${x.name}@${ms(x.startTime)}: ${ms(x.duration)} ms`),
  };
  console.log(JSON.stringify(report, null, 1));
  test.info().annotations.push({ type: 'responsiveness', description: JSON.stringify(report) });

  expect(tasks.length).toBeGreaterThan(100);
  expect(
    heavy,
    `main-thread tasks over 50 ms of CPU while training:\n${JSON.stringify(report.heavyTasks, null, 1)}`,
  ).toEqual([]);
  // The inputs themselves: the browser's Event Timing (input to the next paint, wall clock) within 200 ms,
  // the "good" bound of Interaction to Next Paint, loose enough for a busy 2-core machine.
  const slowInputs = seen.events.filter((x) => x.duration > 200);
  expect(slowInputs, `inputs painted after more than 200 ms: ${report.slowInputs.join(', ')}`).toEqual([]);
  expect(errors).toEqual([]);
});

test('at 390 px the Model panel comes first and a wide table scrolls with a hint, by keyboard too', async ({
  page,
}) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto('/');
  await expect(page.getByTestId('run-origin')).toHaveAttribute('data-origin', 'example', { timeout: 10_000 });
  const top = async (id: string) => (await page.getByTestId(id).boundingBox())?.y ?? Number.NaN;
  const model = await top('model-panel');
  for (const other of ['decode-panel', 'evaluate-panel', 'train-panel'])
    expect(model, `the Model panel above ${other}`).toBeLessThan(await top(other));

  // The bundled example's evaluation table is wider than 390 px: it scrolls in its own box.
  const table = page.getByTestId('eval-table');
  await expect(table).toBeVisible();
  const area = page.getByTestId('scroll-area').filter({ has: table });
  await expect(area).toHaveAttribute('data-scrolls', 'true');
  const hint = area.getByTestId('scroll-hint');
  await expect(hint).toBeVisible();
  await expect(hint).toContainText('scroll →');
  const region = area.getByRole('region');
  await expect(region).toHaveAccessibleName(/scrolls sideways/);
  await expect(region).toHaveAttribute('tabindex', '0');
  // By keyboard: the region takes focus and the arrow keys scroll it; at its right edge the hint goes.
  await region.focus();
  await page.keyboard.press('ArrowRight');
  await expect.poll(() => region.evaluate((el) => el.scrollLeft)).toBeGreaterThan(0);
  await region.evaluate((el) => el.scrollTo({ left: el.scrollWidth }));
  await expect(hint).toHaveCount(0);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);

  // Wide enough for the table: no hint and no extra tab stop.
  await page.setViewportSize({ width: 1600, height: 900 });
  await expect(area).toHaveAttribute('data-scrolls', 'false');
  await expect(area.getByTestId('scroll-hint')).toHaveCount(0);
  await expect(region).not.toHaveAttribute('tabindex', '0');
  expect(errors).toEqual([]);
});
