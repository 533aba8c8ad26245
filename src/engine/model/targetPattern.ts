// peft's `target_modules` given as one string is a Python regular expression that must `re.fullmatch` a
// module's name. JavaScript's RegExp backtracks, so `(.*)*X` takes seconds to fail; this compiles the
// pattern to a Thompson NFA and simulates every state at once: time O(pattern × name), never exponential.
// The language is the subset adapters use: literals, escapes, `.`, `[...]` classes, groups, `|`,
// `* + ? {m,n}` (lazy forms too), `^ $ \A \Z`. Lookarounds, backreferences and inline flags cannot be
// matched this way and are refused, as is a pattern over MAX_TARGET_PATTERN_LENGTH characters.

/** Longest pattern accepted (real ones are a few dozen characters). */
export const MAX_TARGET_PATTERN_LENGTH = 1000;
/** Bound on the compiled automaton, so `{m,n}` counts cannot blow it up. */
const MAX_STATES = 20_000;
/** Bound on one `{m,n}` count (Python's own limit is far higher; adapters never need one). */
const MAX_REPEAT = 1000;

type CharTest = (c: number) => boolean;
type Assertion = 'start' | 'end';

type PatternNode =
  | { kind: 'char'; test: CharTest }
  | { kind: 'assert'; at: Assertion }
  | { kind: 'seq'; items: PatternNode[] }
  | { kind: 'alt'; options: PatternNode[] }
  | { kind: 'repeat'; node: PatternNode; min: number; max: number };

type State =
  | { op: 'char'; test: CharTest; next: number }
  | { op: 'split'; a: number; b: number }
  | { op: 'assert'; at: Assertion; next: number }
  | { op: 'match' };

/** A pattern outside the supported language, with the position it stopped at. */
export class TargetPatternError extends Error {
  constructor(message: string, position: number) {
    super(`${message} at position ${position}`);
    this.name = 'TargetPatternError';
  }
}

const isDigit: CharTest = (c) => /\p{Nd}/u.test(String.fromCharCode(c));
const isWord: CharTest = (c) => c === 95 || /[\p{L}\p{N}]/u.test(String.fromCharCode(c));
const isSpace: CharTest = (c) => /\s/.test(String.fromCharCode(c));
const not =
  (t: CharTest): CharTest =>
  (c) =>
    !t(c);
const CLASS_ESCAPES: Record<string, CharTest> = {
  d: isDigit,
  D: not(isDigit),
  w: isWord,
  W: not(isWord),
  s: isSpace,
  S: not(isSpace),
};
const CONTROL_ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, f: 12, v: 11, a: 7, '0': 0 };

class Parser {
  private pos = 0;
  constructor(private readonly src: string) {}

  parse(): PatternNode {
    const node = this.alternation();
    if (this.pos < this.src.length) throw this.fail('unbalanced ")"');
    return node;
  }

  private fail(what: string): TargetPatternError {
    return new TargetPatternError(what, this.pos);
  }

  private alternation(): PatternNode {
    const options = [this.sequence()];
    while (this.src[this.pos] === '|') {
      this.pos++;
      options.push(this.sequence());
    }
    return options.length === 1 ? options[0] : { kind: 'alt', options };
  }

  private sequence(): PatternNode {
    const items: PatternNode[] = [];
    while (this.pos < this.src.length && this.src[this.pos] !== '|' && this.src[this.pos] !== ')') {
      items.push(this.quantified(this.atom()));
    }
    return { kind: 'seq', items };
  }

  private quantified(node: PatternNode): PatternNode {
    const bounds = this.quantifier();
    if (!bounds) return node;
    if (node.kind === 'assert') throw this.fail('nothing to repeat');
    if (this.src[this.pos] === '?') this.pos++; // lazy: the same set of full matches
    if (this.quantifier()) throw this.fail('multiple repeat');
    return { kind: 'repeat', node, min: bounds[0], max: bounds[1] };
  }

