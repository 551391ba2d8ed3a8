// The host's TCP endpoint under real traffic: big bodies, keep-alive,
// pipelining, half-close, resets, many clients, slow readers, no leaks.
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { SEED_LOGIN, appPath, rawConnect, readAll, request, settled, sleep, serverSuite } from '../helpers/server.js';
import { AUTH, ResponseReader, post } from '../helpers/http1.js';

const tcp = serverSuite('tcp endpoint', { app: appPath('echo.py') });

tcp('a 6 MiB body goes up and comes back byte for byte', async ({ srv }) => {
  const body = randomBytes(4.5 * 1024 * 1024).toString('base64'); // 6 MiB of text
  const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body });
  assert.is(r.status, 200);
  assert.is(r.body.length, body.length);
  assert.ok(r.body.equals(Buffer.from(body)), 'echoed body differs');
});

tcp('an 8 MiB response arrives whole', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: `big:${8 * 1024 * 1024}` });
  assert.is(r.status, 200);
  assert.is(r.body.length, 8 * 1024 * 1024);
  assert.ok(r.body.every((b) => b === 0x78), 'response bytes changed');
});

tcp('3,000 sequential keep-alive requests on one connection', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const reader = new ResponseReader(s);
  for (let i = 0; i < 3000; i++) {
    s.write(post(`k${i}`));
    const r = await reader.next();
    if (r.status !== 200 || r.body.toString() !== `k${i}`) assert.unreachable(`request ${i}: ${r.status} ${r.body}`);
  }
  s.end();
  assert.ok(await reader.closedCleanly());
});

tcp('100 pipelined requests in one write come back in order', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const reader = new ResponseReader(s);
  s.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => post(`p${i}`))));
  for (let i = 0; i < 100; i++) {
    const r = await reader.next();
    assert.is(r.body.toString(), `p${i}`);
  }
  s.destroy();
});

tcp('a client that half-closes after its request still gets the response, then EOF', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const all = readAll(s);
  s.end(post('half-closed'));
  const text = (await all).toString();
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.ok(text.endsWith('half-closed'), text);
});

tcp('a half-closing client gets a large response whole', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const all = readAll(s, 20000);
  s.end(post(`big:${3 * 1024 * 1024}`));
  const data = await all;
  const bodyAt = data.indexOf('\r\n\r\n') + 4;
  assert.is(data.length - bodyAt, 3 * 1024 * 1024);
});

tcp('half-close with a big request and a slow handler: the response still arrives whole', async ({ srv }) => {
  // Exactly 6 full segments: the last one takes the guest over its 3,000-byte
  // immediate-ACK mark, so it acknowledges everything before the handler runs.
  const size = (n: number): number => post(`slow:${'z'.repeat(n)}`).length;
  const pad = 6 * 1460 - size(0);
  const body = `slow:${'z'.repeat(pad - (size(pad) - size(0) - pad))}`;
  assert.is(post(body).length, 6 * 1460);
  const s = await rawConnect(srv.port);
  const all = readAll(s);
  s.end(post(body));
  const text = (await all).toString();
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.ok(text.endsWith(body), `got ${text.length} bytes`);
});

tcp('the guest closing first (Connection: close) ends the client socket', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const all = readAll(s);
  s.write(post('bye', 'Connection: close\r\n'));
  const text = (await all).toString();
  assert.ok(text.endsWith('bye'), text);
});

tcp('a client reset mid-request leaves the server serving', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  s.write(`POST /api/epname HTTP/1.1\r\nHost: t\r\nAuthorization: ${AUTH}\r\nContent-Length: 1000000\r\n\r\n`);
  s.write(Buffer.alloc(200000, 0x61));
  await sleep(50);
  s.resetAndDestroy();
  const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: 'after reset' });
  assert.is(r.body.toString(), 'after reset');
});

tcp('a client reset mid-response leaves the server serving', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  let got = 0;
  const some = new Promise<void>((resolve) =>
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got > 100000) resolve();
    }),
  );
  s.write(post(`big:${8 * 1024 * 1024}`));
  await some;
  s.resetAndDestroy();
  const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: 'after reset 2' });
  assert.is(r.body.toString(), 'after reset 2');
});

tcp('1,000 clients connecting at once are all served', async ({ srv }) => {
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: `c${i}` }).then(
        (r) => (r.status === 200 && r.body.toString() === `c${i}` ? 'ok' : `bad ${r.status}`),
        (e: Error) => e.message,
      ),
    ),
  );
  const bad = results.filter((r) => r !== 'ok');
  assert.is(bad.length, 0, `failures: ${bad.slice(0, 5).join(', ')}`);
});

tcp('a slow reader holds the guest back; host buffering stays bounded', async ({ srv }) => {
  const size = 24 * 1024 * 1024;
  const memBefore = srv.handle.stats().guestMemory;
  const s = await rawConnect(srv.port);
  s.pause();
  s.write(post(`big:${size}`));
  let maxHeld = 0;
  let maxMemory = 0;
  for (let i = 0; i < 20; i++) {
    await sleep(50);
    const stats = srv.handle.stats();
    maxHeld = Math.max(maxHeld, stats.bufferedToClients);
    maxMemory = Math.max(maxMemory, stats.guestMemory);
  }
  // The guest's 4 MiB ring plus one socket buffer, not the 24 MiB response.
  assert.ok(maxHeld < 6 * 1024 * 1024, `host held ${maxHeld} bytes for a paused client`);
  // The app's one copy of the body (paced out of it), not a second one per send.
  const grew = maxMemory - memBefore;
  assert.ok(grew < size + 8 * 1024 * 1024, `guest memory grew ${grew} bytes for a ${size}-byte response to a paused client`);
  const reader = new ResponseReader(s);
  s.resume();
  const r = await reader.next();
  assert.is(r.body.length, size);
  s.destroy();
});

tcp('clients that connect and reset at once do not starve the guest\'s 5-slot backlog', async ({ srv }) => {
  let stop = false;
  const churn = async (): Promise<void> => {
    while (!stop) {
      const s = await rawConnect(srv.port).catch(() => null);
      s?.resetAndDestroy();
    }
  };
  const attackers = [churn(), churn(), churn()];
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: `legit${i}` }).then((r) => r.body.toString()),
    ),
  );
  stop = true;
  await Promise.all(attackers);
  assert.equal(results, Array.from({ length: 20 }, (_, i) => `legit${i}`));
});

tcp('no connection state is left after all of the above', async ({ srv }) => {
  await sleep(100);
  assert.is(await settled(srv, 8000), 0, JSON.stringify(srv.handle.stats().states));
});

tcp.run();
