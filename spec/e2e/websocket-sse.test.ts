// WebSocket and Server-Sent Events routes of the Python App, end to end over
// real sockets (spec/apps/sockets.py). The client is the `ws` package, or a
// raw socket where the test needs frames ws will not send.
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { appPath, rawConnect, readAll, request, settled, serverSuite } from '../helpers/server.js';

const DEADLINE = 20000;

/** Rejects if p has not settled within ms (so a broken server fails a test instead of hanging the run). */
function within<T>(p: Promise<T>, what: string, ms = DEADLINE): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Polls check() until it returns true; fails the test at the deadline. */
async function eventually(check: () => Promise<boolean>, what: string, ms = DEADLINE): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function getJson(port: number, path: string): Promise<any> {
  const r = await request(port, path);
  assert.is(r.status, 200, `GET ${path}`);
  return JSON.parse(r.body.toString());
}

const logOf = async (port: number, key: string): Promise<string[]> => (await getJson(port, `/log?key=${key}`)).entries;
const clientCount = async (port: number, route: string): Promise<number> => (await getJson(port, `/clients${route}`)).count;

// ---- A WebSocket client that records everything from the start -------------

interface Msg {
  data: Buffer;
  binary: boolean;
}

/**
 * The first item of a client's queue, once there is one: waits, woken by the client (through the
 * waiter it is handed) or every 100 ms, and fails when `gone()` names why no more will come, or after DEADLINE.
 */
async function nextOf<T>(queue: T[], setWaiter: (w: (() => void) | null) => void, gone: () => string | null, what: string): Promise<T> {
  const until = Date.now() + DEADLINE;
  while (queue.length === 0) {
    const why = gone();
    if (why !== null) assert.unreachable(`${why} while waiting for ${what}`);
    if (Date.now() > until) assert.unreachable(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => {
      setWaiter(resolve);
      setTimeout(resolve, 100);
    });
    setWaiter(null);
  }
  return queue.shift()!;
}

class Client {
  readonly ws: WebSocket;
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly errors: Error[] = [];
  private inbox: Msg[] = [];
  private waiter: (() => void) | null = null;

  constructor(url: string) {
    this.ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024 });
    this.ws.on('message', (data: Buffer, binary: boolean) => {
      this.inbox.push({ data, binary });
      this.waiter?.();
    });
    this.ws.on('error', (e) => this.errors.push(e));
    this.closed = new Promise((resolve) =>
      this.ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.waiter?.();
      }),
    );
  }

  static async open(port: number, path: string): Promise<Client> {
    const c = new Client(`ws://127.0.0.1:${port}${path}`);
    await within(
      new Promise<void>((resolve, reject) => {
        c.ws.once('open', () => resolve());
        c.ws.once('close', () => reject(new Error(`${path}: closed before open (${c.errors.join('; ')})`)));
      }),
      `${path} to open`,
    );
    return c;
  }

  async next(what = 'a message'): Promise<Msg> {
    return nextOf(this.inbox, (w) => (this.waiter = w), () => (this.ws.readyState === WebSocket.CLOSED ? 'closed' : null), what);
  }

  async nextText(what?: string): Promise<string> {
    const m = await this.next(what);
    assert.not.ok(m.binary, `expected a text message, got binary ${m.data.toString('hex').slice(0, 40)}`);
    return m.data.toString('utf8');
  }

  closeCode(): Promise<{ code: number; reason: string }> {
    return within(this.closed, 'the socket to close');
  }
}

