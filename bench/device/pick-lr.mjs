// Picks the learning rate of a sweep: the one whose runs raise held-out accuracy most on average
// (eval.jsonl: first vs last evaluation), over every preset and seed under runs/sweep/lr<X>/.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2] ?? 'runs/sweep';
const rows = [];
for (const d of readdirSync(root)) {
  const deltas = [];
  const walk = (p) => {
    if (existsSync(join(p, 'eval.jsonl'))) {
      const ev = readFileSync(join(p, 'eval.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      if (ev.length >= 2) deltas.push(ev.at(-1).accuracy - ev[0].accuracy);
      return;
    }
    for (const n of readdirSync(p)) if (!n.includes('.')) walk(join(p, n));
  };
  walk(join(root, d));
  if (deltas.length)
    rows.push({
      lr: d.replace(/^lr/, ''),
      runs: deltas.length,
      meanDelta: deltas.reduce((a, b) => a + b, 0) / deltas.length,
    });
}
rows.sort((a, b) => b.meanDelta - a.meanDelta);
console.error(JSON.stringify(rows));
console.log(rows[0]?.lr ?? '1e-3');
