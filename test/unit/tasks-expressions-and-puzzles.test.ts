// Tasks simple_integration, countdown, puzzle24, graph_color, mini_sudoku, tower_of_hanoi,
// color_cube_rotation (and the expression parser behind three of them): golden scores from
// reasoning-gym, then independent checks of our generators across seeds and levels.

import { describe, expect, it } from 'vitest';
import { task as colorCube, rotateToTop, SIDES, type Side } from '../../src/tasks/color_cube_rotation.ts';
import { task as countdown } from '../../src/tasks/countdown.ts';
import { evalNumber, extractInts, parseExpr, pySplitlines } from '../../src/tasks/expr.ts';
import { task as graphColor, oracleAnswer as graphOracle } from '../../src/tasks/graph_color.ts';
import { task as miniSudoku } from '../../src/tasks/mini_sudoku.ts';
import { task as puzzle24 } from '../../src/tasks/puzzle24.ts';
import { toPyFloat, toPyInt } from '../../src/tasks/pyNumber.ts';
import { type Poly, printPoly, task as simpleIntegration } from '../../src/tasks/simple_integration.ts';
import { task as hanoi, solveHanoi } from '../../src/tasks/tower_of_hanoi.ts';
import type { TaskConfig, TaskDefinition, TaskEntry } from '../../src/tasks/types.ts';
import { loadGolden, toEntry } from '../helpers/rgGolden.ts';

// biome-ignore lint/suspicious/noExplicitAny: tasks have different config types
type AnyTask = TaskDefinition<any>;

const TASKS: AnyTask[] = [simpleIntegration, countdown, puzzle24, graphColor, miniSudoku, hanoi, colorCube];

const SEEDS = [1, 7, 42, 1234, 4242, 99991];
const ITEMS = 15;

