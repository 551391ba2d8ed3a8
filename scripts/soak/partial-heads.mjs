// What unfinished request heads cost (after npm run build; needs wrk):
//   node scripts/soak/partial-heads.mjs [N]
// Serves spec/apps/send_caps.py; a child process opens N connections (default
// 5,000) that each send part of a request head and then nothing. Side by side
// in one run, with none of them and then with all N held: keep-alive GET /
// throughput (wrk, 8 connections, 4 s after a 1 s warm-up) and the latency of
// 100 GETs on new connections. Also prints how many connections the guest had
// set aside (stats().connectionsWaiting).
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

const HEAD = 'GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ';

if (process.argv[2] === '--hold') {
  // The child: hold N partial heads until stdin closes.
  const [port, n] = [Number(process.argv[3]), Number(process.argv[4])];
  let opened = 0;
  for (let i = 0; i < n; i++) {
    const s = connect(port, '127.0.0.1', () => {
      s.write(HEAD);
      if (++opened === n) process.stdout.write('held\n');
    });
    s.on('error', () => {});
  }
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const { serve } = await import(`${root}dist/index.js`);
  const N = Number(process.argv[2] ?? 5000);
  const srv = await serve({ app: `${root}spec/apps/send_caps.py`, port: 0, accessLog: false, stderr: () => {}, limits: { headerTimeoutMs: 0 } });
  const port = srv.address.port;

  const wrk = (seconds) => new Promise((resolve, reject) => {
    const p = spawn('wrk', ['-t1', '-c8', `-d${seconds}s`, `http://127.0.0.1:${port}/`]);
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', (e) => reject(new Error(`wrk: ${e.message} (apt-get install wrk)`)));
    p.on('close', () => {
      const m = out.match(/^Requests\/sec:\s+([\d.]+)/m);
      if (m === null) reject(new Error(`wrk printed no rate:\n${out}`));
      else resolve(Number(m[1]));
    });
  });
  const get = () => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`GET / answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
  async function measure(label) {
    const ms = [];
    for (let i = 0; i < 100; i++) {
      const t = performance.now();
      await get();
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    await wrk(1);
    const rps = await wrk(4);
    const waiting = srv.stats().connectionsWaiting;
    console.log(`${label}: keep-alive GET / ${rps.toFixed(0)} req/s; GET / on a new connection median ${ms[50].toFixed(1)} ms, p99 ${ms[98].toFixed(1)} ms, max ${ms[99].toFixed(1)} ms; ${waiting} connections set aside`);
    return rps;
  }

  const none = await measure('no partial heads');
  const t0 = performance.now();
  const holder = spawn(process.execPath, [fileURLToPath(import.meta.url), '--hold', String(port), String(N)], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise((resolve) => holder.stdout.once('data', resolve));
  while (!(srv.stats().active >= N && srv.stats().waitingForSyn === 0)) await new Promise((r) => setTimeout(r, 10));
  console.log(`${N} partial heads reached the guest in ${(performance.now() - t0).toFixed(0)} ms`);
  const held = await measure(`${N} partial heads held`);
  console.log(`keep-alive throughput with ${N} partial heads held: ${(held / none).toFixed(2)}x of none`);
  holder.stdin.end();
  await srv.close({ drainTimeoutMs: 0 });
}
