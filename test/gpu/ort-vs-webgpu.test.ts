// onnxruntime-web (wasm EP, Node) as an independent check of OUR WebGPU backend (WGSL kernels on Dawn):
// the same qwen2-tiny-a weights, exported by torch to model.onnx, must give our GPU forward's logits
// within 1e-4 × max|logit| (the check: src/check/ortParity.ts).
import { GpuBackend } from '../../src/engine/gpuBackend.ts';
import { testDevice } from '../helpers/gpu.ts';
import { describeOrtParity } from '../helpers/ortParity.ts';

describeOrtParity('webgpu', async (config, weights) => {
  const dev = await testDevice();
  console.log(`adapter: ${dev.adapter.description || dev.adapter.vendor} (${dev.adapter.architecture})`);
  return GpuBackend.create(dev, config, weights, null);
});
