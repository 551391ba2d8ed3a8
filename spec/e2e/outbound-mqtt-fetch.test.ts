// Outbound connections from Python (mongoose.MQTTclient, mongoose.fetch)
// through the host's NAT gateway and its egress policy, against real peers
// started here: a mosquitto broker and node:http servers. The test app
// (spec/apps/outbound.py) starts each action from an HTTP route and keeps the
// results, which the tests poll.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError, serve, type EgressOptions } from '../../ts/index.js';
import { ROOT, appPath, request, sleep, startServer, stderrText, type TestServer } from '../helpers/server.js';
import { accepts, freePort } from '../helpers/loopback.js';
import { waiter } from '../helpers/wait.js';
import { Broker } from '../helpers/mosquitto.js';

const APP = appPath('outbound.py');

// ---- helpers -------------------------------------------------------------------

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

async function getJson(srv: TestServer, path: string): Promise<Json> {
  const r = await request(srv.port, path);
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${r.body.toString()}`);
  return JSON.parse(r.body.toString('utf8'));
}

async function postJson(srv: TestServer, path: string, body: unknown = {}): Promise<Json> {
  const r = await request(srv.port, path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  if (r.status !== 200) throw new Error(`POST ${path}: ${r.status} ${r.body.toString()}`);
  return JSON.parse(r.body.toString('utf8'));
}

const waitFor = waiter({ timeoutMs: 10000, everyMs: 30, retryErrors: true });

let fetchSeq = 0;

/** Start a fetch in the guest; returns its id (or throws with what Python raised). */
async function startFetch(srv: TestServer, spec: Record<string, unknown>): Promise<string> {
  const id = `f${++fetchSeq}`;
  const r = await postJson(srv, '/fetch', { id, ...spec });
  if (r.started !== id) throw new Error(`fetch not started: ${JSON.stringify(r)}`);
  return id;
}

async function fetchResult(srv: TestServer, id: string, timeoutMs = 10000): Promise<Json> {
  return waitFor(`fetch ${id}`, async () => {
    const r = await getJson(srv, `/fetch/${id}`);
    return r.done ? r : undefined;
  }, timeoutMs);
}

/** fetch(spec) in the guest and wait for the callback. */
async function guestFetch(srv: TestServer, spec: Record<string, unknown>, timeoutMs = 10000): Promise<Json> {
  const r = await fetchResult(srv, await startFetch(srv, spec), timeoutMs);
  assert.is(r.twice, false, 'the callback ran once');
  return r;
}

/** n bytes 0, 1, ..., 255, 0, ... (the app's pattern()). */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i & 255;
  return b;
}

const countLines = (text: string, needle: string): number => text.split('\n').filter((l) => l.includes(needle)).length;

// ---- mosquitto -------------------------------------------------------------------

// ---- the test's HTTP peer ----------------------------------------------------------

interface Peer {
  server: HttpServer;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests seen, in order. */
  seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }>;
  /** Responses held by /hang, answered by release(). */
  hanging: ServerResponse[];
  sockets: Set<Socket>;
  close(): Promise<void>;
}

async function startPeer(host = '127.0.0.1'): Promise<Peer> {
  const peer: Peer = {
    server: createHttpServer(),
    port: 0,
    connections: 0,
    seen: [],
    hanging: [],
    sockets: new Set(),
    close: async () => {
      for (const s of peer.sockets) s.destroy();
      await new Promise<void>((r) => peer.server.close(() => r()));
    },
  };
  peer.server.on('connection', (s: Socket) => {
    peer.connections++;
    peer.sockets.add(s);
    s.on('close', () => peer.sockets.delete(s));
  });
  peer.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      peer.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const url = new URL(req.url ?? '/', 'http://x');
      switch (url.pathname) {
        case '/echo': {
          const reply = JSON.stringify({
            method: req.method,
            url: req.url,
            headers: req.headers,
            length: body.length,
            pattern: body.length > 0 && body.equals(pattern(body.length)),
            body: body.length <= 1024 ? body.toString('utf8') : null,
          });
          res.writeHead(201, { 'Content-Type': 'application/json', 'X-Echo': 'yes', 'Set-Cookie': 'a=1' });
          res.end(reply);
          return;
        }
        case '/big': {
          const n = Number(url.searchParams.get('n'));
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) });
          res.end(pattern(n));
          return;
        }
        case '/chunked': {
          res.writeHead(200, { 'Content-Type': 'text/plain' }); // no length: chunked
          res.write('part one, ');
          setTimeout(() => res.end('part two'), 50);
          return;
        }
        case '/cut': {
          // Headers and part of the body, then the connection goes away.
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '100000' });
          res.write(Buffer.alloc(5000, 'x'));
          const how = url.searchParams.get('how');
          setTimeout(() => (how === 'reset' ? res.socket?.resetAndDestroy() : res.socket?.destroy()), 50);
          return;
        }
        case '/nocontent':
          res.writeHead(204, { 'X-Echo': 'empty' }).end();
          return;
        case '/until-close':
          // No Content-Length, not chunked: the body ends when the connection does.
          res.socket!.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Echo: raw\r\n\r\nthe body runs until the close');
          return;
        case '/cut-before-headers':
          req.socket.destroy();
          return;
        case '/hang':
          peer.hanging.push(res);
          return;
        default:
          res.writeHead(404).end('no such page');
      }
    });
  });
  await new Promise<void>((r) => peer.server.listen(0, host, () => r()));
  peer.port = (peer.server.address() as { port: number }).port;
  return peer;
}

function release(peer: Peer, body = 'late'): void {
  for (const res of peer.hanging.splice(0)) if (!res.destroyed) res.end(body);
}

// =================================================================================
// MQTT, against mosquitto
// =================================================================================

type MqttCtx = { broker: Broker; srv: TestServer; url: string; topic: string; deadPort: number; disconnectedAt: number };
const mqtt = suite<MqttCtx>('outbound MQTT (mosquitto)');

mqtt.before(async (ctx) => {
  ctx.broker = new Broker(await freePort());
  await ctx.broker.start();
  ctx.url = `mqtt://127.0.0.1:${ctx.broker.port}`;
  ctx.topic = `pg/${process.pid}/${Date.now()}`;
  ctx.deadPort = await freePort();
  // Both the broker's port and one where nothing listens.
  ctx.srv = await startServer({ app: APP, accessLog: false, egress: { allow: ['127.0.0.1'] } });
});

