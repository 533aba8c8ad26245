// Optimizer update rules, clipping, accumulation, saved / restored optimizer state, and LR schedules against
// hand computation (the HF-named schedules against transformers' own formulas).
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../src/engine/errors.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { qwen2LossAndGrads } from '../../src/engine/ref/backward.ts';
import {
  AdamW,
  adamwUpdate,
  clipGradNorm,
  GradientAccumulator,
  globalGradNorm,
  Sgd,
  sgdUpdate,
} from '../../src/engine/train/optim.ts';
import { hfSchedule, type LrSchedule, learningRate } from '../../src/engine/train/schedule.ts';
import { tinyConfig } from '../helpers/tinyConfig.ts';

const f32 = (xs: number[]) => Float32Array.from(xs);

describe('AdamW', () => {
  const o = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

  it('step 1: bias correction makes the step lr · sign(g), plus decoupled decay', () => {
    const p = f32([1, -2, 0.5]);
    const g = f32([0.3, -4, 0]);
    const m = new Float32Array(3);
    const v = new Float32Array(3);
    adamwUpdate(p, g, m, v, 1, o);
    // m̂ = g, v̂ = g², so the Adam term is g / (|g| + eps) ≈ ±1 (0 where g = 0).
    expect(p[0]).toBeCloseTo(1 - 0.1 * (0.3 / (0.3 + 1e-8) + 0.01 * 1), 6);
    expect(p[1]).toBeCloseTo(-2 - 0.1 * (-4 / (4 + 1e-8) + 0.01 * -2), 6);
    expect(p[2]).toBeCloseTo(0.5 - 0.1 * 0.01 * 0.5, 7);
    expect(m[1]).toBeCloseTo(0.1 * -4, 6);
    expect(v[1]).toBeCloseTo(0.001 * 16, 7);
  });

  it('three steps match the recurrence written out by hand', () => {
    const grads = [0.5, -0.2, 0.1];
    let p = 2;
    let m = 0;
    let v = 0;
    for (let t = 1; t <= 3; t++) {
      const g = grads[t - 1];
      m = 0.9 * m + 0.1 * g;
      v = 0.999 * v + 0.001 * g * g;
      const mh = m / (1 - 0.9 ** t);
      const vh = v / (1 - 0.999 ** t);
      p = p - 0.1 * (mh / (Math.sqrt(vh) + 1e-8) + 0.01 * p);
    }
    const opt = new AdamW(o);
    const params = new Map([['w', f32([2])]]);
    for (const g of grads) opt.update(params, new Map([['w', f32([g])]]));
    expect(opt.step).toBe(3);
    expect(params.get('w')?.[0]).toBeCloseTo(p, 6);
    expect(opt.stateBytes()).toBe(2 * 4);
  });

  it('no decay for excluded names; a parameter without a gradient is untouched and keeps its own step count', () => {
    const opt = new AdamW({ ...o, weightDecay: 0.5 }, (name) => !name.endsWith('.bias'));
    const params = new Map([
      ['a.weight', f32([1])],
      ['a.bias', f32([1])],
    ]);
    opt.update(params, new Map([['a.weight', f32([0])]]));
    expect(params.get('a.weight')?.[0]).toBeCloseTo(1 - 0.1 * 0.5, 7);
    expect(params.get('a.bias')?.[0]).toBe(1);
    // The bias's first update is its step 1 (full bias correction): exactly lr · sign(g), no decay.
    opt.update(params, new Map([['a.bias', f32([0.2])]]));
    expect(params.get('a.bias')?.[0]).toBeCloseTo(1 - 0.1, 6);
    expect(() => opt.update(params, new Map([['nope', f32([1])]]))).toThrow(/unknown parameter/);
  });
});

