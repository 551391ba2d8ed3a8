#!/usr/bin/env node
// Side by side, in one run: pythongoose, node:http and raw node:net (the limit),
// Pyodide and MicroPython-wasm inside node:http, and the native build, all on
// bench/app.py's handler. wrk loads them in turn; results go to bench/results/.
//   node bench/dist/bench.js [--quick] [--duration S] [--runs N] [--only IDS] [--no-pin]
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { alive, contenders, start, stop, type Contender, type Running } from './contenders.js';
import { benchFiles, type FilesResult } from './files.js';
import { benchOperations, type OperationsResult } from './operations.js';
import { benchTls, type TlsCase } from './tls.js';
import { BASELINE, chart, fmtMiB, fmtRatio, markdown, ratio, type Cell, type Report, type ScenarioResult } from './report.js';
import { HOST, allowedCpus, die, freePort, median, request, rssOf, sleep, track, which } from './procs.js';
import { runWrk, type WrkResult } from './wrk.js';

const HELP = `Usage: npm run bench -- [options]

Loads every contender with wrk on bench/app.py's handler (127.0.0.1 only) and
writes bench/results/results.md, results.json and chart.svg.

Options:
  --quick           1 run of 1 s per scenario, no warm-up (results in bench/results/quick/)
  --duration S      seconds per measured run (default 4)
  --runs N          measured runs per scenario and contender, median reported (default 3)
  --only IDS        comma-separated contender ids (node-http is always included;
                    results in bench/results/partial/)
  --no-pin          do not pin wrk and the servers to separate cores
  -h, --help        show this help`;

const ROOT = fileURLToPath(new URL('../..', import.meta.url)); // from bench/dist/
const PATHS = {
  root: ROOT,
  serverJs: join(ROOT, 'dist', 'server.js'),
  app: join(ROOT, 'bench', 'app.py'),
  native: join(ROOT, 'wasm', 'build', 'native', 'pythongoose-native'),
};
const WASM = join(ROOT, 'wasm', 'build', 'pythongoose.wasm');
const PROBE = fileURLToPath(new URL('instance-probe.js', import.meta.url));

const KiB = 1024;
const MiB = 1024 * 1024;

interface Scenario {
  id: string;
  label: string;
  path: string;
  connections: number;
  unit: 'req/s' | 'MB/s';
  /** Response or request body per request, for MB/s. */
  bytes?: number;
  headers?: string[];
  /** Lua for wrk: method, body, headers. */
  lua?: string;
  /** Only servers that answer more than GET / take part when false. */
  getOnly: boolean;
  /** Served by the seed's program (seedProgram()) instead of bench/app.py. */
  seed?: boolean;
  /** Only the builds with the `mongoose` module (async routes of bench/app.py), compared with their own sync GET. */
  mongooseOnly?: boolean;
}

// admin:istrator, the seed's login.
const SEED_AUTH = `Authorization: Basic ${Buffer.from('admin:istrator').toString('base64')}`;