mqtt.after(async (ctx) => {
  await ctx.srv?.handle.close({ drainTimeoutMs: 0 });
  await ctx.broker?.dispose();
});

async function newClient(ctx: MqttCtx, name: string, spec: Record<string, unknown> = {}, srv = ctx.srv): Promise<Json> {
  await postJson(srv, '/mqtt/new', { name, url: ctx.url, client_id: `${name}-${process.pid}`, ...spec });
  return waitFor(`${name} connected`, async () => {
    const s = await getJson(srv, `/mqtt/${name}`);
    return s.connected && s.connects >= 1 ? s : undefined;
  });
}

const status = (srv: TestServer, name: string): Promise<Json> => getJson(srv, `/mqtt/${name}`);

/** Wait until client `name` has a message on topic; returns all its messages on that topic. */
async function messagesOn(srv: TestServer, name: string, topic: string, count = 1, timeoutMs = 10000): Promise<Json[]> {
  return waitFor(`${count} message(s) on ${topic} for ${name}`, async () => {
    const got = (await status(srv, name)).messages.filter((m: Json) => m.topic === topic);
    return got.length >= count ? got : undefined;
  }, timeoutMs);
}

mqtt('connect, subscribe, publish: round trips at QoS 0 and QoS 1', async (ctx) => {
  const t = ctx.topic;
  const s = await newClient(ctx, 'a', { subs: [[`${t}/q0`, 0], [`${t}/q1`, 1]] });
  assert.is(s.state, 'connected');
  assert.is(s.error, null);
  assert.is(s.connects, 1, 'on_connect ran once');
  const p0 = await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/q0`, msg: 'hello at qos 0', qos: 0 });
  const p1 = await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/q1`, msg: 'hello at qos 1', qos: 1 });
  assert.type(p0.ok, 'number');
  assert.ok(p1.ok > 0, `a QoS 1 publish has a packet id: ${JSON.stringify(p1)}`);
  const m0 = await messagesOn(ctx.srv, 'a', `${t}/q0`);
  const m1 = await messagesOn(ctx.srv, 'a', `${t}/q1`);
  assert.equal(m0, [{ topic: `${t}/q0`, length: 14, msg: 'hello at qos 0' }]);
  assert.equal(m1, [{ topic: `${t}/q1`, length: 14, msg: 'hello at qos 1' }]);
  // Several in a row arrive in order.
  for (let i = 0; i < 5; i++) await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/q1`, msg: `n${i}`, qos: 1 });
  const all = await messagesOn(ctx.srv, 'a', `${t}/q1`, 6);
  assert.equal(all.map((m: Json) => m.msg), ['hello at qos 1', 'n0', 'n1', 'n2', 'n3', 'n4']);
  assert.is(ctx.srv.handle.stats().outbound.active, 1, 'one connection to the broker');
});

mqtt('a retained message reaches a later subscriber; a plain one does not', async (ctx) => {
  const t = ctx.topic;
  await postJson(ctx.srv, '/mqtt/a/sub', { topic: `${t}/retained`, qos: 1 });
  await postJson(ctx.srv, '/mqtt/a/sub', { topic: `${t}/plain`, qos: 1 });
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/plain`, msg: 'not kept', qos: 1 });
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/retained`, msg: 'kept', qos: 1, retain: true });
  // a sees both, so the broker has handled them.
  await messagesOn(ctx.srv, 'a', `${t}/plain`);
  await messagesOn(ctx.srv, 'a', `${t}/retained`);
  const b = await newClient(ctx, 'b', { subs: [[`${t}/plain`, 0], [`${t}/retained`, 0]] });
  assert.is(b.connects, 1);
  const got = await messagesOn(ctx.srv, 'b', `${t}/retained`);
  assert.equal(got, [{ topic: `${t}/retained`, length: 4, msg: 'kept' }]);
  await sleep(300);
  assert.equal((await status(ctx.srv, 'b')).messages, [{ topic: `${t}/retained`, length: 4, msg: 'kept' }], 'only the retained one');
  // Clear it (an empty retained message), so a later subscriber gets nothing.
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/retained`, msg: '', qos: 1, retain: true });
  await messagesOn(ctx.srv, 'a', `${t}/retained`, 2);
});

