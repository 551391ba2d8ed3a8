// The README's Python API examples, run as one app: the reference must work
// as written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { runCli } from '../helpers/cli.js';
import { ROOT, request, serverSuite, startServer } from '../helpers/server.js';

function readmeApp(): string {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const section = readme.slice(readme.indexOf('### Apps: routes'), readme.indexOf('### The seed API'));
  const blocks = [...section.matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1]);
  if (blocks.length !== 4) throw new Error(`expected 4 python blocks in the README's API section, got ${blocks.length}`);
  const [routes, hooks, sockets, tasks] = blocks;
  return `${routes.replace(/^app\.run\(\).*$/m, '')}\n${hooks}\n${sockets}\n${tasks}\napp.run()\n`;
}

const readme = serverSuite('README Python examples', () => ({ source: readmeApp(), app: 'readme.py', accessLog: false }));

readme('routes, parameters, JSON and status tuples', async ({ srv }) => {
  const index = await request(srv.port, '/');
  assert.is(index.status, 200);
  assert.is(index.body.toString(), '<h1>hello</h1>');
  assert.is(index.headers['cache-control'], 'no-store', 'the after_request hook ran');
  const get = await request(srv.port, '/users/7?q=abc');
  assert.equal(JSON.parse(get.body.toString()), { id: 7, q: 'abc' });
  const post = await request(srv.port, '/users/7', { body: '{"n": 1}', headers: { 'content-type': 'application/json' } });
  assert.is(post.status, 201);
  assert.equal(JSON.parse(post.body.toString()), { id: 7, saved: { n: 1 } });
});

readme('hooks: before_request answers early, errorhandler(404)', async ({ srv }) => {
  const early = await request(srv.port, '/users/7', { body: 'x=1', headers: { 'content-type': 'text/plain' } });
  assert.is(early.status, 415);
  const missing = await request(srv.port, '/nowhere');
  assert.is(missing.status, 404);
  assert.equal(JSON.parse(missing.body.toString()), { error: 'no such thing' });
});

readme('cookies, redirect and a streamed body', async ({ srv }) => {
  const files = await request(srv.port, '/files/a/b.txt');
  assert.is(files.body.toString(), 'text for a/b.txt');
  assert.is(files.headers['x-kind'], 'demo');
  assert.match(String(files.headers['set-cookie']), /seen=1; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax/);
  const old = await request(srv.port, '/old');
  assert.is(old.status, 302);
  assert.is(old.headers.location, '/');
  const big = await request(srv.port, '/big');
  assert.is(big.headers['transfer-encoding'], 'chunked');
  assert.is(big.body.length, 1000 * 65536);
  assert.ok(big.body.every((b) => b === 0x78));
});

readme('the WebSocket and SSE examples', async ({ srv }) => {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/chat`);
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (d) => {
      got.push(d.toString());
      if (got.length === 1) ws.send('hi all');
      if (got.length === 2) resolve();
    });
    ws.on('error', reject);
  });
  ws.close();
  assert.equal(got, ['welcome', 'hi all']);

  const events = await new Promise<string>((resolve, reject) => {
    let text = '';
    const req = (async () => {
      const { request: httpRequest } = await import('node:http');
      const r = httpRequest({ host: '127.0.0.1', port: srv.port, path: '/events' }, (res) => {
        res.on('data', (c: Buffer) => {
          text += c.toString();
          if (text.includes('data: tick')) {
            res.destroy();
            resolve(text);
          }
        });
      });
      r.on('error', reject);
      r.end();
    })();
    void req;
  });
  assert.match(events, /event: greeting\nid: 1\ndata: hello\n\n/);
  assert.match(events, /data: tick\n\n/);
});

readme('the asyncio example: an async handler, an awaited fetch, a background task', async ({ srv }) => {
  const slow = await request(srv.port, '/slow');
  assert.is(slow.status, 200);
  assert.is(slow.body.toString(), 'done');
  const weather = await request(srv.port, '/weather');
  assert.is(weather.status, 502, 'no --allow: the fetch fails with a reason');
  assert.match(JSON.parse(weather.body.toString()).error, /api\.example\.com/);
  const beats = JSON.parse((await request(srv.port, '/beats')).body.toString()).beats;
  assert.ok(beats >= 1, `the heartbeat task ran (${beats})`);
});

readme.run();

// The Files section's example, run as the README says: a bundle directory and a data volume.
const notes = suite('README files example (examples/notes)');

notes('the README names the commands; notes added over HTTP survive a restart and the data tool reads them', async () => {
  const text = readFileSync(`${ROOT}README.md`, 'utf8');
  assert.ok(text.includes('node dist/server.js examples/notes --data notes.img'));
  assert.ok(text.includes('node dist/server.js data notes.img cat notes.json'));
  const dir = mkdtempSync(join(tmpdir(), 'pg-notes-'));
  const data = join(dir, 'notes.img');
  const app = `${ROOT}examples/notes`;
  try {
    let srv = await startServer({ app, data, accessLog: false });
    try {
      const add = await request(srv.port, '/notes', { body: '{"text": "buy <milk>"}', headers: { 'content-type': 'application/json' } });
      assert.is(add.status, 201);
      assert.is((await request(srv.port, '/notes', { body: '{}', headers: { 'content-type': 'application/json' } })).status, 400);
    } finally {
      await srv.handle.close();
    }
    srv = await startServer({ app, data, accessLog: false });
    try {
      const page = await request(srv.port, '/');
      assert.match(page.body.toString(), /<title>Notes<\/title>/);
      assert.match(page.body.toString(), /<li>buy &lt;milk&gt;<\/li>/);
    } finally {
      await srv.handle.close();
    }
    assert.equal(JSON.parse(runCli(['data', data, 'cat', 'notes.json']).stdout), ['buy <milk>']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

notes.run();

const dashboard = suite('README dashboard example: its label on the data volume');

dashboard('with --data the label set through /api/config survives a restart; without it, saved is false', async () => {
  const app = `${ROOT}examples/dashboard/app.py`;
  const auth = 'admin:admin';
  const setLabel = async (port: number, label: string): Promise<Record<string, unknown>> => {
    const r = await request(port, '/api/config', { body: JSON.stringify({ label }), auth, headers: { 'content-type': 'application/json' } });
    assert.is(r.status, 200);
    return JSON.parse(r.body.toString()) as Record<string, unknown>;
  };
  const label = async (port: number): Promise<unknown> => JSON.parse((await request(port, '/api/status', { auth })).body.toString()).label;
  const dir = mkdtempSync(join(tmpdir(), 'pg-dashboard-'));
  try {
    let srv = await startServer({ app, data: join(dir, 'dashboard.img'), accessLog: false });
    try {
      assert.equal(await setLabel(srv.port, 'Attic'), { label: 'Attic', saved: true });
    } finally {
      await srv.handle.close();
    }
    srv = await startServer({ app, data: join(dir, 'dashboard.img'), accessLog: false });
    try {
      assert.is(await label(srv.port), 'Attic');
    } finally {
      await srv.handle.close();
    }
    srv = await startServer({ app, accessLog: false });
    try {
      assert.is(await label(srv.port), 'Boiler room');
      assert.equal(await setLabel(srv.port, 'Cellar'), { label: 'Cellar', saved: false });
    } finally {
      await srv.handle.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

dashboard.run();
