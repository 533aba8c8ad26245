// A RolloutRequest as it crosses the worker boundary, checked and resolved for rl/rollout.ts's loop: the
// sizes, the preset with its overrides, the stop settings (`</think>` found with the model's tokenizer), the
// prompts as token ids, and the stepper that runs it (the GPU fast path or the CPU reference step). Every
// refusal is an EngineError('invalid-argument' | 'not-loaded'), so the page gets a typed error.

import type { Backend } from '../engine/backend.ts';
import { ReferenceStepper } from '../engine/decode/referenceStepper.ts';
import type { ModelShape, RolloutStepper, StepperConfig } from '../engine/decode/stepper.ts';
import { EngineError } from '../engine/errors.ts';
import { GpuMixtureStepper } from '../engine/gpu/mixture.ts';
import { GpuBackend } from '../engine/gpuBackend.ts';
import type { Tokenizer } from '../engine/model/tokenizer.ts';
import { type MotSettings, SettingsError } from '../mot/settings.ts';
import type { StopSettings } from '../mot/stop.ts';
import { rolloutPromptText } from '../rl/prompt.ts';
import { rolloutSettings, rolloutStopSettings } from '../rl/rollout.ts';
import type { RolloutPromptInput, RolloutRequest } from './api.ts';
import type { LoadedState } from './modelFolder.ts';

/** The request resolved: what runRollout needs besides the stepper and the run's options. */
export interface ResolvedRollout {
  settings: MotSettings;
  stop: StopSettings;
  promptIds: number[][];
}

function requireInteger(name: string, value: number): void {
  if (!(Number.isInteger(value) && value >= 1))
    throw new EngineError('invalid-argument', `${name} must be an integer ≥ 1, got ${value}`);
}

/** Checks the request against the loaded model and resolves its settings, stop rule and prompt ids. */
export function resolveRollout(m: LoadedState, request: RolloutRequest): ResolvedRollout {
  const cfg = m.config;
  const V = cfg.vocabSize;
  const tok = m.tokenizer;
  requireInteger('maxNewTokens', request.maxNewTokens);
  requireInteger('G', request.G);
  if (!Array.isArray(request.prompts) || request.prompts.length === 0)
    throw new EngineError('invalid-argument', 'rollout: no prompts');
  let thinkEnd = request.stop?.thinkEnd;
  if (!thinkEnd) {
    if (!tok)
      throw new EngineError('not-loaded', 'rollout: no tokenizer to find `</think>`; set stop.thinkEnd');
    thinkEnd = tok.encode('</think>', { addSpecialTokens: false });
  }
  let settings: MotSettings;
  let stop: StopSettings;
  try {
    settings = rolloutSettings(request.preset, request.settings ?? {}, V, request.purpose ?? 'train');
    const eos = request.stop?.eos ?? m.info.eosTokenIds;
    stop = rolloutStopSettings(thinkEnd, eos, request.stop ?? {}, V, request.preset);
  } catch (e) {
    // Settings errors name the field first ("k: …"); they cross the worker boundary as typed errors.
    if (e instanceof SettingsError) throw new EngineError('invalid-argument', e.message);
    throw e;
  }
  const promptIds = request.prompts.map((p) => rolloutPromptIds(p, request, tok));
  for (const [i, ids] of promptIds.entries()) {
    if (ids.length === 0) throw new EngineError('invalid-argument', `rollout: prompt ${i} is empty`);
    for (const id of ids)
      if (!(Number.isInteger(id) && id >= 0 && id < V))
        throw new EngineError(
          'invalid-argument',
          `rollout: prompt ${i} has token id ${id} outside [0, ${V})`,
        );
    if (ids.length + request.maxNewTokens > cfg.maxPositionEmbeddings)
      throw new EngineError(
        'invalid-argument',
        `rollout: prompt ${i} (${ids.length} tokens) + ${request.maxNewTokens} new tokens exceed max_position_embeddings ${cfg.maxPositionEmbeddings}`,
      );
  }
  return { settings, stop, promptIds };
}

/** A rollout prompt as token ids: chat-formatted (system prompt, the question, the assistant turn opened
 * and prefilled with `<think>`), or the question + prefill as plain text, or the ids as given. */
function rolloutPromptIds(p: RolloutPromptInput, request: RolloutRequest, tok: Tokenizer | null): number[] {
  if (typeof p === 'object' && p !== null && 'ids' in p) return Array.from(p.ids);
  const question = typeof p === 'string' ? p : p.question;
  if (typeof question !== 'string')
    throw new EngineError('invalid-argument', 'rollout: a prompt is neither text, a task item nor ids');
  if (!tok) throw new EngineError('not-loaded', 'this model folder has no tokenizer.json');
  const text = rolloutPromptText(question, tok, {
    chat: request.chat,
    systemPrompt: request.systemPrompt,
    prefill: request.prefill,
  });
  return tok.encode(text, { addSpecialTokens: false });
}

/** The steppers of a rollout: the GPU fast path on WebGPU (unless the request asks for the reference
 * path), else the CPU reference step over the backend's logits. */
export function rolloutStepperFactory(
  backend: Backend,
  shape: ModelShape,
  E: Float32Array | null,
  path: RolloutRequest['path'],
): (c: StepperConfig) => RolloutStepper {
  const gpu = backend instanceof GpuBackend && path !== 'reference' ? backend : null;
  return (c) =>
    gpu ? new GpuMixtureStepper(gpu.model, shape, c) : new ReferenceStepper(backend, shape, c, E);
}
