// "How MoT-G works": one decode step of the decode on screen, taken apart with the engine's own numbers
// for it — the next-token distribution, the candidates (top-k), the weights, the weighted sum of embeddings
// fed back (effective number of tokens, representative) and the stop rule that ends the mixing. A slider
// walks the decoded steps; one line per preset says what its knobs mean.
import { stopDefaultsFor } from '../../mot/presets.ts';
import { inspectMostMixed, inspectStep } from '../../store/actions/guide.ts';
import {
  effectiveTokens,
  explainedSide,
  idsRankedByP,
  isMixtureMode,
  sideSpread,
  stepKind,
  topProbabilityBound,
  weightSource,
} from '../../store/lib/explain.ts';
import { useStore } from '../../store/store.ts';
import type { DecodeMode, SideResult, StepView } from '../../store/types.ts';
import { modeColor } from '../lib/palette.ts';
import { Panel } from '../widgets/fields.tsx';
import { showToken } from '../widgets/MixtureChips.tsx';
import { GuideHere } from './GuidedPath.tsx';

const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');
const num = (v: unknown, d: number) => (typeof v === 'number' ? v : d);

/** One line per mode: what it does and what its knob means. */
export const PRESET_LINES: Record<DecodeMode, string> = {
  discrete:
    'one token sampled from the whole distribution p and fed back as its own embedding: standard decoding and GRPO.',
  'discrete-top-k':
    'one token sampled from the same top k the mixtures use (the matched baseline: it picks a token as often as dirichlet’s representative does).',
  dirichlet:
    'the paper’s method: the top k tokens of p (k = 2), weights w drawn from Dirichlet(c · p̃) where p̃ is p over those k renormalised; c, the concentration, sets how close w stays to p̃. With c = 1 the k concentrations sum to 1, each below 1, and such a Dirichlet puts its draws in the corners: one token takes nearly all the weight, so the mixture is often nearly one-hot. A larger c (10, 100) keeps w near p̃.',
  'different-tokens':
    'the paper’s other variant: k tokens sampled from p without replacement, weighted by p̃ (p renormalised over them).',
  'soft-thinking':
    'Zhang et al. 2025: every token left after top-p 0.95 and min-p 0.001, at most k = 10, weighted by p̃; the representative is the argmax. Cold Stop ends the thinking after a run of near-certain steps.',
  'mixture-of-inputs':
    'Zhuang et al. 2025: samples a token y from the top k = 20 and blends it with p̃: w = (H·p̃ + (β+1−H)·[y]) / (β+1), H the normalised entropy of p̃; a larger β leans toward y. The representative is y.',
  'soft-tokens':
    'Butt et al. 2025: the whole vocabulary weighted by p at τ = 0.5 (sharper than p), plus Gaussian noise of σ × the embedding RMS added to the mixed embedding; the representative is the argmax.',
};

function Bar({ w, color, label }: { w: number; color: string; label: string }) {
  return (
    <span className="explain-bar" role="img" aria-label={label}>
      <span style={{ width: `${Math.max(0.5, 100 * w)}%`, background: color }} />
    </span>
  );
}

/** Box 1: what the record says about p at this step. */
function Distribution({ side, step }: { side: SideResult; step: StepView }) {
  const bound = topProbabilityBound(step.entropy);
  const src = weightSource(side.mode);
  const top = idsRankedByP(side.mode) || step.ids.length === 1;
  const t = side.params.temperature;
  return (
    <li className="explain-box">
      <h3>1 · The next-token distribution p</h3>
      <p>
        The model scores every token of its vocabulary: p = softmax(logits / T)
        {typeof t === 'number' ? `, T = ${t}` : ''}
        {side.mode === 'soft-tokens' && step.mode === 'mixture' ? ' (this preset mixes at τ = 0.5)' : ''}. Its
        entropy here is{' '}
        <strong data-testid="explain-entropy">
          {Number.isFinite(step.entropy) ? `${f3(step.entropy)} nats` : '—'}
        </strong>
        {bound !== null && top && (
          <>
            , so its most likely token {JSON.stringify(showToken(step.texts[0] ?? ''))} has p ≥ e<sup>−H</sup>{' '}
            = <strong>{f3(bound)}</strong>
            {bound > 0.9 ? ': the model is nearly certain, and no weighting can mix much here' : ''}
          </>
        )}
        .
      </p>
      {step.mode === 'mixture' && src === 'p' && (
        <p className="muted small">The weights below are p itself (at τ = 0.5): its top tokens.</p>
      )}
      {step.mode === 'mixture' && src === 'p-tilde' && (
        <p className="muted small">The weights below are p̃: p over the candidates, renormalised.</p>
      )}
      {step.mode === 'mixture' && (src === 'draw' || src === 'blend') && (
        <p className="muted small">
          The record keeps p’s entropy and its ranking, not p itself: the weights below are{' '}
          {src === 'draw' ? 'a random draw whose mean is p̃' : 'p̃ blended with the sampled token'}.
        </p>
      )}
    </li>
  );
}

