// Comlink turns a thrown Error into {name, message, stack}; our errors also carry a code, a file and a
// tensor that the page needs. Install this on both sides of the worker boundary.
import { transferHandlers } from 'comlink';
import { EngineError, type EngineErrorCode } from './errors.ts';

interface SerializedError {
  isError: true;
  value: {
    name: string;
    message: string;
    stack?: string;
    code?: EngineErrorCode;
    file?: string;
    tensor?: string;
  };
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
      return original.serialize(thrown);
    },
    deserialize(serialized: unknown) {
      const s = serialized as SerializedError;
      if (s.isError && s.value.name === 'EngineError' && s.value.code) {
        throw new EngineError(s.value.code, s.value.message, { file: s.value.file, tensor: s.value.tensor });
      }
      return original.deserialize(serialized);
    },
  });
}
