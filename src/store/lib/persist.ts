// The live run survives a reload: kept in IndexedDB (localStorage when IndexedDB is unavailable), with the
// latest training checkpoint (IndexedDB only) so an interrupted run can be resumed.
import type { RunFile } from '../types.ts';

const DB = 'motg-playground';
const STORE = 'runs';
const KEY = 'live';
const LS_KEY = 'motg-playground:live-run';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB open failed'));
  });
}

async function withStore<T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const req = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  } finally {
    db.close();
  }
}

const hasIdb = () => typeof indexedDB !== 'undefined';

export async function saveLiveRun(run: RunFile): Promise<void> {
  const text = JSON.stringify(run);
  if (hasIdb()) {
    try {
      await withStore('readwrite', (s) => s.put(text, KEY));
      return;
    } catch {
      // fall through to localStorage
    }
  }
  try {
    localStorage.setItem(LS_KEY, text);
  } catch {
    // storage full or blocked: the run stays in memory only
  }
}

/** The saved run's JSON text, or null. */
export async function loadLiveRun(): Promise<string | null> {
  if (hasIdb()) {
    try {
      const v = await withStore<unknown>('readonly', (s) => s.get(KEY));
      if (typeof v === 'string') return v;
    } catch {
      // fall through
    }
  }
  try {
    return localStorage.getItem(LS_KEY);
  } catch {
    return null;
  }
}

export async function clearLiveRun(): Promise<void> {
  if (hasIdb()) {
    try {
      await withStore('readwrite', (s) => s.delete(KEY));
    } catch {
      // ignore
    }
  }
  try {
    localStorage.removeItem(LS_KEY);
  } catch {
    // ignore
  }
}

/** The latest training checkpoint kept for a reload: one slot (one run trains at a time). */
export interface StoredCheckpoint {
  runId: string;
  step: number;
  bytes: Uint8Array;
}

const CHECKPOINT_KEY = 'checkpoint';

/** Keeps `ck` in IndexedDB (too large for localStorage); false when it could not be stored. */
export async function saveTrainingCheckpoint(ck: StoredCheckpoint): Promise<boolean> {
  if (!hasIdb()) return false;
  try {
    await withStore('readwrite', (s) => s.put(ck, CHECKPOINT_KEY));
    return true;
  } catch {
    return false;
  }
}

export async function loadTrainingCheckpoint(): Promise<StoredCheckpoint | null> {
  if (!hasIdb()) return null;
  try {
    const v = await withStore<unknown>('readonly', (s) => s.get(CHECKPOINT_KEY));
    const ck = v as Partial<StoredCheckpoint> | undefined;
    if (ck && typeof ck.runId === 'string' && typeof ck.step === 'number' && ck.bytes instanceof Uint8Array)
      return ck as StoredCheckpoint;
  } catch {
    // unreadable: nothing to resume
  }
  return null;
}

export async function clearTrainingCheckpoint(): Promise<void> {
  if (!hasIdb()) return;
  try {
    await withStore('readwrite', (s) => s.delete(CHECKPOINT_KEY));
  } catch {
    // ignore
  }
}
