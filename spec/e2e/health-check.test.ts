// The host's own health check: answered before the guest, never seen by Python.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AccessRecord } from '../../ts/index.js';
import { rawConnect, readAll, request, sleep, startServer, type TestServer } from '../helpers/server.js';

const APP = `
from mongoose import App
app = App()
seen = []

@app.get('/seen')
def show(request):
    return {'seen': seen}

@app.route('/<path:p>', methods=['GET', 'HEAD'])
def anything(request, p):
    seen.append(request.path)
    return 'python:' + request.path

app.run()
`;

const health = suite<{ srv: TestServer; records: AccessRecord[] }>('health check');

health.before(async (ctx) => {
  ctx.records = [];
  ctx.srv = await startServer({ source: APP, app: 'health.py', accessLog: (r) => ctx.records.push(r) });
});
health.after(async (ctx) => ctx.srv.handle.close());

health('GET /healthz is answered by the host with JSON and a closed connection', async ({ srv }) => {
  const r = await request(srv.port, '/healthz');
  assert.is(r.status, 200);
  assert.is(r.headers['content-type'], 'application/json');
  assert.is(r.headers.connection, 'close');
  assert.equal(JSON.parse(r.body.toString()), { status: 'ok' });
});

health('HEAD gets the headers only; a query string is allowed', async ({ srv }) => {
  const head = await request(srv.port, '/healthz', { method: 'HEAD' });
  assert.is(head.status, 200);
  assert.is(head.body.length, 0);
  const q = await request(srv.port, '/healthz?probe=k8s');
  assert.equal(JSON.parse(q.body.toString()), { status: 'ok' });
});

health('a probe sent a byte at a time is still recognised', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  for (const ch of 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n') {
    s.write(ch);
    await sleep(1);
  }
  const text = (await readAll(s)).toString();
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\{"status":"ok"\}/);
});

health('other paths, look-alikes and slow requests reach Python intact', async ({ srv }) => {
  const alike = await request(srv.port, '/healthzz');
  assert.is(alike.body.toString(), 'python:/healthzz');
  const post = await request(srv.port, '/healthz', { method: 'POST', body: 'x' });
  assert.is(post.status, 405, 'POST /healthz is the app\'s business');
  const s = await rawConnect(srv.port);
  for (const ch of 'GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n') {
    s.write(ch);
    await sleep(1);
  }
  assert.match((await readAll(s)).toString(), /python:\/slow$/);
});

health('a probe on a kept-alive connection is answered by the guest, not Python', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  s.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const text = (await readAll(s)).toString();
  assert.match(text, /python:\/first/);
  assert.match(text, /\r\n\r\n\{"status":"ok"\}\n$/);
});

health('Python and the access log never see the probes', async ({ srv, records }) => {
  const seen = JSON.parse((await request(srv.port, '/seen')).body.toString()).seen as string[];
  assert.ok(seen.includes('/healthzz') && seen.includes('/slow'), seen.join());
  assert.not.ok(seen.includes('/healthz'));
  assert.not.ok(records.some((r) => r.request.startsWith('GET /healthz ') || r.request === 'GET /healthz'));
});

health.run();

const custom = suite<{ srv: TestServer }>('health check options');

custom('a custom path, and false hands /healthz to Python', async () => {
  const a = await startServer({ source: APP, app: 'health.py', accessLog: false, healthPath: '/-/ready' });
  assert.equal(JSON.parse((await request(a.port, '/-/ready')).body.toString()), { status: 'ok' });
  assert.is((await request(a.port, '/healthz')).body.toString(), 'python:/healthz');
  await a.handle.close();
  const b = await startServer({ source: APP, app: 'health.py', accessLog: false, healthPath: false });
  assert.is((await request(b.port, '/healthz')).body.toString(), 'python:/healthz');
  await b.handle.close();
});

custom('a health path with a space is refused', async () => {
  try {
    await startServer({ source: APP, app: 'health.py', healthPath: '/a b' });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.match(String(err), /health path must start with \/ and have no spaces/);
  }
});

custom.run();
