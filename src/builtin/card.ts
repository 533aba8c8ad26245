// The built-in model's card (README.md) and its loss-curve figure (an SVG), from a training record.

import { formatHeldOutCounts, type HeldOutCounts, heldOutCountFor } from './data.ts';
import type { EvalSummary } from './evaluate.ts';

/** One checkpoint considered by the selection: its validation results and distance from the target. */
export interface SelectionCandidate {
  step: number;
  results: EvalSummary[];
  distance: number;
}

/**
 * How far a checkpoint is from "half-good": the largest distance of any task's sampled accuracy from
 * `target`, plus 1 when any task's format rate is below 90% (such a checkpoint is never preferred).
 */
export function selectionDistance(results: readonly EvalSummary[], target: number): number {
  let worst = 0;
  let badFormat = false;
  for (const r of results) {
    worst = Math.max(worst, Math.abs(r.accuracy - target));
    if (r.format_rate < 0.9) badFormat = true;
  }
  return worst + (badFormat ? 1 : 0);
}

export interface TrainingRecord {
  id: string;
  /** The named recipe (scripts/builtin-recipe.ts); absent in records older than the names: `builtin`. */
  recipe?: string;
  /** Held-out items per task left out of the SFT data (absent or 0: none; builtin/data.ts HeldOutCounts). */
  heldOut?: HeldOutCounts;
  /** Completion tokens at most in the recipe's evaluations (absent: 160). */
  maxNewTokens?: number;
  seed: number;
  command: string;
  config: Record<string, unknown>;
  numParameters: number;
  weightBytes: number;
  vocabSize: number;
  numMerges: number;
  tasks: { task: string; level: string; examples: number }[];
  systemPrompt: string;
  sample: { prompt: string; completion: string };
  batchSize: number;
  steps: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  clipNorm: number;
  threads: number;
  elapsedMs: number;
  tokensPerSecond: number;
  /** Loss per step. */
  losses: number[];
  /** Evaluations during training (step → summaries). */
  checkpoints: { step: number; minutes: number; results: EvalSummary[] }[];
  /** Checkpoint selection on validation items (absent: the last step was written). */
  selection?: {
    seed: number;
    n: number;
    target: number;
    chosenStep: number;
    candidates: SelectionCandidate[];
  };
  /** Final evaluation at T = 1 (and optionally greedy). */
  results: EvalSummary[];
  greedy?: EvalSummary[];
  evalSeed: number;
  createdWith: string;
}

/** Issue 14's targets for a built-in model where mixing matters (motg-small). */
export const TARGETS = {
  /** Sampled accuracy (T = 1) of every task must lie in this band: room for RL either way. */
  accuracy: [0.2, 0.7] as const,
  /** At step 0 under `dirichlet`, a thinking step mixes when 1/Σw² reaches this (rl/metrics MIXING_THRESHOLD)… */
  effectiveTokens: 1.3,
  /** …and at least this share of thinking steps must mix. */
  mixingShare: 0.2,
};

/** What `npm run measure:builtin` measured on a model folder (targets.json). */
export interface TargetMeasurement {
  command: string;
  measuredWith: string;
  /** Held-out items per task (rl/heldOut.ts pools: never in the SFT data when heldOut covers them). */
  n: number;
  /** Completions per item. */
  samples: number;
  seed: number;
  maxNewTokens: number;
  /** Per task: full-vocabulary discrete sampling at T = 1 and `dirichlet`, accuracy and format rate. */
  tasks: {
    task: string;
    level: string;
    accuracy: number;
    formatRate: number;
    dirichletAccuracy: number;
  }[];
  /** `dirichlet` rollouts of the untrained model (step 0): its thinking steps and those that mix. */
  mixing: { thinkingSteps: number; mixingSteps: number; meanEffectiveTokens: number };
}

export function accuracyTargetMet(m: TargetMeasurement): boolean {
  const [lo, hi] = TARGETS.accuracy;
  return m.tasks.length > 0 && m.tasks.every((t) => t.accuracy >= lo && t.accuracy <= hi);
}

export function mixingShare(m: TargetMeasurement): number {
  return m.mixing.thinkingSteps > 0 ? m.mixing.mixingSteps / m.mixing.thinkingSteps : 0;
}

