// The mixture-of-token rollout's GPU fast path: each loop step is ONE command encoder — the embedding-mixture
// kernel writes every row's next input (the previous step's recorded ids × weights + noise, or a given token),
// the forward appends it to the KV cache (the hidden-state entropy of each layer reduced on the way), and the
// mixture-step kernel turns the last-position logits into each row's record. Only the records come back
// (n ids + weights + 8 words per row, L floats of hidden entropy), never the logits.
// The kernels are in kernels/mixtureStep.wgsl.ts and kernels/mixtureEmbed.wgsl.ts; the CPU twin of the step
// is src/mot/step.ts, and rl/rollout.ts runs the loop.

import { DRAW } from '../../mot/random.ts';
import { type MotSettings, mixtureTemperatureOf, validateMotSettings } from '../../mot/settings.ts';
import type { StepRecord } from '../../mot/step.ts';
import {
  groupRowCopies,
  type ModelShape,
  type PrefillRequest,
  promptRowsOf,
  type RolloutStepper,
  type RowMode,
  type RowStep,
  type StepperConfig,
  type StepRequest,
} from '../decode/stepper.ts';
import { EngineError } from '../errors.ts';
import type { GpuTensor } from './buffers.ts';
import type { CommandRecorder, GpuContext } from './commands.ts';
import { hiddenEntropyKernel, mixtureEmbedKernel } from './kernels/mixtureEmbed.wgsl.ts';
import {
  CTRL_STRIDE,
  META_STRIDE,
  MODE_CODE,
  mixtureStepKernel,
  NO_ID,
  REPRESENTATIVE_CODE,
  SELECT_CODE,
  WEIGHT_CODE,
} from './kernels/mixtureStep.wgsl.ts';
import type { GpuKvCache, GpuModel } from './model.ts';

const STEP_WG = 256;
const EW = 64;