mqtt('a 256 KiB payload round trips intact', async (ctx) => {
  const t = `${ctx.topic}/big`;
  const n = 256 * 1024;
  await postJson(ctx.srv, '/mqtt/a/sub', { topic: t, qos: 1 });
  const r = await postJson(ctx.srv, '/mqtt/a/pub', { topic: t, pattern: n, qos: 1 });
  assert.ok(r.ok > 0, JSON.stringify(r));
  const [m] = await messagesOn(ctx.srv, 'a', t);
  assert.is(m.length, n);
  const index = (await status(ctx.srv, 'a')).messages.findIndex((x: Json) => x.topic === t);
  const raw = await request(ctx.srv.port, `/mqtt/a/message/${index}`);
  assert.is(raw.status, 200);
  assert.is(raw.body.length, n);
  assert.ok(raw.body.equals(pattern(n)), 'the payload bytes are the ones sent');
});

mqtt('unsub() stops delivery', async (ctx) => {
  const t = ctx.topic;
  await postJson(ctx.srv, '/mqtt/a/sub', { topic: `${t}/u`, qos: 1 });
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/u`, msg: 'one', qos: 1 });
  await messagesOn(ctx.srv, 'a', `${t}/u`);
  assert.equal(await postJson(ctx.srv, '/mqtt/a/unsub', { topic: `${t}/u` }), { ok: null });
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/u`, msg: 'two', qos: 1 });
  // A marker on a topic still subscribed: once it is here, "two" would have been too.
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/q1`, msg: 'marker-u', qos: 1 });
  await waitFor('marker-u', async () => (await status(ctx.srv, 'a')).messages.some((m: Json) => m.msg === 'marker-u'));
  const got = (await status(ctx.srv, 'a')).messages.filter((m: Json) => m.topic === `${t}/u`);
  assert.equal(got.map((m: Json) => m.msg), ['one']);
});

mqtt('pub/sub/unsub while not connected raise OSError; state and error tell why', async (ctx) => {
  await postJson(ctx.srv, '/mqtt/new', { name: 'dead', url: `mqtt://127.0.0.1:${ctx.deadPort}` });
  const s = await waitFor('the dead broker refused', async () => {
    const st = await status(ctx.srv, 'dead');
    return st.error !== null ? st : undefined;
  });
  assert.is(s.connected, false);
  assert.is(s.state, 'connecting', 'it keeps retrying');
  assert.is(s.error, `ECONNREFUSED 127.0.0.1:${ctx.deadPort}`);
  assert.equal(s.errors[0], s.error, 'on_error got it');
  assert.is(s.connects, 0);
  const why = `OSError: MQTT client is not connected (ECONNREFUSED 127.0.0.1:${ctx.deadPort})`;
  assert.equal(await postJson(ctx.srv, '/mqtt/dead/pub', { topic: 'x', msg: 'y' }), { raised: why });
  assert.equal(await postJson(ctx.srv, '/mqtt/dead/sub', { topic: 'x' }), { raised: why });
  assert.equal(await postJson(ctx.srv, '/mqtt/dead/unsub', { topic: 'x' }), { raised: why });
  // It retries every 3 s: another refusal arrives.
  await waitFor('a second attempt', async () => (await status(ctx.srv, 'dead')).errors.length >= 2, 6000);
  await postJson(ctx.srv, '/mqtt/dead/disconnect');
  const d = await status(ctx.srv, 'dead');
  assert.is(d.state, 'disconnected');
  const errors = d.errors.length;
  await sleep(3500);
  const later = await status(ctx.srv, 'dead');
  assert.is(later.state, 'disconnected');
  assert.is(later.errors.length, errors, 'no more attempts after disconnect()');
});

mqtt('a broker that refuses the client: the CONNACK code, no on_connect, retries', async (ctx) => {
  const strict = new Broker(await freePort(), 'allow_anonymous false\n');
  try {
    await strict.start();
    await postJson(ctx.srv, '/mqtt/new', { name: 'refused', url: `mqtt://127.0.0.1:${strict.port}` });
    const s = await waitFor('the refusal', async () => {
      const st = await status(ctx.srv, 'refused');
      return st.errors.length > 0 ? st : undefined;
    });
    assert.is(s.errors[0], 'the broker refused the connection (CONNACK code 5)');
    assert.is(s.connects, 0, 'on_connect did not run');
    assert.is(s.connected, false);
    await waitFor('a second attempt', async () => (await status(ctx.srv, 'refused')).errors.length >= 2, 6000);
    const later = await status(ctx.srv, 'refused');
    assert.is(later.connects, 0);
    assert.is(later.state, 'connecting');
  } finally {
    await postJson(ctx.srv, '/mqtt/refused/disconnect');
    await strict.dispose();
  }
  assert.is((await status(ctx.srv, 'refused')).state, 'disconnected');
});