const SCENARIOS: Scenario[] = [
  { id: 'get', label: 'GET / keep-alive, 50 connections', path: '/', connections: 50, unit: 'req/s', getOnly: true },
  {
    id: 'get-close',
    label: 'GET / new connection per request, 50 connections',
    path: '/',
    connections: 50,
    unit: 'req/s',
    headers: ['Connection: close'],
    getOnly: true,
  },
  {
    id: 'post',
    label: 'POST /api/epname 1 KiB body, keep-alive, 50 connections',
    path: '/api/epname',
    connections: 50,
    unit: 'req/s',
    lua: `wrk.method = "POST"\nwrk.body = string.rep("r", ${KiB})\nwrk.headers["Content-Type"] = "text/plain"\n`,
    getOnly: false,
  },
  {
    id: 'seed',
    label: "the seed's program: GET /api/epname with Basic auth, keep-alive, 50 connections",
    path: '/api/epname',
    connections: 50,
    unit: 'req/s',
    headers: [SEED_AUTH],
    getOnly: false,
    seed: true,
  },
  { id: 'download', label: '1 MiB download, keep-alive, 8 connections', path: '/download', connections: 8, unit: 'MB/s', bytes: MiB, getOnly: false },
  {
    id: 'upload',
    label: '8 MiB upload, keep-alive, 4 connections',
    path: '/upload',
    connections: 4,
    unit: 'MB/s',
    bytes: 8 * MiB,
    lua: `wrk.method = "POST"\nwrk.body = string.rep("u", ${8 * MiB})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
    getOnly: false,
  },
  { id: 'c1000', label: 'GET / keep-alive, 1,000 concurrent connections', path: '/', connections: 1000, unit: 'req/s', getOnly: true },
  { id: 'async', label: 'GET /async (async def, no await) keep-alive, 50 connections', path: '/async', connections: 50, unit: 'req/s', getOnly: true, mongooseOnly: true },
  {
    id: 'async-sleep',
    label: 'GET /async-sleep (awaits asyncio.sleep(0)) keep-alive, 50 connections',
    path: '/async-sleep',
    connections: 50,
    unit: 'req/s',
    getOnly: true,
    mongooseOnly: true,
  },
];

/** The seed's program exactly as the seed writes it, without its print (a line of stdout per request), written to dir. */
function seedProgram(dir: string): string {
  const source = readFileSync(join(ROOT, 'examples', 'seed', 'main.py'), 'utf8');
  const served = source.replace(/^[ \t]*print\(.*\)\n/gm, '');
  if (served === source) die('examples/seed/main.py has no print line to drop: update seedProgram() in bench/src/bench.ts');
  const file = join(dir, 'seed.py');
  writeFileSync(file, served);
  return file;
}

function run(cmd: string, args: string[], what: string): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: ROOT });
  if (r.status !== 0) die(`${what} failed (${cmd} ${args.join(' ')} exited ${r.status ?? r.signal})`);
}

/** Contender dependencies: npm packages in bench/, the native build. */
function install(ids: Set<string>): void {
  const lock = join(ROOT, 'bench', 'package-lock.json');
  const stamp = join(ROOT, 'bench', 'node_modules', '.package-lock.json');
  if ((ids.has('pyodide') || ids.has('micropython-wasm')) && (!existsSync(stamp) || statSync(stamp).mtimeMs < statSync(lock).mtimeMs)) {
    console.log('bench: installing the contenders from npm (npm ci in bench/)');
    run('npm', ['ci', '--prefix', join(ROOT, 'bench'), '--no-audit', '--no-fund'], 'npm ci in bench/');
  }
  if (ids.has('native')) run('bash', [join(ROOT, 'scripts', 'build-native.sh')], 'the native build');
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

type Probe = [key: string, method: string, path: string, body: string, headers?: string[]];

/** Every contender must send the same bodies as node:http before it is measured. */
async function checkAnswers(r: Running, expected: Map<string, string>, seed = false): Promise<void> {
  const probes: Probe[] = [];
  if (seed) probes.push(['seed', 'GET', '/api/epname', '', [SEED_AUTH]], ['seed-denied', 'GET', '/api/epname', '']);
  else {
    probes.push(['page', 'GET', '/', '']);
    if (!r.contender.getOnly) {
      probes.push(['epname', 'POST', '/api/epname', 'r'.repeat(KiB)], ['download', 'GET', '/download', ''], ['upload', 'POST', '/upload', 'u'.repeat(8 * MiB)]);
    }
  }
  for (const [key, method, path, body, headers] of probes) {
    const got = await request(r.port, method, path, body, 30_000, headers);
    const digest = `${got.status} ${sha(got.body)}`;
    if (!expected.has(key)) expected.set(key, digest);
    else if (expected.get(key) !== digest) {
      die(`${r.contender.label} answers ${method} ${path} with ${digest} (${JSON.stringify(got.body.subarray(0, 80).toString())}), node:http with ${expected.get(key)}`);
    }
  }
}

function probeInstances(runs: number): Promise<{ startMs: number[]; guestMemory: number }> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [PROBE, '--app', PATHS.app, '--runs', String(runs)], { stdio: ['ignore', 'pipe', 'inherit'] }));
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => (out += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`instance probe exited ${code}`));
      try {
        resolve(JSON.parse(out) as { startMs: number[]; guestMemory: number });
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean' },
        duration: { type: 'string' },
        runs: { type: 'string' },
        only: { type: 'string' },
        'no-pin': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    die(`${(err as Error).message}\n\n${HELP}`);
  }
  if (values.help) {
    console.log(HELP);
    return;
  }
  const quick = values.quick ?? false;
  const duration = values.duration === undefined ? (quick ? 1 : 4) : Number(values.duration);
  if (!Number.isInteger(duration) || duration < 1 || duration > 600) die(`--duration must be 1-600 whole seconds, got ${values.duration}`);
  const runs = values.runs === undefined ? (quick ? 1 : 3) : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) die(`--runs must be 1-20, got ${values.runs}`);
  const warmup = !quick;

  const all = contenders(PATHS);
  let chosen: Contender[] = all;
  if (values.only !== undefined) {
    const ids = new Set([...values.only.split(','), BASELINE]);
    const unknown = [...ids].filter((id) => !all.some((c) => c.id === id));
    if (unknown.length > 0) die(`unknown contender ${unknown.join(', ')}; ids: ${all.map((c) => c.id).join(', ')}`);
    chosen = all.filter((c) => ids.has(c.id));
  }

  if (which('wrk') === null) die('wrk not found on PATH; install it: apt-get install wrk');
  if (!existsSync(PATHS.serverJs) || !existsSync(WASM)) die('pythongoose is not built; run: npm run build');
  install(new Set(chosen.map((c) => c.id)));

  // wrk on one core, every server on the other (a server's own threads share it).
  const allowed = allowedCpus();
  let wrkCpu: number | null = null;
  let serverCpu: number | null = null;
  let pinNote: string;
  if (values['no-pin']) pinNote = 'unpinned (--no-pin)';
  else if (allowed.length < 2) pinNote = `unpinned: only ${allowed.length} core available`;
  else if (which('taskset') === null) pinNote = 'unpinned: taskset not found (apt-get install util-linux)';
  else {
    [wrkCpu, serverCpu] = allowed;
    pinNote = `wrk pinned to CPU ${wrkCpu}, each server (all its threads) to CPU ${serverCpu}`;
  }

  const tmp = mkdtempSync(join(tmpdir(), 'pythongoose-bench-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const seedApp = seedProgram(tmp);
  for (const sc of SCENARIOS) {
    if (sc.lua !== undefined) {
      const file = join(tmp, `${sc.id}.lua`);
      writeFileSync(file, sc.lua);
      sc.lua = file;
    }
  }

  const wrkVersion = (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout ?? '').split('\n')[0].split(' [')[0].trim();
  const when = `Run ${new Date().toISOString()}: ${wrkVersion}; node ${process.version}; ${cpus()[0]?.model ?? 'unknown CPU'}, ${allowed.length} cores usable.`;
  console.log(`pythongoose bench: ${when}`);
  console.log(`  ${pinNote}; ${duration} s per run, ${runs === 1 ? '1 run' : `median of ${runs} runs`}${warmup ? ' after a 1 s warm-up' : ', no warm-up'}`);

  // Start every server once (node:http first: the others must match its answers).
  const order = [...chosen].sort((a, b) => Number(b.id === BASELINE) - Number(a.id === BASELINE));
  const running: Running[] = [];
  const expected = new Map<string, string>();
  for (const c of order) {
    const r = await start(c, await freePort(), serverCpu, PATHS.app);
    await checkAnswers(r, expected);
    running.push(r);
    console.log(`  ${c.label}: answering after ${r.startMs.toFixed(0)} ms; bodies match node:http's`);
  }
  const byId = new Map(running.map((r) => [r.contender.id, r]));

  const results: ScenarioResult[] = [];
  let trouble = false;
  for (const sc of SCENARIOS) {
    console.log(`\n${sc.label}`);
    let takers = running.filter((r) => (sc.getOnly || !r.contender.getOnly) && (!sc.mongooseOnly || r.contender.id === 'pythongoose' || r.contender.id === 'native'));
    if (sc.seed) {
      // Its own servers, started for this scenario only.
      const seeds: Running[] = [];
      for (const r of takers) {
        const s = await start(r.contender, await freePort(), serverCpu, seedApp);
        seeds.push(s);
        await checkAnswers(s, expected, true);
      }
      takers = seeds;
    }
    const perRun = new Map<string, WrkResult[]>(takers.map((r) => [r.contender.id, []]));
    const load = (r: Running, seconds: number): Promise<WrkResult> =>
      runWrk({ url: `http://${HOST}:${r.port}${sc.path}`, connections: sc.connections, seconds, lua: sc.lua, headers: sc.headers, cpu: wrkCpu });
    if (warmup) for (const r of takers) await load(r, 1);
    for (let i = 0; i < runs; i++) {
      // Rotate who goes first so slow drift hits everyone alike.
      for (let k = 0; k < takers.length; k++) {
        const r = takers[(k + i) % takers.length];
        const w = await load(r, duration);
        perRun.get(r.contender.id)!.push(w);
        if (w.errors + w.non2xx > 0) trouble = true;
        const value = sc.unit === 'MB/s' ? (w.rps * (sc.bytes ?? 0)) / 1e6 : w.rps;
        console.log(
          `  ${r.contender.label.padEnd(30)} run ${i + 1}/${runs}: ${value.toFixed(sc.unit === 'MB/s' ? 1 : 0).padStart(8)} ${sc.unit}, ` +
            `p50 ${w.p50Ms.toFixed(2)} ms, p99 ${w.p99Ms.toFixed(2)} ms, errors ${w.errors}, non-2xx ${w.non2xx}`,
        );
        await sleep(200); // let closing connections settle
      }
    }
    const cells: Record<string, Cell> = {};
    for (const [id, ws] of perRun) {
      const values = ws.map((w) => (sc.unit === 'MB/s' ? (w.rps * (sc.bytes ?? 0)) / 1e6 : w.rps));
      cells[id] = {
        value: median(values),
        p50Ms: median(ws.map((w) => w.p50Ms)),
        p99Ms: median(ws.map((w) => w.p99Ms)),
        errors: ws.reduce((a, w) => a + w.errors, 0),
        non2xx: ws.reduce((a, w) => a + w.non2xx, 0),
        runs: values,
      };
    }
    results.push({ id: sc.id, label: sc.label, unit: sc.unit, cells });
    if (sc.seed) {
      for (const r of takers) {
        if (!alive(r)) {
          trouble = true;
          console.log(`bench: WARNING: ${r.contender.label} died serving the seed (${r.child.exitCode ?? r.child.signalCode}):\n${r.stderr.text}`);
        }
      }
      await Promise.all(takers.map(stop));
    }
  }

  const rssAfterLoad = new Map(running.map((r) => [r.contender.id, rssOf(r.child.pid ?? -1)]));
  for (const r of running) {
    if (!alive(r)) {
      trouble = true;
      console.log(`bench: WARNING: ${r.contender.label} died during the run (${r.child.exitCode ?? r.child.signalCode}):\n${r.stderr.text}`);
    }
  }
  await Promise.all(running.map(stop));

  // Cold starts: a fresh process each time, to the first 200.
  console.log('\nStart-up: process start to the first 200 for GET /');
  const startMs = new Map<string, number>();
  for (const c of order) {
    const times: number[] = [byId.get(c.id)!.startMs];
    for (let i = 1; i < runs; i++) {
      const r = await start(c, await freePort(), serverCpu, PATHS.app);
      times.push(r.startMs);
      await stop(r);
    }
    startMs.set(c.id, median(times));
    console.log(`  ${c.label.padEnd(30)} ${times.map((t) => t.toFixed(0)).join(', ')} ms`);
  }

  // Memory: one process with 1 guest instance, one with 10, after a warm-up load.
  const memory = { rss1: NaN, rss10: NaN, perInstance: NaN, guestMemory: NaN, wasmBytes: statSync(WASM).size, nativeBytes: NaN };
  if (existsSync(PATHS.native)) memory.nativeBytes = statSync(PATHS.native).size;
  let instanceStartMs: number[] = [];
  if (byId.has('pythongoose')) {
    for (const workers of [1, 10]) {
      const c: Contender = { ...byId.get('pythongoose')!.contender };
      const base = c.command;
      c.command = (port, app) => {
        const cmd = base(port, app);
        return { ...cmd, args: [...cmd.args, '--workers', String(workers)] };
      };
      const r = await start(c, await freePort(), serverCpu, PATHS.app);
      await runWrk({ url: `http://${HOST}:${r.port}/`, connections: 50, seconds: 1, cpu: wrkCpu });
      await sleep(500);
      const rss = rssOf(r.child.pid ?? -1);
      if (workers === 1) memory.rss1 = rss;
      else memory.rss10 = rss;
      await stop(r);
    }
    memory.perInstance = (memory.rss10 - memory.rss1) / 9;
    const probe = await probeInstances(quick ? 3 : 10);
    instanceStartMs = probe.startMs;
    memory.guestMemory = probe.guestMemory;
  }

  let files: FilesResult | undefined;
  if (byId.has('pythongoose')) {
    console.log('\nFiles: a 4 KiB template read from /app per request, and durable 100-byte writes to /data');
    files = await benchFiles({ pythongoose: byId.get('pythongoose')!.contender, dir: tmp, serverCpu, wrkCpu, seconds: duration, runs, warmup });
  }
  let tls: TlsCase[] | undefined;
  if (byId.has('pythongoose')) {
    console.log('\nHTTPS: GET / with TLS in the guest against node:https, same certificate, RSA-2048 and P-256');
    tls = await benchTls({ pythongoose: byId.get('pythongoose')!.contender, root: ROOT, app: PATHS.app, dir: tmp, serverCpu, wrkCpu, seconds: duration, runs, warmup });
  }
  let operations: OperationsResult | undefined;
  if (byId.has('pythongoose')) {
    console.log('\nOperations: GET / with --metrics and a JSON access log, against --quiet');
    operations = await benchOperations({ pythongoose: byId.get('pythongoose')!.contender, app: PATHS.app, serverCpu, wrkCpu, seconds: duration, runs, warmup });
  }

  const get = (id: string): ScenarioResult => results.find((s) => s.id === id)!;
  const summaries = SCENARIOS.map((sc) => {
    const s = get(sc.id);
    const ours = s.cells.pythongoose;
    const parts = Object.keys(s.cells)
      .filter((id) => id !== 'pythongoose' && id !== BASELINE)
      .map((id) => `${order.find((c) => c.id === id)!.label} ${fmtRatio(ratio(s, id))}`);
    return ours
      ? `${sc.label}: pythongoose ${ours.value.toFixed(sc.unit === 'MB/s' ? 1 : 0)} ${sc.unit} = ${fmtRatio(ratio(s, 'pythongoose'))} node:http (others: ${parts.join(', ')}).`
      : `${sc.label}: ${parts.join(', ')}.`;
  });
  const instanceMedian = median(instanceStartMs);
  summaries.push(
    `Cold start: ${[...startMs].map(([id, ms]) => `${order.find((c) => c.id === id)!.label} ${ms.toFixed(0)} ms`).join(', ')}; a new guest instance in a running process ${instanceMedian.toFixed(1)} ms.`,
    ...(files === undefined
      ? []
      : [
          `Files: a 4 KiB template read from /app per request ${files.templateFile.toFixed(0)} req/s = ${fmtRatio(files.templateFile / files.templateConst)} the same handler with it in a constant (${files.templateConst.toFixed(0)}); durable 100-byte writes to /data ${files.durableWrites.toFixed(0)}/s over one connection = ${fmtRatio(files.durableWrites / files.nodeFsWrites)} a node:fs open+write+fsync+close loop (${files.nodeFsWrites.toFixed(0)}/s).`,
        ]),
    ...(operations === undefined
      ? []
      : [
          `Operations: GET / with --metrics and a JSON access log line per response ${operations.observed.toFixed(0)} req/s = ${fmtRatio(operations.observed / operations.quiet)} the same server with --quiet (${operations.quiet.toFixed(0)}); the metrics' count ${operations.countsMatched ? 'matched' : 'did NOT match'} wrk's.`,
        ]),
    ...(tls ?? []).map(
      (c) =>
        `HTTPS (${c.key}), GET / ${c.kind === 'keep-alive' ? 'keep-alive' : 'a new TLS connection per request'}, 50 connections: pythongoose ${c.pythongoose.toFixed(0)} req/s = ${fmtRatio(c.pythongoose / c.nodeHttps)} node:https (${c.nodeHttps.toFixed(0)}).`,
    ),
    `Memory: ${fmtMiB(memory.perInstance)} RSS per added guest instance (${fmtMiB(memory.rss1)} with 1, ${fmtMiB(memory.rss10)} with 10); guest memory ${fmtMiB(memory.guestMemory)}; .wasm ${(memory.wasmBytes / 1024).toFixed(0)} KiB.`,
  );

  const targets: Report['targets'] = [];
  const target = (met: boolean, text: string): void => {
    targets.push({ met, text });
  };
  if (byId.has('pythongoose')) {
    const short = (got: number, want: number): string => (got < want ? ` (short by ${((1 - got / want) * 100).toFixed(0)}%)` : '');
    // Issue 14's targets.
    for (const [id, want] of [['get', 0.9], ['seed', 0.7], ['post', 0.8], ['get-close', 0.6], ['c1000', 0.8]] as const) {
      const s = get(id);
      const vsNode = ratio(s, 'pythongoose');
      target(vsNode >= want, `${s.label}: ≥ ${want}× node:http: ${fmtRatio(vsNode)}${short(vsNode, want)}`);
    }
    const c1000 = get('c1000').cells;
    if (c1000[BASELINE]) {
      const p99 = c1000.pythongoose.p99Ms / c1000[BASELINE].p99Ms;
      target(p99 <= 1.5, `${get('c1000').label}: p99 ≤ 1.5× node:http's: ${p99.toFixed(2)}× (${c1000.pythongoose.p99Ms.toFixed(0)} ms against ${c1000[BASELINE].p99Ms.toFixed(0)} ms)`);
    }
    // Issue 16's: async handlers against the sync GET of the same build, same run.
    for (const id of ['async', 'async-sleep']) {
      const s = results.find((x) => x.id === id);
      if (!s?.cells.pythongoose) continue;
      const vsSync = s.cells.pythongoose.value / get('get').cells.pythongoose.value;
      target(vsSync >= 0.8, `${s.label}: ≥ 0.8× the sync GET /: ${fmtRatio(vsSync)}${short(vsSync, 0.8)}`);
    }
    for (const s of results) {
      if (!s.cells.pyodide || !s.cells.pythongoose) continue;
      const vsPyodide = s.cells.pythongoose.value / s.cells.pyodide.value;
      target(vsPyodide >= 1, `${s.label}: ≥ 1.0× Pyodide in node:http: ${fmtRatio(vsPyodide)}${short(vsPyodide, 1)}`);
    }
    for (const [id, want] of [['download', 1000], ['upload', 500]] as const) {
      const got = get(id).cells.pythongoose.value;
      target(got >= want, `${get(id).label} ≥ ${want} MB/s: ${got.toFixed(0)} MB/s${short(got, want)}`);
    }
    target(instanceMedian <= 50, `new guest instance to first response ≤ 50 ms: ${instanceMedian.toFixed(1)} ms`);
    target(memory.perInstance <= 8 * MiB, `≤ 8 MiB RSS per added instance: ${fmtMiB(memory.perInstance)}`);
    if (files !== undefined) {
      const vsConst = files.templateFile / files.templateConst;
      target(vsConst >= 0.8, `a 4 KiB template read from /app per request ≥ 0.8× the same in a constant: ${fmtRatio(vsConst)}${short(vsConst, 0.8)}`);
    }
    // Issue 15's: HTTPS against node:https on the same certificate.
    for (const c of tls ?? []) {
      const want = c.kind === 'keep-alive' ? 0.6 : 0.3;
      const vs = c.pythongoose / c.nodeHttps;
      target(vs >= want, `HTTPS (${c.key}) GET / ${c.kind === 'keep-alive' ? 'keep-alive' : 'new TLS connection per request'} ≥ ${want}× node:https: ${fmtRatio(vs)}${short(vs, want)}`);
    }
    const cold = startMs.get('pythongoose')! / startMs.get(BASELINE)!;
    if (Number.isFinite(cold)) target(cold <= 1.5, `process start to first 200 ≤ 1.5× node:http's: ${cold.toFixed(2)}×`);
  }

  const report: Report = {
    when,
    setup: [
      pinNote,
      `${duration} s per measured run, ${runs === 1 ? 'one run' : `median of ${runs}`}${warmup ? ', each after a 1 s warm-up' : ''}; wrk -t1`,
      `every contender serves bench/app.py's handler (node:http and node:net the same bytes from JS), and for the seed scenario the seed's program (examples/seed/main.py without its print); bodies checked against node:http's before loading`,
      `MB/s counts body bytes (10^6 bytes per MB)`,
    ],
    contenders: order.map((c) => ({ id: c.id, label: c.label, startMs: startMs.get(c.id) ?? NaN, rssAfterLoad: rssAfterLoad.get(c.id) ?? NaN })),
    scenarios: results,
    memory,
    files,
    operations,
    tls,
    instanceStartMs,
    summaries,
    targets,
  };

  // Only a full run replaces the committed results.
  const outDir = join(ROOT, 'bench', 'results', ...(quick ? ['quick'] : values.only !== undefined ? ['partial'] : []));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.md'), markdown(report));
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(outDir, 'chart.svg'), chart(report));

  console.log('\nSummary');
  for (const s of summaries) console.log(`  ${s}`);
  console.log('Targets');
  for (const t of targets) console.log(`  ${t.met ? 'met   ' : 'MISSED'} ${t.text}`);
  console.log(`\nbench: wrote ${join(outDir, 'results.md')}, results.json and chart.svg`);
  if (trouble) console.log('bench: WARNING: socket errors or non-2xx responses above; see the per-run lines');
}

main().catch((err: unknown) => die(err instanceof Error ? (err.stack ?? err.message) : String(err)));
