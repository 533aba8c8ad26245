// A checkpoint stored in bf16 (as Qwen2.5 ships) loaded as a local folder on WebGPU (SwiftShader): the
// weights stream onto the GPU and stay bf16 there (the memory panel says so, at about half the f32
// bytes), and a generation runs on them. The folder is a small random model in the Hugging Face layout
// with the built-in model's tokenizer, written to a temp folder at test time.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, test } from '@playwright/test';
import { parseQwen2Config } from '../../src/engine/config.ts';
import { initQwen2Weights } from '../../src/engine/model/init.ts';
import { halfSafetensors } from '../helpers/halfModel.ts';

const BUILTIN = resolve('public/models/motg-builtin');

function writeBf16Folder(): string {
  const root = mkdtempSync(join(tmpdir(), 'motg-e2e-'));
  const dir = join(root, 'motg-bf16-random');
  const rawConfig = {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    vocab_size: 519,
    hidden_size: 64,
    intermediate_size: 176,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    hidden_act: 'silu',
    max_position_embeddings: 512,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: true,
    bos_token_id: null,
    eos_token_id: 514,
    pad_token_id: 512,
    torch_dtype: 'bfloat16',
  };
  const weights = initQwen2Weights(parseQwen2Config(rawConfig), 4321, 0.3, 0.1);
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(rawConfig, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json'])
    copyFileSync(join(BUILTIN, f), join(dir, f));
  writeFileSync(join(dir, 'model.safetensors'), halfSafetensors(weights, 'BF16'));
  return dir;
}

test('a bf16 local folder streams onto WebGPU, stays bf16 there, and generates', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const dir = writeBf16Folder();
  try {
    await page.goto('/');
    await expect(page.getByTestId('engine-status')).toContainText('ready');
    await expect(page.getByTestId('adapter')).toContainText('WebGPU');
    await expect(page.getByTestId('weight-dtype')).toHaveValue('auto');

    await page.getByLabel('Local folder').check();
    await page.locator('#folder-input').setInputFiles(dir);
    await expect(page.getByTestId('model')).toContainText('motg-bf16-random');
    await expect(page.getByTestId('model')).toContainText('bf16');
    const loaded = page.getByTestId('memory-loaded-weights');
    await expect(loaded).toContainText('bf16');
    await expect(page.getByTestId('memory-table')).toContainText('checkpoint BF16');
    await expect(page.getByTestId('memory-table')).toContainText('Weights (bf16)');

    await page.getByLabel('New tokens', { exact: true }).fill('6');
    await page.getByLabel('Temperature', { exact: true }).fill('0');
    await page.getByTestId('generate').click();
    const discrete = page.getByTestId('side-discrete');
    await expect(discrete.getByTestId('generate-done')).toBeVisible();
    expect(await discrete.getByTestId('token-stream').locator('.chip').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  } finally {
    rmSync(join(dir, '..'), { recursive: true, force: true });
  }
});
