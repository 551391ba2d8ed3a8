// TLS inside the guest, against real TLS peers on loopback: node:https, curl
// and openssl s_client against the HTTPS server (TLS 1.2 and 1.3, RSA and
// ECDSA, a chain sent whole), bodies, keep-alive, wss and SSE over it, bad
// clients and bad key material; fetch to node:https servers with good and bad
// certificates; mqtts to mosquitto's TLS listener; the egress policy on the
// server name; a pcap of the link read back by tshark. Certificates are made
// by openssl at test time (spec/helpers/certs.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer as createHttpsServer, request as httpsRequest, type RequestOptions, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { ServeOptions } from '../../ts/index.js';
import { appPath, rawConnect, request, startRefused, startServer, stderrText, type TestServer } from '../helpers/server.js';
import { testCerts, type Leaf } from '../helpers/certs.js';
import { runCli, startCli, stopCli } from '../helpers/cli.js';
import { Broker } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/loopback.js';
import { waiter } from '../helpers/wait.js';

const certs = testCerts();
const waitFor = waiter({ timeoutMs: 10000, everyMs: 30, retryErrors: true });

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

interface TlsReply {
  status: number;
  body: Buffer;
  protocol: string | null;
  alpn: string | false | null;
  cipher: string;
  socket: TLSSocket;
}

/** One HTTPS request with node:https, trusting only the test root. */
function httpsGet(
  port: number,
  path: string,
  opts: { method?: string; body?: Buffer | string; minVersion?: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3'; agent?: Agent; servername?: string; ca?: string } = {},
): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const tlsOptions: RequestOptions & { ALPNProtocols: string[] } = {
        host: '127.0.0.1',
        port,
        path,
        method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
        ca: opts.ca ?? certs.ca,
        servername: opts.servername ?? 'localhost',
        minVersion: opts.minVersion,
        maxVersion: opts.maxVersion,
        ALPNProtocols: ['http/1.1'],
        agent: opts.agent ?? false,
      };
    const req = httpsRequest(
      tlsOptions,
      (res) => {
        const socket = res.socket as TLSSocket;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), protocol: socket.getProtocol?.() ?? null, alpn: socket.alpnProtocol ?? null, cipher: socket.getCipher?.()?.name ?? '', socket }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30000, () => req.destroy(new Error(`timeout ${path}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Run a command to its end without blocking the event loop (the server under test shares it). */
function run(cmd: string, args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i & 255;
  return b;
}

const serveTls = (leaf: Leaf, more: ServeOptions = {}): Promise<TestServer> =>
  startServer({ app: appPath('tls_app.py'), accessLog: false, tls: { cert: leaf.chain, key: leaf.key }, ...more });

/** A connection the server ended: its end, reset or close within the time given. */
function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    const ended = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    socket.once('end', ended);
    socket.once('close', ended);
    socket.on('error', () => {});
    socket.resume();
  });
}

// ---- inbound: the HTTPS server ----------------------------------------------------

const inbound = suite<{ rsa: TestServer; ec: TestServer }>('tls: serving HTTPS');

inbound.before(async (ctx) => {
  ctx.rsa = await serveTls(certs.rsa, { limits: { headerTimeoutMs: 1500 } });
  ctx.ec = await serveTls(certs.ec);
});

inbound.after(async (ctx) => {
  await ctx.rsa?.handle.close();
  await ctx.ec?.handle.close();
});

inbound('the server says https:// and answers node:https with TLS 1.3 and 1.2, RSA and ECDSA, ALPN http/1.1', async ({ rsa, ec }) => {
  assert.match(rsa.handle.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  for (const srv of [rsa, ec]) {
    for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
      const r = await httpsGet(srv.port, '/', { minVersion: version, maxVersion: version });
      assert.is(r.status, 200);
      assert.is(r.body.toString(), 'hello over TLS');
      assert.is(r.protocol, version);
      assert.is(r.alpn, 'http/1.1');
    }
  }
  const tls12 = await httpsGet(rsa.port, '/', { maxVersion: 'TLSv1.2' });
  assert.match(tls12.cipher, /ECDHE-RSA/);
  const ec12 = await httpsGet(ec.port, '/', { maxVersion: 'TLSv1.2' });
  assert.match(ec12.cipher, /ECDHE-ECDSA/);
});

inbound('a P-384 key serves too', async () => {
  const srv = await serveTls(certs.ec384);
  try {
    const r = await httpsGet(srv.port, '/');
    assert.is(r.status, 200);
  } finally {
    await srv.handle.close();
  }
});

inbound('curl --cacert with TLS 1.2 and 1.3 forced', async ({ rsa, ec }) => {
  for (const srv of [rsa, ec]) {
    for (const flags of [['--tlsv1.3'], ['--tlsv1.2', '--tls-max', '1.2']]) {
      const r = await run('curl', ['-sS', '--cacert', certs.caFile, ...flags, '-w', '\n%{http_code} %{ssl_verify_result}', `https://localhost:${srv.port}/`]);
      assert.is(r.code, 0, r.stderr);
      assert.is(r.stdout, 'hello over TLS\n200 0');
    }
  }
});

