// The shape every task shares: entries in reasoning-gym's form, a seeded generator, a scorer.

/** One item, exactly in reasoning-gym's entry form (what `create_dataset` yields and JSONL stores). */
export interface TaskEntry {
  question: string;
  /** The oracle answer; null for tasks with no single oracle (graph_color, propositional_logic). */
  answer: string | null;
  metadata: Record<string, unknown>;
}

/** Result of scoring: reasoning-gym's score, or the error reasoning-gym would have raised (reward 0). */
export interface ScoreResult {
  score: number;
  /** Set when reasoning-gym's `score_answer` raises for this input; `score` is then 0. */
  error?: string;
}

export type TaskConfig = Record<string, unknown>;

export interface CurriculumLevel {
  /** Short name shown in the UI, e.g. "trivial", "easy", "medium", "default". */
  name: string;
  /** Config overrides applied on top of the task's defaults. */
  config: TaskConfig;
}

export interface TaskDefinition<C extends TaskConfig = TaskConfig> {
  /** reasoning-gym's dataset name, e.g. "chain_sum". */
  name: string;
  /** reasoning-gym's default config (same field names as its dataclass, see configs.json). */
  defaults: C;
  /** Named levels from the easiest to the defaults; the last level equals the defaults. */
  levels: CurriculumLevel[];
  /** Deterministic item for (config, seed, index): same result in Node and the browser. */
  generate(config: C, seed: number, index: number): TaskEntry;
  /** reasoning-gym's `score_answer(answer, entry)`, quirks and partial credit included. */
  score(answer: string | null, entry: TaskEntry): ScoreResult;
  /** Optional stricter scorer without gameable partial credit; falls back to `score` when absent. */
  scoreStrict?(answer: string | null, entry: TaskEntry): ScoreResult;
  /**
   * Optional: an answer that scores 1.0, for tasks whose `entry.answer` is null (graph_color →
   * `json.dumps(metadata.possible_answer)`, propositional_logic → `metadata.example_answer`).
   * Absent means `entry.answer` is the oracle.
   */
  oracleAnswer?(entry: TaskEntry): string;
}