// ---- Raw WebSocket frames, for what the ws client will not send -------------

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** Opens a WebSocket by hand; resolves with the socket and any bytes after the 101 response. */
async function rawUpgrade(port: number, path: string): Promise<{ s: Socket; rest: Buffer }> {
  const s = await rawConnect(port);
  s.write(
    `GET ${path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const head = await within(
    new Promise<Buffer>((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer): void => {
        buf = Buffer.concat([buf, d]);
        if (buf.indexOf('\r\n\r\n') >= 0) {
          s.off('data', onData);
          resolve(buf);
        }
      };
      s.on('data', onData);
      s.once('end', () => reject(new Error('closed during the handshake')));
    }),
    'the 101 response',
  );
  const end = head.indexOf('\r\n\r\n') + 4;
  const text = head.subarray(0, end).toString('latin1');
  assert.match(text, /^HTTP\/1\.1 101 /);
  const accept = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  assert.match(text, new RegExp(`Sec-WebSocket-Accept: ${accept.replace(/[+/]/g, '\\$&')}`, 'i'));
  s.pause();
  return { s, rest: head.subarray(end) };
}

/** A masked client frame (header only when payload is just declared, not given). */
function frame(opcode: number, payload: Buffer, opts: { fin?: boolean; declaredLength?: number } = {}): Buffer {
  const len = opts.declaredLength ?? payload.length;
  const head: number[] = [(opts.fin === false ? 0 : 0x80) | opcode];
  if (len < 126) head.push(0x80 | len);
  else if (len < 65536) head.push(0x80 | 126, len >> 8, len & 255);
  else {
    head.push(0x80 | 127);
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(len));
    head.push(...big);
  }
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i & 3]));
  return Buffer.concat([Buffer.from(head), mask, masked]);
}

interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Every frame the server sends until it closes the connection. */
async function framesUntilEnd(s: Socket, rest: Buffer): Promise<ServerFrame[]> {
  s.resume();
  const all = Buffer.concat([rest, await readAll(s, DEADLINE).catch((e) => (e.code === 'ECONNRESET' ? Buffer.alloc(0) : Promise.reject(e)))]);
  const frames: ServerFrame[] = [];
  let i = 0;
  while (i + 2 <= all.length) {
    const b0 = all[i];
    const b1 = all[i + 1];
    assert.is(b1 & 0x80, 0, 'server frames are not masked');
    let len = b1 & 127;
    let off = i + 2;
    if (len === 126) {
      len = all.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      len = Number(all.readBigUInt64BE(off));
      off += 8;
    }
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 15, payload: all.subarray(off, off + len) });
    i = off + len;
  }
  return frames;
}

function closeFrameOf(frames: ServerFrame[]): { code: number; reason: string } {
  const close = frames.find((f) => f.opcode === 8);
  assert.ok(close, `no close frame among ${frames.length} frames`);
  return { code: close!.payload.readUInt16BE(0), reason: close!.payload.subarray(2).toString() };
}

// ============================================================================

const ws = serverSuite('WebSocket routes', { app: appPath('sockets.py'), accessLog: false });

ws('a text message is echoed as text, UTF-8 intact', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  c.ws.send('héllo wörld ✓ 🦆');
  assert.is(await c.nextText(), 'héllo wörld ✓ 🦆');
  c.ws.send('type');
  assert.is(await c.nextText(), 'str', 'the handler gets a str for a text frame');
  c.ws.close();
  await c.closeCode();
});

ws('a binary message is echoed as binary, every byte value intact', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  c.ws.send(bytes);
  const m = await c.next();
  assert.ok(m.binary, 'echo of a binary frame is binary');
  assert.equal(m.data, bytes);
  c.ws.send(Buffer.concat([Buffer.from('type?'), Buffer.alloc(10)]));
  assert.is(await c.nextText(), 'bytes:15', 'the handler gets bytes for a binary frame');
  c.ws.close();
  await c.closeCode();
});

ws('an empty message is echoed', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  c.ws.send('');
  assert.is(await c.nextText(), '');
  c.ws.send(Buffer.alloc(0));
  const m = await c.next();
  assert.ok(m.binary);
  assert.is(m.data.length, 0);
  c.ws.close();
  await c.closeCode();
});

ws('a 1 MiB binary message and a 1 MiB text message make the round trip exactly', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  c.ws.send(big);
  const m = await c.next('the 1 MiB echo');
  assert.ok(m.binary);
  assert.is(m.data.length, big.length);
  assert.ok(m.data.equals(big), '1 MiB binary echo differs');
  const text = 'αβγδ'.repeat(128 * 1024 + 7); // 1 MiB + 56 bytes of 2-byte characters
  c.ws.send(text);
  assert.ok((await c.nextText('the 1 MiB text echo')) === text, '1 MiB text echo differs');
  c.ws.close();
  await c.closeCode();
});

ws('a message of exactly 4 MiB is accepted, in one frame or in fragments', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  const big = Buffer.alloc(4 * 1024 * 1024, 0x5a);
  big[0] = 1;
  big[big.length - 1] = 2;
  c.ws.send(big);
  const m = await c.next('the 4 MiB echo');
  assert.is(m.data.length, big.length);
  assert.ok(m.data.equals(big), '4 MiB echo differs');
  c.ws.send(big.subarray(0, 3 * 1024 * 1024), { fin: false });
  c.ws.send(big.subarray(3 * 1024 * 1024), { fin: true });
  const m2 = await c.next('the fragmented 4 MiB echo');
  assert.is(m2.data.length, big.length);
  assert.ok(m2.data.equals(big), 'fragmented 4 MiB echo differs');
  c.ws.close();
  await c.closeCode();
});

ws('a fragmented message is reassembled, with a ping between its fragments', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  const pong = new Promise<Buffer>((resolve) => c.ws.once('pong', resolve));
  c.ws.send('one,', { fin: false });
  c.ws.send('two,', { fin: false });
  c.ws.ping('mid');
  c.ws.send('three', { fin: true });
  assert.is((await within(pong, 'the pong')).toString(), 'mid');
  assert.is(await c.nextText(), 'one,two,three');
  // Binary, with a multi-byte UTF-8 character split across text fragments next.
  c.ws.send(Buffer.from([1, 2]), { fin: false, binary: true });
  c.ws.send(Buffer.from([3]), { fin: true, binary: true });
  const m = await c.next();
  assert.ok(m.binary);
  assert.equal([...m.data], [1, 2, 3]);
  const e = Buffer.from('é');
  c.ws.send(Buffer.concat([Buffer.from('caf'), e.subarray(0, 1)]), { fin: false, binary: false });
  c.ws.send(e.subarray(1), { fin: true, binary: false });
  assert.is(await c.nextText(), 'café');
  c.ws.close();
  await c.closeCode();
});

ws('a fragmented message from raw frames, interleaved with a ping', async ({ srv }) => {
  const { s, rest } = await rawUpgrade(srv.port, '/echo');
  s.write(
    Buffer.concat([
      frame(1, Buffer.from('raw-'), { fin: false }),
      frame(9, Buffer.from('p1')),
      frame(0, Buffer.from('frag-'), { fin: false }),
      frame(0, Buffer.from('ments'), { fin: true }),
      frame(8, Buffer.from([0x03, 0xe8])), // close 1000
    ]),
  );
  const frames = await framesUntilEnd(s, rest);
  const pong = frames.find((f) => f.opcode === 10);
  assert.ok(pong, 'a pong');
  assert.is(pong!.payload.toString(), 'p1');
  const text = frames.find((f) => f.opcode === 1);
  assert.ok(text, 'the echo');
  assert.is(text!.payload.toString(), 'raw-frag-ments');
  assert.is(closeFrameOf(frames).code, 1000, 'the close is echoed');
});

ws('ping is answered with a pong carrying the same payload', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  for (const payload of ['', 'x', 'ping payload 123']) {
    const pong = new Promise<Buffer>((resolve) => c.ws.once('pong', resolve));
    c.ws.ping(payload);
    assert.is((await within(pong, 'the pong')).toString(), payload);
  }
  c.ws.send('still open');
  assert.is(await c.nextText(), 'still open');
  c.ws.close();
  await c.closeCode();
});

ws('the server closes with a code and reason of its choosing', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  c.ws.send('close-me');
  const { code, reason } = await c.closeCode();
  assert.is(code, 4001);
  assert.is(reason, 'bye now');
});

ws('after close(), send() raises OSError and no data frame follows the close frame', async ({ srv }) => {
  const { s, rest } = await rawUpgrade(srv.port, '/echo');
  s.write(frame(1, Buffer.from('close-then-send')));
  const frames = await framesUntilEnd(s, rest);
  assert.equal(closeFrameOf(frames), { code: 4002, reason: 'closed first' });
  const closeAt = frames.findIndex((f) => f.opcode === 8);
  assert.is(frames.slice(closeAt + 1).length, 0, 'nothing after the close frame');
  assert.not.ok(frames.some((f) => f.opcode === 1), 'no data frame');
  await eventually(async () => (await logOf(srv.port, 'echo')).some((l) => l.startsWith('send after close')), 'the log');
  assert.ok((await logOf(srv.port, 'echo')).includes('send after close: OSError WebSocket is closing'));
});

ws('the client closes with a code; the close is echoed', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  c.ws.close(4321, 'client leaving');
  const { code, reason } = await c.closeCode();
  assert.is(code, 4321);
  assert.is(reason, 'client leaving');
});

ws('a frame declaring more than 4 MiB is refused with 1009 before it is buffered', async ({ srv }) => {
  const { s, rest } = await rawUpgrade(srv.port, '/echo');
  // Declare 5 MiB, send only 1 KiB of it.
  s.write(frame(2, Buffer.alloc(1024, 7), { declaredLength: 5 * 1024 * 1024 }).subarray(0, 14 + 1024));
  const frames = await framesUntilEnd(s, rest);
  const { code } = closeFrameOf(frames);
  assert.is(code, 1009);
  assert.not.ok(frames.some((f) => f.opcode === 2), 'nothing was echoed');
});

ws('a message over 4 MiB in fragments is refused with 1009', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  c.ws.send(Buffer.alloc(3 * 1024 * 1024, 1), { fin: false });
  c.ws.send(Buffer.alloc(2 * 1024 * 1024, 2), { fin: true });
  const { code } = await c.closeCode();
  assert.is(code, 1009);
  const again = await Client.open(srv.port, '/echo');
  again.ws.send('after 1009');
  assert.is(await again.nextText(), 'after 1009', 'the server keeps serving');
  again.ws.close();
  await again.closeCode();
});

ws('invalid UTF-8 in a text message closes with 1007', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo');
  c.ws.send(Buffer.from([0x61, 0xc3, 0x28, 0x62]), { binary: false });
  const { code } = await c.closeCode();
  assert.is(code, 1007);
  for (const [what, bytes] of [
    ['a surrogate', [0xed, 0xa0, 0x80]],
    ['an overlong "/"', [0xc0, 0xaf]],
    ['an overlong 3-byte form', [0xe0, 0x80, 0xaf]],
    ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['a truncated sequence', [0x61, 0xe2, 0x82]],
  ] as const) {
    const { s, rest } = await rawUpgrade(srv.port, '/echo');
    s.write(frame(1, Buffer.from(bytes)));
    const frames = await framesUntilEnd(s, rest);
    assert.is(closeFrameOf(frames).code, 1007, `${what} is not UTF-8`);
    assert.not.ok(frames.some((f) => f.opcode === 1), `${what}: nothing was echoed`);
  }
  // The largest code point and the ones around the surrogates are fine.
  const good = await Client.open(srv.port, '/echo');
  good.ws.send('\u{10FFFF}\u{D7FF}\u{E000}\u{FFFD}');
  assert.is(await good.nextText(), '\u{10FFFF}\u{D7FF}\u{E000}\u{FFFD}');
  good.ws.close();
  await good.closeCode();
  // The same bytes in a binary frame are fine.
  const b = await Client.open(srv.port, '/echo');
  b.ws.send(Buffer.from([0x61, 0xc3, 0x28, 0x62]));
  assert.equal([...(await b.next()).data], [0x61, 0xc3, 0x28, 0x62]);
  b.ws.close();
  await b.closeCode();
});

ws('a handler that raises closes that socket with 1011; the server keeps serving', async ({ srv }) => {
  const other = await Client.open(srv.port, '/echo');
  const c = await Client.open(srv.port, '/echo');
  c.ws.send('raise');
  const { code, reason } = await c.closeCode();
  assert.is(code, 1011);
  assert.is(reason, 'internal error');
  await eventually(async () => /ValueError: ws handler failed on purpose/.test(srv.stderr.join('')), 'the traceback');
  other.ws.send('unaffected');
  assert.is(await other.nextText(), 'unaffected', 'another socket is unaffected');
  const fresh = await Client.open(srv.port, '/echo');
  fresh.ws.send('new one');
  assert.is(await fresh.nextText(), 'new one');
  assert.is((await request(srv.port, '/log?key=nothing')).status, 200, 'HTTP still served');
  for (const x of [other, fresh]) x.ws.close();
  await Promise.all([other.closeCode(), fresh.closeCode()]);
});

ws('an open handler that raises closes with 1011', async ({ srv }) => {
  const c = new Client(`ws://127.0.0.1:${srv.port}/bad-open`);
  const { code } = await c.closeCode();
  assert.is(code, 1011);
  await eventually(async () => /RuntimeError: open failed on purpose/.test(srv.stderr.join('')), 'the traceback');
});

