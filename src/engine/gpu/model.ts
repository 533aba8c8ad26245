// GPU inference for the Qwen2 model: GpuModel owns the device context, the parameters (one typed table,
// params.ts), the LoRA adapter, the KV caches and one set of activation buffers, and records each forward
// (or decode step) through THE forward recorder (forward.ts, inference mode: appending to a KV cache) into
// ONE command encoder, submitted once; only what the caller asks for is read back. GpuTrainer
// (train.ts) trains these same parameter buffers in place, so after a step forward and decode use them.
import type { Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import type { ForwardResult, HiddenStates, LoraWeights, ModelInput } from '../ref/model.ts';
import type { WeightMap } from '../tensor.ts';
import type { BufferPool, GpuTensor, WeightDtype } from './buffers.ts';
import { CallTensors } from './callTensors.ts';
import { type CommandRecorder, GpuContext } from './commands.ts';
import type { EngineDevice } from './device.ts';
import { type GpuDecodeInput, type LayerActivations, recordForward } from './forward.ts';
import { headChunkRows, recordHeadLoss } from './headChunks.ts';
import { GpuKvCache } from './kvCache.ts';
import { argmaxForward, entropyForward, gatherLogprobsForward, sampleForward } from './ops.ts';
import {
  checkLoraShapes,
  type LoraTensors,
  namedParameters,
  type ParameterTensors,
  releaseLoraPairs,
  uploadLora,
  uploadParameters,
} from './params.ts';

export type { GpuDecodeInput } from './forward.ts';
export { GpuKvCache } from './kvCache.ts';

/** Activations for N = B·T rows, sized once per N and reused by every layer and call (decode steps keep
 * the same table); keys and values go to the KV cache. */
interface ActivationTensors {
  N: number;
  residual: GpuTensor; // (N, C)   the residual stream
  normed: GpuTensor; // (N, C)     rmsnorm output (input of q/k/v, of the MLP, of lm_head)
  qraw: GpuTensor; // (N, H·D)     q before RoPE
  q: GpuTensor; // (N, H·D)        q after RoPE
  kraw: GpuTensor; // (N, KVH·D)   k before RoPE (RoPE writes it into the cache)
  vraw: GpuTensor; // (N, KVH·D)   v (copied into the cache)
  att: GpuTensor; // (N, H·D)      attention output
  gate: GpuTensor; // (N, I)
  up: GpuTensor; // (N, I)
  act: GpuTensor; // (N, I)        silu(gate) · up
  loraTmp: GpuTensor; // (N, rMax) x · Aᵀ
  cs: GpuTensor; // (N, D)         RoPE cos/sin at this call's positions
  lastRows: GpuTensor; // (N, C)  decode: each row's last-position residual (first B rows used)
  logitRows: number; //            N for a forward, B for a decode (last positions only)
  logits: GpuTensor; // (logitRows, V)
  entropy: GpuTensor; // (N)       next-token entropy
  ids: GpuTensor; // (N) u32       sampled ids (decode)
}

/** How record() appends a call to a cache, and the caller's per-layer dispatches. */
interface RecordOptions {
  cache: GpuKvCache;
  positionIds?: ArrayLike<number>;
  attentionMask?: ArrayLike<number>;
  lora?: boolean;
  onEmbedded?: (residual: GpuTensor) => void;
  onLayer?: (l: number, residual: GpuTensor) => void;
  /** Record only the final norm, no lm_head (the caller computes the logits a vocabulary chunk at a time). */
  headless?: boolean;
}

export interface GpuForwardOptions {
  /** (B, T) positions; default: cache length + t. */
  positionIds?: ArrayLike<number>;
  /** (B, T) 1 = real token, 0 = padding; default all ones. */
  attentionMask?: ArrayLike<number>;
  /** Keep the residual stream after the embedding, after each layer, and after the final norm. */
  hiddenStates?: boolean;
  /** Apply the uploaded LoRA adapter (default false: the base model). */
  lora?: boolean;
  /** Append to (and attend over) this cache instead of starting from nothing. */
  cache?: GpuKvCache;
  /** Read the full logits back (default true); false leaves ForwardResult.logits empty. */
  logits?: boolean;
  /** (B, T, targetsPerPosition) target ids: read back log_softmax(logits)[target] of each, computed on the
   * GPU (the full logits need not come back: `logits: false`). */
  targets?: ArrayLike<number>;
  /** Targets per position (default 1). */
  targetsPerPosition?: number;
  /** With `targets`, `logits: false` and no entropy, lm_head and the log-softmax run over the vocabulary
   * in chunks of this many rows (a multiple of 128; default DEFAULT_HEAD_CHUNK of headChunks.ts): no
   * (B·T, V) logits buffer is made. */
  headChunk?: number;
  /** Read back the next-token entropy (nats) per position, computed on the GPU. */
  entropy?: boolean;
}

export interface GpuForwardResult extends ForwardResult {
  logprobs?: Float32Array; // (B, T, targetsPerPosition)
  entropy?: Float32Array; // (B, T)
}

export interface GpuDecodeOptions {
  positionIds?: ArrayLike<number>; // (B, T)
  attentionMask?: ArrayLike<number>; // (B, T)
  lora?: boolean;
  /** Argmax (also when temperature ≤ 0). */
  greedy: boolean;
  temperature: number;
  seed: number;
  /** Step counter for the RNG (with the row index): u = counterUniform(seed, row, step). */
  step: number;
}

/** What decodeWith lets a caller record into the step's one command encoder. */
export interface DecodeHooks<R> {
  /** Dispatches before the forward (e.g. the kernel that writes a gpu-embeds input). */
  before?(rec: CommandRecorder): void;
  /** After layer l: the residual stream (B·T rows of C) after that layer. */
  layer?(rec: CommandRecorder, l: number, residual: GpuTensor): void;
  /** After lm_head: each row's last-position logits (B, V) stay on the GPU; record dispatches and reads,
   * and return how to turn the read buffers (in rec.read order) into the result. */
  after(rec: CommandRecorder, logits: GpuTensor): (buffers: ArrayBuffer[]) => R;
}

export interface GpuModelOptions {
  /** Storage of the weight matrices: f32, or 16-bit (f16 / bf16, packed two per u32; arithmetic stays
   * f32). Default f32. */
  weightDtype?: WeightDtype;
}

export class GpuModel {
  private readonly params: ParameterTensors;
  private lora: LoraTensors | null = null;
  private acts: ActivationTensors | null = null;
  private readonly caches = new Set<GpuKvCache>();
  /** Calls run one at a time: each writes its inputs into shared buffers before its submit. */
  private chain: Promise<unknown> = Promise.resolve();
  private lastDecode: { B: number } | null = null;
  private disposed = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: Qwen2Config,
    params: ParameterTensors,
    /** How the weight matrices are stored (norms and biases are always f32). */
    readonly weightDtype: WeightDtype,
  ) {
    this.params = params;
  }

  /** Upload the weights (and optionally a LoRA adapter) to the device, the weight matrices in
   * `opts.weightDtype` (default f32). Throws EngineError('gpu-limit') naming the tensor when one does not
   * fit the device's limits. */
  static async create(
    dev: EngineDevice,
    config: Qwen2Config,
    weights: WeightMap,
    lora: LoraWeights | null = null,
    opts: GpuModelOptions = {},
  ): Promise<GpuModel> {
    const storage = opts.weightDtype ?? 'f32';
    return GpuModel.fromParameters(
      dev,
      config,
      (pool) => uploadParameters(pool, config, weights, storage),
      storage,
      lora,
    );
  }

  /** A model over parameters that `upload` puts into the new context's pool (e.g. streamed tensor by
   * tensor); the weight matrices are in `storage`. On failure everything allocated is freed. */
  static async fromParameters(
    dev: EngineDevice,
    config: Qwen2Config,
    upload: (pool: BufferPool) => ParameterTensors | Promise<ParameterTensors>,
    storage: WeightDtype,
    lora: LoraWeights | null = null,
  ): Promise<GpuModel> {
    const ctx = new GpuContext(dev);
    let model: GpuModel;
    try {
      model = new GpuModel(ctx, config, await upload(ctx.pool), storage);
    } catch (e) {
      ctx.destroy();
      throw e;
    }
    try {
      if (lora) model.setLoraNow(lora);
    } catch (e) {
      model.dispose();
      throw e;
    }
    await dev.device.queue.onSubmittedWorkDone();
    return model;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  get hasLora(): boolean {
    return this.lora !== null;
  }

  /**
   * Upload (or replace, or with null remove) the LoRA adapter. Same shapes → written in place. Runs after
   * any forward/decode in flight (calls are serialised), so a running call keeps the adapter it started with.
   */
  setLora(lora: LoraWeights | null): Promise<void> {
    return this.serial(async () => this.setLoraNow(lora));
  }

  private setLoraNow(lora: LoraWeights | null): void {
    this.checkAlive();
    if (!lora) {
      this.releaseLora();
      return;
    }
    const old = this.lora;
    const sameShape =
      old !== null &&
      old.r === lora.r &&
      old.pairs.size === lora.layers.size &&
      [...lora.layers.keys()].every((k) => old.pairs.has(k));
    if (old && sameShape) {
      old.scale = lora.scale;
      for (const [name, { A, B }] of lora.layers) {
        const t = old.pairs.get(name)!;
        this.ctx.device.queue.writeBuffer(t.A.buffer, 0, A.data.buffer, A.data.byteOffset, A.data.byteLength);
        this.ctx.device.queue.writeBuffer(t.B.buffer, 0, B.data.buffer, B.data.byteOffset, B.data.byteLength);
      }
      return;
    }
    this.releaseLora();
    checkLoraShapes(this.config, lora);
    this.lora = uploadLora(this.ctx.pool, this.config, lora);
    if (this.acts) this.releaseActivations(); // loraTmp is sized by r
  }

  createKvCache(B: number, capacity: number): GpuKvCache {
    this.checkAlive();
    if (!(B >= 1 && capacity >= 1))
      throw new EngineError('invalid-argument', `KV cache: B = ${B}, capacity = ${capacity}`);
    const c = new GpuKvCache(this.ctx, this.config, B, capacity, (x) => this.caches.delete(x));
    this.caches.add(c);
    return c;
  }

  /** Copy positions [0, n) of rows of `src` into rows of `dst` (GpuKvCache.recordRowCopy, all in one command
   * encoder), after every call in flight; `dst` then holds n positions. */
  copyCacheRows(
    src: GpuKvCache,
    dst: GpuKvCache,
    copies: readonly { from: number; to: readonly number[] }[],
    n: number,
  ): Promise<void> {
    return this.serial(async () => {
      this.checkAlive();
      if (n > src.length)
        throw new EngineError('invalid-argument', `KV cache row copy: ${n} > ${src.length} cached positions`);
      const rec = this.ctx.recorder('kv cache row copy');
      for (const c of copies) dst.recordRowCopy(rec, src, c.from, c.to, n);
      await rec.submit();
      dst.length = n;
    });
  }

  /** Full forward (or, with a cache, the new positions appended to it). Reads back what opts ask for. */
  forward(input: ModelInput, B: number, T: number, opts: GpuForwardOptions = {}): Promise<GpuForwardResult> {
    return this.serial(() => this.forwardNow(input, B, T, opts));
  }

  /**
   * Append T positions per row to the cache, then choose each row's next token from its last position's
   * logits on the GPU (argmax, or sampling at counterUniform(seed, row, step)). Only the ids come back;
   * readDecodeLogits() reads that step's last-position logits when a test or a UI needs them.
   */
  decode(cache: GpuKvCache, input: ModelInput, T: number, opts: GpuDecodeOptions): Promise<Int32Array> {
    return this.serial(async () => {
      const B = cache.B;
      const rec = this.ctx.recorder('decode');
      const committed = cache.length + T;
      const [ids] = await this.submit(rec, (inputs) => {
        const acts = this.record(rec, inputs, input, B, T, { ...opts, cache }, true);
        const V = this.config.vocabSize;
        const rows = { stride: 1, offset: 0 }; // logits hold only the last positions
        if (opts.greedy || !(opts.temperature > 0)) argmaxForward(rec, acts.ids, acts.logits, B, V, rows);
        else sampleForward(rec, acts.ids, acts.logits, B, V, opts.temperature, opts.seed, opts.step, rows);
        rec.read(acts.ids, B * 4);
      });
      cache.length = committed;
      this.lastDecode = { B };
      return new Int32Array(ids);
    });
  }

  /**
   * decode() for callers that choose the next inputs themselves (the mixture-of-token step, gpu/mixture.ts):
   * append T positions per row to the cache and leave the last-position logits on the GPU, with the caller's
   * dispatches before the forward, after each layer and after lm_head, all in ONE command encoder. Only
   * what the hooks read comes back. readDecodeLogits() works afterwards as after decode().
   */
  decodeWith<R>(
    cache: GpuKvCache,
    input: GpuDecodeInput,
    T: number,
    opts: { positionIds?: ArrayLike<number>; attentionMask?: ArrayLike<number>; lora?: boolean },
    hooks: DecodeHooks<R>,
  ): Promise<R> {
    return this.serial(async () => {
      const B = cache.B;
      const rec = this.ctx.recorder('decode (custom step)');
      const committed = cache.length + T;
      let decoder: ((buffers: ArrayBuffer[]) => R) | null = null;
      const bufs = await this.submit(rec, (inputs) => {
        hooks.before?.(rec);
        const onLayer = hooks.layer
          ? (l: number, residual: GpuTensor) => hooks.layer!(rec, l, residual)
          : undefined;
        const acts = this.record(rec, inputs, input, B, T, { ...opts, cache, onLayer }, true);
        decoder = hooks.after(rec, acts.logits);
      });
      cache.length = committed;
      this.lastDecode = { B };
      return (decoder as unknown as (buffers: ArrayBuffer[]) => R)(bufs);
    });
  }

  /** The input embedding matrix wte (V, C) on the GPU (read-only for callers). */
  get embedTokens(): GpuTensor {
    return this.params.wte;
  }

  /** The last decode call's logits at each row's last position: (B, V). Valid until the next forward/decode. */
  readDecodeLogits(): Promise<Float32Array> {
    return this.serial(async () => {
      const last = this.lastDecode;
      if (!last || !this.acts)
        throw new EngineError('invalid-argument', 'readDecodeLogits: no decode step yet');
      const V = this.config.vocabSize;
      const rec = this.ctx.recorder('decode logits');
      rec.read(this.acts.logits, last.B * V * 4);
      const [buf] = await rec.submit();
      return new Float32Array(buf);
    });
  }

  /** The parameter table, for the trainer (gpu/train.ts), which updates the tensors in place. */
  parameters(): ParameterTensors {
    this.checkAlive();
    return this.params;
  }

  /**
   * The parameter tensors by HF name: a tied lm_head is not listed (it is model.embed_tokens.weight),
   * absent biases are not listed.
   */
  parameterTensors(): Map<string, GpuTensor> {
    this.checkAlive();
    return namedParameters(this.params, this.config.tieWordEmbeddings);
  }

  /** The uploaded adapter (rank, scale, A (r, IC) and B (OC, r) by base weight HF name and by layer), or
   * null. The trainer updates A and B in place; setLora with other shapes replaces these tensors. */
  loraTensors(): LoraTensors | null {
    this.checkAlive();
    return this.lora;
  }

  /** Run `fn` after every forward/decode in flight and before any later one (the trainer's submits). */
  exclusive<R>(fn: () => Promise<R>): Promise<R> {
    return this.serial(fn);
  }

  /** Release every buffer (parameters, adapter, activations, caches made here). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const c of [...this.caches]) c.dispose();
    this.ctx.destroy();
    this.acts = null;
    this.lora = null;
  }

  // ---------------------------------------------------------------------------------------------

  private async forwardNow(
    input: ModelInput,
    B: number,
    T: number,
    opts: GpuForwardOptions,
  ): Promise<GpuForwardResult> {
    const { hiddenSize: C, numHiddenLayers: L, vocabSize: V } = this.config;
    const N = B * T;
    this.lastDecode = null; // the activations are about to be overwritten
    const ownCache = opts.cache ? null : this.createKvCache(B, T);
    const cache = opts.cache ?? ownCache!;
    const pool = this.ctx.pool;
    let hidden: GpuTensor | null = null;
    try {
      const rec = this.ctx.recorder('forward');
      const reads = { logits: -1, hidden: -1, logp: -1, entropy: -1 };
      const committed = cache.length + T;
      const slot = N * C * 4; // one hidden state in `hidden`
      // Only the targets' log-probs wanted: the head in vocabulary chunks (headChunks.ts).
      const headless = opts.targets !== undefined && opts.logits === false && opts.entropy !== true;
      const bufs = await this.submit(rec, (inputs) => {
        const keep = opts.hiddenStates ? pool.tensor('hidden states', (L + 2) * N * C) : null;
        hidden = keep;
        const acts = this.record(rec, inputs, input, B, T, {
          ...opts,
          headless,
          cache,
          onEmbedded: keep ? (r) => rec.copy(r, keep, 0, 0, slot) : undefined,
          onLayer: keep ? (l, r) => rec.copy(r, keep, 0, (l + 1) * slot, slot) : undefined,
        });
        if (keep) rec.copy(acts.normed, keep, 0, (L + 1) * slot, slot);
        if (opts.targets) {
          const K = opts.targetsPerPosition ?? 1;
          if (!(Number.isInteger(K) && K >= 1))
            throw new EngineError('invalid-argument', `forward: targetsPerPosition = ${K}`);
          const targets = inputs.ids('targets', opts.targets, N * K, V);
          const logp = inputs.tensor('target logprobs', N * K);
          if (headless) {
            const Vc = headChunkRows(V, opts.headChunk);
            const chunk = inputs.tensor('logits chunk', N * Vc);
            const head = { N, C, V, Vc, normed: acts.normed, lmHead: this.params.lmHead, chunk };
            const gathered = inputs.tensor('target logits', N * K);
            const t = { K, targets, weights: null, renormalise: false, gathered };
            const ell = inputs.tensor('log-likelihoods', N);
            recordHeadLoss(rec, { ...head, stats: inputs.tensor('head stats', N * 2) }, t, ell, logp);
          } else gatherLogprobsForward(rec, logp, acts.logits, targets, N, V, K);
          reads.logp = rec.read(logp, N * K * 4);
        }
        if (opts.entropy) {
          entropyForward(rec, acts.entropy, acts.logits, N, V, 1);
          reads.entropy = rec.read(acts.entropy, N * 4);
        }
        if (opts.logits !== false) reads.logits = rec.read(acts.logits, N * V * 4);
        if (keep) reads.hidden = rec.read(keep);
      });
      cache.length = committed;
      const result: GpuForwardResult = {
        logits: reads.logits >= 0 ? new Float32Array(bufs[reads.logits]) : new Float32Array(0),
      };
      if (reads.hidden >= 0) {
        const all = new Float32Array(bufs[reads.hidden]);
        const at = (i: number) => all.slice(i * N * C, (i + 1) * N * C);
        const hs: HiddenStates = { embed: at(0), layers: [], finalNorm: at(L + 1) };
        for (let l = 0; l < L; l++) hs.layers.push(at(l + 1));
        result.hidden = hs;
      }
      if (reads.logp >= 0) result.logprobs = new Float32Array(bufs[reads.logp]);
      if (reads.entropy >= 0) result.entropy = new Float32Array(bufs[reads.entropy]);
      return result;
    } finally {
      pool.release(hidden);
      ownCache?.dispose();
    }
  }

  /** Record (build), then submit; the call's tensors go back to the pool whatever happens. A failure
   * leaves the caller's cache length unchanged (the caller commits it after success). */
  private async submit(rec: CommandRecorder, build: (inputs: CallTensors) => void): Promise<ArrayBuffer[]> {
    const inputs = new CallTensors(this.ctx);
    try {
      build(inputs);
      return await rec.submit();
    } finally {
      inputs.releaseAll();
    }
  }

  /**
   * Record the forward (forward.ts, inference mode) of N = B·T new positions appended to `opts.cache`:
   * logits of every position, or with lastOnly of each row's last one, into acts.logits.
   */
  private record(
    rec: CommandRecorder,
    inputs: CallTensors,
    input: GpuDecodeInput,
    B: number,
    T: number,
    opts: RecordOptions,
    lastOnly = false,
  ): ActivationTensors {
    this.checkAlive();
    const cache = opts.cache;
    if (cache.isDisposed) throw new EngineError('invalid-argument', 'forward: the KV cache was disposed');
    if (cache.B !== B)
      throw new EngineError('invalid-argument', `forward: cache has ${cache.B} rows, input has ${B}`);
    if (!(T >= 1)) throw new EngineError('invalid-argument', `forward: T = ${T}`);
    const start = cache.length;
    const cap = cache.capacity;
    if (start + T > cap) throw new EngineError('invalid-argument', `KV cache full: ${start} + ${T} > ${cap}`);
    if (opts.lora && !this.lora)
      throw new EngineError('invalid-argument', 'forward: lora requested but no adapter is loaded');
    const N = B * T;
    const acts = this.activations(N, lastOnly ? B : opts.headless ? 0 : N);
    // Every layer reuses the same buffers; the residual stream is updated in place.
    const shared: Omit<LayerActivations, 'k' | 'v'> = {
      resIn: acts.residual,
      rstd1: null,
      normed1: acts.normed,
      qraw: acts.qraw,
      q: acts.q,
      kraw: acts.kraw,
      vraw: acts.vraw,
      attOut: acts.att,
      resMid: acts.residual,
      rstd2: null,
      normed2: acts.normed,
      gate: acts.gate,
      up: acts.up,
      act: acts.act,
      resOut: acts.residual,
    };
    recordForward(rec, {
      config: this.config,
      params: this.params,
      lora: opts.lora ? this.lora : null,
      inputs,
      B,
      T,
      input,
      positionIds: opts.positionIds,
      attentionMask: opts.attentionMask,
      kv: { mask: cache.mask, start, capacity: cap },
      cs: acts.cs,
      loraTmp: acts.loraTmp,
      layer: (l) => ({ ...shared, k: cache.k[l], v: cache.v[l] }),
      head: {
        rstd: null,
        normed: acts.normed,
        logits: opts.headless ? null : acts.logits,
        lastRows: lastOnly ? acts.lastRows : null,
      },
      onEmbedded: opts.onEmbedded,
      onLayer: opts.onLayer,
    });
    return acts;
  }

  private activations(N: number, logitRows: number): ActivationTensors {
    const V = this.config.vocabSize;
    if (this.acts && this.acts.N === N) {
      if (this.acts.logitRows < logitRows) {
        this.ctx.pool.release(this.acts.logits);
        this.acts.logits = this.ctx.pool.tensor('logits', logitRows * V);
        this.acts.logitRows = logitRows;
      }
      return this.acts;
    }
    if (this.acts) this.releaseActivations();
    const {
      hiddenSize: C,
      intermediateSize: I,
      numAttentionHeads: H,
      numKeyValueHeads: KVH,
      headDim: D,
    } = this.config;
    const t = (name: string, numel: number) => this.ctx.pool.tensor(name, numel);
    this.acts = {
      N,
      residual: t('residual', N * C),
      normed: t('normed', N * C),
      qraw: t('q (before rope)', N * H * D),
      q: t('q', N * H * D),
      kraw: t('k (before rope)', N * KVH * D),
      vraw: t('v', N * KVH * D),
      att: t('attention out', N * H * D),
      gate: t('mlp gate', N * I),
      up: t('mlp up', N * I),
      act: t('mlp act', N * I),
      loraTmp: t('lora x·Aᵀ', N * Math.max(1, this.lora?.r ?? 1)),
      cs: t('rope cos/sin', N * D),
      lastRows: t('last-position rows', N * C),
      logitRows,
      logits: t('logits', logitRows * V),
      entropy: t('entropy', N),
      ids: t('next ids', N),
    };
    return this.acts;
  }

  private releaseActivations(): void {
    if (!this.acts) return;
    for (const x of Object.values(this.acts)) if (typeof x !== 'number') this.ctx.pool.release(x);
    this.acts = null;
  }

  private releaseLora(): void {
    if (!this.lora) return;
    releaseLoraPairs(this.ctx.pool, this.lora.pairs.values());
    this.lora = null;
  }

  private serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private checkAlive(): void {
    if (this.disposed) throw new EngineError('not-loaded', 'GPU model was disposed');
    const lost = this.ctx.dev.lostError;
    if (lost) throw lost;
  }
}
