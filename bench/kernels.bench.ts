// Kernel workbench (llm.c dev/cuda style): every numbered matmul/GEMV version is first checked against
// the CPU reference (ref/linear.ts), then timed; prints a table. Not a test.
//   npx tsx bench/kernels.bench.ts            shapes of Qwen2.5-0.5B (C 896, I 4864, V 151936)
//   npx tsx bench/kernels.bench.ts --quick    small shapes for a software adapter (lavapipe)
// Options: --reps N (dispatches per timed submit), --versions 1,3,6:32, --json FILE (write results),
//   --model: also time GpuModel prefill and decode steps of a Qwen2.5-0.5B-shaped model with random
//   weights (--model-tiny: a 2-layer small one, for a software adapter); --no-kernels skips the table.
// Time per dispatch = wall time of one submit of `reps` dispatches (after onSubmittedWorkDone) / reps,
// median of 5 submits, after a warm-up; weights rotate among copies so repeated runs do not hit cache.
import { writeFileSync } from 'node:fs';
import { checkTensor } from '../src/check/tensorCheck.ts';
import { expectedParameters, parseQwen2Config } from '../src/engine/config.ts';
import type { GpuTensor } from '../src/engine/gpu/buffers.ts';
import { GpuContext } from '../src/engine/gpu/commands.ts';
import type { EngineDevice } from '../src/engine/gpu/device.ts';
import { requestEngineDevice } from '../src/engine/gpu/device.ts';
import type { MatmulVersion } from '../src/engine/gpu/kernels/matmul.wgsl.ts';
import { GpuModel } from '../src/engine/gpu/model.ts';
import { matmulForward } from '../src/engine/gpu/ops.ts';
import { linearForward } from '../src/engine/ref/linear.ts';
import type { WeightMap } from '../src/engine/tensor.ts';
import { nodeGpu } from '../src/node/webgpu.ts';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('quick');
const reps = Number(opt('reps') ?? (quick ? 3 : 50));
// A version, or 6:<lanes> for the v6 GEMV at a given number of invocations per output.
const versions = (opt('versions') ?? '1,2,3,4,5,6,6:32,6:64,6:128').split(',').map((v) => {
  const [ver, lanes] = v.split(':').map(Number);
  return { version: ver as MatmulVersion, lanes: lanes || undefined, name: `v${v.replace(':', '/')}` };
});

interface Case {
  what: string;
  N: number;
  IC: number;
  OC: number;
}

const C = 896;
const I = 4864;
const V = 151936;
const cases: Case[] = quick
  ? [
      { what: 'decode q_proj', N: 1, IC: 128, OC: 128 },
      { what: 'decode gate', N: 4, IC: 128, OC: 352 },
      { what: 'decode down (IC%4≠0)', N: 4, IC: 350, OC: 128 },
      { what: 'prefill gate', N: 96, IC: 128, OC: 352 },
      { what: 'prefill awkward', N: 37, IC: 101, OC: 67 },
    ]
  : [
      { what: 'decode q_proj', N: 1, IC: C, OC: C },
      { what: 'decode gate', N: 1, IC: C, OC: I },
      { what: 'decode down', N: 1, IC: I, OC: C },
      { what: 'decode gate ×8', N: 8, IC: C, OC: I },
      { what: 'decode lm_head ×8', N: 8, IC: C, OC: V },
      { what: 'prefill gate 8×128', N: 1024, IC: C, OC: I },
      { what: 'prefill down 8×128', N: 1024, IC: I, OC: C },
      { what: 'square 1024³', N: 1024, IC: 1024, OC: 1024 },
    ];

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** Reference rows [0, k) and [N − k, N) only (the CPU is slow at the big shapes). */
function refRows(
  inp: Float32Array,
  w: Float32Array,
  b: Float32Array,
  N: number,
  IC: number,
  OC: number,
): { rows: number[]; out: Float32Array } {
  const k = Math.min(N, 4);
  const rows = [
    ...new Set([
      ...Array.from({ length: k }, (_, i) => i),
      ...Array.from({ length: k }, (_, i) => N - 1 - i),
    ]),
  ].sort((a, c) => a - c);
  const sub = new Float32Array(rows.length * IC);
  rows.forEach((r, i) => {
    sub.set(inp.subarray(r * IC, (r + 1) * IC), i * IC);
  });
  const out = new Float32Array(rows.length * OC);
  linearForward(out, sub, w, b, rows.length, IC, OC);
  return { rows, out };
}

