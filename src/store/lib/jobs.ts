// Engine work one job at a time: the worker runs one model, and Engine.cancel() stops whatever decodes
// now, so the page must know which job that is before it cancels.
export type JobKind = 'load' | 'decode' | 'eval';

let tail: Promise<unknown> = Promise.resolve();
let active: JobKind | null = null;
let waiting = 0;

/** Runs `fn` after every job queued before it; rejections reach the caller only. */
export function runJob<T>(kind: JobKind, fn: () => Promise<T>): Promise<T> {
  waiting++;
  const run = tail.then(async () => {
    waiting--;
    active = kind;
    try {
      return await fn();
    } finally {
      active = null;
    }
  });
  tail = run.catch(() => undefined);
  return run;
}

export function activeJob(): JobKind | null {
  return active;
}

export function queuedJobs(): number {
  return waiting;
}
