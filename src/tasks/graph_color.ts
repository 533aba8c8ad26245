// graph_color: colour a random graph so that no edge joins two vertices of one colour. The answer is a
// JSON map; the scorer mirrors reasoning-gym's json.loads + verify_graph_coloring_solution, including
// how Python's dict/list lookups behave on odd JSON (a list, a string, ...).
import { checkConfig } from './common.ts';
import { Rng } from './prng.ts';
import type { ScoreResult, TaskDefinition, TaskEntry } from './types.ts';

export type GraphColorConfig = {
  num_colors: number;
  min_num_vertices: number;
  max_num_vertices: number;
  edge_probability: number;
  seed: number | null;
  size: number;
};

const NAME = 'graph_color';

const DEFAULTS: GraphColorConfig = {
  num_colors: 3,
  min_num_vertices: 10,
  max_num_vertices: 10,
  edge_probability: 0.1,
  seed: null,
  size: 500,
};

function validate(c: GraphColorConfig): void {
  checkConfig(c.edge_probability < 1, NAME, 'edge_probability must be less than 1');
  // Ours: reasoning-gym loops until a greedy colouring fits; these keep that loop finite.
  checkConfig(c.num_colors >= 1, NAME, 'num_colors must be at least 1');
  checkConfig(c.min_num_vertices >= 1, NAME, 'min_num_vertices must be at least 1');
  checkConfig(c.max_num_vertices >= c.min_num_vertices, NAME, 'max_num_vertices must be >= min_num_vertices');
}

interface Puzzle {
  vertices: number[];
  edges: [number, number][];
  num_colors: number;
  color_options: number[];
}

// ---------- Python's json.loads (with NaN/Infinity; booleans compare like 0/1 in Python) ----------

type Py = number | string | null | Py[] | Map<string, Py>;

class JsonError extends Error {}

const JSON_NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;

function pyJsonLoads(text: string): Py {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = (): never => {
    throw new JsonError(`invalid JSON at ${i}`);
  };
  const value = (): Py => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map<string, Py>();
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        const key = str();
        ws();
        if (text[i++] !== ':') fail();
        obj.set(key, value()); // duplicate keys: the last one wins, as in Python
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i++] !== '}') fail();
        return obj;
      }
    }
    if (c === '[') {
      i++;
      const arr: Py[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i++] !== ']') fail();
        return arr;
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [
      ['true', 1],
      ['false', 0],
      ['null', null],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    JSON_NUMBER.lastIndex = i;
    const m = JSON_NUMBER.exec(text);
    if (!m) return fail();
    i += m[0].length;
    return Number(m[0]);
  };
  const str = (): string => {
    // Find the closing quote, then let JSON.parse decode (and reject control characters, bad escapes).
    let j = i + 1;
    while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    if (j >= text.length) return fail();
    const raw = text.slice(i, j + 1);
    i = j + 1;
    try {
      return JSON.parse(raw) as string;
    } catch {
      return fail();
    }
  };
  const v = value();
  ws();
  if (i !== text.length) fail(); // "Extra data"
  return v;
}

// ---------- verify_graph_coloring_solution, with Python's lookup semantics ----------

class PyTypeError extends Error {}

function pyEq(a: Py, b: Py): boolean {
  return typeof a === typeof b && a === b; // numbers (bools are 0/1 already) and strings
}

/** Python's `vertex in coloring` then `coloring[...]`: a colour, 'missing' (KeyError), or a raise. */
function getColor(coloring: Py, vertex: number): Py | 'missing' {
  if (coloring instanceof Map) {
    const key = String(vertex); // JSON keys are strings: only str(vertex) can match
    return coloring.has(key) ? (coloring.get(key) as Py) : 'missing';
  }
  if (Array.isArray(coloring)) {
    if (coloring.some((x) => pyEq(x, vertex))) {
      if (vertex >= coloring.length) throw new PyTypeError('IndexError: list index out of range');
      return coloring[vertex];
    }
    if (coloring.some((x) => pyEq(x, String(vertex)))) throw new PyTypeError('TypeError: list indices');
    return 'missing';
  }
  throw new PyTypeError("TypeError: argument of type is not iterable / 'in <string>' needs a string");
}

