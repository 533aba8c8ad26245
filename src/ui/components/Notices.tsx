// Kind messages: no WebGPU (the model runs on the CPU, slower; over plain http, why), a lost GPU device
// (what to do next), and any error with its code, each dismissible.
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
  // WebGPU exists only in secure contexts (https, localhost): over plain http the browser hides it.
  const secure = typeof isSecureContext === 'undefined' || isSecureContext;
  return (
    <div className="notices">
      {noGpu && (
        <div className="notice info" role="status" data-testid="notice-no-webgpu">
          <strong>No WebGPU here, so the model runs on the CPU — slower.</strong>{' '}
          {!secure ? (
            <>
              WebGPU works only on secure pages, and this one was opened over plain http from{' '}
              <code>{location.host}</code>. Everything still works with the built-in model. For GPU speed,
              open the playground over <code>https://</code> or on <code>localhost</code>.
            </>
          ) : (
            <>
              {webgpuInPage
                ? 'Your browser has WebGPU but offered no usable adapter (often a blocklisted driver).'
                : 'This browser does not offer WebGPU.'}{' '}
              Everything still works with the built-in model. For GPU speed use a recent Chrome or Edge (on
              Linux, start it with <code>--enable-unsafe-webgpu</code>), Safari 26, or Firefox 141+ on
              Windows.
            </>
          )}
        </div>
      )}
      {lost && (
        <div className="notice bad" role="alert" data-testid="notice-device-lost">
          <strong>The GPU stopped responding (device lost).</strong> This happens when the GPU runs out of
          memory, its driver restarts, or the tab was in the background for long. Your settings and results
          are kept; the model loads again when the engine restarts.{' '}
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