ws('function handler: open= and close= are called', async ({ srv }) => {
  const c = await Client.open(srv.port, '/echo?tag=fn1');
  await eventually(async () => (await logOf(srv.port, 'echo')).includes('open fn1'), 'open()');
  c.ws.send('x');
  assert.is(await c.nextText(), 'x');
  assert.not.ok((await logOf(srv.port, 'echo')).includes('close fn1'), 'not closed yet');
  c.ws.close();
  await c.closeCode();
  await eventually(async () => (await logOf(srv.port, 'echo')).includes('close fn1'), 'close()');
  assert.equal((await logOf(srv.port, 'echo')).filter((l) => l.endsWith('fn1')), ['open fn1', 'close fn1']);
});

ws('class handler: one instance per socket; open, message and close are called', async ({ srv }) => {
  const alice = await Client.open(srv.port, '/life?name=alice');
  const bob = await Client.open(srv.port, '/life?name=bob');
  alice.ws.send('a1');
  assert.is(await alice.nextText(), 'alice#1: a1');
  bob.ws.send('b1');
  assert.is(await bob.nextText(), 'bob#1: b1');
  alice.ws.send('a2');
  assert.is(await alice.nextText(), 'alice#2: a2', 'each socket has its own instance');
  assert.is(await clientCount(srv.port, '/life'), 2);
  // alice says goodbye properly; bob's TCP connection just goes away.
  alice.ws.close(1000);
  await alice.closeCode();
  bob.ws.terminate();
  await eventually(async () => (await clientCount(srv.port, '/life')) === 0, 'both sockets to be gone');
  const log = await logOf(srv.port, 'life');
  assert.equal(log.filter((l) => l.includes('alice')), ['open alice', 'message alice a1', 'message alice a2', 'close alice after 2']);
  assert.equal(log.filter((l) => l.includes('bob')), ['open bob', 'message bob b1', 'close bob after 1']);
});

