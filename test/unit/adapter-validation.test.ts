// Issue 15 probes for peft adapters: a regex target_modules cannot hang the loader, and NaN/Inf weights or
// absurd lora_alpha / r are refused with a typed error naming the file or tensor.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseQwen2Config, type Qwen2Config } from '../../src/engine/config.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { parseLoraAdapter } from '../../src/engine/model/lora.ts';
import { parseSafetensors, writeSafetensors } from '../../src/engine/model/safetensors.ts';
import {
  MAX_TARGET_PATTERN_LENGTH,
  TargetPattern,
  TargetPatternError,
} from '../../src/engine/model/targetPattern.ts';
import { HF_GOLDEN_DIR, requireFixtures } from '../helpers/fixtures.ts';
import { readFixture } from '../helpers/malformed.ts';

requireFixtures();
const M = 'qwen2-tiny-a';
const CONFIG_FILE = 'adapter_config.json';
const WEIGHTS_FILE = 'adapter_model.safetensors';
const modelConfig = (): Qwen2Config =>
  parseQwen2Config(JSON.parse(readFileSync(join(resolve(HF_GOLDEN_DIR, M), 'config.json'), 'utf8')));
const adapterConfig = () =>
  JSON.parse(readFileSync(join(resolve(HF_GOLDEN_DIR, M), 'adapter', CONFIG_FILE), 'utf8')) as Record<
    string,
    unknown
  >;
const adapterBytes = () => readFixture(M, `adapter/${WEIGHTS_FILE}`);

function withConfig(edit: (c: Record<string, unknown>) => void, bytes = adapterBytes()) {
  const c = adapterConfig();
  edit(c);
  return () => parseLoraAdapter(c, bytes, modelConfig());
}

function adapterError(fn: () => unknown, file: string, tensor?: string): EngineError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(EngineError);
  const e = caught as EngineError;
  expect(e.code).toBe('adapter-invalid');
  expect(e.file).toBe(file);
  expect(e.message).toContain(file);
  expect(e.message).not.toContain('\n');
  if (tensor !== undefined) {
    expect(e.tensor).toBe(tensor);
    expect(e.message).toContain(tensor);
  }
  return e;
}

describe('target_modules as a regular expression', () => {
  it('catastrophic patterns end at once: no module matches (.*)*X or (.*.*)*X', () => {
    // JS RegExp took 23.8 s and > 40 s on these; the NFA matcher answers within the default test timeout.
    for (const pattern of ['(.*)*X', '(.*.*)*X']) {
      const e = adapterError(
        withConfig((c) => (c.target_modules = pattern)),
        WEIGHTS_FILE,
      );
      expect(e.message).toContain('target_modules');
      const long = 'model.layers.0.self_attn.q_proj'.repeat(100);
      expect(new TargetPattern(pattern).fullMatch(long)).toBe(false);
      expect(new TargetPattern(pattern).fullMatch(`${long}X`)).toBe(true);
    }
  });

  it('a catastrophic-looking pattern that does match loads the adapter', () => {
    const a = withConfig((c) => (c.target_modules = '(.*.*)*(_proj)'))();
    expect([...a.targetModules].sort()).toEqual(
      ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj'].sort(),
    );
  });

  it('is the linear matcher: a lookahead, which JS RegExp would accept, is refused with a typed error', () => {
    const e = adapterError(
      withConfig((c) => (c.target_modules = '(?!.*vision).*_proj')),
      CONFIG_FILE,
    );
    expect(e.message).toContain('not a supported regular expression');
    expect(e.message).toContain('lookaround');
  });

  it('patterns outside the language or over the length cap are refused', () => {
    for (const bad of ['\\1', '(?i)q_proj', 'a**', '*a', '[a', '(a', 'a)', 'x{5000}', '\\bq']) {
      expect(() => new TargetPattern(bad), bad).toThrow(TargetPatternError);
      adapterError(
        withConfig((c) => (c.target_modules = bad)),
        CONFIG_FILE,
      );
    }
    const tooLong = `.*${'a?'.repeat(MAX_TARGET_PATTERN_LENGTH)}`;
    expect(
      adapterError(
        withConfig((c) => (c.target_modules = tooLong)),
        CONFIG_FILE,
      ).message,
    ).toContain(`over ${MAX_TARGET_PATTERN_LENGTH} characters`);
    // Nested counts that would expand to a million states are refused, not built.
    expect(() => new TargetPattern('((a{999}){999})')).toThrow('too large');
  });

  it("matches as Python's re.fullmatch on adapter-style patterns", () => {
    const names = [
      'model.layers.0.self_attn.q_proj',
      'model.layers.12.mlp.down_proj',
      'model.layers.1.mlp.gate_proj',
      'q_proj',
    ];
    // Expected values from CPython 3.11 re.fullmatch.
    const cases: [string, boolean[]][] = [
      ['.*\\.(q_proj|v_proj)', [true, false, false, false]],
      ['model\\.layers\\.\\d+\\.(mlp|self_attn)\\.\\w+', [true, true, true, false]],
      ['.*layers\\.[0-1]\\..*', [true, false, true, false]],
      ['.*\\.[^q]\\w*', [false, true, true, false]],
      ['(?:.*\\.)?(?P<m>[a-z]{1,4})_proj', [true, true, true, true]],
      ['^.*(up|down)_proj$', [false, true, false, false]],
      ['.*_pro+?j', [true, true, true, true]],
      ['q_proj', [false, false, false, true]],
      ['.*x{,3}_proj', [true, true, true, true]],
    ];
    for (const [pattern, want] of cases) {
      const p = new TargetPattern(pattern);
      expect(
        names.map((n) => p.fullMatch(n)),
        pattern,
      ).toEqual(want);
    }
  });
});

