// The Train panel's settings form: the task mix (tasks, levels, weights) and the GRPO knobs (preset,
// likelihood, group size, lengths, optimizer, KL / clip, steps, seed, full fine-tuning or LoRA). Every field
// writes the store's train form (setTrainForm); the panel reads it when a run starts.
import { setTrainForm } from '../../store/actions/train.ts';
import { modeLabel, TRAIN_PRESETS } from '../../store/settings.ts';
import { useStore } from '../../store/store.ts';
import { LIKELIHOOD_CHOICES, type TrainForm } from '../../store/trainForm.ts';
import { getTask, TASK_NAMES } from '../../tasks/registry.ts';
import { CheckField, NumberField, SelectField } from '../widgets/fields.tsx';

const PRESETS = [...TRAIN_PRESETS] as TrainForm['preset'][];

function levelsOf(task: string): string[] {
  try {
    return getTask(task).levels.map((l) => l.name);
  } catch {
    return ['default'];
  }
}

export function TaskMix() {
  const tasks = useStore((s) => s.settings.train.tasks);
  const set = (i: number, patch: Partial<TrainForm['tasks'][number]>) =>
    setTrainForm({ tasks: tasks.map((t, j) => (j === i ? { ...t, ...patch } : t)) });
  const unused = TASK_NAMES.filter((t) => !tasks.some((x) => x.task === t));
  return (
    <fieldset className="task-mix">
      <legend>Task mix</legend>
      {tasks.map((t, i) => (
        <div className="task-mix-row" key={t.task}>
          <SelectField
            label={`Task ${i + 1}`}
            value={t.task}
            options={[t.task, ...unused]}
            onChange={(task) => {
              const levels = levelsOf(task);
              set(i, { task, level: levels.includes(t.level) ? t.level : levels[0] });
            }}
          />
          <SelectField
            label={`Level ${i + 1}`}
            value={t.level}
            options={levelsOf(t.task)}
            onChange={(level) => set(i, { level })}
          />
          <NumberField
            label={`Weight ${i + 1}`}
            value={t.weight}
            min={0.01}
            max={100}
            step={0.5}
            onChange={(weight) => set(i, { weight })}
          />
          {tasks.length > 1 && (
            <button
              type="button"
              className="link"
              aria-label={`Remove ${t.task} from the mix`}
              onClick={() => setTrainForm({ tasks: tasks.filter((_, j) => j !== i) })}
            >
              Remove
            </button>
          )}
        </div>
      ))}
      {unused.length > 0 && (
        <button
          type="button"
          className="secondary small-button"
          onClick={() =>
            setTrainForm({
              tasks: [...tasks, { task: unused[0], level: levelsOf(unused[0])[0], weight: 1 }],
            })
          }
        >
          Add a task
        </button>
      )}
    </fieldset>
  );
}

/** The GRPO knobs of the next run. */
export function TrainKnobs() {
  const f = useStore((s) => s.settings.train);
  return (
    <div className="knobs">
      <SelectField
        label="Preset"
        value={f.preset}
        options={PRESETS.map((p) => ({ value: p, label: modeLabel(p) }))}
        onChange={(preset) => setTrainForm({ preset })}
        testId="train-preset"
      />
      <SelectField
        label="Likelihood"
        value={f.likelihood}
        options={LIKELIHOOD_CHOICES}
        onChange={(likelihood) => setTrainForm({ likelihood })}
      />
      <NumberField
        label="G (completions per prompt)"
        value={f.G}
        min={2}
        max={64}
        step={1}
        onChange={(G) => setTrainForm({ G })}
      />
      <NumberField
        label="Prompts per step"
        value={f.prompts}
        min={1}
        max={32}
        step={1}
        onChange={(prompts) => setTrainForm({ prompts })}
      />
      <NumberField
        label="Completion tokens"
        value={f.maxCompletion}
        min={1}
        max={2048}
        step={1}
        onChange={(maxCompletion) => setTrainForm({ maxCompletion })}
      />
      <NumberField
        label="Train temperature"
        value={f.temperature}
        min={0}
        max={2}
        step={0.05}
        onChange={(temperature) => setTrainForm({ temperature })}
      />
      <NumberField
        label="Learning rate"
        value={f.learningRate}
        min={1e-9}
        max={1}
        step={1e-6}
        onChange={(learningRate) => setTrainForm({ learningRate })}
      />
      <SelectField
        label="Optimizer"
        value={f.optim}
        options={[
          { value: 'adamw', label: 'AdamW' },
          { value: 'sgd', label: 'SGD (the paper)' },
        ]}
        onChange={(optim) => setTrainForm({ optim })}
      />
      <NumberField
        label="Beta (KL)"
        value={f.beta}
        min={0}
        max={10}
        step={0.01}
        onChange={(beta) => setTrainForm({ beta })}
      />
      <NumberField
        label="Epsilon (clip)"
        value={f.epsilon}
        min={0}
        max={0.99}
        step={0.01}
        onChange={(epsilon) => setTrainForm({ epsilon })}
      />
      <NumberField
        label="Steps"
        value={f.steps}
        min={1}
        max={100000}
        step={1}
        onChange={(steps) => setTrainForm({ steps })}
      />
      <NumberField
        label="Train seed"
        value={f.seed}
        min={0}
        step={1}
        onChange={(seed) => setTrainForm({ seed })}
      />
      <NumberField
        label="Checkpoint every (steps)"
        value={f.checkpointEvery}
        min={0}
        max={100000}
        step={1}
        onChange={(checkpointEvery) => setTrainForm({ checkpointEvery })}
        hint="kept in this browser, so a reload can resume the run (0: never)"
      />
      <ParameterKnobs />
      <CheckField
        label="Continue from the last run’s weights (else every run starts from the model as loaded)"
        checked={f.continueRun}
        onChange={(continueRun) => setTrainForm({ continueRun })}
      />
    </div>
  );
}

/** Which parameters train: all of them, or a fresh LoRA adapter of a chosen rank. */
function ParameterKnobs() {
  const mode = useStore((s) => s.settings.train.mode);
  const loraRank = useStore((s) => s.settings.train.loraRank);
  const adapter = useStore((s) => s.model?.adapter ?? null);
  return (
    <>
      <SelectField
        label="Parameters"
        value={mode}
        options={[
          { value: 'full', label: 'full fine-tuning' },
          { value: 'lora', label: 'LoRA (new adapter)' },
        ]}
        onChange={(next) => setTrainForm({ mode: next })}
      />
      {mode === 'lora' && (
        <NumberField
          label="LoRA rank"
          value={loraRank}
          min={1}
          max={1024}
          step={1}
          onChange={(rank) => setTrainForm({ loraRank: rank })}
          hint={adapter ? `a fresh adapter; the loaded one (rank ${adapter.r}) is not trained` : undefined}
        />
      )}
    </>
  );
}
