// The Qwen2 forward pass on WebGPU: the same layers as ref/model.ts, recorded as WGSL dispatches into
// ONE command encoder per forward (or per decode step) and submitted once. Parameters and activations
// are tables of GPU tensors with their shapes (llm.c's ParameterTensors / ActivationTensors); buffers
// come from a pool and go back to it; only what the caller asks for is read back.
import { expectedParameters, type Qwen2Config } from '../config.ts';
import { EngineError } from '../errors.ts';
import type { ForwardResult, HiddenStates, LoraWeights, ModelInput } from '../ref/model.ts';
import type { WeightMap } from '../tensor.ts';
import type { GpuTensor } from './buffers.ts';
import { type CommandRecorder, GpuContext } from './commands.ts';
import type { EngineDevice } from './device.ts';
import {
  argmaxForward,
  attentionForward,
  denseMixtureForward,
  embeddingForward,
  entropyForward,
  gatherLogprobsForward,
  inputNoiseForward,
  matmulForward,
  mixtureForward,
  rmsnormForward,
  ropeForward,
  ropeTable,
  sampleForward,
  scatterRows,
  swigluForward,
} from './ops.ts';

/** One decoder layer's parameters (HF names after `model.layers.{l}.`). */
interface LayerParams {
  ln1w: GpuTensor; // (C)        input_layernorm.weight
  qw: GpuTensor; // (H·D, C)     self_attn.q_proj.weight
  qb: GpuTensor | null; // (H·D) self_attn.q_proj.bias
  kw: GpuTensor; // (KVH·D, C)   self_attn.k_proj.weight
  kb: GpuTensor | null; // (KVH·D)
  vw: GpuTensor; // (KVH·D, C)   self_attn.v_proj.weight
  vb: GpuTensor | null; // (KVH·D)
  ow: GpuTensor; // (C, H·D)     self_attn.o_proj.weight
  ln2w: GpuTensor; // (C)        post_attention_layernorm.weight
  gatew: GpuTensor; // (I, C)    mlp.gate_proj.weight
  upw: GpuTensor; // (I, C)      mlp.up_proj.weight
  downw: GpuTensor; // (C, I)    mlp.down_proj.weight
}

interface ParameterTensors {
  wte: GpuTensor; // (V, C)      model.embed_tokens.weight
  layers: LayerParams[]; // L
  lnfw: GpuTensor; // (C)        model.norm.weight
  lmHead: GpuTensor; // (V, C)   lm_head.weight, or wte when tied
}

/** LoRA pairs by base weight HF name: A (r, IC), B (OC, r); y += scale · (x · Aᵀ) · Bᵀ. */
interface LoraTensors {
  r: number;
  scale: number;
  pairs: Map<string, { A: GpuTensor; B: GpuTensor }>;
}

/** Activations for N = B·T rows, sized once per N and reused (decode steps keep the same table). */
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
  logp: GpuTensor; // (N)          gathered log-probs of targets
  entropy: GpuTensor; // (N)       next-token entropy
  ids: GpuTensor; // (N) u32       sampled ids (decode)
}

/** Keys (after RoPE) and values of every layer for B rows of up to `capacity` positions, on the GPU. */
export class GpuKvCache {
  readonly k: GpuTensor[]; // L × (B, capacity, KVH·D)
  readonly v: GpuTensor[]; // L × (B, capacity, KVH·D)
  readonly mask: GpuTensor; // (B, capacity) u32, 1 = real token
  length = 0;
  private disposed = false;

  constructor(
    private readonly ctx: GpuContext,
    config: Qwen2Config,
    readonly B: number,
    readonly capacity: number,
    private readonly onDispose: (c: GpuKvCache) => void,
  ) {
    const row = config.numKeyValueHeads * config.headDim;
    const n = B * capacity * row;
    this.k = Array.from({ length: config.numHiddenLayers }, (_, l) =>
      ctx.pool.tensor(`kv cache k[${l}] (${B}×${capacity})`, n),
    );
    this.v = Array.from({ length: config.numHiddenLayers }, (_, l) =>
      ctx.pool.tensor(`kv cache v[${l}] (${B}×${capacity})`, n),
    );
    this.mask = ctx.pool.tensor('kv cache mask', B * capacity);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Forget the cached positions (keep the buffers). */
  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of [...this.k, ...this.v, this.mask]) this.ctx.pool.release(t);
    this.onDispose(this);
  }
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
  /** (B, T) target ids: read back log_softmax(logits)[target] per position, computed on the GPU. */
  targets?: ArrayLike<number>;
  /** Read back the next-token entropy (nats) per position, computed on the GPU. */
  entropy?: boolean;
}

