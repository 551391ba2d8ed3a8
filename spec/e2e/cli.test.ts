// The CLI as a user runs it: node dist/server.js [APP.py] [options].
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER, runCli, startCli, stopCli, type RunningCli } from '../helpers/cli.js';
import { SEED_LOGIN, appPath, request, sleep } from '../helpers/server.js';

const start = (args: string[]): Promise<RunningCli> => startCli(args, { accessLog: true });

const cli = suite('cli');

cli('--help documents every option, grouped by topic, and exits 0', () => {
  const r = runCli(['--help']);
  assert.is(r.code, 0);
  const options = ['--port', '--host', '--workers', '--health', '--drain-timeout', '--static', '--app-max', '--data', '--data-size', '--data-format',
    '--env', '--env-file', '--secret', '--heap-max', '--cpu-budget', '--max-body', '--header-timeout', '--idle-timeout', '--max-connections',
    '--max-send-buffer', '--allow', '--max-outbound', '--connect-timeout', '--outbound-idle-timeout', '--quiet', '--pcap', '--help',
    '--watch', '--log-format', '--metrics', '--metrics-port'];
  for (const opt of options) assert.ok(r.stdout.includes(` ${opt} `), opt);
  const topics = ['Serving:', 'Files:', "The app's environment", "Python's limits", "Clients' limits:", 'Outbound connections', 'Logs, metrics and diagnostics:', "The data volume's tool"];
  let at = -1;
  for (const topic of topics) {
    const next = r.stdout.indexOf(`\n${topic}`);
    assert.ok(next > at, `${topic} after the one before`);
    at = next;
  }
});

cli('at start: the URL, the app, the workers and the limits in force, in one block', async () => {
  const run = await start([appPath('echo.py'), '--workers', '2', '--max-body', '1M', '--cpu-budget', '0', '--allow', '127.0.0.1:1883', '--env', 'MODE=x']);
  try {
    const block = run.stderr().slice(run.stderr().indexOf('pythongoose: serving'));
    assert.match(block, /^pythongoose: serving .*echo\.py on http:\/\/127\.0\.0\.1:\d+\n/);
    assert.match(block, /\n {2}app +.*echo\.py\n/);
    assert.match(block, /\n {2}workers +2\n/);
    assert.match(block, /\n {2}env +MODE\n/);
    assert.match(block, /\n {2}limits +heap 256 MiB, CPU budget off, body 1 MiB, head 10 s, idle 60 s, 10000 connections, send buffer 1 MiB\n/);
    assert.match(block, /\n {2}outbound allowed to 127\.0\.0\.1:1883\n/);
  } finally {
    await stopCli(run);
  }
});

cli('a missing app file: one clear message, non-zero exit', () => {
  const r = runCli(['/nonexistent/app.py', '--port', '0']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /cannot read app \/nonexistent\/app\.py: ENOENT/);
});

cli('a Python syntax error at start: the error, non-zero exit', () => {
  const r = runCli([appPath('syntax_error.py'), '--port', '0']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /SyntaxError/);
  assert.match(r.stderr, /syntax_error\.py/);
});

cli('an app that raises before serving: traceback, non-zero exit', () => {
  const r = runCli([appPath('raise_at_start.py'), '--port', '0']);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /OSError: no config here/);
});

cli('bad option values are refused', () => {
  assert.match(runCli(['--port', 'eighty']).stderr, /--port must be/);
  assert.match(runCli(['--bogus']).stderr, /Unknown option/);
  assert.match(runCli(['a.py', 'b.py']).stderr, /one app at a time/);
});

cli('a port in use: one clear message, non-zero exit', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  const port = (blocker.address() as { port: number }).port;
  const r = spawnSync(process.execPath, [SERVER, '--port', String(port)], { encoding: 'utf8', timeout: 20000 });
  blocker.close();
  assert.is.not(r.status, 0);
  assert.match(r.stderr, new RegExp(`port 127\\.0\\.0\\.1:${port} is already in use`));
});

cli('serves the seed app; print() to stdout, logs to stderr; SIGTERM exits 0', async () => {
  const run = await start([]);
  const port = Number(new URL(run.url).port);
  assert.is((await request(port, '/')).status, 200);
  const r = await request(port, '/api/epname', { auth: SEED_LOGIN, body: 'r u there ?' });
  assert.is(r.body.toString(), 'epname: pythongoose');
  await sleep(100);
  assert.is(run.stdout(), 'f1 r u there ?\n');
  assert.match(run.stderr(), /serving the seed app/);
  assert.is(await stopCli(run), 0);
});

cli('--pcap writes the virtual link in a format tshark reads, every checksum valid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-pcap-'));
  const file = join(dir, 'link.pcap');
  const run = await start([appPath('echo.py'), '--pcap', file]);
  try {
    const port = Number(new URL(run.url).port);
    // Random bytes, an odd length: the echo comes back in full 64 KiB segments and a last odd one.
    const body = randomBytes(200_001);
    body[0] = 0xff; // not UTF-8, so echo.py gets (and returns) bytes
    const echoed = await request(port, '/api/epname', { body, auth: SEED_LOGIN });
    assert.is(echoed.status, 200);
    assert.ok(echoed.body.equals(Buffer.concat([Buffer.from('bytes:'), body])), 'echoed whole');
    assert.is(await stopCli(run), 0);
    assert.ok(existsSync(file) && statSync(file).size > 24, 'pcap written');
    const t = spawnSync('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'tcp.len', '-Y', 'tcp'], { encoding: 'utf8' });
    if (t.error) {
      // Without tshark, check the libpcap magic and link type ourselves.
      const head = spawnSync('od', ['-A', 'n', '-t', 'x4', '-N', '24', file], { encoding: 'utf8' }).stdout;
      assert.match(head, /a1b2c3d4/);
    } else {
      assert.is(t.status, 0, t.stderr);
      const segments = t.stdout.trim().split('\n').map((line) => line.split('\t'));
      // Status 1 is "Good" (0 would be "unverified", 2 "Bad").
      const bad = segments.filter(([ip, tcp]) => ip !== '1' || tcp !== '1');
      assert.equal(bad, [], 'every IPv4 and TCP checksum valid');
      assert.ok(segments.filter(([, , len]) => Number(len) > 60000).length >= 3, 'large segments both ways');
      assert.ok(segments.some(([, , len]) => Number(len) % 2 === 1), 'a segment of odd length');
    }
  } finally {
    await stopCli(run);
    rmSync(dir, { recursive: true, force: true });
  }
});

cli.run();