export function mixingTargetMet(m: TargetMeasurement): boolean {
  return mixingShare(m) >= TARGETS.mixingShare;
}

/** The card's section on issue 14's two targets: the measurement, or "to be measured after training". */
export function targetsSection(id: string, m: TargetMeasurement | null): string {
  const [lo, hi] = TARGETS.accuracy;
  const head = `## Targets

1. **Sampled accuracy** between ${pct(lo)} and ${pct(hi)} on every training task (T = 1, held-out items).
2. **Mixing at step 0**: under \`dirichlet\`, the effective number of mixed tokens 1/Σw² ≥ ${TARGETS.effectiveTokens}
   on at least ${pct(TARGETS.mixingShare)} of thinking steps, before any RL.
`;
  const how = `\`npm run measure:builtin -- --model public/models/${id}\` (add \`--gpu\` on WebGPU)`;
  if (m === null)
    return `${head}
Both are **to be measured after training**: ${how}.
`;
  const rows = m.tasks
    .map(
      (t) =>
        `| ${t.task} | ${t.level} | ${pct(t.accuracy)} | ${pct(t.formatRate)} | ${pct(t.dirichletAccuracy)} |`,
    )
    .join('\n');
  const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');
  return `${head}
Measured by \`${m.command}\` (${m.measuredWith}): ${m.n} held-out items per task, ${m.samples} completions
each, seed ${m.seed}, at most ${m.maxNewTokens} new tokens.

| task | level | accuracy (discrete, T=1) | format | accuracy (dirichlet) |
|---|---|---|---|---|
${rows}

- Target 1: ${verdict(accuracyTargetMet(m))}.
- Target 2: ${m.mixing.mixingSteps} of ${m.mixing.thinkingSteps} thinking steps mix (${pct(mixingShare(m))}; mean 1/Σw² ${m.mixing.meanEffectiveTokens.toFixed(2)}): ${verdict(mixingTargetMet(m))}.
`;
}

/** Mean of `losses` over windows of `every` steps: [(last step of window, mean)]. */
export function smoothLosses(losses: readonly number[], every: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < losses.length; i += every) {
    const w = losses.slice(i, i + every);
    out.push([i + w.length, w.reduce((a, b) => a + b, 0) / w.length]);
  }
  return out;
}

