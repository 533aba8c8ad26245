// The GPU context (device + buffer pool + pipeline cache) and the command recorder: a forward pass or a
// decode step records its dispatches, copies and readbacks, then submits them as ONE command encoder.
// Uniform params of every dispatch go into one arena buffer (one writeBuffer per submit).
import { EngineError } from '../errors.ts';
import {
  alignTo,
  BufferPool,
  type GpuTensor,
  MAP_MODE_READ,
  READBACK_USAGE,
  UNIFORM_USAGE,
} from './buffers.ts';
import type { EngineDevice } from './device.ts';
import type { MatmulVersion } from './kernels/matmul.wgsl.ts';
import { type CompiledKernel, type Constants, type KernelDef, PipelineCache } from './pipelines.ts';

// One pipeline cache per device, shared by every context (model) on it.
const pipelineCaches = new WeakMap<GPUDevice, PipelineCache>();

/** A device's buffer pool (owned: destroy() frees every buffer) and its shared pipeline cache. */
export class GpuContext {
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;

  constructor(readonly dev: EngineDevice) {
    this.pool = new BufferPool(dev);
    let cache = pipelineCaches.get(dev.device);
    if (!cache) {
      cache = new PipelineCache(dev.device);
      pipelineCaches.set(dev.device, cache);
    }
    this.pipelines = cache;
  }

  get device(): GPUDevice {
    return this.dev.device;
  }

  /** Wrap each submit in validation / out-of-memory error scopes (throwing on error). On by default;
   * off saves a little latency per decode step (errors then go to the device's uncaptured-error handler). */
  checkErrors = true;
  /** Reuse bind groups across submits (decode steps bind the same buffers at the same offsets). */
  cacheBindGroups = true;
  /** Benchmarks only: choose the matmul version (and v6 lanes) instead of ops.pickMatmulVersion. */
  matmulOverride:
    | ((
        N: number,
        IC: number,
        OC: number,
        wInOut: boolean,
      ) => { version: MatmulVersion; lanes?: number } | undefined)
    | null = null;
  /** Timings of the last submit (CPU side) and the bind groups it had to create (0 when every one came from
   * the cache, as in a decode step after the first), for benchmarks. */
  lastSubmit = { dispatches: 0, encodeMs: 0, waitMs: 0, bindGroupsCreated: 0 };
  /** Bind groups created since this context was made. */
  bindGroupsCreated = 0;
  /** Bytes recorded for reading back to the CPU (CommandRecorder.read) since this context was made: what a
   * test measures to check that a call reads back only what it needs. */
  bytesRead = 0;
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;

  /** A stable small id per GPU object (bind-group cache keys). */
  idOf(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(o, id);
    }
    return id;
  }

  bindGroup(
    layout: GPUBindGroupLayout,
    label: string,
    entries: GPUBindGroupEntry[],
    key: string | null,
  ): GPUBindGroup {
    if (key !== null) {
      const hit = this.bindGroups.get(key);
      if (hit) return hit;
    }
    const g = this.device.createBindGroup({ label, layout, entries });
    this.bindGroupsCreated++;
    if (key !== null) {
      if (this.bindGroups.size >= 8192) this.bindGroups.clear();
      this.bindGroups.set(key, g);
    }
    return g;
  }

  /** Forget cached bind groups (after buffers were destroyed). */
  clearBindGroups(): void {
    this.bindGroups.clear();
  }

  private dummyTensor: GpuTensor | null = null;
  private scratch: GpuTensor | null = null;

  /** A 16-byte zero buffer bound where a kernel's optional input (a bias) is absent. */
  get dummy(): GpuTensor {
    this.dummyTensor ??= this.pool.upload('dummy', new Float32Array(4));
    return this.dummyTensor;
  }

  /** A scratch tensor of at least `numel` floats: for outputs nobody reads (rstd of a pure forward), or a
   * partial result read only by the very next dispatch (the split-vocabulary sampler's chunk statistics). */
  scratchTensor(numel: number): GpuTensor {
    if (!this.scratch || this.scratch.bytes < numel * 4) {
      // The old one may still be bound by a recorded command: it stays allocated (the pool destroys it).
      this.scratch = this.pool.tensor('scratch', 2 ** Math.ceil(Math.log2(Math.max(64, numel))));
    }
    return this.scratch;
  }

  recorder(label = 'engine'): CommandRecorder {
    return new CommandRecorder(this, label);
  }

  /** Workgroup grid for `count` workgroups: x up to the per-dimension limit, y for the rest. Kernels
   * linearise the id as wid.x + wid.y · nwg.x and return when it is ≥ count. */
  grid(count: number): [number, number, number] {
    const max = this.dev.limits.maxComputeWorkgroupsPerDimension;
    if (count <= max) return [Math.max(1, count), 1, 1];
    const y = Math.ceil(count / max);
    if (y > max)
      throw new EngineError('gpu-limit', `dispatch of ${count} workgroups exceeds ${max}² per dispatch`);
    return [Math.ceil(count / y), y, 1];
  }

  destroy(): void {
    this.bindGroups.clear();
    this.pool.destroy();
  }
}

