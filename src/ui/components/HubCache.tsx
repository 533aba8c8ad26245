// What the browser keeps of the Hub: the models in its Hub cache (this page's downloads and
// transformers.js's), each with its size and a Delete button; how much this site stores against the
// browser's quota (navigator.storage.estimate()); and a request to keep the files when space runs low
// (navigator.storage.persist()). Read when opened, and again after each model load.
import { useCallback, useEffect, useState } from 'react';
import {
  type CachedModel,
  deleteHubCache,
  listHubCache,
  persistStorage,
  type StorageState,
  storageState,
} from '../../client/hub.ts';
import { formatBytes } from '../../store/lib/memoryFit.ts';
import { useStore } from '../../store/store.ts';

function StorageLine({ storage, onPersist }: { storage: StorageState | null; onPersist: () => void }) {
  if (!storage) return null;
  return (
    <>
      <p className="small" data-testid="hub-storage">
        {storage.usage !== null && storage.quota !== null
          ? `This site stores ${formatBytes(storage.usage)} in all (the Hub cache included), of the ${formatBytes(storage.quota)} the browser allows it.`
          : 'This browser does not say how much it stores.'}
      </p>
      <p className="small" data-testid="hub-persist" data-persisted={storage.persisted === true}>
        {storage.persisted
          ? 'Kept: the browser will not clear these files to free space.'
          : 'The browser may clear these files when it runs low on space.'}{' '}
        {storage.persisted === false && (
          <button type="button" className="link small" onClick={onPersist}>
            Keep them
          </button>
        )}
      </p>
    </>
  );
}

export function HubCache() {
  const [open, setOpen] = useState(false);
  const [models, setModels] = useState<CachedModel[] | null>(null);
  const [storage, setStorage] = useState<StorageState | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const loads = useStore((s) => s.loads);
  const refresh = useCallback(async () => {
    const [m, st] = await Promise.all([listHubCache(), storageState()]);
    setModels(m);
    setStorage(st);
  }, []);
  useEffect(() => {
    // `loads` re-reads the cache after each model load.
    if (open && loads >= 0) void refresh();
  }, [open, loads, refresh]);
  const remove = async (m: CachedModel) => {
    const n = await deleteHubCache(m.id, m.revision);
    setNote(
      `Deleted ${m.id}@${m.revision} (${n} files, ${formatBytes(m.bytes)}). A model already loaded stays loaded; loading it again downloads it again.`,
    );
    await refresh();
  };
  const persist = async () => {
    const granted = await persistStorage();
    setNote(
      granted
        ? null
        : 'The browser did not agree to keep the files (it decides by how much you use this site).',
    );
    await refresh();
  };
  return (
    <details
      className="hub-cache"
      data-testid="hub-cache"
      onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}
    >
      <summary>Models kept in this browser</summary>
      {models === null ? (
        <p className="muted small">Reading the cache…</p>
      ) : models.length === 0 ? (
        <p className="muted small" data-testid="hub-cache-empty">
          None: the Hub cache is empty.
        </p>
      ) : (
        <table className="mem-table" data-testid="hub-cache-list">
          <caption className="visually-hidden">Models in the browser's Hub cache</caption>
          <tbody>
            {models.map((m) => (
              <tr key={`${m.id}@${m.revision}`} data-model={m.id}>
                <th scope="row">
                  {m.id}
                  {m.revision === 'main' ? '' : `@${m.revision}`}{' '}
                  <span className="small">({m.files.length} files)</span>
                </th>
                <td>{formatBytes(m.bytes)}</td>
                <td>
                  <button
                    type="button"
                    className="link small"
                    aria-label={`Delete ${m.id} from the browser cache`}
                    onClick={() => void remove(m)}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <StorageLine storage={storage} onPersist={() => void persist()} />
      {note && (
        <p className="small" role="status" data-testid="hub-cache-note">
          {note}
        </p>
      )}
    </details>
  );
}
