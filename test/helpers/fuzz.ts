// A seeded mutation fuzzer for the inputs a user can feed the app (issue 15): byte-level mutations
// (flips, truncations, insertions, splices), JSON-aware ones (values, keys, types, huge numbers, NaN
// written into the text, deep nesting, prototype keys) and text ones (for templates and links). Each
// case's outcome is classified: accepted (and re-validated by the caller), a typed error by class and
// code, an untyped exception (a bug), or a case over the time limit (a bug).

/** mulberry32: small, fast, seeded; the same seed gives the same cases on every machine. */
export class FuzzRng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---- bytes ---------------------------------------------------------------------------------------

const INTERESTING_BYTES = [
  0x00, 0xff, 0x7f, 0x80, 0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x39, 0x2d,
];

/** One random byte-level mutation of `src` (a new array; `src` is untouched). */
export function mutateBytes(rng: FuzzRng, src: Uint8Array): Uint8Array {
  const b = src.slice();
  const at = (extra = 0) => rng.int(b.length + extra);
  switch (rng.int(9)) {
    case 0: {
      for (let k = 1 + rng.int(4); k > 0 && b.length > 0; k--) b[at()] ^= 1 << rng.int(8);
      return b;
    }
    case 1: {
      for (let k = 1 + rng.int(4); k > 0 && b.length > 0; k--) b[at()] = rng.pick(INTERESTING_BYTES);
      return b;
    }
    case 2:
      return b.slice(0, at());
    case 3: {
      const i = at(1);
      const extra = Uint8Array.from({ length: 1 + rng.int(16) }, () => rng.int(256));
      return concat(b.subarray(0, i), extra, b.subarray(i));
    }
    case 4: {
      const i = at();
      return concat(b.subarray(0, i), b.subarray(i + 1 + rng.int(32)));
    }
    case 5: {
      // A run of the file copied elsewhere (a duplicated entry, a repeated region).
      const i = at();
      const piece = b.slice(i, i + 1 + rng.int(64));
      const j = at(1);
      return concat(b.subarray(0, j), piece, b.subarray(j));
    }
    case 6: {
      // The first 8 bytes (safetensors' header length, a BOM, …) are the most sensitive.
      if (b.length > 0) b[rng.int(Math.min(8, b.length))] = rng.int(256);
      return b;
    }
    case 7: {
      // The tail (tensor data, the last line): f32 NaN / Inf patterns.
      const nan = rng.pick([
        [0x00, 0x00, 0xc0, 0x7f],
        [0x00, 0x00, 0x80, 0x7f],
        [0x00, 0x00, 0x80, 0xff],
      ]);
      if (b.length >= 4) b.set(nan, b.length - 4 - 4 * rng.int(Math.min(16, b.length >> 2)));
      return b;
    }
    default:
      return concat(b, b.subarray(0, rng.int(Math.min(b.length, 64) + 1)));
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---- JSON ----------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const HUGE_NUMBERS = [
  0,
  -0,
  -1,
  1,
  0.5,
  -1e-300,
  1e308,
  -1e308,
  2 ** 31,
  2 ** 32 + 1,
  2 ** 53 + 1,
  1e9,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_VALUE,
];
/** Tokens JSON.stringify cannot write: substituted into the text so the parser or the checks meet them. */
const RAW_TOKENS = ['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', 'undefined', '0x10', '01', '1e-999'];
const ODD_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  'ü',
  '\u0000',
];
const ODD_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ufeff',
  '\ud800',
  '../../x',
  '%2e%2e/x',
  'é'.repeat(300),
  'NaN',
  '1',
  // Patterns for fields read as regexes (peft's target_modules): catastrophic backtracking if matched naively.
  '(.*)*X',
  '(.*.*)*q_proj$',
  '.*_proj',
  '[',
  '(a|a)*b',
];

/** Every path (list of keys / indices) to a node of `v`, the root included. */
function paths(v: Json, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (out.length > 4000) return out;
  if (Array.isArray(v)) for (const [i, x] of v.entries()) paths(x, [...prefix, i], out);
  else if (v !== null && typeof v === 'object')
    for (const k of Object.keys(v)) paths(v[k] as Json, [...prefix, k], out);
  return out;
}

