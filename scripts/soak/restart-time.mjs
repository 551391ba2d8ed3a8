// Restart time (node scripts/soak/restart-time.mjs, after npm run build): trap the
// guest 5 times and read stats().restarts.lastMs, crash detected -> new instance serving.
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
const root = fileURLToPath(new URL('../..', import.meta.url));
const { serve } = await import(`${root}dist/index.js`);
const srv = await serve({ app: `${root}spec/apps/crash.py`, port: 0, accessLog: false, stderr: () => {} });
const get = (path) => new Promise((resolve) => {
  const req = request({ host: '127.0.0.1', port: srv.address.port, path, agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
  req.on('error', () => resolve('reset'));
  req.end();
});
const times = [];
for (let i = 0; i < 5; i++) {
  await get('/trap');
  while (srv.stats().restarts.count < i + 1) await new Promise((r) => setTimeout(r, 5));
  times.push(srv.stats().restarts.lastMs);
  await get('/ok');
}
times.sort((a, b) => a - b);
console.log(`restart (crash detected -> new instance serving), 5 traps: ${times.join(', ')} ms; median ${times[2]} ms`);
await srv.close({ drainTimeoutMs: 0 });
