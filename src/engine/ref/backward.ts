// Training on the CPU reference: the forward with every activation saved (ref/model.ts's one forward,
// saving on) and the backward pass that walks the layers in reverse (llm.c's gpt2_forward /
// gpt2_backward). Gradients come back by HF parameter name (full fine-tuning) or by peft parameter name
// (LoRA).
//
// Accumulation rule (as every *Backward in ref/): parameter gradients `+=`, activation gradients `=`,
// except the residual stream, whose gradient `dres` is one buffer that each block's branch adds into.
// A frozen parameter's gradient is null (LoRA leaves the base frozen).
import { expectedParameters } from '../config.ts';
import { attentionBackward } from './attention.ts';
import { denseMixtureBackward, embeddingBackward, mixtureBackward } from './embedding.ts';
import { linearBackward, linearLoraBackward } from './linear.ts';
import { logprobLossBackward, logprobLossForward } from './loss.ts';
import { swigluBackward } from './mlp.ts';
import {
  headName,
  type LayerActivations,
  type LoraWeights,
  type ModelInput,
  parameter,
  qwen2ForwardPass,
  type RefModel,
  type SavedActivations,
} from './model.ts';
import { rmsnormBackward } from './rmsnorm.ts';
import { ropeBackward } from './rope.ts';

export interface TrainForwardOptions {
  /** (B, T) positions; default 0..T−1 in every row. */
  positionIds?: ArrayLike<number>;
  /** (B, T) 1 = real token, 0 = padding; default all ones. */
  attentionMask?: ArrayLike<number>;
  /** Apply this adapter in the forward (and, with `lora: true` in the backward, train it). */
  lora?: LoraWeights | null;
}

/** Everything qwen2Backward reads: the model, the input, and the saved activations. */
export interface TrainActivations extends SavedActivations {
  model: RefModel;
  input: ModelInput;
  B: number;
  T: number;
  lora: LoraWeights | null;
  logits: Float32Array; // (N, V)
}

export interface BackwardOptions {
  /** Train the adapter only: gradients for every LoRA A/B (peft names), none for the base. */
  lora?: boolean;
  /** Full fine-tuning: also train model.embed_tokens.weight (and so a tied head). Default true. */
  trainEmbeddings?: boolean;
  /** Add into these gradients (gradient accumulation) instead of fresh zeroed ones. */
  grads?: Map<string, Float32Array>;
}

export interface Qwen2Gradients {
  /** d loss / d parameter: every HF parameter (full fine-tuning; no lm_head when tied) or every LoRA
   * matrix named as peft names it in memory, `<module>.lora_A.default.weight` (see loraGradName). */
  grads: Map<string, Float32Array>;
  /** (N, C) d loss / d input embeddings. */
  dembeds: Float32Array;
  /** (N, K) d loss / d mixture weights, for `mixture` inputs; else null. */
  dmixWeights: Float32Array | null;
  /** (N, V) d loss / d dense mixture probabilities, for `dense` inputs; else null. */
  dprobs: Float32Array | null;
}

/** peft's in-memory name of an adapter matrix, as in the golden `lora_grad.*`:
 * `model.layers.0.mlp.up_proj.weight` → `model.layers.0.mlp.up_proj.lora_A.default.weight`. */
export function loraGradName(baseName: string, which: 'A' | 'B'): string {
  return `${baseName.replace(/\.weight$/, '')}.lora_${which}.default.weight`;
}

/** The full-sequence forward (no KV cache) that keeps every activation the backward needs: the one
 * forward of ref/model.ts with saving on, so its logits equal qwen2Forward's for the same input. */
export function qwen2ForwardTrain(
  model: RefModel,
  input: ModelInput,
  B: number,
  T: number,
  opts: TrainForwardOptions = {},
): TrainActivations {
  const lora = opts.lora ?? null;
  const { positionIds, attentionMask } = opts;
  const { logits, saved } = qwen2ForwardPass(model, input, B, T, {
    positionIds,
    attentionMask,
    lora,
    save: true,
  });
  // A saving forward always returns its activations.
  return { model, input, B, T, lora, ...saved!, logits };
}

/** What every step of one backward shares: the model, the gradients, and scratch reused by every layer. */
interface BackwardContext {
  model: RefModel;
  B: number;
  T: number;
  N: number;
  positions: Float64Array;
  lora: LoraWeights | null;
  /** Train the adapter (its A/B get gradients) with the base frozen. */
  trainLora: boolean;
  grads: Map<string, Float32Array>;
  dnormed: Float32Array; // (N, C) d(norm output)
  tmp: Float32Array; // (N, C) one projection's d input, before it joins dnormed
  dact: Float32Array; // (N, I)
  dgate: Float32Array; // (N, I)
  dup: Float32Array; // (N, I)
  dattOut: Float32Array; // (N, H·D)
  dq: Float32Array; // (N, H·D)
  dk: Float32Array; // (N, KVH·D)
  dv: Float32Array; // (N, KVH·D)
}

