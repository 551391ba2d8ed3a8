// Bad clients, over real sockets: malformed requests (400, no smuggling),
// oversized heads and bodies (414, 431, 413), slow heads and bodies (408),
// idle keep-alive connections, and limits.maxConnections.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { AccessRecord, Limits, ServeOptions } from '../../ts/index.js';
import { ResponseReader, parseHead } from '../helpers/http1.js';
import { rawConnect, request, settled, sleep, startServer, type TestServer } from '../helpers/server.js';

const APP = `
import mongoose
from mongoose import App, Response

app = App()

@app.get("/")
def index(req):
    return "ok"

@app.route("/echo", methods=("POST", "PUT", "GET"))
def echo(req):
    return Response(req.body, 200, {"X-Body-Len": str(len(req.body)), "X-TE": req.headers.get("Transfer-Encoding", "")})

_BLOCK = bytes(range(256)) * 256  # 64 KiB

@app.get("/big")
def big(req):
    n = int(req.query.get("n", "64"))

    def gen():
        for i in range(n):
            yield _BLOCK
    return gen(), 200, {"Content-Type": "application/octet-stream"}

@app.sse("/ticks")
def ticks(stream, req):
    every = int(req.query.get("every", "700"))
    state = {"i": 0}

    def push():
        state["i"] += 1
        try:
            stream.send("tick %d" % state["i"])
        except OSError:
            return
        if state["i"] >= 3:
            stream.close()
        else:
            mongoose.timer(every, push)
    mongoose.timer(every, push)

@app.websocket("/ws")
def ws(ws, data):
    ws.send(data)

app.run()
`;

interface Ctx {
  srv: TestServer;
  log: AccessRecord[];
}

function limitsSuite(name: string, limits: Limits = {}, options: ServeOptions = {}) {
  const s = suite<Ctx>(name);
  s.before(async (ctx) => {
    ctx.log = [];
    ctx.srv = await startServer({ source: APP, app: 'limits_app.py', limits, accessLog: (r) => ctx.log.push(r), ...options });
  });
  s.after(async (ctx) => {
    await ctx.srv?.handle.close();
  });
  return s;
}

interface Exchange {
  bytes: Buffer;
  /** The server closed the connection (FIN) before the deadline. */
  closed: boolean;
  /** Milliseconds from the first write to the server's FIN (or the deadline). */
  ms: number;
  /** Milliseconds from the first write to the first byte back. */
  firstByteMs: number;
}

/** Write parts (a number: pause that many ms) on a new connection; collect until the server closes or `deadlineMs`. */
async function exchange(port: number, parts: (string | Buffer | number)[] | string | Buffer, deadlineMs = 5000): Promise<Exchange> {
  const s = await rawConnect(port);
  const t0 = Date.now();
  const chunks: Buffer[] = [];
  let firstByteMs = -1;
  const result = new Promise<Exchange>((resolve) => {
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      resolve({ bytes: Buffer.concat(chunks), closed, ms: Date.now() - t0, firstByteMs });
    };
    const timer = setTimeout(() => finish(false), deadlineMs);
    s.on('data', (d: Buffer) => {
      if (firstByteMs < 0) firstByteMs = Date.now() - t0;
      chunks.push(d);
    });
    s.on('end', () => finish(true));
    s.on('error', () => finish(true));
  });
  void (async () => {
    for (const p of Array.isArray(parts) ? parts : [parts]) {
      if (s.destroyed || s.writableEnded) break;
      if (typeof p === 'number') await sleep(p);
      else s.write(p);
    }
  })();
  const r = await result;
  s.destroy();
  return r;
}

interface Parsed {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Consecutive Content-Length-framed responses (all of them: the test sees any extra one). */
function parseAll(buf: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const { status, fields, bodyStart } = parseHead(buf, pos);
    const headers = new Map(fields);
    const len = status < 200 ? 0 : Number(headers.get('content-length') ?? 0);
    out.push({ status, headers, body: buf.subarray(bodyStart, bodyStart + len) });
    pos = bodyStart + len;
  }
  return out;
}