/** Every generated entry of every level of `task`, as its JSON round trip (what a scorer sees). */
function generated(task: AnyTask): { level: string; entry: TaskEntry; where: string }[] {
  const out: { level: string; entry: TaskEntry; where: string }[] = [];
  for (const level of task.levels) {
    const config: TaskConfig = { ...task.defaults, ...level.config };
    for (const seed of SEEDS) {
      for (let index = 0; index < ITEMS; index++) {
        const entry = JSON.parse(JSON.stringify(task.generate(config, seed, index))) as TaskEntry;
        out.push({ level: level.name, entry, where: `${task.name} ${level.name} seed ${seed} #${index}` });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Golden scores

describe.each(TASKS.map((t) => [t.name, t] as const))('%s matches reasoning-gym', (name, task) => {
  const golden = loadGolden(name);

  it('scores every recorded candidate exactly as reasoning-gym did', () => {
    let n = 0;
    for (const g of golden) {
      for (const s of g.scores) {
        const got = task.score(s.candidate, toEntry(g));
        const where = `${name} #${g.index} ${s.kind}: ${JSON.stringify(s.candidate)?.slice(0, 80)}`;
        expect(got.score, where).toBe(s.score ?? 0);
        expect(got.error !== undefined, where).toBe(s.error !== undefined);
        n++;
      }
    }
    expect(n).toBe(golden.length * golden[0].scores.length);
    expect(golden.length).toBe(25);
  });

  it('the oracle candidate is entry.answer (or the task-built oracle)', () => {
    for (const g of golden) {
      const oracle = g.scores.find((s) => s.kind === 'oracle')?.candidate;
      expect(oracle).toBe(task.oracleAnswer ? task.oracleAnswer(toEntry(g)) : g.answer);
    }
  });
});

describe('fixture items agree with our generators', () => {
  it('simple_integration: sympy-style printing of integrand and answer', () => {
    // Read a printed polynomial back into coefficients (test-only parser for "a*x**k/b" terms).
    const parsePoly = (s: string, v: string): Poly => {
      const p: Poly = new Map();
      for (const m of `+ ${s}`.matchAll(/([+-]) (-?)([^ ]+)/g)) {
        const sign = (m[1] === '-' ? -1 : 1) * (m[2] ? -1 : 1);
        const t = /^(?:(\d+)\*?)?(?:([xX])(?:\*\*(\d+))?)?(?:\/(\d+))?$/.exec(m[3]);
        if (!t) throw new Error(`bad term ${m[3]}`);
        const k = t[2] ? (t[3] ? Number(t[3]) : 1) : 0;
        expect(t[2] === undefined || t[2] === v).toBe(true);
        p.set(k, [sign * (t[1] ? Number(t[1]) : 1), t[4] ? Number(t[4]) : 1]);
      }
      return p;
    };
    for (const g of loadGolden('simple_integration')) {
      const v = String(g.metadata.variable);
      const integrand = String(g.metadata.integrand);
      const answer = String(g.answer).replace(/ \+ C$/, '');
      expect(printPoly(parsePoly(integrand, v), v)).toBe(integrand);
      expect(printPoly(parsePoly(answer, v), v)).toBe(answer);
      expect(g.question).toContain(`∫ ${integrand} dx`);
    }
  });

  it("tower_of_hanoi: our Frame-Stewart moves equal reasoning-gym's answers", () => {
    for (const g of loadGolden('tower_of_hanoi')) {
      const m = g.metadata;
      const moves = solveHanoi(
        Number(m.num_disks),
        Number(m.num_pegs),
        Number(m.start_peg),
        Number(m.target_peg),
      );
      expect(moves.join('\n')).toBe(g.answer);
      expect(moves.length).toBe(m.solution_length);
    }
  });

  it('color_cube_rotation: the independent cube simulation gives the recorded answers', () => {
    for (const g of loadGolden('color_cube_rotation')) {
      const m = g.metadata as { initial_state: Record<Side, string>; rotations: Side[]; target_side: Side };
      expect(simulateCube(m.initial_state, m.rotations)[m.target_side]).toBe(g.answer);
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// The expression parser against values sympy 1.14's parse_expr gave (float(), int()).

describe('expr: parse_expr semantics', () => {
  const ERR = 'ERR';
  const cases: [string, number | string, bigint | string][] = [
    ['1+2', 3, 3n],
    ['\n  82 - 1 + (35 + 68)/1  \n', 184, 184n],
    ['1 +\n 2', ERR, ERR],
    ['(1 +\n 2)', 3, 3n],
    ['1+2\\\n+3', 6, 6n],
    ['1 + 2 # hello 3', 3, 3n],
    ['01+2', ERR, ERR],
    ['00+2', 2, 2n],
    ['1_000', 1000, 1000n],
    ['0x10', 16, 16n],
    ['2^3', 1, 1n],
    ['3^(-1)', -4, -4n],
    ['(1/2)^3', ERR, ERR],
    ['5!', 120, 120n],
    ['5!!', 15, 15n],
    ['-5!', -120, -120n],
    ['2**3!', 64, 64n],
    ['5 !', ERR, ERR],
    ['(-1)!', ERR, ERR],
    ['2(3)', ERR, ERR],
    ['2 3', ERR, ERR],
    ['2 * * 3', 8, 8n], // sympy untokenizes without spaces: ** and //
    ['7 / / 2', 3, 3n],
    ['(2 *\n* 3)', ERR, ERR],
    ['1/0', ERR, ERR],
    ['0/0', Number.NaN, ERR],
    ['1/(1/0)', 0, 0n],
    ['(1/0)**0', 1, 1n],
    ['2**-1', 0.5, 0n],
    ['-2**2', -4, -4n],
    ['2**3**2', 512, 512n],
    ['-7//2', -4, -4n],
    ['-7%3', 2, 2n],
    ['5 % -3', -1, -1n],
    ['2/7**10//-10', 0, 0n], // sympy quirk: Rational // Integer truncates the rational first
    ['7/2//1', 3, 3n],
    ['5//0', ERR, ERR],
    ['1e3', 1000, 1000n],
    ['.5', 0.5, 0n],
    ['8**(1/3)', 2, 2n],
    ['(-8)**(1/3)', ERR, ERR],
    ['4**(-1/2)', 0.5, 0n],
    ['10 + 10 + 9/2', 24.5, 24n],
    ['24.9', 24.9, 24n],
    ['0.1+0.2', 0.30000000000000004, 0n],
    ['(0.5)!', 0.886226925452758, 0n],
    ['3×4', ERR, ERR],
    ['3 − 4', ERR, ERR],
    ['x', ERR, ERR],
    ['answer is 82 - 1 + 103', 0, 0n], // valid Python: a bool
    ['184 is 184', 1, 1n],
    ['2.0 == 2', 0, 0n],
    ['5!=5', 0, 0n],
    ['1 < 2', ERR, ERR],
    ['1 = 1', ERR, ERR],
    ['The answer is 5', ERR, ERR],
    ['', ERR, ERR],
  ];
  it.each(cases)('%j', (src, float, int) => {
    let f: number | string = ERR;
    let i: bigint | string = ERR;
    try {
      const v = evalNumber(parseExpr(src));
      try {
        f = toPyFloat(v);
      } catch {}
      try {
        i = toPyInt(v);
      } catch {}
    } catch {}
    if (Number.isNaN(float)) expect(f).toBeNaN();
    else if (typeof float === 'number' && typeof f === 'number') expect(f).toBeCloseTo(float, 12);
    else expect(f).toEqual(float);
    expect(i).toEqual(int);
  });

  it("extractInts is Python's \\b\\d+\\b", () => {
    expect(extractInts('2.5 + x2 + 10*(3)')).toEqual([2, 5, 10, 3]);
    expect(extractInts('é2 ٣4')).toEqual([34]);
  });

  it("pySplitlines is Python's str.splitlines()", () => {
    expect(pySplitlines('a\r\nb\rc\n\nd\u2028e\n')).toEqual(['a', 'b', 'c', '', 'd', 'e']);
    expect(pySplitlines('')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Scorer behaviour beyond the fixtures (each probe checked against reasoning-gym's code and sympy)

describe('scorer details', () => {
  const integ = (integrand: string, variable = 'x'): TaskEntry => ({
    question: '',
    answer: null,
    metadata: { integrand, variable },
  });
  it('simple_integration follows sympy, floats included', () => {
    const s = (a: string, e: TaskEntry) => simpleIntegration.score(a, e).score;
    expect(s('x**2/2 + K', integ('x'))).toBe(1);
    expect(s('x*x/2 + c*d', integ('x'))).toBe(1);
    expect(s('(x**3 - 1)/(x - 1)', integ('2*x + 1'))).toBe(1);
    expect(s('0.5*x**2', integ('x'))).toBe(1);
    expect(s('x**3/3 + 0.1*x', integ('x**2 + 1/10'))).toBe(1);
    expect(s('x**10*0.1', integ('x**9'))).toBe(1);
    // sympy keeps Float round-off: these score 0 there, so they do here.
    expect(s('0.1*x + 0.2*x', integ('3/10'))).toBe(0);
    expect(s('(32*x**10/3 - 3*x/7)*1.0', integ('320*x**9/3 - 3/7'))).toBe(0);
    expect(s('5*x**7*1.0/3', integ('35*x**6/3'))).toBe(1);
    expect(s('-4*x**6 - 28*x**2*1.0/3', integ('-24*x**5 - 56*x/3'))).toBe(0);
    expect(s('x**2/2 - 1e-12*x**3', integ('x'))).toBe(0);
    expect(s('x**1.0*x', integ('2*x'))).toBe(0);
    expect(s('C*x', integ('0'))).toBe(0);
    expect(s('X**2/2', integ('x'))).toBe(0);
    expect(s('x^2', integ('2*x'))).toBe(0);
    expect(s('x**2/2 + 0/0', integ('x'))).toBe(0);
    expect(s('x**2/2 + 1/0', integ('x'))).toBe(1);
    expect(s('x**2/2 + E + pi + oo', integ('x'))).toBe(1);
    expect(s('x**2/2 + CC', integ('x'))).toBe(0); // a sympy domain, not a symbol
    expect(s('x**2/2 + true', integ('x'))).toBe(0);
    expect(s('x**2/2 is x', integ('x'))).toBe(0);
  });

  it('countdown: 0.01 unparsable, 0.05 wrong numbers or value, np.isclose tolerance', () => {
    const e: TaskEntry = { question: '', answer: '1000/2', metadata: { numbers: [1000, 2], target: 500 } };
    expect(countdown.score('1000/2', e).score).toBe(1);
    expect(countdown.score('2/1000', e).score).toBe(0.05);
    expect(countdown.score('1000*2', e).score).toBe(0.05);
    expect(countdown.score('1000 / 2 = 500', e).score).toBe(0.01);
    expect(countdown.score('   ', e).score).toBe(0.01);
    expect(countdown.score('Answer is 1000/2', e).score).toBe(0.05); // parses (a bool), so not 0.01
    expect(countdown.score('1000/2.0', e).score).toBe(0.05); // literals 1000, 2, 0
    expect(countdown.scoreStrict?.('1000/2.0', e).score).toBe(0);
    expect(countdown.scoreStrict?.('1000/2', e).score).toBe(1);
    // rtol=1e-5: 500.004 is "close" to 500 for reasoning-gym; the strict scorer wants the exact value.
    const f: TaskEntry = {
      question: '',
      answer: null,
      metadata: { numbers: [1000, 2, 1000, 250000], target: 500 },
    };
    expect(countdown.score('1000/2 + 1000/250000', f).score).toBe(1);
    expect(countdown.scoreStrict?.('1000/2 + 1000/250000', f).score).toBe(0);
  });

  it('puzzle24: strict scorer checks the numbers and the exact value', () => {
    const e: TaskEntry = {
      question: '',
      answer: '10*4*3/5',
      metadata: { numbers: [10, 5, 4, 3], difficulty: { value: [1, 10] } },
    };
    expect(puzzle24.score('6*4*1*1', e).score).toBe(1);
    expect(puzzle24.scoreStrict?.('6*4*1*1', e).score).toBe(0);
    expect(puzzle24.scoreStrict?.('10 + 10 + 9/2', e).score).toBe(0);
    expect(puzzle24.scoreStrict?.('(10*4)*3/5', e).score).toBe(1);
    expect(puzzle24.score('11 + 13 + 0*1', e).score).toBe(0.01); // 11 and 13 exceed max_value 10
  });

  it('graph_color: json.loads and Python lookups on odd JSON', () => {
    const e: TaskEntry = {
      question: '',
      answer: null,
      metadata: { puzzle: { vertices: [0, 1, 2], edges: [[0, 1]], num_colors: 3, color_options: [1, 2, 3] } },
    };
    const s = (a: string) => graphColor.score(a, e).score;
    expect(s('{"0": 1, "1": 2, "2": 1}')).toBe(1);
    expect(s(' {"0":1,"1":2.0,"2":3}\n')).toBe(1);
    expect(s('{"0": true, "1": 2, "2": 3}')).toBe(1); // True == 1 in Python
    expect(s('{"0": 1, "1": 1, "2": 1}')).toBe(0.01);
    expect(s('{"0": 1, "1": 2}')).toBe(0.01); // vertex 2 missing
    expect(s('{"0": 1, "1": 2, "2": NaN}')).toBe(0.01);
    expect(s('{"0": 1, "1": 2, "2": "3"}')).toBe(0.01);
    expect(s('{"0": 1, "1": 2, "2": [3]}')).toBe(0); // unhashable list raises
    expect(s('{0: 1, 1: 2, 2: 1}')).toBe(0);
    expect(s('[1, 2, 3]')).toBe(0.01); // 0 is not in the list: KeyError path
    expect(s('[0, 2, 1]')).toBe(0.01); // 0 in the list, so coloring[0] = 0: not a colour
    expect(s('[1, 2, 1, 0]')).toBe(1); // every vertex is in the list and indexes a colour
    expect(s('"012"')).toBe(0);
    expect(s('{"0": 1, "1": 2, "2": 1} x')).toBe(0);
  });

  it('mini_sudoku: rstrip per line, digit lines, length penalty', () => {
    const g = loadGolden('mini_sudoku')[0];
    const e = toEntry(g);
    const oracle = String(g.answer);
    expect(miniSudoku.score(oracle.split('\n').join('  \n'), e).score).toBe(
      (1 * oracle.length) / (oracle.length + 6),
    );
    expect(miniSudoku.score(oracle.replaceAll(' ', ','), e).score).toBe(0.9);
    expect(miniSudoku.score('1 2 3', e).score).toBe(0);
  });

  it('tower_of_hanoi: format, legality, 0.05 unsolved, same-peg moves count', () => {
    const e: TaskEntry = {
      question: '',
      answer: null,
      metadata: { num_disks: 1, num_pegs: 3, start_peg: 1, target_peg: 3, solution_length: 1 },
    };
    const s = (a: string) => hanoi.score(a, e).score;
    expect(s('Move disk 1 from Peg 1 to Peg 3')).toBe(1);
    expect(s('  \n Move disk 1 from Peg 1 to Peg 3 \r\n\n')).toBe(1);
    expect(s('Move disk 1 from Peg 1 to Peg 1\nMove disk 1 from Peg 1 to Peg 3')).toBe(0.5);
    expect(s('Move disk 1 from Peg 1 to Peg 2')).toBe(0.05);
    expect(s('   ')).toBe(0.05);
    expect(s('Move disk 1 from Peg 1 to Peg 4')).toBe(0);
    expect(s('Move disk 1 from Peg 1 to Peg 3.')).toBe(0);
    expect(s('move disk 1 from peg 1 to peg 3')).toBe(0);
    expect(s('Move disk 1 from Peg ١ to Peg 3')).toBe(1); // Python's \d and int() take any digit
  });

  it('color_cube_rotation: case and whitespace insensitive, else 0.01', () => {
    const e: TaskEntry = { question: '', answer: 'gold', metadata: {} };
    expect(colorCube.score('\u00a0Gold\n', e).score).toBe(1);
    expect(colorCube.score('golden', e).score).toBe(0.01);
    expect(colorCube.score(null, e).score).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------
// Generators: oracle scores 1, and the items are right by independent checks.

describe.each(TASKS.map((t) => [t.name, t] as const))('%s generator', (_name, task) => {
  it('oracle scores 1.0 (strict too) at every level and seed; null scores below 1', () => {
    const items = generated(task);
    for (const { entry, where } of items) {
      const oracle = task.oracleAnswer ? task.oracleAnswer(entry) : (entry.answer as string);
      expect(task.score(oracle, entry), where).toEqual({ score: 1 });
      if (task.scoreStrict) expect(task.scoreStrict(oracle, entry), where).toEqual({ score: 1 });
      expect(task.score(null, entry).score, where).toBeLessThan(1);
    }
    expect(items.length).toBe(task.levels.length * SEEDS.length * ITEMS);
  });
});

// Exact rational arithmetic over + - * / and parentheses (independent of src/tasks/expr.ts).
function evalArith(src: string): [bigint, bigint] {
  const toks = src.match(/\d+|[-+*/()]/g) ?? [];
  expect(toks.join('')).toBe(src.replace(/\s+/g, ''));
  let p = 0;
  const norm = (n: bigint, d: bigint): [bigint, bigint] => {
    if (d === 0n) throw new Error('division by zero');
    if (d < 0n) [n, d] = [-n, -d];
    let [a, b] = [n < 0n ? -n : n, d];
    while (b) [a, b] = [b, a % b];
    return [n / a, d / a];
  };
  const atom = (): [bigint, bigint] => {
    const t = toks[p++];
    if (t === '(') {
      const v = sum();
      expect(toks[p++]).toBe(')');
      return v;
    }
    expect(t).toMatch(/^\d+$/);
    return [BigInt(t), 1n];
  };
  const prod = (): [bigint, bigint] => {
    let [n, d] = atom();
    while (toks[p] === '*' || toks[p] === '/') {
      const op = toks[p++];
      const [m, e] = atom();
      [n, d] = op === '*' ? norm(n * m, d * e) : norm(n * e, d * m);
    }
    return [n, d];
  };
  const sum = (): [bigint, bigint] => {
    let [n, d] = prod();
    while (toks[p] === '+' || toks[p] === '-') {
      const op = toks[p++];
      const [m, e] = prod();
      [n, d] = norm(op === '+' ? n * e + m * d : n * e - m * d, d * e);
    }
    return [n, d];
  };
  const v = sum();
  expect(p).toBe(toks.length);
  return v;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

describe('independent checks of generated items', () => {
  it('countdown: the expression uses exactly the numbers and equals the target', () => {
    for (const { entry, level, where } of generated(countdown)) {
      const m = entry.metadata as { numbers: number[]; target: number; expression: string };
      const config = { ...countdown.defaults, ...countdown.levels.find((l) => l.name === level)?.config };
      expect(evalArith(String(entry.answer)), where).toEqual([BigInt(m.target), 1n]);
      expect(sorted((String(entry.answer).match(/\d+/g) ?? []).map(Number)), where).toEqual(
        sorted(m.numbers),
      );
      expect(m.expression).toBe(entry.answer);
      expect(m.numbers.length).toBeGreaterThanOrEqual(config.min_numbers);
      expect(m.numbers.length).toBeLessThanOrEqual(config.max_numbers);
      expect(m.target).toBeGreaterThanOrEqual(config.min_target);
      expect(m.target).toBeLessThanOrEqual(config.max_target);
      for (const n of m.numbers) expect(n >= config.min_value && n <= config.max_value, where).toBe(true);
      expect(entry.question).toContain(String(m.target));
      expect(entry.question).toContain(m.numbers.join(', '));
    }
  });

  it('puzzle24: the expression uses exactly the four numbers and equals 24', () => {
    for (const { entry, level, where } of generated(puzzle24)) {
      const m = entry.metadata as { numbers: number[] };
      const config = { ...puzzle24.defaults, ...puzzle24.levels.find((l) => l.name === level)?.config };
      expect(evalArith(String(entry.answer)), where).toEqual([24n, 1n]);
      expect(sorted((String(entry.answer).match(/\d+/g) ?? []).map(Number)), where).toEqual(
        sorted(m.numbers),
      );
      expect(m.numbers.length).toBe(4);
      for (const n of m.numbers) expect(n >= config.min_value && n <= config.max_value, where).toBe(true);
      expect(entry.question.startsWith(`Make 24 using ${m.numbers.join(', ')}.`)).toBe(true);
    }
  });

  it('graph_color: the oracle is a proper colouring of the graph in the question', () => {
    for (const { entry, where } of generated(graphColor)) {
      const p = entry.metadata.puzzle as {
        vertices: number[];
        edges: [number, number][];
        color_options: number[];
      };
      const coloring = JSON.parse(graphOracle(entry)) as Record<string, number>;
      expect(Object.keys(coloring).length, where).toBe(p.vertices.length);
      for (const v of p.vertices) expect(p.color_options, where).toContain(coloring[String(v)]);
      for (const [u, v] of p.edges) expect(coloring[String(u)], where).not.toBe(coloring[String(v)]);
      const edgesText = p.edges.map(([u, v]) => `(${u}, ${v})`).join(', ');
      expect(entry.question).toContain(`Edges: [${edgesText}]`);
      // A wrong colouring (an edge's ends made equal) is only parsable: 0.01.
      if (p.edges.length > 0) {
        const [u, v] = p.edges[0];
        const bad = { ...coloring, [String(u)]: coloring[String(v)] };
        expect(graphColor.score(JSON.stringify(bad), entry).score).toBe(0.01);
      }
    }
  });

  it('mini_sudoku: the solution is a valid grid, keeps the givens, and is the only one', () => {
    const countSolutions = (grid: number[][]): number => {
      const g = grid.map((r) => r.slice());
      const ok = (r: number, c: number, n: number) =>
        g.every((row, i) => row[c] !== n || i === r) &&
        g[r].every((x, j) => x !== n || j === c) &&
        [0, 1].every((i) => [0, 1].every((j) => g[(r & 2) + i][(c & 2) + j] !== n));
      const rec = (k: number): number => {
        if (k === 16) return 1;
        const [r, c] = [k >> 2, k & 3];
        if (g[r][c]) return rec(k + 1);
        let total = 0;
        for (let n = 1; n <= 4; n++) {
          if (!ok(r, c, n)) continue;
          g[r][c] = n;
          total += rec(k + 1);
          g[r][c] = 0;
        }
        return total;
      };
      return rec(0);
    };
    for (const { entry, level, where } of generated(miniSudoku)) {
      const m = entry.metadata as { puzzle: number[][]; solution: number[][]; num_empty: number };
      const config = { ...miniSudoku.defaults, ...miniSudoku.levels.find((l) => l.name === level)?.config };
      const groups = [
        ...m.solution,
        ...[0, 1, 2, 3].map((c) => m.solution.map((row) => row[c])),
        ...[0, 1, 2, 3].map((b) =>
          [0, 1, 2, 3].map((i) => m.solution[2 * (b >> 1) + (i >> 1)][2 * (b & 1) + (i & 1)]),
        ),
      ];
      for (const g of groups) expect(sorted(g), where).toEqual([1, 2, 3, 4]);
      for (let r = 0; r < 4; r++) {
        for (let c = 0; c < 4; c++) if (m.puzzle[r][c]) expect(m.puzzle[r][c]).toBe(m.solution[r][c]);
      }
      expect(countSolutions(m.puzzle), where).toBe(1);
      expect(m.num_empty).toBe(m.puzzle.flat().filter((x) => x === 0).length);
      expect(m.num_empty).toBeLessThanOrEqual(config.max_empty);
      expect(entry.answer).toBe(m.solution.map((r) => r.join(' ')).join('\n'));
      expect(entry.question).toContain(m.puzzle.map((r) => r.map((x) => x || '_').join(' ')).join('\n'));
    }
  });

  it('tower_of_hanoi: every move is legal and the disks end on the target peg', () => {
    for (const { entry, where } of generated(hanoi)) {
      const m = entry.metadata as {
        num_disks: number;
        num_pegs: number;
        start_peg: number;
        target_peg: number;
        solution_length: number;
      };
      const pegs: number[][] = Array.from({ length: m.num_pegs + 1 }, () => []);
      for (let d = m.num_disks; d >= 1; d--) pegs[m.start_peg].push(d);
      const lines = String(entry.answer).split('\n');
      for (const line of lines) {
        const mm = /^Move disk (\d+) from Peg (\d+) to Peg (\d+)$/.exec(line);
        expect(mm, where).not.toBeNull();
        const [disk, from, to] = (mm as RegExpExecArray).slice(1).map(Number);
        expect(pegs[from].at(-1), where).toBe(disk);
        expect(from !== to && (pegs[to].length === 0 || (pegs[to].at(-1) as number) > disk), where).toBe(
          true,
        );
        pegs[to].push(pegs[from].pop() as number);
      }
      expect(pegs[m.target_peg], where).toEqual(
        Array.from({ length: m.num_disks }, (_, i) => m.num_disks - i),
      );
      expect(lines.length).toBe(m.solution_length);
      if (m.num_pegs === 3) expect(lines.length).toBe(2 ** m.num_disks - 1);
      else expect(lines.length).toBeLessThanOrEqual(2 ** m.num_disks - 1);
      // Dropping the last move leaves it unsolved: 0.05; two extra moves: length ratio.
      if (lines.length > 1) expect(hanoi.score(lines.slice(0, -1).join('\n'), entry).score).toBe(0.05);
    }
  });

  it('simple_integration: the answer differentiates (numerically) to the integrand', () => {
    const toFn = (expr: string, v: string) =>
      // sympy's printed polynomials only need ** rewritten for JS (unary minus before ** is a JS error).
      new Function(
        v,
        `return ${expr.replace(new RegExp(`${v}\\*\\*(\\d+)`, 'g'), `Math.pow(${v}, $1)`)};`,
      ) as (x: number) => number;
    for (const { entry, where } of generated(simpleIntegration)) {
      const v = String(entry.metadata.variable);
      expect(String(entry.answer).endsWith(' + C'), where).toBe(true);
      const F = toFn(String(entry.answer).slice(0, -4), v);
      const f = toFn(String(entry.metadata.integrand), v);
      for (const x of [0.3, 0.71, 1.13]) {
        const h = 1e-5;
        const numeric = (F(x + h) - F(x - h)) / (2 * h);
        expect(Math.abs(numeric - f(x)), `${where} at ${x}`).toBeLessThanOrEqual(
          1e-5 * Math.max(1, Math.abs(f(x))),
        );
      }
      expect(entry.question).toContain(`∫ ${entry.metadata.integrand} dx`);
      // A doubled answer scores 0 (unless all terms cancelled, as reasoning-gym's generator allows).
      if (entry.metadata.integrand !== '0') {
        expect(simpleIntegration.score(`2*(${entry.answer})`, entry).score, where).toBe(0);
      }
    }
  });

  it('color_cube_rotation: the answer follows from simulating the rotations', () => {
    for (const { entry, where } of generated(colorCube)) {
      const m = entry.metadata as {
        initial_state: Record<Side, string>;
        rotations: Side[];
        target_side: Side;
      };
      expect(simulateCube(m.initial_state, m.rotations)[m.target_side], where).toBe(entry.answer);
      expect(new Set(Object.values(m.initial_state)).size).toBe(6);
      for (const side of SIDES) expect(entry.question).toContain(`- a ${m.initial_state[side]} ${side} side`);
      expect(entry.question).toContain(`What is now the color of the ${m.target_side} side of the cube?`);
      // The module's own rotation table agrees with the vector simulation one step at a time.
      let cube = { ...m.initial_state };
      for (const r of m.rotations) {
        const next = rotateToTop(cube, r);
        expect(next).toEqual(simulateCube(cube, [r]));
        cube = next;
      }
    }
  });
});

// A cube as face normals: rotating side S to the top turns the cube 90 degrees about the axis
// normal(S) x up (180 degrees about left-right for the bottom); each colour moves with its face.
type Vec = [number, number, number];
const NORMALS: Record<Side, Vec> = {
  top: [0, 0, 1],
  bottom: [0, 0, -1],
  right: [1, 0, 0],
  left: [-1, 0, 0],
  front: [0, 1, 0],
  back: [0, -1, 0],
};
function rotateVec(v: Vec, axis: Vec, quarterTurns: number): Vec {
  let out = v;
  for (let q = 0; q < quarterTurns; q++) {
    // Rodrigues for 90 degrees about a unit axis: v' = (k x v) + k (k . v)
    const [a, b, c] = axis;
    const [x, y, z] = out;
    const dot = a * x + b * y + c * z;
    out = [b * z - c * y + a * dot, c * x - a * z + b * dot, a * y - b * x + c * dot];
  }
  return out;
}
function simulateCube(initial: Record<Side, string>, rotations: Side[]): Record<Side, string> {
  let faces = SIDES.map((s) => ({ n: NORMALS[s], color: initial[s] }));
  for (const r of rotations) {
    if (r === 'top') continue;
    const [x, y, z] = NORMALS[r];
    const axis: Vec = r === 'bottom' ? [1, 0, 0] : [y * 1 - z * 0, z * 0 - x * 1, x * 0 - y * 0]; // n x up
    const turns = r === 'bottom' ? 2 : 1;
    faces = faces.map((f) => ({ n: rotateVec(f.n, axis, turns), color: f.color }));
  }
  const key = (v: Vec) => v.join(',');
  const bySide = new Map(faces.map((f) => [key(f.n), f.color]));
  return Object.fromEntries(SIDES.map((s) => [s, bySide.get(key(NORMALS[s])) as string])) as Record<
    Side,
    string
  >;
}