mqtt('disconnect(): state "disconnected", on_disconnect, no last will', async (ctx) => {
  const t = ctx.topic;
  await postJson(ctx.srv, '/mqtt/a/sub', { topic: `${t}/will-d`, qos: 1 });
  await newClient(ctx, 'd', { will_topic: `${t}/will-d`, will_msg: 'd is gone', subs: [[`${t}/q1`, 1]] });
  assert.equal(await postJson(ctx.srv, '/mqtt/d/disconnect'), { ok: null });
  const s = await waitFor('d disconnected', async () => {
    const st = await status(ctx.srv, 'd');
    return st.state === 'disconnected' ? st : undefined;
  }, 5000);
  ctx.disconnectedAt = Date.now();
  assert.is(s.connected, false);
  assert.is(s.disconnects, 1, 'on_disconnect ran');
  assert.equal(await postJson(ctx.srv, '/mqtt/d/pub', { topic: 'x', msg: 'y' }), { raised: 'OSError: MQTT client is not connected (disconnected)' });
  // The broker got a clean DISCONNECT: no will. (a's marker proves the broker is past it.)
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/q1`, msg: 'marker-d', qos: 1 });
  await waitFor('marker-d', async () => (await status(ctx.srv, 'a')).messages.some((m: Json) => m.msg === 'marker-d'));
  await sleep(200);
  assert.is((await status(ctx.srv, 'a')).messages.filter((m: Json) => m.topic === `${t}/will-d`).length, 0, 'no will after a clean disconnect');
});

mqtt('the last will is published when a client goes away abruptly', async (ctx) => {
  const t = ctx.topic;
  await postJson(ctx.srv, '/mqtt/a/sub', { topic: `${t}/will`, qos: 1 });
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/q1`, msg: 'marker-w', qos: 1 });
  await waitFor('marker-w', async () => (await status(ctx.srv, 'a')).messages.some((m: Json) => m.msg === 'marker-w'));
  const other = await startServer({ app: APP, accessLog: false, egress: { allow: [`127.0.0.1:${ctx.broker.port}`] } });
  try {
    await newClient(ctx, 'w', { will_topic: `${t}/will`, will_msg: 'w is gone', will_qos: 1 }, other);
    await sleep(100);
    assert.is((await status(ctx.srv, 'a')).messages.filter((m: Json) => m.topic === `${t}/will`).length, 0, 'no will while w is up');
  } finally {
    await other.handle.close({ drainTimeoutMs: 0 });
  }
  const will = await messagesOn(ctx.srv, 'a', `${t}/will`, 1, 5000);
  assert.equal(will, [{ topic: `${t}/will`, length: 9, msg: 'w is gone' }]);
});

mqtt('reconnects after the broker restarts; on_connect runs again and resubscribes', async (ctx) => {
  const t = ctx.topic;
  const before = await status(ctx.srv, 'a');
  assert.is(before.connects, 1);
  await ctx.broker.stop();
  const down = await waitFor('a noticed the broker is gone', async () => {
    const st = await status(ctx.srv, 'a');
    return !st.connected ? st : undefined;
  }, 5000);
  assert.is.not(down.state, 'connected');
  assert.is(down.disconnects, 1, 'on_disconnect ran');
  const lost = await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/q0`, msg: 'lost' });
  assert.match(lost.raised, /^OSError: MQTT client is not connected \(.+\)$/);
  const start = Date.now();
  await ctx.broker.start();
  const up = await waitFor('a reconnected', async () => {
    const st = await status(ctx.srv, 'a');
    return st.connected && st.connects === 2 ? st : undefined;
  }, 10000);
  assert.ok(Date.now() - start < 10000);
  assert.is(up.error, null, 'the error is cleared on reconnection');
  // on_connect subscribed again (a clean session lost the old subscriptions).
  const count = (await status(ctx.srv, 'a')).messages.filter((m: Json) => m.topic === `${t}/q0`).length;
  await postJson(ctx.srv, '/mqtt/a/pub', { topic: `${t}/q0`, msg: 'after restart' });
  const q0 = await messagesOn(ctx.srv, 'a', `${t}/q0`, count + 1);
  assert.is(q0[q0.length - 1].msg, 'after restart');
});

mqtt('a client that disconnect()ed stays disconnected, broker restart or not', async (ctx) => {
  const wait = ctx.disconnectedAt + 3500 - Date.now();
  if (wait > 0) await sleep(wait);
  const d = await status(ctx.srv, 'd');
  assert.is(d.state, 'disconnected');
  assert.is(d.connects, 1);
});

mqtt.run();

// =================================================================================
// HTTP client, against node:http
// =================================================================================

type FetchCtx = { peer: Peer; srv: TestServer; base: string };
const http = suite<FetchCtx>('outbound fetch (node:http)');

http.before(async (ctx) => {
  ctx.peer = await startPeer();
  ctx.base = `http://127.0.0.1:${ctx.peer.port}`;
  ctx.srv = await startServer({ app: APP, accessLog: false, egress: { allow: ['127.0.0.1'] } });
});

http.after(async (ctx) => {
  if (ctx.peer) release(ctx.peer);
  await ctx.srv?.handle.close({ drainTimeoutMs: 0 });
  await ctx.peer?.close();
});

http('GET: path and query reach the server; status, headers and body reach Python', async ({ peer, srv, base }) => {
  const r = await guestFetch(srv, { url: `${base}/echo?a=1&b=two%20words`, headers: { 'X-Test': 'yes', Accept: 'application/json' } });
  assert.is(r.error, null);
  assert.is(r.status, 201);
  assert.is(r.ok, true);
  assert.is(r.x_echo, 'yes', 'headers.get() ignores case');
  assert.ok(r.headers.some(([k, v]: [string, string]) => k.toLowerCase() === 'set-cookie' && v === 'a=1'), JSON.stringify(r.headers));
  const e = r.json;
  assert.is(e.method, 'GET');
  assert.is(e.url, '/echo?a=1&b=two%20words');
  assert.is(e.headers['x-test'], 'yes');
  assert.is(e.headers.accept, 'application/json');
  assert.is(e.headers.host, `127.0.0.1:${peer.port}`);
  assert.is(e.length, 0);
  assert.is(e.headers['content-length'], undefined, 'no body, no Content-Length');
});

