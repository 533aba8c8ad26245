// The check page (check.html): exposes window.motgPeerCheck, which runs on the main thread (navigator.gpu
// is there): our WebGPU backend and onnxruntime-web on the same model folder, logits compared and timed.
// With `?model=<folder URL>` the page runs it once and shows the JSON.
import { type PeerCheckOptions, type PeerCheckResult, runPeerCheck } from './peerCheck.ts';

declare global {
  interface Window {
    motgPeerCheck: (opts: PeerCheckOptions) => Promise<PeerCheckResult>;
  }
}

window.motgPeerCheck = (opts) => runPeerCheck(navigator.gpu, opts);

const out = document.getElementById('out');
const model = new URLSearchParams(location.search).get('model');
if (out && model) {
  out.textContent = `running on ${model}…`;
  window
    .motgPeerCheck({ baseUrl: model })
    .then((r) => {
      out.textContent = JSON.stringify(r, null, 2);
    })
    .catch((e: unknown) => {
      out.textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
    });
}