ws('broadcast reaches every client of the route', async ({ srv }) => {
  const clients = await Promise.all([1, 2, 3, 4].map(() => Client.open(srv.port, '/chat')));
  assert.is(await clientCount(srv.port, '/chat'), 4);
  clients[0].ws.send('hello from 0'); // ws.broadcast
  for (const c of clients) assert.is(await c.nextText(), 'hello from 0');
  clients[2].ws.send('app:via app.broadcast');
  for (const c of clients) assert.is(await c.nextText(), 'via app.broadcast');
  const r = await request(srv.port, '/chat/announce', { body: 'from HTTP' });
  assert.is(r.body.toString(), 'sent to 4\n');
  for (const c of clients) assert.is(await c.nextText(), 'announce: from HTTP');
  // A client that left no longer counts, and the rest still get messages.
  clients[3].ws.close();
  await clients[3].closeCode();
  await eventually(async () => (await clientCount(srv.port, '/chat')) === 3, 'the client list to shrink');
  clients[1].ws.send('three left');
  for (const c of clients.slice(0, 3)) assert.is(await c.nextText(), 'three left');
  for (const c of clients.slice(0, 3)) c.ws.close();
  await Promise.all(clients.map((c) => c.closeCode()));
});

ws('a timer pushes messages, then closes the socket', async ({ srv }) => {
  const c = await Client.open(srv.port, '/ticker?n=4');
  const got: string[] = [];
  for (let i = 0; i < 4; i++) got.push(await c.nextText(`tick ${i + 1}`));
  assert.equal(got, ['tick 1', 'tick 2', 'tick 3', 'tick 4']);
  const { code, reason } = await c.closeCode();
  assert.is(code, 1000);
  assert.is(reason, 'done ticking');
});