describe('SGD', () => {
  it('plain: p ← p − lr (g + wd p), no state', () => {
    const p = f32([1, 2]);
    sgdUpdate(p, f32([0.5, -1]), null, 1, {
      lr: 0.1,
      momentum: 0,
      dampening: 0,
      weightDecay: 0.1,
      nesterov: false,
    });
    expect(p[0]).toBeCloseTo(1 - 0.1 * (0.5 + 0.1), 7);
    expect(p[1]).toBeCloseTo(2 - 0.1 * (-1 + 0.2), 6);
    const opt = new Sgd({ lr: 0.1 });
    opt.update(new Map([['w', f32([1])]]), new Map([['w', f32([1])]]));
    expect(opt.stateBytes()).toBe(0);
  });

  it('momentum over three steps: buf = g1, then μ buf + (1 − τ) g', () => {
    const opt = new Sgd({ lr: 0.1, momentum: 0.9, dampening: 0.5 });
    const params = new Map([['w', f32([0])]]);
    const gs = [1, 2, -1];
    for (const g of gs) opt.update(params, new Map([['w', f32([g])]]));
    const b1 = 1;
    const b2 = 0.9 * b1 + 0.5 * 2;
    const b3 = 0.9 * b2 + 0.5 * -1;
    expect(params.get('w')?.[0]).toBeCloseTo(-0.1 * (b1 + b2 + b3), 6);
    expect(opt.stateBytes()).toBe(4);
  });

  it('nesterov uses g + μ buf', () => {
    const opt = new Sgd({ lr: 1, momentum: 0.5, nesterov: true });
    const params = new Map([['w', f32([0])]]);
    opt.update(params, new Map([['w', f32([1])]])); // buf = 1, d = 1 + 0.5
    opt.update(params, new Map([['w', f32([1])]])); // buf = 1.5, d = 1 + 0.75
    expect(params.get('w')?.[0]).toBeCloseTo(-(1.5 + 1.75), 6);
  });
});