inbound('openssl s_client: the chain is sent whole and verifies, SNI reaches the request', async ({ ec }) => {
  const r = await run(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${ec.port}`, '-servername', 'api.localhost', '-CAfile', certs.caFile, '-showcerts', '-ign_eof'],
    'GET /who HTTP/1.1\r\nHost: api.localhost\r\nConnection: close\r\n\r\n',
  );
  assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
  assert.is((r.stdout.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length, 2, 'leaf and intermediate');
  assert.match(r.stdout, /"server_name": "api\.localhost"/);
  assert.match(r.stdout, /"scheme": "https"/);
});

inbound('bodies of MiB both ways, and keep-alive over one TLS session', async ({ ec }) => {
  const up = pattern(3 * 1024 * 1024 + 17);
  const echo = await httpsGet(ec.port, '/echo', { body: up });
  assert.is(echo.status, 200);
  assert.ok(echo.body.equals(up), 'echoed body matches');
  const down = await httpsGet(ec.port, `/big/${4 * 1024 * 1024}`);
  assert.ok(down.body.equals(pattern(4 * 1024 * 1024)), 'downloaded body matches');
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: certs.ca });
  const sockets = new Set<TLSSocket>();
  try {
    for (let i = 0; i < 20; i++) {
      const r = await httpsGet(ec.port, '/who', { agent });
      assert.is(JSON.parse(r.body.toString()).scheme, 'https');
      sockets.add(r.socket);
    }
    assert.is(sockets.size, 1, 'one connection for 20 requests');
  } finally {
    agent.destroy();
  }
});

inbound('a returning client resumes its session with the ticket it was given (TLS 1.3 and 1.2; openssl s_client)', async ({ ec }) => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-tls-session-'));
  try {
    for (const version of ['-tls1_3', '-tls1_2']) {
      const session = join(dir, `${version}.pem`);
      const request = 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
      const connect = (how: string[]) => run('openssl', ['s_client', '-connect', `127.0.0.1:${ec.port}`, '-servername', 'localhost', '-CAfile', certs.caFile, version, '-ign_eof', ...how], request);
      const first = await connect(['-sess_out', session]);
      assert.match(first.stdout, /^New, TLSv1\.[23]/m, version);
      assert.match(first.stdout, /hello over TLS/);
      const again = await connect(['-sess_in', session]);
      assert.match(again.stdout, /^Reused, TLSv1\.[23]/m, version);
      assert.match(again.stdout, /hello over TLS/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

inbound('WebSocket over wss and an event stream over https', async ({ ec }) => {
  const ws = new WebSocket(`wss://localhost:${ec.port}/ws`, { ca: certs.ca });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const got: string[] = [];
  const done = new Promise<void>((resolve) =>
    ws.on('message', (m: Buffer) => {
      got.push(m.toString());
      if (got.length === 2) resolve();
    }),
  );
  ws.send('first');
  ws.send('x'.repeat(100000));
  await done;
  assert.is(got[0], 'first');
  assert.is(got[1].length, 100000);
  ws.close();
  const sse = await httpsGet(ec.port, '/events');
  assert.is(sse.status, 200);
  assert.match(sse.body.toString(), /event: n\nid: 1\ndata: one\n\n/);
  assert.match(sse.body.toString(), /data: two/);
});

inbound('the health check is answered over TLS, by the guest', async ({ ec }) => {
  const r = await httpsGet(ec.port, '/healthz');
  assert.is(r.status, 200);
  assert.equal(JSON.parse(r.body.toString()), { status: 'ok' });
});

inbound('plain HTTP to the HTTPS port gets a 400 that says so, in the clear', async ({ ec }) => {
  const r = await request(ec.port, '/');
  assert.is(r.status, 400);
  assert.match(r.body.toString(), /This port speaks HTTPS/);
  assert.is((await httpsGet(ec.port, '/')).status, 200, 'others unaffected');
});

inbound('a client that stalls mid-handshake is closed after the header timeout; garbage records end only their connection', async ({ rsa }) => {
  const stalled = await rawConnect(rsa.port);
  stalled.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])); // a ClientHello's first bytes, then nothing
  const garbage = await rawConnect(rsa.port);
  garbage.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(64, 0xa5)]));
  assert.ok(await closedWithin(garbage, 5000), 'the garbage connection ended');
  assert.is((await httpsGet(rsa.port, '/')).status, 200, 'served meanwhile');
  assert.ok(await closedWithin(stalled, 8000), 'the stalled handshake ended');
});

