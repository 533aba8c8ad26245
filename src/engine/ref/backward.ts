// Training on the CPU reference: a full-sequence forward that saves what the backward needs, and the
// backward pass that walks the layers in reverse (llm.c's gpt2_forward / gpt2_backward). Gradients
// come back by HF parameter name (full fine-tuning) or by peft parameter name (LoRA).
//
// Accumulation rule (as every *Backward in ref/): parameter gradients `+=`, activation gradients `=`,
// except the residual stream, whose gradient `dres` is one buffer that each block's branch adds into.
// A frozen parameter's gradient is null (LoRA leaves the base frozen).
import { expectedParameters } from '../config.ts';
import { attentionBackward, attentionForward } from './attention.ts';
import { denseMixtureBackward, embeddingBackward, mixtureBackward } from './embedding.ts';
import { linearBackward, linearForward, linearLoraBackward, linearLoraForward } from './linear.ts';
import { logprobLossBackward, logprobLossForward } from './loss.ts';
import { swigluBackward, swigluForward } from './mlp.ts';
import { embedInputs, type LoraWeights, type ModelInput, type RefModel } from './model.ts';
import { residualForward } from './residual.ts';
import { rmsnormBackward, rmsnormForward } from './rmsnorm.ts';
import { ropeBackward, ropeForward } from './rope.ts';

export interface TrainForwardOptions {
  /** (B, T) positions; default 0..T−1 in every row. */
  positionIds?: ArrayLike<number>;
  /** (B, T) 1 = real token, 0 = padding; default all ones. */
  attentionMask?: ArrayLike<number>;
  /** Apply this adapter in the forward (and, with `lora: true` in the backward, train it). */
  lora?: LoraWeights | null;
}

/** What one decoder layer saves for its backward (N = B·T). */
export interface LayerActivations {
  resIn: Float32Array; // (N, C) residual stream entering the layer (the previous layer's resOut)
  rstd1: Float32Array; // (N) input_layernorm 1/rms
  normed1: Float32Array; // (N, C) input_layernorm output: input of q/k/v_proj
  q: Float32Array; // (N, H·D) after RoPE
  k: Float32Array; // (N, KVH·D) after RoPE
  v: Float32Array; // (N, KVH·D)
  att: Float32Array; // (B, H, T, T) softmax probabilities
  attOut: Float32Array; // (N, H·D) input of o_proj
  resMid: Float32Array; // (N, C) residual stream after attention
  rstd2: Float32Array; // (N) post_attention_layernorm 1/rms
  normed2: Float32Array; // (N, C) input of gate/up_proj
  gate: Float32Array; // (N, I) gate_proj output
  up: Float32Array; // (N, I) up_proj output
  act: Float32Array; // (N, I) silu(gate) · up: input of down_proj
}

/** Everything qwen2Backward reads: the model, the input, and the saved activations. */
export interface TrainActivations {
  model: RefModel;
  input: ModelInput;
  B: number;
  T: number;
  positions: Float64Array; // (N)
  mask: Uint8Array; // (B, T)
  lora: LoraWeights | null;
  embeds: Float32Array; // (N, C) input embeddings (= layers[0].resIn)
  layers: LayerActivations[];
  resOut: Float32Array; // (N, C) residual stream after the last layer
  rstdF: Float32Array; // (N) model.norm 1/rms
  normedF: Float32Array; // (N, C) input of lm_head
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

function param(model: RefModel, name: string): Float32Array {
  const t = model.weights.get(name);
  if (!t) throw new Error(`reference training: missing parameter ${name}`);
  return t.data;
}

/** The full-sequence forward (no KV cache) that keeps every activation the backward needs. Its logits
 * equal qwen2Forward's for the same input and options. */
export function qwen2ForwardTrain(
  model: RefModel,
  input: ModelInput,
  B: number,
  T: number,
  opts: TrainForwardOptions = {},
): TrainActivations {
  const cfg = model.config;
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
    vocabSize: V,
  } = cfg;
  const N = B * T;
  const eps = cfg.rmsNormEps;
  const lora = opts.lora ?? null;
  const positions = new Float64Array(N);
  const mask = new Uint8Array(N);
  for (let n = 0; n < N; n++) {
    positions[n] = opts.positionIds ? opts.positionIds[n] : n % T;
    mask[n] = opts.attentionMask ? opts.attentionMask[n] : 1;
  }
  const linear = (out: Float32Array, inp: Float32Array, name: string, IC: number, OC: number) => {
    const bias = model.weights.get(name.replace(/\.weight$/, '.bias'))?.data ?? null;
    const l = lora?.layers.get(name);
    if (l && lora)
      linearLoraForward(
        out,
        inp,
        param(model, name),
        bias,
        l.A.data,
        l.B.data,
        lora.scale,
        N,
        IC,
        OC,
        lora.r,
      );
    else linearForward(out, inp, param(model, name), bias, N, IC, OC);
  };

