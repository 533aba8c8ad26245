// Cold Stop as a setting of `soft-thinking` (issue 14): on by default, as in Zhang et al. 2025 (entropy < 0.01
// for a run of steps forces `</think>`), off for every other preset, and switchable in the rollout request,
// the trainer, the CLI (`--cold-stop on|off`) and the page's decode knobs.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../scripts/experiment.ts';
import type { PrefillRequest, RolloutStepper, RowStep } from '../../src/engine/decode/stepper.ts';
import { DirModelSource } from '../../src/engine/model/source-node.ts';
import { makeSettings, PRESET_NAMES, stopDefaultsFor } from '../../src/mot/presets.ts';
import { SettingsError } from '../../src/mot/settings.ts';
import type { StepRecord } from '../../src/mot/step.ts';
import type { StopSettings } from '../../src/mot/stop.ts';
import { rolloutStopSettings, runRollout } from '../../src/rl/rollout.ts';
import { stopOverridesFor } from '../../src/store/lib/decodeRun.ts';
import {
  DEFAULT_DECODE,
  DEFAULT_SETTINGS,
  settingsFromHash,
  settingsToHash,
} from '../../src/store/settings.ts';
import type { RolloutRequest } from '../../src/worker/api.ts';
import { Engine } from '../../src/worker/engine.ts';

const THINK_END = 260;
const EOS = 258;

/** Every row's step has entropy `entropy` and representative 5 (never `</think>`, never EOS). */
class ConfidentStepper implements RolloutStepper {
  readonly path = 'reference' as const;
  constructor(private readonly entropy: number) {}
  async prefill(req: PrefillRequest): Promise<(RowStep | null)[]> {
    return this.emit(req.modes, req.step);
  }
  async step(req: { modes: string[]; step: number }): Promise<(RowStep | null)[]> {
    return this.emit(req.modes, req.step);
  }
  dispose(): void {}
  private emit(modes: string[], step: number): (RowStep | null)[] {
    return modes.map((mode, row) => {
      if (mode === 'skip') return null;
      const thinking = mode === 'thinking';
      const record: StepRecord = {
        mode: thinking ? 'mixture' : 'discrete',
        ids: thinking ? [5, 6] : [5],
        weights: thinking ? [0.999, 0.001] : [1],
        representative: 5,
        temperature: 0.9,
        logLikelihood: -0.001,
        entropy: this.entropy,
        argmax: 5,
        sampled: null,
        noise: null,
        counters: { seed: 0, row, step },
      };
      return { record, hiddenEntropy: [0, 0] };
    });
  }
}

/** One soft-thinking trajectory of 24 steps under these stop settings. */
async function confidentRun(stop: StopSettings, entropy = 0.001) {
  const r = await runRollout(() => new ConfidentStepper(entropy), [[100, 101]], {
    settings: makeSettings('soft-thinking'),
    stop,
    maxNewTokens: 24,
    seed: 0,
    G: 1,
    padId: 0,
  });
  return r.trajectories[0];
}

describe('Cold Stop defaults', () => {
  it('is on for soft-thinking only, at entropy < 0.01 for 16 steps', () => {
    for (const p of PRESET_NAMES) expect(stopDefaultsFor(p).coldStop, p).toBe(p === 'soft-thinking');
    expect(stopDefaultsFor('soft-thinking')).toMatchObject({ coldStopThreshold: 0.01, coldStopSteps: 16 });
    expect(rolloutStopSettings([THINK_END], [EOS], {}, 300, 'soft-thinking').coldStop).toBe(true);
    expect(rolloutStopSettings([THINK_END], [EOS], { coldStop: false }, 300, 'soft-thinking').coldStop).toBe(
      false,
    );
    expect(rolloutStopSettings([THINK_END], [EOS], {}, 300, 'dirichlet').coldStop).toBe(false);
  });

  it('soft-thinking stops thinking after 16 cold steps by default, and thinks on when it is off', async () => {
    const on = await confidentRun(rolloutStopSettings([THINK_END], [EOS], {}, 300, 'soft-thinking'));
    expect(on.stats.switchReason).toBe('cold-stop');
    expect(on.stats.switchStep).toBe(15); // after the 16th cold step
    expect(on.tokens.slice(15, 17)).toEqual([5, THINK_END]); // `</think>` forced into the transcript
    expect(on.records.filter((r) => r.phase === 'thinking')).toHaveLength(16);
    expect(on.records.slice(16).every((r) => r.mode === 'discrete' && r.phase === 'answer')).toBe(true);

    const off = await confidentRun(
      rolloutStopSettings([THINK_END], [EOS], { coldStop: false }, 300, 'soft-thinking'),
    );
    expect(off.stats.switchReason).toBe('none');
    expect(off.tokens).not.toContain(THINK_END);
    expect(off.records.every((r) => r.phase === 'thinking')).toBe(true);
    expect(off.stopReason).toBe('length');

    // Entropy at the threshold is not cold: no stop even with Cold Stop on.
    const warm = await confidentRun(rolloutStopSettings([THINK_END], [EOS], {}, 300, 'soft-thinking'), 0.01);
    expect(warm.stats.switchReason).toBe('none');
  });
});

