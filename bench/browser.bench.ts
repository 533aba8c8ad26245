// Browser benchmark (not a test): our WebGPU forward vs onnxruntime-web's WebGPU EP on the same model and
// the same adapter, in Debian's Chromium (the e2e flags), plus our greedy decode tokens/s. Builds the app
// (vite, into a temporary folder), serves it and the fixture folder with a tiny static server, opens
// /check.html and calls window.motgPeerCheck (src/check/peerCheck.ts).
//   npx tsx bench/browser.bench.ts             B×T = 1×12 and 2×32, decode B = 1 and 4 × 32 tokens
//   npx tsx bench/browser.bench.ts --quick     1×12 only, decode B = 1 × 16 tokens, fewer runs
// Options: --fixtures DIR, --model NAME (default qwen2-tiny-a; needs model.onnx), --dist DIR (an existing
// `vite build` output; default: build afresh), --runs N, --warmup N, --tag NAME (default hostname).
// Prints a table, then one JSON line, also written to bench/results/browser-<tag>.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { chromium } from 'playwright-core';
import type { PeerCheckOptions, PeerCheckResult } from '../src/check/peerCheck.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const ROOT = resolve(import.meta.dirname, '..');
const quick = flag('quick');
const fixtures = resolve(opt('fixtures') ?? process.env.MOTG_FIXTURES ?? resolve(ROOT, '../shared/fixtures'));
const model = opt('model') ?? 'qwen2-tiny-a';
const modelDir = resolve(fixtures, 'hf-golden', model);
const tag = (opt('tag') ?? hostname()).replace(/[^A-Za-z0-9._-]/g, '_');
const warmup = Number(opt('warmup') ?? (quick ? 1 : 2));
const runs = Number(opt('runs') ?? (quick ? 3 : 5));
const SHAPES: [number, number][] = quick
  ? [[1, 12]]
  : [
      [1, 12],
      [2, 32],
    ];
const DECODE_B = quick ? [1] : [1, 4];
const DECODE_TOKENS = quick ? 16 : 32;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
};

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

/** The built app's folder, and whether this run made it (then it is removed at the end). */
function buildApp(): { dist: string; ours: boolean } {
  const given = opt('dist');
  if (given) {
    const dir = resolve(given);
    if (!existsSync(join(dir, 'check.html')))
      throw new Error(`${dir}/check.html not found: build the app first`);
    return { dist: dir, ours: false };
  }
  const dir = join(tmpdir(), `motg-browser-bench-${process.pid}`);
  log(`building the app into ${dir} …`);
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn', '--outDir', dir, '--emptyOutDir'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { dist: dir, ours: true };
}