/** Exactly one response, with this status and Connection: close, and the connection closed after it. */
function assertRefused(r: Exchange, status: number, what: string): void {
  const all = parseAll(r.bytes);
  assert.is(all.length, 1, `${what}: one response, got ${JSON.stringify(r.bytes.toString('latin1'))}`);
  assert.is(all[0].status, status, `${what}: ${JSON.stringify(r.bytes.toString('latin1').slice(0, 80))}`);
  assert.is(all[0].headers.get('connection'), 'close', `${what}: Connection: close`);
  assert.ok(r.closed, `${what}: the server closed the connection`);
}

const HOST = 'Host: t\r\n';

// ---- Malformed requests ------------------------------------------------------------

const malformed = limitsSuite('Malformed requests get 400 and a close');

// Each sends a request (and, behind it, a request that must never be answered).
const BAD: [string, string][] = [
  ['a request line without a version', `GET /\r\n${HOST}\r\n`],
  ['two spaces in the request line', `GET  / HTTP/1.1\r\n${HOST}\r\n`],
  ['a space inside the target', `GET /a b HTTP/1.1\r\n${HOST}\r\n`],
  ['a request line with something after the version', `GET / HTTP/1.1 x\r\n${HOST}\r\n`],
  ['a method that is not a token', `GE(T / HTTP/1.1\r\n${HOST}\r\n`],
  ['a version that is not HTTP/d.d', `GET / HTTP/1.10\r\n${HOST}\r\n`],
  ['a lowercase protocol name', `GET / http/1.1\r\n${HOST}\r\n`],
  ['a target that is not UTF-8', `GET /\xff\xfe HTTP/1.1\r\n${HOST}\r\n`],
  ['a header line without a colon', `GET / HTTP/1.1\r\n${HOST}X-Thing yes\r\n\r\n`],
  ['whitespace before the colon', `GET / HTTP/1.1\r\n${HOST}X-Thing : yes\r\n\r\n`],
  ['a header name that is not a token', `GET / HTTP/1.1\r\n${HOST}X(Thing): yes\r\n\r\n`],
  ['an empty header name', `GET / HTTP/1.1\r\n${HOST}: yes\r\n\r\n`],
  ['bare LF line endings', `GET / HTTP/1.1\n${HOST.replace('\r', '')}\n`],
  ['a bare LF after one header', `GET / HTTP/1.1\r\nHost: t\nX-A: 1\r\n\r\n`],
  ['a bare CR in a header value', `GET / HTTP/1.1\r\n${HOST}X-A: 1\r2\r\n\r\n`],
  ['a NUL in a header value', `GET / HTTP/1.1\r\n${HOST}X-A: 1\x002\r\n\r\n`],
  ['obs-fold (a continuation line starting with SP)', `GET / HTTP/1.1\r\n${HOST}X-A: one\r\n two\r\n\r\n`],
  ['obs-fold (a continuation line starting with HTAB)', `GET / HTTP/1.1\r\n${HOST}X-A: one\r\n\ttwo\r\n\r\n`],
  ['whitespace before the first header', `GET / HTTP/1.1\r\n ${HOST}\r\n`],
  ['two Host headers', `GET / HTTP/1.1\r\n${HOST}Host: u\r\n\r\n`],
  ['Content-Length and Transfer-Encoding', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding and Content-Length', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`],
  ['two equal Content-Lengths', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`],
  ['two different Content-Lengths', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 3\r\nContent-Length: 13\r\n\r\nabc`],
  ['a Content-Length list', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 3, 3\r\n\r\nabc`],
  ['a non-numeric Content-Length', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: abc\r\n\r\nabc`],
  ['a signed Content-Length', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: +3\r\n\r\nabc`],
  ['a negative Content-Length', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: -1\r\n\r\n`],
  ['a hexadecimal Content-Length', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 0x3\r\n\r\nabc`],
  ['an empty Content-Length', `POST /echo HTTP/1.1\r\n${HOST}Content-Length: \r\n\r\n`],
  ['Transfer-Encoding: gzip', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding: gzip, chunked', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding: chunked, chunked', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding: xchunked', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding: identity', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: identity\r\n\r\n`],
  ['two Transfer-Encoding: chunked headers', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['Transfer-Encoding in HTTP/1.0', `POST /echo HTTP/1.0\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
  ['a chunk size that is not hex', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`],
  ['a negative chunk size', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n`],
  ['a 0x-prefixed chunk size', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n`],
  ['an empty chunk size', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n`],
  ['a space after the chunk size', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n`],
  ['a control character in a chunk extension', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3;a\x01\r\nabc\r\n0\r\n\r\n`],
  ['a chunk longer than its size', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n`],
  ['a chunk size line with a bare LF', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n`],
  ['a trailer line with a bare LF', `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: 1\n\r\n`],
];
const SMUGGLED = `GET /smuggled HTTP/1.1\r\n${HOST}\r\n`;

for (const [what, raw] of BAD) {
  malformed(`400: ${what}`, async ({ srv }) => {
    const r = await exchange(srv.port, Buffer.from(raw + SMUGGLED, 'latin1'));
    assertRefused(r, 400, what);
    assert.ok(!r.bytes.toString('latin1').includes('smuggled'), what);
  });
}

malformed('the same bytes split across segments are refused the same way', async ({ srv }) => {
  const raw = `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`;
  const parts: (string | number)[] = [];
  for (let i = 0; i < raw.length; i += 7) parts.push(raw.slice(i, i + 7), 5);
  assertRefused(await exchange(srv.port, parts), 400, 'split CL+TE');
});

malformed('a pipelined request behind a bad one is never answered', async ({ srv }) => {
  // A lenient parser would take the first request's body from Content-Length
  // and answer the GET hidden in it; here nothing past the 400 is read.
  const raw =
    `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 37\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` +
    `GET /echo?smuggled HTTP/1.1\r\n${HOST}\r\n\r\n` +
    `GET / HTTP/1.1\r\n${HOST}\r\n`;
  const r = await exchange(srv.port, raw);
  assertRefused(r, 400, 'CL.TE');
});

malformed('a bad request on one connection leaves the others alone', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const reader = new ResponseReader(s);
  s.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
  assert.is((await reader.next()).status, 200);
  const bad = await exchange(srv.port, `GET / HTTP/1.1\nHost: t\n\n`);
  assertRefused(bad, 400, 'bare LF');
  s.write(`POST /echo HTTP/1.1\r\n${HOST}Content-Length: 4\r\n\r\nping`);
  const again = await reader.next();
  assert.is(again.status, 200);
  assert.is(again.body.toString(), 'ping');
  s.destroy();
  assert.is((await request(srv.port, '/')).body.toString(), 'ok');
});

malformed('HTTP/2.0 in the request line is 505', async ({ srv }) => {
  assertRefused(await exchange(srv.port, `GET / HTTP/2.0\r\n${HOST}\r\n`), 505, 'HTTP/2.0');
});

malformed('POST with neither Content-Length nor Transfer-Encoding is 411', async ({ srv }) => {
  assertRefused(await exchange(srv.port, `POST /echo HTTP/1.1\r\n${HOST}\r\n`), 411, 'no length');
});

malformed('refusals are in the access log', async ({ srv, log }) => {
  const before = log.length;
  assertRefused(await exchange(srv.port, `GET /logged HTTP/1.1\r\n${HOST}X : y\r\n\r\n`), 400, 'logged');
  const until = Date.now() + 2000;
  while (log.length === before && Date.now() < until) await sleep(10);
  const rec = log.slice(before).find((r) => r.request.includes('/logged'));
  assert.ok(rec, JSON.stringify(log.slice(before)));
  assert.is(rec.request, 'GET /logged');
  assert.is(rec.status, 400);
});

// Well-formed requests that a strict parser must still accept.
malformed('accepted: an empty line before the request, OWS around values, HTTP/1.0', async ({ srv }) => {
  const r = await exchange(
    srv.port,
    `\r\nPOST /echo HTTP/1.1\r\n${HOST}X-A:no-space\r\nContent-Length:  \t3 \t\r\n\r\nabc` + `GET / HTTP/1.0\r\n${HOST}\r\n`,
  );
  const all = parseAll(r.bytes);
  assert.equal(
    all.map((x) => [x.status, x.body.toString()]),
    [
      [200, 'abc'],
      [200, 'ok'],
    ],
  );
  assert.ok(r.closed, 'HTTP/1.0 closes after its response');
});

malformed('accepted: chunked bodies with extensions, trailers and sizes split across segments', async ({ srv }) => {
  const head = `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: Chunked\r\n\r\n`;
  const cases: [string, (string | number)[], string][] = [
    ['in one piece', [head + '5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n'], 'hello world'],
    ['byte by byte', [...(head + '00A\r\n0123456789\r\n1 ;x\r\n!\r\n0\r\n\r\n')].flatMap((ch) => [ch, 3]), '0123456789!'],
    ['an empty body', [head + '0\r\n\r\n'], ''],
    ['sizes split mid-line', [head, '1', 5, '0\r', 5, '\n0123456789abcdef', 5, '\r\n0', 5, '\r\n\r', 5, '\n'], '0123456789abcdef'],
  ];
  for (const [what, parts, body] of cases) {
    const r = await exchange(srv.port, [...parts, `GET / HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`]);
    const all = parseAll(r.bytes);
    assert.is(all.length, 2, `${what}: ${JSON.stringify(r.bytes.toString('latin1'))}`);
    assert.is(all[0].status, 200, what);
    assert.is(all[0].body.toString(), body, what);
    assert.is(all[0].headers.get('x-te'), 'Chunked', `${what}: the app sees the header as sent`);
    assert.is(all[1].body.toString(), 'ok', `${what}: the request after it`);
  }
});

malformed('accepted: a 2 MiB chunked body in 1-byte to 64 KiB chunks, byte-exact', async ({ srv }) => {
  const body = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 11)) & 255;
  const parts: Buffer[] = [Buffer.from(`POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n`)];
  let at = 0;
  for (let k = 0; at < body.length; k++) {
    const n = Math.min(body.length - at, k % 3 === 0 ? 1 : k % 3 === 1 ? 1000 : 65536);
    parts.push(Buffer.from(`${n.toString(16)}\r\n`), body.subarray(at, at + n), Buffer.from('\r\n'));
    at += n;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  const r = await exchange(srv.port, Buffer.concat(parts), 20000);
  const [res] = parseAll(r.bytes);
  assert.is(res.status, 200);
  assert.is(res.body.length, body.length);
  assert.ok(res.body.equals(body), 'the decoded body differs');
});

malformed('accepted: pipelined requests (Content-Length, chunked, GET) in one write', async ({ srv }) => {
  const r = await exchange(
    srv.port,
    `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 3\r\n\r\none` +
      `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n` +
      `GET / HTTP/1.1\r\n${HOST}\r\n` +
      `PUT /echo HTTP/1.1\r\n${HOST}Content-Length: 5\r\nConnection: close\r\n\r\nthree`,
  );
  assert.equal(
    parseAll(r.bytes).map((x) => [x.status, x.body.toString()]),
    [
      [200, 'one'],
      [200, 'two'],
      [200, 'ok'],
      [200, 'three'],
    ],
  );
});

malformed('Expect: 100-continue gets 100 first; refused with no 100 when too big', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const reader = new ResponseReader(s);
  s.write(`POST /echo HTTP/1.1\r\n${HOST}Content-Length: 4\r\nExpect: 100-continue\r\n\r\n`);
  assert.is((await reader.next()).status, 100);
  s.write('pong');
  const r = await reader.next();
  assert.is(r.status, 200);
  assert.is(r.body.toString(), 'pong');
  s.destroy();
  const big = await exchange(srv.port, `POST /echo HTTP/1.1\r\n${HOST}Content-Length: ${64 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`);
  assertRefused(big, 413, 'too big with Expect');
});

malformed.run();

// A request pipelined behind a static file arrives while Mongoose streams the
// file (its own handler in place of ours): it is checked all the same.
const STATIC_DIR = mkdtempSync(join(tmpdir(), 'pg-limits-'));
const FILE = Buffer.alloc(512 * 1024);
for (let i = 0; i < FILE.length; i++) FILE[i] = (i * 13) & 255;
writeFileSync(join(STATIC_DIR, 'file.bin'), FILE);
const behindStatic = limitsSuite('Requests pipelined behind a static file', {}, { staticDir: STATIC_DIR });
behindStatic.after(() => rmSync(STATIC_DIR, { recursive: true, force: true }));

behindStatic('a good one is served, a bad one refused', async ({ srv }) => {
  const get = `GET /file.bin HTTP/1.1\r\n${HOST}\r\n`;
  const good = await exchange(srv.port, get + `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 2\r\nConnection: close\r\n\r\nhi`);
  const [file, echo] = parseAll(good.bytes);
  assert.ok(file.body.equals(FILE), 'the file arrives whole');
  assert.is(echo.body.toString(), 'hi');
  const bad = await exchange(srv.port, get + `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n` + SMUGGLED);
  const all = parseAll(bad.bytes);
  assert.equal(
    all.map((x) => x.status),
    [200, 400],
  );
  assert.ok(all[0].body.equals(FILE), 'the file arrives whole');
  assert.ok(bad.closed, 'closed after the 400');
});

behindStatic.run();

// ---- Sizes -----------------------------------------------------------------------------

const sizes = limitsSuite('Sizes: 413, 414, 431');

sizes('a 9 MiB Content-Length is refused with 413 at once, without its body', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const t0 = Date.now();
  const reader = new ResponseReader(s);
  s.write(`POST /echo HTTP/1.1\r\n${HOST}Content-Length: ${9 * 1024 * 1024}\r\n\r\n`);
  s.write(Buffer.alloc(1000, 1)); // a little of it: the rest is never sent
  const r = await reader.next();
  assert.is(r.status, 413);
  assert.is(r.headers.get('connection'), 'close');
  assert.ok(await reader.closedCleanly(), 'closed after the 413');
  const ms = Date.now() - t0;
  assert.ok(ms < 1000, `413 and close took ${ms} ms`);
  s.destroy();
  assert.is((await request(srv.port, '/')).body.toString(), 'ok', 'the server still serves');
});

sizes('8 MiB (the default maxBody) is still accepted', async ({ srv }) => {
  const body = Buffer.alloc(8 * 1024 * 1024, 0x61);
  const r = await request(srv.port, '/echo', { body });
  assert.is(r.status, 200);
  assert.is(r.headers['x-body-len'], String(body.length));
});

sizes('a request line over 8 KiB is 414, before the line ends', async ({ srv }) => {
  // No CRLF ever: the 414 comes from what was buffered, not from waiting for more.
  const r = await exchange(srv.port, `GET /${'a'.repeat(9 * 1024)}`);
  assertRefused(r, 414, 'long request line');
  const ok = await exchange(srv.port, `GET /${'a'.repeat(8000)} HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`);
  assert.is(parseAll(ok.bytes)[0].status, 404, 'an 8000-byte target is served (404: no such route)');
});

sizes('a head over 16 KiB is 431, before it ends', async ({ srv }) => {
  const fields = Array.from({ length: 20 }, (_, i) => `X-Field-${i}: ${'v'.repeat(1000)}\r\n`).join('');
  const r = await exchange(srv.port, `GET / HTTP/1.1\r\n${HOST}${fields}`); // no blank line
  assertRefused(r, 431, 'big head');
  const fits = Array.from({ length: 14 }, (_, i) => `X-Field-${i}: ${'v'.repeat(1000)}\r\n`).join('');
  const ok = await exchange(srv.port, `GET / HTTP/1.1\r\n${HOST}${fits}Connection: close\r\n\r\n`);
  assert.is(parseAll(ok.bytes)[0].status, 200, 'a 14 KiB head is served');
});

sizes('more than 64 header fields is 431; 64 are fine', async ({ srv }) => {
  const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('');
  // Mongoose keeps 64 fields and would silently drop the rest (a Content-Length among them).
  assertRefused(await exchange(srv.port, `GET / HTTP/1.1\r\n${fields(65)}\r\n`), 431, '65 fields');
  const ok = await exchange(srv.port, `GET / HTTP/1.1\r\n${fields(62)}${HOST}Connection: close\r\n\r\n`);
  assert.is(parseAll(ok.bytes)[0].status, 200, '64 fields');
});

sizes.run();

const small = limitsSuite('A small maxBody', { maxBody: 1000 });

small('Content-Length: 1000 is accepted, 1001 is 413', async ({ srv }) => {
  const ok = await request(srv.port, '/echo', { body: Buffer.alloc(1000, 0x62) });
  assert.is(ok.status, 200);
  assert.is(ok.body.length, 1000);
  assertRefused(await exchange(srv.port, `POST /echo HTTP/1.1\r\n${HOST}Content-Length: 1001\r\n\r\n`), 413, '1001');
});

small('a chunked body is 413 as soon as its chunks would pass the limit', async ({ srv }) => {
  const head = `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n`;
  // 600 + 400 fit; the next chunk's size line alone is enough to refuse.
  const r = await exchange(srv.port, [head + `258\r\n${'x'.repeat(600)}\r\n190\r\n${'y'.repeat(400)}\r\n1\r\n`]);
  assertRefused(r, 413, 'chunked over');
  const close = `POST /echo HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n`;
  const fits = await exchange(srv.port, close + `258\r\n${'x'.repeat(600)}\r\n190\r\n${'y'.repeat(400)}\r\n0\r\n\r\n`);
  const [res] = parseAll(fits.bytes);
  assert.is(res.status, 200, 'exactly 1000 in chunks');
  assert.is(res.body.length, 1000);
});

small.run();

// ---- Timeouts ------------------------------------------------------------------------

const timeouts = limitsSuite('Timeouts: header 500 ms, idle 500 ms', { headerTimeoutMs: 500, idleTimeoutMs: 500 });

timeouts('slowloris: a head still incomplete 500 ms after its first byte gets 408 and a close', async ({ srv }) => {
  const drip: (string | number)[] = [`GET / HTTP/1.1\r\n${HOST}`];
  for (let i = 0; i < 30; i++) drip.push(100, `X-${i}: y\r\n`); // a field every 100 ms, never the blank line
  const r = await exchange(srv.port, drip, 3000);
  assertRefused(r, 408, 'slowloris');
  assert.ok(r.firstByteMs >= 450 && r.ms < 1500, `408 after ${r.firstByteMs} ms, closed after ${r.ms} ms`);
});

timeouts('a head that arrives within the timeout, in pieces, is served', async ({ srv }) => {
  const r = await exchange(srv.port, ['GET / HT', 150, `TP/1.1\r\n${HOST}`, 150, 'Connection: close\r\n\r\n']);
  assert.is(parseAll(r.bytes)[0].status, 200);
});

timeouts('a body that stops arriving gets 408 after the idle timeout', async ({ srv }) => {
  const r = await exchange(srv.port, [`POST /echo HTTP/1.1\r\n${HOST}Content-Length: 100\r\n\r\n0123456789`], 3000);
  assertRefused(r, 408, 'stalled body');
  assert.ok(r.firstByteMs >= 450 && r.firstByteMs < 1500, `408 after ${r.firstByteMs} ms`);
});

timeouts('a slow body that keeps coming is not cut', async ({ srv }) => {
  const parts: (string | number)[] = [`POST /echo HTTP/1.1\r\n${HOST}Content-Length: 10\r\nConnection: close\r\n\r\n`];
  for (let i = 0; i < 10; i++) parts.push(200, String(i)); // 2 s in all, 200 ms apart
  const r = await exchange(srv.port, parts, 5000);
  const [res] = parseAll(r.bytes);
  assert.is(res.status, 200);
  assert.is(res.body.toString(), '0123456789');
});

timeouts('an idle keep-alive connection is closed after the idle timeout, with no response', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const reader = new ResponseReader(s);
  s.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
  assert.is((await reader.next()).status, 200);
  const t0 = Date.now();
  await sleep(250);
  s.write(`GET / HTTP/1.1\r\n${HOST}\r\n`); // still open at 250 ms; the timer restarts after it
  assert.is((await reader.next()).status, 200);
  const t1 = Date.now();
  assert.ok(await reader.closedCleanly(), 'closed with no bytes');
  const idle = Date.now() - t1;
  assert.ok(idle >= 450 && idle < 1500, `closed after ${idle} ms idle (${Date.now() - t0} ms in all)`);
  s.destroy();
});

timeouts('a connection that never sends anything is closed after the idle timeout', async ({ srv }) => {
  const r = await exchange(srv.port, [], 3000);
  assert.ok(r.closed, 'closed');
  assert.is(r.bytes.length, 0);
  assert.ok(r.ms >= 450 && r.ms < 1500, `closed after ${r.ms} ms`);
});

timeouts('a client stalling partway through a health probe gets 408 from the host', async ({ srv }) => {
  // The host holds a connection until it knows whether it is a probe: the header timeout applies there too.
  const r = await exchange(srv.port, ['GET /heal', 200, 't'], 3000);
  assertRefused(r, 408, 'stalled probe');
  assert.ok(r.firstByteMs >= 450 && r.firstByteMs < 1500, `408 after ${r.firstByteMs} ms`);
  const probe = await request(srv.port, '/healthz');
  assert.is(probe.status, 200, 'a whole probe is still answered');
});

timeouts('a long streamed response to a client that does not read is not cut', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  s.pause(); // read nothing for 1.5 s: the 4 MiB response waits in the guest
  s.write(`GET /big?n=64 HTTP/1.1\r\n${HOST}Connection: close\r\n\r\n`);
  await sleep(1500);
  const chunks: Buffer[] = [];
  const ended = new Promise<void>((resolve) => {
    s.on('end', resolve);
    s.on('close', () => resolve());
  });
  s.on('data', (d: Buffer) => chunks.push(d));
  s.resume();
  await ended;
  const all = Buffer.concat(chunks);
  const start = all.indexOf('\r\n\r\n') + 4;
  assert.match(all.subarray(0, start).toString('latin1'), /^HTTP\/1\.1 200 /);
  // The chunked body: 64 chunks of 64 KiB, then the last chunk.
  let pos = start;
  let total = 0;
  for (;;) {
    const eol = all.indexOf('\r\n', pos);
    const n = parseInt(all.subarray(pos, eol).toString('latin1'), 16);
    if (n === 0) break;
    total += n;
    pos = eol + 2 + n + 2;
    assert.ok(pos <= all.length, `cut short at ${total} bytes`);
  }
  assert.is(total, 64 * 65536);
  s.destroy();
});

timeouts('an SSE stream quieter than the idle timeout stays open', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise<void>((resolve) => s.on('end', resolve));
  s.write(`GET /ticks?every=700 HTTP/1.1\r\n${HOST}Accept: text/event-stream\r\n\r\n`);
  const t0 = Date.now();
  await ended; // the app closes it after its third event, ~2.1 s in
  const text = Buffer.concat(chunks).toString();
  assert.ok(Date.now() - t0 >= 1800, `ended after ${Date.now() - t0} ms`);
  for (const n of [1, 2, 3]) assert.ok(text.includes(`data: tick ${n}\n`), `tick ${n} in ${JSON.stringify(text)}`);
  assert.ok(text.endsWith('0\r\n\r\n'), 'the stream ended cleanly (last chunk)');
  s.destroy();
});

timeouts('a WebSocket silent for longer than the idle timeout stays open', async ({ srv }) => {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let closed = false;
  ws.on('close', () => (closed = true));
  await sleep(1200);
  assert.not.ok(closed, 'closed while silent');
  const echo = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
  ws.send('still here');
  assert.is(await echo, 'still here');
  ws.close();
});

timeouts('nothing is left behind', async (ctx) => {
  assert.is(await settled(ctx.srv), 0);
});

timeouts.run();

// Without a health path the host hands every connection straight to the guest.
const guestOnly = limitsSuite('Timeouts in the guest (no health path)', { headerTimeoutMs: 500, idleTimeoutMs: 500 }, { healthPath: false });

guestOnly('a connection that never sends anything is closed after the idle timeout', async ({ srv }) => {
  const r = await exchange(srv.port, [], 3000);
  assert.ok(r.closed && r.bytes.length === 0, 'closed quietly');
  assert.ok(r.ms >= 450 && r.ms < 1500, `closed after ${r.ms} ms`);
});

guestOnly('slowloris gets 408; a pipelined keep-alive connection then idles out', async ({ srv }) => {
  const slow = await exchange(srv.port, ['G', 300, 'ET / HTTP/1.1\r\n', 300, 'Host: t\r\n'], 3000);
  assertRefused(slow, 408, 'slowloris');
  assert.ok(slow.firstByteMs >= 450 && slow.firstByteMs < 1500, `408 after ${slow.firstByteMs} ms`);
  const kept = await exchange(srv.port, `GET / HTTP/1.1\r\n${HOST}\r\nGET / HTTP/1.1\r\n${HOST}\r\n`, 3000);
  assert.equal(
    parseAll(kept.bytes).map((x) => x.status),
    [200, 200],
  );
  assert.ok(kept.closed && kept.ms >= 450 && kept.ms < 1500, `idle close after ${kept.ms} ms`);
});

guestOnly.run();

// ---- maxConnections -------------------------------------------------------------------

const capped = limitsSuite('maxConnections: 3', { maxConnections: 3 });

capped('the 4th connection is refused at once; the 3 open ones still work', async ({ srv }) => {
  const open: { s: Socket; reader: ResponseReader }[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await rawConnect(srv.port);
    const reader = new ResponseReader(s);
    s.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
    assert.is((await reader.next()).status, 200, `connection ${i + 1}`);
    open.push({ s, reader });
  }
  const t0 = Date.now();
  const fourth = await rawConnect(srv.port);
  fourth.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
  const got = await new Promise<string>((resolve) => {
    const bytes: Buffer[] = [];
    fourth.on('data', (d: Buffer) => bytes.push(d));
    const done = (): void => resolve(Buffer.concat(bytes).toString('latin1'));
    fourth.on('end', done); // the server's FIN (the client allows half-open)
    fourth.on('close', done);
    fourth.on('error', done);
    setTimeout(() => resolve('still open'), 3000);
  });
  const ms = Date.now() - t0;
  assert.is(got, '', 'the 4th is closed with no response');
  assert.ok(ms < 1000, `refused after ${ms} ms`);
  for (const [i, { s, reader }] of open.entries()) {
    s.write(`POST /echo HTTP/1.1\r\n${HOST}Content-Length: 1\r\n\r\n${i}`);
    const r = await reader.next();
    assert.is(r.status, 200);
    assert.is(r.body.toString(), String(i));
  }
  // A slot that frees up is taken again.
  open[0].s.destroy();
  let served = false;
  for (const until = Date.now() + 3000; !served && Date.now() < until; ) {
    served = await request(srv.port, '/').then(
      (r) => r.status === 200,
      () => false,
    );
    if (!served) await sleep(50);
  }
  assert.ok(served, 'a new connection is served once one closed');
  for (const { s } of open) s.destroy();
});

capped.run();