export interface DispatchArgs {
  constants?: Constants;
  params: Record<string, number>;
  bind: Record<string, GpuTensor>;
  /** A workgroup count (split into a 2-D grid when over the limit) or an explicit [x, y, z]. */
  workgroups: number | readonly [number, number, number];
}

type Cmd =
  | {
      kind: 'dispatch';
      def: KernelDef;
      constants?: Constants;
      paramOffset: number;
      paramSize: number;
      bind: GpuTensor[];
      wg: readonly [number, number, number];
    }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size: number };

export class CommandRecorder {
  private readonly cmds: Cmd[] = [];
  private readonly reads: { staging: GPUBuffer; bytes: number }[] = [];
  private arena = new ArrayBuffer(4096);
  private arenaView = new DataView(this.arena);
  private arenaUsed = 0;
  private submitted = false;

  constructor(
    readonly ctx: GpuContext,
    readonly label: string,
  ) {}

  get dispatchCount(): number {
    return this.cmds.filter((c) => c.kind === 'dispatch').length;
  }

  dispatch(def: KernelDef, args: DispatchArgs): void {
    const align = this.ctx.dev.limits.minUniformBufferOffsetAlignment;
    const paramSize = alignTo(Math.max(16, def.params.length * 4), 16);
    const paramOffset = alignTo(this.arenaUsed, align);
    this.ensureArena(paramOffset + paramSize);
    def.params.forEach(([name, type], i) => {
      const v = args.params[name];
      if (v === undefined || Number.isNaN(v))
        throw new Error(`kernel ${def.name}: param ${name} missing or NaN`);
      const at = paramOffset + i * 4;
      if (type === 'f32') this.arenaView.setFloat32(at, v, true);
      else if (type === 'i32') this.arenaView.setInt32(at, v, true);
      else {
        if (v < 0 || v > 0xffffffff || !Number.isInteger(v))
          throw new Error(`kernel ${def.name}: param ${name}=${v} is not a u32`);
        this.arenaView.setUint32(at, v, true);
      }
    });
    this.arenaUsed = paramOffset + paramSize;
    const bind = def.bindings.map(([name]) => {
      const t = args.bind[name];
      if (!t) throw new Error(`kernel ${def.name}: binding ${name} missing`);
      return t;
    });
    const wg = typeof args.workgroups === 'number' ? this.ctx.grid(args.workgroups) : args.workgroups;
    this.cmds.push({ kind: 'dispatch', def, constants: args.constants, paramOffset, paramSize, bind, wg });
  }

  /** Copy `bytes` (default: all of src) between tensors, at byte offsets. */
  copy(src: GpuTensor, dst: GpuTensor, srcOffset = 0, dstOffset = 0, bytes = src.bytes - srcOffset): void {
    if (bytes <= 0) return;
    this.cmds.push({
      kind: 'copy',
      src: src.buffer,
      srcOffset: src.offset + srcOffset,
      dst: dst.buffer,
      dstOffset: dst.offset + dstOffset,
      size: alignTo(bytes, 4),
    });
  }

  /** Zero all of `t` (a gradient before accumulation starts). */
  clear(t: GpuTensor): void {
    this.cmds.push({ kind: 'clear', buffer: t.buffer, offset: t.offset, size: alignTo(t.bytes, 4) });
  }

  /** Read `bytes` of `t` (from byte `offset`) back after the submit; returns its index in submit()'s result. */
  read(t: GpuTensor, bytes = t.bytes, offset = 0): number {
    const staging = this.ctx.pool.acquire(`${t.name} (readback)`, bytes, READBACK_USAGE);
    this.ctx.bytesRead += bytes;
    this.cmds.push({
      kind: 'copy',
      src: t.buffer,
      srcOffset: t.offset + offset,
      dst: staging,
      dstOffset: 0,
      size: alignTo(bytes, 4),
    });
    this.reads.push({ staging, bytes });
    return this.reads.length - 1;
  }

