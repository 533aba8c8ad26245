// The Model panel's Hugging Face source: a model id and revision; before a download, its size and what it
// needs on this device; a failure told right here in plain words (what happened, what to do next, the
// error code only under Details); and the browser's Hub cache (HubCache).
import { useState } from 'react';
import { CONFIRM_BYTES, checkHub, forgetHubCheck, loadFromHub } from '../../store/actions/hub.ts';
import { type HubCheck, type HubFailure, useHub } from '../../store/hubState.ts';
import { formatBytes } from '../../store/lib/memoryFit.ts';
import { useStore } from '../../store/store.ts';
import { HubCache } from './HubCache.tsx';

const LOCAL_FOLDER_STEP =
  "download the model's folder (config.json, model.safetensors, tokenizer.json) another way and open it with Local folder";

/** What happened and what to do next, in plain words, for each kind of Hub failure. */
export function hubAdvice(f: HubFailure): { what: string; next: string } {
  const name = f.revision === 'main' ? f.id : `${f.id}@${f.revision}`;
  switch (f.code) {
    case 'hub-network':
      return {
        what: `Could not reach the Hugging Face Hub to download ${name}.`,
        next: `Check your internet connection (or a proxy or firewall that blocks huggingface.co) and press Load again, or ${LOCAL_FOLDER_STEP}.`,
      };
    case 'hub-not-found':
      return {
        what: `The Hub has no model ${name}.`,
        next: 'Check the id (owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct) and the revision (a branch, tag or commit).',
      };
    case 'hub-denied':
      return {
        what: `The Hub refused access to ${name}: it is gated or private, and this page cannot sign in.`,
        next: `Accept its terms on huggingface.co, then ${LOCAL_FOLDER_STEP}.`,
      };
    case 'hub-layout':
      return {
        what: `${name} is not laid out as this page needs.`,
        next: 'Pick a Qwen2-family model with config.json, safetensors weights and tokenizer.json.',
      };
    case 'wont-fit':
      return {
        what: `${name} does not fit this device with the settings in Memory below.`,
        next: 'Lower the group size or the tokens per sequence, or pick a smaller model.',
      };
    default:
      return {
        what: `${name} could not be loaded.`,
        next: `Press Load to try again, or ${LOCAL_FOLDER_STEP}.`,
      };
  }
}

function FailureNote({ failure }: { failure: HubFailure }) {
  const { what, next } = hubAdvice(failure);
  return (
    <div className="hub-note failure" role="alert" data-testid="error" data-code={failure.code ?? ''}>
      <p>
        <strong>{what}</strong> {next}
      </p>
      <p data-testid="hub-kept">
        {failure.kept
          ? `${failure.kept} is still loaded: decoding, evaluation and training keep working with it.`
          : 'No model is loaded yet.'}
      </p>
      <details>
        <summary>Details</summary>
        <p className="small">
          {failure.message}
          {failure.code && (
            <>
              {' '}
              Error code: <code data-testid="hub-error-code">{failure.code}</code>.
            </>
          )}
        </p>
      </details>
    </div>
  );
}

/** Tokens per second in words (a slow model reads better as seconds per token). */
function speedText(tps: number): string {
  if (tps >= 10) return `${Math.round(tps)} tokens/s`;
  if (tps >= 1) return `${tps.toFixed(1)} tokens/s`;
  return `one token every ${(1 / tps).toFixed(1)} s`;
}

