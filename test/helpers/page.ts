// What the end-to-end tests share: page errors collected, waiting for the built-in model, committing a
// number field, and a local model folder served as the Hugging Face Hub would serve it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, type Locator, type Page, type Route } from '@playwright/test';

/** Uncaught page errors, collected for a final `expect(errors).toEqual([])`. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** The engine is ready and the built-in model loaded. */
export async function modelReady(page: Page): Promise<void> {
  await expect(page.getByTestId('engine-status')).toContainText('ready');
  await expect(page.getByTestId('model')).toContainText('parameters');
}

/** Types a value and commits it with Enter (a number field commits on Enter, blur or after a pause). */
export async function setNumber(scope: Page | Locator, label: string, value: number): Promise<void> {
  const box = scope.getByLabel(label, { exact: true });
  await box.fill(String(value));
  await box.press('Enter');
}

export interface HubServeOptions {
  /** The local folder in the Hub's layout. */
  dir: string;
  /** Repositories served from it (others: 404). */
  repos: readonly string[];
  /** The size the Hub reports for a file (default: its real size), e.g. a large listing. */
  reportedSize?: (repo: string, file: string, actual: number) => number;
  /** Called when a repository's weights are downloaded (not a ranged metadata probe). */
  onWeights?: (repo: string) => void;
}

/** Serves `o.dir` as `https://huggingface.co/<repo>/resolve/<rev>/<file>` would, ranged probes included. */
export async function serveAsHub(route: Route, o: HubServeOptions): Promise<void> {
  const url = new URL(route.request().url());
  const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
  if (!m || !o.repos.includes(m[1])) return route.fulfill({ status: 404, body: 'Entry not found' });
  let body: Buffer;
  try {
    body = await readFile(join(o.dir, decodeURIComponent(m[3])));
  } catch {
    return route.fulfill({ status: 404, body: 'Entry not found' });
  }
  const headers = {
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'content-range, content-length',
  };
  const size = o.reportedSize?.(m[1], m[3], body.length) ?? body.length;
  if ((await route.request().allHeaders()).range === 'bytes=0-0')
    return route.fulfill({
      status: 206,
      headers: { ...headers, 'content-range': `bytes 0-0/${size}` },
      body: body.subarray(0, 1),
    });
  if (m[3] === 'model.safetensors') o.onWeights?.(m[1]);
  return route.fulfill({ status: 200, headers: { ...headers, 'content-length': String(body.length) }, body });
}
