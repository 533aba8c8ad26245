// The transcript of one side as chips: a discrete step is its token; a mixture step shows its tokens with
// their weights (the representative in bold). Hovering or focusing a chip (Tab, arrow keys) shows that
// step's details under the transcript: ids, weights, next-token and hidden-state entropy.
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
        representative {JSON.stringify(step.repText)} (id {step.representative}) · next-token entropy{' '}
        {Number.isFinite(step.entropy) ? `${step.entropy.toFixed(3)} nats` : '—'}
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
  const detailsId = useId();
  const onKey = (e: KeyboardEvent<HTMLButtonElement>, i: number) => {
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : null;
    if (next === null || next < 0 || next >= steps.length) return;
    e.preventDefault();
    const list = e.currentTarget.closest('ol');
    list?.querySelectorAll<HTMLButtonElement>('button.chip')[next]?.focus();
  };
  const items: ReactNode[] = [];
  const keys = steps.map((_, i) => `step-${i}`);
  steps.forEach((st, i) => {
    if (mixingOffAt === i)
      items.push(
        <li key="mixing-off" className="switch-marker" data-testid="mixing-off">
          mixing off
        </li>,
      );
    if (!st) return;
    const mixture = st.mode === 'mixture' && st.ids.length > 1;
    const common = {
      type: 'button' as const,
      'aria-describedby': detailsId,
      'aria-current': active === i ? ('step' as const) : undefined,
      onFocus: () => setActive(i),
      onMouseEnter: () => setActive(i),
      onKeyDown: (e: KeyboardEvent<HTMLButtonElement>) => onKey(e, i),
    };
    items.push(
      <li key={keys[i]} className="chip-item">
        {mixture ? (
          <button
            {...common}
            className="chip mixture"
            data-testid="mixture-chip"
            aria-label={`step ${i}: mixture of ${st.ids.map((_, j) => `${JSON.stringify(st.texts[j] ?? '')} ${(st.weights[j] ?? 0).toFixed(2)}`).join(', ')}`}
          >
            {st.ids.slice(0, 3).map((id, j) => (
              <span key={id} className={`mix-part${id === st.representative ? ' rep' : ''}`}>
                <span className="mix-text">{showToken(st.texts[j] ?? '')}</span>
                <span className="mix-w">{(st.weights[j] ?? 0).toFixed(2)}</span>
              </span>
            ))}
            {(st.ids.length > 3 || st.rest) && (
              <span className="mix-more">+{st.ids.length - 3 + (st.rest?.count ?? 0)}</span>
            )}
          </button>
        ) : (
          <button
            {...common}
            className={`chip token${st.forced ? ' forced' : ''}`}
            aria-label={`step ${i}: ${JSON.stringify(st.repText)}${st.forced ? ' (forced)' : ''}`}
          >
            {showToken(st.repText)}
          </button>
        )}
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
          <span className="muted">Hover or focus a token for its ids, weights and entropies.</span>
        )}
      </p>
    </div>
  );
}
