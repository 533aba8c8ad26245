// "What to look for": a note on every chart and number of the Decode, Evaluate and Train panels, closed
// until asked for (a <details>), so the panels stay forms and charts for those who know them.
import type { ReactNode } from 'react';

function LookFor({ id, items }: { id: string; items: [string, ReactNode][] }) {
  return (
    <details className="look-for" data-testid={`look-for-${id}`}>
      <summary>What to look for</summary>
      <dl>
        {items.map(([term, text]) => (
          <div key={term}>
            <dt>{term}</dt>
            <dd>{text}</dd>
          </div>
        ))}
      </dl>
    </details>
  );
}

const SCORE_VS_REWARD: ReactNode = (
  <>
    The <strong>score</strong> is the task’s own grade of the answer, 0 to 1 (some tasks give partial credit,
    e.g. letter_counting). The <strong>reward</strong> is what GRPO trains on: 2 × score, + 0.5 for ending
    with <code>&lt;/think&gt; &lt;answer&gt;…&lt;/answer&gt;</code>, + 0.5 for exactly one{' '}
    <code>\n&lt;/think&gt;\n</code>, + 0.125 for each answer tag on its own line, − 0.001 per character after{' '}
    <code>&lt;/answer&gt;</code>. So a wrong answer in the right format earns 1.25, and a score of 0.33 earns
    1.92.
  </>
);

export function DecodeLookFor() {
  return (
    <LookFor
      id="decode"
      items={[
        [
          'Token chips',
          'One chip per step. A mixture chip lists the tokens mixed with their weights; the bold one is the representative (what the transcript shows and the stop rule reads). 1.00 / 0.00 means the mix was one token: look for the chips where the weight is split.',
        ],
        [
          'mixing off',
          'Where the thinking phase ended (the representative tokens spelled </think>, or a stop rule forced it): from there both sides decode one token at a time.',
        ],
        [
          'Next-token entropy',
          'How unsure the model is at each step, in nats: 0 is certain, ln 2 ≈ 0.69 a coin flip between two tokens. A mixture can only differ from one token where this is above about 0.1; compare the two lines step by step.',
        ],
        [
          'Hidden-state entropy',
          'The entropy of the residual stream after each layer, per step (one colour scale for both sides). A mixture is an input no single token gives: look for columns where the mixture side differs from the discrete one.',
        ],
        ['Score and reward', SCORE_VS_REWARD],
        [
          'tokens/s',
          'Speed only. On a software GPU (SwiftShader, lavapipe) it is low and says nothing about the method.',
        ],
      ]}
    />
  );
}

export function EvalLookFor() {
  return (
    <LookFor
      id="evaluate"
      items={[
        [
          'Accuracy',
          'The fraction of samples scoring exactly 1, averaged over questions: what each cell shows. Partial credit does not count here.',
        ],
        [
          'Same items',
          'Rows with the same tasks, level, number of questions and seed were asked the same questions: only those compare fairly, e.g. a baseline mode against a mixture preset.',
        ],
        [
          'Noise',
          'With n questions one question moves the accuracy by 1/n (2 questions: 50 points). Trust a difference between rows only when it is larger than that, or raise n.',
        ],
        [
          'Hover a cell',
          'Mean score (partial credit included), format rate (completions ending in </think> <answer>…</answer>) and mean reward. A model can learn the format long before it answers right.',
        ],
        ['Score and reward', SCORE_VS_REWARD],
        [
          'pass@k',
          'With 2 or more samples per question: the chance that at least one of k samples is right. A mixture mode that explores more can raise pass@k for large k without raising accuracy (k = 1).',
        ],
        [
          'Mode',
          'Evaluate a trained policy in the mode it was trained in (the paper evaluates mixtures with mixtures); the discrete-top-k baseline samples from the same top k.',
        ],
      ]}
    />
  );
}

export function TrainLookFor() {
  return (
    <LookFor
      id="train"
      items={[
        [
          'Reward mean ± std',
          'What GRPO maximises, over the step’s completions (the band is the spread). It can rise from the format terms alone, before any answer is right.',
        ],
        ['Score and reward', SCORE_VS_REWARD],
        [
          'Accuracy (score = 1)',
          'The share of the step’s completions that are fully right: the goal, noisier than reward with a small G.',
        ],
        [
          'KL to the reference',
          'How far the policy has moved from the model as loaded (per token). It grows slowly in a healthy run; a steep climb means the policy drifts fast (β weighs a penalty on it).',
        ],
        [
          'GRPO loss',
          'Not a progress meter: with advantages normalised within each group it stays near 0. Watch for spikes; steps skipped for a non-finite loss are marked.',
        ],
        [
          'Clip fraction',
          'The share of tokens whose probability ratio left [1 − ε, 1 + ε] and was clipped. Near 0 is normal; a high value means updates are too large (lower the learning rate).',
        ],
        [
          'Zero-variance groups',
          'The share of groups whose G completions all got the same reward: their advantages are 0, so they teach nothing. Near 100% means no signal: the task is too hard or too easy, the completions too short to finish an answer, or G too small.',
        ],
        ['Rollout tokens / s', 'Speed only; mixture steps cost about the same as discrete ones.'],
        [
          'Hidden-state entropy by layer',
          'The entropy of the residual stream after each layer, averaged over the thinking steps of the step’s rollouts: whether training changes the model’s inner state differently for a mixture preset than for the baseline.',
        ],
        [
          'Runs overlaid',
          'Each run keeps its curves, coloured by preset. With the same seed, tasks and starting weights, a difference between two runs comes from the preset — once the runs are long enough to beat the noise.',
        ],
      ]}
    />
  );
}