/** The backward pass from d loss / d logits (N, V). */
export function qwen2Backward(
  saved: TrainActivations,
  dlogits: Float32Array,
  opts: BackwardOptions = {},
): Qwen2Gradients {
  const { model, B, T, positions, lora } = saved;
  const cfg = model.config;
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: H, numKeyValueHeads: KVH, headDim: D } = cfg;
  const N = B * T;
  const trainLora = opts.lora === true;
  if (trainLora && !lora)
    throw new Error('qwen2Backward: lora training needs the forward to have run with an adapter');
  const trainEmbeddings = !trainLora && opts.trainEmbeddings !== false;
  const grads = opts.grads ?? new Map<string, Float32Array>();
  createGradients(grads, saved, trainLora, trainEmbeddings);
  const ctx: BackwardContext = {
    model,
    B,
    T,
    N,
    positions,
    lora,
    trainLora,
    grads,
    dnormed: new Float32Array(N * C),
    tmp: new Float32Array(N * C),
    dact: new Float32Array(N * I),
    dgate: new Float32Array(N * I),
    dup: new Float32Array(N * I),
    dattOut: new Float32Array(N * H * D),
    dq: new Float32Array(N * H * D),
    dk: new Float32Array(N * KVH * D),
    dv: new Float32Array(N * KVH * D),
  };
  const dres = headBackward(ctx, saved, dlogits);
  for (let l = cfg.numHiddenLayers - 1; l >= 0; l--) decoderLayerBackward(ctx, l, dres, saved.layers[l]);
  // dres is now d loss / d input embeddings: into the embedding matrix through the input.
  const dwte = trainEmbeddings ? gradOf(ctx, 'model.embed_tokens.weight') : null;
  return { grads, dembeds: dres, ...inputBackward(dwte, dres, saved.input, model, N) };
}

/** Gradients zeroed (or, accumulating, checked) for whatever trains: the adapter or the HF parameters. */
function createGradients(
  grads: Map<string, Float32Array>,
  saved: TrainActivations,
  trainLora: boolean,
  trainEmbeddings: boolean,
): void {
  if (trainLora && saved.lora) {
    for (const [base, pair] of saved.lora.layers) {
      gradientSlot(grads, loraGradName(base, 'A'), pair.A.data.length);
      gradientSlot(grads, loraGradName(base, 'B'), pair.B.data.length);
    }
    return;
  }
  for (const [name, shape] of expectedParameters(saved.model.config)) {
    if (name === 'model.embed_tokens.weight' && !trainEmbeddings) continue;
    gradientSlot(
      grads,
      name,
      shape.reduce((a, b) => a * b, 1),
    );
  }
}

/** The gradient buffer of `name`, created zeroed when absent (a caller's must have the right size). */
function gradientSlot(grads: Map<string, Float32Array>, name: string, size: number): Float32Array {
  let g = grads.get(name);
  if (!g) {
    g = new Float32Array(size);
    grads.set(name, g);
  } else if (g.length !== size)
    throw new Error(`qwen2Backward: gradient ${name} has ${g.length} elements, expected ${size}`);
  return g;
}

/** A base parameter's gradient, or null when it is frozen (LoRA training, or not trained). */
function gradOf(ctx: BackwardContext, name: string): Float32Array | null {
  return ctx.trainLora ? null : (ctx.grads.get(name) ?? null);
}

/** Head and final norm: returns dres, the residual stream's gradient (N, C), after model.norm. */
function headBackward(ctx: BackwardContext, saved: TrainActivations, dlogits: Float32Array): Float32Array {
  const { model, N, dnormed } = ctx;
  const { hiddenSize: C, vocabSize: V } = model.config;
  const head = headName(model.config);
  linearBackward(dnormed, gradOf(ctx, head), null, dlogits, saved.normedF, parameter(model, head), N, C, V);
  const dres = new Float32Array(N * C);
  const norm = 'model.norm.weight';
  rmsnormBackward(dres, gradOf(ctx, norm), dnormed, saved.resOut, parameter(model, norm), saved.rstdF, N, C);
  return dres;
}