inbound('a flood of new TLS clients: every handshake completes, and a kept-alive client is answered throughout', async ({ ec }) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: certs.ca });
  try {
    let answered = 0;
    let flooding = true;
    const steadyErrors: string[] = [];
    const steady = (async () => {
      while (flooding) {
        try {
          if ((await httpsGet(ec.port, '/who', { agent })).status === 200) answered++;
        } catch (err) {
          steadyErrors.push(String(err));
        }
      }
    })();
    const flood = await Promise.allSettled(Array.from({ length: 150 }, () => httpsGet(ec.port, '/')));
    flooding = false;
    await steady;
    const failed = flood.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : r.value.status === 200 ? [] : [`status ${r.value.status}`]));
    assert.equal(failed, [], 'every new client answered');
    assert.equal(steadyErrors, [], 'the kept-alive client');
    assert.ok(answered >= 1, `kept-alive requests answered during the flood: ${answered}`);
  } finally {
    agent.destroy();
  }
});

inbound('stats() and the metrics count clients\' handshakes: done, failed (plain HTTP, garbage, a stall past the header timeout)', async () => {
  const metricsPort = await freePort();
  const srv = await serveTls(certs.ec, { metrics: { port: metricsPort }, limits: { headerTimeoutMs: 1000 } });
  try {
    for (let i = 0; i < 3; i++) assert.is((await httpsGet(srv.port, '/')).status, 200);
    assert.is((await request(srv.port, '/')).status, 400);
    const garbage = await rawConnect(srv.port);
    garbage.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0x00, 0x40]), Buffer.alloc(64, 0xa5)]));
    assert.ok(await closedWithin(garbage, 5000), 'the garbage connection ended');
    const stalled = await rawConnect(srv.port);
    stalled.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]));
    assert.ok(await closedWithin(stalled, 8000), 'the stalled handshake ended');
    await waitFor('the handshakes counted', () => srv.handle.stats().tls.failed === 3 || undefined).catch(() => undefined);
    assert.equal(srv.handle.stats().tls, { ok: 3, failed: 3, nomem: 0 });
    const scraped = (await request(metricsPort, '/metrics')).body.toString();
    assert.match(scraped, /^pythongoose_tls_handshakes_total\{result="ok"\} 3$/m);
    assert.match(scraped, /^pythongoose_tls_handshakes_total\{result="failed"\} 3$/m);
    assert.match(scraped, /^pythongoose_tls_handshakes_total\{result="no_memory"\} 0$/m);
  } finally {
    await srv.handle.close();
  }
});

inbound('the key is not in stats() nor in the server output', async ({ ec }) => {
  const stats = JSON.stringify(ec.handle.stats());
  const keyBody = certs.ec.key.split('\n')[1];
  assert.not.ok(stats.includes(keyBody));
  assert.not.ok(stderrText(ec).includes(keyBody));
});

inbound.run();

// ---- bad key material and options ----------------------------------------------------

const refused = suite('tls: what cannot be served is refused before serving');

