// The guided first path: five steps from a first decode to two overlaid training runs. It sits in the
// side column (never over a control), says for each step what to do and what to notice, offers a
// one-click way to do it with small settings, and moves on when the step's action has happened.
import { type ReactNode, useEffect } from 'react';
import {
  closeGuide,
  GUIDE_STEPS,
  GUIDE_TINY,
  guideDecode,
  guideEvaluateBoth,
  guideModes,
  guideTrainBoth,
  initGuide,
  inspectMostMixed,
  openGuide,
} from '../../store/actions/guide.ts';
import { useStore } from '../../store/store.ts';

type GuidePanel = 'decode' | 'explain' | 'evaluate' | 'train';

interface GuideStep {
  title: string;
  /** The panel where the step happens (its strip shows there) and how the card names it. */
  panel: GuidePanel;
  where: string;
  todo: (modes: [string, string]) => ReactNode;
  notice: (modes: [string, string]) => ReactNode;
  action: string;
}

const T = GUIDE_TINY;

const STEPS: GuideStep[] = [
  {
    title: 'Run a decode',
    panel: 'decode',
    where: 'the Decode panel',
    todo: ([a, b]) => (
      <>
        The Decode panel runs one prompt twice with the same seed: <strong>{a}</strong> (one token per step)
        and <strong>{b}</strong> (a mixture per step). Press Run there, or the button below.
      </>
    ),
    notice: () => (
      <>
        Mixture chips list the tokens mixed with their weights; the bold one is the token the transcript
        shows. “mixing off” marks where the thinking ended.
      </>
    ),
    action: `Run a ${T.decodeTokens}-token decode`,
  },
  {
    title: 'Inspect a mixture step',
    panel: 'explain',
    where: 'How MoT-G works',
    todo: () => (
      <>
        In <em>How MoT-G works</em>, move the step slider (or Prev / Next) to a mixture step.
      </>
    ),
    notice: () => (
      <>
        The effective number of tokens 1/Σw²: near 1, the mix is one token. The built-in model is sure of most
        tokens (low entropy), and Dirichlet with c = 1 pushes weights to a corner, so look for the steps where
        it is above 1.
      </>
    ),
    action: 'Show the most mixed step',
  },
  {
    title: 'Evaluate both modes on the same items',
    panel: 'evaluate',
    where: 'the Evaluate panel',
    todo: ([a, b]) => (
      <>
        Evaluate with decode mode <strong>{a}</strong>, then <strong>{b}</strong>, keeping tasks, level,
        questions and seed: the same questions, two rows in the table.
      </>
    ),
    notice: () => (
      <>
        Compare the rows column by column. With a few questions one question is many percent: a difference is
        noise until n is large. Hover a cell for mean score, format rate and reward.
      </>
    ),
    action: `Evaluate both (${T.evalQuestions} questions per task, ${T.evalTokens} tokens)`,
  },
  {
    title: 'Train both',
    panel: 'train',
    where: 'the Train panel',
    todo: ([a, b]) => (
      <>
        One GRPO run with <strong>{a}</strong> and one with <strong>{b}</strong>, both from the model as
        loaded, same seed.
      </>
    ),
    notice: () => (
      <>
        The runs overlay on every chart, coloured by preset. Reward is what GRPO maximises (score × 2 plus
        format terms); accuracy counts fully right answers. Zero-variance groups (all G completions rewarded
        the same) teach nothing.
      </>
    ),
    action: `Train both (G = ${T.trainG}, ${T.trainSteps} steps, ${T.trainTokens} tokens)`,
  },
  {
    title: 'Compare',
    panel: 'train',
    where: 'the Train panel',
    todo: () => <>Read the evaluation table and the overlaid training charts side by side.</>,
    notice: () => (
      <>
        Tiny runs show the mechanics, not a result: the paper trains hundreds of steps and evaluates hundreds
        of questions. Each panel’s <em>What to look for</em> says what every chart and number means.
      </>
    ),
    action: 'Finish the guide',
  },
];

function actionFor(step: number): () => void {
  switch (step) {
    case 0:
      return () => void guideDecode();
    case 1:
      return () => {
        inspectMostMixed();
        document.getElementById('explain-heading')?.scrollIntoView({ block: 'start' });
      };
    case 2:
      return () => void guideEvaluateBoth();
    case 3:
      return () => void guideTrainBoth();
    default:
      return closeGuide;
  }
}

