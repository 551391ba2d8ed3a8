// npm run soak: 1,000,000 mixed requests against 1 and then 4 workers, every
// answer checked, while 4 SSE and 4 WebSocket subscribers that never read
// hang on a 64 KiB broadcast every 50 ms (reopened whenever the server closes
// them) and the app prints to a stdout that takes a millisecond a write.
// Reports unexpected failures (must be 0), and host RSS and guest memory at
// 10% and 100% of the run (should stay flat within 10%).
// Not part of npm test. Usage: node scripts/soak/soak.mjs [--requests N] [--workers 1,4]
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const root = fileURLToPath(new URL('../..', import.meta.url));
let serve;
try {
  ({ serve } = await import(`${root}dist/index.js`));
} catch {
  console.error('soak: dist/ is missing; run `npm run build` first');
  process.exit(2);
}

const { values } = parseArgs({ options: { requests: { type: 'string', default: '1000000' }, workers: { type: 'string', default: '1,4' } } });
const TOTAL = Number(values.requests);
const CONCURRENCY = 32;
const MIB = 1024 * 1024;
const upload = Buffer.alloc(MIB, 'u');

function call(port, agent, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error(`timeout ${method} ${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** One request of the mix, checked; returns an error text or null. */
async function one(i, port, agent, ws) {
  const kind = i % 100;
  if (kind === 0) {
    const r = await call(port, agent, 'GET', `/print/${i}`);
    return r.status === 200 && r.body.toString() === 'printed' ? null : `print ${i}: ${r.status}`;
  }
  if (kind < 85) {
    const r = await call(port, agent, 'GET', `/small/${i}`);
    return r.status === 200 && JSON.parse(r.body).twice === i * 2 ? null : `small ${i}: ${r.status}`;
  }
  if (kind < 90) {
    const r = await call(port, agent, 'GET', '/boom');
    return r.status === 500 ? null : `boom: ${r.status}`;
  }
  if (kind < 93) {
    const r = await call(port, agent, 'GET', '/missing');
    return r.status === 404 ? null : `missing: ${r.status}`;
  }
  if (kind < 98) {
    const text = `m${i}`;
    const echo = await new Promise((resolve, reject) => {
      ws.once('message', (d) => resolve(d.toString()));
      ws.send(text, (err) => err && reject(err));
    });
    return echo === text ? null : `ws echo ${echo}`;
  }
  if (kind === 98) {
    const r = await call(port, agent, 'POST', '/echo', upload);
    return r.status === 200 && r.body.equals(upload) ? null : `echo 1 MiB: ${r.status} ${r.body.length}`;
  }
  const r = await call(port, agent, 'GET', '/mib');
  return r.status === 200 && r.body.length === MIB ? null : `mib: ${r.status} ${r.body.length}`;
}

/**
 * 4 SSE and 4 WebSocket subscribers of the feed that never read (each
 * reopened if it notices the server closed it; paused, it rarely does).
 */
function slowSubscribers(port) {
  let stopped = false;
  let opened = 0;
  const live = new Set();
  const open = (head) => {
    if (stopped) return;
    opened++;
    const s = connect({ host: '127.0.0.1', port });
    live.add(s);
    s.on('connect', () => {
      s.write(head);
      s.pause(); // and never read again
    });
    s.on('error', () => {});
    s.on('close', () => {
      live.delete(s);
      setTimeout(() => open(head), 100);
    });
  };
  const wsHead = 'GET /feed-ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  for (let i = 0; i < 4; i++) {
    open('GET /feed HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    open(wsHead);
  }
  return {
    stop() {
      stopped = true;
      for (const s of live) s.destroy();
      return opened;
    },
  };
}

async function soak(workers) {
  let printedLines = 0;
  const srv = await serve({
    app: `${root}scripts/soak/app.py`,
    port: 0,
    workers,
    accessLog: false,
    stdout: (t) => new Promise((resolve) => setTimeout(() => resolve((printedLines += t.split('\n').length - 1)), 1)),
    stderr: () => {},
  });
  const port = srv.address.port;
  const stalled = slowSubscribers(port);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const sockets = await Promise.all(
    Array.from({ length: CONCURRENCY }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      ws.once('open', () => resolve(ws));
      ws.on('error', reject); // later errors fail the pending send
    })),
  );
  const failures = [];
  const samples = {};
  const sample = (label) => {
    const stats = srv.stats();
    samples[label] = { rss: process.memoryUsage().rss, guest: stats.guestMemory };
  };
  let next = 0;
  let done = 0;
  const t0 = Date.now();
  await Promise.all(
    sockets.map(async (ws) => {
      for (let i = next++; i < TOTAL; i = next++) {
        const err = await one(i, port, agent, ws).catch((e) => `${i}: ${e.message}`);
        if (err) failures.push(err);
        if (++done === Math.floor(TOTAL / 10)) sample('10%');
      }
    }),
  );
  sample('100%');
  const seconds = (Date.now() - t0) / 1000;
  const reopened = stalled.stop();
  for (const ws of sockets) ws.close();
  agent.destroy();
  await srv.close({ drainTimeoutMs: 1000 });
  const mb = (n) => `${(n / MIB).toFixed(1)} MiB`;
  const growth = (a, b) => `${(((b - a) / a) * 100).toFixed(1)}%`;
  const s10 = samples['10%'];
  const s100 = samples['100%'];
  console.log(
    `soak: ${workers} worker(s): ${TOTAL} requests in ${seconds.toFixed(1)} s (${Math.round(TOTAL / seconds)}/s), ` +
      `${failures.length} unexpected failures; host RSS ${mb(s10.rss)} -> ${mb(s100.rss)} (${growth(s10.rss, s100.rss)}), ` +
      `guest memory ${mb(s10.guest)} -> ${mb(s100.guest)} (${growth(s10.guest, s100.guest)}); ` +
      `${printedLines} lines printed, ${srv.stats().outputDropped.stdout} bytes of output dropped; ` +
      `${reopened} non-reading subscribers`,
  );
  for (const f of failures.slice(0, 10)) console.log(`  ${f}`);
  return failures.length === 0 && s100.rss <= s10.rss * 1.1 && s100.guest <= s10.guest * 1.1;
}

let ok = true;
for (const n of values.workers.split(',').map(Number)) ok = (await soak(n)) && ok;
console.log(ok ? 'soak: passed' : 'soak: FAILED (unexpected failures, or memory grew more than 10%)');
process.exit(ok ? 0 : 1);
