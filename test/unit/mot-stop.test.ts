// The stop rules of src/mot/stop.ts: `</think>` by representative (one id or several), by argmax, Cold Stop,
// EOS in either phase, and that the thinking phase never comes back.
import { describe, expect, it } from 'vitest';
import { SettingsError } from '../../src/mot/settings.ts';
import {
  advanceStop,
  initialStopState,
  STOP_DEFAULTS,
  type StopInput,
  type StopSettings,
  type StopState,
  validateStopSettings,
} from '../../src/mot/stop.ts';

const settings = (o: Partial<StopSettings> = {}): StopSettings =>
  validateStopSettings({ ...STOP_DEFAULTS, thinkEnd: [7], eos: [0], ...o });
const step = (representative: number, argmax = representative, entropy = 1): StopInput => ({
  representative,
  argmax,
  entropy,
});

function run(
  s: StopSettings,
  steps: StopInput[],
): { state: StopState; events: string[]; forces: number[][] } {
  let state = initialStopState();
  const events: string[] = [];
  const forces: number[][] = [];
  for (const x of steps) {
    const d = advanceStop(state, x, s);
    state = d.state;
    events.push(d.event);
    forces.push(d.force);
  }
  return { state, events, forces };
}

describe('stop rules', () => {
  it('a single-id </think> as representative switches for good; nothing is forced', () => {
    const r = run(settings(), [step(3), step(7), step(5), step(7, 7, 0)]);
    expect(r.events).toEqual(['none', 'think-end', 'none', 'none']);
    expect(r.forces[1]).toEqual([]);
    expect(r.state.phase).toBe('answer');
    expect(r.state.switchedAt).toBe(1);
    expect(r.state.reason).toBe('think-end');
  });

  it('a multi-token </think> must appear contiguously in the representative stream', () => {
    const s = settings({ thinkEnd: [4, 5, 6] });
    expect(run(s, [step(4), step(5), step(9), step(6)]).state.phase).toBe('thinking');
    const r = run(s, [step(4), step(4), step(5), step(6), step(1)]);
    expect(r.events).toEqual(['none', 'none', 'none', 'think-end', 'none']);
    expect(r.state.switchedAt).toBe(3);
  });

  it('the argmax rule switches on the argmax stream and forces </think>; the representative rule ignores it', () => {
    const xs = [step(3, 4), step(2, 5), step(1, 6)];
    const rep = run(settings({ thinkEnd: [4, 5, 6] }), xs);
    expect(rep.state.phase).toBe('thinking');
    const arg = run(settings({ thinkEnd: [4, 5, 6], rule: 'argmax' }), xs);
    expect(arg.events[2]).toBe('argmax-think-end');
    expect(arg.forces[2]).toEqual([4, 5, 6]);
    expect(arg.state.phase).toBe('answer');
    // When the representative spells it at the same step nothing is forced (no duplicate </think>).
    const both = run(settings({ rule: 'argmax' }), [step(7, 7)]);
    expect(both.events[0]).toBe('think-end');
    expect(both.forces[0]).toEqual([]);
  });

  it('Cold Stop: N consecutive steps with entropy < threshold force </think>; a warm step resets the count', () => {
    const s = settings({ coldStop: true, coldStopSteps: 3, coldStopThreshold: 0.01 });
    const cold = (id: number) => step(id, id, 0.001);
    const r = run(s, [cold(1), cold(2), step(3, 3, 0.5), cold(1), cold(2), cold(3), cold(4)]);
    expect(r.events).toEqual(['none', 'none', 'none', 'none', 'none', 'cold-stop', 'none']);
    expect(r.forces[5]).toEqual([7]);
    expect(r.state.switchedAt).toBe(5);
    // Off by default.
    expect(run(settings(), [cold(1), cold(2), cold(3), cold(4)]).state.phase).toBe('thinking');
    // Entropy exactly at the threshold is not cold.
    expect(run(s, [step(1, 1, 0.01), step(1, 1, 0.01), step(1, 1, 0.01)]).state.phase).toBe('thinking');
  });

  it('EOS ends the trajectory in either phase; later steps change nothing', () => {
    const s = settings({ eos: [0, 9] });
    const thinking = run(s, [step(3), step(9), step(7)]);
    expect(thinking.events).toEqual(['none', 'eos', 'none']);
    expect(thinking.state.phase).toBe('done');
    expect(thinking.state.steps).toBe(2);
    const answer = run(s, [step(7), step(3), step(0)]);
    expect(answer.events).toEqual(['think-end', 'none', 'eos']);
    expect(answer.state.reason).toBe('eos');
    // An argmax EOS does not end it: only the transcript token counts.
    expect(run(s, [step(3, 0)]).state.phase).toBe('thinking');
  });

  it('validation', () => {
    expect(() => settings({ thinkEnd: [] })).toThrow(SettingsError);
    expect(() => validateStopSettings({ ...STOP_DEFAULTS, thinkEnd: [70], eos: [] }, 50)).toThrow(/V = 50/);
    expect(() => settings({ coldStopSteps: 0 })).toThrow(SettingsError);
    expect(() => settings({ coldStopThreshold: -1 })).toThrow(SettingsError);
    expect(() => settings({ thinkEnd: [1.5] })).toThrow(SettingsError);
  });
});
