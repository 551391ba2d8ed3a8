// The app's environment: --env, --env-file and --secret (serve()'s env and
// secrets) reach Python as os.environ and nothing else of the host's does; a
// secret's value never appears in what the host writes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { AccessRecord } from '../../ts/index.js';
import { SERVER, runCli, startCli, stopCli } from '../helpers/cli.js';
import { appPath, request, startRefused, startServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';

const APP = appPath('environment.py');
const TOKEN = 'tok-3f9a1c77e2';

const env = suite('environment: os.environ');

env('os.environ is exactly the variables given; os.getenv takes a default', async () => {
  process.env.PG_TEST_HOST_ONLY = 'host value';
  const srv = await startServer({ app: APP, env: { MODE: 'production', EMPTY: '', UNICODE: 'h\u00e9 \u2603' }, secrets: { API_TOKEN: TOKEN }, accessLog: false });
  try {
    const r = JSON.parse((await request(srv.port, '/env')).body.toString()) as Record<string, unknown>;
    assert.equal(r.environ, { MODE: 'production', EMPTY: '', UNICODE: 'h\u00e9 \u2603', API_TOKEN: TOKEN });
    assert.is(r.default, 'fallback');
    assert.is(r.none, null);
    assert.not.ok(JSON.stringify(srv.handle.stats()).includes(TOKEN), 'not in stats()');
  } finally {
    await srv.handle.close();
    delete process.env.PG_TEST_HOST_ONLY;
  }
});

env('a secret printed, raised and requested is redacted from stdout, stderr and the access log', async () => {
  const records: AccessRecord[] = [];
  const srv = await startServer({ app: APP, secrets: { API_TOKEN: TOKEN }, accessLog: (r) => records.push(r) });
  try {
    const r = await request(srv.port, `/leak?token=${TOKEN}`);
    assert.is(r.status, 500);
    await waitFor('the access record', () => records.length === 1);
    const out = srv.stdout.join('');
    const err = srv.stderr.join('');
    assert.match(out, 'started with [secret API_TOKEN]');
    assert.match(out, 'printing the token: [secret API_TOKEN]');
    assert.match(err, 'ValueError: raised with the token [secret API_TOKEN]');
    assert.is(records[0].request, 'GET /leak?token=[secret API_TOKEN]');
    for (const text of [out, err, JSON.stringify(records)]) assert.not.ok(text.includes(TOKEN), text);
  } finally {
    await srv.handle.close();
  }
});

env('bad variables: one clear error before serving', async () => {
  const cases: [Parameters<typeof startServer>[0], RegExp][] = [
    [{ env: { '1BAD': 'x' } }, /env: "1BAD" is not a variable name/],
    [{ env: { 'A-B': 'x' } }, /"A-B" is not a variable name/],
    [{ env: { A: 'x\0y' } }, /env\.A must be a string without NUL/],
    [{ secrets: { S: 'abc' } }, /secret S is shorter than 4 characters/],
    [{ env: { S: 'x' }, secrets: { S: 'abcd' } }, /S is given both as env and as a secret/],
  ];
  for (const [options, message] of cases) await startRefused({ app: APP, ...options }, message);
});

env.run();

const cli = suite('environment: the CLI');

cli('--env-file, --env NAME, --env NAME=VALUE and --secret reach Python; the secret is in none of the output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-env-'));
  try {
    const file = join(dir, 'app.env');
    writeFileSync(file, `# a comment\n\nMODE=staging   # trailing comment\nexport QUOTED="a \\"b\\" c"\nSINGLE='x # y'\nAPI_TOKEN=${TOKEN}\n`);
    process.env.PG_TEST_FROM_HOST = 'from the host';
    const running = await startCli([APP, '--env-file', file, '--secret', 'API_TOKEN', '--env', 'PG_TEST_FROM_HOST', '--env', 'GIVEN=1=2'], { accessLog: true });
    try {
      const r = JSON.parse((await request(running.port, '/env')).body.toString()) as { environ: Record<string, string> };
      assert.equal(r.environ, { MODE: 'staging', QUOTED: 'a "b" c', SINGLE: 'x # y', API_TOKEN: TOKEN, PG_TEST_FROM_HOST: 'from the host', GIVEN: '1=2' });
      await request(running.port, `/leak?t=${TOKEN}`);
      await waitFor('the traceback', () => running.stderr().includes('ValueError'));
    } finally {
      await stopCli(running);
      delete process.env.PG_TEST_FROM_HOST;
    }
    assert.match(running.stderr(), '"GET /leak?t=[secret API_TOKEN]" 500');
    assert.not.ok(running.stderr().includes(TOKEN), running.stderr());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('a secret Python prints reaches stdout redacted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-env-'));
  try {
    const app = join(dir, 'once.py');
    writeFileSync(app, 'import os\nprint("value:", os.environ["API_TOKEN"])\n');
    const r = spawnSync(process.execPath, [SERVER, app, '--port', '0', '--secret', 'API_TOKEN'], { encoding: 'utf8', timeout: 20000, env: { ...process.env, API_TOKEN: TOKEN } });
    assert.match(r.stdout, 'value: [secret API_TOKEN]');
    assert.not.ok(r.stdout.includes(TOKEN) || r.stderr.includes(TOKEN));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

cli('errors: a variable not set, a secret on the command line, a bad --env-file line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-env-'));
  try {
    const bad = join(dir, 'bad.env');
    writeFileSync(bad, 'GOOD=1\nthis is not an assignment\n');
    const cases: [string[], RegExp][] = [
      [['--env', 'PG_TEST_NOT_SET'], /--env PG_TEST_NOT_SET: PG_TEST_NOT_SET is not set in the environment/],
      [['--secret', 'PG_TEST_NOT_SET'], /--secret PG_TEST_NOT_SET: PG_TEST_NOT_SET is not set/],
      [['--secret', 'API_TOKEN=abcd'], /--secret takes a NAME.*shows in ps/],
      [['--env-file', bad], /bad\.env:2: not NAME=VALUE: this is not an assignment/],
      // Node 20 itself reads a --env-file anywhere on its command line (a bug fixed in later Nodes) and says so first.
      [['--env-file', join(dir, 'missing.env')], /cannot read --env-file .*missing\.env: ENOENT|missing\.env: not found/],
    ];
    for (const [args, message] of cases) {
      const r = runCli([APP, '--port', '0', ...args]);
      assert.is.not(r.code, 0, args.join(' '));
      assert.match(r.stderr, message);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

cli.run();
