// The adapter GpuTrainer trains, as model/lora.ts's LoraAdapter (peft's layout): its A and B read back
// from the device, its rank and scale, and the target modules it adapts.
import type { LoraAdapter } from '../model/lora.ts';
import { loraGradName } from '../ref/backward.ts';
import type { LoraTensors } from './params.ts';

/** What peft's adapter_config.json says beyond the tensors; alpha defaults to scale · r. */
export interface LoraExportMeta {
  alpha?: number;
  useRslora?: boolean;
  targetModules?: string[];
}

/** The adapter from `values`, the trained A and B by peft name (GpuTrainer.readParams in LoRA mode). */
export function loraAdapterOf(
  lora: LoraTensors,
  values: ReadonlyMap<string, Float32Array>,
  meta: LoraExportMeta,
): LoraAdapter {
  const layers: LoraAdapter['layers'] = new Map();
  const modules = new Set<string>();
  for (const [base, { A, B }] of lora.pairs) {
    const OC = B.bytes / 4 / lora.r;
    const IC = A.bytes / 4 / lora.r;
    layers.set(base, {
      A: { shape: [lora.r, IC], data: values.get(loraGradName(base, 'A'))! },
      B: { shape: [OC, lora.r], data: values.get(loraGradName(base, 'B'))! },
    });
    const module = base.replace(/\.weight$/, '');
    modules.add(module.slice(module.lastIndexOf('.') + 1));
  }
  return {
    r: lora.r,
    alpha: meta.alpha ?? lora.scale * lora.r,
    scale: lora.scale,
    useRslora: meta.useRslora ?? false,
    targetModules: meta.targetModules ?? [...modules],
    layers,
  };
}
