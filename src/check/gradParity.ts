// Gradient parity against a golden folder (see ../shared/fixtures/hf-golden/README.md): the loss,
// per-position log-probs and every parameter gradient of the CPU reference's backward, for the plain
// (`loss.*`, `grad.*`), mixture (`mixloss.value`, `mixgrad.*`) and LoRA (`lora.loss.value`,
// `lora_grad.*`) cases. One TensorCheck per golden tensor, under the golden tensor's name.

import { qwen2LossAndGrads } from '../engine/ref/backward.ts';
import type { LoraWeights, RefModel } from '../engine/ref/model.ts';
import type { HostTensor } from '../engine/tensor.ts';
import type { GoldenSet } from './parity.ts';
import { checkTensor, DEFAULT_REL_TOL, type TensorCheck } from './tensorCheck.ts';

function need(golden: GoldenSet, name: string): HostTensor {
  const t = golden.tensors.get(name);
  if (!t) throw new Error(`golden.safetensors lacks ${name}`);
  return t;
}

/** The golden tensors gradientParity checks, in golden.json's order. */
export function gradientTensorNames(golden: GoldenSet): string[] {
  return [...golden.described.keys()].filter(
    (n) =>
      n === 'loss.value' ||
      n === 'loss.logp' ||
      n.startsWith('grad.') ||
      n === 'mixloss.value' ||
      n.startsWith('mixgrad.') ||
      n === 'lora.loss.value' ||
      n.startsWith('lora_grad.'),
  );
}

/**
 * Run the reference backward on the golden inputs and compare. `adapter` is the folder's adapter
 * (for `lora.*`; its checks are skipped when null). Note that `loss.value` and `loss.logp` are also
 * among forwardParity's checks; here they come from the training forward and ref/loss.ts.
 */
export function gradientParity(
  golden: GoldenSet,
  model: RefModel,
  adapter: LoraWeights | null,
  rel = DEFAULT_REL_TOL,
): TensorCheck[] {
  const names = gradientTensorNames(golden);
  const has = (prefix: string) => names.some((n) => n === prefix || n.startsWith(prefix));
  const ids = need(golden, 'ids');
  const [B, T] = ids.shape;
  const targets = need(golden, 'loss.targets').data;
  const coef = need(golden, 'loss.coef').data;
  const checks: TensorCheck[] = [];
  const compare = (name: string, got: ArrayLike<number> | undefined) => {
    if (!got) {
      checks.push({
        name,
        maxAbsErr: Number.POSITIVE_INFINITY,
        tol: 0,
        pass: false,
        worst: { index: -1, got: Number.NaN, want: Number.NaN },
      });
      return;
    }
    checks.push(checkTensor(name, got, need(golden, name).data, rel));
  };
  const order = (results: Map<string, () => ArrayLike<number> | undefined>) => {
    for (const name of names) {
      const get = results.get(name);
      if (get) compare(name, get());
    }
  };

  const results = new Map<string, () => ArrayLike<number> | undefined>();
  if (has('loss.') || has('grad.')) {
    const r = qwen2LossAndGrads(model, { kind: 'ids', ids: ids.data }, B, T, targets, coef);
    results.set('loss.value', () => [r.loss]);
    results.set('loss.logp', () => r.logp);
    for (const n of names)
      if (n.startsWith('grad.')) results.set(n, () => r.grads.get(n.slice('grad.'.length)));
  }
  if (has('mixloss.') || has('mixgrad.')) {
    const mixIds = need(golden, 'mix.ids');
    const input = {
      kind: 'mixture' as const,
      ids: mixIds.data,
      weights: need(golden, 'mix.weights').data,
      k: mixIds.shape[2],
    };
    const r = qwen2LossAndGrads(model, input, B, T, targets, coef);
    results.set('mixloss.value', () => [r.loss]);
    for (const n of names)
      if (n.startsWith('mixgrad.')) results.set(n, () => r.grads.get(n.slice('mixgrad.'.length)));
  }
  if (adapter && (has('lora.loss.') || has('lora_grad.'))) {
    const r = qwen2LossAndGrads(
      model,
      { kind: 'ids', ids: ids.data },
      B,
      T,
      targets,
      coef,
      { lora: adapter },
      { lora: true },
    );
    results.set('lora.loss.value', () => [r.loss]);
    for (const n of names)
      if (n.startsWith('lora_grad.')) results.set(n, () => r.grads.get(n.slice('lora_grad.'.length)));
  }
  order(results);
  return checks;
}
