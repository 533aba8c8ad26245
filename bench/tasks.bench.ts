// Generation speed of every registered task: `npm run bench:tasks [-- <items>]` (default 1000 items,
// default config, seed 0). Prints a table and, last, one JSON line. A measurement, not a timed test.

import { resolveConfig } from '../src/tasks/dataset.ts';
import { TASK_NAMES, TASKS } from '../src/tasks/registry.ts';

const n = Number(process.argv[2] ?? 1000);
if (!Number.isInteger(n) || n <= 0) {
  console.error('usage: npm run bench:tasks -- [items per task]');
  process.exit(2);
}

const results: Record<string, { ms: number; msPerItem: number }> = {};
for (const name of TASK_NAMES) {
  const task = TASKS[name];
  const config = resolveConfig(task);
  for (let i = 0; i < 20; i++) task.generate(config, 1, i); // warm-up (JIT)
  const t0 = performance.now();
  for (let i = 0; i < n; i++) task.generate(config, 0, i);
  const ms = performance.now() - t0;
  results[name] = { ms: Number(ms.toFixed(2)), msPerItem: Number((ms / n).toFixed(4)) };
}

const width = Math.max(4, ...TASK_NAMES.map((t) => t.length));
console.log(`${'task'.padEnd(width)}  ${`ms/${n}`.padStart(10)}  ${'ms/item'.padStart(9)}`);
for (const name of TASK_NAMES) {
  const r = results[name];
  console.log(
    `${name.padEnd(width)}  ${r.ms.toFixed(2).padStart(10)}  ${r.msPerItem.toFixed(4).padStart(9)}`,
  );
}
console.log(JSON.stringify({ bench: 'tasks', items: n, node: process.version, results }));
