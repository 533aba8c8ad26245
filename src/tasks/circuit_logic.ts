// circuit_logic: evaluate an ASCII-drawn logic circuit (reasoning-gym logic/circuit_logic).
import { checkConfig, pyLen, pyStrip } from './common.ts';
import { Rng } from './prng.ts';
import type { TaskDefinition, TaskEntry } from './types.ts';

export interface CircuitLogicConfig extends Record<string, unknown> {
  min_terms: number;
  max_terms: number;
  min_inputs: number;
  max_inputs: number;
  neg_prob: number;
  allow_reuse: boolean;
  seed: number | null;
  size: number;
}

function validate(c: CircuitLogicConfig): void {
  checkConfig(c.min_inputs >= 1 && c.min_inputs <= c.max_inputs, 'circuit_logic', 'Invalid input range');
  checkConfig(c.min_terms >= 1 && c.min_terms <= c.max_terms, 'circuit_logic', 'Invalid number of terms');
  checkConfig(c.neg_prob >= 0 && c.neg_prob <= 1, 'circuit_logic', 'neg_prob must be between 0 and 1');
}

type GateName = 'AND' | 'NAND' | 'XOR' | 'OR' | 'NOR';
interface Gate {
  name: GateName;
  sym: string;
}

const INTERNAL_OPS: readonly Gate[] = [
  { name: 'AND', sym: '&' },
  { name: 'NAND', sym: '↑' },
  { name: 'XOR', sym: '⊕' },
];
const FINAL_OPS: readonly Gate[] = [
  { name: 'OR', sym: '+' },
  { name: 'NOR', sym: '↓' },
  { name: 'XOR', sym: '⊕' },
  { name: 'AND', sym: '&' },
];

const VERT = '│';
const HORIZ = '─';
const RBRANCH = '├';
const LUP = '┘';
const LDOWN = '┐';
const RUP = '└';
const RDOWN = '┌';

/** 0 → A, 25 → Z, 26 → AA, like spreadsheet columns. */
function inputName(index: number): string {
  let result = '';
  let i = index + 1;
  while (i > 0) {
    const rem = (i - 1) % 26;
    result = String.fromCharCode(65 + rem) + result;
    i = Math.floor((i - 1) / 26);
  }
  return result;
}

/** Gate output for a list of bits. */
export function applyGate(name: string, bits: readonly number[]): number {
  const all = bits.every((v) => v === 1);
  const any = bits.some((v) => v === 1);
  const parity = bits.reduce((x, v) => x ^ v, 0);
  switch (name) {
    case 'AND':
      return all ? 1 : 0;
    case 'NAND':
      return all ? 0 : 1;
    case 'XOR':
      return parity;
    case 'OR':
      return any ? 1 : 0;
    case 'NOR':
      return any ? 0 : 1;
    default:
      throw new Error(`Unknown gate type: ${name}`);
  }
}

interface TermInput {
  name: string;
  ypos: number;
  neg: boolean;
}
interface Term {
  op: Gate;
  inputs: TermInput[];
}

/** A character grid; writes that run off it are clipped. */
class Canvas {
  readonly rows: string[][];
  constructor(
    readonly height: number,
    readonly width: number,
  ) {
    this.rows = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  }
  put(x: number, y: number, s: string, down = false): void {
    for (const ch of s) {
      if (x < 0 || x >= this.width || y < 0 || y >= this.height) break;
      this.rows[y][x] = ch;
      if (down) y++;
      else x++;
    }
  }
  toString(): string {
    return this.rows.map((r) => r.join('').trimEnd()).join('\n');
  }
}

/**
 * reasoning-gym's layout: inputs enter top-left and run down their own column, branching right
 * into each term's gate (with ">o" for negation); term outputs are routed to the final gate.
 */
