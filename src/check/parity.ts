// Parity checks against a folder in the golden fixtures' format (config.json, model.safetensors,
// model.bf16.safetensors, adapter/, golden.json + golden.safetensors): run a backend on the recorded
// inputs and compare every forward tensor the folder lists. Shared by `npm run parity` and the tests.
import type { Backend } from '../engine/backend.ts';
import type { Qwen2Config } from '../engine/config.ts';
import { parseSafetensors } from '../engine/model/safetensors.ts';
import type { ModelSource } from '../engine/model/source.ts';
import type { HostTensor } from '../engine/tensor.ts';
import { checkTensor, DEFAULT_REL_TOL, type TensorCheck } from './tensorCheck.ts';

export interface GoldenSet {
  /** golden.json's tensor descriptions by name. */
  described: Map<string, { shape: number[]; what: string }>;
  tensors: Map<string, HostTensor>;
}

export async function loadGoldenSet(source: ModelSource): Promise<GoldenSet> {
  const text = await source.readText('golden.json');
  const bytes = await source.readFile('golden.safetensors');
  if (text === null || bytes === null)
    throw new Error(`${source.label}: golden.json and golden.safetensors are required`);
  const meta = JSON.parse(text) as { tensors: Record<string, { shape: number[]; what: string }> };
  const tensors = new Map<string, HostTensor>();
  for (const [name, t] of parseSafetensors(bytes, 'golden.safetensors'))
    tensors.set(name, { shape: t.shape, data: t.data });
  return { described: new Map(Object.entries(meta.tensors)), tensors };
}

/** The backends a parity run needs: the f32 model (with its adapter loaded) and the bf16 one. */
export interface ParityBackends {
  name: string;
  config: Qwen2Config;
  f32: Backend;
  /** Same model loaded from model.bf16.safetensors; null when the folder has none. */
  bf16: Backend | null;
  /** True when the f32 backend has the folder's adapter loaded (for `lora.*`). */
  hasAdapter: boolean;
}

/** The forward tensors this engine can check so far, in the order they are reported. */
export function forwardTensorNames(golden: GoldenSet): string[] {
  const names = [...golden.described.keys()];
  const wanted = (n: string) =>
    n === 'logits' ||
    n.startsWith('hidden.') ||
    n === 'padded.logits' ||
    n === 'mix.inputs_embeds' ||
    n === 'mix.logits' ||
    n === 'dense.logits' ||
    n === 'bf16.logits' ||
    n === 'lora.logits' ||
    n === 'loss.logp' ||
    n === 'loss.value';
  return names.filter(wanted);
}

function need(golden: GoldenSet, name: string): HostTensor {
  const t = golden.tensors.get(name);
  if (!t) throw new Error(`golden.safetensors lacks ${name}`);
  return t;
}

