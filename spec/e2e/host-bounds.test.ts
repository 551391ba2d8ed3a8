// The host's memory stays bounded whatever the app does: a flood of print()
// into a stdout nobody reads, an embedder's stdout that stops taking output,
// crash after crash, and log lines an app can trigger by the thousand.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { OUTPUT_CAP } from '../../ts/guest/abi.js';
import { LOG_BURST } from '../../ts/host/log.js';
import { startCli, stopCli } from '../helpers/cli.js';
import { appPath, request, sleep, startServer } from '../helpers/server.js';
import { waiter } from '../helpers/wait.js';

const MiB = 1024 * 1024;
const waitFor = waiter({ timeoutMs: 15000 });

/** Resident memory of a process, from /proc (Linux). */
const rssOf = (pid: number): number => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) * 1024;

const flood = suite('print flood into a stdout pipe nobody reads (CLI)');

flood('host RSS stays bounded, the server answers, the drop is counted and what was written is whole', async () => {
  const cli = await startCli([appPath('printer.py')], { stdout: 'held' });
  try {
    const pid = cli.child.pid!;
    const idle = rssOf(pid);
    assert.is((await request(cli.port, '/flood?size=60000&lines=200')).body.toString(), 'flooding');
    let peak = 0;
    for (let i = 0; i < 16; i++) {
      await sleep(250);
      peak = Math.max(peak, rssOf(pid));
      if (i % 4 === 3) assert.is((await request(cli.port, '/')).status, 200, 'answers during the flood');
    }
    // Unbounded, RSS passed 1.5 GB within 2 s and the server stopped answering.
    assert.ok(peak < idle + 200 * MiB, `RSS ${Math.round(peak / MiB)} MiB (idle ${Math.round(idle / MiB)} MiB)`);
    await waitFor('the drop to be reported', () => /dropped \d+ bytes of the app's stdout: it was not being read/.test(cli.stderr()));
    // Now read the pipe: every line the host wrote is a whole line.
    let out = '';
    cli.child.stdout!.on('data', (d: Buffer) => (out += d));
    cli.child.stdout!.resume();
    await waitFor('output', () => out.length > 200000);
    const lines = out.split('\n').slice(0, -1);
    assert.ok(lines.length >= 3);
    for (const line of lines) assert.is(line, 'x'.repeat(60000));
  } finally {
    await stopCli(cli, 'SIGKILL');
  }
});

flood.run();

const backpressure = suite("an embedder's stdout that returns promises holds the guest's output");

backpressure('a slow consumer that keeps up loses nothing: every line, in order', async () => {
  const lines: string[] = [];
  const srv = await startServer({
    app: appPath('printer.py'),
    accessLog: false,
    stdout: (t) => new Promise<void>((resolve) => setTimeout(() => (lines.push(...t.split('\n').filter(Boolean)), resolve()), 2)),
  });
  try {
    // 4 MiB, well past the 1 MiB the host lets be in flight.
    assert.is((await request(srv.port, '/print?n=4000&size=1000')).body.toString(), 'printed 4000');
    await waitFor('every line', () => lines.length >= 4000);
    assert.equal(lines.map((l) => Number(l.split(' ')[0])), Array.from({ length: 4000 }, (_, i) => i));
    assert.is(srv.handle.stats().outputDropped.stdout, 0);
  } finally {
    await srv.handle.close({ drainTimeoutMs: 0 });
  }
});

backpressure('a consumer that never settles: at most OUTPUT_CAP in flight, the rest dropped and counted, the server answers', async () => {
  let taken = 0;
  const srv = await startServer({
    app: appPath('printer.py'),
    accessLog: false,
    // The handler waits up to OUTPUT_STALL_MS for room, which counts against its budget.
    limits: { cpuBudgetMs: 5000 },
    stdout: (t) => {
      taken += Buffer.byteLength(t);
      return new Promise<void>(() => {});
    },
  });
  try {
    const printed4000 = await request(srv.port, '/print?n=4000&size=1000').then((r) => r.body.toString(), (err: Error) => `${err.message}: ${srv.stderr.join('')}`);
    assert.is(printed4000, 'printed 4000');
    assert.is((await request(srv.port, '/')).status, 200);
    const dropped = await waitFor('the drop to be counted', () => srv.handle.stats().outputDropped.stdout || undefined);
    assert.ok(taken <= OUTPUT_CAP, `${taken} bytes in flight`);
    // Every byte printed is either in flight or counted as dropped.
    const printed = Array.from({ length: 4000 }, (_, i) => `${i} ${'y'.repeat(1000)}\n`.length).reduce((a, b) => a + b, 0);
    const accounted = (): number => taken + srv.handle.stats().outputDropped.stdout;
    await waitFor('all of it accounted for', () => accounted() >= printed || undefined).catch(() => {});
    assert.is(accounted(), printed, `${taken} taken + ${srv.handle.stats().outputDropped.stdout} dropped`);
    assert.ok(dropped > 0);
    assert.ok(srv.stderr.some((l) => /dropped \d+ bytes of the app's stdout/.test(l)));
  } finally {
    await srv.handle.close({ drainTimeoutMs: 0 });
  }
});

backpressure.run();

const crashes = suite('crash restarts release their memory (CLI)');

crashes('host RSS after 60 crash restarts stays near its level after 5', async () => {
  const cli = await startCli([appPath('crash.py'), '--cpu-budget', '5'], { stdout: 'held' });
  try {
    const crashOnce = async (): Promise<void> => {
      await request(cli.port, '/trap').then(
        () => assert.unreachable('a trap answered'),
        () => {},
      );
      await waitFor('a fresh instance', () => request(cli.port, '/ok').then((r) => r.status === 200, () => false));
    };
    for (let i = 0; i < 5; i++) await crashOnce();
    const early = rssOf(cli.child.pid!);
    for (let i = 0; i < 55; i++) await crashOnce();
    const late = rssOf(cli.child.pid!);
    // Before the shared memory and workers were reused: 89 MB after 5, 258 MB after 50.
    assert.ok(late < early * 1.5, `RSS ${Math.round(early / MiB)} MiB after 5 crashes, ${Math.round(late / MiB)} MiB after 60`);
    // The restart lines are rate-limited too.
    const restartLines = cli.stderr().match(/starting a fresh instance/g)?.length ?? 0;
    assert.ok(restartLines <= 2 * LOG_BURST, `${restartLines} restart lines`);
  } finally {
    await stopCli(cli, 'SIGKILL');
  }
});

crashes.run();

const logs = suite('host log lines an app can trigger are rate-limited');

logs('200 denied destinations: a burst of lines, then one line counting the rest', async () => {
  const srv = await startServer({ app: appPath('printer.py'), accessLog: false });
  try {
    assert.is((await request(srv.port, '/deny?n=200')).body.toString(), 'fetching 200');
    await waitFor('the denials', () => srv.handle.stats().outbound.denied >= 200 || undefined);
    await waitFor('suppressed lines', () => srv.handle.stats().logSuppressed > 0 || undefined);
    const denied = srv.stderr.filter((l) => l.includes('egress denied')).length;
    assert.is(denied, LOG_BURST);
  } finally {
    await srv.handle.close({ drainTimeoutMs: 0 });
  }
  // Said when the window ends or, as here, when the instance stops.
  assert.ok(srv.stderr.some((l) => /\d+ more such lines suppressed/.test(l)), srv.stderr.join(''));
});

logs.run();
