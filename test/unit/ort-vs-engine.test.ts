// onnxruntime-web (wasm EP, Node) as an independent check of OUR engine: the same qwen2-tiny-a weights,
// exported by torch to model.onnx, must give the CPU reference's logits within 1e-4 × max|logit|
// (the check: src/check/ortParity.ts).
import { CpuBackend } from '../../src/engine/cpuBackend.ts';
import { describeOrtParity } from '../helpers/ortParity.ts';

describeOrtParity('cpu', async (config, weights) => new CpuBackend(config, weights));