/** Run every supported forward check; returns one TensorCheck per golden tensor. */
export async function forwardParity(
  golden: GoldenSet,
  b: ParityBackends,
  rel = DEFAULT_REL_TOL,
): Promise<TensorCheck[]> {
  const checks: TensorCheck[] = [];
  const names = new Set(forwardTensorNames(golden));
  const V = b.config.vocabSize;
  const ids = need(golden, 'ids');
  const [B, T] = ids.shape;

  // Plain ids: logits, every hidden state, and the policy-gradient loss terms computed from the logits.
  const plain = await b.f32.forward({ kind: 'ids', ids: ids.data }, B, T, { hiddenStates: true });
  if (names.has('logits')) checks.push(checkTensor('logits', plain.logits, need(golden, 'logits').data, rel));
  for (const name of names) {
    if (!name.startsWith('hidden.')) continue;
    const h = plain.hidden;
    if (!h) throw new Error('backend returned no hidden states');
    const which = name.slice('hidden.'.length);
    const got =
      which === 'embed'
        ? h.embed
        : which === 'final_norm'
          ? h.finalNorm
          : h.layers[Number(which.replace('layer', ''))];
    checks.push(checkTensor(name, got ?? new Float32Array(0), need(golden, name).data, rel));
  }
  if (names.has('loss.logp') || names.has('loss.value')) {
    const targets = need(golden, 'loss.targets').data;
    const coef = need(golden, 'loss.coef').data;
    const logp = new Float32Array(B * T);
    let loss = 0;
    for (let n = 0; n < B * T; n++) {
      logp[n] = logSoftmaxAt(plain.logits, n * V, V, targets[n]);
      loss -= coef[n] * logp[n];
    }
    if (names.has('loss.logp'))
      checks.push(checkTensor('loss.logp', logp, need(golden, 'loss.logp').data, rel));
    if (names.has('loss.value'))
      checks.push(checkTensor('loss.value', [loss], need(golden, 'loss.value').data, rel));
  }

  if (names.has('padded.logits')) {
    const mask = need(golden, 'padded.attention_mask').data;
    const out = await b.f32.forward({ kind: 'ids', ids: need(golden, 'padded.ids').data }, B, T, {
      attentionMask: mask,
      positionIds: need(golden, 'padded.position_ids').data,
    });
    const want = await paddedReference(golden, b.f32, B, T, V);
    checks.push(checkTensor('padded.logits', out.logits, want, rel, (i) => mask[Math.floor(i / V)] === 1));
  }

  if (names.has('mix.logits') || names.has('mix.inputs_embeds')) {
    const mixIds = need(golden, 'mix.ids');
    const k = mixIds.shape[2];
    const out = await b.f32.forward(
      { kind: 'mixture', ids: mixIds.data, weights: need(golden, 'mix.weights').data, k },
      B,
      T,
      {
        hiddenStates: names.has('mix.inputs_embeds'),
      },
    );
    if (names.has('mix.inputs_embeds') && out.hidden) {
      checks.push(
        checkTensor('mix.inputs_embeds', out.hidden.embed, need(golden, 'mix.inputs_embeds').data, rel),
      );
    }
    if (names.has('mix.logits'))
      checks.push(checkTensor('mix.logits', out.logits, need(golden, 'mix.logits').data, rel));
  }

  if (names.has('dense.logits')) {
    const probs = need(golden, 'dense.probs');
    const [dB, dT] = probs.shape;
    const out = await b.f32.forward({ kind: 'dense', probs: probs.data }, dB, dT);
    checks.push(checkTensor('dense.logits', out.logits, need(golden, 'dense.logits').data, rel));
  }

  if (names.has('bf16.logits') && b.bf16) {
    const out = await b.bf16.forward({ kind: 'ids', ids: ids.data }, B, T);
    checks.push(checkTensor('bf16.logits', out.logits, need(golden, 'bf16.logits').data, rel));
  }

  if (names.has('lora.logits') && b.hasAdapter) {
    const out = await b.f32.forward({ kind: 'ids', ids: ids.data }, B, T, { lora: true });
    checks.push(checkTensor('lora.logits', out.logits, need(golden, 'lora.logits').data, rel));
  }
  return checks;
}

/**
 * The reference for padded.logits where the mask is 1. transformers (sdpa) returns NaN for the whole
 * left-padded row: its fully masked pad queries give NaN that leaks through 0-weight attention, so the
 * fixture holds a reference only for the unpadded row. For a NaN row we check what padding must not
 * change: the same backend on that row's real tokens alone, at positions 0.. (padding invariance).
 */
async function paddedReference(
  golden: GoldenSet,
  backend: Backend,
  B: number,
  T: number,
  V: number,
): Promise<Float32Array> {
  const want = need(golden, 'padded.logits').data.slice();
  const mask = need(golden, 'padded.attention_mask').data;
  const paddedIds = need(golden, 'padded.ids').data;
  for (let b = 0; b < B; b++) {
    let pad = 0;
    while (pad < T && mask[b * T + pad] === 0) pad++;
    const rowHasNaN = want.subarray((b * T + pad) * V, (b + 1) * T * V).some(Number.isNaN);
    if (!rowHasNaN || pad === T) continue;
    const alone = await backend.forward(
      { kind: 'ids', ids: paddedIds.subarray(b * T + pad, (b + 1) * T) },
      1,
      T - pad,
    );
    want.set(alone.logits, (b * T + pad) * V);
  }
  return want;
}

function logSoftmaxAt(logits: Float32Array, base: number, V: number, target: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[base + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[base + v] - max);
  return logits[base + target] - max - Math.log(sum);
}
