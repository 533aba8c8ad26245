// What a GRPO run can refuse or fail with, by code: raised by the trainer, its policies, sessions and
// checkpoints, and carried across the worker boundary as name + code + message (worker/errorTransfer.ts).

export type TrainingErrorCode =
  | 'already-running'
  | 'not-running'
  | 'unsupported-on-gpu'
  | 'no-adapter'
  | 'no-tokenizer'
  | 'unknown-task'
  | 'bad-checkpoint'
  | 'bad-run-folder'
  | 'non-finite-update'
  | 'held-out-too-large'
  | 'stopped';

/** A training failure a user can cause, by code (crosses the worker boundary as name + code + message). */
export class TrainingError extends Error {
  readonly code: TrainingErrorCode;
  constructor(code: TrainingErrorCode, message: string) {
    super(message);
    this.name = 'TrainingError';
    this.code = code;
  }
}
