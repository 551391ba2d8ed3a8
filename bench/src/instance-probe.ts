#!/usr/bin/env node
// Cold start of a new guest instance inside a running process: serve() with
// the wasm module already compiled (the first serve() compiles it), timed to
// the first 200 for GET /, then closed. Prints one JSON line for bench.ts.
//   node bench/dist/instance-probe.js --app bench/app.py --runs N
import { parseArgs } from 'node:util';
import { serve } from '../../dist/index.js'; // the built package, as an embedder uses it
import { request } from './procs.js';

const { values } = parseArgs({ options: { app: { type: 'string' }, runs: { type: 'string', default: '5' } } });
if (values.app === undefined) throw new Error('--app FILE is required');
const runs = Number(values.runs);

async function firstOk(port: number): Promise<void> {
  for (;;) {
    const r = await request(port, 'GET', '/');
    if (r.status === 200) return;
  }
}

const quiet = { accessLog: false as const, stdout: (): void => {}, healthPath: false as const };

// The first instance pays for compiling the module; a running process has done that.
const warm = await serve({ app: values.app, port: 0, ...quiet });
await firstOk(warm.address.port);
await warm.close({ drainTimeoutMs: 0 });

const startMs: number[] = [];
let guestMemory = 0;
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const h = await serve({ app: values.app, port: 0, ...quiet });
  await firstOk(h.address.port);
  startMs.push(performance.now() - t0);
  guestMemory = h.stats().guestMemory;
  await h.close({ drainTimeoutMs: 0 });
}
process.stdout.write(`${JSON.stringify({ startMs, guestMemory })}\n`);
