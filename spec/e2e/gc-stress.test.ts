// MicroPython's GC must never free a live object: handlers that allocate
// heavily, over tens of thousands of requests, with collection forced at
// every safe point, all get checked answers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appPath, rawConnect, request, settled, sleep, serverSuite, startServer, type TestServer } from '../helpers/server.js';
import { ResponseReader, post } from '../helpers/http1.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// GC stress: collect at every safe point; a small heap that has to grow.
const gc = serverSuite('gc safety', { app: appPath('echo.py'), gcStress: true, heapInitial: 64 * 1024 });

/** n requests over `conns` keep-alive connections; every answer checked. */
async function hammer(srv: TestServer, n: number, conns: number, body: (i: number) => string, expect: (i: number) => string): Promise<string[]> {
  const errors: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: conns }, async () => {
      const s = await rawConnect(srv.port);
      const reader = new ResponseReader(s);
      for (let i = next++; i < n; i = next++) {
        s.write(post(body(i)));
        const r = await reader.next();
        const got = r.body.toString();
        if (r.status !== 200 || got !== expect(i)) errors.push(`#${i}: ${r.status} ${got.slice(0, 80)}`);
      }
      s.destroy();
    }),
  );
  return errors;
}

gc('20,000 allocation-heavy requests under GC stress all answer correctly', async ({ srv }) => {
  const sum = (n: number): number => (n * (n - 1)) | 0; // sum of 2*i for i < n
  const errors = await hammer(srv, 20000, 8, (i) => `alloc:${10 + (i % 40)}`, (i) => `sum=${sum(10 + (i % 40))}`);
  assert.is(errors.length, 0, errors.slice(0, 5).join('\n'));
});

gc('20,000 echoes of fresh strings under GC stress come back intact', async ({ srv }) => {
  const text = (i: number): string => `msg-${i}-${'abcdefghij'.repeat(1 + (i % 50))}-end`;
  const errors = await hammer(srv, 20000, 8, text, text);
  assert.is(errors.length, 0, errors.slice(0, 5).join('\n'));
});

gc('collections really ran: the live heap stays small after all that allocation', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const reader = new ResponseReader(s);
  s.write(post('mem'));
  const [alloc, free] = (await reader.next()).body.toString().split(' ').map(Number);
  s.destroy();
  // Tens of MB went through the heap; without collections it would hold them.
  assert.ok(alloc < 512 * 1024, `mem_alloc ${alloc} (free ${free})`);
  // mem_free counts the room the heap may still grow into (up to heapMax).
  assert.ok(free > 0);
});

gc('the guest printed no traceback and nothing leaked', async ({ srv }) => {
  assert.not.match(srv.stderr.join(''), /Traceback|corrupt/);
  assert.is(await settled(srv), 0);
});

gc.run();

const nested = suite('gc safety: poll() under a C builtin');

nested('poll() called inside map() under GC stress leaves the list being built intact', async () => {
  const srv = await startServer({ app: appPath('poll_in_map.py'), gcStress: true, heapInitial: 64 * 1024 });
  let exit: { code: number } | null = null;
  void srv.handle.exited.then((r) => (exit = r));
  const until = Date.now() + 20000;
  while (!srv.stdout.join('').includes('intact') && exit === null && Date.now() < until) await sleep(20);
  await srv.handle.close();
  assert.is(exit, null, `app exited: ${srv.stdout.join('')} ${srv.stderr.join('')}`);
  assert.match(srv.stdout.join(''), /intact/);
});

nested.run();

const nearCap = suite('gc: a heap close to its cap');

nearCap('6 MiB live under a 16 MiB cap, 3 MiB of garbage per request: 60 requests all answer', async () => {
  const srv = await startServer({ app: appPath('near_cap.py'), heapMax: 16 * 1024 * 1024 });
  try {
    for (let i = 0; i < 60; i++) {
      const r = await request(srv.port, '/');
      assert.is(r.status, 200, `request ${i}: ${r.body.toString()} ${srv.stderr.join('')}`);
      assert.is(r.body.toString(), `made ${3 * 1024 * 1024}`);
    }
    assert.not.match(srv.stderr.join(''), /MemoryError|Traceback/);
  } finally {
    await srv.handle.close();
  }
});

nearCap.run();

// The file systems' objects (the mounts, littlefs's buffers, open files) live
// on the Python heap: under GC stress, files are read and written over and over.
const files = suite('gc safety: /app and /data');

files('2,000 template reads, counter rewrites and appends under GC stress all answer correctly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-gc-files-'));
  const srv = await startServer({ app: appPath('bundle'), data: join(dir, 'v.img'), dataSize: 256 * 1024, gcStress: true, heapInitial: 64 * 1024 });
  try {
    const errors: string[] = [];
    for (let i = 1; i <= 500; i++) {
      const page = await request(srv.port, '/');
      if (!page.body.toString().includes('<h1>A bundle</h1>')) errors.push(`page #${i}: ${page.status}`);
      const total = await request(srv.port, '/total');
      if (!total.body.toString().includes('"total": 9')) errors.push(`total #${i}: ${total.status}`);
      const count = await request(srv.port, '/count');
      if (count.body.toString() !== String(i)) errors.push(`count #${i}: ${count.body}`);
      const appended = await request(srv.port, `/append?v=${i}`, { method: 'POST', body: '' });
      if (appended.status !== 200) errors.push(`append #${i}: ${appended.status}`);
    }
    assert.is(errors.length, 0, errors.slice(0, 5).join('\n'));
    const { log } = JSON.parse((await request(srv.port, '/log')).body.toString()) as { log: string };
    assert.is(log, Array.from({ length: 500 }, (_, i) => `${i + 1}\n`).join(''));
    assert.not.match(srv.stderr.join(''), /Traceback/);
  } finally {
    await srv.handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

files.run();
