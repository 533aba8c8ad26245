// THE backward pass of the model on WebGPU (llm.c's gpt2_backward; ref/backward.ts is the CPU reference
// with the same structure): from the loss back through lm_head (the caller's chunked head, headChunks.ts,
// which writes d loss / d normedF and lm_head's gradient) and the final norm, the layers in reverse, and
// the input embedding, reading what the training forward (forward.ts) saved. Gradients go into typed
// tables of the parameters' shape (params.ts): the model's (full fine-tuning; null = frozen, nothing
// recorded) or the adapter's (LoRA, base frozen). With activation recompute, the caller's `recomputeLayer`
// re-records a layer's forward (forward.ts recordLayer) into the shared activations just before that
// layer's backward.
// Accumulation rule: see opsBackward.ts.
import type { Qwen2Config } from '../config.ts';
import type { ModelInput } from '../ref/model.ts';
import type { GpuTensor } from './buffers.ts';
import type { CallTensors } from './callTensors.ts';
import type { CommandRecorder } from './commands.ts';
import type { EmbeddedInput } from './forward.ts';
import {
  attentionBackward,
  denseMixtureBackward,
  embeddingBackward,
  type GpuEmbeddingPlan,
  matmulBackward,
  matmulLoraBackward,
  mixtureBackward,
  planEmbeddingBackward,
  rmsnormBackward,
  ropeBackward,
  swigluBackward,
} from './opsBackward.ts';
import {
  biasOf,
  type GradientTensors,
  type LinearKey,
  type LoraGradients,
  type LoraTensors,
  type ParameterTensors,
} from './params.ts';
import { type TrainActivations, type TrainLayer, trainLayer } from './trainActivations.ts';

export interface BackwardPass {
  config: Qwen2Config;
  params: ParameterTensors;
  /** The model's gradients; all null in LoRA mode. */
  grads: GradientTensors;
  /** LoRA mode: the adapter the forward applied and its gradients; null in full fine-tuning. */
  lora: { tensors: LoraTensors; grads: LoraGradients } | null;
  B: number;
  T: number;
  acts: TrainActivations;
  input: ModelInput;
  embedded: EmbeddedInput;
  /** Per-call tensors: the embedding plan and the input gradients. */
  inputs: CallTensors;
  /** Also compute d loss / d mixture weights or d loss / d dense probs. */
  inputGrads: boolean;
  /** Activation recompute: record layer l's forward again (into trainLayer(acts, l)) before its backward. */
  recomputeLayer?: (l: number) => void;
  /** Records the loss's backward through lm_head: acts.dnormed = d loss / d normedF, and lm_head's
   * gradient (grads.lmHead, when trained) accumulated. */
  headBackward: () => void;
}

/** d loss / d mixture weights (N, k) or d loss / d dense probs (N, V), when asked for. */
export interface InputGradients {
  dmix?: GpuTensor;
  dprobs?: GpuTensor;
}

/** Record the backward; afterwards acts.dres holds d loss / d input embeddings (N, C). */
export function recordBackward(rec: CommandRecorder, b: BackwardPass): InputGradients {
  const { hiddenSize: C, numHiddenLayers: L } = b.config;
  const N = b.B * b.T;
  const { acts: a, params: p, grads: g } = b;
  // Head and final norm; dres accumulates the residual stream's gradient through the layers.
  b.headBackward();
  rec.clear(a.dres);
  rmsnormBackward(rec, a.dres, g.lnfw, a.dnormed, a.res[L], p.lnfw, a.rstdF, N, C);
  for (let l = L - 1; l >= 0; l--) {
    b.recomputeLayer?.(l);
    recordLayerBackward(rec, b, l, trainLayer(a, l));
  }
  return recordInputBackward(rec, b);
}

