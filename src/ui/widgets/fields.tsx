// Labelled form controls: every input has a visible label, a stable id and keyboard access.
import { type ReactNode, useEffect, useId, useState } from 'react';

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

/** A number box (and optional slider) that reports only valid numbers within [min, max]. */
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
  useEffect(() => {
    setText((t) => (Number(t) === value ? t : String(value)));
  }, [value]);
  const commit = (raw: string) => {
    setText(raw);
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v)) return;
    if ((min !== undefined && v < min) || (max !== undefined && v > max)) return;
    if (v !== value) onChange(v);
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
            onChange={(e) => commit(e.target.value)}
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
          onChange={(e) => commit(e.target.value)}
          onBlur={() => setText(String(value))}
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