/** dist/ at /, the model folder at /fixtures/<model>/. Files only, no directory listing, no `..`. */
function serve(dist: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const prefix = `/fixtures/${model}/`;
    const [base, rel] = path.startsWith(prefix)
      ? [modelDir, path.slice(prefix.length)]
      : [dist, path === '/' ? 'index.html' : path.slice(1)];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const body = readFileSync(file);
    res
      .writeHead(200, {
        'content-type': MIME[extname(file)] ?? 'application/octet-stream',
        'content-length': body.byteLength,
      })
      .end(body);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

interface Row {
  B: number;
  T: number;
  oursMs: number;
  ortWebgpuMs: number;
  ortWasmMs: number | null;
  /** ORT WebGPU ms / ours ms (> 1: ours faster). */
  ortOverOurs: number;
  maxAbsErr: number;
  maxAbsLogit: number;
  oursVsCpuRel: number | null;
  ortVsCpuRel: number | null;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  if (!existsSync(join(modelDir, 'model.onnx'))) throw new Error(`${modelDir}/model.onnx not found`);
  const { dist, ours: builtHere } = buildApp();
  const server = await serve(dist);
  const port = (server.address() as AddressInfo).port;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  const results: PeerCheckResult[] = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}/check.html`);
    await page.waitForFunction(() => typeof window.motgPeerCheck === 'function');
    const calls: PeerCheckOptions[] = [
      ...SHAPES.map(([B, T]) => ({ B, T, warmup, runs, decodeTokens: 0 })),
      ...DECODE_B.map((decodeB) => ({
        B: 1,
        T: 12,
        warmup: 1,
        runs: 1,
        alsoWasm: false,
        reference: false,
        decodeB,
        decodeTokens: DECODE_TOKENS,
      })),
    ].map((o) => ({ ...o, baseUrl: `/fixtures/${model}` }));
    for (const o of calls) {
      const t = performance.now();
      const r = await page.evaluate((opts) => window.motgPeerCheck(opts), o);
      results.push(r);
      log(
        `  B=${r.B} T=${r.T}${r.decode ? ` decode B=${r.decode.B}` : ''}: ours ${r.ours.medianMs.toFixed(2)} ms, ` +
          `ORT webgpu ${r.ort.medianMs.toFixed(2)} ms (${((performance.now() - t) / 1000).toFixed(1)} s)`,
      );
    }
  } finally {
    await browser.close();
    server.close();
    if (builtHere) rmSync(dist, { recursive: true, force: true });
  }

  const first = results[0];
  const rows: Row[] = results
    .filter((r) => r.decode === null)
    .map((r) => ({
      B: r.B,
      T: r.T,
      oursMs: r.ours.medianMs,
      ortWebgpuMs: r.ort.medianMs,
      ortWasmMs: r.ortWasm?.forward.medianMs ?? null,
      ortOverOurs: r.speedupVsOrt,
      maxAbsErr: r.compare.maxAbsErr,
      maxAbsLogit: r.compare.maxAbsLogit,
      oursVsCpuRel: r.reference ? r.reference.oursVsCpu.maxAbsErr / r.reference.oursVsCpu.maxAbsLogit : null,
      ortVsCpuRel: r.reference ? r.reference.ortVsCpu.maxAbsErr / r.reference.ortVsCpu.maxAbsLogit : null,
    }));
  const decode = results.flatMap((r) => (r.decode ? [r.decode] : []));

  const a = first.adapter;
  console.log(
    `\nChromium WebGPU adapter: ${[a.vendor, a.architecture, a.description].filter(Boolean).join(' / ')}` +
      ` (${first.adapterIsSoftware ? 'software' : 'hardware'}; WGSL sin/cos max err ${first.wgslSinCosMaxErr.toExponential(1)})`,
  );
  console.log(
    `Model ${model}; forward = input_ids → logits read back, median of ${runs} after ${warmup} warm-up\n`,
  );
  console.log(
    'B×T    ours WebGPU ms  ORT WebGPU-EP ms  ORT/ours  ORT wasm ms  rel err vs ORT  ours vs CPU  ORT vs CPU',
  );
  for (const r of rows) {
    console.log(
      [
        `${r.B}×${r.T}`.padEnd(5),
        r.oursMs.toFixed(2).padStart(14),
        r.ortWebgpuMs.toFixed(2).padStart(16),
        `${r.ortOverOurs.toFixed(2)}×`.padStart(8),
        (r.ortWasmMs?.toFixed(2) ?? '-').padStart(11),
        (r.maxAbsErr / r.maxAbsLogit).toExponential(1).padStart(14),
        (r.oursVsCpuRel?.toExponential(1) ?? '-').padStart(11),
        (r.ortVsCpuRel?.toExponential(1) ?? '-').padStart(10),
      ].join('  '),
    );
  }
  console.log(`\nOur greedy decode (KV cache, prompt 8, ${DECODE_TOKENS} new tokens):`);
  for (const d of decode) {
    console.log(
      `  B=${d.B}: ${d.tokensPerSecond.toFixed(1)} tokens/s (${d.decodeMs.toFixed(1)} ms; prefill ${d.prefillMs.toFixed(1)} ms)`,
    );
  }
  const totalS = (performance.now() - t0) / 1000;
  const result = {
    bench: 'browser',
    tag,
    host: hostname(),
    date: new Date().toISOString(),
    browser: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    model,
    quick,
    warmup,
    runs,
    adapter: first.adapter,
    adapterIsSoftware: first.adapterIsSoftware,
    wgslSinCosMaxErr: first.wgslSinCosMaxErr,
    forward: rows,
    decode,
    raw: results,
    totalSeconds: +totalS.toFixed(1),
  };
  const outDir = resolve(import.meta.dirname, 'results');
  mkdirSync(outDir, { recursive: true });
  const file = resolve(outDir, `browser-${tag}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  log(`written ${file} (${totalS.toFixed(1)} s in all)`);
  console.log(JSON.stringify({ ...result, raw: undefined }));
}

await main();