const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)];

/** Prefill and decode-step times of GpuModel on random weights (f32). */
async function benchModel(dev: EngineDevice, tiny: boolean): Promise<Record<string, string | number>[]> {
  const config = parseQwen2Config(
    tiny
      ? {
          vocab_size: 512,
          hidden_size: 128,
          intermediate_size: 352,
          num_hidden_layers: 2,
          num_attention_heads: 4,
          num_key_value_heads: 2,
          tie_word_embeddings: true,
        }
      : {
          vocab_size: V,
          hidden_size: C,
          intermediate_size: I,
          num_hidden_layers: 24,
          num_attention_heads: 14,
          num_key_value_heads: 2,
          tie_word_embeddings: true,
          rope_theta: 1e6,
        },
  );
  const weights: WeightMap = new Map();
  let seed = 12345;
  for (const [name, shape] of expectedParameters(config)) {
    const n = shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    const isNorm = name.endsWith('norm.weight');
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      data[i] = isNorm ? 1 : ((seed / 4294967296) * 2 - 1) * 0.05;
    }
    weights.set(name, { shape, data });
  }
  const t0 = performance.now();
  const model = await GpuModel.create(dev, config, weights);
  const upload = performance.now() - t0;
  weights.clear();
  const out: Record<string, string | number>[] = [];
  const B = tiny ? 2 : 8;
  const P = tiny ? 16 : 128;
  const steps = tiny ? 8 : 64;
  const ids = Array.from({ length: B * P }, (_, i) => (i * 7919) % config.vocabSize);
  // Variants: the defaults; sampling; the v5 GEMV instead of v6; no bind-group cache; no error scopes.
  const variants: { mode: string; greedy: boolean; setup: () => void }[] = [
    { mode: 'greedy', greedy: true, setup: () => {} },
    { mode: 'sample T=0.8', greedy: false, setup: () => {} },
    {
      mode: 'greedy, GEMV v5',
      greedy: true,
      setup: () => {
        model.ctx.matmulOverride = (N, IC, _OC, wInOut) =>
          N <= 16 && !wInOut && IC % 4 === 0 ? { version: 5 } : undefined;
      },
    },
    {
      mode: 'greedy, no bind-group cache',
      greedy: true,
      setup: () => {
        model.ctx.cacheBindGroups = false;
      },
    },
    {
      mode: 'greedy, no error scopes',
      greedy: true,
      setup: () => {
        model.ctx.checkErrors = false;
      },
    },
  ];
  for (const variant of variants) {
    model.ctx.matmulOverride = null;
    model.ctx.cacheBindGroups = true;
    model.ctx.checkErrors = true;
    variant.setup();
    const greedy = variant.greedy;
    const cache = model.createKvCache(B, P + steps + 1);
    const tp = performance.now();
    let next = await model.decode(cache, { kind: 'ids', ids }, P, {
      greedy,
      temperature: 0.8,
      seed: 1,
      step: 0,
    });
    const prefill = performance.now() - tp;
    // warm-up steps (pipelines for T = 1), then timed steps
    const warm = 3;
    let td = 0;
    let encode = 0;
    let wait = 0;
    for (let s = 0; s < steps; s++) {
      if (s === warm) td = performance.now();
      next = await model.decode(cache, { kind: 'ids', ids: Array.from(next) }, 1, {
        greedy,
        temperature: 0.8,
        seed: 1,
        step: s + 1,
      });
      if (s >= warm) {
        encode += model.ctx.lastSubmit.encodeMs;
        wait += model.ctx.lastSubmit.waitMs;
      }
    }
    const n = steps - warm;
    const perStep = (performance.now() - td) / n;
    cache.dispose();
    out.push({
      model: tiny ? 'tiny (2 layers)' : 'Qwen2.5-0.5B shape (24 layers)',
      B,
      prompt: P,
      mode: variant.mode,
      'upload ms': +upload.toFixed(0),
      'prefill ms': +prefill.toFixed(1),
      'decode ms/step': +perStep.toFixed(2),
      'encode ms': +(encode / n).toFixed(2),
      'wait ms': +(wait / n).toFixed(2),
      dispatches: model.ctx.lastSubmit.dispatches,
      'tok/s': +((B * 1000) / perStep).toFixed(0),
    });
    console.log(JSON.stringify(out[out.length - 1]));
  }
  model.dispose();
  return out;
}