/** Box 2: the candidate ids (top-k) in the engine's order. */
function Candidates({ side, step }: { side: SideResult; step: StepView }) {
  const k = side.params.k;
  const how =
    step.mode !== 'mixture'
      ? step.forced
        ? 'No choice: the stop rule forced this token into the transcript.'
        : `One token sampled${side.mode === 'discrete' || step.phase === 'answer' ? '' : ` from the top ${k}`}.`
      : side.mode === 'different-tokens'
        ? `${k} tokens sampled from p without replacement, in draw order.`
        : side.mode === 'soft-tokens'
          ? 'Every token of the vocabulary (the heaviest are listed).'
          : side.mode === 'soft-thinking'
            ? `The tokens left after top-p ${side.params.topP} and min-p ${side.params.minP}, at most k = ${k}, by decreasing p.`
            : `The top k = ${k} tokens of p, by decreasing p.`;
  return (
    <li className="explain-box">
      <h3>
        2 · The candidates{step.mode === 'mixture' ? ` (${step.ids.length}${step.rest ? '+' : ''})` : ''}
      </h3>
      <p>{how}</p>
      <ol className="explain-ids" data-testid="explain-ids">
        {step.ids.map((id, j) => (
          <li key={id} data-id={id}>
            <code>{showToken(step.texts[j] ?? '')}</code> <span className="muted">id {id}</span>
          </li>
        ))}
        {step.rest && <li className="muted">+ {step.rest.count} more ids</li>}
      </ol>
    </li>
  );
}

/** Box 3: the weights as bars and numbers. */
function Weights({ side, step }: { side: SideResult; step: StepView }) {
  const color = modeColor(side.mode);
  const c = num(side.params.concentration, 1);
  return (
    <li className="explain-box">
      <h3>3 · The weights w</h3>
      <ul className="explain-weights">
        {step.ids.map((id, j) => {
          const w = step.weights[j] ?? 0;
          const text = showToken(step.texts[j] ?? '');
          return (
            <li key={id}>
              <code className={id === step.representative ? 'rep' : ''}>{text}</code>
              <Bar w={w} color={color} label={`weight of ${JSON.stringify(text)}: ${f3(w)}`} />
              <span className="explain-w" data-testid="explain-weight">
                {f3(w)}
              </span>
            </li>
          );
        })}
        {step.rest && (
          <li className="muted">
            {step.rest.count} more ids: {f3(step.rest.weight)} in all
          </li>
        )}
      </ul>
      {side.mode === 'dirichlet' && step.mode === 'mixture' && (
        <p className="muted small">
          w ~ Dirichlet({c} · p̃).{' '}
          {c <= 1
            ? `With c = ${c} every concentration is below 1: draws land near a corner, so one weight is usually close to 1.`
            : `With c = ${c} the draws stay closer to p̃.`}
        </p>
      )}
    </li>
  );
}

const REP_RULE: Partial<Record<DecodeMode, string>> = {
  dirichlet: 'drawn with the probabilities w',
  'different-tokens': 'drawn with the probabilities w',
  'soft-thinking': 'the argmax of p',
  'mixture-of-inputs': 'the sampled token y',
  'soft-tokens': 'the argmax of p',
};

function mixLabel(step: StepView): string {
  return step.ids
    .map(
      (_, j) =>
        `${(100 * (step.weights[j] ?? 0)).toFixed(1)}% ${JSON.stringify(showToken(step.texts[j] ?? ''))}`,
    )
    .join(', ');
}