function drawCircuit(terms: Term[], inputs: string[], finalSym: string, displayLen: number): string {
  const nIn = inputs.length;
  const totalTermInputs = terms.reduce((s, t) => s + t.inputs.length, 0);
  const height = nIn + totalTermInputs + terms.length - 1;
  const inputWidth = Math.max(0, ...inputs.map((s) => s.length)) + 2;
  const notAndStart = inputWidth + nIn * 2;
  const gateStart = notAndStart + 7 + terms.length + 1;
  const finalWidth = 2 + finalSym.length;
  const width = gateStart + finalWidth + 8 + displayLen;
  const c = new Canvas(height, width);
  const baseY = nIn;

  // Output wire and final gate, centred on the term rows.
  c.put(width - 8 - displayLen, baseY + Math.floor((height - baseY) / 2), HORIZ.repeat(4) + ' OUT');
  const outGateCenter = baseY + Math.floor((height - baseY) / 2) - Math.floor(terms.length / 2);
  if (terms.length === 1) {
    c.put(gateStart, outGateCenter, HORIZ.repeat(finalWidth));
  } else {
    c.put(gateStart, outGateCenter, HORIZ.repeat(terms.length), true);
    c.put(gateStart + 1, outGateCenter, VERT.repeat(terms.length), true);
    [...finalSym].forEach((ch, i) => {
      c.put(gateStart + 2 + i, outGateCenter, ch.repeat(terms.length), true);
      c.put(gateStart + 3 + i, outGateCenter, ch.repeat(terms.length), true);
    });
  }

  // Each term: seven columns (wire, negation ">o", wire, joiner, gate symbol twice).
  let y = baseY;
  for (const t of terms) {
    const multi = t.inputs.length > 1;
    const layers = ['', '', '', '', '', '', ''];
    for (const ti of t.inputs) {
      layers[0] += HORIZ;
      layers[1] += ti.neg ? '>' : HORIZ;
      layers[2] += ti.neg ? 'o' : HORIZ;
      layers[3] += HORIZ;
      layers[4] += multi ? VERT : HORIZ;
      layers[5] += multi ? t.op.sym : HORIZ;
      layers[6] += multi ? t.op.sym : HORIZ;
    }
    layers.forEach((layer, i) => {
      c.put(notAndStart + i, y, layer, true);
    });
    y += t.inputs.length + 1;
  }

  // Input labels and their wires turning down (┐) into one column each.
  inputs.forEach((name, idx) => {
    c.put(0, idx, `${name}: ` + HORIZ.repeat(inputWidth - (name.length + 2)));
    c.put(inputWidth, idx, HORIZ.repeat(nIn * 2 - 1 - idx * 2) + LDOWN);
  });
  let offset = nIn * 2 - 1;
  inputs.forEach((name, num) => {
    const breaks: number[] = [];
    for (const t of terms) for (const ti of t.inputs) if (ti.name === name) breaks.push(baseY + ti.ypos);
    breaks.sort((p, q) => p - q);
    for (const yb of breaks) c.put(inputWidth + offset, yb, HORIZ.repeat(nIn * 2 - offset));
    const yStart = num + 1;
    const maxBreak = breaks.length ? Math.max(...breaks) : yStart;
    const branch = new Array<string>(Math.max(0, maxBreak - yStart + 1)).fill(VERT);
    for (const yb of breaks) {
      const pos = yb - yStart;
      if (pos >= 0 && pos < branch.length) branch[pos] = RBRANCH;
    }
    if (branch.length) branch[branch.length - 1] = RUP;
    c.put(inputWidth + offset, yStart, branch.join(''), true);
    offset -= 2;
  });

  // Term outputs routed to consecutive rows of the final gate.
  const x = notAndStart + 7;
  let outY = outGateCenter;
  let breakX = Math.floor(terms.length / 2);
  for (const t of terms) {
    const inY = baseY + Math.floor((t.inputs[0].ypos + t.inputs[t.inputs.length - 1].ypos) / 2);
    const bx = Math.abs(breakX);
    c.put(x, inY, HORIZ.repeat(bx + 1));
    c.put(x + bx + 1, outY, HORIZ.repeat(terms.length - bx));
    if (inY < outY) c.put(x + bx + 1, inY, LDOWN + VERT.repeat(outY - inY - 1) + RUP, true);
    else if (inY > outY) c.put(x + bx + 1, outY, RDOWN + VERT.repeat(inY - outY - 1) + LUP, true);
    outY++;
    breakX--;
  }
  return c.toString();
}

/** Terms from their strings ("A&B'&C"), with the row each input occupies (one blank row between terms). */
function parseTerms(termStrings: readonly string[]): Term[] {
  let ypos = 0;
  return termStrings.map((s) => {
    // A one-input term has no join symbol; its gate is not drawn, so any op serves for the layout.
    const op = INTERNAL_OPS.find((g) => s.includes(g.sym)) ?? INTERNAL_OPS[0];
    const inputs = s.split(op.sym).map((part) => {
      const neg = part.endsWith("'");
      return { name: neg ? part.slice(0, -1) : part, ypos: ypos++, neg };
    });
    ypos++;
    return { op, inputs };
  });
}

/** The circuit's output for the given input bits (terms of one input are read as AND). */
export function evaluateCircuit(
  termStrings: readonly string[],
  finalGate: string,
  assignments: Readonly<Record<string, number>>,
): number {
  const values = parseTerms(termStrings).map((t) =>
    applyGate(
      t.op.name,
      t.inputs.map((ti) => (ti.neg ? 1 - assignments[ti.name] : assignments[ti.name])),
    ),
  );
  return applyGate(finalGate, values);
}