http('POST: str body and dict body (as JSON)', async ({ srv, base }) => {
  const r = await guestFetch(srv, { url: `${base}/echo?x=1`, method: 'post', body: 'hello post', headers: { 'Content-Type': 'text/plain' } });
  assert.is(r.status, 201);
  assert.is(r.json.method, 'POST');
  assert.is(r.json.url, '/echo?x=1');
  assert.is(r.json.body, 'hello post');
  assert.is(r.json.headers['content-length'], '10');
  assert.is(r.json.headers['content-type'], 'text/plain');
  const j = await guestFetch(srv, { url: `${base}/echo`, method: 'PUT', body: { k: [1, 2], s: 'é' } });
  assert.is(j.json.method, 'PUT');
  assert.is(j.json.headers['content-type'], 'application/json');
  assert.equal(JSON.parse(j.json.body), { k: [1, 2], s: 'é' });
  // A POST with no body still says Content-Length: 0.
  const empty = await guestFetch(srv, { url: `${base}/echo`, method: 'POST' });
  assert.is(empty.json.headers['content-length'], '0');
});

http('a 404 is a response, not an error; a chunked body is reassembled', async ({ srv, base }) => {
  const r = await guestFetch(srv, { url: `${base}/nope` });
  assert.is(r.status, 404);
  assert.is(r.ok, false);
  assert.is(r.error, null);
  assert.is(r.body, 'no such page');
  const c = await guestFetch(srv, { url: `${base}/chunked` });
  assert.is(c.status, 200);
  assert.is(c.body, 'part one, part two');
});

http('HEAD, 204 and a body delimited by the close', async ({ srv, base }) => {
  const head = await guestFetch(srv, { url: `${base}/big?n=1000`, method: 'HEAD' });
  assert.is(head.error, null, 'HEAD: no body, whatever Content-Length says');
  assert.is(head.status, 200);
  assert.is(head.length, 0);
  assert.ok(head.headers.some(([k, v]: [string, string]) => k.toLowerCase() === 'content-length' && v === '1000'), JSON.stringify(head.headers));
  const none = await guestFetch(srv, { url: `${base}/nocontent` });
  assert.is(none.error, null);
  assert.is(none.status, 204);
  assert.is(none.x_echo, 'empty');
  assert.is(none.length, 0);
  const raw = await guestFetch(srv, { url: `${base}/until-close` });
  assert.is(raw.error, null);
  assert.is(raw.status, 200);
  assert.is(raw.x_echo, 'raw');
  assert.is(raw.body, 'the body runs until the close');
});

http('a 4 MiB response arrives intact', async ({ srv, base }) => {
  const n = 4 * 1024 * 1024;
  const id = await startFetch(srv, { url: `${base}/big?n=${n}` });
  const r = await fetchResult(srv, id, 20000);
  assert.is(r.error, null);
  assert.is(r.status, 200);
  assert.is(r.length, n);
  const raw = await request(srv.port, `/fetch/${id}/body`);
  assert.is(raw.body.length, n);
  assert.ok(raw.body.equals(pattern(n)), 'the bytes are the ones served');
});

http('a 2 MiB request body arrives intact', async ({ peer, srv, base }) => {
  const n = 2 * 1024 * 1024;
  const r = await guestFetch(srv, { url: `${base}/echo`, method: 'POST', body_pattern: n }, 20000);
  assert.is(r.status, 201);
  assert.is(r.json.length, n);
  assert.is(r.json.pattern, true, 'the bytes are the ones sent');
  assert.is(peer.seen[peer.seen.length - 1].headers['content-length'], String(n));
});

http('max_body: a larger response is an error, not a MemoryError', async ({ srv, base }) => {
  const small = await guestFetch(srv, { url: `${base}/big?n=5000`, max_body: 1000 });
  assert.is(small.status, 0);
  assert.is(small.error, 'response body too large');
  const big = await guestFetch(srv, { url: `${base}/big?n=${1024 * 1024}`, max_body: 1000 });
  assert.is(big.status, 0);
  assert.match(big.error, /^response (body too large|larger than 1000 bytes)$/);
});

http('the server resets the connection mid-body: resp.error, status 0, callback once', async ({ srv, base }) => {
  const r = await guestFetch(srv, { url: `${base}/cut?how=reset` });
  assert.is(r.status, 0, JSON.stringify(r));
  assert.type(r.error, 'string');
  assert.ok(r.error.length > 0);
  assert.is(r.ok, false);
});

http('the server closes before sending headers: resp.error', async ({ srv, base }) => {
  const r = await guestFetch(srv, { url: `${base}/cut-before-headers` });
  assert.is(r.status, 0, JSON.stringify(r));
  assert.is(r.error, 'connection closed before the response was complete');
});

http('the server closes mid-body (5,000 of 100,000 bytes): an error, not a short 200', async ({ srv, base }) => {
  const r = await guestFetch(srv, { url: `${base}/cut?how=close` });
  assert.is(r.status, 0, `status ${r.status}, ${r.length} body bytes, error ${JSON.stringify(r.error)}`);
  assert.is(r.error, 'connection closed before the response was complete');
});