refused('serve() names what is wrong: garbage, an encrypted key, a key of another certificate, a weak key, one half missing', async () => {
  const app = appPath('tls_app.py');
  await startRefused({ app, tls: { cert: 'not a certificate', key: certs.ec.key } }, /tls\.cert holds no PEM block/);
  await startRefused({ app, tls: { cert: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', key: certs.ec.key } }, /TLS: cannot read the certificate/);
  await startRefused({ app, tls: { cert: certs.ec.chain, key: readFileSync(certs.encryptedKeyFile, 'utf8') } }, /TLS: the key is encrypted/);
  await startRefused({ app, tls: { cert: certs.ec.chain, key: certs.rsa.key } }, /TLS: the key does not match the certificate/);
  await startRefused({ app, tls: { cert: certs.weak.chain, key: certs.weak.key } }, /TLS: the key is RSA-1024: at least 2048 bits/);
  await startRefused({ app, tls: { cert: certs.ec.chain } }, /tls\.cert needs tls\.key/);
  await startRefused({ app, tls: { cert: certs.ec.chain, key: certs.ec.key }, metrics: {} }, /metrics cannot be on the HTTPS port/);
});

refused('the CLI: one message and a non-zero exit for a missing file, a mismatched key, a flag without its pair', () => {
  const missing = runCli(['--port', '0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', certs.ec.keyFile, appPath('tls_app.py')]);
  assert.is(missing.code, 1);
  assert.is(missing.stderr.trim(), 'pythongoose: cannot read --tls-cert /nonexistent/cert.pem: ENOENT');
  const mismatch = runCli(['--port', '0', '--tls-cert', certs.ec.chainFile, '--tls-key', certs.rsa.keyFile, appPath('tls_app.py')]);
  assert.is(mismatch.code, 1);
  assert.match(mismatch.stderr, /TLS: the key does not match the certificate/);
  assert.not.match(mismatch.stderr, /serving/);
  const half = runCli(['--port', '0', '--tls-key', certs.ec.keyFile]);
  assert.is(half.code, 1);
  assert.is(half.stderr.trim(), 'pythongoose: --tls-key needs --tls-cert');
});

refused('the CLI serves HTTPS with --tls-cert/--tls-key and says so', async () => {
  const run = await startCli(['--tls-cert', certs.rsa.chainFile, '--tls-key', certs.rsa.keyFile, appPath('tls_app.py')]);
  try {
    assert.match(run.url, /^https:/);
    assert.match(run.stderr(), new RegExp(`tls +HTTPS only, certificate ${certs.rsa.chainFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; outbound trusts `));
    assert.is((await httpsGet(run.port, '/')).body.toString(), 'hello over TLS');
  } finally {
    assert.is(await stopCli(run), 0);
  }
});

refused.run();

// ---- the link's capture --------------------------------------------------------------

const capture = suite('tls: the pcap of the link');

capture('shows TLS records, and none of the request in the clear', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-tls-pcap-'));
  const file = join(dir, 'link.pcap');
  try {
    const srv = await serveTls(certs.ec, { pcap: file });
    try {
      const r = await httpsGet(srv.port, '/echo', { body: 'a-secret-only-the-guest-sees' });
      assert.is(r.body.toString(), 'a-secret-only-the-guest-sees');
    } finally {
      await srv.handle.close();
    }
    const raw = readFileSync(file);
    assert.ok(raw.length > 24);
    assert.not.ok(raw.includes('a-secret-only-the-guest-sees'), 'no plaintext body on the link');
    assert.not.ok(raw.includes('POST /echo'), 'no plaintext request line on the link');
    const t = await run('tshark', ['-r', file, '-d', 'tcp.port==80-95,tls', '-Y', 'tls.record', '-T', 'fields', '-e', 'tls.record.content_type', '-e', 'tls.record.opaque_type']).catch(() => null); // no tshark: the byte checks above stand
    if (t !== null) {
      assert.is(t.code, 0, t.stderr);
      const types = t.stdout.split(/[\n,\t]/).filter(Boolean);
      assert.ok(types.includes('22'), 'handshake records');
      assert.ok(types.includes('23'), 'application data records');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

capture.run();

// ---- outbound: fetch and mqtts -------------------------------------------------------

async function httpsPeer(leaf: Leaf): Promise<{ server: HttpsServer; port: number; names: string[] }> {
  const names: string[] = [];
  const server = createHttpsServer({ cert: leaf.chain, key: leaf.key }, (req, res) => {
    const sni = (req.socket as TLSSocket).servername;
    if (typeof sni === 'string') names.push(sni);
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`tls peer ${req.method} ${req.url} ${n}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, names };
}

let fetchSeq = 0;
async function guestFetch(srv: TestServer, url: string, more: Record<string, unknown> = {}): Promise<Json> {
  const id = `t${++fetchSeq}`;
  const started = await request(srv.port, '/fetch', { method: 'POST', body: JSON.stringify({ id, url, ...more }), headers: { 'content-type': 'application/json' } });
  const s = JSON.parse(started.body.toString());
  if (s.started !== id) return s;
  return waitFor(`fetch ${url}`, async () => {
    const r = JSON.parse((await request(srv.port, `/fetch/${id}`)).body.toString());
    return r.done ? r : undefined;
  });
}

const outbound = suite<{ srv: TestServer; system: TestServer; peers: Record<string, { server: HttpsServer; port: number; names: string[] }> }>('tls: fetch https:// and mqtts://');

outbound.before(async (ctx) => {
  ctx.peers = {
    good: await httpsPeer(certs.ec),
    rsa: await httpsPeer(certs.rsa),
    expired: await httpsPeer(certs.expired),
    wrongName: await httpsPeer(certs.wrongName),
    unknown: await httpsPeer(certs.unknownCa),
  };
  ctx.srv = await startServer({ app: appPath('outbound.py'), accessLog: false, egress: { allow: ['localhost', '127.0.0.1'] }, tls: { ca: certs.ca } });
  ctx.system = await startServer({ app: appPath('outbound.py'), accessLog: false, egress: { allow: ['localhost', '127.0.0.1'] } });
});

outbound.after(async (ctx) => {
  await ctx.srv?.handle.close();
  await ctx.system?.handle.close();
  for (const p of Object.values(ctx.peers ?? {})) p.server.close();
});

outbound('fetch https:// verifies the chain and the name, sends SNI, and carries bodies both ways', async ({ srv, peers }) => {
  const r = await guestFetch(srv, `https://localhost:${peers.good.port}/a?b=1`);
  assert.is(r.error, null);
  assert.is(r.status, 200);
  assert.is(r.body, 'tls peer GET /a?b=1 0');
  assert.ok(peers.good.names.includes('localhost'), 'SNI sent');
  const up = await guestFetch(srv, `https://127.0.0.1:${peers.rsa.port}/up`, { method: 'POST', body_pattern: 2 * 1024 * 1024 });
  assert.is(up.error, null);
  assert.is(up.body, 'tls peer POST /up 2097152');
});

outbound('verification failures name the reason: unknown issuer, expired, name mismatch', async ({ srv, system, peers }) => {
  const unknown = await guestFetch(srv, `https://localhost:${peers.unknown.port}/`);
  assert.is(unknown.error, 'certificate verify failed: unknown issuer (not signed by a trusted CA)');
  const expired = await guestFetch(srv, `https://localhost:${peers.expired.port}/`);
  assert.is(expired.error, 'certificate verify failed: certificate has expired');
  const wrong = await guestFetch(srv, `https://localhost:${peers.wrongName.port}/`);
  assert.is(wrong.error, 'certificate verify failed: name mismatch (the certificate is not for localhost)');
  // The system bundle (the default) does not hold the test root.
  const untrusted = await guestFetch(system, `https://localhost:${peers.good.port}/`);
  assert.match(String(untrusted.error), /^certificate verify failed: /);
  assert.is(untrusted.status, 0);
});

outbound('a server that does not speak TLS: handshake failed, with Mbed TLS\'s reason', async ({ srv }) => {
  const raw = createNetServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno'));
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  try {
    const r = await guestFetch(srv, `https://localhost:${(raw.address() as AddressInfo).port}/`);
    assert.match(String(r.error), /^handshake failed: /);
  } finally {
    raw.close();
  }
});

outbound('https:// is refused by the policy as plain connections are (the server name check: spec/unit/outbound.test.ts)', async ({ peers }) => {
  const srv = await startServer({ app: appPath('outbound.py'), accessLog: false, tls: { ca: certs.ca } });
  try {
    const r = await guestFetch(srv, `https://127.0.0.1:${peers.good.port}/`);
    assert.match(String(r.error), /egress denied: 127\.0\.0\.1:\d+/);
  } finally {
    await srv.handle.close();
  }
});

outbound('mqtts:// to mosquitto\'s TLS listener: connect, subscribe, publish and receive', async ({ srv }) => {
  const port = await freePort();
  const broker = new Broker(port, 'allow_anonymous true\n', `cafile ${certs.caFile}\ncertfile ${certs.ec.chainFile}\nkeyfile ${certs.ec.keyFile}\n`);
  await broker.start();
  try {
    const post = (path: string, body: unknown): Promise<unknown> => request(srv.port, path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    await post('/mqtt/new', { name: 'secure', url: `mqtts://localhost:${port}`, subs: [['tls/t', 0]] });
    const state = async (): Promise<Json> => JSON.parse((await request(srv.port, '/mqtt/secure')).body.toString());
    await waitFor('mqtts connected', async () => ((await state()).connected ? true : undefined));
    await post('/mqtt/secure/pub', { topic: 'tls/t', msg: 'over mqtts' });
    const got = await waitFor('message back', async () => {
      const s = await state();
      return s.messages.length > 0 ? s.messages : undefined;
    });
    assert.is(got[0].topic, 'tls/t');
    assert.is(got[0].msg, 'over mqtts');
  } finally {
    await broker.dispose();
  }
});

outbound.run();