/** Box 4: what the next step reads: Σ w·E[id], its spread and the representative. */
function FedBack({ side, step }: { side: SideResult; step: StepView }) {
  const eff = effectiveTokens(step);
  const rep = showToken(step.repText);
  const sum = step.ids
    .slice(0, 4)
    .map((_, j) => `${f3(step.weights[j] ?? 0)}·E[${JSON.stringify(showToken(step.texts[j] ?? ''))}]`)
    .join(' + ');
  const more = step.ids.length > 4 || step.rest ? ' + …' : '';
  const noise = side.mode === 'soft-tokens' && step.mode === 'mixture';
  return (
    <li className="explain-box">
      <h3>4 · Fed back: the weighted sum of embeddings</h3>
      <span className="explain-mix" role="img" aria-label={`the mix: ${mixLabel(step)}`}>
        {step.weights.map((w, j) => (
          <span
            key={step.ids[j]}
            style={{ width: `${100 * w}%`, background: modeColor(side.mode), opacity: 1 - 0.3 * (j % 3) }}
          />
        ))}
      </span>
      <p>
        <code className="explain-sum">
          e = {sum}
          {more}
          {noise ? ` + noise (σ = ${side.params.sigma} × RMS)` : ''}
        </code>
      </p>
      <p>
        Effective number of tokens 1/Σw² ={' '}
        <strong data-testid="explain-neff">
          {eff.exact ? '' : '≤ '}
          {f3(eff.value)}
        </strong>{' '}
        <span className="muted">(1: a single token; {step.ids.length} if the weights were equal)</span>
      </p>
      <p>
        Representative: <code data-testid="explain-rep">{rep}</code>{' '}
        <span className="muted">
          (id {step.representative}
          {step.mode === 'mixture' && REP_RULE[side.mode] ? `, ${REP_RULE[side.mode]}` : ''}): the token the
          transcript shows and the stop rule reads; the model itself reads e.
        </span>
        {step.mode === 'mixture' && idsRankedByP(side.mode) && step.representative !== step.ids[0] && (
          <strong className="explain-flag"> Not the most likely token.</strong>
        )}
      </p>
    </li>
  );
}

/** Box 5: the stop rule in force for the preset, and where this decode switched. */
function StopRule({ side, step, index }: { side: SideResult; step: StepView; index: number }) {
  const mixing = isMixtureMode(side.mode);
  const st = mixing ? stopDefaultsFor(side.mode) : null;
  const cold = side.mode === 'soft-thinking' ? side.params.coldStop !== false : (st?.coldStop ?? false);
  const off = side.mixingOffAt;
  return (
    <li className="explain-box">
      <h3>5 · When mixing stops</h3>
      {mixing && st ? (
        <p>
          The thinking phase ends when the representative tokens spell <code>&lt;/think&gt;</code>
          {cold
            ? ` or, by Cold Stop, after ${st.coldStopSteps} steps in a row with entropy below ${st.coldStopThreshold} nats (then </think> is forced)`
            : ''}
          ; from then on every step is one token (the answer). EOS ends the run in either phase.
        </p>
      ) : (
        <p>This side never mixes: every step is one token.</p>
      )}
      <p data-testid="explain-phase">
        {off === null
          ? mixing
            ? `In this decode the thinking never ended within ${side.steps.length} tokens.`
            : ''
          : `In this decode mixing stopped at step ${off}; this step (${index}) is ${index < off ? 'before it: thinking' : 'after it: answer'}.`}
        {step.phase ? ` The engine marks it “${step.phase}”.` : ''}
      </p>
    </li>
  );
}

function Spread({ side }: { side: SideResult }) {
  const s = sideSpread(side);
  if (s.mixtureSteps === 0) return null;
  return (
    <p className="explain-spread" data-testid="explain-spread">
      In this decode {s.nearlyOneHot} of {s.mixtureSteps} mixture steps put ≥ 99% of the weight on one token
      (mean 1/Σw² = {s.meanEffective.toFixed(2)}, mean entropy {f3(s.meanEntropy)} nats).{' '}
      {s.meanEntropy < 0.1
        ? 'The model is sure of most tokens (low entropy), so there is little to mix: a mixture shows where it hesitates.'
        : ''}
    </p>
  );
}

