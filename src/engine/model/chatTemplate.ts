// Chat templates come with a model folder, so they are untrusted programs: `range(10000000)` builds ten
// million values before the first iteration, nested loops run for hours, `s + s` in a loop doubles a
// string to gigabytes. @huggingface/jinja has no budget hook of its own, but it exports its Interpreter and
// Environment, and every node it evaluates goes through the public `evaluate` method. So we render with a
// subclass that counts steps (nodes and loop iterations) and nesting depth, measures every string and list
// it produces or reads (so a step that scans a long string pays for its length), and with a `range` that
// refuses a length over a cap before allocating anything. Pre-checking the template text instead would
// miss computed bounds (`range(n * n)`); this budget holds whatever the template computes.

import { Environment, Interpreter, type Template } from '@huggingface/jinja';
import { EngineError } from '../errors.ts';

export interface ChatTemplateLimits {
  /** Nodes evaluated plus blocks run (so an empty loop body still costs a step per iteration). */
  maxSteps: number;
  /** Nesting of evaluations (macros calling macros), below the JS stack's own limit. */
  maxDepth: number;
  /** Length of any one string the template builds, the rendered prompt included. */
  maxOutputChars: number;
  /** Elements of any one list (`range(n)` is refused before it is built). */
  maxListLength: number;
  /** Characters and elements of all strings and lists evaluated, summed: the cost of scanning them. */
  maxWork: number;
}

/** Far above what a real template needs for a long conversation (a message costs tens of steps). */
export const DEFAULT_CHAT_TEMPLATE_LIMITS: ChatTemplateLimits = {
  maxSteps: 500_000,
  maxDepth: 500,
  maxOutputChars: 8 * 1024 * 1024,
  maxListLength: 100_000,
  maxWork: 512 * 1024 * 1024,
};

type Statement = Parameters<Interpreter['evaluate']>[0];
type RuntimeValue = ReturnType<Interpreter['evaluate']>;

class BudgetExceeded extends Error {}

type BlockRunner = (statements: Statement[], environment: Environment) => RuntimeValue;

class BudgetedInterpreter extends Interpreter {
  private steps = 0;
  private depth = 0;
  private work = 0;

  constructor(
    env: Environment,
    private readonly limits: ChatTemplateLimits,
  ) {
    super(env);
    // A loop runs its body through the private evaluateBlock, which calls evaluate once per statement:
    // an empty body would iterate for free. TypeScript cannot override a private method, so wrap it here.
    const self = this as unknown as { evaluateBlock: BlockRunner };
    const runBlock = self.evaluateBlock.bind(this);
    self.evaluateBlock = (statements, environment) => {
      this.step();
      return runBlock(statements, environment);
    };
  }

  private step(): void {
    if (++this.steps > this.limits.maxSteps) {
      throw new BudgetExceeded(`ran over its budget of ${this.limits.maxSteps} evaluation steps`);
    }
  }

  override evaluate(statement: Statement, environment: Environment): RuntimeValue {
    this.step();
    if (++this.depth > this.limits.maxDepth) {
      throw new BudgetExceeded(`nests deeper than ${this.limits.maxDepth} levels`);
    }
    try {
      const value = super.evaluate(statement, environment);
      const v: unknown = value.value;
      if (typeof v === 'string') {
        if (v.length > this.limits.maxOutputChars) {
          throw new BudgetExceeded(`built a string over ${this.limits.maxOutputChars} characters`);
        }
        this.work += v.length;
      } else if (Array.isArray(v)) {
        if (v.length > this.limits.maxListLength) {
          throw new BudgetExceeded(`built a list over ${this.limits.maxListLength} elements`);
        }
        this.work += v.length;
      }
      if (this.work > this.limits.maxWork) {
        throw new BudgetExceeded(`handled over ${this.limits.maxWork} characters and list elements in all`);
      }
      return value;
    } finally {
      this.depth--;
    }
  }
}

/** Python's range (as the library's), refusing a length over the cap before building the list. */
function boundedRange(maxLength: number) {
  return (start: number, stop?: number, step = 1): number[] => {
    let from = start;
    let to = stop;
    if (to === undefined) {
      to = from;
      from = 0;
    }
    if (step === 0) throw new Error('range() step must not be zero');
    const length = Math.max(0, Math.ceil((to - from) / step));
    if (!(length <= maxLength)) throw new BudgetExceeded(`called range() for ${length} values`);
    const out: number[] = [];
    for (let i = 0, x = from; i < length; i++, x += step) out.push(x);
    return out;
  };
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** The library's strftime_now (the subset of formats it supports), re-created since it is not exported. */
function strftimeNow(format: string): string {
  const date = new Date();
  return format.replace(/%[YmdbBHM%]/g, (token) => {
    switch (token) {
      case '%Y':
        return String(date.getFullYear());
      case '%m':
        return pad2(date.getMonth() + 1);
      case '%d':
        return pad2(date.getDate());
      case '%b':
        return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(date);
      case '%B':
        return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(date);
      case '%H':
        return pad2(date.getHours());
      case '%M':
        return pad2(date.getMinutes());
      default:
        return '%';
    }
  });
}

/**
 * Renders `template` as `Template.render(vars)` does (same globals), within `limits`. A template that
 * exceeds them throws EngineError('template-budget') naming `file`; other failures are the library's.
 */
export function renderChatTemplate(
  template: Template,
  vars: Record<string, unknown>,
  file: string,
  limits: ChatTemplateLimits = DEFAULT_CHAT_TEMPLATE_LIMITS,
): string {
  const env = new Environment();
  // The bounded range is a global, set before the caller's variables: as with Template.render, a
  // variable that reuses a global's name is refused ("Variable already declared"), so none replaces it.
  const globals: Record<string, unknown> = {
    false: false,
    true: true,
    none: null,
    False: false,
    True: true,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    strftime_now: strftimeNow,
    range: boundedRange(limits.maxListLength),
  };
  try {
    for (const [name, value] of Object.entries(globals)) env.set(name, value);
    for (const [name, value] of Object.entries(vars)) env.set(name, value);
    const result = new BudgetedInterpreter(env, limits).run(template.parsed).value;
    return String(result);
  } catch (e) {
    if (e instanceof BudgetExceeded) {
      throw new EngineError('template-budget', `${file}: the chat template ${e.message}`, { file });
    }
    throw e;
  }
}