/** Why a step's button waits, or null when it can be pressed. */
function useWaitReason(step: number): string | null {
  const ready = useStore((s) => s.status === 'ready' && !!s.model);
  const busy = useStore((s) => s.guideBusy);
  const decodeRunning = useStore((s) => s.decodeRunning);
  const sides = useStore((s) => (s.streaming ?? s.shown?.decode)?.sides.length ?? 0);
  const other = useStore((s) => s.evalRunning || s.trainActive);
  if (step === 4) return null;
  if (step === 1) return sides > 0 ? null : 'run a decode first';
  if (busy) return `${busy}…`;
  if (!ready) return 'waiting for the model to load…';
  if (decodeRunning && step === 0) return 'decoding…';
  if (other) return 'waiting for the run in progress…';
  return null;
}

/** The current step where it happens: what to do, what to notice, and a one-click way to do it. */
function StepBody({ index, modes }: { index: number; modes: [string, string] }) {
  const step = STEPS[index];
  const wait = useWaitReason(index);
  return (
    <div className="guide-current" data-testid="guide-current">
      <p>{step.todo(modes)}</p>
      <p className="guide-notice">
        <strong>Notice: </strong>
        {step.notice(modes)}
      </p>
      <div className="guide-actions">
        <button type="button" disabled={wait !== null} onClick={actionFor(index)} data-testid="guide-action">
          {step.action}
        </button>
        {wait && (
          <span className="muted small" role="status">
            {wait}
          </span>
        )}
      </div>
      {index < 4 && (
        <p className="muted small">The guide moves on when this is done, whichever button did it.</p>
      )}
    </div>
  );
}

function useModes(): [string, string] {
  const baseline = useStore((s) => guideModes(s)[0]);
  const preset = useStore((s) => guideModes(s)[1]);
  return [baseline, preset];
}

/** The current step's strip inside the panel where it happens (nothing when the guide is elsewhere). */
export function GuideHere({ panel }: { panel: GuidePanel }) {
  const open = useStore((s) => s.guideOpen);
  const index = useStore((s) => s.guideStep);
  const modes = useModes();
  const step = STEPS[index];
  if (!open || !step || step.panel !== panel) return null;
  return (
    <section
      className="guide-here"
      aria-labelledby={`guide-here-${panel}`}
      data-testid="guide-here"
      data-step={index + 1}
    >
      <p id={`guide-here-${panel}`} className="guide-here-title">
        <strong>
          Guide · step {index + 1} of {GUIDE_STEPS}:
        </strong>{' '}
        {step.title}
      </p>
      <StepBody index={index} modes={modes} />
    </section>
  );
}

/** The guide card (nothing when closed). */
export function GuidedPath() {
  useEffect(initGuide, []);
  const open = useStore((s) => s.guideOpen);
  const index = useStore((s) => s.guideStep);
  if (!open) return null;
  return (
    <section className="guide" aria-labelledby="guide-heading" data-testid="guide" data-step={index + 1}>
      <div className="guide-head">
        <h2 id="guide-heading">
          First steps{' '}
          <span className="muted small">
            · {index + 1} of {GUIDE_STEPS}
          </span>
        </h2>
        <button type="button" className="link" onClick={closeGuide} data-testid="guide-close">
          Close the guide
        </button>
      </div>
      <p className="small">
        Five steps on the built-in model, a few minutes in all. Each shows up in the panel where it happens,
        says what to notice, and moves on once it is done.
      </p>
      <ol className="guide-steps">
        {STEPS.map((s, i) => (
          <li
            key={s.title}
            className={i < index ? 'done' : i === index ? 'current' : ''}
            aria-current={i === index ? 'step' : undefined}
          >
            <span className="guide-mark" aria-hidden="true">
              {i < index ? '✓' : i + 1}
            </span>
            <span className="guide-title">{s.title}</span>
            {i === index && (
              <span className="guide-where">
                In {s.where}: <a href={`#${s.panel}-heading`}>go there</a>.
              </span>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** The header's button that brings the guide back. */
export function GuideButton() {
  return (
    <button
      type="button"
      className="secondary"
      onClick={openGuide}
      data-testid="guide-open"
      title="The guided first path: decode, inspect, evaluate, train, compare"
    >
      Guide
    </button>
  );
}