/** A small line chart of the (smoothed) training loss on a log scale. */
export function lossCurveSvg(losses: readonly number[], width = 640, height = 320): string {
  const every = Math.max(1, Math.ceil(losses.length / 200));
  const pts = smoothLosses(losses, every).filter(([, l]) => l > 0 && Number.isFinite(l));
  const pad = { l: 56, r: 16, t: 24, b: 40 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const maxStep = Math.max(1, losses.length);
  const lo = Math.log10(Math.min(...pts.map((p) => p[1]), 1));
  const hi = Math.log10(Math.max(...pts.map((p) => p[1]), 1));
  const y0 = Math.floor(lo);
  const y1 = Math.max(y0 + 1, Math.ceil(hi));
  const x = (s: number) => pad.l + (s / maxStep) * w;
  const y = (l: number) => pad.t + (1 - (Math.log10(l) - y0) / (y1 - y0)) * h;
  const path = pts
    .map(([s, l], i) => `${i === 0 ? 'M' : 'L'}${x(s).toFixed(1)},${y(l).toFixed(1)}`)
    .join(' ');
  const grid: string[] = [];
  for (let e = y0; e <= y1; e++) {
    for (const m of e < y1 ? [1, 2, 5] : [1]) {
      const v = m * 10 ** e;
      grid.push(
        `<line x1="${pad.l}" x2="${pad.l + w}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>` +
          `<text x="${pad.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${v}</text>`,
      );
    }
  }
  for (let k = 0; k <= 4; k++) {
    const s = Math.round((maxStep * k) / 4);
    grid.push(
      `<text x="${x(s).toFixed(1)}" y="${pad.t + h + 16}" text-anchor="middle" font-size="11">${s}</text>`,
    );
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...grid,
    `<rect x="${pad.l}" y="${pad.t}" width="${w}" height="${h}" fill="none" stroke="#888"/>`,
    `<path d="${path}" fill="none" stroke="#2563eb" stroke-width="1.5"/>`,
    `<text x="${pad.l + w / 2}" y="${height - 6}" text-anchor="middle" font-size="12">step</text>`,
    `<text x="${pad.l}" y="${pad.t - 8}" font-size="12">training loss (mean NLL per completion token, log scale, mean of ${every} steps)</text>`,
    '</svg>',
    '',
  ].join('\n');
}

function pct(x: number): string {
  return `${(100 * x).toFixed(0)}%`;
}

function minutes(ms: number): string {
  return `${(ms / 60000).toFixed(1)} min`;
}

function selectionSection(r: TrainingRecord): string {
  const sel = r.selection;
  if (!sel) return '';
  const rows = sel.candidates
    .map(
      (c) =>
        `| ${c.step === sel.chosenStep ? `**${c.step}**` : c.step} | ${c.results.map((s) => `${s.task} ${pct(s.accuracy)}`).join(', ')} | ${c.distance.toFixed(3)} |`,
    )
    .join('\n');
  return `
### Checkpoint selection

The playground needs a *half-good* model, and at this size the accuracy at the last step is not reliably
in the 20–70% band. So the recipe samples ${sel.n} validation items per task (seed ${sel.seed}, used for nothing
else; T = 1) at the checkpoints below and writes the one whose worst task is nearest ${pct(sel.target)}
(a checkpoint with any format rate under 90% is never preferred). Written: step **${sel.chosenStep}**.

| step | validation accuracy (T=1, n=${sel.n}) | worst distance from ${pct(sel.target)} |
|---|---|---|
${rows}
`;
}

/** The card's opening paragraphs: what the model is for. */
function introduction(r: TrainingRecord): string {
  const size = `a ${(r.numParameters / 1e6).toFixed(2)} M-parameter Qwen2-architecture`;
  if (r.recipe === 'small')
    return `The MoT-G Playground's second built-in model: ${size}
model trained from scratch, on this project's own tasks, by \`npm run train:builtin -- --recipe small\`.
Where the first built-in model (motg-builtin) is so sure of each token that mixtures barely mix, this one
is larger and trained on harder levels with longer worked reasoning, so that at the start of RL the
mixture-of-token step has real alternatives to mix (the targets below). The held-out pools of its tasks
(\`${formatHeldOutCounts(r.heldOut)}\` items per task, \`src/rl/heldOut.ts\`) were left out of its training data, so GRPO
evaluations on them measure questions it never saw.`;
  return `The MoT-G Playground's built-in model: ${size}
model trained from scratch, on this project's own tasks, by \`npm run train:builtin\`. It exists so the
playground works offline with a model that can already solve a little of each training task — and
leaves room for reinforcement learning to improve it (the target: a sampled accuracy between 20% and 70%
on the easiest level of each training task).`;
}

/** README.md of the model folder; `targets`: issue 14's measurement (targets.json), null before one. */
export function modelCard(r: TrainingRecord, targets: TargetMeasurement | null = null): string {
  const cfg = r.config;
  const lossTable = smoothLosses(r.losses, Math.max(1, Math.round(r.losses.length / 10)))
    .map(([s, l]) => `| ${s} | ${l.toFixed(4)} |`)
    .join('\n');
  const evalRows = r.results
    .map((s) => {
      const g = r.greedy?.find((x) => x.task === s.task);
      return `| ${s.task} | ${s.level} | ${s.n} | ${pct(s.accuracy)} | ${s.mean_score.toFixed(3)} | ${pct(s.format_rate)} | ${g ? pct(g.accuracy) : '–'} |`;
    })
    .join('\n');
  const ckRows = r.checkpoints
    .map(
      (c) =>
        `| ${c.step} | ${c.minutes.toFixed(1)} | ${c.results.map((s) => `${s.task} ${pct(s.accuracy)}`).join(', ')} |`,
    )
    .join('\n');
  const levels =
    r.recipe === 'small' ? 'the curriculum levels below' : 'the easiest curriculum level of each task';
  const chainLevel = r.tasks.find((t) => t.task === 'chain_sum')?.level;
  const levelArg = r.recipe === 'small' && chainLevel ? ` --level ${chainLevel}` : '';
  const targetText = r.recipe === 'small' || targets !== null ? `\n${targetsSection(r.id, targets)}` : '';
  return `# ${r.id}

${introduction(r)}

It is not a general language model: it only knows the prompt format and the tasks below.

## Architecture

| field | value |
|---|---|
| architecture | Qwen2ForCausalLM (tied embeddings) |
| hidden_size | ${cfg.hidden_size} |
| intermediate_size | ${cfg.intermediate_size} |
| num_hidden_layers | ${cfg.num_hidden_layers} |
| attention heads / KV heads | ${cfg.num_attention_heads} / ${cfg.num_key_value_heads} |
| vocab_size | ${r.vocabSize} (256 bytes + ${r.numMerges} merges + 7 added tokens) |
| parameters | ${r.numParameters.toLocaleString('en-US')} |
| model.safetensors | ${(r.weightBytes / 1e6).toFixed(2)} MB (F32) |

## Tokenizer

Byte-level BPE in the Hugging Face \`tokenizer.json\` format (Qwen2's pre-tokenizer and decoder), with
${r.numMerges} merges learned from the tasks' questions and worked traces (most frequent byte pair first,
ties broken by order, so the same code always gives the same tokenizer). Digits are never merged.
\`<|endoftext|>\`, \`<|im_start|>\`, \`<|im_end|>\`, \`<think>\`, \`</think>\`, \`<answer>\`, \`</answer>\` are added
tokens (one id each). \`tokenizer_config.json\` has a Qwen2.5-style chat template that inserts the system
prompt below when a conversation has none.

## Prompt format

System prompt: \`${r.systemPrompt}\`. The question is the user turn; the assistant turn is prefilled with
\`<think>\`. Example (prompt, then the completion the model was trained to write):

\`\`\`
${r.sample.prompt}${r.sample.completion}
\`\`\`

## Training data

Supervised fine-tuning on generated examples whose reasoning is a real worked trace (running sums,
one operation per line, per-animal products), at ${levels}. The first *held out* questions of each
task's held-out pool (\`src/rl/heldOut.ts\`, the items GRPO runs evaluate on) are never among them:

| task | level | examples | held out |
|---|---|---|---|
${r.tasks.map((t) => `| ${t.task} | ${t.level} | ${t.examples} | ${heldOutCountFor(r.heldOut, t.task)} |`).join('\n')}

## Recipe

\`\`\`
${r.command}
\`\`\`

- seed ${r.seed} (weights init, data, shuffling); initial weights normal(0, 0.02)
- ${r.steps} steps of ${r.batchSize} sequences; loss = mean NLL over the completion tokens (and the prefilled \`<think>\`), prompt tokens masked
- AdamW (β = 0.9, 0.999, weight decay ${r.weightDecay} except norms and biases), peak lr ${r.lr}, ${r.warmupSteps} warm-up steps, cosine to ${r.minLr}
- gradient-norm clip ${r.clipNorm}
- ${r.threads} CPU thread(s), ${minutes(r.elapsedMs)}, ${Math.round(r.tokensPerSecond)} tokens/s (${r.createdWith})
${selectionSection(r)}
## Loss

![training loss](loss.svg)

| step | mean loss |
|---|---|
${lossTable}

## Evaluation

Items from seed ${r.evalSeed} (not the training seed), completion sampled at temperature 1 (greedy in the
last column). Accuracy: the task's score is 1.0; format: the completion matches
\`</think>\\s*<answer>.*?</answer>\\s*$\`.

| task | level | n | accuracy (T=1) | mean score | format | accuracy (greedy) |
|---|---|---|---|---|---|---|
${evalRows}

${ckRows ? `During training (T = 1, smaller n):\n\n| step | minutes | accuracy |\n|---|---|---|\n${ckRows}\n` : ''}
Reproduce: \`npm run evaluate -- --model public/models/${r.id} --task chain_sum${levelArg} --n 100 --seed ${r.evalSeed} --temperature 1\`.
${targetText}`;
}