function randomValue(rng: FuzzRng, like: Json): Json {
  switch (rng.int(8)) {
    case 0:
      return rng.pick(HUGE_NUMBERS);
    case 1:
      return typeof like === 'number'
        ? like * rng.pick([-1, 2, 1000, 1e6, 0.5, 1e-9]) + rng.pick([0, 0.5, 1])
        : 7;
    case 2:
      return rng.pick(ODD_STRINGS);
    case 3:
      return rng.pick([true, false, null]);
    case 4:
      return [];
    case 5:
      return {};
    case 6:
      return typeof like === 'number' ? String(like) : typeof like === 'string' ? Number(like) || 3 : [like];
    default:
      return rng.chance(0.5) ? [like, like] : { x: like };
  }
}

function nested(depth: number, inner: Json, asArray: boolean): Json {
  let v = inner;
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

/** One JSON-aware mutation of `doc` (deep-copied): a value, key or type changed at a random node. */
export function mutateJson(rng: FuzzRng, doc: Json): Json {
  const root = structuredClone(doc) as Json;
  const all = paths(root);
  const path = rng.pick(all);
  if (path.length === 0) {
    return rng.pick<Json>([[root], null, 1, 'x', [], nested(1 + rng.int(3000), root, rng.chance(0.5))]);
  }
  let parent = root as Record<string | number, Json>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
  const key = path[path.length - 1];
  const old = parent[key];
  switch (rng.int(7)) {
    case 0:
    case 1:
      parent[key] = randomValue(rng, old);
      break;
    case 2:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 3:
      if (Array.isArray(parent)) parent.push(old, old);
      else {
        // A renamed key (a typo) or an odd extra key next to it.
        const renamed = rng.chance(0.5) ? `${String(key).slice(0, -1)}` : rng.pick(ODD_KEYS);
        if (rng.chance(0.5)) delete parent[key];
        Object.defineProperty(parent, renamed, {
          value: old,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      break;
    case 4:
      parent[key] = nested(1 + rng.int(rng.chance(0.2) ? 3000 : 50), old, rng.chance(0.5));
      break;
    case 5:
      parent[key] = Array.isArray(old) ? [] : old !== null && typeof old === 'object' ? {} : null;
      break;
    default:
      parent[key] = typeof old === 'string' ? old + old + rng.pick(ODD_STRINGS) : rng.pick(HUGE_NUMBERS);
  }
  return root;
}

/** A JSON-aware mutation written as text, sometimes with a non-JSON number token substituted in. */
export function mutateJsonText(rng: FuzzRng, doc: Json): string {
  const text = JSON.stringify(mutateJson(rng, doc));
  if (!rng.chance(0.25)) return text;
  const numbers = [...text.matchAll(/-?\d+(\.\d+)?([eE][-+]?\d+)?/g)];
  if (numbers.length === 0) return text;
  const m = rng.pick(numbers);
  const i = m.index ?? 0;
  // Nesting deeper than JSON.stringify / structuredClone / naive recursion can follow (JSON.parse can).
  const deep = () => {
    const n = 10_000 + rng.int(90_000);
    return `${'['.repeat(n)}1${']'.repeat(n)}`;
  };
  return text.slice(0, i) + (rng.chance(0.3) ? deep() : rng.pick(RAW_TOKENS)) + text.slice(i + m[0].length);
}

// ---- text ----------------------------------------------------------------------------------------

/** One character-level mutation of `text`, inserting pieces of `dictionary` (tokens of its language). */
export function mutateText(rng: FuzzRng, text: string, dictionary: readonly string[]): string {
  const at = () => rng.int(text.length + 1);
  switch (rng.int(6)) {
    case 0: {
      const i = at();
      return text.slice(0, i) + rng.pick(dictionary) + text.slice(i);
    }
    case 1: {
      const i = at();
      return text.slice(0, i) + text.slice(i + 1 + rng.int(8));
    }
    case 2:
      return text.slice(0, at());
    case 3: {
      const i = at();
      const j = at();
      return text.slice(0, Math.min(i, j)) + rng.pick(dictionary) + text.slice(Math.max(i, j));
    }
    case 4: {
      const i = rng.int(Math.max(1, text.length));
      return text.slice(0, i) + String.fromCharCode(rng.int(0x3000)) + text.slice(i + 1);
    }
    default: {
      const i = at();
      const piece = text.slice(i, i + 1 + rng.int(40));
      const j = at();
      return text.slice(0, j) + piece.repeat(1 + rng.int(3)) + text.slice(j);
    }
  }
}

// ---- running and reporting -----------------------------------------------------------------------

/** The longest a single case may take. */
export const CASE_LIMIT_MS = 5000;

export interface FuzzReport {
  format: string;
  cases: number;
  accepted: number;
  /** Typed errors by `Class:code`. */
  typed: Record<string, number>;
  untyped: number;
  timeouts: number;
  /** The first few untyped exceptions and slow cases, with the input that caused them. */
  failures: { kind: 'untyped' | 'timeout'; error: string; input: string }[];
  slowestMs: number;
}

/** `Class:code` when `e` is one of the typed errors a module reports bad input with, else null. */
export type Classify = (e: unknown) => string | null;

/**
 * Runs `cases` mutations: `make(rng)` builds the input, `check(input)` feeds it to the module and
 * re-validates an accepted result (throwing a plain Error when the result is not valid: it counts as
 * untyped). `show(input)` describes a failing input in the report.
 */
export async function runFuzz<T>(opts: {
  format: string;
  seed: number;
  cases: number;
  make: (rng: FuzzRng, i: number) => T;
  check: (input: T) => unknown | Promise<unknown>;
  classify: Classify;
  show: (input: T) => string;
}): Promise<FuzzReport> {
  const rng = new FuzzRng(opts.seed);
  const r: FuzzReport = {
    format: opts.format,
    cases: 0,
    accepted: 0,
    typed: {},
    untyped: 0,
    timeouts: 0,
    failures: [],
    slowestMs: 0,
  };
  for (let i = 0; i < opts.cases; i++) {
    const input = opts.make(rng, i);
    const t0 = performance.now();
    let failure: string | null = null;
    try {
      await opts.check(input);
      r.accepted++;
    } catch (e) {
      const cls = opts.classify(e);
      if (cls === null) failure = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      else r.typed[cls] = (r.typed[cls] ?? 0) + 1;
    }
    const ms = performance.now() - t0;
    r.cases++;
    r.slowestMs = Math.max(r.slowestMs, ms);
    if (failure !== null) {
      r.untyped++;
      if (r.failures.length < 5)
        r.failures.push({ kind: 'untyped', error: failure.slice(0, 300), input: opts.show(input) });
    }
    if (ms > CASE_LIMIT_MS) {
      r.timeouts++;
      if (r.failures.length < 5)
        r.failures.push({ kind: 'timeout', error: `${Math.round(ms)} ms`, input: opts.show(input) });
    }
  }
  return r;
}

/** A short, printable excerpt of an input for a failure report. */
export function excerpt(x: string | Uint8Array, max = 200): string {
  const s =
    typeof x === 'string' ? x : `${x.length} bytes: ${Buffer.from(x.subarray(0, 120)).toString('latin1')}`;
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}…(${s.length})` : s);
}

/** The per-format table: cases and the count of each outcome class. */
export function printReports(reports: FuzzReport[]): void {
  console.table(
    reports.map((r) => ({
      format: r.format,
      cases: r.cases,
      accepted: r.accepted,
      typed: Object.values(r.typed).reduce((a, b) => a + b, 0),
      'typed by code': Object.entries(r.typed)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
      untyped: r.untyped,
      timeouts: r.timeouts,
      'slowest ms': Math.round(r.slowestMs),
    })),
  );
  for (const r of reports)
    for (const f of r.failures) console.log(`${r.format} ${f.kind}: ${f.error}\n  input: ${f.input}`);
}