ws('a plain GET to a WebSocket route is 426 Upgrade Required', async ({ srv }) => {
  const r = await request(srv.port, '/echo');
  assert.is(r.status, 426);
  assert.is(String(r.headers.upgrade).toLowerCase(), 'websocket');
  const bad = await request(srv.port, '/echo', { headers: { upgrade: 'websocket' } }); // no key
  assert.is(bad.status, 426);
  const post = await request(srv.port, '/echo', { body: 'x' });
  assert.is(post.status, 405);
});

ws('nothing is left behind', async ({ srv }) => {
  assert.is(await clientCount(srv.port, '/echo'), 0);
  assert.is(await clientCount(srv.port, '/chat'), 0);
  assert.is(await settled(srv, 10000), 0);
});

ws.run();

// ============================================================================
// Server-Sent Events

interface SseEvent {
  event?: string;
  id?: string;
  data: string;
}

class SseClient {
  readonly req: ClientRequest;
  res!: IncomingMessage;
  raw = '';
  ended = false;
  readonly done: Promise<void>;
  private events: SseEvent[] = [];
  private waiter: (() => void) | null = null;

  private constructor(port: number, path: string, opened: (c: SseClient) => void, failed: (e: Error) => void) {
    let finish!: () => void;
    this.done = new Promise((r) => (finish = r));
    this.req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      this.res = res;
      res.setEncoding('utf8');
      let pending = '';
      res.on('data', (d: string) => {
        this.raw += d;
        pending += d;
        let i;
        while ((i = pending.indexOf('\n\n')) >= 0) {
          this.events.push(parseEvent(pending.slice(0, i)));
          pending = pending.slice(i + 2);
        }
        this.waiter?.();
      });
      res.on('end', () => {
        this.ended = true;
        finish();
        this.waiter?.();
      });
      res.on('error', () => finish());
      opened(this);
    });
    this.req.on('error', (e) => {
      failed(e);
      finish();
    });
    this.req.end();
  }

  static open(port: number, path: string): Promise<SseClient> {
    return within(new Promise((resolve, reject) => new SseClient(port, path, resolve, reject)), `${path} to open`);
  }

  async next(what = 'an event'): Promise<SseEvent> {
    return nextOf(this.events, (w) => (this.waiter = w), () => (this.ended ? 'stream ended' : null), what);
  }

  destroy(): void {
    this.req.destroy();
  }
}

