// Operating a server: Prometheus metrics answered by the host, request ids,
// JSON logs, and reloading the app (reload(), SIGHUP, --watch) without losing
// a request.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessRecord } from '../../ts/index.js';
import { runCli, startCli, stopCli } from '../helpers/cli.js';
import { appPath, request, startRefused, startServer, sleep } from '../helpers/server.js';
import { waiter } from '../helpers/wait.js';

const APP = appPath('operations.py');
const waitFor = waiter({ timeoutMs: 15000, everyMs: 100, retryErrors: true });

/** The value of one sample in Prometheus text ("name{labels} value" lines); 0 when absent. */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const metrics = suite('operations: metrics');

metrics('the counts in /metrics equal the requests sent; the histogram sums are plausible; Python never sees /metrics', async () => {
  const records: AccessRecord[] = [];
  const srv = await startServer({ app: APP, metrics: {}, accessLog: (r) => records.push(r), limits: { cpuBudgetMs: 200 }, heapMax: 16 * 1024 * 1024 });
  try {
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    const sent = { ok: 24, missing: 6, boom: 3, spin: 2, hog: 2 };
    const jobs: Promise<number>[] = [];
    for (let i = 0; i < sent.ok; i++) jobs.push(request(srv.port, '/', { agent }).then((r) => r.status));
    for (let i = 0; i < sent.missing; i++) jobs.push(request(srv.port, `/missing/${i}`, { agent }).then((r) => r.status));
    for (let i = 0; i < sent.boom; i++) jobs.push(request(srv.port, '/boom', { agent }).then((r) => r.status));
    const statuses = await Promise.all(jobs);
    for (let i = 0; i < sent.spin; i++) assert.is((await request(srv.port, '/spin')).status, 503);
    for (let i = 0; i < sent.hog; i++) assert.is((await request(srv.port, '/hog')).status, 500);
    assert.is((await request(srv.port, '/egress')).status, 200);
    agent.destroy();
    assert.is(statuses.filter((s) => s === 200).length, sent.ok);
    const total = sent.ok + sent.missing + sent.boom + sent.spin + sent.hog + 1;
    const text = await waitFor('every response counted', async () => {
      const t = (await request(srv.port, '/metrics')).body.toString();
      return sample(t, 'pythongoose_http_request_duration_seconds_count', 'kind="app"') === total && sample(t, 'pythongoose_egress_denied_total', 'reason="policy"') >= 1 && t;
    });
    assert.is(sample(text, 'pythongoose_http_requests_total', 'code="2xx",kind="app"'), sent.ok + 1);
    assert.is(sample(text, 'pythongoose_http_requests_total', 'code="4xx",kind="app"'), sent.missing);
    assert.is(sample(text, 'pythongoose_http_requests_total', 'code="5xx",kind="app"'), sent.boom + sent.spin + sent.hog);
    assert.is(sample(text, 'pythongoose_python_budget_interruptions_total'), sent.spin);
    assert.ok(sample(text, 'pythongoose_python_memory_errors_total') >= sent.hog, 'MemoryErrors counted');
    assert.is(sample(text, 'pythongoose_egress_denied_total', 'reason="policy"'), 1);
    // Each spin ran for its 200 ms budget: the sum holds them, and not much more.
    const sum = sample(text, 'pythongoose_http_request_duration_seconds_sum', 'kind="app"');
    assert.ok(sum >= 0.2 * sent.spin && sum < 0.2 * sent.spin + 5, `duration sum ${sum}`);
    assert.is(sample(text, 'pythongoose_http_request_duration_seconds_bucket', 'le="+Inf",kind="app"'), total);
    assert.ok(sample(text, 'pythongoose_http_request_duration_seconds_bucket', 'le="0.1",kind="app"') <= total - sent.spin, 'spins are above 100 ms');
    assert.is(records.length, total, 'one access record per response');
    assert.ok(sample(text, 'pythongoose_client_received_bytes_total') > 0 && sample(text, 'pythongoose_client_sent_bytes_total') > 0);
    assert.ok(sample(text, 'pythongoose_guest_memory_bytes', 'instance="0"') >= 8 * 1024 * 1024);
    assert.is(sample(text, 'pythongoose_python_heap_max_bytes', 'instance="0"'), 16 * 1024 * 1024);
    assert.match(text, /# TYPE pythongoose_http_requests_total counter/);
    // On a kept-alive connection the guest sends the scraper to a new one, which the host answers.
    const kept = new Agent({ keepAlive: true, maxSockets: 1 });
    assert.is((await request(srv.port, '/', { agent: kept })).status, 200);
    const again = await request(srv.port, '/metrics?x=1', { agent: kept });
    kept.destroy();
    assert.is(again.status, 307);
    assert.is(again.headers.location, '/metrics?x=1');
    assert.is(again.headers.connection, 'close');
    const seen = JSON.parse((await request(srv.port, '/seen')).body.toString()) as string[];
    assert.not.ok(seen.includes('/metrics'), 'the metrics path never reaches Python');
    // The embedding API exposes the same registry.
    assert.match(await srv.handle.metrics.getSingleMetricAsString('pythongoose_http_requests_total'), /code="4xx",kind="app"} 6/);
  } finally {
    await srv.handle.close();
  }
});

