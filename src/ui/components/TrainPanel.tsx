// Train panel: a placeholder until the engine has a GRPO trainer API. Nothing here pretends to train.
import { Panel } from '../widgets/fields.tsx';

export function TrainPanel() {
  return (
    <Panel id="train" title="Train (GRPO)">
      <p className="notice-inline" data-testid="train-unavailable">
        Not available yet: training needs the engine's GRPO trainer API, which is still being built. This
        panel will start, pause and chart a GRPO run (reward, accuracy, KL) once it exists. The Model panel
        already shows the memory a run with your group size, tokens and LoRA rank would need.
      </p>
    </Panel>
  );
}
