// Comparing a computed tensor with a reference one: the rule every parity check and golden test uses.
// Tolerance is relative to the reference's scale: tol = rel × max|reference| (over the compared
// elements), so a tensor of large logits and one of small gradients are judged alike.

export interface TensorCheck {
  name: string;
  maxAbsErr: number;
  tol: number;
  pass: boolean;
  /** Index of the worst element and its two values, for the failure message. */
  worst: { index: number; got: number; want: number };
}

/** Default relative tolerance (the issues ask for no looser than 1e-4 × max |reference|). */
export const DEFAULT_REL_TOL = 1e-4;

/** mask: optional predicate on the flat index; elements where it is false are not compared. */
export function checkTensor(
  name: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rel = DEFAULT_REL_TOL,
  mask?: (index: number) => boolean,
): TensorCheck {
  if (got.length !== want.length) {
    return {
      name,
      maxAbsErr: Number.POSITIVE_INFINITY,
      tol: 0,
      pass: false,
      worst: { index: -1, got: got.length, want: want.length },
    };
  }
  let maxRef = 0;
  let maxErr = 0;
  let worst = { index: -1, got: 0, want: 0 };
  for (let i = 0; i < want.length; i++) {
    if (mask && !mask(i)) continue;
    const a = got[i];
    const b = want[i];
    maxRef = Math.max(maxRef, Math.abs(b));
    const err = Math.abs(a - b);
    // NaN never passes: treat it as an infinite error.
    if (!(err <= maxErr)) {
      maxErr = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
      worst = { index: i, got: a, want: b };
    }
  }
  const tol = rel * maxRef;
  return { name, maxAbsErr: maxErr, tol, pass: maxErr <= tol, worst };
}

export function formatCheck(backend: string, c: TensorCheck): string {
  return `${c.pass ? 'PASS' : 'FAIL'} ${backend} ${c.name} max_abs_err=${c.maxAbsErr.toExponential(3)} tol=${c.tol.toExponential(3)}`;
}
