// Node only: `npm run experiment` in headless Chromium, for machines where Node's WebGPU (npm `webgpu`) has
// no adapter, or with --browser. Bundles src/experiment/page.ts with vite (once per process), serves it, the
// model folder (/model/…, the Hugging Face layout UrlModelSource reads) and a write-back route (/out/…, into
// the run folder) from a tiny node:http server on 127.0.0.1, launches Debian's Chromium through Playwright
// with playwright.config.ts's launch options (WebGPU on SwiftShader), and runs the experiment in the page.
import { mkdtempSync, rmSync } from 'node:fs';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import type { BrowserRunRequest } from '../experiment/page.ts';
import type { ExperimentConfig, ExperimentResult } from '../experiment/run.ts';
import { writeFileAtomic } from './files.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const ENTRY = join(ROOT, 'src/experiment/page.ts');
const PAGE_JS = 'experiment.js';

let bundle: Promise<string> | null = null;

/** The page's bundle (a temporary folder, removed when the process exits). */
function bundleDir(log: (s: string) => void): Promise<string> {
  bundle ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'motg-experiment-page-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const t0 = performance.now();
    const { build } = await import('vite');
    await build({
      configFile: false,
      root: ROOT,
      logLevel: 'warn',
      publicDir: false,
      worker: { format: 'es' },
      build: {
        outDir: dir,
        emptyOutDir: true,
        target: 'es2022',
        minify: false,
        sourcemap: false,
        reportCompressedSize: false,
        rolldownOptions: { input: ENTRY, output: { entryFileNames: PAGE_JS } },
      },
    });
    log(
      `bundled src/experiment/page.ts for the browser in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    return dir;
  })();
  return bundle;
}

const PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>motg experiment</title>
<script type="module" src="/${PAGE_JS}"></script></head><body>headless GRPO experiment</body></html>
`;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** `base` joined with the URL path's decoded segments; null when it leaves `base`. */
function inside(base: string, urlPath: string): string | null {
  let parts: string[];
  try {
    parts = urlPath.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
  const p = resolve(base, ...parts);
  return p.startsWith(base + sep) ? p : null;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Server {
  url: string;
  close(): Promise<void>;
}

/** Serves the page, its bundle, the model folder (/model/…) and writes /out/… into `out` (when given). */
async function serve(dist: string, modelDir: string, out: string | null): Promise<Server> {
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const send = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end(text);
    };
    if (req.method === 'PUT' || req.method === 'POST') {
      const file = out && path.startsWith('/out/') ? inside(out, path.slice(5)) : null;
      if (!file) return send(403, `cannot write ${path}`);
      const data = await body(req);
      await mkdir(dirname(file), { recursive: true });
      if (req.method === 'PUT') writeFileAtomic(file, data);
      else await appendFile(file, data);
      return send(204, '');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': TYPES['.html'], 'cache-control': 'no-store' }).end(PAGE_HTML);
      return;
    }
    // /out/…: the run folder's files read back (a resumed run's checkpoint and metrics).
    const file = path.startsWith('/model/')
      ? inside(modelDir, path.slice(7))
      : path.startsWith('/out/')
        ? out && inside(out, path.slice(5))
        : inside(dist, path);
    const st = file ? await stat(file).catch(() => null) : null;
    if (!file || !st?.isFile()) return send(404, `not found: ${path}`);
    const data = await readFile(file);
    res
      .writeHead(200, {
        'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': String(data.byteLength),
        'cache-control': 'no-store',
      })
      .end(req.method === 'HEAD' ? undefined : data);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(e instanceof Error ? e.message : String(e));
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

export interface BrowserRunOptions {
  /** The resolved model folder. */
  model: string;
  /** The resolved run folder, or null (nothing written). */
  out: string | null;
  log: (s: string) => void;
  /** Environment for Chromium (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** One experiment run in headless Chromium; the run's files land in `out` exactly as on the Node path. */
export async function runInBrowser(
  cfg: ExperimentConfig,
  opts: BrowserRunOptions,
): Promise<ExperimentResult> {
  const { log } = opts;
  const dist = await bundleDir(log);
  if (opts.out) await mkdir(opts.out, { recursive: true });
  const server = await serve(dist, opts.model, opts.out);
  // Debian's Chromium with the e2e tests' flags (WebGPU on SwiftShader here); never a downloaded browser.
  const [{ chromium }, { default: pwConfig }] = await Promise.all([
    import('@playwright/test'),
    import('../../playwright.config.ts'),
  ]);
  const launch = pwConfig.use?.launchOptions ?? {};
  const browser = await chromium.launch({
    ...launch,
    executablePath: launch.executablePath ?? process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    env: opts.env ?? process.env,
  });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => log(`[chromium] page error: ${e.message}`));
    page.on('console', (m) => {
      // A missing optional file of the model folder (a 404) is expected; other errors are worth seeing.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
        log(`[chromium] ${m.text()}`);
    });
    await page.exposeFunction('motgLog', (line: string) => log(line));
    await page.goto(server.url);
    await page.waitForFunction(() => typeof window.motgExperiment === 'function');
    const req: BrowserRunRequest = {
      cfg,
      modelUrl: `${server.url}model/`,
      model: opts.model,
      where: `in headless Chromium ${browser.version()}`,
      write: opts.out !== null,
    };
    const crashed = new Promise<never>((_, fail) => {
      page.once('crash', () => fail(new Error('the Chromium page crashed during the experiment')));
    });
    return await Promise.race([page.evaluate((r) => window.motgExperiment(r), req), crashed]);
  } finally {
    await browser.close();
    await server.close();
  }
}