describe('adapter weights and scale', () => {
  it('r or lora_alpha nested 20,000 lists deep is refused, not a RangeError (found by the fuzz suite)', () => {
    const deep = JSON.parse(`${'['.repeat(20_000)}1${']'.repeat(20_000)}`);
    for (const key of ['r', 'lora_alpha'])
      adapterError(
        withConfig((c) => {
          c[key] = deep;
        }),
        CONFIG_FILE,
      );
  });

  const key = 'base_model.model.model.layers.1.mlp.up_proj.lora_B.weight';

  function withTensor(edit: (data: Float32Array) => void): Uint8Array {
    const t = parseSafetensors(adapterBytes(), WEIGHTS_FILE);
    const entry = t.get(key)!;
    const data = Float32Array.from(entry.data);
    edit(data);
    t.set(key, { ...entry, data });
    return writeSafetensors(t);
  }

  for (const [label, value] of [
    ['NaN', Number.NaN],
    ['+Inf', Number.POSITIVE_INFINITY],
    ['-Inf', Number.NEGATIVE_INFINITY],
  ] as const) {
    it(`a ${label} element is refused, naming the tensor`, () => {
      const bytes = withTensor((d) => {
        d[5] = value;
      });
      const e = adapterError(
        withConfig(() => {}, bytes),
        WEIGHTS_FILE,
        key,
      );
      expect(e.message).toContain('element 5');
    });
  }

  it('finite weights whose scaled update leaves f32 range are refused', () => {
    // B at 1e38 is finite in f32, but times A, r and scale 250 it is not.
    const bytes = withTensor((d) => d.fill(1e38));
    const e = adapterError(
      withConfig((c) => (c.lora_alpha = 1000), bytes),
      WEIGHTS_FILE,
      key,
    );
    expect(e.message).toContain('beyond f32 range');
  });

  it('lora_alpha must be finite, positive and sane (1e308 refused)', () => {
    for (const alpha of [1e308, 1e7, 0, -8, '8']) {
      const e = adapterError(
        withConfig((c) => (c.lora_alpha = alpha)),
        CONFIG_FILE,
      );
      expect(e.message).toContain('lora_alpha');
    }
    expect(withConfig((c) => (c.lora_alpha = 16))().scale).toBe(4);
  });

  it('r must be a positive integer within bounds', () => {
    for (const r of [0, -4, 2.5, 1e9, Number.MAX_SAFE_INTEGER, '4']) {
      const e = adapterError(
        withConfig((c) => (c.r = r)),
        CONFIG_FILE,
      );
      expect(e.message).toContain('"r"');
    }
  });
});
