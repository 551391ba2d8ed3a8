// asyncio in the guest: async def handlers, hooks and WebSocket methods,
// awaitable fetch, background tasks, cancellation and limits, end to end over
// real sockets (spec/apps/async_app.py, spec/apps/async_hooks.py).
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { appPath, rawConnect, readAll, request, serverSuite, sleep, stderrText } from '../helpers/server.js';
import { accepts, freePort } from '../helpers/loopback.js';
import { waiter } from '../helpers/wait.js';

const waitFor = waiter({ timeoutMs: 10000, everyMs: 25, retryErrors: true });

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function state(port: number): Promise<Json> {
  const r = await request(port, '/state');
  assert.is(r.status, 200);
  return JSON.parse(r.body.toString());
}

/** A node:http upstream that holds each request until release() (and notes when a client goes away). */
class SlowUpstream {
  server: Server;
  held: ServerResponse[] = [];
  closedEarly = 0;
  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      this.held.push(res);
      res.on('close', () => {
        if (!res.writableEnded) this.closedEarly++;
      });
    });
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }
  release(body: string): void {
    for (const res of this.held.splice(0)) if (!res.destroyed) res.end(body);
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** Runs fn with a SlowUpstream listening, closed afterwards whatever happens. */
async function withUpstream(fn: (up: SlowUpstream, port: number) => Promise<void>): Promise<void> {
  const up = new SlowUpstream();
  const port = await up.listen();
  try {
    await fn(up, port);
  } finally {
    await up.close();
  }
}

const app = serverSuite('asyncio: async handlers', {
  app: appPath('async_app.py'),
  accessLog: false,
  limits: { cpuBudgetMs: 300 },
  egress: { allow: ['127.0.0.1'] },
});

app('an async handler answers; a sync one beside it too', async ({ srv }) => {
  assert.is((await request(srv.port, '/fast')).body.toString(), 'fast 0\n');
  assert.is((await request(srv.port, '/')).body.toString(), 'sync\n');
  const r = await request(srv.port, '/sleep?s=0.01&n=x');
  assert.is(r.status, 200);
  assert.is(r.body.toString(), 'slept x\n');
});

app('20 handlers awaiting a 0.5 s sleep are all in flight at once; a fast route answers meanwhile', async ({ srv }) => {
  const slow = Array.from({ length: 20 }, (_, i) => request(srv.port, `/sleep?s=0.5&n=${i}`));
  await waitFor('20 in flight', async () => (await state(srv.port)).inflight === 20);
  const fast = await request(srv.port, '/fast');
  assert.is(fast.body.toString(), 'fast 20\n', 'answered while all 20 wait');
  const bodies = (await Promise.all(slow)).map((r) => r.body.toString());
  assert.equal(bodies, Array.from({ length: 20 }, (_, i) => `slept ${i}\n`));
  const s = await state(srv.port);
  assert.is(s.peak, 20);
  assert.is(s.inflight, 0);
});

app('an awaited fetch to a slow upstream holds back no other route', async ({ srv }) => {
  await withUpstream(async (up, port) => {
    const pending = request(srv.port, `/upstream?port=${port}`);
    await waitFor('the upstream to get the request', () => up.held.length === 1);
    assert.is((await request(srv.port, '/')).body.toString(), 'sync\n');
    assert.is((await request(srv.port, '/fast')).status, 200);
    up.release('hello');
    const r = await pending;
    assert.is(r.body.toString(), 'upstream 200 hello\n');
  });
});

app('a client that leaves cancels its handler, and the upstream sees its connection closed', async ({ srv }) => {
  await withUpstream(async (up, port) => {
    const before = (await state(srv.port)).cancelled;
    const s = await rawConnect(srv.port);
    s.write(`GET /upstream?port=${port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor('the upstream to get the request', () => up.held.length === 1);
    s.destroy();
    await waitFor('the handler to be cancelled', async () => (await state(srv.port)).cancelled === before + 1);
    await waitFor('the upstream connection to close', () => up.closedEarly === 1);
  });
});

app('asyncio.wait_for on a fetch times out and closes the upstream connection', async ({ srv }) => {
  await withUpstream(async (up, port) => {
    const r = await request(srv.port, `/wait_for?port=${port}`);
    assert.is(r.body.toString(), 'timed out\n');
    await waitFor('the upstream connection to close', () => up.closedEarly === 1);
  });
});

app('gather, Event and Lock', async ({ srv }) => {
  const r = await request(srv.port, '/gather');
  assert.equal(JSON.parse(r.body.toString()), { results: [1, 4, 9], order: [1, 2, 3] });
});

app('an exception in an async handler is a 500 with its traceback on stderr', async ({ srv }) => {
  const r = await request(srv.port, '/boom');
  assert.is(r.status, 500);
  await waitFor('the traceback', () => stderrText(srv).includes('async handler failed on purpose'));
  assert.match(stderrText(srv), /Traceback while answering GET \/boom/);
});

app('an async handler that never awaits again is interrupted with 503; the server goes on', async ({ srv }) => {
  const r = await request(srv.port, '/spin');
  assert.is(r.status, 503);
  assert.is((await request(srv.port, '/fast')).status, 200);
});

app('a background task started at import runs on its timer', async ({ srv }) => {
  const t0 = (await state(srv.port)).ticks;
  await waitFor('the ticker to tick 3 more times', async () => (await state(srv.port)).ticks >= t0 + 3);
});

app('a failing background task is logged with its traceback; one over its budget is cancelled', async ({ srv }) => {
  assert.is((await request(srv.port, '/task-fails')).status, 200);
  await waitFor('the task traceback', () => stderrText(srv).includes('background task failed on purpose'));
  assert.match(stderrText(srv), /Traceback in asyncio task:/);
  assert.is((await request(srv.port, '/task-spins')).status, 200);
  await waitFor('the spinning task to be cancelled', () => stderrText(srv).includes('cancelled: over its CPU budget'));
  const t0 = (await state(srv.port)).ticks;
  await waitFor('the ticker to go on', async () => (await state(srv.port)).ticks > t0);
});

app('tasks are bounded: past the limit create_task raises a clear error', async ({ srv }) => {
  assert.is((await request(srv.port, '/many-tasks?n=10')).body.toString(), 'made 10\n');
  const r = await request(srv.port, '/many-tasks?n=5000');
  assert.match(r.body.toString(), /^made \d+: too many asyncio tasks: 1000 are running\n$/);
  await waitFor('the tasks to end', async () => (await request(srv.port, '/many-tasks?n=900')).body.toString() === 'made 900\n');
});

app('tasks cancelled before their first step are no longer counted', async ({ srv }) => {
  for (let i = 0; i < 3; i++) assert.is((await request(srv.port, '/cancel-unstarted?n=900')).body.toString(), 'cancelled\n');
  await waitFor('room for 900 tasks', async () => (await request(srv.port, '/many-tasks?n=900')).body.toString() === 'made 900\n');
});

app('pipelined requests to async handlers are answered in order', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const paths = ['/sleep?s=0.2&n=a', '/fast', '/sleep?s=0.05&n=b', '/'];
  s.write(paths.map((p, i) => `GET ${p} HTTP/1.1\r\nHost: x\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join(''));
  const text = (await readAll(s)).toString();
  const bodies = text.split('HTTP/1.1 200').slice(1).map((part) => part.slice(part.indexOf('\r\n\r\n') + 4).split('\r\n')[0].trim());
  assert.equal(bodies, ['slept a', 'fast 0', 'slept b', 'sync']);
});

app('await MQTTclient.connect(), an async on_publish, and a refused connect raising OSError', async ({ srv }) => {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pg-mosquitto-'));
  writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const broker = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  try {
    await waitFor('mosquitto', () => accepts(port));
    const r = await request(srv.port, `/mqtt?port=${port}`);
    assert.equal(JSON.parse(r.body.toString()), { got: ['t/async hi'] });
  } finally {
    broker.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  const refused = await request(srv.port, `/mqtt?port=${port}`);
  assert.match(JSON.parse(refused.body.toString()).error, /refused|reset|closed/i);
});

app('an async WebSocket method echoes', async ({ srv }) => {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
  const got: string[] = [];
  ws.on('message', (d) => got.push(d.toString()));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  for (const m of ['one', 'two', 'three']) ws.send(m);
  await waitFor('three echoes', () => got.length === 3);
  assert.equal(got, ['echo one', 'echo two', 'echo three'], 'in order: one message at a time');
  ws.close();
});

app('a WebSocket flooding an async handler is closed with 1008 past 64 waiting messages', async ({ srv }) => {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  for (let i = 0; i < 200; i++) ws.send(`m${i}`);
  assert.is(await closed, 1008);
  assert.is((await request(srv.port, '/fast')).status, 200);
});

app('handlers awaiting a task that is cancelled (not by their client) get 503', async ({ srv }) => {
  const waiting = [request(srv.port, '/shared'), request(srv.port, '/shared')];
  await sleep(200);
  assert.is((await request(srv.port, '/cancel-shared')).status, 200);
  const codes = (await Promise.all(waiting)).map((r) => r.status);
  assert.equal(codes, [503, 503]);
});

app('a coroutine driven outside any task (an async function behind a sync wrapper) fails with a reason, and the server goes on', async ({ srv }) => {
  await request(srv.port, '/wrapped').catch(() => undefined);
  await waitFor('the reason', () => stderrText(srv).includes('an await ran outside any asyncio task'));
  assert.is((await request(srv.port, '/')).body.toString(), 'sync\n');
  assert.is((await request(srv.port, '/fast')).status, 200);
});

app('an async SSE handler sends its event', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  s.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  await waitFor('the event', () => text.includes('data: from an async handler'));
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.match(text, /event: hello\n/);
  s.destroy();
});

app.run();

const hooks = serverSuite('asyncio: async hooks, asyncio.run(main())', { app: appPath('async_hooks.py'), accessLog: false, limits: { cpuBudgetMs: 300 } });
const UPGRADE = { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' };

hooks('async before/after hooks run around a sync handler', async ({ srv }) => {
  const r = await request(srv.port, '/');
  assert.is(r.body.toString(), 'sync handler, async hooks\n');
  assert.is(r.headers['x-after'], 'async');
  const blocked = await request(srv.port, '/blocked');
  assert.is(blocked.status, 403);
  assert.is(blocked.body.toString(), 'blocked by an async hook\n');
});

hooks('an async error handler answers', async ({ srv }) => {
  const r = await request(srv.port, '/nowhere');
  assert.is(r.status, 404);
  assert.is(r.body.toString(), 'no such page (async)\n');
  assert.is((await request(srv.port, '/teapot')).status, 418);
});

hooks('a task created by main() before start_server ran', async ({ srv }) => {
  assert.is((await request(srv.port, '/seen')).body.toString(), 'started');
});

hooks('an async before_request hook guards a WebSocket handshake', async ({ srv }) => {
  const refused = await request(srv.port, '/ws', { headers: UPGRADE });
  assert.is(refused.status, 401);
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws?token=ok`);
  const got: string[] = [];
  ws.on('message', (d) => got.push(d.toString()));
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  ws.send('hi');
  await waitFor('the echo', () => got.length === 1);
  assert.equal(got, ['hooked hi']);
  ws.close();
});

hooks('a hook that waits during a handshake fails it with 500 and says why', async ({ srv }) => {
  const r = await request(srv.port, '/ws-wait', { headers: UPGRADE });
  assert.is(r.status, 500);
  await waitFor('the reason', () => stderrText(srv).includes('an async hook waited during a WebSocket or SSE handshake'));
});

hooks('an async 405 handler answers, with Allow', async ({ srv }) => {
  const r = await request(srv.port, '/', { method: 'DELETE' });
  assert.is(r.status, 405);
  assert.is(r.body.toString(), 'not allowed (async)\n');
  assert.match(String(r.headers.allow), /GET/);
});

hooks('an async error handler that runs over its budget answers 503; the server goes on', async ({ srv }) => {
  const r = await request(srv.port, '/spin-in-error-handler');
  assert.is(r.status, 503);
  assert.is((await request(srv.port, '/')).status, 200);
});

hooks.run();

// The GC's safe-point rule with coroutines: collect at every safe point.
const stress = serverSuite('asyncio under gcStress', {
  app: appPath('async_app.py'),
  accessLog: false,
  gcStress: true,
  heapInitial: 64 * 1024,
  egress: { allow: ['127.0.0.1'] },
});

stress('async handlers, gathers and sleeps give the right answers with a collection at every safe point', async ({ srv }) => {
  for (let round = 0; round < 5; round++) {
    const slow = Array.from({ length: 10 }, (_, i) => request(srv.port, `/sleep?s=0.02&n=${round}-${i}`));
    const g = await request(srv.port, '/gather');
    assert.equal(JSON.parse(g.body.toString()), { results: [1, 4, 9], order: [1, 2, 3] });
    const bodies = (await Promise.all(slow)).map((r) => r.body.toString());
    assert.equal(bodies, Array.from({ length: 10 }, (_, i) => `slept ${round}-${i}\n`));
  }
  await sleep(10);
  assert.is((await request(srv.port, '/fast')).body.toString(), 'fast 0\n');
});

stress.run();
