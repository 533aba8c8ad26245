import { useEffect, useState } from 'react';
import { cancelGeneration, generate, startEngine, useEngineStore } from '../store/engineStore.ts';

function AdapterPanel() {
  const adapter = useEngineStore((s) => s.adapter);
  const model = useEngineStore((s) => s.model);
  const status = useEngineStore((s) => s.status);
  return (
    <section className="panel" aria-labelledby="model-heading">
      <h2 id="model-heading">Model</h2>
      <dl>
        <dt>Compute</dt>
        <dd data-testid="adapter">
          {adapter
            ? `${adapter.backend === 'webgpu' ? 'WebGPU' : 'CPU'} · ${adapter.vendor || 'unknown vendor'} ${adapter.architecture} ${adapter.description}${adapter.isFallbackAdapter ? ' (software adapter: slow)' : ''}`
            : status === 'starting'
              ? 'starting…'
              : '—'}
        </dd>
        <dt>Model</dt>
        <dd data-testid="model">
          {model
            ? `${model.label.split('/').filter(Boolean).pop()} · ${(model.numParameters / 1e6).toFixed(2)} M parameters · ${model.config.numHiddenLayers} layers · vocab ${model.config.vocabSize}`
            : status === 'loading'
              ? 'loading…'
              : '—'}
        </dd>
      </dl>
    </section>
  );
}

function DecodePanel() {
  const status = useEngineStore((s) => s.status);
  const tokens = useEngineStore((s) => s.tokens);
  const result = useEngineStore((s) => s.result);
  const [prompt, setPrompt] = useState('What is 3 + 4?');
  const [maxNewTokens, setMaxNewTokens] = useState(32);
  const [temperature, setTemperature] = useState(0);
  const busy = status === 'generating';
  return (
    <section className="panel" aria-labelledby="decode-heading">
      <h2 id="decode-heading">Generate</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void generate(prompt, { maxNewTokens, temperature, greedy: temperature === 0, seed: 1 });
        }}
      >
        <label>
          Prompt
          <textarea value={prompt} onChange={(e) => setPrompt(e.target.value)} rows={3} />
        </label>
        <div className="row">
          <label>
            New tokens
            <input
              type="number"
              min={1}
              max={256}
              value={maxNewTokens}
              onChange={(e) => setMaxNewTokens(Number(e.target.value))}
            />
          </label>
          <label>
            Temperature
            <input
              type="number"
              min={0}
              max={2}
              step={0.1}
              value={temperature}
              onChange={(e) => setTemperature(Number(e.target.value))}
            />
          </label>
          <button type="submit" disabled={status !== 'ready'} data-testid="generate">
            Generate{temperature === 0 ? ' (greedy)' : ''}
          </button>
          <button type="button" disabled={!busy} onClick={() => void cancelGeneration()}>
            Stop
          </button>
        </div>
      </form>
      <output className="tokens" data-testid="token-stream" aria-live="polite">
        {tokens.map((t) => (
          <span key={t.step} className="token" title={`id ${t.id}`}>
            {t.text}
          </span>
        ))}
      </output>
      {result && (
        <p data-testid="generate-done" className="muted">
          {result.ids.length} tokens · stopped by {result.stopReason} · prefill {result.prefillMs.toFixed(0)}{' '}
          ms · {result.tokensPerSecond.toFixed(1)} tokens/s
        </p>
      )}
    </section>
  );
}

export function App() {
  const error = useEngineStore((s) => s.error);
  useEffect(() => {
    void startEngine();
  }, []);
  return (
    <main>
      <header>
        <h1>MoT-G Playground</h1>
        <p className="muted">A Qwen2-family model on your GPU, through our own WGSL kernels.</p>
      </header>
      {error && (
        <p role="alert" className="error" data-testid="error">
          {error.code ? `[${error.code}] ` : ''}
          {error.message}
        </p>
      )}
      <AdapterPanel />
      <DecodePanel />
    </main>
  );
}
