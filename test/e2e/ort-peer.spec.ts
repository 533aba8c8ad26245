// check.html in Debian's Chromium (WebGPU on SwiftShader): our WebGPU backend and onnxruntime-web's
// WebGPU EP run qwen2-tiny-a from the same folder; their logits must agree within 1e-4 × max|logit|, and
// both are timed. The fixture folder is served from disk through page.route (it is not copied into public/).
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { expect, test } from '@playwright/test';
import type { PeerCheckResult } from '../../src/check/peerCheck.ts';
import { HF_GOLDEN_DIR } from '../helpers/fixtures.ts';

const MODEL = 'qwen2-tiny-a';
const DIR = `${HF_GOLDEN_DIR}/${MODEL}`;
const TYPES: Record<string, string> = { json: 'application/json', onnx: 'application/octet-stream' };

test('ORT WebGPU EP agrees with our WebGPU backend on qwen2-tiny-a, both timed', async ({ page }) => {
  // Missing fixtures are a failure, not a skip: this check must run wherever the suite runs.
  expect(existsSync(`${DIR}/model.onnx`), `no fixtures at ${DIR} (set MOTG_FIXTURES)`).toBe(true);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`page console: ${m.text()}`);
  });
  const served: string[] = [];
  await page.route(`**/fixtures/${MODEL}/**`, async (route) => {
    const name = decodeURIComponent(basename(new URL(route.request().url()).pathname));
    const file = `${DIR}/${name}`;
    if (!existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
    served.push(name);
    const ext = name.split('.').pop() ?? '';
    return route.fulfill({
      status: 200,
      body: readFileSync(file),
      headers: { 'content-type': TYPES[ext] ?? 'application/octet-stream' },
    });
  });
  await page.goto('/check.html');
  await page.waitForFunction(() => typeof window.motgPeerCheck === 'function');
  const r: PeerCheckResult = await page.evaluate(
    (baseUrl) =>
      window.motgPeerCheck({ baseUrl, B: 2, T: 12, warmup: 1, runs: 3, decodeB: 1, decodeTokens: 16 }),
    `/fixtures/${MODEL}`,
  );
  const ref = r.reference!;
  const wasm = r.ortWasm!;
  console.log(
    `adapter ${JSON.stringify(r.adapter.description || r.adapter.vendor)} (software: ${r.adapterIsSoftware}), ` +
      `WGSL sin/cos max err ${r.wgslSinCosMaxErr.toExponential(2)}\n` +
      `logits B=${r.B} T=${r.T}, max|logit| ${r.compare.maxAbsLogit.toFixed(3)}: max|Δ| ours-vs-ORT-webgpu ` +
      `${r.compare.maxAbsErr.toExponential(3)}, ours-vs-ORT-wasm ${wasm.compare.maxAbsErr.toExponential(3)}, ` +
      `ours-vs-CPU-ref ${ref.oursVsCpu.maxAbsErr.toExponential(3)}, ORT-webgpu-vs-CPU-ref ${ref.ortVsCpu.maxAbsErr.toExponential(3)}\n` +
      `forward median: ours ${r.ours.medianMs.toFixed(2)} ms, ORT webgpu ${r.ort.medianMs.toFixed(2)} ms ` +
      `(ORT/ours ${r.speedupVsOrt.toFixed(2)}×), ORT wasm ${wasm.forward.medianMs.toFixed(2)} ms; ` +
      `our decode ${r.decode?.tokensPerSecond.toFixed(1)} tok/s`,
  );
  expect(served).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'model.onnx']));
  expect(r.ortEp).toBe('webgpu');
  expect(r.config.vocabSize).toBe(512);
  expect(r.compare.maxAbsLogit).toBeGreaterThan(1);
  expect(r.compare.tol).toBeCloseTo(1e-4 * r.compare.maxAbsLogit, 12);

  // Ours (WebGPU in the page) against our CPU reference and against ORT's wasm EP: the project's 1e-4 rule.
  expect(ref.oursVsCpu.maxAbsErr).toBeLessThanOrEqual(ref.oursVsCpu.tol);
  expect(wasm.compare.maxAbsErr).toBeLessThanOrEqual(wasm.compare.tol);
  // Ours against ORT's WebGPU EP: 1e-4 × max|logit| on a hardware adapter. On a software adapter
  // (SwiftShader here) ORT's RoPE takes cos/sin from WGSL's built-ins, which SwiftShader computes to
  // ~2e-4 absolute (the WGSL spec allows 2^-11), so ORT itself lands ~1.4e-4 × max|logit| from the CPU
  // reference while ours (cos/sin table built on the CPU) stays within ~1e-6: 1e-3 × max|logit| there.
  const rel = r.adapterIsSoftware && r.wgslSinCosMaxErr > 1e-5 ? 1e-3 : 1e-4;
  expect(r.compare.maxAbsErr).toBeLessThanOrEqual(rel * r.compare.maxAbsLogit);

  for (const t of [r.ours, r.ort, wasm.forward]) {
    expect(t.runsMs).toHaveLength(3);
    for (const ms of t.runsMs) expect(ms).toBeGreaterThan(0);
    expect(t.medianMs).toBeGreaterThan(0);
    expect(t.tokensPerSecond).toBeGreaterThan(0);
  }
  expect(r.speedupVsOrt).toBeGreaterThan(0);
  expect(r.decode?.newTokens).toBe(16);
  expect(r.decode?.decodeMs).toBeGreaterThan(0);
  expect(r.decode?.tokensPerSecond).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});
