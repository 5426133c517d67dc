import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cached, MemoryStore, MultiLevelCache, serveCached } from 'salama';
import { afterEach, describe, expect, it } from 'vitest';

const closables: { close(): unknown }[] = [];
afterEach(async () => {
  for (const c of closables.splice(0)) await c.close();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closables.push({ close: () => new Promise((resolve) => server.close(resolve)) });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('serveCached for node:http', () => {
  it('answers MISS then HIT with the same ETag, and 304 for a matching If-None-Match', async () => {
    const cache = new MultiLevelCache({ stores: [new MemoryStore()] });
    closables.push(cache);
    let produced = 0;
    const server = createServer((req, res) => {
      void serveCached(cache, req, res, `page:${req.url}`, async () => {
        produced++;
        return {
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ plates: ['AB123'] }),
        };
      });
    });
    const base = await listen(server);
    const first = await fetch(`${base}/plates`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(await first.json()).toEqual({ plates: ['AB123'] });
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const second = await fetch(`${base}/plates`);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(second.headers.get('etag')).toBe(etag);
    expect(second.headers.get('content-type')).toBe('application/json');
    const revalidated = await fetch(`${base}/plates`, {
      headers: { 'if-none-match': `W/${etag}, "other"` },
    });
    expect(revalidated.status).toBe(304);
    expect(await revalidated.text()).toBe('');
    expect(produced).toBe(1);
  });

  it('says STALE when a graced copy is served while it refreshes', async () => {
    let now = 0;
    const clock = {
      now: () => now,
      setTimeout: (cb: () => void, ms: number) => setTimeout(cb, ms),
      setInterval: (cb: () => void, ms: number) => setInterval(cb, ms),
      clearTimer: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
    };
    const cache = new MultiLevelCache({
      stores: [new MemoryStore({ clock })],
      clock,
      ttlMs: 1_000,
      graceMs: 60_000,
    });
    closables.push(cache);
    let version = 0;
    const server = createServer((req, res) => {
      void serveCached(cache, req, res, 'report', async () => ({ body: `v${++version}` }));
    });
    const base = await listen(server);
    expect(await (await fetch(base)).text()).toBe('v1');
    now = 5_000;
    const stale = await fetch(base);
    expect(stale.headers.get('x-cache')).toBe('STALE');
    expect(stale.headers.get('age')).toBe('5');
    expect(await stale.text()).toBe('v1');
  });

  it('sends but does not cache responses whose status is not cacheable', async () => {
    const cache = new MultiLevelCache({ stores: [new MemoryStore()] });
    closables.push(cache);
    let produced = 0;
    const server = createServer((req, res) => {
      void serveCached(cache, req, res, 'flaky', async () => ({
        status: 503,
        body: `busy ${++produced}`,
      }));
    });
    const base = await listen(server);
    const a = await fetch(base);
    const b = await fetch(base);
    expect([a.status, b.status]).toEqual([503, 503]);
    expect(await b.text()).toBe('busy 2');
    expect(b.headers.get('x-cache')).toBe('MISS');
  });

  it('sends an uncacheable response to every request that joined its load', async () => {
    const cache = new MultiLevelCache({ stores: [new MemoryStore()] });
    closables.push(cache);
    let produced = 0;
    const server = createServer((req, res) => {
      serveCached(cache, req, res, 'report', async () => {
        produced++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return { status: 503, body: 'busy' };
      }).catch((error: unknown) => {
        res.writeHead(500);
        res.end(String(error));
      });
    });
    const base = await listen(server);
    const answers = await Promise.all(
      [1, 2, 3].map(async () => {
        const answer = await fetch(base);
        return `${answer.status} ${answer.headers.get('x-cache')} ${await answer.text()}`;
      }),
    );
    expect(answers).toEqual(['503 MISS busy', '503 MISS busy', '503 MISS busy']);
    expect(produced).toBe(1);
    expect(await cache.has('report')).toBe(false);
  });

  it('answers a cached non-2xx response in full even when If-None-Match matches', async () => {
    const cache = new MultiLevelCache({ stores: [new MemoryStore()] });
    closables.push(cache);
    const server = createServer((req, res) => {
      void serveCached(cache, req, res, `camera:${req.url}`, async () => ({
        status: 404,
        body: 'no such camera',
      }));
    });
    const base = await listen(server);
    const first = await fetch(`${base}/7`);
    const etag = first.headers.get('etag') as string;
    const second = await fetch(`${base}/7`, { headers: { 'if-none-match': etag } });
    expect(second.status).toBe(404);
    expect(second.headers.get('x-cache')).toBe('HIT');
    expect(await second.text()).toBe('no such camera');
  });
});

describe('cached() method decorator', () => {
  // Vitest's transformer (oxc) does not compile standard decorators yet, so the test applies
  // the decorator the way TypeScript's output does for `@cached(...) async owner(...)`.
  it('caches an async method per arguments, with the cache taken from the instance', async () => {
    class PlateDirectory {
      readonly cache = new MultiLevelCache({ stores: [new MemoryStore()] });
      lookups = 0;

      async owner(plate: string): Promise<string> {
        this.lookups++;
        return `owner of ${plate}`;
      }
    }
    const decorate = cached<PlateDirectory, [string], string>((self) => self.cache, {
      strategy: 'short',
    });
    PlateDirectory.prototype.owner = decorate(PlateDirectory.prototype.owner, {
      kind: 'method',
      name: 'owner',
    } as ClassMethodDecoratorContext<PlateDirectory, PlateDirectory['owner']>);
    const directory = new PlateDirectory();
    closables.push(directory.cache);
    expect(await directory.owner('AB123')).toBe('owner of AB123');
    expect(await directory.owner('AB123')).toBe('owner of AB123');
    expect(await directory.owner('CD456')).toBe('owner of CD456');
    expect(directory.lookups).toBe(2);
    expect(await directory.cache.get('owner:["AB123"]')).toBe('owner of AB123');
  });
});