/** One decoder layer in reverse; dres (N, C) enters as d resOut and leaves as d resIn. */
function decoderLayerBackward(
  ctx: BackwardContext,
  l: number,
  dres: Float32Array,
  a: LayerActivations,
): void {
  const { model, B, T, N, positions, dnormed, tmp, dact, dgate, dup, dattOut, dq, dk, dv } = ctx;
  const cfg = model.config;
  const { hiddenSize: C, intermediateSize: I, numAttentionHeads: H, numKeyValueHeads: KVH, headDim: D } = cfg;
  const pre = `model.layers.${l}`;
  // resOut = resMid + down(act): the residual's backward is the identity, so dres is both
  // d resMid and d(down output).
  projectionBackward(ctx, dact, dres, a.act, `${pre}.mlp.down_proj.weight`, I, C);
  swigluBackward(dgate, dup, dact, a.gate, a.up, N * I);
  projectionBackward(ctx, dnormed, dgate, a.normed2, `${pre}.mlp.gate_proj.weight`, C, I);
  projectionBackward(ctx, tmp, dup, a.normed2, `${pre}.mlp.up_proj.weight`, C, I);
  addInto(dnormed, tmp);
  const ln2 = `${pre}.post_attention_layernorm.weight`;
  rmsnormBackward(dres, gradOf(ctx, ln2), dnormed, a.resMid, parameter(model, ln2), a.rstd2, N, C);
  // resMid = resIn + o_proj(attention(...)).
  projectionBackward(ctx, dattOut, dres, a.attOut, `${pre}.self_attn.o_proj.weight`, H * D, C);
  attentionBackward(dq, dk, dv, dattOut, a.q, a.k, a.v, a.att, B, T, T, 0, H, KVH, D);
  ropeBackward(dq, dq, positions, N, H, D, cfg.ropeTheta);
  ropeBackward(dk, dk, positions, N, KVH, D, cfg.ropeTheta);
  projectionBackward(ctx, dnormed, dq, a.normed1, `${pre}.self_attn.q_proj.weight`, C, H * D);
  projectionBackward(ctx, tmp, dk, a.normed1, `${pre}.self_attn.k_proj.weight`, C, KVH * D);
  addInto(dnormed, tmp);
  projectionBackward(ctx, tmp, dv, a.normed1, `${pre}.self_attn.v_proj.weight`, C, KVH * D);
  addInto(dnormed, tmp);
  const ln1 = `${pre}.input_layernorm.weight`;
  rmsnormBackward(dres, gradOf(ctx, ln1), dnormed, a.resIn, parameter(model, ln1), a.rstd1, N, C);
}

/** Backward of ref/model.ts projectionForward: dinp (=), and either the base's or the adapter's
 * gradients (+=). */
function projectionBackward(
  ctx: BackwardContext,
  dinp: Float32Array | null,
  dout: Float32Array,
  inp: Float32Array,
  name: string,
  IC: number,
  OC: number,
): void {
  const { model, lora, trainLora, grads, N } = ctx;
  const weight = parameter(model, name);
  const dbiasName = name.replace(/\.weight$/, '.bias');
  const adapter = lora?.layers.get(name);
  if (!(lora && adapter)) {
    linearBackward(dinp, gradOf(ctx, name), gradOf(ctx, dbiasName), dout, inp, weight, N, IC, OC);
    return;
  }
  const dA = trainLora ? gradientSlot(grads, loraGradName(name, 'A'), adapter.A.data.length) : null;
  const dB = trainLora ? gradientSlot(grads, loraGradName(name, 'B'), adapter.B.data.length) : null;
  const { A, B } = adapter;
  linearLoraBackward(dinp, dA, dB, dout, inp, weight, A.data, B.data, lora.scale, N, IC, OC, lora.r);
  // Full fine-tuning through a loaded adapter: the base trains too (the adapter stays fixed).
  if (!trainLora)
    linearBackward(null, gradOf(ctx, name), gradOf(ctx, dbiasName), dout, inp, weight, N, IC, OC);
}

function addInto(dst: Float32Array, src: Float32Array): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/** From d loss / d input embeddings into the embedding matrix (dwte +=, or null when frozen) and into
 * the mixture weights or dense probabilities the input was made of. */
function inputBackward(
  dwte: Float32Array | null,
  dembeds: Float32Array,
  input: ModelInput,
  model: RefModel,
  N: number,
): Pick<Qwen2Gradients, 'dmixWeights' | 'dprobs'> {
  const { hiddenSize: C, vocabSize: V } = model.config;
  const wte = parameter(model, 'model.embed_tokens.weight');
  switch (input.kind) {
    case 'ids':
      if (dwte) embeddingBackward(dwte, dembeds, input.ids, N, C);
      return { dmixWeights: null, dprobs: null };
    case 'mixture': {
      const dmixWeights = new Float32Array(N * input.k);
      mixtureBackward(dwte, dmixWeights, dembeds, input.ids, input.weights, wte, N, input.k, C);
      return { dmixWeights, dprobs: null };
    }
    case 'dense': {
      const dprobs = new Float32Array(N * V);
      denseMixtureBackward(dwte, dprobs, dembeds, input.probs, wte, N, V, C);
      return { dmixWeights: null, dprobs };
    }
    case 'embeds':
      return { dmixWeights: null, dprobs: null };
  }
}

/** Forward, the log-prob loss of ref/loss.ts (−Σ coef · logp[target]) and the backward, in one call. */
export function qwen2LossAndGrads(
  model: RefModel,
  input: ModelInput,
  B: number,
  T: number,
  targets: ArrayLike<number>,
  coef: ArrayLike<number>,
  fwd: TrainForwardOptions = {},
  back: BackwardOptions = {},
): Qwen2Gradients & { loss: number; logp: Float32Array; logits: Float32Array } {
  const saved = qwen2ForwardTrain(model, input, B, T, fwd);
  const N = B * T;
  const V = model.config.vocabSize;
  const logp = new Float32Array(N);
  const loss = logprobLossForward(logp, saved.logits, targets, coef, N, V);
  const dlogits = new Float32Array(N * V);
  logprobLossBackward(dlogits, saved.logits, targets, coef, N, V);
  const g = qwen2Backward(saved, dlogits, back);
  return { ...g, loss, logp, logits: saved.logits };
}