describe('Cold Stop through the engine (CPU, tiny random model)', () => {
  const MODEL = resolve(import.meta.dirname, '../../public/models/motg-tiny-random');
  const engine = new Engine({ resolveSource: () => new DirModelSource(MODEL) });
  beforeAll(async () => {
    await engine.init({ backend: 'cpu' });
    await engine.loadModel({ kind: 'url', baseUrl: MODEL });
  });
  afterAll(async () => {
    await engine.dispose();
  });
  // Threshold 100 nats: every step of the random model is "cold", so the rule's wiring is what is tested.
  const request = (preset: RolloutRequest['preset'], stop: Partial<StopSettings>): RolloutRequest => ({
    prompts: ['What is 2 + 3?'],
    G: 3,
    preset,
    stop: { eos: [EOS], coldStopThreshold: 100, coldStopSteps: 4, ...stop },
    maxNewTokens: 10,
    seed: 5,
  });

  it('Engine.rollout: soft-thinking cold-stops unless the request turns it off; dirichlet does not', async () => {
    const on = await engine.rollout(request('soft-thinking', {}));
    expect(on.stop.coldStop).toBe(true);
    for (const t of on.trajectories) {
      expect(t.stats.switchReason).toBe('cold-stop');
      expect(t.tokens[4]).toBe(THINK_END);
    }
    const off = await engine.rollout(request('soft-thinking', { coldStop: false }));
    expect(off.stop.coldStop).toBe(false);
    for (const t of off.trajectories) expect(t.stats.switchReason).not.toBe('cold-stop');
    const other = await engine.rollout(request('dirichlet', {}));
    for (const t of other.trajectories) expect(t.stats.switchReason).not.toBe('cold-stop');
  });

  it('the trainer takes the preset’s default, and an explicit setting over it', async () => {
    const grpo = { num_generations: 2, per_device_train_batch_size: 2, max_steps: 1 };
    expect((await engine.createTrainer({ preset: 'soft-thinking', grpo })).stop.coldStop).toBe(true);
    const off = await engine.createTrainer({ preset: 'soft-thinking', stop: { coldStop: false }, grpo });
    expect(off.stop.coldStop).toBe(false);
    expect((await engine.createTrainer({ preset: 'dirichlet', grpo })).stop.coldStop).toBe(false);
  });
});

describe('Cold Stop settings in the CLI and the page', () => {
  it('--cold-stop on|off sets trainer.stop.coldStop; anything else is refused', () => {
    expect(parseArgs(['--preset', 'soft-thinking']).trainer.stop?.coldStop).toBeUndefined(); // the default
    expect(parseArgs(['--preset', 'soft-thinking', '--cold-stop', 'off']).trainer.stop).toEqual({
      coldStop: false,
    });
    expect(parseArgs(['--preset', 'dirichlet', '--cold-stop', 'on']).trainer.stop?.coldStop).toBe(true);
    expect(() => parseArgs(['--cold-stop', 'maybe'])).toThrow(SettingsError);
  });

  it('the decode knob: on by default, sent only for soft-thinking, kept in the link', () => {
    expect(DEFAULT_DECODE.coldStop).toBe(true);
    const off = { ...DEFAULT_DECODE, coldStop: false };
    expect(stopOverridesFor('soft-thinking', off)).toEqual({ coldStop: false });
    expect(stopOverridesFor('soft-thinking', DEFAULT_DECODE)).toEqual({ coldStop: true });
    expect(stopOverridesFor('dirichlet', off)).toEqual({});
    const s = { ...DEFAULT_SETTINGS, decode: off };
    expect(settingsToHash(s)).toContain('cold=0');
    expect(settingsFromHash(settingsToHash(s)).decode.coldStop).toBe(false);
  });
});
