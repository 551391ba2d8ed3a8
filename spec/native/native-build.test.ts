// The native build (scripts/build-native.sh): MicroPython's unix port with the
// same c/ module and Mongoose on BSD sockets, serving the seed's main.py and
// the benchmark's app over real sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ResponseReader } from '../helpers/http1.js';
import { accepts, freePort } from '../helpers/loopback.js';
import { ROOT, SEED_LOGIN, rawConnect, request, sleep } from '../helpers/server.js';

const BINARY = `${ROOT}wasm/build/native/pythongoose-native`;

interface Native {
  proc: ChildProcess;
  port: number;
  stdout: string[];
  stderr: string[];
}

// A failed start is kept and thrown by each test: uvu drops errors thrown in before().
interface Ctx {
  native?: Native;
  error?: Error;
}

async function startNative(app: string): Promise<Native> {
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: build it with 'npm run build:native' (scripts/build-native.sh)`);
  }
  const port = await freePort();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const proc = spawn(BINARY, [app], {
    env: { ...process.env, PYTHONGOOSE_LISTEN: `http://127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => stdout.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const until = Date.now() + 10000;
  while (!(await accepts(port))) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${BINARY} ${app} exited (${proc.exitCode ?? proc.signalCode}): ${stderr.join('')}`);
    }
    if (Date.now() > until) {
      proc.kill('SIGKILL');
      throw new Error(`${BINARY} ${app} did not listen on port ${port} within 10 s: ${stderr.join('')}`);
    }
    await sleep(20);
  }
  return { proc, port, stdout, stderr };
}

async function stopNative(native: Native | undefined): Promise<void> {
  if (native === undefined || native.proc.exitCode !== null || native.proc.signalCode !== null) return;
  const exited = new Promise((resolve) => native.proc.once('exit', resolve));
  native.proc.kill('SIGTERM');
  await exited;
}

function started(ctx: Ctx): Native {
  if (ctx.error !== undefined) throw ctx.error;
  return ctx.native!;
}

function nativeSuite(name: string, app: string) {
  const s = suite<Ctx>(name);
  s.before(async (ctx) => {
    try {
      ctx.native = await startNative(app);
    } catch (e) {
      ctx.error = e as Error;
    }
  });
  s.after(async (ctx) => {
    await stopNative(ctx.native);
  });
  return s;
}

const seed = nativeSuite('native: the seed app', `${ROOT}examples/seed/main.py`);

seed('GET / is 200 with an HTML page that says OK', async (ctx) => {
  const r = await request(started(ctx).port, '/');
  assert.is(r.status, 200);
  assert.match(String(r.headers['content-type']), /text\/html/);
  assert.match(r.body.toString(), /OK/);
});

seed('/api/epname without credentials is 401 with a Basic challenge', async (ctx) => {
  const r = await request(started(ctx).port, '/api/epname');
  assert.is(r.status, 401);
  assert.match(String(r.headers['www-authenticate']), /^Basic realm=/);
});

seed('wrong credentials are 401', async (ctx) => {
  const r = await request(started(ctx).port, '/api/epname', { auth: 'admin:wrong' });
  assert.is(r.status, 401);
});

seed('right credentials get what api_cb returned; stdout has only what the app printed', async (ctx) => {
  const native = started(ctx);
  const r = await request(native.port, '/api/epname', { auth: SEED_LOGIN, body: 'r u there ?' });
  assert.is(r.status, 200);
  assert.match(String(r.headers['content-type']), /text\/plain/);
  assert.is(r.body.toString(), 'epname: pythongoose');
  await sleep(50);
  assert.is(native.stdout.join(''), 'f1 r u there ?\n');
});

seed.run();

const bench = nativeSuite("native: the benchmark's app", `${ROOT}bench/app.py`);

bench('GET / is 200 with the page', async (ctx) => {
  const r = await request(started(ctx).port, '/');
  assert.is(r.status, 200);
  assert.match(String(r.headers['content-type']), /text\/html/);
  assert.match(r.body.toString(), /<h1>OK<\/h1>/);
});

bench('POST /api/epname echoes the body', async (ctx) => {
  const r = await request(started(ctx).port, '/api/epname', { body: 'hi' });
  assert.is(r.status, 200);
  assert.is(r.body.toString(), 'epname: hi');
});

bench('GET /download is 1 MiB, byte-exact', async (ctx) => {
  const r = await request(started(ctx).port, '/download');
  assert.is(r.status, 200);
  assert.is(r.body.length, 1048576);
  const blob = Buffer.alloc(1048576);
  for (let i = 0; i < blob.length; i++) blob[i] = i & 0xff;
  assert.ok(r.body.equals(blob), 'the body is bytes(range(256)) * 4096');
});

bench('POST /upload takes an 8 MiB body (the default maxBody); one byte more is 413', async (ctx) => {
  const port = started(ctx).port;
  const ok = await request(port, '/upload', { body: Buffer.alloc(8 * 1024 * 1024, 0x61) });
  assert.is(ok.status, 200);
  assert.is(ok.body.toString(), 'received 8388608 bytes');
  // Refused from its head alone, as in the guest (spec/limits.test.ts).
  const s = await rawConnect(port);
  const reader = new ResponseReader(s);
  s.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${8 * 1024 * 1024 + 1}\r\n\r\n`);
  const big = await reader.next();
  s.destroy();
  assert.is(big.status, 413);
});

bench('nothing on stdout or stderr', async (ctx) => {
  const native = started(ctx);
  assert.is(native.stdout.join(''), '');
  assert.is(native.stderr.join(''), '');
});

bench.run();