function Stepper({ side, index }: { side: SideResult; index: number }) {
  const n = side.steps.length;
  const step = side.steps[index];
  const spread = sideSpread(side);
  return (
    <div className="explain-stepper">
      <button
        type="button"
        className="secondary"
        disabled={index <= 0}
        onClick={() => inspectStep(index - 1)}
        aria-label="Previous decode step"
      >
        ◀ Prev
      </button>
      <label className="explain-slider">
        <span>Decode step</span>
        <input
          type="range"
          min={0}
          max={Math.max(0, n - 1)}
          step={1}
          value={index}
          onChange={(e) => inspectStep(Number(e.target.value))}
          data-testid="explain-slider"
        />
      </label>
      <button
        type="button"
        className="secondary"
        disabled={index >= n - 1}
        onClick={() => inspectStep(index + 1)}
        aria-label="Next decode step"
      >
        Next ▶
      </button>
      {spread.mostMixed !== null && (
        <button
          type="button"
          className="secondary"
          onClick={inspectMostMixed}
          data-testid="explain-most-mixed"
        >
          Most mixed step
        </button>
      )}
      <span className="muted" aria-live="polite" data-testid="explain-where">
        step {index} of {n} · {step ? stepKind(step) : '—'}
        {step && step.mode === 'mixture' ? ` · ${step.ids.length} tokens mixed` : ''}
      </span>
    </div>
  );
}

function Intro() {
  return (
    <p className="explain-intro">
      At every step a language model turns its context into a <em>next-token distribution</em> p. Ordinary
      decoding samples one token and feeds its embedding back. <strong>MoT-G</strong> keeps k candidate
      tokens, gives them weights w, and feeds back the weighted sum of their embeddings — a{' '}
      <em>mixture of tokens</em> — so the next step sees several possibilities at once, while the transcript
      shows one representative token. When the thinking ends (<code>&lt;/think&gt;</code>) decoding is one
      token at a time again, for the answer. GRPO then rewards the mixtures that led to right answers.
    </p>
  );
}

function PresetLines({ current }: { current: DecodeMode | null }) {
  return (
    <details className="look-for" data-testid="explain-presets">
      <summary>The presets in one line each (k, c, β, σ)</summary>
      <dl className="explain-presets">
        {(Object.keys(PRESET_LINES) as DecodeMode[]).map((m) => (
          <div key={m} className={m === current ? 'current' : ''}>
            <dt>
              <span className="swatch" style={{ background: modeColor(m) }} aria-hidden="true" /> {m}
            </dt>
            <dd>{PRESET_LINES[m]}</dd>
          </div>
        ))}
      </dl>
      <p className="muted small">
        k: how many tokens are mixed. c: the Dirichlet concentration. β: Mixture of Inputs’ weight on the
        sampled token. σ: the noise soft-tokens adds. T: the temperature of p (higher: flatter, more to mix).
      </p>
    </details>
  );
}

/** The explained side's step `index`, as five boxes in the order the engine computes them. */
function StepFlow({ side, index }: { side: SideResult; index: number }) {
  const step = side.steps[index];
  if (!step) return <p className="muted">This step has not arrived yet.</p>;
  const eff = effectiveTokens(step);
  return (
    <ol
      className="explain-flow"
      data-testid="explain-step"
      data-step={index}
      data-mode={side.mode}
      data-kind={stepKind(step)}
      data-ids={step.ids.join(',')}
      data-weights={JSON.stringify(step.weights)}
      data-neff={eff.value}
      data-representative={step.representative}
    >
      <Distribution side={side} step={step} />
      <Candidates side={side} step={step} />
      <Weights side={side} step={step} />
      <FedBack side={side} step={step} />
      <StopRule side={side} step={step} index={index} />
    </ol>
  );
}

export function Explainer() {
  const streaming = useStore((s) => s.streaming);
  const shown = useStore((s) => s.shown?.decode ?? null);
  const origin = useStore((s) => s.origin);
  const wanted = useStore((s) => s.explainStep);
  const side = explainedSide(streaming ?? shown);
  const n = side?.steps.length ?? 0;
  const index = Math.min(Math.max(0, wanted), Math.max(0, n - 1));
  return (
    <Panel id="explain" title="How MoT-G works">
      <Intro />
      <GuideHere panel="explain" />
      {side && n > 0 ? (
        <>
          <p className="muted small" data-testid="explain-source">
            The numbers below are the engine’s own for one step of the {side.mode} side of the decode on
            screen
            {origin === 'example' ? ' (the bundled example run until you run a decode)' : ''}.
          </p>
          <Stepper side={side} index={index} />
          <StepFlow side={side} index={index} />
          <Spread side={side} />
        </>
      ) : (
        <p className="muted">Run a decode: its steps appear here one by one.</p>
      )}
      <PresetLines current={side?.mode ?? null} />
    </Panel>
  );
}
