// A training session around GrpoTrainer for the UI's Train panel: start (runs until max_steps, pause or
// stop), pause (after the current step), a single step while paused, stop (the current step is abandoned
// before its update, so the weights stay those of the last completed step), metrics per step through a
// callback, the latest group's rollouts, and a checkpoint every K steps. One step runs at a time. A session
// may start from a restored trainer (a resumed run) with the metrics of its steps so far.

import { saveCheckpoint, type TrainerCheckpoint } from './checkpoint.ts';
import { TrainingError } from './errors.ts';
import type { StepMetrics } from './metrics.ts';
import type { GrpoTrainer, ScoredTrajectory, StepResult } from './trainer.ts';

export type SessionStatus = 'idle' | 'running' | 'paused' | 'stopped' | 'finished' | 'error';

export interface TrainingState {
  status: SessionStatus;
  step: number;
  maxSteps: number;
  /** Metrics of every completed step. */
  history: StepMetrics[];
  /** The latest step's rollouts (prompt · G + g). */
  latest: ScoredTrajectory[];
  /** Step of the latest checkpoint (null: none yet). */
  checkpointStep: number | null;
  error: { name: string; code?: string; message: string } | null;
}

export interface SessionOptions {
  /** Called after every completed step (awaited). */
  onStep?: (metrics: StepMetrics, rollouts: ScoredTrajectory[]) => void | Promise<void>;
  /** Checkpoint every K completed steps (0: never). */
  checkpointEvery?: number;
  onCheckpoint?: (ck: TrainerCheckpoint) => void | Promise<void>;
  /** A resumed run's metrics before its checkpoint (the trainer restored to that step). */
  history?: StepMetrics[];
}

export class TrainingSession {
  private status: SessionStatus = 'idle';
  private readonly history: StepMetrics[] = [];
  private latest: ScoredTrajectory[] = [];
  private checkpointStep: number | null = null;
  private lastCheckpoint: TrainerCheckpoint | null = null;
  private error: TrainingState['error'] = null;
  private wantPause = false;
  private wantStop = false;
  private busy: Promise<void> | null = null;

  constructor(
    readonly trainer: GrpoTrainer,
    private readonly o: SessionOptions = {},
  ) {
    const before = o.history ?? [];
    if (before.length !== trainer.step || before.some((m, i) => m.step !== i + 1))
      throw new TrainingError(
        'bad-checkpoint',
        `the run's metrics hold steps ${before.map((m) => m.step).join(',') || '(none)'}, its checkpoint is at step ${trainer.step}`,
      );
    this.history.push(...before);
    if (trainer.step > 0) this.checkpointStep = trainer.step;
  }

  state(): TrainingState {
    return {
      status: this.status,
      step: this.trainer.step,
      maxSteps: this.trainer.config.grpo.max_steps,
      history: this.history.slice(),
      latest: this.latest,
      checkpointStep: this.checkpointStep,
      error: this.error,
    };
  }

  get checkpoint(): TrainerCheckpoint | null {
    return this.lastCheckpoint;
  }

  /** True while a step is in flight. */
  get running(): boolean {
    return this.busy !== null;
  }

  /** Runs steps until max_steps, pause() or stop(). Resolves when the loop ends. */
  start(): Promise<void> {
    this.assertAlive();
    if (this.busy) throw new TrainingError('already-running', 'the session is already running');
    this.wantPause = false;
    this.status = 'running';
    return this.track(this.loop());
  }

  /** One step (while idle or paused). Resolves with its result, or null if it was stopped. */
  async step(): Promise<StepResult | null> {
    this.assertAlive();
    if (this.busy) throw new TrainingError('already-running', 'a step is already running');
    let result: StepResult | null = null;
    this.status = 'running';
    await this.track(
      (async () => {
        result = await this.one();
        if (this.status === 'running') this.status = this.done() ? 'finished' : 'paused';
      })(),
    );
    return result;
  }

  /** Pauses after the current step; resolves when it has. */
  async pause(): Promise<void> {
    this.wantPause = true;
    await this.busy;
    if (this.status === 'running') this.status = 'paused';
  }

  /** Stops: the current step is abandoned before its update; resolves once nothing runs. */
  async stop(): Promise<void> {
    this.wantStop = true;
    this.trainer.requestCancel();
    await this.busy;
    if (this.status !== 'error' && this.status !== 'finished') this.status = 'stopped';
  }

  private assertAlive(): void {
    if (this.status === 'stopped' || this.status === 'finished' || this.status === 'error')
      throw new TrainingError('not-running', `the session is ${this.status}`);
  }

  private done(): boolean {
    return this.trainer.step >= this.trainer.config.grpo.max_steps;
  }

  private track(p: Promise<void>): Promise<void> {
    const tracked = p
      .catch((e: unknown) => {
        this.status = 'error';
        this.error = {
          name: e instanceof Error ? e.name : 'Error',
          code: (e as { code?: string }).code,
          message: e instanceof Error ? e.message : String(e),
        };
        throw e;
      })
      .finally(() => {
        this.busy = null;
      });
    this.busy = tracked.catch(() => {});
    return tracked;
  }

  private async loop(): Promise<void> {
    while (!this.done() && !this.wantPause && !this.wantStop) {
      // Let queued messages (pause / stop over comlink, timers) run between steps.
      await new Promise((r) => setTimeout(r, 0));
      if (this.wantPause || this.wantStop) break;
      await this.one();
    }
    if (this.wantStop) this.status = 'stopped';
    else if (this.done()) this.status = 'finished';
    else this.status = 'paused';
  }

  private async one(): Promise<StepResult | null> {
    if (this.wantStop) return null;
    let r: StepResult;
    try {
      r = await this.trainer.trainStep();
    } catch (e) {
      if (e instanceof TrainingError && e.code === 'stopped') {
        this.status = 'stopped';
        return null;
      }
      throw e;
    }
    this.history.push(r.metrics);
    this.latest = r.rollouts;
    // The step's metrics first: whoever keeps the checkpoint has then the metrics up to its step.
    await this.o.onStep?.(r.metrics, r.rollouts);
    const k = this.o.checkpointEvery ?? 0;
    if (k > 0 && this.trainer.step % k === 0) {
      this.lastCheckpoint = await saveCheckpoint(this.trainer);
      this.checkpointStep = this.trainer.step;
      await this.o.onCheckpoint?.(this.lastCheckpoint);
    }
    // A run that reached its limit of skipped steps on this step ends with the error, not as finished.
    this.trainer.checkSkippedSteps();
    return r;
  }
}
