// The parts of a GRPO trainer the Engine assembles from its loaded model: the parameters a new run starts
// from, the policy that owns the trained parameters (WebGPU buffers or host weights), and the host that
// ties the policy to the tokenizer. The order of these steps is the Engine's (Engine.buildTrainer).

import type { Backend } from '../engine/backend.ts';
import type { Qwen2Config } from '../engine/config.ts';
import type { ModelShape } from '../engine/decode/stepper.ts';
import { EngineError } from '../engine/errors.ts';
import type { EngineDevice } from '../engine/gpu/device.ts';
import { GpuMixtureStepper } from '../engine/gpu/mixture.ts';
import { GpuBackend } from '../engine/gpuBackend.ts';
import type { LoraAdapter } from '../engine/model/lora.ts';
import type { Tokenizer } from '../engine/model/tokenizer.ts';
import { cloneWeights, type WeightMap } from '../engine/tensor.ts';
import { CpuPolicy } from '../rl/policy/cpu.ts';
import { GpuPolicy } from '../rl/policy/gpu.ts';
import type { GrpoPolicy } from '../rl/policy/policy.ts';
import { rolloutPromptText } from '../rl/prompt.ts';
import type { GrpoTrainer, TrainerConfig, TrainerHost } from '../rl/trainer.ts';
import type { LoadedState } from './modelFolder.ts';

/** The sizes a stepper needs. */
export function modelShapeOf(cfg: Qwen2Config): ModelShape {
  return { vocabSize: cfg.vocabSize, hiddenSize: cfg.hiddenSize, numHiddenLayers: cfg.numHiddenLayers };
}

/** The run starts from the current parameters: a previous GPU full fine-tune lives in the GPU buffers only,
 * so its trained tensors replace the host weights of the same size. */
export async function currentParameters(prev: GrpoTrainer | null, weights: WeightMap): Promise<WeightMap> {
  if (!(prev && prev.host.policy.kind === 'webgpu' && prev.config.mode === 'full')) return weights;
  const trained = (await prev.host.policy.exportState({ optimizer: false })).params;
  return new Map(
    [...weights].map(([k, t]) => [k, trained[k]?.length === t.data.length ? { ...t, data: trained[k] } : t]),
  );
}

/**
 * The weights as loaded, for a run that starts from the base model. The CPU policy trains `m.weights` in
 * place (`cpuMode` set): a copy is kept the first time, and put back before each later run. On the GPU the
 * host weights are never trained (the buffers are), so they are the base.
 */
export function baseWeightsOf(m: LoadedState, cpuMode: 'full' | 'lora' | null): WeightMap | null {
  const w = m.weights;
  if (!w || cpuMode === null) return w;
  if (m.base) for (const [name, t] of m.base) w.get(name)?.data.set(t.data);
  else if (cpuMode === 'full') m.base = cloneWeights(w);
  return w;
}

export interface PolicyInputs {
  config: Qwen2Config;
  cfgT: TrainerConfig;
  /** The backend the model runs on now (after any fresh LoRA adapter). */
  backend: Backend;
  device: EngineDevice | null;
  /** The embedding matrix (the mixture inputs), when the model has one. */
  embedding: Float32Array | null;
  /** The parameters the run starts from (the frozen reference of a GPU full fine-tune); null for a model
   * kept in 16 bits on the GPU only (LoRA runs only). */
  startWeights: WeightMap | null;
  /** The host weights and adapter the CPU policy trains in place (null: as startWeights). */
  weights: WeightMap | null;
  adapter: LoraAdapter | null;
}

/** The WebGPU policy trains the backend's buffers; the CPU reference policy the host weights (or adapter). */
export async function createPolicy(inputs: PolicyInputs): Promise<GrpoPolicy> {
  const { config, cfgT, backend: active, embedding } = inputs;
  const optim = cfgT.grpo.optim;
  if (!(active instanceof GpuBackend)) {
    if (!inputs.weights) throw hostWeightsMissing('the CPU policy');
    return new CpuPolicy(config, inputs.weights, cfgT.mode === 'lora' ? inputs.adapter : null, {
      mode: cfgT.mode,
      optim,
      trainEmbeddings: true,
    });
  }
  const device = inputs.device;
  if (!device) throw new EngineError('webgpu-unavailable', 'the WebGPU device is gone');
  const shape = modelShapeOf(config);
  // Full fine-tuning trains the model's buffers: the reference is a second model of the starting weights.
  let reference: GpuBackend | null = null;
  if (cfgT.mode === 'full') {
    if (!inputs.startWeights) throw hostWeightsMissing('full fine-tuning');
    reference = await GpuBackend.create(device, config, inputs.startWeights, null);
  }
  try {
    return await GpuPolicy.create(config, embedding, active, {
      mode: cfgT.mode,
      optim,
      trainEmbeddings: true,
      clipNorm: cfgT.grpo.max_grad_norm,
      recompute: cfgT.grpo.gradient_checkpointing,
      reference,
      makeStepper: (c) => new GpuMixtureStepper(active.model, shape, c),
    });
  } catch (e) {
    reference?.dispose();
    throw e;
  }
}

function hostWeightsMissing(what: string): EngineError {
  return new EngineError(
    'weights-not-f32',
    `${what} needs the model's f32 weights on the host; this model was loaded with 16-bit weights on the GPU only`,
  );
}

/** The trainer's view of the model: the policy, prompts and text through the tokenizer, stop ids. */
export function trainerHostOf(
  policy: GrpoPolicy,
  tok: Tokenizer,
  config: Qwen2Config,
  eos: number[],
): TrainerHost {
  const thinkEnd = tok.encode('</think>', { addSpecialTokens: false });
  return {
    policy,
    encodePrompt: (question) => tok.encode(rolloutPromptText(question, tok), { addSpecialTokens: false }),
    text: {
      decode: (ids) => tok.decode(ids),
      stream: () => tok.streamDecoder({ skipSpecialTokens: false }),
    },
    thinkEnd,
    eos,
    padId: config.padTokenId ?? eos[0] ?? 0,
  };
}
