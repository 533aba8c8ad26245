// Kind messages: no WebGPU (the model runs on the CPU, slower), a lost GPU device (what to do next), and
// any error with its code, each dismissible.
import { restartEngine } from '../../store/actions/engine.ts';
import { clearError, type ErrorWhere, useStore } from '../../store/store.ts';

const WHERE: Record<ErrorWhere, string> = {
  engine: 'Engine',
  model: 'Model',
  decode: 'Decode',
  eval: 'Evaluate',
  run: 'Run',
};

export function Notices() {
  const adapter = useStore((s) => s.adapter);
  const forceCpu = useStore((s) => s.forceCpu);
  const webgpuInPage = useStore((s) => s.webgpuInPage);
  const lost = useStore((s) => s.lost);
  const errors = useStore((s) => s.errors);
  const noGpu = adapter?.backend === 'cpu' && !forceCpu;
  return (
    <div className="notices">
      {noGpu && (
        <div className="notice info" role="status" data-testid="notice-no-webgpu">
          <strong>No WebGPU here, so the model runs on the CPU — slower.</strong>{' '}
          {webgpuInPage
            ? 'Your browser has WebGPU but offered no usable adapter (often a blocklisted driver).'
            : 'This browser does not offer WebGPU.'}{' '}
          Everything still works with the built-in model. For GPU speed use a recent Chrome or Edge (on Linux,
          start it with <code>--enable-unsafe-webgpu</code>), Safari 26, or Firefox 141+ on Windows.
        </div>
      )}
      {lost && (
        <div className="notice bad" role="alert" data-testid="notice-device-lost">
          <strong>The GPU stopped responding (device lost).</strong> This happens when the GPU runs out of
          memory, its driver restarts, or the tab was in the background for long. Your settings and results
          are kept.{' '}
          <button type="button" onClick={() => void restartEngine()}>
            Restart on the GPU
          </button>{' '}
          <button type="button" className="secondary" onClick={() => void restartEngine({ cpu: true })}>
            Continue on the CPU
          </button>{' '}
          If it keeps happening, lower the group size or tokens in the Model panel.
        </div>
      )}
      {(Object.keys(errors) as ErrorWhere[]).map((where) => {
        const e = errors[where];
        if (!e || (lost && e.code === 'gpu-device-lost')) return null;
        return (
          <div key={where} className="notice bad" role="alert" data-testid="error">
            <strong>{WHERE[where]}:</strong> {e.message}
            {e.code ? <span className="muted"> [{e.code}]</span> : null}{' '}
            <button
              type="button"
              className="link"
              onClick={() => clearError(where)}
              aria-label={`Dismiss the ${WHERE[where]} message`}
            >
              Dismiss
            </button>
          </div>
        );
      })}
    </div>
  );
}
