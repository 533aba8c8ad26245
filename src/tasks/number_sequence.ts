// number_sequence: continue an integer sequence made by a random rule (reasoning-gym
// cognition/number_sequences).
import { baseScore, checkConfig, exactScore } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface NumberSequenceConfig extends Record<string, unknown> {
  min_terms: number;
  max_terms: number;
  min_value: number;
  max_value: number;
  max_complexity: number;
  seed: number | null;
  size: number;
}

// reasoning-gym's operation set. 'alt' and 'compose' are drawn too but change nothing (the library
// never gives compose any sub-rules), and they do not appear in the rule text.
const OPERATIONS = ['+', '*', '^2', '*2', '/2', 'prev+', 'alt', 'compose'] as const;
type Operation = (typeof OPERATIONS)[number];

interface Rule {
  ops: Operation[];
  params: number[];
}

/** Next term from the term at `position` (and the one before it for 'prev+'). */
function applyRule(rule: Rule, seq: readonly number[], position: number): number {
  let result = seq[position];
  rule.ops.forEach((op, i) => {
    if (op === '+') result += rule.params[i];
    else if (op === '*') result *= rule.params[i];
    else if (op === '^2') result *= result;
    else if (op === '*2') result *= 2;
    else if (op === '/2')
      result = Math.floor(result / 2); // Python's // on ints
    else if (op === 'prev+' && position > 0) result += seq[position - 1];
  });
  return result === 0 ? 0 : result; // no -0 (0 * -3 in JS), Python ints have none
}

function ruleText(rule: Rule): string {
  const parts: string[] = [];
  rule.ops.forEach((op, i) => {
    if (op === '+') parts.push(`add ${rule.params[i]}`);
    else if (op === '*') parts.push(`multiply by ${rule.params[i]}`);
    else if (op === '^2') parts.push('square');
    else if (op === '*2') parts.push('double');
    else if (op === '/2') parts.push('halve');
    else if (op === 'prev+') parts.push('add previous');
  });
  return parts.join(' then ');
}

function randomRule(rng: Rng, complexity: number): Rule {
  const rule: Rule = { ops: [], params: [] };
  const numOps = rng.int(1, complexity + 1);
  for (let k = 0; k < numOps; k++) {
    const op = rng.choice(OPERATIONS);
    let param = 0;
    if (op === '+' || op === '*') {
      do param = rng.int(-10, 10);
      while (param === 0);
    }
    rule.ops.push(op);
    rule.params.push(param);
  }
  return rule;
}

/** reasoning-gym's is_interesting; its bound is a fixed 1000 (the config's min/max_value are unused). */
function isInteresting(seq: readonly number[], complexity: number, maxValue = 1000): boolean {
  if (seq.length === 0) return false;
  // `!(<=)` also rejects NaN/Infinity, which Python's big ints never produce.
  if (seq.some((x) => !(Math.abs(x) <= maxValue))) return false;
  if (new Set(seq).size === 1) return false;
  if (complexity > 1) {
    const diffs = new Set(seq.slice(1).map((x, i) => x - seq[i]));
    if (diffs.size === 1) return false;
  }
  return true;
}

function validate(c: NumberSequenceConfig): void {
  checkConfig(c.min_terms >= 4, 'number_sequence', 'need at least 4 terms to establish pattern');
  checkConfig(c.max_terms >= c.min_terms, 'number_sequence', 'max_terms must be >= min_terms');
  checkConfig(c.max_value > c.min_value, 'number_sequence', 'max_value must be > min_value');
  checkConfig(c.max_complexity >= 1, 'number_sequence', 'max_complexity must be >= 1');
}

export const task: TaskDefinition<NumberSequenceConfig> = {
  name: 'number_sequence',
  defaults: {
    min_terms: 4,
    max_terms: 8,
    min_value: -100,
    max_value: 100,
    max_complexity: 3,
    seed: null,
    size: 500,
  },
  levels: [
    { name: 'trivial', config: { max_complexity: 1, max_terms: 5 } },
    { name: 'easy', config: { max_complexity: 1 } },
    { name: 'medium', config: { max_complexity: 2 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const complexity = rng.int(1, config.max_complexity);

    let rule: Rule | null = null;
    let seq: number[] = [];
    let numTerms = 0;
    for (let attempt = 0; attempt < 10 && rule === null; attempt++) {
      const candidate = randomRule(rng, complexity);
      numTerms = rng.int(config.min_terms, config.max_terms);
      seq = [rng.int(-10, 10)];
      for (let i = 0; i < numTerms; i++) seq.push(applyRule(candidate, seq, i));
      if (isInteresting(seq, complexity)) rule = candidate;
    }
    if (rule === null) {
      // reasoning-gym's fallback after 10 dull tries: 0, 2, 4, ...
      rule = { ops: ['+'], params: [2] };
      seq = Array.from({ length: numTerms + 1 }, (_, i) => i * 2);
    }

    return {
      question: `${seq.slice(0, -1).join(', ')}, ?`,
      answer: String(seq[seq.length - 1]),
      metadata: {
        source_dataset: 'number_sequence',
        source_index: index,
        rule: ruleText(rule),
        complexity,
        sequence: seq,
        difficulty: {
          max_complexity: config.max_complexity,
          terms: [config.min_terms, config.max_terms],
        },
      },
    };
  },

  score: (answer, entry) => ({ score: baseScore(answer, String(entry.answer)) }),
  scoreStrict: (answer, entry) => ({ score: exactScore(answer, String(entry.answer)) }),
};
