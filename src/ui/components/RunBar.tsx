// Keep and share: what run is on screen, a link with the whole setup, export to a .zip, import one back.

import { useRef, useState } from 'react';
import { download } from '../../client/download.ts';
import { showImported, showLive } from '../../store/actions/run.ts';
import { adoptShownSettings } from '../../store/actions/settings.ts';
import { syncHash } from '../../store/lib/hash.ts';
import { setError, useStore } from '../../store/store.ts';
import { buildExport, exportFileName, readRunFile } from '../lib/exportRun.ts';

const ORIGIN_TEXT = {
  example: 'Example run, bundled with the page (made with our engine on the built-in model).',
  restored: 'Your last run, restored from this browser.',
  imported: 'Imported run (view only).',
  live: 'Your run in this tab.',
};

export function RunBar() {
  const shown = useStore((s) => s.shown);
  const origin = useStore((s) => s.origin);
  const live = useStore((s) => s.live);
  const [note, setNote] = useState('');
  const input = useRef<HTMLInputElement>(null);
  return (
    <div className="runbar" data-testid="runbar">
      <p className="run-origin" data-testid="run-origin" data-origin={origin ?? ''}>
        <strong>{origin ? ORIGIN_TEXT[origin] : 'Loading the example run…'}</strong>
        {shown && (
          <span className="muted">
            {' '}
            {shown.name}
            {shown.producedWith ? ` · ${shown.producedWith}` : ''}
          </span>
        )}
        {(origin === 'imported' || origin === 'example') && (
          <button type="button" className="link" onClick={adoptShownSettings} data-testid="use-settings">
            Use its settings
          </button>
        )}
        {origin === 'imported' && live && (
          <button type="button" className="link" onClick={showLive}>
            Back to your run
          </button>
        )}
      </p>
      <div className="runbar-actions">
        <button
          type="button"
          className="secondary"
          onClick={() => {
            syncHash();
            void navigator.clipboard?.writeText(location.href).then(
              () => setNote('Link copied'),
              () => setNote('Copy the address bar: it holds the setup'),
            );
            setTimeout(() => setNote(''), 3000);
          }}
        >
          Copy link
        </button>
        <button
          type="button"
          className="secondary"
          disabled={!shown}
          title={shown ? undefined : 'Nothing to export yet: the run is still loading'}
          data-testid="export"
          onClick={() => {
            if (!shown) return;
            void buildExport(shown).then(
              (bytes) => download(bytes, exportFileName(shown), 'application/zip'),
              (e) => setError('run', e),
            );
          }}
        >
          Export run
        </button>
        <label className="button-like secondary" htmlFor="import-run">
          Import run…
        </label>
        <input
          ref={input}
          id="import-run"
          className="visually-hidden"
          type="file"
          accept=".zip,.json,application/zip,application/json"
          data-testid="import"
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f)
              void readRunFile(f).then(showImported, (err) =>
                setError('run', new Error(`Import failed: ${(err as Error).message}`)),
              );
            if (input.current) input.current.value = '';
          }}
        />
        <span className="muted small" aria-live="polite">
          {note}
        </span>
      </div>
    </div>
  );
}