  const embeds = embedInputs(model, input, N);
  const proj = new Float32Array(N * C);
  const layers: LayerActivations[] = [];
  let res = embeds;
  for (let l = 0; l < cfg.numHiddenLayers; l++) {
    const pre = `model.layers.${l}`;
    const a: LayerActivations = {
      resIn: res,
      rstd1: new Float32Array(N),
      normed1: new Float32Array(N * C),
      q: new Float32Array(N * H * D),
      k: new Float32Array(N * KVH * D),
      v: new Float32Array(N * KVH * D),
      att: new Float32Array(B * H * T * T),
      attOut: new Float32Array(N * H * D),
      resMid: new Float32Array(N * C),
      rstd2: new Float32Array(N),
      normed2: new Float32Array(N * C),
      gate: new Float32Array(N * I),
      up: new Float32Array(N * I),
      act: new Float32Array(N * I),
    };
    rmsnormForward(a.normed1, a.rstd1, a.resIn, param(model, `${pre}.input_layernorm.weight`), N, C, eps);
    linear(a.q, a.normed1, `${pre}.self_attn.q_proj.weight`, C, H * D);
    linear(a.k, a.normed1, `${pre}.self_attn.k_proj.weight`, C, KVH * D);
    linear(a.v, a.normed1, `${pre}.self_attn.v_proj.weight`, C, KVH * D);
    ropeForward(a.q, a.q, positions, N, H, D, cfg.ropeTheta);
    ropeForward(a.k, a.k, positions, N, KVH, D, cfg.ropeTheta);
    attentionForward(a.attOut, a.att, a.q, a.k, a.v, mask, B, T, T, 0, H, KVH, D);
    linear(proj, a.attOut, `${pre}.self_attn.o_proj.weight`, H * D, C);
    residualForward(a.resMid, a.resIn, proj, N * C);
    rmsnormForward(
      a.normed2,
      a.rstd2,
      a.resMid,
      param(model, `${pre}.post_attention_layernorm.weight`),
      N,
      C,
      eps,
    );
    linear(a.gate, a.normed2, `${pre}.mlp.gate_proj.weight`, C, I);
    linear(a.up, a.normed2, `${pre}.mlp.up_proj.weight`, C, I);
    swigluForward(a.act, a.gate, a.up, N * I);
    linear(proj, a.act, `${pre}.mlp.down_proj.weight`, I, C);
    res = new Float32Array(N * C);
    residualForward(res, a.resMid, proj, N * C);
    layers.push(a);
  }
  const rstdF = new Float32Array(N);
  const normedF = new Float32Array(N * C);
  rmsnormForward(normedF, rstdF, res, param(model, 'model.norm.weight'), N, C, eps);
  const logits = new Float32Array(N * V);
  linearForward(
    logits,
    normedF,
    param(model, cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'),
    null,
    N,
    C,
    V,
  );
  return { model, input, B, T, positions, mask, lora, embeds, layers, resOut: res, rstdF, normedF, logits };
}

/** The backward pass from d loss / d logits (N, V). */
export function qwen2Backward(
  saved: TrainActivations,
  dlogits: Float32Array,
  opts: BackwardOptions = {},
): Qwen2Gradients {
  const { model, B, T, positions, lora } = saved;
  const cfg = model.config;
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
    vocabSize: V,
  } = cfg;
  const N = B * T;
  const trainLora = opts.lora === true;
  if (trainLora && !lora)
    throw new Error('qwen2Backward: lora training needs the forward to have run with an adapter');
  const trainEmbeddings = !trainLora && opts.trainEmbeddings !== false;

  // Gradient buffers, zeroed or the caller's (accumulation).
  const grads = opts.grads ?? new Map<string, Float32Array>();
  const slot = (name: string, size: number): Float32Array => {
    let g = grads.get(name);
    if (!g) {
      g = new Float32Array(size);
      grads.set(name, g);
    } else if (g.length !== size)
      throw new Error(`qwen2Backward: gradient ${name} has ${g.length} elements, expected ${size}`);
    return g;
  };
  if (trainLora && lora) {
    for (const [base, pair] of lora.layers) {
      slot(loraGradName(base, 'A'), pair.A.data.length);
      slot(loraGradName(base, 'B'), pair.B.data.length);
    }
  } else {
    for (const [name, shape] of expectedParameters(cfg)) {
      if (name === 'model.embed_tokens.weight' && !trainEmbeddings) continue;
      slot(
        name,
        shape.reduce((a, b) => a * b, 1),
      );
    }
  }
  const gradOf = (name: string): Float32Array | null => (trainLora ? null : (grads.get(name) ?? null));