/** One decoder layer's backward: dres from d(its output) to d(its input), and its parameters' gradients. */
function recordLayerBackward(rec: CommandRecorder, b: BackwardPass, l: number, s: TrainLayer): void {
  const {
    hiddenSize: C,
    intermediateSize: I,
    numAttentionHeads: H,
    numKeyValueHeads: KVH,
    headDim: D,
  } = b.config;
  const { B, T, acts: a } = b;
  const N = B * T;
  const lp = b.params.layers[l];
  const g = b.grads.layers[l];
  const adapter = b.lora?.tensors.layers[l];
  // dinp (= or, with accumulate, +=) and the trained gradients of one linear layer.
  const linearBack = (
    dinp: GpuTensor,
    dout: GpuTensor,
    inp: GpuTensor,
    key: LinearKey,
    IC: number,
    OC: number,
    accumulate = false,
  ) => {
    const pair = adapter?.[key];
    const lora = b.lora;
    if (pair && lora) {
      const { dA, dB } = lora.grads[l][key]!;
      const { r, scale } = lora.tensors;
      const w = lp[key];
      const opts = { accumulate };
      matmulLoraBackward(
        rec,
        dinp,
        dA,
        dB,
        dout,
        inp,
        w,
        pair.A,
        pair.B,
        scale,
        N,
        IC,
        OC,
        r,
        a.loraU,
        a.loraDu,
        opts,
      );
    } else {
      matmulBackward(rec, dinp, g[key], biasOf(g, key), dout, inp, lp[key], N, IC, OC, { accumulate });
    }
  };
  // resOut = resMid + down(act): dres is both d resMid and d(down output).
  linearBack(a.dact, a.dres, s.act, 'downw', I, C);
  swigluBackward(rec, a.dgate, a.dup, a.dact, s.gate, s.up, N * I);
  linearBack(a.dnormed, a.dgate, s.normed2, 'gatew', C, I);
  linearBack(a.dnormed, a.dup, s.normed2, 'upw', C, I, true);
  rmsnormBackward(rec, a.dres, g.ln2w, a.dnormed, s.resMid, lp.ln2w, s.rstd2, N, C);
  // resMid = resIn + o_proj(attention(...)).
  linearBack(a.dattOut, a.dres, s.attOut, 'ow', H * D, C);
  attentionBackward(
    rec,
    a.dq,
    a.dk,
    a.dv,
    a.attDelta,
    a.dattOut,
    s.lse,
    s.q,
    s.k,
    s.v,
    a.mask,
    B,
    T,
    T,
    0,
    H,
    KVH,
    D,
  );
  ropeBackward(rec, a.dqraw, a.dq, a.cs, N, H, D);
  ropeBackward(rec, a.dkraw, a.dk, a.cs, N, KVH, D);
  linearBack(a.dnormed, a.dqraw, s.normed1, 'qw', C, H * D);
  linearBack(a.dnormed, a.dkraw, s.normed1, 'kw', C, KVH * D, true);
  linearBack(a.dnormed, a.dv, s.normed1, 'vw', C, KVH * D, true);
  rmsnormBackward(rec, a.dres, g.ln1w, a.dnormed, s.resIn, lp.ln1w, s.rstd1, N, C);
}

/** dres is d loss / d input embeddings: into the embedding matrix (when trained) through the input, and
 * into the mixture weights or dense probabilities when asked for. */
function recordInputBackward(rec: CommandRecorder, b: BackwardPass): InputGradients {
  const { hiddenSize: C, vocabSize: V } = b.config;
  const N = b.B * b.T;
  const { input, inputs, embedded } = b;
  const dres = b.acts.dres;
  const dwte = b.grads.wte;
  const wte = b.params.wte;
  switch (input.kind) {
    case 'ids': {
      if (dwte) embeddingBackward(rec, dwte, dres, uploadPlan(inputs, input.ids, null, 1), C);
      return {};
    }
    case 'mixture': {
      const K = input.k;
      const plan = dwte ? uploadPlan(inputs, input.ids, input.weights, K) : null;
      const dmix = b.inputGrads ? inputs.tensor('d mixture weights', N * K) : null;
      mixtureBackward(rec, dwte, dmix, dres, plan, embedded.ids!, wte, N, K, C, V);
      return dmix ? { dmix } : {};
    }
    case 'dense': {
      const dprobs = b.inputGrads ? inputs.tensor('d dense probs', N * V) : null;
      denseMixtureBackward(rec, dwte, dprobs, dres, embedded.probs!, wte, N, V, C);
      return dprobs ? { dprobs } : {};
    }
    case 'embeds':
      return {};
  }
}

/** The embedding's scatter-add grouped by token id (planEmbeddingBackward), on the device. */
function uploadPlan(
  inputs: CallTensors,
  ids: ArrayLike<number>,
  weights: ArrayLike<number> | null,
  K: number,
): GpuEmbeddingPlan {
  const plan = planEmbeddingBackward(ids, weights, K);
  return {
    U: plan.U,
    buckets: inputs.upload('embedding buckets', plan.buckets),
    rows: inputs.upload('embedding rows', plan.rows),
    weights: plan.weights ? inputs.upload('embedding weights', plan.weights) : null,
  };
}