async function main(): Promise<void> {
  const dev = await requestEngineDevice(await nodeGpu());
  const ctx = new GpuContext(dev);
  const a = dev.adapter;
  console.log(
    `adapter: ${a.vendor} ${a.architecture} ${a.description || a.device} fallback=${a.isFallbackAdapter}`,
  );
  console.log(
    `limits: maxStorageBufferBindingSize ${dev.limits.maxStorageBufferBindingSize}, maxBufferSize ${dev.limits.maxBufferSize}`,
  );
  const modelRows = flag('model') || flag('model-tiny') ? await benchModel(dev, flag('model-tiny')) : [];
  const rows: Record<string, string | number>[] = [];
  for (const c of flag('no-kernels') ? [] : cases) {
    const { N, IC, OC } = c;
    const wBytes = OC * IC * 4;
    if (wBytes > dev.limits.maxStorageBufferBindingSize) {
      console.log(`skip ${c.what}: weight ${wBytes} bytes over the binding limit`);
      continue;
    }
    const inp = rand(N * IC, 1);
    const w = rand(OC * IC, 2);
    const b = rand(OC, 3);
    const ref = refRows(inp, w, b, N, IC, OC);
    const copies = quick ? 1 : Math.max(1, Math.min(4, Math.floor(256e6 / wBytes)));
    const tw: GpuTensor[] = Array.from({ length: copies }, (_, i) => ctx.pool.upload(`w${i}`, w));
    const ti = ctx.pool.upload('inp', inp);
    const tb = ctx.pool.upload('bias', b);
    const out = ctx.pool.tensor('out', N * OC);
    for (const { version, lanes, name } of versions) {
      if (version >= 5 && IC % 4 !== 0) continue;
      if (!quick && version <= 2 && N * IC * OC > 2e9) continue; // minutes at these shapes; nothing to learn
      // validate
      const rec = ctx.recorder(`v${version}`);
      matmulForward(rec, out, ti, tw[0], tb, N, IC, OC, { version, lanes });
      for (const r of ref.rows) rec.read(out, OC * 4, r * OC * 4);
      const got = await rec.submit();
      const gotRows = new Float32Array(ref.out.length);
      got.forEach((buf, i) => {
        gotRows.set(new Float32Array(buf), i * OC);
      });
      const chk = checkTensor(`v${version}`, gotRows, ref.out, 1e-4);
      // time
      const times: number[] = [];
      for (let trial = 0; trial < 6; trial++) {
        const r2 = ctx.recorder('time');
        for (let i = 0; i < reps; i++)
          matmulForward(r2, out, ti, tw[i % copies], tb, N, IC, OC, { version, lanes });
        const t0 = performance.now();
        await r2.submit();
        await dev.device.queue.onSubmittedWorkDone();
        const dt = (performance.now() - t0) / reps;
        if (trial > 0) times.push(dt);
      }
      const ms = median(times);
      const gflops = (2 * N * IC * OC) / (ms * 1e6);
      const gbs = ((OC * IC + N * IC + N * OC + OC) * 4) / (ms * 1e6);
      rows.push({
        case: c.what,
        N,
        IC,
        OC,
        version: name,
        ok: chk.pass ? 'ok' : `FAIL ${chk.maxAbsErr.toExponential(2)}`,
        ms: +ms.toFixed(4),
        'GFLOP/s': +gflops.toFixed(1),
        'GB/s': +gbs.toFixed(1),
      });
      console.log(JSON.stringify(rows[rows.length - 1]));
    }
    for (const t of [...tw, ti, tb, out]) ctx.pool.release(t);
    ctx.pool.trim();
    ctx.clearBindGroups();
  }
  if (rows.length) {
    console.log(`\nmatmul / GEMV versions on ${a.description || a.vendor} (reps ${reps}, median of 5)`);
    console.table(rows);
  }
  if (modelRows.length) {
    console.log(`\nGpuModel on ${a.description || a.vendor}`);
    console.table(modelRows);
  }
  const json = opt('json');
  if (json) writeFileSync(json, JSON.stringify({ adapter: a, rows, modelRows }, null, 1));
  ctx.destroy();
  process.exit(rows.some((r) => r.ok !== 'ok') ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