metrics('on a port of their own, the metrics are not on the app port; a refused connection is counted', async () => {
  const srv = await startServer({ app: APP, metrics: { port: 0 }, accessLog: false, limits: { maxConnections: 1 } });
  try {
    const url = srv.handle.metricsUrl;
    assert.ok(url !== null && url.endsWith('/metrics'));
    const port = Number(new URL(url).port);
    assert.is.not(port, srv.port);
    assert.is((await request(srv.port, '/metrics')).status, 404, 'the app answers /metrics on its own port');
    assert.is((await request(port, '/elsewhere')).status, 404);
    const held = await new Promise<Socket>((resolve) => {
      const s: Socket = connect(srv.port, '127.0.0.1', () => resolve(s));
    });
    await sleep(100);
    await request(srv.port, '/').catch(() => null); // refused: over --max-connections
    held.destroy();
    const text = await waitFor('the refusal counted', async () => {
      const t = (await request(port, '/metrics')).body.toString();
      return sample(t, 'pythongoose_connections_refused_total') >= 1 && t;
    });
    assert.ok(sample(text, 'pythongoose_http_requests_total', 'code="4xx",kind="app"') >= 1, 'responses counted with the access log off');
  } finally {
    await srv.handle.close();
  }
});

metrics('bad metrics options are refused with one message', async () => {
  await startRefused({ app: APP, metrics: { path: 'metrics' } }, /metrics path must start with \//);
  await startRefused({ app: APP, metrics: { path: '/healthz' } }, /cannot share \/healthz/);
  await startRefused({ app: APP, metrics: { port: 70000 } }, /metrics.port must be 0-65535/);
});

metrics.run();

const ids = suite('operations: request ids');

ids('an X-Request-Id is kept, echoed and in the access record; a missing or invalid one is replaced by a fresh id', async () => {
  const records: AccessRecord[] = [];
  const srv = await startServer({ app: APP, accessLog: (r) => records.push(r) });
  try {
    const given = await request(srv.port, '/id', { headers: { 'x-request-id': 'trace-42.a/b' } });
    assert.is(given.headers['x-request-id'], 'trace-42.a/b');
    assert.equal(JSON.parse(given.body.toString()), { id: 'trace-42.a/b' });
    const made = new Set<string>();
    const asked: Record<string, string>[] = [{}, {}, { 'x-request-id': 'has space' }, { 'x-request-id': 'x'.repeat(65) }];
    for (const headers of asked) {
      const r = await request(srv.port, '/id', { headers });
      const id = r.headers['x-request-id'] as string;
      assert.match(id, /^[0-9a-f]{16}$/);
      assert.is((JSON.parse(r.body.toString()) as { id: string }).id, id);
      made.add(id);
    }
    assert.is(made.size, 4, 'every made id is new');
    const err = await request(srv.port, '/boom', { headers: { 'x-request-id': 'err-1' } });
    assert.is(err.status, 500);
    assert.is(err.headers['x-request-id'], 'err-1', 'error responses carry it too');
    await waitFor('the records', () => records.length >= 6);
    assert.equal(records.slice(0, 6).map((r) => r.id), ['trace-42.a/b', ...made, 'err-1']);
    assert.ok(records.every((r) => r.kind === 'app' && r.instance === 0));
  } finally {
    await srv.handle.close();
  }
});

ids.run();

const logs = suite('operations: JSON logs');

logs('--log-format json: the access log and host messages are one JSON object a line, with the request id', async () => {
  const run = await startCli([APP, '--log-format', 'json'], { accessLog: true });
  try {
    await request(run.port, '/', { headers: { 'x-request-id': 'json-1' } });
    await request(run.port, '/missing?q=1');
    const lines = await waitFor('two access lines', () => {
      const l = run.stderr().split('\n').filter((x) => x.startsWith('{'));
      return l.filter((x) => x.includes('"status"')).length >= 2 && l;
    });
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const start = parsed[0];
    assert.match(String(start.msg), /^serving .*operations\.py on http/);
    assert.is(start.workers, '1');
    const access = parsed.filter((p) => 'status' in p);
    assert.equal(Object.keys(access[0]).sort(), ['bytes', 'client', 'id', 'instance', 'kind', 'method', 'ms', 'path', 'status', 'time']);
    assert.is(access[0].id, 'json-1');
    assert.is(access[0].status, 200);
    assert.equal([access[1].method, access[1].path, access[1].status], ['GET', '/missing?q=1', 404]);
    assert.match(String(access[1].id), /^[0-9a-f]{16}$/);
    assert.ok(!Number.isNaN(Date.parse(String(access[0].time))));
    assert.not.ok(run.stderr().split('\n').some((l) => l.startsWith('pythongoose:')), 'no text lines from the host');
  } finally {
    await stopCli(run);
  }
});

logs('--log-format takes text or json only', async () => {
  const r = runCli([APP, '--log-format', 'yaml']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /--log-format must be text or json, got yaml/);
});

logs.run();

const reloads = suite('operations: reload');

/** A version of a tiny app that says which version it is. */
const version = (v: string): string => `from mongoose import App\napp = App()\n@app.route("/")\ndef index(req):\n    return "${v}\\n"\napp.run()\n`;

/** Keep-alive clients sending requests back to back until stop(): every status and body seen, and every error. */
function load(port: number, clients: number): { stop: () => Promise<{ statuses: number[]; bodies: string[]; errors: string[] }> } {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const statuses: number[] = [];
  const bodies: string[] = [];
  const errors: string[] = [];
  let running = true;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => {
          statuses.push(res.statusCode ?? 0);
          bodies.push(body);
          resolve();
        });
      });
      req.on('error', (err) => {
        errors.push(String(err));
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running) await one();
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { statuses, bodies, errors };
    },
  };
}

