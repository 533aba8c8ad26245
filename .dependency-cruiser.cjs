// The layer rules (docs/ARCHITECTURE.md), checked by `npm run lint`: no circular imports, and every import
// between rooms of src/ points down. A room may import itself and the rooms listed for it, nothing else:
//
//   tasks, mot            the task generators/scorers and the maths of mixtures: import no other room
//   engine                model files, CPU reference, WebGPU, optimizers, decode steppers (knows no GRPO)
//   check                 golden parity, gradient parity, onnxruntime peer (npm run parity, tests, check page)
//   rl                    rollouts, GRPO, policies, sessions, checkpoints, the one evaluator
//   builtin               the built-in model: tokenizer, traces, SFT data, card
//   worker                the façade: Engine implements EngineApi (what the Web Worker exposes)
//   experiment, client    the headless runner; the page-independent client (worker client, Hub, zip, export)
//   node                  Node-only glue (Dawn's WebGPU, the Chromium path of the runner)
//   store, ui             the page's state and its React components
// Paths match with or without a leading folder, so the rules' own test (test/unit/layers.test.ts) can run
// them on a probe tree.
const ROOMS = {
  tasks: [],
  mot: [],
  engine: ['mot'],
  check: ['engine', 'mot'],
  rl: ['engine', 'mot', 'tasks'],
  builtin: ['rl', 'engine', 'mot', 'tasks'],
  worker: ['builtin', 'rl', 'engine', 'mot', 'tasks'],
  experiment: ['worker', 'builtin', 'rl', 'engine', 'mot', 'tasks'],
  client: ['worker', 'engine', 'mot', 'tasks'],
  node: ['experiment', 'worker', 'check', 'builtin', 'rl', 'engine', 'mot', 'tasks'],
  store: ['client', 'worker', 'builtin', 'rl', 'engine', 'mot', 'tasks'],
  ui: ['store', 'client', 'worker', 'builtin', 'rl', 'engine', 'mot', 'tasks'],
};
const room = (name) => `(^|/)src/${name}/`;

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means two modules are one; cut it by moving the shared part down.',
      from: {},
      to: { circular: true },
    },
    ...Object.entries(ROOMS).map(([name, allowed]) => ({
      name: `layers-${name}`,
      severity: 'error',
      comment: `src/${name}/ may import only ${allowed.length ? allowed.map((r) => `src/${r}/`).join(', ') : 'itself'} (docs/ARCHITECTURE.md)`,
      from: { path: room(name) },
      to: {
        path: `(^|/)src/(${Object.keys(ROOMS).join('|')})/`,
        pathNot: [room(name), ...allowed.map(room)],
      },
    })),
    {
      name: 'layers-src-not-up',
      severity: 'error',
      comment: 'src/ is the library: it never imports the entry points (workers/, scripts/, bench/, test/).',
      from: { path: '(^|/)src/' },
      to: { path: '(^|/)(workers|scripts|bench|test)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