/** verify_graph_coloring_solution(puzzle, coloring)[0]; raises where Python would. */
function verifyColoring(puzzle: Puzzle, coloring: Py): boolean {
  for (const v of puzzle.vertices) if (getColor(coloring, v) === 'missing') return false;
  for (const v of puzzle.vertices) {
    const color = getColor(coloring, v);
    if (Array.isArray(color) || color instanceof Map) throw new PyTypeError('TypeError: unhashable type');
    if (!puzzle.color_options.some((c) => c === color)) return false;
  }
  for (const [u, v] of puzzle.edges) {
    if (getColor(coloring, u) === getColor(coloring, v)) return false;
  }
  return true;
}

function score(answer: string | null, entry: TaskEntry): ScoreResult {
  if (answer === null || answer === undefined) return { score: 0 };
  try {
    const coloring = pyJsonLoads(answer);
    return { score: verifyColoring(entry.metadata.puzzle as Puzzle, coloring) ? 1 : 0.01 };
  } catch {
    return { score: 0 };
  }
}

/** The oracle-equivalent answer: Python's json.dumps(metadata["possible_answer"]). */
export function oracleAnswer(entry: TaskEntry): string {
  const colors = entry.metadata.possible_answer as Record<string, number>;
  return `{${Object.entries(colors)
    .map(([k, v]) => `${JSON.stringify(k)}: ${v}`)
    .join(', ')}}`;
}

// ---------- generation ----------

/** First-fit colouring in vertex order; null when some vertex has no free colour. */
function greedyColoring(p: Puzzle): Map<number, number> | null {
  const adj = new Map<number, number[]>(p.vertices.map((v) => [v, []]));
  for (const [u, v] of p.edges) {
    adj.get(u)?.push(v);
    adj.get(v)?.push(u);
  }
  const coloring = new Map<number, number>();
  for (const v of p.vertices) {
    const used = new Set((adj.get(v) ?? []).map((n) => coloring.get(n)));
    const free = p.color_options.find((c) => !used.has(c));
    if (free === undefined) return null;
    coloring.set(v, free);
  }
  return coloring;
}

function generate(config: GraphColorConfig, seed: number, index: number): TaskEntry {
  const c = { ...DEFAULTS, ...config };
  validate(c);
  const rng = Rng.forItem(seed, index);
  let numVertices = rng.int(c.min_num_vertices, c.max_num_vertices);
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const vertices = Array.from({ length: numVertices }, (_, i) => i);
    const edges: [number, number][] = [];
    for (let i = 0; i < numVertices; i++) {
      for (let j = i + 1; j < numVertices; j++) if (rng.random() < c.edge_probability) edges.push([i, j]);
    }
    const puzzle: Puzzle = {
      vertices,
      edges,
      num_colors: c.num_colors,
      color_options: Array.from({ length: c.num_colors }, (_, i) => i + 1),
    };
    const solution = greedyColoring(puzzle);
    if (!solution) {
      numVertices = rng.int(c.min_num_vertices, c.max_num_vertices);
      continue;
    }
    const edgesStr = `[${edges.map(([u, v]) => `(${u}, ${v})`).join(', ')}]`;
    const question = `Please provide a coloring for this graph such that every vertex is not connected to a vertex of the same color. The graph has these properties:

Vertices: [${vertices.join(', ')}]
Edges: ${edgesStr}
Possible colors: [${puzzle.color_options.join(', ')}]

Return your solution as a JSON map of vertices to colors. (For example: {"0": 1, "1": 2, "2": 3}.)
`;
    return {
      question,
      answer: null,
      metadata: {
        source_dataset: 'graph_color',
        source_index: index,
        possible_answer: Object.fromEntries([...solution].map(([v, col]) => [String(v), col])),
        puzzle,
        num_vertices: numVertices,
        difficulty: { num_vertices: [c.min_num_vertices, c.max_num_vertices], num_colors: c.num_colors },
      },
    };
  }
  throw new Error('graph_color: no colourable graph for this config');
}

export const task: TaskDefinition<GraphColorConfig> = {
  name: 'graph_color',
  defaults: DEFAULTS,
  levels: [
    { name: 'trivial', config: { min_num_vertices: 4, max_num_vertices: 4, num_colors: 4 } },
    { name: 'easy', config: { min_num_vertices: 6, max_num_vertices: 6, num_colors: 4 } },
    { name: 'medium', config: { min_num_vertices: 8, max_num_vertices: 8, num_colors: 3 } },
    { name: 'default', config: {} },
  ],
  generate,
  score,
  oracleAnswer,
};
