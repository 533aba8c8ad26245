// Typed errors. Every failure a user can cause (a bad file, a model too big, a lost GPU) is one of these,
// with a message that names the file and the tensor, so the UI can show it and keep working.

export type EngineErrorCode =
  | 'safetensors-truncated'
  | 'safetensors-header-length'
  | 'safetensors-header-json'
  | 'safetensors-dtype'
  | 'safetensors-byte-length'
  | 'safetensors-offsets'
  | 'tensor-missing'
  | 'tensor-shape'
  /** A weight holds NaN or ±Infinity (checked as each tensor is loaded). */
  | 'tensor-non-finite'
  | 'config-invalid'
  | 'config-mismatch'
  | 'tokenizer-invalid'
  /** A chat template ran over its step, depth, output or list budget while rendering. */
  | 'template-budget'
  | 'adapter-invalid'
  | 'file-missing'
  | 'webgpu-unavailable'
  | 'gpu-limit'
  /** The weights cannot fit this device (a tensor over a buffer limit, or the total over its memory),
   * found from the headers before anything is uploaded. */
  | 'model-too-large'
  /** The operation needs f32 weights on the host (full fine-tuning, a full export) and the model was
   * loaded with 16-bit weights on the GPU only. */
  | 'weights-not-f32'
  | 'gpu-device-lost'
  | 'gpu-shader'
  | 'invalid-argument'
  | 'not-loaded';

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  /** File the error is about (e.g. `model.safetensors`), when there is one. */
  readonly file?: string;
  /** HF tensor name the error is about, when there is one. */
  readonly tensor?: string;

  constructor(code: EngineErrorCode, message: string, where: { file?: string; tensor?: string } = {}) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
    this.file = where.file;
    this.tensor = where.tensor;
  }

  /** Plain object form: errors cross the worker boundary as data (comlink does not keep classes). */
  toJSON(): { name: string; code: EngineErrorCode; message: string; file?: string; tensor?: string } {
    return { name: this.name, code: this.code, message: this.message, file: this.file, tensor: this.tensor };
  }
}

export function isEngineError(e: unknown): e is EngineError {
  return e instanceof EngineError;
}

/** `JSON.stringify(v)` for an error message, also for a value of a crafted file that is nested too deeply
 * to stringify (JSON.parse accepts 100,000 levels; JSON.stringify throws a RangeError). */
export function jsonForMessage(v: unknown): string {
  try {
    return String(JSON.stringify(v));
  } catch {
    return Array.isArray(v) ? 'a deeply nested list' : 'a deeply nested value';
  }
}

/** Whether parsed JSON nests deeper than `max` levels (iterative, so safe at any depth): checked before
 * code that recurses into the value, or formats it into a message, meets a 100,000-level list. */
export function nestedDeeperThan(v: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop() as [unknown, number];
    if (typeof x !== 'object' || x === null) continue;
    if (depth >= max) return true;
    for (const y of Object.values(x)) stack.push([y, depth + 1]);
  }
  return false;
}