function parseEvent(block: string): SseEvent {
  const ev: SseEvent = { data: '' };
  const data: string[] = [];
  for (const line of block.split('\n')) {
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'data') data.push(value);
    else if (field === 'event') ev.event = value;
    else if (field === 'id') ev.id = value;
  }
  ev.data = data.join('\n');
  return ev;
}

/** Decodes a chunked body; fails unless it is well formed and ends with the last chunk. */
function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', i);
    assert.ok(eol > i, `chunk size line at ${i}`);
    const size = parseInt(body.subarray(i, eol).toString('latin1'), 16);
    assert.ok(Number.isInteger(size), 'chunk size is hex');
    i = eol + 2;
    if (size === 0) {
      assert.is(body.subarray(i).toString('latin1'), '\r\n', 'the body ends after the last chunk');
      return Buffer.concat(out);
    }
    out.push(body.subarray(i, i + size));
    i += size;
    assert.is(body.subarray(i, i + 2).toString('latin1'), '\r\n', 'CRLF after a chunk');
    i += 2;
  }
}

const sse = serverSuite('Server-Sent Events routes', { app: appPath('sockets.py'), accessLog: false });

sse('events arrive with event and id fields; multi-line data is kept', async ({ srv }) => {
  const c = await SseClient.open(srv.port, '/events?name=fields');
  assert.is(c.res.statusCode, 200);
  assert.match(String(c.res.headers['content-type']), /^text\/event-stream/);
  assert.is(c.res.headers['cache-control'], 'no-cache');
  assert.equal(await c.next(), { event: 'greeting', id: '1', data: 'hello' });
  assert.equal(await c.next(), { id: '2', data: 'line one\nline two\nline three' });
  assert.equal(await c.next(), { event: 'data', data: '{"json": [1, 2]}' });
  assert.ok(c.raw.includes('id: 2\ndata: line one\ndata: line two\ndata: line three\n\n'), JSON.stringify(c.raw));
  assert.not.ok(c.ended, 'the stream stays open');
  c.destroy();
});