export interface GpuForwardResult extends ForwardResult {
  logprobs?: Float32Array; // (B, T)
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

/** A decode input: a ModelInput, or input embeddings (B·T, C) already on the GPU (written by a `before` hook). */
export type GpuDecodeInput = ModelInput | { kind: 'gpu-embeds'; embeds: GpuTensor };

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

const u32 = (data: ArrayLike<number>): Uint32Array =>
  data instanceof Uint32Array ? data : Uint32Array.from(data);

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
    weights: WeightMap,
  ) {
    this.params = this.uploadParameters(weights);
  }

  /** Upload the weights (and optionally a LoRA adapter) to the device. Throws EngineError('gpu-limit')
   * naming the tensor when one does not fit the device's limits. */
  static async create(
    dev: EngineDevice,
    config: Qwen2Config,
    weights: WeightMap,
    lora: LoraWeights | null = null,
  ): Promise<GpuModel> {
    const ctx = new GpuContext(dev);
    let model: GpuModel;
    try {
      model = new GpuModel(ctx, config, weights);
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
    const { pool } = this.ctx;
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
    const pairs = new Map<string, { A: GpuTensor; B: GpuTensor }>();
    const shapes = expectedParameters(this.config);
    for (const [name, { A, B }] of lora.layers) {
      const shape = shapes.get(name);
      if (shape?.length !== 2)
        throw new EngineError('adapter-invalid', `LoRA: ${name} is not a linear weight of this model`, {
          tensor: name,
        });
      const [OC, IC] = shape;
      if (A.data.length !== lora.r * IC || B.data.length !== OC * lora.r) {
        throw new EngineError(
          'adapter-invalid',
          `LoRA ${name}: A must be [${lora.r}, ${IC}] and B [${OC}, ${lora.r}]`,
          { tensor: name },
        );
      }
    }
    try {
      for (const [name, { A, B }] of lora.layers) {
        pairs.set(name, {
          A: pool.upload(`${name} lora_A`, A.data),
          B: pool.upload(`${name} lora_B`, B.data),
        });
      }
    } catch (e) {
      for (const t of pairs.values()) {
        pool.release(t.A);
        pool.release(t.B);
      }
      throw e;
    }
    this.lora = { r: lora.r, scale: lora.scale, pairs };
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
      const [ids] = await this.submit(rec, () => {
        const acts = this.record(rec, input, B, T, { ...opts, cache }, null, true);
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
      const bufs = await this.submit(rec, () => {
        hooks.before?.(rec);
        const onLayer = hooks.layer
          ? (l: number, residual: GpuTensor) => hooks.layer!(rec, l, residual)
          : undefined;
        const acts = this.record(rec, input, B, T, { ...opts, cache, onLayer }, null, true);
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

  /**
   * The parameter tensors by HF name, for the trainer (gpu/train.ts), which updates them in place: a tied
   * lm_head is not listed (it is model.embed_tokens.weight), absent biases are not listed.
   */
  parameterTensors(): Map<string, GpuTensor> {
    this.checkAlive();
    const p = this.params;
    const out = new Map<string, GpuTensor>([['model.embed_tokens.weight', p.wte]]);
    p.layers.forEach((lp, l) => {
      const pre = `model.layers.${l}`;
      const put = (name: string, t: GpuTensor | null) => {
        if (t) out.set(`${pre}.${name}`, t);
      };
      put('input_layernorm.weight', lp.ln1w);
      put('self_attn.q_proj.weight', lp.qw);
      put('self_attn.q_proj.bias', lp.qb);
      put('self_attn.k_proj.weight', lp.kw);
      put('self_attn.k_proj.bias', lp.kb);
      put('self_attn.v_proj.weight', lp.vw);
      put('self_attn.v_proj.bias', lp.vb);
      put('self_attn.o_proj.weight', lp.ow);
      put('post_attention_layernorm.weight', lp.ln2w);
      put('mlp.gate_proj.weight', lp.gatew);
      put('mlp.up_proj.weight', lp.upw);
      put('mlp.down_proj.weight', lp.downw);
    });
    out.set('model.norm.weight', p.lnfw);
    if (!this.config.tieWordEmbeddings) out.set('lm_head.weight', p.lmHead);
    return out;
  }

  /** The uploaded adapter (rank, scale, A (r, IC) and B (OC, r) by base weight HF name), or null. The
   * trainer updates A and B in place; setLora with other shapes replaces these tensors. */
  loraTensors(): {
    r: number;
    scale: number;
    pairs: ReadonlyMap<string, { A: GpuTensor; B: GpuTensor }>;
  } | null {
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
      const bufs = await this.submit(rec, () => {
        if (opts.hiddenStates) hidden = pool.tensor('hidden states', (L + 2) * N * C);
        const acts = this.record(rec, input, B, T, { ...opts, cache }, hidden);
        if (opts.targets) {
          const targets = this.uploadIds('targets', opts.targets, N, V);
          gatherLogprobsForward(rec, acts.logp, acts.logits, targets, N, V);
          reads.logp = rec.read(acts.logp, N * 4);
        }
        if (opts.entropy) {
          entropyForward(rec, acts.entropy, acts.logits, N, V, 1);
          reads.entropy = rec.read(acts.entropy, N * 4);
        }
        if (opts.logits !== false) reads.logits = rec.read(acts.logits, N * V * 4);
        if (hidden) reads.hidden = rec.read(hidden);
      });
      cache.length = committed;
      const result: GpuForwardResult = {
        logits: reads.logits >= 0 ? new Float32Array(bufs[reads.logits]) : new Float32Array(0),
      };
      if (reads.hidden >= 0) {
        const all = new Float32Array(bufs[reads.hidden]);
        const slot = (i: number) => all.slice(i * N * C, (i + 1) * N * C);
        const hs: HiddenStates = { embed: slot(0), layers: [], finalNorm: slot(L + 1) };
        for (let l = 0; l < L; l++) hs.layers.push(slot(l + 1));
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

  /** Record (build), then submit; per-call inputs go back to the pool whatever happens. A failure
   * leaves the caller's cache length unchanged (the caller commits it after success). */
  private async submit(rec: CommandRecorder, build: () => void): Promise<ArrayBuffer[]> {
    try {
      build();
      return await rec.submit();
    } finally {
      for (const t of this.callInputs) this.ctx.pool.release(t);
      this.callInputs = [];
    }
  }

  private callInputs: GpuTensor[] = [];

  /**
   * Record the whole forward for N = B·T new positions appended to `cache`: embedding, L layers, final
   * norm, lm_head into acts.logits. Inputs are written (queue.writeBuffer) before the submit.
   */
  private record(
    rec: CommandRecorder,
    input: GpuDecodeInput,
    B: number,
    T: number,
    opts: GpuForwardOptions & {
      cache: GpuKvCache;
      onLayer?: (l: number, residual: GpuTensor) => void;
    },
    hidden: GpuTensor | null = null,
    lastOnly = false,
  ): ActivationTensors {
    this.checkAlive();
    const cfg = this.config;
    const {
      hiddenSize: C,
      intermediateSize: I,
      numAttentionHeads: H,
      numKeyValueHeads: KVH,
      headDim: D,
      vocabSize: V,
    } = cfg;
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
    const acts = this.activations(N, lastOnly ? B : N);
    const queue = this.ctx.device.queue;
    const p = this.params;

    // Positions → RoPE table; the attention mask → the cache's mask slots for these positions.
    const positions = new Float64Array(N);
    const mask = new Uint32Array(N);
    if (opts.positionIds && opts.positionIds.length !== N)
      throw new EngineError('invalid-argument', `positionIds: ${opts.positionIds.length} != B·T = ${N}`);
    if (opts.attentionMask && opts.attentionMask.length !== N)
      throw new EngineError('invalid-argument', `attentionMask: ${opts.attentionMask.length} != B·T = ${N}`);
    for (let i = 0; i < N; i++) {
      positions[i] = opts.positionIds ? opts.positionIds[i] : start + (i % T);
      mask[i] = opts.attentionMask ? (opts.attentionMask[i] ? 1 : 0) : 1;
    }
    const cs = ropeTable(positions, N, D, cfg.ropeTheta);
    queue.writeBuffer(acts.cs.buffer, 0, cs.buffer, 0, cs.byteLength);
    for (let b = 0; b < B; b++)
      queue.writeBuffer(cache.mask.buffer, (b * cap + start) * 4, mask.buffer, b * T * 4, T * 4);

    // Embedding → residual (N, C)
    switch (input.kind) {
      case 'ids': {
        const ids = this.uploadIds('input ids', input.ids, N, V);
        embeddingForward(rec, acts.residual, ids, p.wte, N, C, V);
        break;
      }
      case 'mixture': {
        const K = input.k;
        if (input.weights.length !== N * K)
          throw new EngineError(
            'invalid-argument',
            `mixture weights: ${input.weights.length} != B·T·k = ${N * K}`,
          );
        const ids = this.uploadIds('mixture ids', input.ids, N * K, V);
        const w = this.uploadInput('mixture weights', Float32Array.from(input.weights));
        mixtureForward(rec, acts.residual, ids, w, p.wte, N, K, C, V);
        if (input.noise)
          inputNoiseForward(rec, acts.residual, input.noise, N, C, (n, d) => this.uploadInput(n, d));
        break;
      }
      case 'dense': {
        if (input.probs.length < N * V)
          throw new EngineError('invalid-argument', `dense probs: ${input.probs.length} < B·T·V = ${N * V}`);
        const probs = this.uploadInput('dense probs', input.probs.subarray(0, N * V));
        denseMixtureForward(rec, acts.residual, probs, p.wte, N, V, C);
        break;
      }
      case 'embeds': {
        if (input.embeds.length < N * C)
          throw new EngineError('invalid-argument', `embeds: ${input.embeds.length} < B·T·C = ${N * C}`);
        queue.writeBuffer(acts.residual.buffer, 0, input.embeds.buffer, input.embeds.byteOffset, N * C * 4);
        break;
      }
      case 'gpu-embeds': {
        if (input.embeds.bytes < N * C * 4)
          throw new EngineError(
            'invalid-argument',
            `gpu embeds: ${input.embeds.bytes / 4} < B·T·C = ${N * C}`,
          );
        rec.copy(input.embeds, acts.residual, 0, 0, N * C * 4);
        break;
      }
    }
    const slot = N * C * 4;
    if (hidden) rec.copy(acts.residual, hidden, 0, 0, slot);

    const useLora = opts.lora === true;
    const linear = (
      out: GpuTensor,
      inp: GpuTensor,
      name: string,
      w: GpuTensor,
      b: GpuTensor | null,
      IC: number,
      OC: number,
      beta = 0,
    ) => {
      matmulForward(rec, out, inp, w, b, N, IC, OC, { beta });
      const pair = useLora ? this.lora?.pairs.get(name) : undefined;
      if (pair && this.lora) {
        const r = this.lora.r;
        matmulForward(rec, acts.loraTmp, inp, pair.A, null, N, IC, r);
        matmulForward(rec, out, acts.loraTmp, pair.B, null, N, r, OC, { alpha: this.lora.scale, beta: 1 });
      }
    };
    const place = { T, outT: cap, outStart: start };
    for (let l = 0; l < cfg.numHiddenLayers; l++) {
      const lp = p.layers[l];
      const pre = `model.layers.${l}`;
      rmsnormForward(rec, acts.normed, null, acts.residual, lp.ln1w, N, C, cfg.rmsNormEps);
      linear(acts.qraw, acts.normed, `${pre}.self_attn.q_proj.weight`, lp.qw, lp.qb, C, H * D);
      linear(acts.kraw, acts.normed, `${pre}.self_attn.k_proj.weight`, lp.kw, lp.kb, C, KVH * D);
      linear(acts.vraw, acts.normed, `${pre}.self_attn.v_proj.weight`, lp.vw, lp.vb, C, KVH * D);
      ropeForward(rec, acts.q, acts.qraw, acts.cs, N, H, D);
      ropeForward(rec, cache.k[l], acts.kraw, acts.cs, N, KVH, D, place);
      scatterRows(rec, cache.v[l], acts.vraw, N, KVH * D, place);
      attentionForward(
        rec,
        acts.att,
        acts.q,
        cache.k[l],
        cache.v[l],
        cache.mask,
        B,
        T,
        start + T,
        start,
        H,
        KVH,
        D,
        cap,
      );
      linear(acts.residual, acts.att, `${pre}.self_attn.o_proj.weight`, lp.ow, null, H * D, C, 1);

      rmsnormForward(rec, acts.normed, null, acts.residual, lp.ln2w, N, C, cfg.rmsNormEps);
      linear(acts.gate, acts.normed, `${pre}.mlp.gate_proj.weight`, lp.gatew, null, C, I);
      linear(acts.up, acts.normed, `${pre}.mlp.up_proj.weight`, lp.upw, null, C, I);
      swigluForward(rec, acts.act, acts.gate, acts.up, N * I);
      linear(acts.residual, acts.act, `${pre}.mlp.down_proj.weight`, lp.downw, null, I, C, 1);
      if (hidden) rec.copy(acts.residual, hidden, 0, (l + 1) * slot, slot);
      opts.onLayer?.(l, acts.residual);
    }
    if (lastOnly && T > 1) {
      // decode: only each row's last position needs logits (lm_head is the largest matmul)
      for (let b = 0; b < B; b++)
        rec.copy(acts.residual, acts.lastRows, (b * T + T - 1) * C * 4, b * C * 4, C * 4);
      rmsnormForward(rec, acts.normed, null, acts.lastRows, p.lnfw, B, C, cfg.rmsNormEps);
      matmulForward(rec, acts.logits, acts.normed, p.lmHead, null, B, C, V);
      return acts;
    }
    rmsnormForward(rec, acts.normed, null, acts.residual, p.lnfw, N, C, cfg.rmsNormEps);
    if (hidden) rec.copy(acts.normed, hidden, 0, (cfg.numHiddenLayers + 1) * slot, slot);
    matmulForward(rec, acts.logits, acts.normed, p.lmHead, null, N, C, V);
    return acts;
  }

  private uploadIds(name: string, ids: ArrayLike<number>, n: number, V: number): GpuTensor {
    if (ids.length !== n)
      throw new EngineError('invalid-argument', `${name}: ${ids.length} ids, expected ${n}`);
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      if (!(Number.isInteger(id) && id >= 0 && id < V)) {
        throw new EngineError(
          'invalid-argument',
          `${name}: token id ${id} at ${i} is outside the vocabulary [0, ${V})`,
        );
      }
    }
    return this.uploadInput(name, u32(ids));
  }

  /** A per-call input tensor, released after the submit. */
  private uploadInput(name: string, data: Float32Array | Uint32Array): GpuTensor {
    const t = this.ctx.pool.tensor(name, data.length);
    this.ctx.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    this.callInputs.push(t);
    return t;
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
      logp: t('logprobs', N),
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
    for (const { A, B } of this.lora.pairs.values()) {
      this.ctx.pool.release(A);
      this.ctx.pool.release(B);
    }
    this.lora = null;
  }

  private uploadParameters(weights: WeightMap): ParameterTensors {
    const cfg = this.config;
    const {
      hiddenSize: C,
      intermediateSize: I,
      numAttentionHeads: H,
      numKeyValueHeads: KVH,
      headDim: D,
      vocabSize: V,
    } = cfg;
    const pool = this.ctx.pool;
    const get = (name: string, numel: number, optional = false): GpuTensor | null => {
      const t = weights.get(name);
      if (!t) {
        if (optional) return null;
        throw new EngineError('tensor-missing', `GPU model: missing parameter ${name}`, { tensor: name });
      }
      if (t.data.length !== numel) {
        throw new EngineError(
          'tensor-shape',
          `GPU model: ${name} has ${t.data.length} elements, expected ${numel}`,
          { tensor: name },
        );
      }
      return pool.upload(name, t.data);
    };
    const req = (name: string, numel: number) => get(name, numel)!;
    const wte = req('model.embed_tokens.weight', V * C);
    const layers: LayerParams[] = [];
    for (let l = 0; l < cfg.numHiddenLayers; l++) {
      const pre = `model.layers.${l}`;
      const bias = !cfg.attentionBias;
      layers.push({
        ln1w: req(`${pre}.input_layernorm.weight`, C),
        qw: req(`${pre}.self_attn.q_proj.weight`, H * D * C),
        qb: get(`${pre}.self_attn.q_proj.bias`, H * D, bias),
        kw: req(`${pre}.self_attn.k_proj.weight`, KVH * D * C),
        kb: get(`${pre}.self_attn.k_proj.bias`, KVH * D, bias),
        vw: req(`${pre}.self_attn.v_proj.weight`, KVH * D * C),
        vb: get(`${pre}.self_attn.v_proj.bias`, KVH * D, bias),
        ow: req(`${pre}.self_attn.o_proj.weight`, C * H * D),
        ln2w: req(`${pre}.post_attention_layernorm.weight`, C),
        gatew: req(`${pre}.mlp.gate_proj.weight`, I * C),
        upw: req(`${pre}.mlp.up_proj.weight`, I * C),
        downw: req(`${pre}.mlp.down_proj.weight`, C * I),
      });
    }
    const lnfw = req('model.norm.weight', C);
    const lmHead = cfg.tieWordEmbeddings ? wte : req('lm_head.weight', V * C);
    return { wte, layers, lnfw, lmHead };
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
