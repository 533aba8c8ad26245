// What a trained run hands back as files: the loaded LoRA adapter with the trainer's parameters (peft's
// adapter_config.json + adapter_model.safetensors), or a whole HF model folder with the fully fine-tuned
// weights (the loaded folder's text files + model.safetensors). Trained tensors of the wrong size are
// ignored in favour of the loaded ones. The *Stream forms give model.safetensors as pieces (a view of each
// tensor in turn) for a streamed zip; the plain forms gather them into the arrays TrainedExport carries.

import type { LoraAdapter } from '../engine/model/lora.ts';
import { type ByteSource, safetensorsSource, sourceBytes } from '../engine/model/safetensorsStream.ts';
import { zipStream } from '../engine/model/zipStream.ts';
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

/** A file of an export: whole bytes (small text files) or pieces read one at a time (weights). */
export type ExportFile = { name: string; data: Uint8Array } | ({ name: string } & ByteSource);

export interface StreamedExport {
  kind: TrainedExport['kind'];
  files: ExportFile[];
}

/** The export with every file's bytes gathered (what crosses the worker boundary today). */
export function gatheredExport(e: StreamedExport): TrainedExport {
  return {
    kind: e.kind,
    files: e.files.map((f) => ({ name: f.name, data: 'data' in f ? f.data : sourceBytes(f) })),
  };
}

/** The peft folder of an exported adapter. */
export function adapterExport(a: {
  configJson: string;
  safetensors: Uint8Array | ByteSource;
}): TrainedExport {
  return gatheredExport(adapterExportStream(a));
}

export function adapterExportStream(a: {
  configJson: string;
  safetensors: Uint8Array | ByteSource;
}): StreamedExport {
  const weights = a.safetensors;
  return {
    kind: 'adapter',
    files: [
      { name: 'adapter_config.json', data: new TextEncoder().encode(a.configJson) },
      weights instanceof Uint8Array
        ? { name: 'adapter_model.safetensors', data: weights }
        : { name: 'adapter_model.safetensors', size: weights.size, chunks: () => weights.chunks() },
    ],
  };
}

/** The model folder of a full fine-tune: the loaded folder's text files, then model.safetensors. */
export function weightsExport(
  weights: WeightMap,
  texts: Map<string, string>,
  trained: Record<string, Float32Array>,
): TrainedExport {
  return gatheredExport(weightsExportStream(weights, texts, trained));
}

export function weightsExportStream(
  weights: WeightMap,
  texts: Map<string, string>,
  trained: Record<string, Float32Array>,
): StreamedExport {
  const tensors: WeightMap = new Map();
  for (const [name, base] of weights) {
    const data = trained[name];
    tensors.set(name, { shape: base.shape, data: data?.length === base.data.length ? data : base.data });
  }
  const enc = new TextEncoder();
  const files: ExportFile[] = [...texts].map(([name, text]) => ({ name, data: enc.encode(text) }));
  const model = safetensorsSource(tensors, { format: 'pt' });
  files.push({ name: 'model.safetensors', size: model.size, chunks: () => model.chunks() });
  return { kind: 'weights', files };
}

/**
 * The export as one ZIP Blob (stored entries), built a piece at a time: each piece is copied into its own
 * small Blob at once (blob bytes live outside the JavaScript heap), so the worker never holds the archive
 * as one array, and the Blob crosses to the page by reference, not as a copy.
 */
export function exportZipBlob(e: StreamedExport, when = new Date()): Blob {
  const parts: Blob[] = [];
  zipStream(e.files, (piece) => parts.push(new Blob([piece as BlobPart])), when);
  return new Blob(parts, { type: 'application/zip' });
}