sse('the stream is a chunked text/event-stream response; server-side close ends it', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  s.write('GET /events?close=1&name=raw HTTP/1.1\r\nHost: t\r\n\r\n');
  const all = await readAll(s, DEADLINE); // resolves only when the server closes
  const end = all.indexOf('\r\n\r\n');
  const head = all.subarray(0, end).toString('latin1');
  assert.match(head, /^HTTP\/1\.1 200 /);
  assert.match(head, /\r\nContent-Type: text\/event-stream(\r\n|$)/i);
  assert.match(head, /\r\nTransfer-Encoding: chunked(\r\n|$)/i);
  assert.not.match(head, /Content-Length/i);
  const body = dechunk(all.subarray(end + 4)).toString();
  assert.is(
    body,
    'event: greeting\nid: 1\ndata: hello\n\n' +
      'id: 2\ndata: line one\ndata: line two\ndata: line three\n\n' +
      'event: data\ndata: {"json": [1, 2]}\n\n',
  );
});

sse('server-side close ends the response for an HTTP client', async ({ srv }) => {
  const c = await SseClient.open(srv.port, '/events?close=1&name=http');
  await within(c.done, 'the response to end');
  assert.ok(c.ended, 'the response ended normally');
  assert.equal(await c.next(), { event: 'greeting', id: '1', data: 'hello' });
});

sse('a timer pushes events, then the server closes the stream', async ({ srv }) => {
  const c = await SseClient.open(srv.port, '/timed');
  for (let i = 1; i <= 3; i++) assert.equal(await c.next(`push ${i}`), { id: String(i), data: `push ${i}` });
  await within(c.done, 'the stream to end');
  assert.ok(c.ended);
});

sse('a client disconnect calls on_close', async ({ srv }) => {
  const c = await SseClient.open(srv.port, '/events?name=leaver');
  await c.next();
  assert.ok((await logOf(srv.port, 'sse')).includes('open leaver'));
  assert.not.ok((await logOf(srv.port, 'sse')).includes('close leaver'), 'not closed yet');
  c.destroy();
  await eventually(async () => (await logOf(srv.port, 'sse')).includes('close leaver'), 'on_close');
  assert.is(await clientCount(srv.port, '/events'), 0);
});

sse('broadcast reaches every SSE client', async ({ srv }) => {
  const clients = await Promise.all([1, 2, 3].map(() => SseClient.open(srv.port, '/feed')));
  for (const c of clients) assert.equal(await c.next(), { event: 'hello', data: 'welcome' });
  assert.is(await clientCount(srv.port, '/feed'), 3);
  const r = await request(srv.port, '/feed/broadcast', { body: 'breaking\nnews' });
  assert.is(r.body.toString(), 'sent to 3\n');
  for (const c of clients) assert.equal(await c.next(), { event: 'news', data: 'breaking\nnews' });
  clients[0].destroy();
  await eventually(async () => (await clientCount(srv.port, '/feed')) === 2, 'the client list to shrink');
  const r2 = await request(srv.port, '/feed/broadcast', { body: 'second' });
  assert.is(r2.body.toString(), 'sent to 2\n');
  for (const c of clients.slice(1)) assert.equal(await c.next(), { event: 'news', data: 'second' });
  for (const c of clients) c.destroy();
});

sse('an SSE handler that raises ends its stream; the server keeps serving', async ({ srv }) => {
  const c = await SseClient.open(srv.port, '/sse-bad');
  assert.equal(await c.next(), { data: 'about to fail' });
  await within(c.done, 'the failed stream to end');
  assert.ok(c.ended, 'the response ended with its last chunk');
  await eventually(async () => /RuntimeError: sse handler failed on purpose/.test(srv.stderr.join('')), 'the traceback');
  assert.is(await clientCount(srv.port, '/sse-bad'), 0);
  const ok = await SseClient.open(srv.port, '/feed');
  assert.equal(await ok.next(), { event: 'hello', data: 'welcome' });
  ok.destroy();
});

sse('nothing is left behind', async ({ srv }) => {
  await eventually(async () => (await clientCount(srv.port, '/feed')) === 0, 'feed clients to go');
  assert.is(await clientCount(srv.port, '/events'), 0);
  assert.is(await settled(srv, 10000), 0);
});

sse.run();
