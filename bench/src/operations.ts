// The operations scenario: GET / on bench/app.py with the metrics on and a
// JSON access log line per response, against the same server with neither
// (--quiet), alternating in the same run: what observability costs.
import { start, stop, type Contender, type SectionRun } from './contenders.js';
import { HOST, freePort, median, request, sleep } from './procs.js';
import { runWrk } from './wrk.js';

export interface OperationsResult {
  /** req/s of GET / (50 keep-alive connections), medians: with --metrics and --log-format json, and with --quiet. */
  observed: number;
  quiet: number;
  /** The metrics' request count equalled the responses wrk counted (checked after each run). */
  countsMatched: boolean;
  runs: { observed: number[]; quiet: number[] };
}

export interface OperationsRun extends SectionRun {
  app: string;
}

/** The number after a sample's name in Prometheus text. */
const sample = (text: string, prefix: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
};

export async function benchOperations(run: OperationsRun): Promise<OperationsResult> {
  const observedContender: Contender = {
    ...run.pythongoose,
    command: (port, app) => {
      const cmd = run.pythongoose.command(port, app);
      // Its access log on (no --quiet), as JSON, and the metrics on the same port.
      return { ...cmd, args: [...cmd.args.filter((a) => a !== '--quiet'), '--metrics', '--log-format', 'json'] };
    },
  };
  const runs: OperationsResult['runs'] = { observed: [], quiet: [] };
  let countsMatched = true;
  const measure = async (c: Contender, check: boolean): Promise<number> => {
    const server = await start(c, await freePort(), run.serverCpu, run.app);
    try {
      const url = `http://${HOST}:${server.port}/`;
      if (run.warmup) await runWrk({ url, connections: 50, seconds: 1, cpu: run.wrkCpu });
      const before = check ? sample((await request(server.port, 'GET', '/metrics', '', 5000)).body.toString(), 'pythongoose_http_requests_total{code="2xx"') : 0;
      const r = await runWrk({ url, connections: 50, seconds: run.seconds, cpu: run.wrkCpu });
      if (check) {
        await sleep(200);
        const after = sample((await request(server.port, 'GET', '/metrics', '', 5000)).body.toString(), 'pythongoose_http_requests_total{code="2xx"');
        if (!(Math.abs(after - before - r.requests) <= 50)) countsMatched = false; // wrk stops with some requests in flight
      }
      return r.rps;
    } finally {
      await stop(server);
    }
  };
  for (let i = 0; i < run.runs; i++) {
    const order = i % 2 === 0 ? (['observed', 'quiet'] as const) : (['quiet', 'observed'] as const);
    for (const which of order) runs[which].push(await measure(which === 'observed' ? observedContender : run.pythongoose, which === 'observed'));
    console.log(`  run ${i + 1}/${run.runs}: with --metrics and a JSON access log ${runs.observed[i].toFixed(0)} req/s, --quiet ${runs.quiet[i].toFixed(0)} req/s`);
  }
  return { observed: median(runs.observed), quiet: median(runs.quiet), countsMatched, runs };
}
