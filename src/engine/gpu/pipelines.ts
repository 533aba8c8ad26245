// Kernel definitions and the pipeline cache. A kernel is a WGSL source (in kernels/<name>.wgsl.ts)
// plus the names and kinds of its bindings and the fields of its uniform `Params` struct, in order.
// Binding 0 is always the uniform params; buffers follow from binding 1 in the listed order.
// Pipelines are keyed by kernel name + override constants and built inside error scopes, so a WGSL
// error throws EngineError('gpu-shader') naming the kernel.
import { EngineError } from '../errors.ts';
import { SHADER_STAGE_COMPUTE } from './buffers.ts';

export type BindingKind = 'read-only-storage' | 'storage';
export type ParamType = 'u32' | 'i32' | 'f32';

export interface KernelDef {
  /** Unique name (the cache key and the name errors report). */
  readonly name: string;
  readonly source: string;
  readonly entryPoint?: string;
  /** Buffer bindings 1..n: [name, kind]. */
  readonly bindings: readonly (readonly [string, BindingKind])[];
  /** Fields of `struct Params` at binding 0, in declaration order (all 4 bytes). */
  readonly params: readonly (readonly [string, ParamType])[];
}

export type Constants = Record<string, number | boolean>;

export interface CompiledKernel {
  readonly def: KernelDef;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
}

function constantsKey(c: Constants | undefined): string {
  if (!c) return '';
  return Object.keys(c)
    .sort()
    .map((k) => `${k}=${c[k]}`)
    .join(',');
}

export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly pipelines = new Map<string, Promise<CompiledKernel>>();
  private readonly ready = new Map<string, CompiledKernel>();

  constructor(readonly device: GPUDevice) {}

  key(def: KernelDef, constants?: Constants): string {
    return `${def.name}|${constantsKey(constants)}`;
  }

  /** The compiled kernel if it is already built (for synchronous encoding), else undefined. */
  peek(def: KernelDef, constants?: Constants): CompiledKernel | undefined {
    return this.ready.get(this.key(def, constants));
  }

  /** Build (once) and return the pipeline for this kernel and constants. */
  get(def: KernelDef, constants?: Constants): Promise<CompiledKernel> {
    const key = this.key(def, constants);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.build(def, constants, key);
      this.pipelines.set(key, p);
      // A failed build is not cached: the next call tries again (and fails again, loudly).
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  get size(): number {
    return this.ready.size;
  }

  private layoutFor(def: KernelDef): GPUBindGroupLayout {
    let layout = this.layouts.get(def.name);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'uniform' } },
        ...def.bindings.map(([, kind], i) => ({
          binding: i + 1,
          visibility: SHADER_STAGE_COMPUTE,
          buffer: { type: kind },
        })),
      ];
      layout = this.device.createBindGroupLayout({ label: def.name, entries });
      this.layouts.set(def.name, layout);
    }
    return layout;
  }

  private async build(
    def: KernelDef,
    constants: Constants | undefined,
    key: string,
  ): Promise<CompiledKernel> {
    const device = this.device;
    device.pushErrorScope('validation');
    let module = this.modules.get(def.name);
    if (!module) {
      module = device.createShaderModule({ label: def.name, code: def.source });
      this.modules.set(def.name, module);
    }
    const layout = this.layoutFor(def);
    const pipelineLayout = device.createPipelineLayout({ label: def.name, bindGroupLayouts: [layout] });
    let pipeline: GPUComputePipeline | null = null;
    let failure = '';
    // WebGPU takes override values as numbers (a bool override from 0/1).
    const numeric: Record<string, number> = {};
    for (const [k, v] of Object.entries(constants ?? {})) numeric[k] = typeof v === 'boolean' ? Number(v) : v;
    try {
      pipeline = await device.createComputePipelineAsync({
        label: key,
        layout: pipelineLayout,
        compute: { module, entryPoint: def.entryPoint ?? 'main', constants: numeric },
      });
    } catch (e) {
      failure = (e as Error).message;
    }
    const scoped = await device.popErrorScope();
    if (scoped) failure = failure ? `${failure}; ${scoped.message}` : scoped.message;
    if (!pipeline || failure) {
      let detail = '';
      try {
        const info = await module.getCompilationInfo();
        detail = info.messages
          .filter((m) => m.type === 'error')
          .map((m) => `${m.lineNum}:${m.linePos} ${m.message}`)
          .join('; ');
      } catch {
        // getCompilationInfo is optional in some runtimes; the pipeline error above already says why.
      }
      this.modules.delete(def.name);
      throw new EngineError(
        'gpu-shader',
        `WGSL kernel "${def.name}" failed to compile: ${detail || failure || 'unknown error'}`,
      );
    }
    const compiled: CompiledKernel = { def, pipeline, layout };
    this.ready.set(key, compiled);
    return compiled;
  }
}
