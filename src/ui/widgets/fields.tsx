// Labelled form controls: every input has a visible label, a stable id and keyboard access.
import { type ReactNode, useEffect, useId, useRef, useState } from 'react';

interface NumberFieldProps {
  label: string;
  value: number;
  onChange: (v: number) => void;
  min?: number;
  max?: number;
  step?: number;
  /** Show a range slider beside the box. */
  slider?: boolean;
  disabled?: boolean;
  hint?: string;
  testId?: string;
}

/** How long a number box waits after the last keystroke before it commits what was typed. */
export const NUMBER_COMMIT_PAUSE_MS = 800;

/**
 * A number box (and optional slider) that reports only valid numbers within [min, max]. Typing commits on
 * Enter, on leaving the box, or after a pause of NUMBER_COMMIT_PAUSE_MS, never per keystroke: typing "32"
 * is one change to 32, not a change to 3 first (each change can re-run a decode). The slider commits at once.
 */
export function NumberField({
  label,
  value,
  onChange,
  min,
  max,
  step,
  slider,
  disabled,
  hint,
  testId,
}: NumberFieldProps) {
  const id = useId();
  const [text, setText] = useState(String(value));
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  // The latest props for a commit that fires after a pause.
  const latest = useRef({ value, onChange, min, max });
  latest.current = { value, onChange, min, max };
  useEffect(() => {
    setText((t) => (Number(t) === value ? t : String(value)));
  }, [value]);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  const commit = (raw: string): boolean => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    const { value: now, onChange: report, min: lo, max: hi } = latest.current;
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v)) return false;
    if ((lo !== undefined && v < lo) || (hi !== undefined && v > hi)) return false;
    if (v !== now) report(v);
    return true;
  };
  const typed = (raw: string) => {
    setText(raw);
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => commit(raw), NUMBER_COMMIT_PAUSE_MS);
  };
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="field-row">
        {slider && (
          <input
            type="range"
            aria-label={`${label} (slider)`}
            min={min}
            max={max}
            step={step}
            value={value}
            disabled={disabled}
            onChange={(e) => {
              setText(e.target.value);
              commit(e.target.value);
            }}
          />
        )}
        <input
          id={id}
          type="number"
          inputMode="decimal"
          min={min}
          max={max}
          step={step}
          value={text}
          disabled={disabled}
          data-testid={testId}
          aria-describedby={hint ? `${id}-hint` : undefined}
          onChange={(e) => typed(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') commit(e.currentTarget.value);
          }}
          onBlur={(e) => {
            // What was typed counts; an invalid entry goes back to the value in force.
            if (!commit(e.currentTarget.value)) setText(String(latest.current.value));
          }}
        />
      </div>
      {hint && (
        <span id={`${id}-hint`} className="hint">
          {hint}
        </span>
      )}
    </div>
  );
}

interface SelectFieldProps<T extends string> {
  label: string;
  value: T;
  options: readonly (T | { value: T; label: string; disabled?: boolean })[];
  onChange: (v: T) => void;
  disabled?: boolean;
  testId?: string;
}

export function SelectField<T extends string>({
  label,
  value,
  options,
  onChange,
  disabled,
  testId,
}: SelectFieldProps<T>) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        value={value}
        disabled={disabled}
        data-testid={testId}
        onChange={(e) => onChange(e.target.value as T)}
      >
        {options.map((o) => {
          const opt = typeof o === 'string' ? { value: o, label: o, disabled: false } : o;
          return (
            <option key={opt.value} value={opt.value} disabled={opt.disabled}>
              {opt.label}
            </option>
          );
        })}
      </select>
    </div>
  );
}

export function CheckField({
  label,
  checked,
  onChange,
  disabled,
}: {
  label: ReactNode;
  checked: boolean;
  onChange: (v: boolean) => void;
  disabled?: boolean;
}) {
  return (
    <label className="check">
      <input
        type="checkbox"
        checked={checked}
        disabled={disabled}
        onChange={(e) => onChange(e.target.checked)}
      />
      <span>{label}</span>
    </label>
  );
}

export function ProgressBar({
  label,
  value,
  max,
  detail,
}: {
  label: string;
  value: number;
  max: number | null;
  detail?: string;
}) {
  const pct = max && max > 0 ? Math.min(100, (100 * value) / max) : null;
  return (
    <div className="progress">
      <div className="progress-label">
        <span>{label}</span>
        <span className="muted">{detail ?? (pct === null ? '' : `${pct.toFixed(0)}%`)}</span>
      </div>
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={max ?? undefined}
        aria-valuenow={max ? value : undefined}
      >
        <div
          className={`progress-fill${pct === null ? ' indeterminate' : ''}`}
          style={{ width: pct === null ? '30%' : `${pct}%` }}
        />
      </div>
    </div>
  );
}

/** A panel: a section with a heading that labels it. */
export function Panel({
  id,
  title,
  actions,
  children,
  className,
}: {
  id: string;
  title: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section
      className={`panel ${className ?? ''}`}
      aria-labelledby={`${id}-heading`}
      data-testid={`${id}-panel`}
    >
      <div className="panel-head">
        <h2 id={`${id}-heading`}>{title}</h2>
        {actions && <div className="panel-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}