http('a server that never answers: timeout error after timeout s', async ({ peer, srv, base }) => {
  const t0 = Date.now();
  const r = await guestFetch(srv, { url: `${base}/hang`, timeout: 1 });
  const took = Date.now() - t0;
  assert.is(r.status, 0);
  assert.is(r.error, 'timed out after 1 s');
  assert.ok(took >= 900 && took < 5000, `took ${took} ms`);
  await waitFor('the request at the server', () => peer.hanging.length === 1, 2000);
});

http('a timed-out fetch lets go of its connection (the server sees it close)', async ({ peer, srv }) => {
  // The fetch of the previous test: the guest gave up on it.
  try {
    const closed = await waitFor('the hanging socket closed', () => peer.hanging.every((res) => res.socket === null || res.socket.destroyed), 3000).catch(() => false);
    const active = srv.handle.stats().outbound.active;
    assert.ok(closed, `the server's socket is still open (outbound.active ${active})`);
    assert.is(active, 0, 'the gateway holds no flow');
  } finally {
    // A late answer changes nothing (callback exactly once).
    release(peer);
    await sleep(200);
    const again = await getJson(srv, `/fetch/f${fetchSeq}`);
    assert.is(again.error, 'timed out after 1 s');
    assert.is(again.twice, false);
  }
});

http('connection refused: the error says ECONNREFUSED and where', async ({ srv }) => {
  const port = await freePort();
  const r = await guestFetch(srv, { url: `http://127.0.0.1:${port}/` });
  assert.is(r.status, 0);
  assert.ok(r.error.startsWith('ECONNREFUSED'), r.error);
  assert.is(r.error, `ECONNREFUSED 127.0.0.1:${port}`);
  assert.ok(srv.handle.stats().outbound.failed >= 1);
});

http('other schemes than http:// and https:// raise ValueError at once', async ({ srv }) => {
  const ftp = await postJson(srv, '/fetch', { id: 'ftp', url: 'ftp://example.com/' });
  assert.is(ftp.raised, "ValueError: expected a http://, https:// URL, got 'ftp://example.com/'");
});

http('the link counters: connections opened, none left over', async ({ srv }) => {
  const s = srv.handle.stats().outbound;
  assert.ok(s.opened >= 10, JSON.stringify(s));
  await waitFor('no outbound flows', () => srv.handle.stats().outbound.active === 0, 5000);
});

http.run();

// =================================================================================
// The egress policy
// =================================================================================

type PolicyCtx = { a: Peer; b: Peer; servers: TestServer[] };
const policy = suite<PolicyCtx>('egress policy');

policy.before(async (ctx) => {
  ctx.servers = [];
  ctx.a = await startPeer();
  ctx.b = await startPeer();
});

policy.after(async (ctx) => {
  for (const srv of ctx.servers ?? []) await srv.handle.close({ drainTimeoutMs: 0 });
  for (const p of [ctx.a, ctx.b]) {
    if (p) release(p);
    await p?.close();
  }
});

async function guestWith(ctx: PolicyCtx, egress: EgressOptions | undefined): Promise<TestServer> {
  const srv = await startServer({ app: APP, accessLog: false, egress });
  ctx.servers.push(srv);
  return srv;
}

policy('another port on an allowed host is denied, and never dialled', async (ctx) => {
  const { a, b } = ctx;
  const srv = await guestWith(ctx, { allow: [`127.0.0.1:${a.port}`] });
  const ok = await guestFetch(srv, { url: `http://127.0.0.1:${a.port}/echo` });
  assert.is(ok.status, 201, 'the allowed port works');
  const bConns = b.connections;
  const r = await guestFetch(srv, { url: `http://127.0.0.1:${b.port}/echo` });
  assert.is(r.status, 0);
  assert.is(r.error, `egress denied: 127.0.0.1:${b.port}`);
  assert.is(b.connections, bConns, 'no connection reached the other port');
  assert.match(stderrText(srv), `pythongoose: egress denied: 127.0.0.1:${b.port}: loopback and link-local need an explicit --allow`);
  assert.is(srv.handle.stats().outbound.denied, 1);
});

policy('loopback is denied by default, and "*" / 0.0.0.0/0 do not reach it', async (ctx) => {
  const { a } = ctx;
  const before = a.connections;
  const guests: TestServer[] = [];
  for (const allow of [undefined, ['*'], ['0.0.0.0/0'], ['*.localhost', '*:80']]) {
    const srv = await guestWith(ctx, allow === undefined ? undefined : { allow });
    guests.push(srv);
    const r = await guestFetch(srv, { url: `http://127.0.0.1:${a.port}/echo` });
    assert.is(r.error, `egress denied: 127.0.0.1:${a.port}`, String(allow));
    assert.match(stderrText(srv), `egress denied: 127.0.0.1:${a.port}: loopback and link-local need an explicit --allow`);
  }
  // "*" lets the name localhost resolve, but not the connection to 127.0.0.1.
  const star = guests[1];
  const byName = await guestFetch(star, { url: `http://localhost:${a.port}/echo` });
  assert.is(byName.error, `egress denied: 127.0.0.1:${a.port}`);
  assert.is(a.connections, before, 'nothing reached the server');
});

policy('a name no rule allows: NXDOMAIN, logged, no connection', async (ctx) => {
  const { a } = ctx;
  const srv = await guestWith(ctx, { allow: [`localhost:${a.port}`] });
  const before = a.connections;
  const r = await guestFetch(srv, { url: 'http://otherhost.invalid/' });
  assert.is(r.status, 0);
  assert.is(r.error, 'cannot resolve otherhost.invalid: no such name, or not allowed by --allow');
  assert.match(stderrText(srv), 'pythongoose: egress denied: otherhost.invalid: name not allowed by --allow, answered NXDOMAIN');
  const s = srv.handle.stats().outbound;
  assert.ok(s.dns.queries >= 1 && s.dns.nxdomain >= 1, JSON.stringify(s.dns));
  assert.is(s.opened, 0);
  assert.is(a.connections, before);
});

