// Property (fast-check) of the per-connection send cap (--max-send-buffer),
// through the real guest: whatever the message size, count and pace of a
// broadcast, a client that reads gets every message in order (or, if it falls
// behind the pace, a prefix and then 1013), a client that never reads is told about at most once (ws.send() returns False once, then
// the socket is closing), the guest's memory stays within the cap's bound,
// and the server keeps answering. Fixed seed; FUZZ_SEED / FUZZ_SCALE as in
// host-properties.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { Socket } from 'node:net';
import { appPath, request, sleep, startServer, type TestServer } from '../helpers/server.js';
import { fastWs, slowClient, wsHead } from '../helpers/feed.js';

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 42;
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const CAP = 256 * 1024;

async function stats(port: number): Promise<any> {
  return JSON.parse((await request(port, '/stats')).body.toString());
}

const slowWs = (port: number): Promise<Socket> => slowClient(port, wsHead('/wsopen?tag=slow'));

test('send cap: fast clients get every message, a non-reading one is told once, guest memory stays bounded', async () => {
  const srv: TestServer = await startServer({ app: appPath('send_caps.py'), accessLog: false, limits: { maxSendBuffer: CAP } });
  try {
    const t0 = Date.now();
    const details = await fc.check(
      fc.asyncProperty(
        fc.record({ size: fc.integer({ min: 16, max: 192 * 1024 }), count: fc.integer({ min: 1, max: 60 }), every: fc.integer({ min: 1, max: 15 }) }),
        async ({ size, count, every }) => {
          const before = await stats(srv.port);
          const memBefore = srv.handle.stats().guestMemory;
          const fast = await fastWs(srv.port, count);
          const slow = await slowWs(srv.port);
          await sleep(50); // both open before the first tick
          await request(srv.port, `/start?size=${size}&count=${count}&every=${every}`);
          await Promise.race([fast.done, sleep(20000)]);
          if (fast.got.length < count) await request(srv.port, '/stop');
          // In order and whole, or (a client slower than this pace) a prefix, then closed 1013 and the app told.
          assert.equal(fast.got, Array.from({ length: fast.got.length }, (_, i) => i), 'messages in order, none skipped');
          const after = await stats(srv.port);
          const told = after.ws_false - before.ws_false;
          if (fast.got.length < count) {
            assert.is(fast.code(), 1013, `a client that fell behind is closed 1013 (got ${fast.got.length} of ${count})`);
            assert.ok(told >= 1, 'and ws.send() returned False for it');
          }
          assert.ok(told <= 2, `each client is told at most once (${told} for two)`);
          // Two connections, each at most the cap plus one message, plus Mongoose's rounding and the heap's own growth.
          const grown = srv.handle.stats().guestMemory - memBefore;
          assert.ok(grown <= 2 * (CAP + size) + 8 * 1024 * 1024, `guest memory grew ${grown} bytes`);
          assert.is((await request(srv.port, '/')).body.toString(), 'ok');
          await request(srv.port, '/stop'); // before the next run's clients open
          fast.ws.close();
          slow.destroy();
        },
      ),
      { seed: SEED, numRuns: Math.max(1, Math.round(15 * SCALE)), interruptAfterTimeLimit: 10000 * SCALE, endOnFailure: true },
    );
    if (details.failed) assert.unreachable(`${(details.errorInstance as Error | null)?.stack}\n${await fc.asyncDefaultReportMessage(details)}`);
    assert.ok(details.numRuns > 0, 'no run completed');
    if (process.env.FUZZ_VERBOSE === '1') console.log(`send cap: ${details.numRuns} runs in ${Date.now() - t0} ms`);
  } finally {
    await srv.handle.close({ drainTimeoutMs: 0 });
  }
});

test.run();