  // One linear layer's backward: dinp (=), and either the base's or the adapter's gradients (+=).
  const linearBack = (
    dinp: Float32Array | null,
    dout: Float32Array,
    inp: Float32Array,
    name: string,
    IC: number,
    OC: number,
  ) => {
    const weight = param(model, name);
    const l = lora?.layers.get(name);
    if (l && lora) {
      const dA = trainLora ? slot(loraGradName(name, 'A'), l.A.data.length) : null;
      const dB = trainLora ? slot(loraGradName(name, 'B'), l.B.data.length) : null;
      linearLoraBackward(dinp, dA, dB, dout, inp, weight, l.A.data, l.B.data, lora.scale, N, IC, OC, lora.r);
      if (!trainLora)
        linearBackward(
          null,
          gradOf(name),
          gradOf(name.replace(/\.weight$/, '.bias')),
          dout,
          inp,
          weight,
          N,
          IC,
          OC,
        );
    } else {
      linearBackward(
        dinp,
        gradOf(name),
        gradOf(name.replace(/\.weight$/, '.bias')),
        dout,
        inp,
        weight,
        N,
        IC,
        OC,
      );
    }
  };
  const addInto = (dst: Float32Array, src: Float32Array) => {
    for (let i = 0; i < dst.length; i++) dst[i] += src[i];
  };

  // Head and final norm. dres is the residual stream's gradient, accumulated through the layers.
  const headName = cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const dnormed = new Float32Array(N * C);
  linearBackward(dnormed, gradOf(headName), null, dlogits, saved.normedF, param(model, headName), N, C, V);
  const dres = new Float32Array(N * C);
  rmsnormBackward(
    dres,
    gradOf('model.norm.weight'),
    dnormed,
    saved.resOut,
    param(model, 'model.norm.weight'),
    saved.rstdF,
    N,
    C,
  );

  const tmp = new Float32Array(N * C);
  const dact = new Float32Array(N * I);
  const dgate = new Float32Array(N * I);
  const dup = new Float32Array(N * I);
  const dattOut = new Float32Array(N * H * D);
  const dq = new Float32Array(N * H * D);
  const dk = new Float32Array(N * KVH * D);
  const dv = new Float32Array(N * KVH * D);
  for (let l = cfg.numHiddenLayers - 1; l >= 0; l--) {
    const a = saved.layers[l];
    const pre = `model.layers.${l}`;
    // resOut = resMid + down(act): the residual's backward is the identity, so dres is both
    // d resMid and d(down output).
    linearBack(dact, dres, a.act, `${pre}.mlp.down_proj.weight`, I, C);
    swigluBackward(dgate, dup, dact, a.gate, a.up, N * I);
    linearBack(dnormed, dgate, a.normed2, `${pre}.mlp.gate_proj.weight`, C, I);
    linearBack(tmp, dup, a.normed2, `${pre}.mlp.up_proj.weight`, C, I);
    addInto(dnormed, tmp);
    const ln2 = `${pre}.post_attention_layernorm.weight`;
    rmsnormBackward(dres, gradOf(ln2), dnormed, a.resMid, param(model, ln2), a.rstd2, N, C);
    // resMid = resIn + o_proj(attention(...)).
    linearBack(dattOut, dres, a.attOut, `${pre}.self_attn.o_proj.weight`, H * D, C);
    attentionBackward(dq, dk, dv, dattOut, a.q, a.k, a.v, a.att, B, T, T, 0, H, KVH, D);
    ropeBackward(dq, dq, positions, N, H, D, cfg.ropeTheta);
    ropeBackward(dk, dk, positions, N, KVH, D, cfg.ropeTheta);
    linearBack(dnormed, dq, a.normed1, `${pre}.self_attn.q_proj.weight`, C, H * D);
    linearBack(tmp, dk, a.normed1, `${pre}.self_attn.k_proj.weight`, C, KVH * D);
    addInto(dnormed, tmp);
    linearBack(tmp, dv, a.normed1, `${pre}.self_attn.v_proj.weight`, C, KVH * D);
    addInto(dnormed, tmp);
    const ln1 = `${pre}.input_layernorm.weight`;
    rmsnormBackward(dres, gradOf(ln1), dnormed, a.resIn, param(model, ln1), a.rstd1, N, C);
  }

  // dres is now d loss / d input embeddings: into the embedding matrix through the input.
  const dwte = trainEmbeddings ? gradOf('model.embed_tokens.weight') : null;
  const wte = param(model, 'model.embed_tokens.weight');
  const input = saved.input;
  let dmixWeights: Float32Array | null = null;
  let dprobs: Float32Array | null = null;
  switch (input.kind) {
    case 'ids':
      if (dwte) embeddingBackward(dwte, dres, input.ids, N, C);
      break;
    case 'mixture':
      dmixWeights = new Float32Array(N * input.k);
      mixtureBackward(dwte, dmixWeights, dres, input.ids, input.weights, wte, N, input.k, C);
      break;
    case 'dense':
      dprobs = new Float32Array(N * V);
      denseMixtureBackward(dwte, dprobs, dres, input.probs, wte, N, V, C);
      break;
    case 'embeds':
      break;
  }
  return { grads, dembeds: dres, dmixWeights, dprobs };
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