/** Ids a row's record can hold: k (at most V) for `top` / `sample`, V for `all`, 1 for discrete decoding. */
export function recordCapacity(settings: MotSettings, V: number): number {
  if (!settings.mixture) return 1;
  if (settings.select === 'all') return V;
  return Math.max(1, Math.min(settings.k, V));
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** The mixture-step kernel's params for these settings. */
export function mixtureStepParams(
  settings: MotSettings,
  V: number,
  K: number,
  P: number,
  C: number,
  seed: number,
): Record<string, number> {
  return {
    V,
    K,
    P,
    C,
    seed: seed >>> 0,
    mixture: settings.mixture ? 1 : 0,
    selectKind: SELECT_CODE[settings.select],
    k: settings.k,
    weightKind: WEIGHT_CODE[settings.weights],
    repRule: REPRESENTATIVE_CODE[settings.representative],
    exact: settings.likelihood === 'exact' ? 1 : 0,
    weightedIds: settings.paperRule === 'weighted-ids' ? 1 : 0,
    tMix: mixtureTemperatureOf(settings),
    tDisc: settings.temperature,
    paperOne: settings.paperTemperature === 'one' ? 1 : 0,
    noise: settings.mixture && settings.noiseSigma > 0 ? 1 : 0,
    topP: settings.topP,
    minP: settings.minP,
    dTopK: settings.discreteTopK,
    dTopP: settings.discreteTopP,
    dMinP: settings.discreteMinP,
    concentration: settings.concentration,
    gumbelTau: settings.gumbelTau,
    moiBeta: settings.moiBeta,
  };
}

/** Per-row buffers of the step: control words in, records out, sort scratch. */
export interface MixtureStepTensors {
  /** (B, 8) u32: mode, counter row, counter step, given input id, counter step of the fed record. */
  ctrl: GpuTensor;
  /** (B, K) u32 / f32: the chosen ids and their weights. */
  recIds: GpuTensor;
  recW: GpuTensor;
  /** (B, 8) u32: n, representative, argmax, sampled, mixture flag, bits of ℓ, entropy, temperature. */
  meta: GpuTensor;
  /** (B, P) u32 scratch. */
  sk: GpuTensor;
  sv: GpuTensor;
}

/** Record the mixture step of B rows of logits (B, V) into `t`. */
export function mixtureStepForward(
  rec: CommandRecorder,
  t: MixtureStepTensors,
  logits: GpuTensor,
  B: number,
  params: Record<string, number>,
): void {
  rec.dispatch(mixtureStepKernel, {
    constants: { WG: STEP_WG },
    params,
    bind: { ctrl: t.ctrl, x: logits, recIds: t.recIds, recW: t.recW, rowMeta: t.meta, sk: t.sk, sv: t.sv },
    workgroups: B,
  });
}

/** out (B, C) = each row's next input embedding (see kernels/mixtureEmbed.wgsl.ts). */
export function mixtureEmbedForward(
  rec: CommandRecorder,
  out: GpuTensor,
  t: MixtureStepTensors,
  wte: GpuTensor,
  B: number,
  C: number,
  K: number,
  V: number,
  seed: number,
  noiseStd: number,
): void {
  rec.dispatch(mixtureEmbedKernel(wte.dtype ?? 'f32'), {
    params: { B, C, K, V, seed: seed >>> 0, noiseStd },
    bind: { out, ctrl: t.ctrl, recIds: t.recIds, recW: t.recW, rowMeta: t.meta, wte },
    workgroups: Math.ceil((B * C) / EW),
  });
}

/** out[b · L + layer] = hidden-state entropy of row b · stride + offset of h (rows of C), and out[(B + b) · L +
 * layer] its scale-free entropy: out holds (2, B, L). */
export function hiddenEntropyRowsForward(
  rec: CommandRecorder,
  out: GpuTensor,
  h: GpuTensor,
  B: number,
  C: number,
  stride: number,
  offset: number,
  L: number,
  layer: number,
): void {
  rec.dispatch(hiddenEntropyKernel, {
    params: { B, C, stride, offset, L, layer },
    bind: { out, h },
    workgroups: B,
  });
}

export interface RowCounters {
  mode: RowMode;
  row: number;
  step: number;
}

/** Turn the read-back meta / ids / weights of B rows into StepRecords (null for skipped rows). */
export function decodeStepRecords(
  meta: Uint32Array,
  ids: Uint32Array,
  weights: Float32Array,
  K: number,
  rows: RowCounters[],
  settings: MotSettings,
  seed: number,
): (StepRecord | null)[] {
  const f32 = new Float32Array(meta.buffer, meta.byteOffset, meta.length);
  return rows.map((r, b) => {
    if (r.mode === 'skip') return null;
    const m = meta.subarray(b * META_STRIDE, (b + 1) * META_STRIDE);
    const n = m[0];
    const mixture = m[4] === 1;
    const counters = { seed: seed >>> 0, row: r.row, step: r.step };
    return {
      mode: mixture ? 'mixture' : 'discrete',
      ids: Array.from(ids.subarray(b * K, b * K + n)),
      weights: Array.from(weights.subarray(b * K, b * K + n)),
      representative: m[1],
      temperature: mixture ? mixtureTemperatureOf(settings) : settings.temperature,
      logLikelihood: f32[b * META_STRIDE + 5],
      entropy: f32[b * META_STRIDE + 6],
      argmax: m[2],
      sampled: m[3] === NO_ID ? null : m[3],
      noise:
        mixture && settings.noiseSigma > 0
          ? { sigma: settings.noiseSigma, scale: settings.noiseScale, ...counters, drawBase: DRAW.noise }
          : null,
      counters,
    };
  });
}

function ctrlWords(rows: RowCounters[], given: (number | null)[] | null, fedStep: number): Uint32Array {
  const c = new Uint32Array(rows.length * CTRL_STRIDE);
  rows.forEach((r, b) => {
    c[b * CTRL_STRIDE] = MODE_CODE[r.mode];
    c[b * CTRL_STRIDE + 1] = r.row >>> 0;
    c[b * CTRL_STRIDE + 2] = r.step >>> 0;
    const g = given?.[b] ?? null;
    c[b * CTRL_STRIDE + 3] = g === null ? NO_ID : g >>> 0;
    c[b * CTRL_STRIDE + 4] = fedStep >>> 0;
  });
  return c;
}

function allocStepTensors(ctx: GpuContext, B: number, K: number, P: number): MixtureStepTensors {
  const t = (name: string, numel: number) => ctx.pool.tensor(`mixture ${name}`, numel);
  return {
    ctrl: t('ctrl', B * CTRL_STRIDE),
    recIds: t('ids', B * K),
    recW: t('weights', B * K),
    meta: t('meta', B * META_STRIDE),
    sk: t('sort keys', B * P),
    sv: t('sort ids', B * P),
  };
}

function releaseStepTensors(ctx: GpuContext, t: MixtureStepTensors): void {
  for (const x of Object.values(t)) ctx.pool.release(x);
}

/**
 * The mixture step alone on given logits (B rows of V), for tests and tools: the GPU twin of calling
 * src/mot/step.ts mixtureStep on each row with counters {seed, row, step} and the row's phase.
 */
export async function runMixtureStep(
  ctx: GpuContext,
  logits: Float32Array,
  V: number,
  settings: MotSettings,
  seed: number,
  rows: RowCounters[],
  hiddenSize = 1,
): Promise<(StepRecord | null)[]> {
  validateMotSettings(settings, V);
  const B = rows.length;
  if (logits.length < B * V)
    throw new EngineError('invalid-argument', `mixture step: ${logits.length} logits < B·V = ${B * V}`);
  const K = recordCapacity(settings, V);
  const P = nextPow2(K);
  const t = allocStepTensors(ctx, B, K, P);
  const x = ctx.pool.upload('mixture logits', logits.subarray(0, B * V));
  try {
    const c = ctrlWords(rows, null, 0);
    ctx.device.queue.writeBuffer(t.ctrl.buffer, 0, c.buffer, 0, c.byteLength);
    const rec = ctx.recorder('mixture step');
    mixtureStepForward(rec, t, x, B, mixtureStepParams(settings, V, K, P, hiddenSize, seed));
    rec.read(t.meta, B * META_STRIDE * 4);
    rec.read(t.recIds, B * K * 4);
    rec.read(t.recW, B * K * 4);
    const [meta, ids, w] = await rec.submit();
    return decodeStepRecords(
      new Uint32Array(meta),
      new Uint32Array(ids),
      new Float32Array(w),
      K,
      rows,
      settings,
      seed,
    );
  } finally {
    releaseStepTensors(ctx, t);
    ctx.pool.release(x);
  }
}

/** The rollout stepper of the GPU fast path (see the file comment). */
export class GpuMixtureStepper implements RolloutStepper {
  readonly path = 'gpu' as const;
  private readonly cache: GpuKvCache;
  private readonly t: MixtureStepTensors;
  private readonly embeds: GpuTensor;
  private readonly hent: GpuTensor;
  private readonly K: number;
  private readonly params: Record<string, number>;
  private disposed = false;

  constructor(
    private readonly model: GpuModel,
    private readonly shape: ModelShape,
    private readonly cfg: StepperConfig,
  ) {
    const { vocabSize: V, hiddenSize: C, numHiddenLayers: L } = shape;
    validateMotSettings(cfg.settings, V);
    this.K = recordCapacity(cfg.settings, V);
    const P = nextPow2(this.K);
    const ctx = model.ctx;
    this.cache = model.createKvCache(cfg.B, cfg.capacity);
    this.t = allocStepTensors(ctx, cfg.B, this.K, P);
    this.embeds = ctx.pool.tensor('mixture next inputs', cfg.B * C);
    this.hent = ctx.pool.tensor('hidden entropy', 2 * cfg.B * L); // softmax, then scale-free
    this.params = mixtureStepParams(cfg.settings, V, this.K, P, C, cfg.seed);
  }

  /** The prompts once each (one row per prompt, in a cache of their own); in the same command encoder their
   * cache rows are copied to the G batch rows of each and their last-position logits to every batch row,
   * which the mixture step then samples with the row's own counters. */
  async prefill(req: PrefillRequest): Promise<(RowStep | null)[]> {
    const { B } = this.cfg;
    const P = promptRowsOf(req, B);
    const rows = req.modes.map((mode, b) => ({ mode, row: b, step: req.step }));
    const ctrl = ctrlWords(rows, null, 0);
    const input = { kind: 'ids' as const, ids: req.ids };
    const opts = { positionIds: req.positions, attentionMask: req.mask, lora: this.cfg.lora };
    if (P === B)
      return this.model.decodeWith(this.cache, input, req.T, opts, this.hooks(ctrl, rows, req.T, false));
    const pool = this.model.ctx.pool;
    const prompts = this.model.createKvCache(P, req.T);
    const logits = pool.tensor('mixture prefill logits per row', B * this.shape.vocabSize);
    try {
      const share = { prompts, G: B / P, logits };
      const out = await this.model.decodeWith(
        prompts,
        input,
        req.T,
        opts,
        this.hooks(ctrl, rows, req.T, false, share),
      );
      this.cache.length = req.T;
      return out;
    } finally {
      prompts.dispose();
      pool.release(logits);
    }
  }

  step(req: StepRequest): Promise<(RowStep | null)[]> {
    const rows = req.modes.map((mode, b) => ({ mode, row: b, step: req.step }));
    const given = req.inputs.map((inp) => (inp.kind === 'id' ? inp.id : null));
    // An action is fed right after the step that sampled it: its counters are (row, step − 1).
    const ctrl = ctrlWords(rows, given, Math.max(0, req.step - 1));
    return this.model.decodeWith(
      this.cache,
      { kind: 'gpu-embeds', embeds: this.embeds },
      1,
      { positionIds: req.positions, attentionMask: req.mask, lora: this.cfg.lora },
      this.hooks(ctrl, rows, 1, true),
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.cache.dispose();
    const pool = this.model.ctx.pool;
    releaseStepTensors(this.model.ctx, this.t);
    pool.release(this.embeds);
    pool.release(this.hent);
  }

  /**
   * The hooks of a step: the next inputs before the forward, the hidden entropy after each layer, the
   * mixture step after lm_head. With `share` the forward ran one row per prompt: its last-position logits
   * and cache rows are copied to the prompt's G batch rows before the step.
   */
  private hooks(ctrl: Uint32Array, rows: RowCounters[], T: number, embed: boolean, share?: SharedPrefill) {
    const { vocabSize: V, hiddenSize: C, numHiddenLayers: L } = this.shape;
    const { B } = this.cfg;
    const G = share?.G ?? 1;
    const forwardRows = B / G;
    const K = this.K;
    const ctx = this.model.ctx;
    return {
      before: (rec: CommandRecorder) => {
        ctx.device.queue.writeBuffer(this.t.ctrl.buffer, 0, ctrl.buffer, 0, ctrl.byteLength);
        if (embed)
          mixtureEmbedForward(
            rec,
            this.embeds,
            this.t,
            this.model.embedTokens,
            B,
            C,
            K,
            V,
            this.cfg.seed,
            this.cfg.noiseStd,
          );
      },
      layer: this.cfg.hiddenEntropy
        ? (rec: CommandRecorder, l: number, residual: GpuTensor) =>
            hiddenEntropyRowsForward(rec, this.hent, residual, forwardRows, C, T, T - 1, L, l)
        : undefined,
      after: (rec: CommandRecorder, lastLogits: GpuTensor) => {
        let logits = lastLogits;
        if (share) {
          for (let b = 0; b < B; b++)
            rec.copy(lastLogits, share.logits, Math.floor(b / G) * V * 4, b * V * 4, V * 4);
          for (const c of groupRowCopies(forwardRows, G))
            this.cache.recordRowCopy(rec, share.prompts, c.from, c.to, T);
          logits = share.logits;
        }
        mixtureStepForward(rec, this.t, logits, B, this.params);
        rec.read(this.t.meta, B * META_STRIDE * 4);
        rec.read(this.t.recIds, B * K * 4);
        rec.read(this.t.recW, B * K * 4);
        const wantH = this.cfg.hiddenEntropy;
        if (wantH) rec.read(this.hent, 2 * forwardRows * L * 4);
        return (bufs: ArrayBuffer[]): (RowStep | null)[] => {
          const records = decodeStepRecords(
            new Uint32Array(bufs[0]),
            new Uint32Array(bufs[1]),
            new Float32Array(bufs[2]),
            K,
            rows,
            this.cfg.settings,
            this.cfg.seed,
          );
          const h = wantH ? new Float32Array(bufs[3]) : null;
          const entropyOf = (b: number, scaleFree: boolean) => {
            const at = (Math.floor(b / G) + (scaleFree ? forwardRows : 0)) * L;
            return h ? Array.from(h.subarray(at, at + L)) : [];
          };
          return records.map((record, b) =>
            record
              ? { record, hiddenEntropy: entropyOf(b, false), hiddenEntropyScaleFree: entropyOf(b, true) }
              : null,
          );
        };
      },
    };
  }
}

/** A prefill run once per prompt: the prompts' cache, the batch rows per prompt, (B, V) logits per batch row. */
interface SharedPrefill {
  prompts: GpuKvCache;
  G: number;
  logits: GpuTensor;
}
