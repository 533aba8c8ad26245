// Issue 15, "Hub": the shard names of a model.safetensors.index.json are checked against a strict pattern
// (after percent-decoding) before anything is fetched from them, by the page's Hub loader (client/hub.ts)
// and by the engine's index reader (engine/model/weights.ts), so that a crafted index cannot send a
// download to another repository.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HubError, isHubRevision, planHubModel, shardNamesOf } from '../../src/client/hub.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { UrlModelSource } from '../../src/engine/model/source.ts';
import { isSafeShardName, loadModel } from '../../src/engine/model/weights.ts';

/** What the mocked transformers.js Hub utilities were asked about, and the files they say exist. */
const hub = vi.hoisted(() => ({ asked: [] as string[], exists: new Set<string>() }));

vi.mock('@huggingface/transformers', () => ({
  env: {
    remoteHost: 'https://hub.invalid/',
    remotePathTemplate: '{model}/resolve/{revision}/',
    useBrowserCache: false,
    cacheKey: 'test',
    allowLocalModels: true,
    allowRemoteModels: false,
  },
  ModelRegistry: {
    get_file_metadata: async (_id: string, name: string) => {
      hub.asked.push(name);
      return { exists: hub.exists.has(name), size: 10, fromCache: false };
    },
  },
}));

const TRAVERSAL = '../../../../other-owner/other-repo/resolve/main/model.safetensors';
const ENCODED = '%2e%2e/%2e%2e/z';
const BAD_NAMES: unknown[] = [
  TRAVERSAL,
  ENCODED,
  '%2e%2e%2f%2e%2e%2fmodel.safetensors',
  '%252e%252e%252fmodel.safetensors',
  'sub/model.safetensors',
  'sub\\model.safetensors',
  '/model.safetensors',
  '.model.safetensors',
  'model..safetensors',
  'model.safetensors.bin',
  'model.bin',
  'model%2D1.safetensors',
  'model 1.safetensors',
  'model.safetensors\n',
  '.safetensors',
  `${'a'.repeat(300)}.safetensors`,
  '',
  42,
  null,
];

describe('isSafeShardName', () => {
  it('accepts the names the Hub writes', () => {
    for (const n of ['model.safetensors', 'model-00001-of-00004.safetensors', 'model_v2.bf16.safetensors']) {
      expect(isSafeShardName(n), n).toBe(true);
    }
  });

  it('refuses folders, dot segments (also percent-encoded), escapes and other extensions', () => {
    for (const n of BAD_NAMES) expect(isSafeShardName(n), JSON.stringify(n)).toBe(false);
  });
});

describe('the engine reads no shard the index names badly', () => {
  it('refuses the index with a typed error before any shard is fetched', async () => {
    for (const bad of [TRAVERSAL, ENCODED]) {
      const fetched: string[] = [];
      const files: Record<string, string> = {
        'config.json': JSON.stringify({
          vocab_size: 11,
          hidden_size: 4,
          intermediate_size: 4,
          num_hidden_layers: 1,
          num_attention_heads: 1,
        }),
        'model.safetensors.index.json': JSON.stringify({ weight_map: { 'model.norm.weight': bad } }),
      };
      const fakeFetch = (async (input: RequestInfo | URL) => {
        const url = String(input);
        fetched.push(url);
        const name = url.slice('https://models.invalid/m/'.length);
        return name in files ? new Response(files[name]) : new Response('', { status: 404 });
      }) as typeof fetch;
      const err = await loadModel(new UrlModelSource('https://models.invalid/m', fakeFetch)).catch((e) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect(err.code).toBe('config-invalid');
      expect(err.file).toBe('model.safetensors.index.json');
      expect(err.tensor).toBe('model.norm.weight');
      expect(err.message).toContain(JSON.stringify(bad));
      expect(fetched.every((u) => u.startsWith('https://models.invalid/m/'))).toBe(true);
      expect(fetched.some((u) => u.includes('z') || u.includes('other'))).toBe(false);
    }
  });
});

describe("the page's Hub loader checks shard names before any fetch", () => {
  const fetched: string[] = [];
  let index = '';
  beforeEach(() => {
    hub.asked.length = 0;
    fetched.length = 0;
    hub.exists = new Set(['config.json', 'model.safetensors.index.json', 'tokenizer.json']);
    vi.stubGlobal('fetch', async (input: RequestInfo | URL) => {
      const url = String(input);
      fetched.push(url);
      if (url.endsWith('/model.safetensors.index.json')) return new Response(index);
      if (url.endsWith('/config.json')) return new Response('{"model_type": "qwen2"}');
      return new Response('', { status: 404 });
    });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  for (const bad of [TRAVERSAL, ENCODED, 'model-00001-of-00002.safetensors/../../x.safetensors']) {
    it(`refuses ${JSON.stringify(bad)}: one typed error, nothing asked of the bad name`, async () => {
      index = JSON.stringify({
        weight_map: {
          'model.embed_tokens.weight': 'model-00001-of-00002.safetensors',
          'model.norm.weight': bad,
        },
      });
      const err = await planHubModel('owner/repo').catch((e) => e);
      expect(err).toBeInstanceOf(HubError);
      expect(err.code).toBe('hub-layout');
      expect(err.message).toContain(JSON.stringify(bad));
      expect(err.message).not.toContain('\n');
      expect(hub.asked).toEqual(['config.json', 'model.safetensors.index.json']);
      expect(fetched).toEqual(['https://hub.invalid/owner/repo/resolve/main/model.safetensors.index.json']);
    });
  }

  it('an index that is not JSON, has no weight_map, or lists nothing is a typed error', () => {
    for (const text of ['{', '[]', '{"weight_map": []}', '{"weight_map": {}}', '{"weight_map": {"a": 1}}']) {
      expect(() => shardNamesOf(text, 'owner/repo'), text).toThrow(HubError);
    }
  });

  it('plans a well-formed sharded repository', async () => {
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    hub.exists = new Set([...hub.exists, ...shards]);
    index = JSON.stringify({ weight_map: { b: shards[1], a: shards[0], c: shards[1] } });
    const plan = await planHubModel('owner/repo');
    expect(plan.files.map((f) => f.name)).toEqual([
      'config.json',
      'model.safetensors.index.json',
      ...shards,
      'tokenizer.json',
    ]);
  });

  it('a revision cannot step out of the repository', async () => {
    expect(isHubRevision('main')).toBe(true);
    expect(isHubRevision('refs/pr/1')).toBe(true);
    expect(isHubRevision('v1.0')).toBe(true);
    for (const r of ['..', '../other', 'a/../../b', '%2e%2e', '']) expect(isHubRevision(r), r).toBe(false);
    const err = await planHubModel('owner/repo', '../../other-owner/x').catch((e) => e);
    expect(err).toBeInstanceOf(HubError);
    expect(hub.asked).toEqual([]);
    expect(fetched).toEqual([]);
  });
});