  private quantifier(): [number, number] | null {
    const c = this.src[this.pos];
    if (c === '*' || c === '+' || c === '?') {
      this.pos++;
      return c === '*' ? [0, Infinity] : c === '+' ? [1, Infinity] : [0, 1];
    }
    if (c !== '{') return null;
    // As in Python, a `{` that does not open a well-formed count is a literal.
    const m = /^\{(\d*)(,(\d*))?\}/.exec(this.src.slice(this.pos));
    if (!m || (m[1] === '' && m[2] === undefined)) return null;
    const min = m[1] === '' ? 0 : Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT))
      throw this.fail(`a repeat count over ${MAX_REPEAT}`);
    if (max < min) throw this.fail('a repeat count with min > max');
    this.pos += m[0].length;
    return [min, max];
  }

  private atom(): PatternNode {
    const c = this.src[this.pos];
    if (c === '*' || c === '+' || c === '?') throw this.fail('nothing to repeat');
    if (c === '(') return this.group();
    if (c === '[') return { kind: 'char', test: this.charClass() };
    this.pos++;
    if (c === '.') return { kind: 'char', test: (x) => x !== 10 };
    if (c === '^') return { kind: 'assert', at: 'start' };
    if (c === '$') return { kind: 'assert', at: 'end' };
    const escaped = c === '\\' ? this.escape(false) : c.charCodeAt(0);
    if (escaped === 'start' || escaped === 'end') return { kind: 'assert', at: escaped };
    return { kind: 'char', test: typeof escaped === 'number' ? (x) => x === escaped : escaped };
  }

  private group(): PatternNode {
    this.pos++;
    if (this.src[this.pos] === '?') {
      const named = /^\?P<[A-Za-z_]\w*>/.exec(this.src.slice(this.pos));
      if (this.src[this.pos + 1] === ':') this.pos += 2;
      else if (named) this.pos += named[0].length;
      else throw this.fail('lookarounds, backreferences and inline flags are not supported');
    }
    const inner = this.alternation();
    if (this.src[this.pos] !== ')') throw this.fail('missing ")"');
    this.pos++;
    return inner;
  }

  /** After a backslash: one character's code, a class such as `\d`, or (outside a class) an anchor. */
  private escape(inClass: boolean): number | CharTest | Assertion {
    const c = this.src[this.pos];
    if (c === undefined) throw this.fail('a trailing backslash');
    this.pos++;
    const cls = CLASS_ESCAPES[c];
    if (cls) return cls;
    if (!inClass && (c === 'A' || c === 'Z')) return c === 'A' ? 'start' : 'end';
    if (c in CONTROL_ESCAPES && !(c === '0' && /\d/.test(this.src[this.pos] ?? '')))
      return CONTROL_ESCAPES[c];
    if (c === 'x' && /^[0-9a-fA-F]{2}/.test(this.src.slice(this.pos))) {
      this.pos += 2;
      return Number.parseInt(this.src.slice(this.pos - 2, this.pos), 16);
    }
    if (/[A-Za-z0-9]/.test(c)) throw this.fail(`the escape "\\${c}" is not supported`);
    return c.charCodeAt(0);
  }

  private charClass(): CharTest {
    this.pos++;
    const negate = this.src[this.pos] === '^';
    if (negate) this.pos++;
    const tests: CharTest[] = [];
    let first = true;
    while (this.src[this.pos] !== ']' || first) {
      if (this.pos >= this.src.length) throw this.fail('unterminated character set');
      first = false;
      const lo = this.classChar();
      if (typeof lo === 'function') {
        tests.push(lo);
        continue;
      }
      if (this.src[this.pos] === '-' && this.src[this.pos + 1] !== ']' && this.pos + 1 < this.src.length) {
        this.pos++;
        const hi = this.classChar();
        if (typeof hi === 'function' || hi < lo) throw this.fail('a bad character range');
        tests.push((x) => x >= lo && x <= hi);
      } else tests.push((x) => x === lo);
    }
    this.pos++;
    const any: CharTest = (x) => tests.some((t) => t(x));
    return negate ? not(any) : any;
  }

  /** One member of a class: a code, or a test for `\d`-style escapes. */
  private classChar(): number | CharTest {
    const c = this.src[this.pos];
    if (c !== '\\') {
      this.pos++;
      return c.charCodeAt(0);
    }
    this.pos++;
    const escaped = this.escape(true);
    if (escaped === 'start' || escaped === 'end') throw this.fail('an anchor inside a character set');
    return escaped;
  }
}

