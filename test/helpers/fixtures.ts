// Where the golden fixtures live: ../shared/fixtures by default, MOTG_FIXTURES to point elsewhere.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const FIXTURES_DIR = resolve(
  process.env.MOTG_FIXTURES ?? resolve(import.meta.dirname, '../../../shared/fixtures'),
);
export const HF_GOLDEN_DIR = resolve(FIXTURES_DIR, 'hf-golden');
export const RG_DIR = resolve(FIXTURES_DIR, 'reasoning-gym');
export const TINY_MODELS = ['qwen2-tiny-a', 'qwen2-tiny-c'] as const;

export function requireFixtures(): void {
  if (!existsSync(HF_GOLDEN_DIR)) {
    throw new Error(`golden fixtures not found at ${FIXTURES_DIR}; set MOTG_FIXTURES to the fixtures folder`);
  }
}
