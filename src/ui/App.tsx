// The playground's shell: header, notices, the run bar (keep and share), and the four panels.
import { useEffect, useState } from 'react';
import { startEngine } from '../store/actions/engine.ts';
import { initRuns } from '../store/actions/run.ts';
import { applyHash } from '../store/actions/settings.ts';
import { useStore } from '../store/store.ts';
import { DecodePanel } from './components/DecodePanel.tsx';
import { EvaluatePanel } from './components/EvaluatePanel.tsx';
import { Explainer } from './components/Explainer.tsx';
import { GuideButton, GuidedPath } from './components/GuidedPath.tsx';
import { ModelPanel } from './components/ModelPanel.tsx';
import { Notices } from './components/Notices.tsx';
import { RunBar } from './components/RunBar.tsx';
import { TrainPanel } from './components/TrainPanel.tsx';

type Theme = 'auto' | 'light' | 'dark';
const THEME_KEY = 'motg-playground:theme';

function useTheme(): [Theme, () => void] {
  const [theme, setTheme] = useState<Theme>(() => {
    try {
      const t = localStorage.getItem(THEME_KEY);
      return t === 'light' || t === 'dark' ? t : 'auto';
    } catch {
      return 'auto';
    }
  });
  useEffect(() => {
    if (theme === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    try {
      localStorage.setItem(THEME_KEY, theme);
    } catch {
      // private mode: the choice lasts for this page only
    }
  }, [theme]);
  const next = () => setTheme((t) => (t === 'auto' ? 'light' : t === 'light' ? 'dark' : 'auto'));
  return [theme, next];
}

function Status() {
  const status = useStore((s) => s.status);
  const adapter = useStore((s) => s.adapter);
  const lost = useStore((s) => s.lost);
  const text = lost
    ? 'GPU lost'
    : status === 'ready'
      ? adapter?.backend === 'cpu'
        ? 'ready · CPU — slower'
        : 'ready · WebGPU'
      : status === 'error'
        ? 'engine error'
        : status === 'idle'
          ? 'starting'
          : status;
  return (
    <span className={`status-pill ${lost ? 'error' : status}`} data-testid="engine-status" aria-live="polite">
      {text}
    </span>
  );
}

export function App() {
  const [theme, nextTheme] = useTheme();
  useEffect(() => {
    void initRuns().then(() => startEngine());
    window.addEventListener('hashchange', applyHash);
    return () => window.removeEventListener('hashchange', applyHash);
  }, []);
  return (
    <>
      <a className="skip" href="#decode-heading">
        Skip to the decode panel
      </a>
      <header className="top">
        <div className="brand">
          <h1>MoT-G Playground</h1>
          <p className="muted">
            Watch a small language model reason with mixtures of tokens (
            <a href="https://arxiv.org/abs/2509.21482">arXiv 2509.21482</a>), in your browser.
          </p>
        </div>
        <div className="top-actions">
          <Status />
          <GuideButton />
          <button
            type="button"
            className="secondary"
            onClick={nextTheme}
            aria-label={`Colour theme: ${theme}. Change it`}
          >
            Theme: {theme}
          </button>
        </div>
      </header>
      <main>
        <Notices />
        <RunBar />
        <div className="layout">
          <div className="col-side">
            <ModelPanel />
            <GuidedPath />
          </div>
          <div className="col-main">
            <DecodePanel />
            <Explainer />
            <EvaluatePanel />
            <TrainPanel />
          </div>
        </div>
      </main>
    </>
  );
}