/** Compiles `node` so that on success it continues at state `next`; returns its entry state. */
function compile(node: PatternNode, next: number, states: State[]): number {
  const add = (s: State): number => {
    if (states.length >= MAX_STATES) throw new TargetPatternError('the pattern is too large', 0);
    states.push(s);
    return states.length - 1;
  };
  switch (node.kind) {
    case 'char':
      return add({ op: 'char', test: node.test, next });
    case 'assert':
      return add({ op: 'assert', at: node.at, next });
    case 'seq': {
      let entry = next;
      for (let i = node.items.length - 1; i >= 0; i--) entry = compile(node.items[i], entry, states);
      return entry;
    }
    case 'alt': {
      let entry = compile(node.options[node.options.length - 1], next, states);
      for (let i = node.options.length - 2; i >= 0; i--) {
        entry = add({ op: 'split', a: compile(node.options[i], next, states), b: entry });
      }
      return entry;
    }
    case 'repeat': {
      let entry = next;
      if (node.max === Infinity) {
        const loop = add({ op: 'split', a: -1, b: next });
        (states[loop] as { a: number }).a = compile(node.node, loop, states);
        entry = loop;
      } else {
        for (let i = node.min; i < node.max; i++) {
          entry = add({ op: 'split', a: compile(node.node, entry, states), b: next });
        }
      }
      for (let i = 0; i < node.min; i++) entry = compile(node.node, entry, states);
      return entry;
    }
  }
}

/** A compiled `target_modules` pattern: `fullMatch` runs in time linear in the name's length. */
export class TargetPattern {
  readonly source: string;
  private readonly states: State[];
  private readonly start: number;

  constructor(source: string) {
    if (source.length > MAX_TARGET_PATTERN_LENGTH) {
      throw new TargetPatternError(`a pattern over ${MAX_TARGET_PATTERN_LENGTH} characters`, 0);
    }
    this.source = source;
    this.states = [{ op: 'match' }];
    this.start = compile(new Parser(source).parse(), 0, this.states);
  }

  /** As Python's `re.fullmatch(pattern, name) is not None`. */
  fullMatch(name: string): boolean {
    let current = this.closure([this.start], 0, name.length);
    for (let pos = 0; pos < name.length && current.length > 0; pos++) {
      const c = name.charCodeAt(pos);
      const stepped: number[] = [];
      for (const s of current) {
        const st = this.states[s];
        if (st.op === 'char' && st.test(c)) stepped.push(st.next);
      }
      current = this.closure(stepped, pos + 1, name.length);
    }
    return current.some((s) => this.states[s].op === 'match');
  }

  /** The states reachable from `from` without reading a character (each visited once: loops end). */
  private closure(from: number[], pos: number, length: number): number[] {
    const seen = new Uint8Array(this.states.length);
    const out: number[] = [];
    const stack = from.slice();
    while (stack.length > 0) {
      const s = stack.pop() as number;
      if (seen[s]) continue;
      seen[s] = 1;
      const st = this.states[s];
      if (st.op === 'split') stack.push(st.b, st.a);
      else if (st.op === 'assert') {
        if (st.at === 'start' ? pos === 0 : pos === length) stack.push(st.next);
      } else out.push(s);
    }
    return out;
  }
}