describe('gradient clipping and accumulation', () => {
  it('clips the global norm across tensors and returns the norm before clipping', () => {
    const a = f32([3, 0]);
    const b = f32([0, 4]);
    expect(globalGradNorm([a, b])).toBeCloseTo(5, 12);
    const n = clipGradNorm([a, b], 1);
    expect(n).toBeCloseTo(5, 12);
    expect(a[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(b[1]).toBeCloseTo(4 / (5 + 1e-6), 6);
    expect(globalGradNorm([a, b])).toBeCloseTo(1, 5);
    const c = f32([0.3, 0.4]);
    clipGradNorm([c], 1);
    expect(Array.from(c)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it('two micro-batches accumulate to the gradient of the whole batch', () => {
    const cfg = tinyConfig({ tie_word_embeddings: true });
    const model = { config: cfg, weights: initQwen2Weights(cfg, 9, 0.3, 0.1) };
    const T = 4;
    const ids = [5, 9, 17, 3, 44, 2, 8, 60];
    const targets = [9, 17, 3, 1, 2, 8, 60, 7];
    const coef = [0, 0.5, -1, 0.25, 0.3, 0, 1, -0.5];
    const whole = qwen2LossAndGrads(model, { kind: 'ids', ids }, 2, T, targets, coef);
    const acc = new GradientAccumulator();
    for (const b of [0, 1]) {
      const s = b * T;
      const part = qwen2LossAndGrads(
        model,
        { kind: 'ids', ids: ids.slice(s, s + T) },
        1,
        T,
        targets.slice(s, s + T),
        coef.slice(s, s + T),
      );
      acc.add(part.grads);
    }
    expect(acc.count).toBe(2);
    for (const [name, g] of whole.grads) {
      const a = acc.sums.get(name);
      if (!a) throw new Error(name);
      let maxRef = 0;
      let maxErr = 0;
      for (let i = 0; i < g.length; i++) {
        maxRef = Math.max(maxRef, Math.abs(g[i]));
        maxErr = Math.max(maxErr, Math.abs(g[i] - a[i]));
      }
      expect(maxRef, name).toBeGreaterThan(0);
      expect(maxErr, name).toBeLessThan(1e-5 * maxRef);
    }
    const mean = acc.mean();
    const norm = whole.grads.get('model.norm.weight');
    if (!norm) throw new Error('norm');
    expect(mean.get('model.norm.weight')?.[0]).toBeCloseTo(norm[0] / 2, 5);
    acc.zero();
    expect(acc.count).toBe(0);
    expect(acc.sums.get('model.norm.weight')?.every((x) => x === 0)).toBe(true);
  });
});

describe('optimizer state', () => {
  const grads = [f32([0.5, -0.2]), f32([0.1, 0.3]), f32([-0.4, 0.2]), f32([0.2, 0.2])];
  const run = (opt: AdamW | Sgd, params: Map<string, Float32Array>, from: number, to: number) => {
    for (let i = from; i < to; i++) opt.update(params, new Map([['w', grads[i]]]), 0.05);
  };

  for (const make of [() => new AdamW({ weightDecay: 0 }), () => new Sgd({ momentum: 0.9 })])
    it(`${make().kind}: 2 steps + state → load into a fresh one + 2 steps = 4 steps, bit for bit`, () => {
      const a = make();
      const pa = new Map([['w', f32([1, -1])]]);
      run(a, pa, 0, 4);
      const b = make();
      const pb = new Map([['w', f32([1, -1])]]);
      run(b, pb, 0, 2);
      const saved = b.state();
      const after2 = (pb.get('w') as Float32Array).slice();
      run(b, pb, 2, 3); // the saved state is a copy: later updates do not reach it
      expect(saved.t).toBe(2);
      expect(saved.slots.w.steps).toBe(2);
      const c = make();
      c.load(saved);
      expect(c.step).toBe(2);
      const pc = new Map([['w', after2]]);
      run(c, pc, 2, 4);
      expect(Array.from(pc.get('w') as Float32Array)).toEqual(Array.from(pa.get('w') as Float32Array));
      expect(c.state()).toEqual(a.state());
    });

  it('the format: kind, t, per-parameter steps and buffers (AdamW [m, v], plain SGD [])', () => {
    const adamw = new AdamW();
    adamw.update(new Map([['w', f32([1])]]), new Map([['w', f32([2])]]));
    const st = adamw.state();
    expect(st.kind).toBe('adamw');
    expect(st.t).toBe(1);
    expect(st.slots.w.steps).toBe(1);
    expect(st.slots.w.bufs.map((b) => b.length)).toEqual([1, 1]);
    const sgd = new Sgd();
    sgd.update(new Map([['w', f32([1])]]), new Map([['w', f32([2])]]));
    expect(sgd.state()).toEqual({ kind: 'sgd', t: 1, slots: { w: { steps: 1, bufs: [] } } });
  });

  it("load refuses another optimizer's state and a wrong number of buffers, changing nothing", () => {
    const adamw = new AdamW();
    adamw.update(new Map([['w', f32([1])]]), new Map([['w', f32([2])]]));
    const before = adamw.state();
    const sgd = { kind: 'sgd' as const, t: 1, slots: { w: { steps: 1, bufs: [] } } };
    expect(() => adamw.load(sgd)).toThrow(EngineError);
    expect(() => adamw.load({ ...before, slots: { w: { steps: 1, bufs: [f32([0])] } } })).toThrow(/buffers/);
    expect(() => new Sgd().load({ ...sgd, kind: 'adamw' })).toThrow(/adamw/);
    expect(adamw.state()).toEqual(before);
  });
});

/** transformers' LambdaLR factors (optimization.py), written as there, for comparison. */
const hfWarmup = (step: number, W: number) => step / Math.max(1, W);
const HF = {
  linear: (step: number, W: number, total: number) =>
    step < W ? hfWarmup(step, W) : Math.max(0, (total - step) / Math.max(1, total - W)),
  cosine: (step: number, W: number, total: number) => {
    if (step < W) return hfWarmup(step, W);
    const progress = (step - W) / Math.max(1, total - W);
    return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
  },
  cosineWithMinLr: (step: number, W: number, total: number, minLrRate: number) => {
    if (step < W) return hfWarmup(step, W);
    const progress = (step - W) / Math.max(1, total - W);
    const factor = 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress));
    return Math.max(0, factor * (1 - minLrRate) + minLrRate);
  },
};

describe('learning-rate schedules (Hugging Face names and warm-up)', () => {
  const lr = 3e-4;
  const close = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * lr);

  it('constant: lr at every step (no warm-up)', () => {
    expect(learningRate({ kind: 'constant', lr }, 0)).toBe(lr);
    expect(learningRate({ kind: 'constant', lr }, 1000)).toBe(lr);
    expect(learningRate(hfSchedule('constant', { lr, warmupSteps: 5, totalSteps: 50 }), 0)).toBe(lr);
  });

  it("warm-up: 0 at step 0, lr · step / W, lr from step W (HF / TRL, not llm.c's (step + 1) / W)", () => {
    const s = { kind: 'constant_with_warmup' as const, lr: 1, warmupSteps: 4 };
    expect([0, 1, 2, 3, 4, 100].map((t) => learningRate(s, t))).toEqual([0, 0.25, 0.5, 0.75, 1, 1]);
    for (const name of ['constant_with_warmup', 'linear', 'cosine'] as const) {
      const sched = hfSchedule(name, { lr, warmupSteps: 10, totalSteps: 100 });
      expect(sched.kind).toBe(name);
      expect(learningRate(sched, 0), name).toBe(0);
      close(learningRate(sched, 3), lr * 0.3);
      expect(learningRate(sched, 10), name).toBe(lr);
    }
  });

  it("linear and cosine decay match transformers' formulas", () => {
    const W = 10;
    const total = 100;
    const linear = hfSchedule('linear', { lr, warmupSteps: W, totalSteps: total });
    const cosine = hfSchedule('cosine', { lr, warmupSteps: W, totalSteps: total });
    for (const step of [0, 4, 10, 11, 37, 55, 90, 99, 100]) {
      close(learningRate(linear, step), lr * HF.linear(step, W, total));
      close(learningRate(cosine, step), lr * HF.cosine(step, W, total));
    }
    close(learningRate(linear, 55), lr / 2); // halfway through the decay
    close(learningRate(cosine, 55), lr / 2);
    expect(learningRate(linear, 100)).toBe(0);
    expect(learningRate(linear, 150)).toBe(0); // held at the end (HF: max(0, ·))
    // No warm-up: the decay starts at lr on step 0.
    expect(learningRate(hfSchedule('cosine', { lr, warmupSteps: 0, totalSteps: 8 }), 0)).toBe(lr);
    close(learningRate(hfSchedule('linear', { lr, warmupSteps: 0, totalSteps: 8 }), 2), lr * 0.75);
  });

  it("cosine_with_min_lr, HF warm-up: transformers' min_lr schedule", () => {
    const s: LrSchedule = {
      kind: 'cosine_with_min_lr',
      lr,
      warmupSteps: 2,
      totalSteps: 12,
      minLr: lr / 10,
      warmup: 'hf',
    };
    for (const step of [0, 1, 2, 4, 7, 11, 12])
      close(learningRate(s, step), lr * HF.cosineWithMinLr(step, 2, 12, 0.1));
    expect(learningRate(s, 0)).toBe(0);
  });

  it("cosine_with_min_lr, llm.c warm-up (the built-in model's SFT): lr / W at step 0, minLr at the end", () => {
    const s = {
      kind: 'cosine_with_min_lr' as const,
      lr: 1,
      warmupSteps: 2,
      totalSteps: 12,
      minLr: 0.1,
      warmup: 'llm.c' as const,
    };
    expect(learningRate(s, 0)).toBeCloseTo(0.5, 12);
    expect(learningRate(s, 1)).toBe(1);
    expect(learningRate(s, 2)).toBeCloseTo(1, 12);
    expect(learningRate(s, 7)).toBeCloseTo(0.55, 12);
    expect(learningRate(s, 4)).toBeCloseTo(0.1 + 0.45 * (1 + Math.cos(Math.PI * 0.2)), 12);
    expect(learningRate(s, 12)).toBe(0.1);
    expect(learningRate(s, 50)).toBe(0.1);
    expect(() => learningRate(s, -1)).toThrow(RangeError);
    expect(() => learningRate(s, 1.5)).toThrow(RangeError);
  });
});
