// The headless-Chromium side of `npm run experiment` (src/node/experimentBrowser.ts bundles this module and
// serves it with the model folder). Exposes window.motgExperiment, which runs one experiment on the page's
// main thread (navigator.gpu is there) with the same Engine and run loop as the Node path
// (src/experiment/run.ts); progress lines go to window.motgLog (exposed by Node), files are PUT/POSTed to
// /out/<name> on the server, which writes them into the run folder.
import { Engine } from '../worker/engine.ts';
import { adapterLabel, type ExperimentConfig, type ExperimentResult, type RunSink, runLoop } from './run.ts';

export interface BrowserRunRequest {
  cfg: ExperimentConfig;
  /** The model folder's URL on the server. */
  modelUrl: string;
  /** The model as summary.json names it (the folder's path on the Node side). */
  model: string;
  /** Where the browser is, for the backend line (`in headless Chromium 1xx`). */
  where: string;
  /** Write the run's files (false: no --out). */
  write: boolean;
}

declare global {
  interface Window {
    motgExperiment: (req: BrowserRunRequest) => Promise<ExperimentResult>;
    /** Exposed by Node (page.exposeFunction): one line of progress. */
    motgLog?: (line: string) => Promise<void>;
  }
}

const httpSink: RunSink = {
  async write(name, data) {
    await send('PUT', name, data);
  },
  async append(name, text) {
    await send('POST', name, text);
  },
  async read(name) {
    const res = await fetch(outUrl(name), { cache: 'no-store' });
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`reading ${name} failed: HTTP ${res.status} ${await res.text()}`);
    return new Uint8Array(await res.arrayBuffer());
  },
};

const outUrl = (name: string) => `/out/${name.split('/').map(encodeURIComponent).join('/')}`;

async function send(method: 'PUT' | 'POST', name: string, data: string | Uint8Array): Promise<void> {
  const url = outUrl(name);
  const body = typeof data === 'string' ? data : (data as Uint8Array<ArrayBuffer>);
  const res = await fetch(url, { method, body });
  if (!res.ok) throw new Error(`writing ${name} failed: HTTP ${res.status} ${await res.text()}`);
}

window.motgExperiment = async (req) => {
  const log = (s: string) => {
    void window.motgLog?.(s);
  };
  const engine = new Engine({ gpu: navigator.gpu ?? null });
  const info = await engine.init({ backend: req.cfg.cpu ? 'cpu' : 'webgpu' });
  const adapter = adapterLabel(info, ` ${req.where}`);
  log(`backend: ${adapter}`);
  try {
    const mi = await engine.loadModel({ kind: 'url', baseUrl: req.modelUrl });
    log(`model: ${req.model} (${mi.numParameters} parameters)`);
    const r = await runLoop(engine, req.cfg, {
      adapter,
      model: req.model,
      modelInfo: mi,
      sink: req.write ? httpSink : null,
      log,
    });
    return { backend: info.backend, adapter, ...r };
  } finally {
    await engine.dispose();
  }
};

document.title = 'motg experiment: ready';
