// The WebGPU SftBackend (train/sft.ts): loss and gradients of a batch from GpuTrainer's forward and
// backward on the device. The SftBackend contract keeps the parameters and the optimizer on the CPU,
// so each step reads every gradient back and paramsUpdated() uploads every parameter again; a device
// optimizer (GpuTrainer.stepOptimizer) avoids both round trips where the loop can use it.
import type { Qwen2Config } from './config.ts';
import type { EngineDevice } from './gpu/device.ts';
import { GpuModel } from './gpu/model.ts';
import { GpuTrainer } from './gpu/train.ts';
import type { WeightMap } from './tensor.ts';
import type { SftBackend, SftBatch, SftLossResult } from './train/sft.ts';

export class GpuSftBackend implements SftBackend {
  /** Every parameter by HF name (the caller's weight arrays, as CpuSftBackend): the CPU optimizer
   * updates them in place, paramsUpdated() uploads them. */
  readonly params: Map<string, Float32Array>;

  private constructor(
    readonly model: GpuModel,
    private readonly trainer: GpuTrainer,
    weights: WeightMap,
  ) {
    this.params = new Map([...weights].map(([name, t]) => [name, t.data]));
  }

  /** Uploads the weights to `device` (the backend owns that model; dispose() frees it). */
  static async create(
    device: EngineDevice,
    config: Qwen2Config,
    weights: WeightMap,
    options: { trainEmbeddings?: boolean } = {},
  ): Promise<GpuSftBackend> {
    const model = await GpuModel.create(device, config, weights);
    try {
      const trainer = await GpuTrainer.create(model, {
        mode: 'full',
        trainEmbeddings: options.trainEmbeddings,
      });
      return new GpuSftBackend(model, trainer, weights);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }

  async lossAndGrads(batch: SftBatch): Promise<SftLossResult> {
    this.trainer.zeroGrad();
    const r = await this.trainer.backward({
      input: { kind: 'ids', ids: batch.ids },
      B: batch.B,
      T: batch.T,
      targets: batch.targets,
      coef: batch.coef,
      attentionMask: batch.attentionMask,
    });
    return { loss: r.loss, tokens: batch.targetTokens, grads: await this.trainer.readGrads() };
  }

  async paramsUpdated(): Promise<void> {
    await this.trainer.writeParams(this.params);
  }

  dispose(): void {
    this.trainer.dispose();
    this.model.dispose();
  }
}
