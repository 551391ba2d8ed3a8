// App bundles (/app, read-only) and the data volume (/data, littlefs in a
// host file), end to end over real sockets: a multi-file app, writes that
// must fail, durability across restarts, guest traps and SIGKILL, the quota,
// the lock, and the `data` tool.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startCli, stopCli } from '../helpers/cli.js';
import { rng } from '../helpers/rng.js';
import { appPath, request, startRefused, startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const BUNDLE = appPath('bundle');
// The app reports errno names (errno.errorcode), which the guest has for these.
const ENOENT = 'ENOENT';
const ENOSPC = 'ENOSPC';
const EROFS = 'EROFS';

const tmp = mkdtempSync(join(tmpdir(), 'pg-bundle-'));
let n = 0;
const volumePath = (): string => join(tmp, `volume-${++n}.img`);

async function json(srv: TestServer, path: string): Promise<Record<string, unknown>> {
  const r = await request(srv.port, path);
  assert.is(r.status, 200, `${path}: ${r.body}`);
  return JSON.parse(r.body.toString()) as Record<string, unknown>;
}

// ---- Bundles ------------------------------------------------------------------

const bundle = suite('app bundle (/app)');

bundle('a directory runs its main.py: package, relative and lib/ imports, a template and a JSON config', async () => {
  const srv = await startServer({ app: BUNDLE });
  try {
    const page = await request(srv.port, '/');
    assert.is(page.status, 200);
    assert.is(page.body.toString(), '<!doctype html><title>A bundle</title><h1>A bundle</h1>\n');
    assert.equal(await json(srv, '/total'), { total: 9, currency: 'EUR', shout: 'OK!', cwd: '/app' });
    assert.equal(await json(srv, '/listing'), {
      root: ['app'],
      app: ['config.json', 'lib', 'main.py', 'shop', 'templates'],
      shop: ['__init__.py', 'prices.py', 'tax.py'],
    });
  } finally {
    await srv.handle.close();
  }
});

bundle('writes under /app fail with EROFS; paths outside /app and /data do not exist', async () => {
  const srv = await startServer({ app: BUNDLE });
  try {
    assert.equal(await json(srv, '/readonly'), {
      open_w: EROFS,
      open_a: EROFS,
      remove: EROFS,
      rename: EROFS,
      mkdir: EROFS,
      outside_read: ENOENT,
      outside_dotdot: ENOENT,
      outside_write: EROFS,
      no_data: EROFS,
    });
  } finally {
    await srv.handle.close();
  }
});

bundle("the bundle's files read as files: whole and partial reads, lines, seek, readinto, the buffer protocol", async () => {
  const srv = await startServer({ app: BUNDLE });
  try {
    assert.equal(await json(srv, '/file-api'), {
      whole: 'h\u00e9llo \u2603\nline 2\nline 3\n',
      again: '',
      first: 'h\u00e9llo \u2603\n',
      rest: ['line 2\n', 'line 3\n'],
      head: 'h\u00e9',
      tell: 3,
      tail: 'llo \u2603\nline 2\nline 3\n',
      readinto: 5,
      buf: 'line ',
      view: 25, // bytes
      same: true, // a whole-file read is made once: a template read per request costs no copy
      isdir: 'EISDIR',
      missing: ENOENT,
    });
  } finally {
    await srv.handle.close();
  }
});

bundle('serve({ files }) takes the bundle from memory', async () => {
  const srv = await startServer({
    files: {
      'main.py': 'import mongoose\nfrom helpers.text import greet\napp = mongoose.App()\n@app.get("/")\ndef index(req):\n    return greet(open("name.txt").read())\napp.run()\n',
      'helpers/__init__.py': '',
      'helpers/text.py': 'def greet(name):\n    return "hello " + name\n',
      'name.txt': new TextEncoder().encode('embedder'),
    },
  });
  try {
    const r = await request(srv.port, '/');
    assert.is(r.body.toString(), 'hello embedder');
  } finally {
    await srv.handle.close();
  }
});

bundle('bad bundles: one clear error each, before serving', async () => {
  await startRefused({ files: { 'main.py': 'pass', '../escape.py': 'x' } }, /files: "\.\.\/escape\.py" is not a relative path/);
  await startRefused({ files: { '/abs.py': 'x', 'main.py': 'pass' } }, /"\/abs\.py" is not a relative path/);
  await startRefused({ files: { 'lib/x.py': 'x' } }, /files has no main\.py/);
  await startRefused({ app: BUNDLE, appMax: 1024 }, /app bundle .* holds more than .* MiB \(--app-max\)/);
  const noMain = join(tmp, 'no-main');
  mkdirSync(noMain);
  writeFileSync(join(noMain, 'app.py'), 'pass\n');
  await startRefused({ app: noMain }, /app bundle .*no-main has no main\.py/);
  const withFifo = join(tmp, 'with-fifo');
  mkdirSync(withFifo);
  writeFileSync(join(withFifo, 'main.py'), 'pass\n');
  execFileSync('mkfifo', [join(withFifo, 'pipe')]);
  await startRefused({ app: withFifo }, /with-fifo: pipe is not a regular file/);
});

bundle('a symlink leading out of the bundle is not followed, and the host says so', async () => {
  const dir = join(tmp, 'linked');
  mkdirSync(dir);
  writeFileSync(join(tmp, 'secret.txt'), 'TOP SECRET');
  writeFileSync(join(dir, 'inside.txt'), 'inside');
  symlinkSync(join(tmp, 'secret.txt'), join(dir, 'secret.txt'));
  symlinkSync('inside.txt', join(dir, 'alias.txt'));
  writeFileSync(
    join(dir, 'main.py'),
    'import mongoose, os\napp = mongoose.App()\n@app.get("/")\ndef index(req):\n    return {"files": sorted(os.listdir()), "alias": open("alias.txt").read()}\napp.run()\n',
  );
  const srv = await startServer({ app: dir });
  try {
    assert.equal(await json(srv, '/'), { files: ['alias.txt', 'inside.txt', 'main.py'], alias: 'inside' });
    assert.match(srv.stderr.join(''), /not following links that lead out of it: secret\.txt/);
  } finally {
    await srv.handle.close();
  }
});

bundle('a one-file app still runs, with nothing mounted but the empty root', async () => {
  const srv = await startServer({
    source: 'import mongoose, os\napp = mongoose.App()\n@app.get("/")\ndef index(req):\n    return {"root": os.listdir("/"), "cwd": os.getcwd()}\napp.run()\n',
  });
  try {
    assert.equal(await json(srv, '/'), { root: [], cwd: '/' });
  } finally {
    await srv.handle.close();
  }
});

bundle.run();

// ---- The data volume ---------------------------------------------------------

const volume = suite('data volume (/data)');

volume('created on first use; a counter survives a restart of the server', async () => {
  const file = volumePath();
  let srv = await startServer({ app: BUNDLE, data: file, dataSize: 256 * 1024 });
  try {
    assert.is(statSync(file).size, 256 * 1024);
    for (const want of ['1', '2', '3']) assert.is((await request(srv.port, '/count')).body.toString(), want);
    assert.ok(existsSync(`${file}.lock`), 'locked while serving');
  } finally {
    await srv.handle.close();
  }
  assert.not.ok(existsSync(`${file}.lock`), 'the lock is released on close');
  srv = await startServer({ app: BUNDLE, data: file });
  try {
    assert.is((await request(srv.port, '/count')).body.toString(), '4');
    assert.equal((await json(srv, '/listing')).root, ['app', 'data']);
  } finally {
    await srv.handle.close();
  }
});

volume('a guest trap restarts the instance, which mounts the volume again with its data', async () => {
  const srv = await startServer({ app: BUNDLE, data: volumePath() });
  try {
    assert.is((await request(srv.port, '/count')).body.toString(), '1');
    await request(srv.port, '/trap').catch(() => undefined);
    await waitFor('the restart', () => srv.handle.stats().restarts.count === 1);
    await waitFor('the new instance to serve', async () => (await request(srv.port, '/count').catch(() => null))?.status === 200);
    assert.is((await request(srv.port, '/count')).body.toString(), '3');
  } finally {
    await srv.handle.close();
  }
});

volume('a stuck instance is ended and replaced: the volume is mounted again with its data', async () => {
  const srv = await startServer({ app: BUNDLE, data: volumePath(), limits: { cpuBudgetMs: 100 } });
  try {
    assert.is((await request(srv.port, '/count')).body.toString(), '1');
    for (let i = 1; i <= 2; i++) {
      await request(srv.port, '/stuck').catch(() => undefined);
      await waitFor('the stuck instance to be replaced', () => srv.handle.stats().restarts.count === i, 20000);
      await waitFor('the new instance to serve', async () => (await request(srv.port, '/count').catch(() => null))?.status === 200);
    }
    assert.is((await request(srv.port, '/count')).body.toString(), '4');
  } finally {
    await srv.handle.close();
  }
});

volume('the volume is the quota: past it ENOSPC, and the volume keeps working', async () => {
  const srv = await startServer({ app: BUNDLE, data: volumePath(), dataSize: 128 * 1024 });
  try {
    const filled = await json(srv, '/fill');
    assert.is(filled.error, ENOSPC);
    assert.ok((filled.written as number) > 64 * 1024 && (filled.written as number) < 128 * 1024, `wrote ${filled.written} bytes`);
    assert.is((await request(srv.port, '/count')).body.toString(), '1');
    assert.is((await json(srv, '/fill')).error, ENOSPC, 'the space came back after the remove');
  } finally {
    await srv.handle.close();
  }
});

volume('one server per volume: a second one is refused, and so is --workers 2', async () => {
  const file = volumePath();
  const srv = await startServer({ app: BUNDLE, data: file });
  try {
    await startRefused({ app: BUNDLE, data: file }, /data volume .* is in use by this process already/);
    const other = runCli([BUNDLE, '--port', '0', '--data', file]);
    assert.is.not(other.code, 0);
    assert.match(other.stderr, new RegExp(`data volume .* is in use by process ${process.pid} .*one server at a time`));
  } finally {
    await srv.handle.close();
  }
  await startRefused({ app: BUNDLE, data: file, workers: 2 }, /a data volume needs a single worker: littlefs has one writer/);
});

volume('a file that holds no littlefs is refused unless dataFormat; a volume is not resized', async () => {
  const file = volumePath();
  writeFileSync(file, Buffer.alloc(128 * 1024, 0x5a));
  await startRefused({ app: BUNDLE, data: file }, /holds no littlefs file system; refusing to format it \(--data-format/);
  assert.is(readFileSync(file)[0], 0x5a, 'left as it was');
  await startRefused({ app: BUNDLE, data: join(tmp, 'odd.img'), dataSize: 5000 }, /data size must be a multiple of 4 KiB/);
  const srv = await startServer({ app: BUNDLE, data: file, dataFormat: true });
  try {
    assert.is((await request(srv.port, '/count')).body.toString(), '1');
  } finally {
    await srv.handle.close();
  }
  await startRefused({ app: BUNDLE, data: file, dataSize: 256 * 1024 }, /is 128 KiB, not the 256 KiB --data-size asks for/);
});

volume('SIGKILL at random points: every acknowledged write is there, whole, and the volume mounts', async () => {
  const file = volumePath();
  const acked: number[] = [];
  const next = rng(7);
  let v = 0;
  for (let round = 0; round < 5; round++) {
    const cli = await startCli([BUNDLE, '--data', file]);
    const killAt = Date.now() + 50 + Math.floor(next() * 300);
    let killed = false;
    const writer = (async () => {
      while (!killed) {
        const value = ++v;
        const r = await request(cli.port, `/append?v=${value}`, { method: 'POST', body: '' }).catch(() => null);
        if (r?.status === 200) acked.push(value);
      }
    })();
    while (Date.now() < killAt) await new Promise((r) => setTimeout(r, 5));
    killed = true;
    await stopCli(cli, 'SIGKILL');
    await writer;
  }
  assert.ok(acked.length > 20, `${acked.length} writes acknowledged`);
  const cli = await startCli([BUNDLE, '--data', file]);
  try {
    const r = await request(cli.port, '/log');
    const { log, state } = JSON.parse(r.body.toString()) as { log: string; state: string };
    const logged = new Set(log.split('\n').filter(Boolean).map(Number));
    for (const value of acked) assert.ok(logged.has(value), `acknowledged ${value} is in the log`);
    const m = /^(\d+):/.exec(state);
    assert.ok(m !== null && state === `${m[1]}:`.repeat(700), 'the rewritten file is one whole version');
    assert.ok(Number(m![1]) >= acked[acked.length - 1], 'and not older than the last acknowledged one');
  } finally {
    await stopCli(cli);
  }
});

volume.run();

// ---- The data tool -----------------------------------------------------------

const tool = suite('pythongoose data FILE ...');

tool('put, ls, cat, get, mkdir and rm round-trip files, text and binary', () => {
  const file = volumePath();
  const dir = mkdtempSync(join(tmpdir(), 'pg-tool-'));
  try {
    const config = join(dir, 'config.json');
    writeFileSync(config, '{"greeting": "hi"}\n');
    const blob = Buffer.from(Array.from({ length: 100000 }, (_, i) => (i * 7919) % 256));
    writeFileSync(join(dir, 'blob.bin'), blob);
    assert.is(runCli(['data', file, 'put', config]).code, 0);
    assert.ok(existsSync(file), 'put creates the volume');
    assert.is(runCli(['data', file, 'mkdir', 'bin']).code, 0);
    assert.is(runCli(['data', file, 'put', join(dir, 'blob.bin'), 'bin/blob.bin']).code, 0);
    const ls = runCli(['data', file, 'ls']);
    assert.is(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^\s+bin\/$/m);
    assert.match(ls.stdout, /^\s+19\s+config\.json$/m);
    assert.match(runCli(['data', file, 'ls', 'bin']).stdout, /^\s+100000\s+blob\.bin$/m);
    assert.is(runCli(['data', file, 'cat', 'config.json']).stdout, '{"greeting": "hi"}\n');
    const out = join(dir, 'back.bin');
    assert.is(runCli(['data', file, 'get', 'bin/blob.bin', out]).code, 0);
    assert.ok(readFileSync(out).equals(blob), 'binary file round-trips');
    const notEmpty = runCli(['data', file, 'rm', 'bin']);
    assert.is.not(notEmpty.code, 0);
    assert.match(notEmpty.stderr, /data rm \/bin: ENOTEMPTY/);
    assert.is(runCli(['data', file, 'rm', 'bin/blob.bin']).code, 0);
    assert.is(runCli(['data', file, 'rm', 'bin']).code, 0);
    assert.not.match(runCli(['data', file, 'ls']).stdout, /bin/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

tool('what the server wrote, the tool reads; errors name the file and the reason', async () => {
  const file = volumePath();
  const srv = await startServer({ app: BUNDLE, data: file });
  try {
    await request(srv.port, '/count');
    await request(srv.port, '/count');
    const busy = runCli(['data', file, 'cat', 'count']);
    assert.is.not(busy.code, 0);
    assert.match(busy.stderr, /is in use by process \d+ .*one server at a time/);
  } finally {
    await srv.handle.close();
  }
  assert.is(runCli(['data', file, 'cat', 'count']).stdout, '2');
  const missing = runCli(['data', file, 'cat', 'nope.txt']);
  assert.is.not(missing.code, 0);
  assert.match(missing.stderr, /data cat \/nope\.txt: ENOENT/);
  const noVolume = runCli(['data', join(tmp, 'absent.img'), 'ls']);
  assert.is.not(noVolume.code, 0);
  assert.match(noVolume.stderr, /no data volume .*absent\.img/);
  const unknown = runCli(['data', file, 'frobnicate']);
  assert.is.not(unknown.code, 0);
  assert.match(unknown.stderr, /unknown data command frobnicate/);
});

tool.after(() => rmSync(tmp, { recursive: true, force: true }));
tool.run();
