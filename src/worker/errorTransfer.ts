// Comlink turns a thrown Error into {name, message, stack}; our errors also carry a code, a file and a
// tensor that the page needs. Install this on both sides of the worker boundary. EngineError comes back as
// an EngineError; any other error with a string `code` (TrainingError, SettingsError) comes back as an Error
// with the same name, code (and `field`, when it has one).
import { transferHandlers } from 'comlink';
import { EngineError, type EngineErrorCode } from '../engine/errors.ts';

interface SerializedError {
  isError: true;
  value: {
    name: string;
    message: string;
    stack?: string;
    code?: string;
    file?: string;
    tensor?: string;
    field?: string;
  };
}

/** An error that crossed the worker boundary with a code (TrainingError, SettingsError, …). */
export interface CodedError extends Error {
  code: string;
  field?: string;
}

function codeOf(value: unknown): string | null {
  if (!(value instanceof Error)) return null;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' ? code : null;
}

export function installErrorTransfer(): void {
  const original = transferHandlers.get('throw');
  if (!original) return;
  transferHandlers.set('throw', {
    canHandle: original.canHandle,
    serialize(thrown: unknown) {
      const value = (thrown as { value: unknown }).value;
      if (value instanceof EngineError) {
        const data: SerializedError = {
          isError: true,
          value: {
            name: 'EngineError',
            message: value.message,
            stack: value.stack,
            code: value.code,
            file: value.file,
            tensor: value.tensor,
          },
        };
        return [data, []];
      }
      const code = codeOf(value);
      if (code !== null) {
        const e = value as Error & { field?: unknown };
        const data: SerializedError = {
          isError: true,
          value: { name: e.name, message: e.message, stack: e.stack, code },
        };
        if (typeof e.field === 'string') data.value.field = e.field;
        return [data, []];
      }
      return original.serialize(thrown);
    },
    deserialize(serialized: unknown) {
      const s = serialized as SerializedError;
      if (s.isError && s.value.name === 'EngineError' && s.value.code) {
        throw new EngineError(s.value.code as EngineErrorCode, s.value.message, {
          file: s.value.file,
          tensor: s.value.tensor,
        });
      }
      if (s.isError && typeof s.value.code === 'string') {
        const e = new Error(s.value.message) as CodedError;
        e.name = s.value.name;
        e.code = s.value.code;
        if (s.value.field !== undefined) e.field = s.value.field;
        if (s.value.stack !== undefined) e.stack = s.value.stack;
        throw e;
      }
      return original.deserialize(serialized);
    },
  });
}
