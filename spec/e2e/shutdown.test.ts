// Graceful close(): responses in progress finish, idle connections close at
// once, WebSockets get 1001, new connections are refused.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { rawConnect, readAll, request, sleep, startServer } from '../helpers/server.js';

const APP = `
import time
from mongoose import App
app = App()

@app.get('/slow')
def slow(request):
    time.sleep_ms(400)
    return 'x' * 100000

@app.get('/fast')
def fast(request):
    return 'fast'

@app.websocket('/ws')
def echo(ws, data):
    ws.send(data)

app.run()
`;

const shutdown = suite('graceful close');

shutdown('a response in progress completes; then new connections are refused', async () => {
  const srv = await startServer({ source: APP, app: 'shutdown.py', accessLog: false });
  const inflight = request(srv.port, '/slow');
  await sleep(100);
  await srv.handle.close();
  const r = await inflight;
  assert.is(r.status, 200);
  assert.is(r.body.length, 100000);
  const refused = await request(srv.port, '/fast').then(
    () => 'answered',
    (e: NodeJS.ErrnoException) => e.code,
  );
  assert.is(refused, 'ECONNREFUSED');
});

shutdown('idle keep-alive connections and WebSockets are closed by the guest', async () => {
  const srv = await startServer({ source: APP, app: 'shutdown.py', accessLog: false });
  const s = await rawConnect(srv.port);
  s.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
  const all = readAll(s);
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
  await new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  const wsClosed = new Promise<[number, string]>((resolve) => ws.on('close', (code, reason) => resolve([code, reason.toString()])));
  await sleep(100); // the response is out; the connection is idle
  const closing = srv.handle.close({ drainTimeoutMs: 20000 });
  assert.match((await all).toString(), /\r\n\r\nfast$/);
  assert.equal(await wsClosed, [1001, 'server shutting down']);
  await closing;
});

shutdown('drainTimeoutMs: 0 closes at once, cutting the response in progress', async () => {
  const srv = await startServer({ source: APP, app: 'shutdown.py', accessLog: false });
  const inflight = request(srv.port, '/slow').then(
    (r) => `complete ${r.body.length}`,
    () => 'cut',
  );
  await sleep(100);
  await srv.handle.close({ drainTimeoutMs: 0 });
  assert.is(await inflight, 'cut');
});

shutdown.run();

const listener = suite('serving an existing net.Server');

listener('connections of a caller-made server reach the app; close() leaves the server to its owner', async () => {
  const { createServer } = await import('node:net');
  const own = createServer();
  await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
  const port = (own.address() as { port: number }).port;
  const srv = await startServer({ source: APP, app: 'shutdown.py', accessLog: false, listener: own, port: undefined });
  assert.is(srv.handle.address.port, port);
  const r = await request(port, '/fast');
  assert.is(r.body.toString(), 'fast');
  await srv.handle.close();
  assert.ok(own.listening, 'still listening: it is the caller\'s');
  await new Promise<void>((resolve) => own.close(() => resolve()));
});

listener.run();

const review = suite('review regressions');

review('SSE data with bare CRs cannot add fields; an idle unsent connection does not hold close()', async () => {
  const srv = await startServer({
    source: `
from mongoose import App, Response
app = App()

@app.sse('/events')
def events(stream, request):
    stream.send('a\\rdata: injected\\revent: admin\\r\\rb', id=1)
    try:
        stream.send('x', event='bad\\nevent')
    except ValueError:
        stream.send('refused', event='ok')

@app.get('/empty')
def empty(request):
    return Response(iter([b'should not be sent']), 204)

app.run()
`,
    app: 'review.py',
    accessLog: false,
  });
  const s = await rawConnect(srv.port);
  s.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
  let text = '';
  await new Promise<void>((resolve) => {
    s.on('data', (d: Buffer) => {
      text += d.toString();
      if (text.includes('refused')) resolve();
    });
  });
  s.destroy();
  assert.match(text, /id: 1\ndata: a\ndata: data: injected\ndata: event: admin\ndata: \ndata: b\n\n/);
  assert.match(text, /event: ok\ndata: refused\n\n/);
  assert.not.match(text, /\revent: admin/);

  const b = await rawConnect(srv.port);
  b.write('GET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const reply = (await readAll(b)).toString();
  assert.match(reply, /^HTTP\/1\.1 204 No Content\r\n/);
  assert.not.match(reply, /should not be sent/);

  await rawConnect(srv.port); // connected, never sends a byte
  await srv.handle.close({ drainTimeoutMs: 1000 });
});

review.run();
