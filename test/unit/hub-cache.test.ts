// Issue 16, "Hub, kindly": the cache view reads the browser's Hub cache back into models (id, revision,
// files, bytes) from the entries' URLs, deletes one model's files and nothing else; a plan's download
// size counts what the cache already holds; a failure's message says what to do next for each code.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { deleteHubCache, type HubPlan, listHubCache, planBytes } from '../../src/client/hub.ts';
import { hubAdvice } from '../../src/ui/components/HubSource.tsx';

vi.mock('@huggingface/transformers', () => ({
  env: {
    remoteHost: 'https://hub.invalid/',
    remotePathTemplate: '{model}/resolve/{revision}/',
    useBrowserCache: true,
    cacheKey: 'hub-test',
    allowLocalModels: false,
    allowRemoteModels: true,
  },
}));

/** Cache Storage as far as client/hub.ts uses it: one bucket of URL → Response. */
class FakeCache {
  entries = new Map<string, Response>();
  async keys() {
    return [...this.entries.keys()].map((u) => new Request(u));
  }
  async match(req: Request | string) {
    return this.entries.get(typeof req === 'string' ? req : req.url)?.clone();
  }
  async delete(req: Request | string) {
    return this.entries.delete(typeof req === 'string' ? req : req.url);
  }
}

let bucket: FakeCache;
const put = (url: string, bytes: number, header = true) =>
  bucket.entries.set(
    url,
    new Response(new Uint8Array(bytes), { headers: header ? { 'content-length': String(bytes) } : {} }),
  );

beforeEach(() => {
  bucket = new FakeCache();
  vi.stubGlobal('caches', { open: async (key: string) => (key === 'hub-test' ? bucket : new FakeCache()) });
});
afterEach(() => vi.unstubAllGlobals());

describe('the Hub cache view', () => {
  it('groups the entries by model and revision, with sizes, largest first', async () => {
    put('https://hub.invalid/org/small/resolve/main/config.json', 400);
    put('https://hub.invalid/org/small/resolve/main/model.safetensors', 5_000);
    put('https://hub.invalid/org/big/resolve/main/model.safetensors', 90_000, false);
    put('https://hub.invalid/org/big/resolve/refs%2Fpr%2F1/config.json', 300);
    put('https://elsewhere.invalid/org/big/resolve/main/config.json', 7);
    const models = await listHubCache();
    expect(models.map((m) => [m.id, m.revision, m.bytes])).toEqual([
      ['org/big', 'main', 90_000],
      ['org/small', 'main', 5_400],
      ['org/big', 'refs/pr/1', 300],
    ]);
    expect(models[1].files.map((f) => f.name).sort()).toEqual(['config.json', 'model.safetensors']);
  });

  it("deletes one model's files at one revision and nothing else", async () => {
    put('https://hub.invalid/org/a/resolve/main/config.json', 10);
    put('https://hub.invalid/org/a/resolve/main/model.safetensors', 20);
    put('https://hub.invalid/org/a/resolve/dev/config.json', 30);
    put('https://hub.invalid/org/ab/resolve/main/config.json', 40);
    expect(await deleteHubCache('org/a', 'main')).toBe(2);
    expect([...bucket.entries.keys()].sort()).toEqual([
      'https://hub.invalid/org/a/resolve/dev/config.json',
      'https://hub.invalid/org/ab/resolve/main/config.json',
    ]);
    expect((await listHubCache()).map((m) => `${m.id}@${m.revision}`).sort()).toEqual([
      'org/a@dev',
      'org/ab@main',
    ]);
  });
});

describe('a plan before a download', () => {
  it('counts every byte, those already cached, and files of unknown size', () => {
    const plan: HubPlan = {
      id: 'org/m',
      revision: 'main',
      config: {},
      files: [
        { name: 'config.json', size: 100, fromCache: true },
        { name: 'model.safetensors', size: 1_000_000, fromCache: false },
        { name: 'tokenizer.json', size: null, fromCache: false },
      ],
    };
    expect(planBytes(plan)).toEqual({ total: 1_000_100, cached: 100, unknown: 1 });
  });
});

describe('a failed Hub load in plain words', () => {
  const failure = (code: string | undefined) => ({
    id: 'org/m',
    revision: 'main',
    code,
    message: 'x',
    kept: 'motg-builtin',
  });
  it('says what to do next for each kind of failure', () => {
    const net = hubAdvice(failure('hub-network'));
    expect(net.what).toContain('Could not reach the Hugging Face Hub');
    expect(net.next).toContain('internet connection');
    expect(net.next).toContain('Local folder');
    expect(hubAdvice(failure('hub-not-found')).next).toContain('owner/name');
    expect(hubAdvice(failure('hub-denied')).what).toContain('gated or private');
    expect(hubAdvice(failure('wont-fit')).next).toContain('smaller model');
    expect(hubAdvice(failure(undefined)).next).toContain('try again');
    // The code is never part of the plain words (it is shown under Details).
    for (const code of ['hub-network', 'hub-not-found', 'hub-denied', 'hub-layout', 'wont-fit']) {
      const a = hubAdvice(failure(code));
      expect(`${a.what} ${a.next}`).not.toContain(code);
    }
  });
});