  /** Encode everything into one command encoder, submit once, and resolve with the readbacks. */
  async submit(): Promise<ArrayBuffer[]> {
    if (this.submitted) throw new Error('CommandRecorder: submitted twice');
    this.submitted = true;
    const ctx = this.ctx;
    const { device, pool, pipelines } = ctx;
    if (ctx.dev.lostError) throw ctx.dev.lostError;
    const compiled: CompiledKernel[] = [];
    for (const c of this.cmds) {
      if (c.kind !== 'dispatch') continue;
      compiled.push(pipelines.peek(c.def, c.constants) ?? (await pipelines.get(c.def, c.constants)));
    }
    const t0 = performance.now();
    const created0 = ctx.bindGroupsCreated;
    let uniforms: GPUBuffer | null = null;
    if (this.arenaUsed > 0) {
      uniforms = pool.acquire(`${this.label} params`, this.arenaUsed, UNIFORM_USAGE);
      device.queue.writeBuffer(uniforms, 0, this.arena, 0, this.arenaUsed);
    }
    const check = ctx.checkErrors;
    if (check) {
      device.pushErrorScope('out-of-memory');
      device.pushErrorScope('validation');
    }
    const encoder = device.createCommandEncoder({ label: this.label });
    let pass: GPUComputePassEncoder | null = null;
    let k = 0;
    const uid = uniforms ? ctx.idOf(uniforms) : 0;
    for (const c of this.cmds) {
      if (c.kind === 'copy') {
        if (pass) {
          pass.end();
          pass = null;
        }
        encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
        continue;
      }
      if (c.kind === 'clear') {
        if (pass) {
          pass.end();
          pass = null;
        }
        encoder.clearBuffer(c.buffer, c.offset, c.size);
        continue;
      }
      const ck = compiled[k++];
      pass ??= encoder.beginComputePass({ label: this.label });
      const entries: GPUBindGroupEntry[] = [
        { binding: 0, resource: { buffer: uniforms!, offset: c.paramOffset, size: c.paramSize } },
      ];
      let key = ctx.cacheBindGroups ? `${ctx.idOf(ck.layout)}|${uid}:${c.paramOffset}:${c.paramSize}` : null;
      c.bind.forEach((t, i) => {
        const size = alignTo(t.bytes, 4);
        entries.push({ binding: i + 1, resource: { buffer: t.buffer, offset: t.offset, size } });
        if (key !== null) key += `|${ctx.idOf(t.buffer)}:${t.offset}:${size}`;
      });
      pass.setPipeline(ck.pipeline);
      pass.setBindGroup(0, ctx.bindGroup(ck.layout, c.def.name, entries, key));
      pass.dispatchWorkgroups(c.wg[0], c.wg[1], c.wg[2]);
    }
    pass?.end();
    device.queue.submit([encoder.finish()]);
    const t1 = performance.now();
    if (uniforms) pool.release(uniforms);
    // Ask for the mappings at once; the error scopes resolve meanwhile.
    const maps = this.reads.map((r) => r.staging.mapAsync(MAP_MODE_READ, 0, alignTo(r.bytes, 4)));
    const settled = Promise.allSettled(maps);
    const scopes = check ? [device.popErrorScope(), device.popErrorScope()] : [];
    const [validation, oom] = await Promise.all(scopes);
    const results = await settled;
    const out: ArrayBuffer[] = [];
    let failure: Error | null = null;
    if (oom) failure = new EngineError('gpu-limit', `${this.label}: GPU out of memory (${oom.message})`);
    else if (validation) failure = new Error(`${this.label}: WebGPU validation error: ${validation.message}`);
    this.reads.forEach((r, i) => {
      const res = results[i];
      if (res.status === 'rejected') {
        failure ??=
          ctx.dev.lostError ??
          new EngineError(
            'gpu-device-lost',
            `${this.label}: reading results back failed: ${String(res.reason)}`,
          );
      } else {
        if (!failure) out.push(r.staging.getMappedRange(0, alignTo(r.bytes, 4)).slice(0, r.bytes));
        r.staging.unmap();
      }
      pool.release(r.staging);
    });
    ctx.lastSubmit = {
      dispatches: k,
      encodeMs: t1 - t0,
      waitMs: performance.now() - t1,
      bindGroupsCreated: ctx.bindGroupsCreated - created0,
    };
    if (failure) throw failure;
    return out;
  }

  private ensureArena(bytes: number): void {
    if (bytes <= this.arena.byteLength) return;
    const next = new ArrayBuffer(Math.max(bytes, this.arena.byteLength * 2));
    new Uint8Array(next).set(new Uint8Array(this.arena, 0, this.arenaUsed));
    this.arena = next;
    this.arenaView = new DataView(next);
  }
}
