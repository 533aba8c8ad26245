// A box that scrolls sideways when its content (a wide table) is wider than the screen: while there is
// more to the right it shows a fade at that edge and a "scroll →" note, and it is then a named, focusable
// region, so a keyboard can scroll it too (axe: scrollable-region-focusable). When everything fits it is
// a plain box and no tab stop.
import { type ReactNode, useEffect, useRef, useState } from 'react';

interface Overflow {
  left: boolean;
  right: boolean;
}

function overflowOf(el: HTMLElement): Overflow {
  // One pixel of slack: zoomed pages report fractional widths.
  return {
    left: el.scrollLeft > 1,
    right: el.scrollLeft + el.clientWidth < el.scrollWidth - 1,
  };
}

export function ScrollArea({
  label,
  className = 'table-scroll',
  children,
}: {
  /** The region's accessible name (what scrolls). */
  label: string;
  className?: string;
  children: ReactNode;
}) {
  const ref = useRef<HTMLElement>(null);
  const [over, setOver] = useState<Overflow>({ left: false, right: false });
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const update = () =>
      setOver((o) => {
        const n = overflowOf(el);
        return n.left === o.left && n.right === o.right ? o : n;
      });
    update();
    const observer = new ResizeObserver(update);
    observer.observe(el);
    for (const child of Array.from(el.children)) observer.observe(child);
    el.addEventListener('scroll', update, { passive: true });
    return () => {
      observer.disconnect();
      el.removeEventListener('scroll', update);
    };
  }, []);
  const scrolls = over.left || over.right;
  return (
    <div
      className={`scroll-area${over.left ? ' more-left' : ''}${over.right ? ' more-right' : ''}`}
      data-testid="scroll-area"
      data-scrolls={scrolls}
    >
      <div className="scroll-frame">
        {/* A named section is a region; it takes focus only while it scrolls. */}
        <section
          ref={ref}
          className={className}
          aria-label={scrolls ? `${label} (scrolls sideways)` : label}
          tabIndex={scrolls ? 0 : undefined}
        >
          {children}
        </section>
      </div>
      {over.right && (
        <p className="scroll-note" aria-hidden="true" data-testid="scroll-hint">
          scroll →
        </p>
      )}
    </div>
  );
}
