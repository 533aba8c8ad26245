// The transcript of one side as chips: a discrete step is its token; a mixture step shows its tokens with
// their weights (the representative in bold). Hovering or focusing a chip (Tab, arrow keys) shows that
// step's details under the transcript: ids, weights, next-token and hidden-state entropy. The stream is one
// tab stop; a chip's accessible name is its visible text (with a hidden "step i:" before it).
import { type KeyboardEvent, type ReactNode, useId, useState } from 'react';
import type { StepView } from '../../store/types.ts';

/** Makes whitespace visible in a token. */
export function showToken(text: string): string {
  if (text === '') return '∅';
  return text.replace(/\n/g, '↵').replace(/\t/g, '⇥').replace(/ /g, '␣');
}

function Details({ step, index }: { step: StepView; index: number }) {
  return (
    <>
      <strong>
        Step {index} · {step.forced ? 'forced token' : step.mode}
        {step.phase ? ` · ${step.phase}` : ''}
      </strong>
      <span>
        representative {JSON.stringify(step.repText)} (id {step.representative})
        {step.argmax !== undefined && step.argmax !== step.representative && step.ids.length > 1
          ? ' — not the most probable token'
          : ''}{' '}
        · next-token entropy {Number.isFinite(step.entropy) ? `${step.entropy.toFixed(3)} nats` : '—'}
      </span>
      {step.ids.length > 1 && (
        <span className="detail-mix">
          {step.ids.map((id, j) => (
            <span key={id}>
              {JSON.stringify(step.texts[j] ?? '')} <span className="muted">id {id}</span> w{' '}
              {(step.weights[j] ?? 0).toFixed(3)}
            </span>
          ))}
        </span>
      )}
      {step.rest && (
        <span className="muted">
          and {step.rest.count} more ids with weight {step.rest.weight.toFixed(3)} in all
        </span>
      )}
      {step.hidden && (
        <span className="muted">
          hidden-state entropy by layer: {step.hidden.map((h) => h.toFixed(2)).join(' · ')}
        </span>
      )}
    </>
  );
}

/** Under a mixture chip, how mixed the step is: a bar as long as 1 − the top weight (0 when one-hot, ½ for an
 * even pair), so a row of chips shows at a glance where the mixture really mixed. */
function SpreadBar({ weights }: { weights: number[] }) {
  const spread = 1 - Math.max(...weights);
  return (
    <span className="spread" aria-hidden="true">
      <span className="spread-fill" style={{ width: `${Math.min(100, 200 * spread).toFixed(0)}%` }} />
    </span>
  );
}

/** The chip's own text (its accessible name, so what is seen is what a screen reader hears). */
function ChipBody({ step, index }: { step: StepView; index: number }) {
  if (!(step.mode === 'mixture' && step.ids.length > 1))
    return (
      <>
        <span className="visually-hidden">step {index}: </span>
        {showToken(step.repText)}
        {step.forced && <span className="visually-hidden"> (forced)</span>}
      </>
    );
  const more = step.ids.length - 3 + (step.rest?.count ?? 0);
  return (
    <>
      <span className="visually-hidden">step {index}: mixture of </span>
      {step.ids.slice(0, 3).map((id, j) => (
        <span key={id} className={`mix-part${id === step.representative ? ' rep' : ''}`}>
          <span className="mix-text">{showToken(step.texts[j] ?? '')}</span>{' '}
          <span className="mix-w">{(step.weights[j] ?? 0).toFixed(2)}</span>
        </span>
      ))}
      {more > 0 && <span className="mix-more">+{more}</span>}
    </>
  );
}

const MOVES: Record<string, (i: number, n: number) => number> = {
  ArrowRight: (i) => i + 1,
  ArrowDown: (i) => i + 1,
  ArrowLeft: (i) => i - 1,
  ArrowUp: (i) => i - 1,
  Home: () => 0,
  End: (_, n) => n - 1,
};

/**
 * One tab stop for the whole stream (a roving tabindex): Tab enters at the chip last visited, the arrow
 * keys, Home and End move inside, and the next Tab leaves (35 to 75 chips are not 75 tab stops).
 */
export function MixtureChips({
  steps,
  mixingOffAt,
  label,
}: {
  steps: StepView[];
  mixingOffAt: number | null;
  label: string;
}) {
  const [active, setActive] = useState<number | null>(null);
  const [stop, setStop] = useState(0);
  const detailsId = useId();
  const tabStop = Math.min(stop, Math.max(0, steps.length - 1));
  const onKey = (e: KeyboardEvent<HTMLButtonElement>, i: number) => {
    const move = MOVES[e.key];
    if (!move) return;
    e.preventDefault();
    const next = Math.max(0, Math.min(steps.length - 1, move(i, steps.length)));
    const list = e.currentTarget.closest('ol');
    list?.querySelector<HTMLButtonElement>(`button.chip[data-step="${next}"]`)?.focus();
  };
  const items: ReactNode[] = [];
  steps.forEach((st, i) => {
    if (mixingOffAt === i)
      items.push(
        <li key="mixing-off" className="switch-marker" data-testid="mixing-off">
          mixing off
        </li>,
      );
    if (!st) return;
    const mixture = st.mode === 'mixture' && st.ids.length > 1;
    const offTop = mixture && st.argmax !== undefined && st.representative !== st.argmax;
    items.push(
      // biome-ignore lint/suspicious/noArrayIndexKey: a step's position is its identity
      <li key={`step-${i}`} className="chip-item">
        <button
          type="button"
          className={
            mixture ? `chip mixture${offTop ? ' off-top' : ''}` : `chip token${st.forced ? ' forced' : ''}`
          }
          data-testid={mixture ? 'mixture-chip' : undefined}
          data-off-top={offTop || undefined}
          data-step={i}
          tabIndex={i === tabStop ? 0 : -1}
          aria-describedby={detailsId}
          aria-current={active === i ? 'step' : undefined}
          onFocus={() => {
            setActive(i);
            setStop(i);
          }}
          onMouseEnter={() => setActive(i)}
          onKeyDown={(e) => onKey(e, i)}
        >
          <ChipBody step={st} index={i} />
          {mixture && <SpreadBar weights={st.weights} />}
        </button>
      </li>,
    );
  });
  const shown = active !== null && active < steps.length ? steps[active] : null;
  return (
    <div className="transcript">
      <ol className="chips" aria-label={label} data-testid="token-stream">
        {items}
      </ol>
      <p id={detailsId} className="step-details" data-testid="step-details" aria-live="polite">
        {shown && active !== null ? (
          <Details step={shown} index={active} />
        ) : (
          <span className="muted">
            Hover or focus a token for its ids, weights and entropies (Tab into the stream, then the arrow
            keys, Home and End).
          </span>
        )}
      </p>
    </div>
  );
}
