// What a trained run hands back as files: the loaded LoRA adapter with the trainer's parameters (peft's
// adapter_config.json + adapter_model.safetensors), or a whole HF model folder with the fully fine-tuned
// weights (the loaded folder's text files + model.safetensors). Trained tensors of the wrong size are
// ignored in favour of the loaded ones.

import type { LoraAdapter } from '../engine/model/lora.ts';
import { writeSafetensors } from '../engine/model/safetensors.ts';
import { loraGradName } from '../engine/ref/backward.ts';
import type { WeightMap } from '../engine/tensor.ts';
import type { TrainedExport } from './api.ts';

/** The adapter with its A / B matrices replaced by the trained ones (by gradient name) where given. */
export function adapterWithParams(a: LoraAdapter, params: Record<string, Float32Array>): LoraAdapter {
  const layers = new Map(
    [...a.layers].map(([base, pair]) => {
      const A = params[loraGradName(base, 'A')];
      const B = params[loraGradName(base, 'B')];
      return [
        base,
        {
          A: A && A.length === pair.A.data.length ? { ...pair.A, data: A } : pair.A,
          B: B && B.length === pair.B.data.length ? { ...pair.B, data: B } : pair.B,
        },
      ] as const;
    }),
  );
  return { ...a, layers };
}

/** The peft folder of an exported adapter. */
export function adapterExport(a: { configJson: string; safetensors: Uint8Array }): TrainedExport {
  return {
    kind: 'adapter',
    files: [
      { name: 'adapter_config.json', data: new TextEncoder().encode(a.configJson) },
      { name: 'adapter_model.safetensors', data: a.safetensors },
    ],
  };
}

/** The model folder of a full fine-tune: the loaded folder's text files, then model.safetensors. */
export function weightsExport(
  weights: WeightMap,
  texts: Map<string, string>,
  trained: Record<string, Float32Array>,
): TrainedExport {
  const tensors: WeightMap = new Map();
  for (const [name, base] of weights) {
    const data = trained[name];
    tensors.set(name, { shape: base.shape, data: data?.length === base.data.length ? data : base.data });
  }
  const enc = new TextEncoder();
  const files: TrainedExport['files'] = [...texts].map(([name, text]) => ({
    name,
    data: enc.encode(text),
  }));
  files.push({ name: 'model.safetensors', data: writeSafetensors(tensors, { format: 'pt' }) });
  return { kind: 'weights', files };
}
