// Evaluates a model folder on one task: prompts in the training format (system prompt, question,
// `<think>` prefill), sampled completions through Engine.generate, the task's score and the reward's format
// check (src/builtin/evaluate.ts over the one evaluator, src/rl/evaluate.ts).
//
// Usage: npm run evaluate -- --model <folder> --task <name> [--level L] [--n N] [--seed S]
//          [--temperature T] [--max-new-tokens 160] [--gpu] [--show K]
// Progress goes to stderr; the last line on stdout is JSON:
//   {"task", "n", "accuracy", "mean_score", "format_rate", "tokens_per_s", "level", "temperature", "backend"}
import { resolve } from 'node:path';
import { evaluateTask } from '../src/builtin/evaluate.ts';
import { DirModelSource } from '../src/engine/model/source-node.ts';
import { Tokenizer } from '../src/engine/model/tokenizer.ts';
import { getTask, TASK_NAMES } from '../src/tasks/registry.ts';
import { Engine } from '../src/worker/engine.ts';
import { parseArgs } from './builtin-recipe.ts';

const USAGE =
  'usage: npm run evaluate -- --model <folder> --task <name> [--level L] [--n N] [--seed S] [--temperature T] [--max-new-tokens M] [--gpu] [--show K]';

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const known = new Set([
    'model',
    'task',
    'level',
    'n',
    'seed',
    'temperature',
    'max-new-tokens',
    'gpu',
    'show',
  ]);
  for (const k of args.keys()) if (!known.has(k)) throw new Error(`unknown option --${k}\n${USAGE}`);
  const model = args.get('model');
  const taskName = args.get('task');
  if (!model || !taskName) throw new Error(USAGE);
  if (!TASK_NAMES.includes(taskName))
    throw new Error(`unknown task ${taskName}; tasks: ${TASK_NAMES.join(', ')}`);
  const task = getTask(taskName);
  const level = args.get('level') ?? task.levels[0].name;
  const n = Number(args.get('n') ?? 100);
  const seed = Number(args.get('seed') ?? 12345);
  const temperature = Number(args.get('temperature') ?? 1);
  const maxNewTokens = Number(args.get('max-new-tokens') ?? 160);
  const show = Number(args.get('show') ?? 0);
  for (const [k, v] of [
    ['n', n],
    ['seed', seed],
    ['temperature', temperature],
    ['max-new-tokens', maxNewTokens],
  ] as const) {
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a number ≥ 0`);
  }

  const dir = resolve(model);
  let gpu: GPU | null = null;
  if (args.has('gpu')) {
    const { nodeGpu } = await import('../src/node/webgpu.ts');
    gpu = await nodeGpu();
  }
  const engine = new Engine({ gpu, resolveSource: () => new DirModelSource(dir) });
  const adapter = await engine.init({ backend: gpu ? 'webgpu' : 'cpu' });
  const info = await engine.loadModel({ kind: 'url', baseUrl: dir });
  const tok = await Tokenizer.fromSource(new DirModelSource(dir));
  const eos = new Set([...tok.eosTokenIds, ...info.eosTokenIds]);
  console.error(
    `${info.label}: ${info.numParameters.toLocaleString('en-US')} parameters on ${adapter.backend} (${adapter.description}); ` +
      `${taskName}/${level}, n=${n}, seed ${seed}, T=${temperature}`,
  );

  const { summary } = await evaluateTask(
    (ids, o) =>
      engine.generate(ids, {
        maxNewTokens: o.maxNewTokens,
        temperature: o.temperature,
        seed: o.seed,
        chat: false,
      }),
    { encode: (t, o) => tok.encode(t, o), decode: (ids, o) => tok.decode(ids, o), eosTokenIds: [...eos] },
    {
      task: taskName,
      level,
      n,
      seed,
      temperature,
      maxNewTokens,
      onItem: (done, s, accuracySoFar) => {
        if (done <= show) {
          console.error(`--- #${done} ${JSON.stringify(s.question)} → oracle ${s.oracle}, score ${s.score}`);
          console.error(`<think>${s.completion}`);
        }
        if (done % 10 === 0 || done === n)
          console.error(`  ${done}/${n}: accuracy so far ${(100 * accuracySoFar).toFixed(0)}%`);
      },
    },
  );
  await engine.dispose();
  console.log(
    JSON.stringify({
      task: summary.task,
      n: summary.n,
      accuracy: summary.accuracy,
      mean_score: +summary.mean_score.toFixed(4),
      format_rate: summary.format_rate,
      tokens_per_s: +summary.tokens_per_s.toFixed(1),
      level: summary.level,
      temperature: summary.temperature,
      backend: adapter.backend,
    }),
  );
}

main().catch((e) => {
  // One line, no stack trace (the usage text's line breaks folded).
  console.error((e instanceof Error ? `${e.name}: ${e.message}` : String(e)).replace(/\s*\n\s*/g, ' '));
  process.exit(1);
});