policy('an address no rule allows is denied, and logged once per destination', async (ctx) => {
  const srv = await guestWith(ctx, { allow: [`localhost:${ctx.a.port}`, '192.0.2.0/24:81'] });
  for (let i = 0; i < 3; i++) {
    const r = await guestFetch(srv, { url: 'http://10.255.255.1/' });
    assert.is(r.error, 'egress denied: 10.255.255.1:80');
  }
  const r2 = await guestFetch(srv, { url: 'http://192.0.2.1:80/' });
  assert.is(r2.error, 'egress denied: 192.0.2.1:80', 'the network is allowed on another port only');
  await guestFetch(srv, { url: 'http://192.0.2.1:80/' });
  const log = stderrText(srv);
  assert.is(countLines(log, 'egress denied: 10.255.255.1:80'), 1, log);
  assert.is(countLines(log, 'egress denied: 192.0.2.1:80'), 1, log);
  assert.match(log, 'pythongoose: egress denied: 10.255.255.1:80: no --allow rule matches');
  const s = srv.handle.stats().outbound;
  assert.is(s.denied, 5);
  assert.is(s.opened, 0);
  assert.is(s.active, 0);
});

policy('allowed by name: localhost:PORT', async (ctx) => {
  const { a, b } = ctx;
  const srv = await guestWith(ctx, { allow: [`localhost:${a.port}`] });
  const before = a.connections;
  const r = await guestFetch(srv, { url: `http://localhost:${a.port}/echo?by=name` });
  assert.is(r.error, null, 'allowed');
  assert.is(r.status, 201);
  assert.is(r.json.url, '/echo?by=name');
  assert.is(r.json.headers.host, `localhost:${a.port}`);
  assert.is(a.connections, before + 1);
  // Another port of the same name is denied.
  const other = await guestFetch(srv, { url: `http://localhost:${b.port}/echo` });
  assert.is(other.error, `egress denied: 127.0.0.1:${b.port}`);
  assert.is(b.connections, 0);
  assert.is(srv.handle.stats().outbound.opened, 1);
});

policy('allowed by a name the guest resolves through the gateway\'s DNS', async (ctx) => {
  // This machine's own name, if the host resolves it (/etc/hosts): a real
  // DNS round trip, and the gateway then knows the address by that name.
  const name = hostname().toLowerCase();
  const address = await lookup(name, { family: 4 }).then((r) => r.address, () => null);
  const peer = address === null || address.startsWith('10.0.2.') || !/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(name) || name === 'localhost'
    ? null
    : await startPeer(address).catch(() => null);
  if (address === null || peer === null) {
    console.log(`(skipped: ${name} does not resolve to a usable IPv4 address here: ${address})`);
    return;
  }
  try {
    const srv = await guestWith(ctx, { allow: [`${name}:${peer.port}`] });
    // The address alone, not yet resolved by the guest, is named by no rule.
    const direct = await guestFetch(srv, { url: `http://${address}:${peer.port}/echo` });
    assert.is(direct.error, `egress denied: ${address}:${peer.port}`);
    const r = await guestFetch(srv, { url: `http://${name}:${peer.port}/echo?by=dns` });
    assert.is(r.error, null, `${name} -> ${address}`);
    assert.is(r.json.url, '/echo?by=dns');
    assert.is(r.json.headers.host, `${name}:${peer.port}`);
    const s = srv.handle.stats().outbound;
    assert.ok(s.dns.queries >= 1 && s.dns.answered >= 1, JSON.stringify(s.dns));
    assert.is(s.opened, 1);
    assert.is(peer.connections, 1);
  } finally {
    await peer.close();
  }
});

policy('maxConnections: 1: a second connection at once is refused, the first is unharmed', async (ctx) => {
  const { a } = ctx;
  const srv = await guestWith(ctx, { allow: [`127.0.0.1:${a.port}`], maxConnections: 1 });
  const first = await startFetch(srv, { url: `http://127.0.0.1:${a.port}/hang`, timeout: 8 });
  await waitFor('the first request hanging', () => a.hanging.length === 1, 5000);
  assert.is(srv.handle.stats().outbound.active, 1);
  const second = await guestFetch(srv, { url: `http://127.0.0.1:${a.port}/echo` });
  assert.is(second.status, 0);
  assert.match(second.error, 'too many outbound connections');
  assert.is(second.error, 'too many outbound connections (1)');
  assert.match(stderrText(srv), 'more than 1 outbound connections at once');
  release(a, 'late but fine');
  const r = await fetchResult(srv, first);
  assert.is(r.error, null);
  assert.is(r.body, 'late but fine');
  // Once it is gone, the next one may go.
  await waitFor('no outbound flows', () => srv.handle.stats().outbound.active === 0, 5000);
  const third = await guestFetch(srv, { url: `http://127.0.0.1:${a.port}/echo` });
  assert.is(third.status, 201);
});