function CheckNote({ check, busy }: { check: HubCheck; busy: boolean }) {
  const adapter = useStore((s) => s.adapter);
  if (check.state === 'checking' || !check.plan || !check.bytes)
    return (
      <p className="hub-note muted" data-testid="hub-check" aria-live="polite">
        Asking the Hub about {check.id}…
      </p>
    );
  const { total, cached, unknown } = check.bytes;
  const fit = check.fit;
  const toDownload = total - cached;
  return (
    <div className="hub-note" data-testid="hub-check" aria-live="polite">
      <p>
        <strong data-testid="hub-size" data-bytes={total}>
          {formatBytes(total)}
        </strong>{' '}
        in {check.plan.files.length} files
        {cached > 0 ? `, ${formatBytes(cached)} of it already in this browser's cache` : ''}
        {unknown > 0 ? ` (and ${unknown} files of unknown size)` : ''}.
      </p>
      {fit ? (
        <p data-testid="hub-fit" className={fit.fits ? '' : 'bad'}>
          On this device: decoding needs about {formatBytes(fit.inference.total)} (weights{' '}
          {formatBytes(fit.inference.weights)} as {fit.weightDtype}), GRPO training about{' '}
          {formatBytes(fit.training.plan.total)}.{' '}
          {fit.fits
            ? fit.trainingFits
              ? '✓ Fits.'
              : '✓ Decoding fits; training would not with these settings.'
            : `✗ Won't fit: ${fit.problems.join(' ')}`}
        </p>
      ) : (
        <p className="bad" data-testid="hub-fit">
          Its config.json is not one this page runs: {check.configProblem}
        </p>
      )}
      {check.speed && fit && (
        <p data-testid="hub-speed" data-tokens-per-second={check.speed.tokensPerSecond.toFixed(2)}>
          Speed here: at most about {speedText(check.speed.tokensPerSecond)} per sequence — each token reads
          all {formatBytes(fit.inference.weights)} of weights, and this device copies memory at{' '}
          {(check.speed.bytesPerSecond / 1e9).toFixed(1)} GB/s (measured now). Real decoding is slower
          {adapter?.isFallbackAdapter ? ', much slower on this software adapter' : ''}; several sequences at
          once share each read.
        </p>
      )}
      {check.confirm && (
        <p>
          <button
            type="button"
            disabled={busy}
            data-testid="hub-confirm"
            onClick={() => void loadFromHub(check.id, check.revision, true)}
          >
            Download {formatBytes(toDownload)} and load
          </button>
        </p>
      )}
    </div>
  );
}

export function HubSource({ busy }: { busy: boolean }) {
  const choice = useStore((s) => s.settings.model);
  const [hubId, setHubId] = useState(choice.kind === 'hub' ? choice.id : 'Qwen/Qwen2.5-0.5B-Instruct');
  const [revision, setRevision] = useState(choice.kind === 'hub' ? choice.revision : 'main');
  const check = useHub((s) => s.check);
  const failure = useHub((s) => s.failure);
  const checking = check?.state === 'checking';
  const id = hubId.trim();
  const rev = revision.trim() || 'main';
  return (
    <div className="hub-source" data-testid="hub-source">
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void loadFromHub(id, rev);
        }}
      >
        <div className="field grow">
          <label htmlFor="hub-id">Hub model id</label>
          <input
            id="hub-id"
            value={hubId}
            spellCheck={false}
            placeholder="owner/name"
            onChange={(e) => {
              setHubId(e.target.value);
              forgetHubCheck();
            }}
          />
        </div>
        <div className="field narrow">
          <label htmlFor="hub-rev">Revision</label>
          <input
            id="hub-rev"
            value={revision}
            spellCheck={false}
            onChange={(e) => {
              setRevision(e.target.value);
              forgetHubCheck();
            }}
          />
        </div>
        <button
          type="button"
          className="secondary"
          disabled={busy || checking || id === ''}
          data-testid="hub-check-size"
          onClick={() => void checkHub(id, rev)}
        >
          Check size
        </button>
        <button type="submit" disabled={busy || checking || id === ''} data-testid="hub-load">
          Load from Hub
        </button>
        <p className="hint full">
          Qwen2-family models with safetensors weights. Downloads over {formatBytes(CONFIRM_BYTES)} show their
          size first; files are kept in the browser cache.
        </p>
      </form>
      {failure ? <FailureNote failure={failure} /> : check && <CheckNote check={check} busy={busy} />}
      <HubCache />
    </div>
  );
}
