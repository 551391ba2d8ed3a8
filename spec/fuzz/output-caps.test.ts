// Property (fast-check, fixed seed): whatever an app prints and however its
// stdout consumer behaves (keeps up, lags, stalls for good part-way), the
// host never holds more than OUTPUT_CAP of unwritten output, every byte
// printed is either delivered or counted as dropped, what is delivered is
// whole lines in the order printed, and the server goes on answering.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { OUTPUT_CAP } from '../../ts/guest/abi.js';
import { appPath, request, startServer } from '../helpers/server.js';
import { waiter } from '../helpers/wait.js';

const waitFor = waiter({ timeoutMs: 15000 });

/** How the consumer settles the promise of each write: at once, after a delay, or (from write k on) never. */
const consumerArb = fc.oneof(
  fc.record({ kind: fc.constant('prompt' as const) }),
  fc.record({ kind: fc.constant('lagging' as const), delayMs: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('stalls' as const), after: fc.integer({ min: 0, max: 400 }) }),
);
const printsArb = fc.array(fc.record({ n: fc.integer({ min: 1, max: 1500 }), size: fc.integer({ min: 0, max: 3000 }) }), { minLength: 1, maxLength: 3 });

test('output caps: bounded in flight, nothing unaccounted for, whole lines in order', async () => {
  await fc.assert(
    fc.asyncProperty(consumerArb, printsArb, async (consumer, prints) => {
      let inFlight = 0;
      let peak = 0;
      let writes = 0;
      let delivered = 0;
      const lines: string[] = [];
      let partial = '';
      const srv = await startServer({
        app: appPath('printer.py'),
        accessLog: false,
        limits: { cpuBudgetMs: 10000 },
        stdout: (t) => {
          const bytes = Buffer.byteLength(t);
          inFlight += bytes;
          peak = Math.max(peak, inFlight);
          const settle = (): void => {
            inFlight -= bytes;
            delivered += bytes;
            const parts = (partial + t).split('\n');
            partial = parts.pop() ?? '';
            lines.push(...parts);
          };
          writes++;
          if (consumer.kind === 'prompt') return void settle();
          if (consumer.kind === 'lagging') return new Promise<void>((resolve) => setTimeout(() => (settle(), resolve()), consumer.delayMs));
          if (writes <= consumer.after) return void settle();
          return new Promise<void>(() => {});
        },
      });
      try {
        let printed = 0;
        for (const { n, size } of prints) {
          const r = await request(srv.port, `/print?n=${n}&size=${size}`);
          assert.is(r.body.toString(), `printed ${n}`);
          for (let i = 0; i < n; i++) printed += `${i} ${'y'.repeat(size)}\n`.length;
        }
        assert.is((await request(srv.port, '/')).status, 200);
        const accounted = (): number => delivered + inFlight + srv.handle.stats().outputDropped.stdout;
        await waitFor('every byte accounted for', () => accounted() >= printed || undefined).catch(() => {});
        assert.is(accounted(), printed, 'delivered + in flight + dropped');
        assert.ok(peak <= OUTPUT_CAP, `${peak} bytes in flight at once`);
        // Whole lines, each the one printed after the one before it (within a print call).
        let last = -1;
        for (const line of lines) {
          const [index, pad] = line.split(' ');
          assert.ok(/^y*$/.test(pad ?? 'x'), 'a whole line');
          const i = Number(index);
          assert.ok(i > last || i === 0, `line ${i} after ${last}`);
          last = i;
        }
        if (consumer.kind !== 'stalls') assert.is(srv.handle.stats().outputDropped.stdout, 0, 'nothing dropped while the consumer keeps going');
      } finally {
        await srv.handle.close({ drainTimeoutMs: 0 });
      }
    }),
    { seed: 42, numRuns: 8, endOnFailure: true },
  );
});

test.run();