reloads('reload() under continuous keep-alive load: every request answered 200; a broken version leaves the old one serving', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-reload-'));
  const app = join(dir, 'app.py');
  writeFileSync(app, version('v1'));
  const srv = await startServer({ app, accessLog: false, metrics: {} });
  try {
    const traffic = load(srv.port, 8);
    await sleep(500);
    writeFileSync(app, version('v2'));
    assert.equal(await srv.handle.reload(), { ok: true });
    await sleep(800);
    writeFileSync(app, 'from mongoose import App\nraise ValueError("broken on purpose")\n');
    const broken = await srv.handle.reload();
    assert.is(broken.ok, false);
    assert.match((broken as { error: string }).error, /app exited with code 1 before serving/);
    assert.ok(srv.stderr.join('').includes('broken on purpose'), "the new version's traceback is shown");
    await sleep(500);
    const { statuses, bodies, errors } = await traffic.stop();
    assert.equal(errors, [], 'no request failed');
    assert.ok(statuses.length > 50, `requests sent: ${statuses.length}`);
    assert.ok(statuses.every((s) => s === 200), 'every request answered 200');
    assert.is(bodies[bodies.length - 1], 'v2\n', 'the new version serves, and the broken one did not replace it');
    const firstV2 = bodies.indexOf('v2\n');
    assert.ok(firstV2 > 0 && bodies.slice(0, firstV2).every((b) => b === 'v1\n'));
    assert.is((await request(srv.port, '/')).body.toString(), 'v2\n');
    const text = (await request(srv.port, '/metrics')).body.toString();
    assert.is(sample(text, 'pythongoose_reloads_total', 'result="ok"'), 1);
    assert.is(sample(text, 'pythongoose_reloads_total', 'result="failed"'), 1);
    await waitFor('the old instance gone', () => srv.handle.stats().workers.length === 1);
  } finally {
    await srv.handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

reloads('a server with a data volume refuses to reload, and keeps serving', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-reload-'));
  const srv = await startServer({ app: APP, data: join(dir, 'data.img'), accessLog: false });
  try {
    const r = await srv.handle.reload();
    assert.is(r.ok, false);
    assert.match((r as { error: string }).error, /data volume cannot reload/);
    assert.is((await request(srv.port, '/')).status, 200);
  } finally {
    await srv.handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

reloads('the CLI reloads on SIGHUP, and with --watch when the file changes, under keep-alive load: every request answered 200', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-reload-'));
  const app = join(dir, 'app.py');
  writeFileSync(app, version('v1'));
  /** `action` under load from 4 keep-alive clients, until `until` holds: no request may fail or get other than 200. */
  const underLoad = async (port: number, what: string, action: () => void, until: () => Promise<boolean>): Promise<void> => {
    const traffic = load(port, 4);
    try {
      await sleep(300);
      action();
      await waitFor(what, until);
    } finally {
      const { statuses, errors } = await traffic.stop();
      assert.equal(errors, [], `${what}: no request failed`);
      assert.ok(statuses.length > 0 && statuses.every((st) => st === 200), `${what}: every request answered 200`);
    }
  };
  const hup = await startCli([app]);
  try {
    writeFileSync(app, version('v2'));
    await underLoad(
      hup.port,
      'v2 after SIGHUP',
      () => process.kill(hup.child.pid!, 'SIGHUP'), // not child.kill(): under Deno (2.9) the child then counts as exited
      async () => (await request(hup.port, '/')).body.toString() === 'v2\n',
    );
    assert.match(hup.stderr(), /reloaded .*app\.py/);
  } finally {
    await stopCli(hup);
  }
  writeFileSync(app, version('w1'));
  const watch = await startCli([app, '--watch']);
  try {
    assert.match(watch.stderr(), /reload +on changes to the app/);
    assert.is((await request(watch.port, '/')).body.toString(), 'w1\n');
    await sleep(50);
    await underLoad(
      watch.port,
      'w2 after the edit',
      () => writeFileSync(app, version('w2')),
      async () => (await request(watch.port, '/')).body.toString() === 'w2\n',
    );
  } finally {
    await stopCli(watch);
    rmSync(dir, { recursive: true, force: true });
  }
});

reloads('--watch with --data is refused before serving', async () => {
  const r = runCli([APP, '--watch', '--data', join(tmpdir(), 'never.img')]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /--watch cannot be used with --data/);
});

reloads.run();