policy('idleTimeoutMs: a connection with no traffic is reset by the gateway', async (ctx) => {
  const { a } = ctx;
  const srv = await guestWith(ctx, { allow: [`127.0.0.1:${a.port}`], idleTimeoutMs: 1000 });
  const waiting = a.hanging.length;
  const t0 = Date.now();
  const r = await guestFetch(srv, { url: `http://127.0.0.1:${a.port}/hang`, timeout: 8 });
  const took = Date.now() - t0;
  assert.is(r.status, 0);
  assert.type(r.error, 'string');
  assert.is(r.error, 'idle for 1 s, reset', 'the gateway, not the fetch timeout, ended it, and said why');
  assert.ok(took >= 900 && took < 5000, `took ${took} ms`);
  assert.is(a.hanging.length, waiting + 1, 'the request reached the server');
  await waitFor('the server socket closed', () => a.hanging.every((res) => res.socket === null || res.socket.destroyed), 3000);
  assert.is(srv.handle.stats().outbound.active, 0);
});

policy.run();

// =================================================================================
// Bad rules
// =================================================================================

const rules = suite('egress rules and options are checked at start');

rules('serve() rejects a bad rule with an AppError naming it', async () => {
  const cases: Array<[string, RegExp]> = [
    ['exa*mple.com', /--allow exa\*mple\.com: exa\*mple\.com is not a host name/],
    ['10.0.0.1/33', /--allow 10\.0\.0\.1\/33: a prefix length is 0 to 32/],
    ['10.0.0.1/8', /--allow 10\.0\.0\.1\/8: .*did you mean 10\.0\.0\.0\/8/],
    ['[::1]:80', /--allow \[::1\]:80: IPv6 destinations are not supported/],
    ['example.com:0', /--allow example\.com:0: the port must be 1 to 65535/],
    ['example.com:http', /--allow example\.com:http: the port must be/],
    ['300.1.1.1', /--allow 300\.1\.1\.1: 300\.1\.1\.1 is not an IPv4 address/],
    ['', /--allow needs HOST\[:PORT\]/],
  ];
  for (const [rule, message] of cases) {
    let err: unknown = null;
    try {
      const h = await serve({ app: APP, port: 0, egress: { allow: ['localhost:1', rule] }, stderr: () => {}, accessLog: false });
      await h.close({ drainTimeoutMs: 0 });
    } catch (e) {
      err = e;
    }
    assert.instance(err, AppError, rule);
    assert.match((err as Error).message, message, rule);
  }
});

rules('serve() rejects bad limits', async () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ maxConnections: 0 }, /egress\.maxConnections must be a positive integer \(got 0\)/],
    [{ connectTimeoutMs: 1.5 }, /egress\.connectTimeoutMs must be a positive integer/],
    [{ connectTimeoutMs: 15000 }, /connectTimeoutMs must be under 15,000/],
    [{ idleTimeoutMs: -1 }, /egress\.idleTimeoutMs must be a positive integer/],
  ];
  for (const [egress, message] of cases) {
    const err = await serve({ app: APP, port: 0, egress, stderr: () => {}, accessLog: false }).then(
      async (h) => {
        await h.close({ drainTimeoutMs: 0 });
        return null;
      },
      (e: unknown) => e,
    );
    assert.instance(err, AppError, JSON.stringify(egress));
    assert.match((err as Error).message, message);
  }
});

const SERVER = join(ROOT, 'dist', 'server.js');

rules('the CLI: a bad --allow or limit exits 1 with one message', () => {
  assert.ok(existsSync(SERVER), 'dist/server.js is built');
  const run = (args: string[]) => spawnSync(process.execPath, [SERVER, APP, '--port', '0', ...args], { encoding: 'utf8', timeout: 20000 });
  const bad = run(['--allow', 'localhost:1883', '--allow', 'bad*rule']);
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /^pythongoose: --allow bad\*rule: bad\*rule is not a host name/);
  assert.is(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  const v6 = run(['--allow', '[::1]:80']);
  assert.is(v6.status, 1);
  assert.match(v6.stderr, /IPv6 destinations are not supported/);
  for (const [flag, value] of [['--max-outbound', '0'], ['--connect-timeout', '15'], ['--outbound-idle-timeout', 'x']]) {
    const r = run([flag, value]);
    assert.is(r.status, 1, flag);
    assert.match(r.stderr, `${flag} must be`);
  }
});

rules('the CLI: --allow lets the app reach that destination, and only that', async () => {
  const peer = await startPeer();
  const other = await startPeer();
  const child = spawn(process.execPath, [SERVER, APP, '--port', '0', '--quiet', '--allow', `127.0.0.1:${peer.port}`]);
  try {
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    const url = await waitFor('the CLI serving', () => err.match(/serving .* on (http:\/\/\S+)/)?.[1], 20000);
    const srv = { port: Number(new URL(url).port) } as TestServer;
    const r = await guestFetch(srv, { url: `http://127.0.0.1:${peer.port}/echo?cli=1` });
    assert.is(r.status, 201);
    assert.is(r.json.url, '/echo?cli=1');
    const d = await guestFetch(srv, { url: `http://127.0.0.1:${other.port}/echo` });
    assert.is(d.error, `egress denied: 127.0.0.1:${other.port}`);
    assert.is(other.connections, 0);
    await waitFor('the denial logged', () => err.includes(`pythongoose: egress denied: 127.0.0.1:${other.port}`), 2000);
  } finally {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    if (child.exitCode === null) process.kill(child.pid!, 'SIGTERM');
    await exited;
    await peer.close();
    await other.close();
  }
});

rules.run();
