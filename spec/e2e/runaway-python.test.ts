// Runaway Python: a handler that never returns is interrupted after the CPU
// budget (503), one that allocates without end gets MemoryError (500), deep
// recursion fails alone (500), and the same guest instance goes on serving.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { appPath, request, sleep, serverSuite, startServer, stderrText, type TestServer } from '../helpers/server.js';

const APP = appPath('runaway.py');

const runaway = serverSuite('runaway Python', { app: APP, heapMax: 48 * 1024 * 1024, limits: { cpuBudgetMs: 500 }, accessLog: false }, { drainTimeoutMs: 0 });

async function stillServing(srv: TestServer): Promise<void> {
  const ok = await request(srv.port, '/ok');
  assert.is(ok.status, 200, 'the same instance answers the next request');
  assert.is(ok.body.toString(), 'ok');
}

runaway('an endless loop is interrupted after the budget: 503, traceback, and the instance serves on', async ({ srv }) => {
  const t0 = Date.now();
  const r = await request(srv.port, '/spin');
  const took = Date.now() - t0;
  assert.is(r.status, 503);
  assert.is(r.body.toString(), 'Service Unavailable\n');
  assert.ok(took >= 450 && took < 3000, `interrupted after ${took} ms (budget 500)`);
  assert.match(stderrText(srv), /Traceback while answering GET \/spin:[\s\S]*BudgetExceeded: callback ran over its CPU budget of 500 ms/);
  await stillServing(srv);
});

runaway("catching Exception does not keep the handler running (BudgetExceeded is a BaseException)", async ({ srv }) => {
  const r = await request(srv.port, '/swallow');
  assert.is(r.status, 503);
  await stillServing(srv);
});

runaway('work under the budget is untouched', async ({ srv }) => {
  const r = await request(srv.port, '/work/200');
  assert.is(r.status, 200);
  assert.is(r.body.toString(), 'done 1');
});

runaway('other clients are answered as soon as a runaway handler is stopped', async ({ srv }) => {
  const spin = request(srv.port, '/spin');
  await sleep(50);
  const t0 = Date.now();
  const ok = await request(srv.port, '/ok');
  assert.is(ok.status, 200);
  assert.ok(Date.now() - t0 < 3000, 'the waiting request was served once the budget ran out');
  assert.is((await spin).status, 503);
});

runaway('an allocation bomb gets MemoryError: 500, and the heap is usable again', async ({ srv }) => {
  const r = await request(srv.port, '/alloc');
  assert.is(r.status, 500);
  assert.match(stderrText(srv), /Traceback while answering GET \/alloc:[\s\S]*MemoryError/);
  await stillServing(srv);
  const again = await request(srv.port, '/alloc');
  assert.is(again.status, 500, 'a second bomb fails the same way (the heap was collected)');
  await stillServing(srv);
});

runaway('unbounded recursion: 500 (MicroPython raises RuntimeError "pystack exhausted"), not a crash', async ({ srv }) => {
  const r = await request(srv.port, '/recurse');
  assert.is(r.status, 500);
  assert.match(stderrText(srv), /Traceback while answering GET \/recurse:[\s\S]*RuntimeError: pystack exhausted/);
  await stillServing(srv);
});

runaway('a streamed body that stops yielding is cut short, and the instance serves on', async ({ srv }) => {
  const r = await request(srv.port, '/stream-spin').then(
    (reply) => ({ ok: true as const, reply }),
    (err: Error) => ({ ok: false as const, err }),
  );
  // Too late for a 503: the 200 is out; the response must not look complete.
  if (r.ok) assert.unreachable(`a cut-short stream was read as complete: ${r.reply.body.toString()}`);
  else assert.match(r.err.message, /aborted|socket hang up|ECONNRESET/);
  assert.match(stderrText(srv), /Traceback while streaming GET \/stream-spin:[\s\S]*BudgetExceeded/);
  await stillServing(srv);
});

runaway('a timer callback that never returns is interrupted too', async ({ srv }) => {
  const before = stderrText(srv).split('BudgetExceeded').length;
  assert.is((await request(srv.port, '/timer-spin')).status, 200);
  await sleep(1200);
  const state = JSON.parse((await request(srv.port, '/state')).body.toString()) as { timer_runs: number };
  assert.is(state.timer_runs, 1);
  assert.ok(stderrText(srv).split('BudgetExceeded').length > before, 'the timer traceback was printed');
  await stillServing(srv);
});

runaway('a WebSocket handler that never returns: the socket is closed with 1011, others go on', async ({ srv }) => {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const echo = new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
  ws.send('hello');
  assert.is(await echo, 'echo hello');
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.send('spin');
  assert.is(await closed, 1011);
  await stillServing(srv);
});

runaway.run();

const budgets = suite('CPU budget options');

budgets('cpuBudgetMs: 0 turns the budget off (a 1.5 s handler completes)', async () => {
  const srv = await startServer({ app: APP, limits: { cpuBudgetMs: 0 }, accessLog: false });
  try {
    const r = await request(srv.port, '/work/1500');
    assert.is(r.status, 200);
    assert.is(r.body.toString(), 'done 1');
  } finally {
    await srv.handle.close({ drainTimeoutMs: 0 });
  }
});

budgets('the seed API: an api_cb that never returns gets 503', async () => {
  const source = `
import mongoose
def api_cb(body):
    while True:
        pass
mongoose.init(api_cb, lambda u, p: True)
while True:
    mongoose.poll(1000)
`;
  const srv = await startServer({ source, app: 'seed_spin.py', limits: { cpuBudgetMs: 300 }, accessLog: false });
  try {
    const r = await request(srv.port, '/api/epname', { body: 'x', auth: 'a:b' });
    assert.is(r.status, 503);
    assert.match(srv.stderr.join(''), /Traceback in api_cb:[\s\S]*BudgetExceeded/);
    const page = await request(srv.port, '/');
    assert.is(page.status, 200);
  } finally {
    await srv.handle.close({ drainTimeoutMs: 0 });
  }
});

budgets('bad limits are rejected with a clear message', async () => {
  for (const [limits, message] of [
    [{ cpuBudgetMs: -1 }, /limits\.cpuBudgetMs must be an integer >= 0/],
    [{ maxBody: 1.5 }, /limits\.maxBody must be an integer >= 0/],
    [{ maxConnections: 0 }, /limits\.maxConnections must be an integer >= 1/],
  ] as const) {
    try {
      await startServer({ app: APP, limits });
      assert.unreachable(`accepted ${JSON.stringify(limits)}`);
    } catch (err) {
      assert.match((err as Error).message, message);
    }
  }
});

budgets.run();
