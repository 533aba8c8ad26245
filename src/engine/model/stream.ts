// A model folder read tensor by tensor: config and safetensors headers first (ranged reads of the headers
// only), checked exactly as loadModel checks them (weights.ts HeaderCheck), then each expected parameter
// read on its own, as the file stores it (16-bit bits kept as bits), so that a loader can upload it and let
// it go before the next: a multi-GB checkpoint never sits whole in JS memory.
import type { Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import type { HalfDtype } from './halfFloat.ts';
import { readSafetensorsHeader, type SafetensorsDtype, type SafetensorsFloatDtype } from './safetensors.ts';
import type { ModelSource, RangeRead } from './source.ts';
import {
  checkFiniteF32,
  checkFiniteHalf,
  HeaderCheck,
  type LoadModelOptions,
  type ParameterEntry,
  planWeightFiles,
  readFolderConfig,
} from './weights.ts';

/** One parameter's values as stored: f32, or the 16-bit patterns of an F16 / BF16 tensor. */
export type StoredValues =
  | { kind: 'f32'; data: Float32Array }
  | { kind: 'half'; dtype: HalfDtype; bits: Uint16Array; numel: number };

export interface StreamedTensor {
  entry: ParameterEntry;
  values: StoredValues;
}

/** What the headers say, before any tensor is read. */
export interface ModelStream {
  config: Qwen2Config;
  rawConfig: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** Files read (config, generation config, index, each weights file whose header was read). */
  files: string[];
  /** Every expected parameter, in expectedParameters order. */
  parameters: ParameterEntry[];
  unusedTensors: string[];
  /** Dtypes the parameters are stored in. */
  dtypes: SafetensorsDtype[];
  /**
   * The parameters one at a time, file by file in file order, each checked for NaN / ±Infinity
   * (EngineError 'tensor-non-finite' naming the file and tensor) before it is yielded. With `reuse`, each tensor's bytes land in
   * one scratch buffer where the source allows (Node files): a yielded tensor is valid only until the
   * next one is asked for.
   */
  tensors(opts?: { reuse?: boolean }): AsyncGenerator<StreamedTensor>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Largest header accepted (as safetensors.ts). */
const MAX_HEADER_BYTES = 100_000_000;

/** A ranged read from any source: readRange where it has one, else the whole file, sliced. */
async function readRangeOf(
  source: ModelSource,
  name: string,
  start: number,
  end: number,
  into?: Uint8Array,
): Promise<RangeRead | null> {
  if (source.readRange) return source.readRange(name, start, end, into);
  const whole = await source.readFile(name);
  return whole === null ? null : { bytes: whole.subarray(start, end), fileSize: whole.byteLength };
}

/** A file's safetensors header, read with two ranged reads (its length, then the JSON). */
async function readHeader(source: ModelSource, file: string, first: RangeRead) {
  const head = first.bytes;
  if (head.byteLength >= 8) {
    const dv = new DataView(head.buffer, head.byteOffset, 8);
    const n = dv.getUint32(4, true) * 2 ** 32 + dv.getUint32(0, true);
    // Read the JSON only when its length is plausible; otherwise readSafetensorsHeader says what is wrong.
    if (n <= Math.min(first.fileSize - 8, MAX_HEADER_BYTES)) {
      const got = await readRangeOf(source, file, 0, 8 + n);
      if (got) return readSafetensorsHeader(got.bytes, file, { fileSize: got.fileSize });
    }
  }
  return readSafetensorsHeader(head, file, { fileSize: first.fileSize });
}

function storedValues(bytes: Uint8Array, dtype: SafetensorsFloatDtype, numel: number): StoredValues {
  const size = dtype === 'F32' ? 4 : 2;
  // Typed-array views need aligned offsets and little-endian data; otherwise copy (or swap) once.
  const aligned = LITTLE_ENDIAN && bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  if (!LITTLE_ENDIAN) {
    for (let i = 0; i < aligned.length; i += size) aligned.subarray(i, i + size).reverse();
  }
  if (dtype === 'F32')
    return { kind: 'f32', data: new Float32Array(aligned.buffer, aligned.byteOffset, numel) };
  const bits = new Uint16Array(aligned.buffer, aligned.byteOffset, numel);
  return { kind: 'half', dtype: dtype === 'F16' ? 'f16' : 'bf16', bits, numel };
}

/**
 * Read config.json, generation_config.json and the weights' headers (single file, a named file, or a
 * sharded index) and check them as loadModel does (same EngineError codes and messages); no tensor data
 * is read until tensors() is iterated.
 */
export async function openModelStream(
  source: ModelSource,
  opts: LoadModelOptions = {},
): Promise<ModelStream> {
  const { config, rawConfig, generationConfig, files } = await readFolderConfig(source);
  const plan = await planWeightFiles(source, opts, files, (name) => readRangeOf(source, name, 0, 8));
  const check = new HeaderCheck(config, plan);
  for (const step of plan.steps) {
    const first = step.got ?? (await readRangeOf(source, step.file, 0, 8));
    if (first === null) {
      throw new EngineError(
        'file-missing',
        `${step.file}: weights shard (listed in ${plan.indexFile}) not found in ${source.label}`,
        { file: step.file },
      );
    }
    files.push(step.file);
    check.add(await readHeader(source, step.file, first), step.file);
  }
  const parameters = check.finish();
  const ordered = [...parameters].sort((a, b) =>
    a.file < b.file ? -1 : a.file > b.file ? 1 : a.start - b.start,
  );
  const largest = Math.max(0, ...parameters.map((p) => p.end - p.start));
  async function* tensors(o: { reuse?: boolean } = {}): AsyncGenerator<StreamedTensor> {
    const scratch = o.reuse ? new Uint8Array(largest) : undefined;
    for (const entry of ordered) {
      const got = await readRangeOf(source, entry.file, entry.start, entry.end, scratch);
      const want = entry.end - entry.start;
      if (got === null || got.bytes.byteLength !== want) {
        throw new EngineError(
          'safetensors-truncated',
          `${entry.file}: tensor "${entry.name}" could not be read (${got === null ? 'the file is gone' : `${got.bytes.byteLength} of ${want} bytes`})`,
          { file: entry.file, tensor: entry.name },
        );
      }
      const numel = entry.shape.reduce((a, b) => a * b, 1);
      const values = storedValues(got.bytes, entry.dtype, numel);
      if (values.kind === 'f32') checkFiniteF32(entry.file, entry.name, values.data);
      else checkFiniteHalf(entry.file, entry.name, values.bits, values.dtype, numel);
      yield { entry, values };
    }
  }
  return {
    config,
    rawConfig,
    generationConfig,
    files,
    parameters,
    unusedTensors: check.unused,
    dtypes: [...check.dtypes],
    tensors,
  };
}
