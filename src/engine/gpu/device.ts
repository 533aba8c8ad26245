// The GPUDevice the engine runs on: adapter, larger limits, and loss surfaced as an EngineError.
// The GPU object is injected (navigator.gpu in a browser worker, npm `webgpu`'s create() in Node), so
// this file runs unchanged in both.
import { EngineError } from '../errors.ts';

/** What the engine reports about the adapter it got (shown in the UI and in benchmark tables). */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software / fallback adapter (SwiftShader, lavapipe reported as CPU): correct but slow. */
  isFallbackAdapter: boolean;
  features: string[];
}

export interface EngineDeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Optional features to enable when the adapter has them (default: timestamp-query). */
  optionalFeatures?: GPUFeatureName[];
  /** Called once when the device is lost for any reason other than our own destroy(). */
  onLost?: (error: EngineError) => void;
  /** Called for errors no error scope caught (default: console.error). Never swallowed. */
  onUncapturedError?: (message: string) => void;
}

/** The limits we ask the adapter for: all of the adapter's own maximum, not the spec defaults. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
] as const;

type RaisedLimit = (typeof RAISED_LIMITS)[number];

export interface EngineLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
  minUniformBufferOffsetAlignment: number;
  minStorageBufferOffsetAlignment: number;
}

export class EngineDevice {
  /** Resolves (never rejects) with the loss as an EngineError('gpu-device-lost'), whatever the reason. */
  readonly lost: Promise<EngineError>;
  /** Set once the device is lost: every later GPU call throws it. */
  lostError: EngineError | null = null;
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    readonly limits: EngineLimits,
    opts: EngineDeviceOptions,
  ) {
    this.lost = device.lost.then(
      (info) =>
        new EngineError(
          'gpu-device-lost',
          `WebGPU device lost (${info.reason ?? 'unknown'}): ${info.message || 'no message'}. ` +
            'The model must be loaded again; if this repeats, try a smaller model or batch (GPU memory).',
        ),
    );
    this.lost.then((err) => {
      this.lostError = err;
      if (!this.destroyed) (opts.onLost ?? ((e: EngineError) => console.error(e.message)))(err);
    });
    const onErr = opts.onUncapturedError ?? ((m: string) => console.error(`WebGPU uncaptured error: ${m}`));
    device.addEventListener('uncapturederror', (ev) => {
      onErr((ev as GPUUncapturedErrorEvent).error.message);
    });
  }

  /** A CPU-emulated adapter (lavapipe, SwiftShader): kernel choices differ (no cheap barriers). */
  get isSoftware(): boolean {
    return (
      this.adapter.isFallbackAdapter ||
      this.adapter.architecture === 'software' ||
      /llvmpipe|swiftshader/i.test(this.adapter.description)
    );
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  /**
   * Throw EngineError('gpu-limit') if a tensor of `bytes` cannot be a buffer / storage binding here.
   * `name` is the tensor (HF parameter name or activation name) the message names.
   */
  checkTensorSize(name: string, bytes: number, binding = true): void {
    const { maxBufferSize, maxStorageBufferBindingSize } = this.limits;
    if (bytes > maxBufferSize) {
      throw new EngineError(
        'gpu-limit',
        `tensor ${name} needs ${fmtBytes(bytes)}, over this GPU's maxBufferSize ${fmtBytes(maxBufferSize)}`,
        { tensor: name },
      );
    }
    if (binding && bytes > maxStorageBufferBindingSize) {
      throw new EngineError(
        'gpu-limit',
        `tensor ${name} needs ${fmtBytes(bytes)}, over this GPU's maxStorageBufferBindingSize ${fmtBytes(maxStorageBufferBindingSize)}`,
        { tensor: name },
      );
    }
  }

  /** Destroy the device on purpose (onLost is not called for this). */
  destroy(): void {
    this.destroyed = true;
    this.device.destroy();
  }
}

function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB (${n} bytes)`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB (${n} bytes)`;
  return `${n} bytes`;
}

/** Request an adapter and a device with the adapter's larger limits. Throws EngineError('webgpu-unavailable'). */
export async function requestEngineDevice(
  gpu: GPU | undefined | null,
  opts: EngineDeviceOptions = {},
): Promise<EngineDevice> {
  if (!gpu) throw new EngineError('webgpu-unavailable', 'WebGPU is not available here (no navigator.gpu)');
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new EngineError(
      'webgpu-unavailable',
      'WebGPU: no adapter (in Chromium, --enable-unsafe-webgpu; in Node, a Vulkan driver via VK_ICD_FILENAMES)',
    );
  }
  const requiredLimits: Record<string, number> = {};
  const al = adapter.limits as unknown as Record<RaisedLimit, number>;
  for (const k of RAISED_LIMITS) {
    const v = al[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  const wanted = opts.optionalFeatures ?? (['timestamp-query'] as GPUFeatureName[]);
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'motg-engine' });
  } catch (e) {
    throw new EngineError('webgpu-unavailable', `WebGPU: requestDevice failed: ${(e as Error).message}`);
  }
  const info = adapter.info;
  // isFallbackAdapter moved from GPUAdapter to GPUAdapterInfo; read whichever this runtime has.
  const fallback =
    (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    false;
  const report: AdapterReport = {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: fallback,
    features: [...device.features].map(String).sort(),
  };
  const dl = device.limits;
  const limits: EngineLimits = {
    maxStorageBufferBindingSize: dl.maxStorageBufferBindingSize,
    maxBufferSize: dl.maxBufferSize,
    maxComputeWorkgroupStorageSize: dl.maxComputeWorkgroupStorageSize,
    maxStorageBuffersPerShaderStage: dl.maxStorageBuffersPerShaderStage,
    maxComputeInvocationsPerWorkgroup: dl.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupsPerDimension: dl.maxComputeWorkgroupsPerDimension,
    minUniformBufferOffsetAlignment: dl.minUniformBufferOffsetAlignment,
    minStorageBufferOffsetAlignment: dl.minStorageBufferOffsetAlignment,
  };
  // The engine's kernels need 256 invocations and 7 storage buffers per stage (the spec defaults).
  if (limits.maxComputeInvocationsPerWorkgroup < 256) {
    device.destroy();
    throw new EngineError(
      'gpu-limit',
      `WebGPU: maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup} < 256`,
    );
  }
  return new EngineDevice(device, report, limits, opts);
}