/** The full question text for a circuit, in reasoning-gym's layout. */
export function circuitQuestion(
  termStrings: readonly string[],
  finalGateName: string,
  assignments: Readonly<Record<string, number>>,
  showNegate: boolean,
): string {
  const finalGate = FINAL_OPS.find((g) => g.name === finalGateName);
  if (!finalGate) throw new Error(`Unknown gate type: ${finalGateName}`);
  const terms = parseTerms(termStrings);
  const inputs = [...new Set(terms.flatMap((t) => t.inputs.map((ti) => ti.name)))].sort();
  const expression = termStrings.map((s) => `(${s})`).join(finalGate.sym);
  const diagram = drawCircuit(terms, inputs, finalGate.sym, pyLen(expression));

  const legend = ['Legend for gates:', ...INTERNAL_OPS.map((g) => `${g.sym.repeat(2)}: ${g.name}`)];
  if (showNegate) legend.push('>o: Negate');
  // reasoning-gym always lists the final gate too, even when it repeats an internal one.
  legend.push(`${finalGate.sym.repeat(2)}: ${finalGate.name}`);

  return [
    'Below is a randomly generated logic circuit.\n',
    diagram,
    '\n',
    legend.join('\n'),
    '',
    'Given the following input assignments:',
    ...inputs.map((name) => `  ${name} = ${assignments[name]}`),
    '',
    'What is the final output?',
  ].join('\n');
}

export const task: TaskDefinition<CircuitLogicConfig> = {
  name: 'circuit_logic',
  defaults: {
    min_terms: 3,
    max_terms: 5,
    min_inputs: 2,
    max_inputs: 4,
    neg_prob: 0.3,
    allow_reuse: true,
    size: 100,
    seed: null,
  },
  // At least two terms and two inputs per term: with one, a NAND/NOR gate is drawn as a plain wire.
  levels: [
    { name: 'trivial', config: { min_terms: 2, max_terms: 2, min_inputs: 2, max_inputs: 2, neg_prob: 0 } },
    { name: 'easy', config: { min_terms: 2, max_terms: 3, min_inputs: 2, max_inputs: 3, neg_prob: 0.15 } },
    { name: 'medium', config: { min_terms: 3, max_terms: 4, min_inputs: 2, max_inputs: 3 } },
    { name: 'default', config: {} },
  ],

  generate(config, seed, index): TaskEntry {
    validate(config);
    const rng = Rng.forItem(seed, index);
    const numTerms = rng.int(config.min_terms, config.max_terms);
    const finalGate = rng.choice(FINAL_OPS);

    const distinct: string[] = [];
    const randomInput = (): string => {
      if (config.allow_reuse && distinct.length > 0 && rng.random() < 0.5) return rng.choice(distinct);
      const name = inputName(distinct.length);
      distinct.push(name);
      return name;
    };

    const terms: Term[] = [];
    let ypos = 0;
    for (let i = 0; i < numTerms; i++) {
      const op = rng.choice(INTERNAL_OPS);
      const len = rng.int(config.min_inputs, config.max_inputs);
      const inputs: TermInput[] = [];
      for (let j = 0; j < len; j++) {
        const name = randomInput();
        inputs.push({ name, ypos: ypos++, neg: rng.random() < config.neg_prob });
      }
      terms.push({ op, inputs });
      ypos++; // a blank row between terms
    }

    const termStrings = terms.map((t) => t.inputs.map((ti) => ti.name + (ti.neg ? "'" : '')).join(t.op.sym));
    const expression = termStrings.map((s) => `(${s})`).join(finalGate.sym);
    const inputs = [...new Set(distinct)].sort();
    const assignments: Record<string, number> = {};
    for (const name of inputs) assignments[name] = rng.choice([0, 1]);
    // Evaluated from the generated gates: a one-input term's gate is not recoverable from its string.
    const termValues = terms.map((t) =>
      applyGate(
        t.op.name,
        t.inputs.map((ti) => (ti.neg ? 1 - assignments[ti.name] : assignments[ti.name])),
      ),
    );
    const result = applyGate(finalGate.name, termValues);

    return {
      question: circuitQuestion(termStrings, finalGate.name, assignments, config.neg_prob > 0),
      answer: String(result),
      metadata: {
        source_dataset: 'circuit_logic',
        // reasoning-gym overwrites this with the last input's index (a loop-variable clash); we keep the item index.
        source_index: index,
        expression,
        assignments,
        term_strings: termStrings,
        final_gate: finalGate.name,
        inputs,
        difficulty: {
          terms: [config.min_terms, config.max_terms],
          inputs: [config.min_inputs, config.max_inputs],
        },
      },
    };
  },

  // reasoning-gym: exact → 1.0; equal after strip() → len(oracle)/len(answer); else 0.0.
  score(answer, entry) {
    if (typeof answer !== 'string' || answer.length === 0) return { score: 0 };
    const oracle = entry.answer;
    if (oracle === answer) return { score: 1.0 };
    if (oracle !== null && oracle === pyStrip(answer)) return { score: pyLen(oracle) / pyLen(answer) };
    return { score: 0 };
  },
};
