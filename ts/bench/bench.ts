#!/usr/bin/env node
// Throughput and tail latency of pythongoose (seed app) against a plain
// node:http server sending the same bytes, both loaded by wrk with keep-alive.
//   node dist/bench/bench.js [--quick] [--duration S] [--connections N] [--no-pin]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BaselineSpec, RawResponse } from './baseline.js';

const HELP = `Usage: node dist/bench/bench.js [options]

Loads pythongoose (the seed app) and a node:http baseline that sends the same
bytes with wrk: GET / and POST /api/epname, keep-alive, 127.0.0.1 only.

Options:
  --quick           one 2 s run per scenario and server, no warm-up, no repeats
  --duration S      seconds per measured run (default 5; 2 with --quick)
  --connections N   wrk connections (default 50)
  --no-pin          do not pin wrk and the servers to separate cores
  -h, --help        show this help`;

const DIST = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(DIST, '..');
const SERVER_JS = join(DIST, 'server.js');
const BASELINE_JS = join(DIST, 'bench', 'baseline.js');
const WASM = join(ROOT, 'wasm', 'build', 'pythongoose.wasm');

const HOST = '127.0.0.1';
const USER = 'admin';
const PASSWORD = 'istrator';
const API_PATH = '/api/epname';
const POST_BODY = 'r u there ?';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const THREADS = 1;
const WARMUP_S = 1;
const REPEATS = 3;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
/** A wrk run gets this long beyond its duration before it is killed. */
const WRK_GRACE_MS = 20_000;

interface Scenario {
  label: string;
  path: string;
  /** wrk Lua script (POST needs method, body and header); null for a plain GET. */
  lua: string | null;
}

interface WrkResult {
  rps: number;
  p99Ms: number;
  requests: number;
  /** Socket errors: connect, read, write, timeout. */
  errors: { connect: number; read: number; write: number; timeout: number };
  non2xx: number;
}

interface Target {
  name: string;
  port: number;
  child: ChildProcess;
  stderr: { text: string };
}

// ---------- process bookkeeping: nothing we start outlives us ----------

const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`bench: interrupted (${sig})\n`);
    process.exit(130);
  });
}

function die(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

// ---------- small helpers ----------

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** CPUs this process may run on, from /proc (so a restricted cpuset is respected). */
function allowedCpus(): number[] {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m);
    if (line) {
      const out: number[] = [];
      for (const part of line[1].split(',')) {
        const [a, b] = part.split('-').map(Number);
        for (let i = a; i <= (b ?? a); i++) out.push(i);
      }
      return out;
    }
  } catch {
    // not Linux: fall through
  }
  return cpus().map((_, i) => i);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Send raw request bytes, return the first whole response (by Content-Length). */
function exchange(port: number, request: string, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, HOST);
    let buf = Buffer.alloc(0);
    const finish = (err: Error | null, out?: Buffer): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(out as Buffer);
    };
    const timer = setTimeout(() => finish(new Error(`no whole response within ${timeoutMs} ms`)), timeoutMs);
    sock.on('error', (err) => finish(err));
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = buf.subarray(0, end).toString('latin1').match(/\r\ncontent-length:\s*(\d+)/i);
      if (!len) return finish(new Error('response without Content-Length'));
      const total = end + 4 + Number(len[1]);
      if (buf.length >= total) finish(null, buf.subarray(0, total));
    });
    sock.on('end', () => finish(new Error('connection closed before a whole response')));
    sock.write(request, 'latin1');
  });
}

function parseRaw(buf: Buffer): RawResponse {
  const end = buf.indexOf('\r\n\r\n');
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = lines[0].match(/^HTTP\/1\.[01] (\d{3}) (.*)$/);
  if (!status) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
  const headers = lines.slice(1).map((l): [string, string] => {
    const colon = l.indexOf(':');
    // Only the separator's leading space goes: node:http puts back ": ".
    return [l.slice(0, colon), l.slice(colon + 1).replace(/^ +/, '')];
  });
  return { status: Number(status[1]), reason: status[2], headers, body: buf.subarray(end + 4).toString('base64') };
}

function requestText(method: string, path: string, port: number, auth: boolean, body = ''): string {
  const head = [`${method} ${path} HTTP/1.1`, `Host: ${HOST}:${port}`];
  if (auth) head.push(`Authorization: ${AUTH}`);
  if (method === 'POST') head.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

// ---------- servers ----------

function startTarget(name: string, argv: string[], cpu: number | null): Target {
  const [cmd, args] = cpu === null ? [process.execPath, argv] : ['taskset', ['-c', String(cpu), process.execPath, ...argv]];
  // stdout ignored: the seed app prints a line per API call (and --quiet: no access log).
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  const stderr = { text: '' };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr.text = (stderr.text + d).slice(-8192);
  });
  return { name, port: Number(argv[argv.indexOf('--port') + 1]), child, stderr };
}

async function waitReady(t: Target): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (t.child.exitCode !== null || t.child.signalCode !== null) {
      die(`${t.name} exited during start-up (${t.child.exitCode ?? t.child.signalCode}):\n${t.stderr.text}`);
    }
    try {
      await exchange(t.port, requestText('GET', '/', t.port, false), 1000);
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  die(`${t.name} not answering on ${HOST}:${t.port} after ${START_TIMEOUT_MS / 1000} s (${last}):\n${t.stderr.text}`);
}

async function stopTarget(t: Target): Promise<void> {
  if (t.child.exitCode !== null || t.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => t.child.once('exit', () => r()));
  t.child.kill('SIGTERM');
  const timer = setTimeout(() => t.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await gone;
  clearTimeout(timer);
}

// ---------- wrk ----------

function parseTime(value: string, unit: string): number {
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const k = scale[unit];
  if (k === undefined) throw new Error(`unknown wrk time unit ${unit}`);
  return Number(value) * k;
}

function parseWrk(out: string): WrkResult {
  const rps = out.match(/^Requests\/sec:\s+([\d.]+)/m);
  const p99 = out.match(/^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m);
  const reqs = out.match(/^\s+(\d+) requests in /m);
  if (!rps || !p99 || !reqs) throw new Error(`cannot read wrk's output:\n${out}`);
  const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non2xx = out.match(/Non-2xx or 3xx responses: (\d+)/);
  return {
    rps: Number(rps[1]),
    p99Ms: parseTime(p99[1], p99[2]),
    requests: Number(reqs[1]),
    errors: sock
      ? { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) }
      : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

interface WrkConfig {
  connections: number;
  cpu: number | null;
}

function runWrk(cfg: WrkConfig, port: number, sc: Scenario, seconds: number): Promise<WrkResult> {
  const args = [`-t${THREADS}`, `-c${cfg.connections}`, `-d${seconds}s`, '--latency'];
  if (sc.lua !== null) args.push('-s', sc.lua);
  args.push(`http://${HOST}:${port}${sc.path}`);
  const [cmd, argv] = cfg.cpu === null ? ['wrk', args] : ['taskset', ['-c', String(cfg.cpu), 'wrk', ...args]];
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => (out += d));
    child.stderr?.on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000 + WRK_GRACE_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`wrk ${signal ? `killed (${signal})` : `exited ${code}`}:\n${out}`));
      try {
        resolve(parseWrk(out));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

function errorCount(r: WrkResult): number {
  return r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout;
}

function describe(r: WrkResult): string {
  const e = r.errors;
  const sock = errorCount(r) === 0 ? 'none' : `connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`;
  return (
    `${fmtInt(r.rps).padStart(7)} req/s  p99 ${fmtMs(r.p99Ms).padStart(7)} ms  ` +
    `(${r.requests} requests; socket errors: ${sock}; non-2xx: ${r.non2xx})`
  );
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number): string => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const fmtRatio = (n: number): string => `${n.toFixed(2)}×`;

// ---------- main ----------

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        quick: { type: 'boolean' },
        duration: { type: 'string' },
        connections: { type: 'string' },
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
  // wrk takes whole seconds only.
  const duration = values.duration === undefined ? (quick ? 2 : 5) : Number(values.duration);
  if (!Number.isInteger(duration) || duration < 1 || duration > 3600) die(`--duration must be 1-3600 whole seconds, got ${values.duration}`);
  const connections = values.connections === undefined ? 50 : Number(values.connections);
  if (!Number.isInteger(connections) || connections < THREADS || connections > 10_000) {
    die(`--connections must be ${THREADS}-10000, got ${values.connections}`);
  }
  const repeats = quick ? 1 : REPEATS;
  const warmup = !quick;

  if (which('wrk') === null) die('wrk not found on PATH; install it: apt-get install wrk');
  if (!existsSync(SERVER_JS) || !existsSync(BASELINE_JS)) die(`${SERVER_JS} missing; build the host first: npx tsc -p tsconfig.json`);
  if (!existsSync(WASM)) die(`${WASM} missing; build the guest first: bash scripts/build-guest.sh`);

  // Separate cores keep wrk from stealing the servers' CPU (and vice versa).
  const allowed = allowedCpus();
  let wrkCpu: number | null = null;
  let serverCpu: number | null = null;
  let pinNote: string;
  if (values['no-pin']) {
    pinNote = 'unpinned (--no-pin)';
  } else if (allowed.length < 2) {
    pinNote = `unpinned: only ${allowed.length} core available`;
  } else if (which('taskset') === null) {
    pinNote = 'unpinned: taskset not found (apt-get install util-linux)';
  } else {
    [wrkCpu, serverCpu] = allowed;
    pinNote = `wrk on CPU ${wrkCpu}, servers on CPU ${serverCpu} (pythongoose's guest worker thread shares it)`;
  }
  if (wrkCpu === null) console.log(`bench: note: running ${pinNote}`);

  const wrkVersion = (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout ?? '').split('\n')[0].split(' [')[0].trim();
  const tmp = mkdtempSync(join(tmpdir(), 'pythongoose-bench-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

  const lua = join(tmp, 'post.lua');
  writeFileSync(
    lua,
    `-- POST ${API_PATH} as the seed app expects it\n` +
      `wrk.method = "POST"\nwrk.body = "${POST_BODY}"\nwrk.headers["Authorization"] = "${AUTH}"\n`,
  );
  const scenarios: Scenario[] = [
    { label: 'GET /', path: '/', lua: null },
    { label: `POST ${API_PATH}`, path: API_PATH, lua },
  ];

  // Ours first: the baseline is built from its answers.
  const oursPort = await freePort();
  const ours = startTarget('pythongoose', [SERVER_JS, '--port', String(oursPort), '--host', HOST, '--quiet'], serverCpu);
  await waitReady(ours);

  const probes = {
    page: requestText('GET', '/', oursPort, false),
    api: requestText('POST', API_PATH, oursPort, true, POST_BODY),
    unauthorized: requestText('POST', API_PATH, oursPort, false, POST_BODY),
    notFound: requestText('GET', '/api/nope', oursPort, true),
  };
  const captured: Record<keyof typeof probes, Buffer> = {
    page: await exchange(oursPort, probes.page),
    api: await exchange(oursPort, probes.api),
    unauthorized: await exchange(oursPort, probes.unauthorized),
    notFound: await exchange(oursPort, probes.notFound),
  };
  const responses = {
    page: parseRaw(captured.page),
    api: parseRaw(captured.api),
    unauthorized: parseRaw(captured.unauthorized),
    notFound: parseRaw(captured.notFound),
  };
  // Benchmarking error pages would be meaningless: check the two we load.
  const apiBody = Buffer.from(responses.api.body, 'base64').toString('utf8');
  if (responses.page.status !== 200) die(`GET / answered ${responses.page.status}, expected 200`);
  if (responses.api.status !== 200 || apiBody !== 'epname: pythongoose') {
    die(`POST ${API_PATH} answered ${responses.api.status} ${JSON.stringify(apiBody)}, expected 200 "epname: pythongoose"`);
  }

  const spec: BaselineSpec = { user: USER, password: PASSWORD, apiPath: API_PATH, responses };
  const specFile = join(tmp, 'baseline.json');
  writeFileSync(specFile, JSON.stringify(spec));
  const basePort = await freePort();
  const base = startTarget('node:http', [BASELINE_JS, '--port', String(basePort), '--spec', specFile], serverCpu);
  await waitReady(base);

  // The comparison is only fair if both send the very same bytes.
  for (const key of Object.keys(probes) as (keyof typeof probes)[]) {
    const got = await exchange(basePort, probes[key].replace(`:${oursPort}\r\n`, `:${basePort}\r\n`));
    if (!got.equals(captured[key])) {
      die(
        `node:http baseline differs from pythongoose on ${key}:\n` +
          `  pythongoose: ${JSON.stringify(captured[key].toString('latin1'))}\n` +
          `  node:http:   ${JSON.stringify(got.toString('latin1'))}`,
      );
    }
  }

  const cfg: WrkConfig = { connections, cpu: wrkCpu };
  const targets = [ours, base];
  console.log(`pythongoose bench: ${new Date().toISOString()}`);
  console.log(`  ${wrkVersion}, ${THREADS} thread, ${connections} connections, keep-alive, ${HOST} only`);
  console.log(
    `  ${duration} s per run, ${repeats === 1 ? '1 run' : `median of ${repeats} runs`}` +
      `${warmup ? `, ${WARMUP_S} s warm-up run first` : ', no warm-up'}`,
  );
  console.log(`  ${pinNote}`);
  console.log(`  node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${allowed.length} cores usable`);
  console.log(
    `  responses identical byte for byte: GET / ${captured.page.length} B, POST ${API_PATH} ${captured.api.length} B`,
  );

  interface Summary {
    scenario: string;
    rps: [number, number];
    p99: [number, number];
    sockErrors: [number, number];
    non2xx: [number, number];
  }
  const summaries: Summary[] = [];
  let trouble = false;

  for (const sc of scenarios) {
    console.log(`\n${sc.label}`);
    if (warmup) {
      for (const t of targets) {
        const r = await runWrk(cfg, t.port, sc, WARMUP_S);
        console.log(`  ${t.name.padEnd(11)} warm-up: ${describe(r)}`);
        if (errorCount(r) > 0 || r.non2xx > 0) trouble = true;
      }
    }
    const results: WrkResult[][] = [[], []];
    for (let i = 0; i < repeats; i++) {
      // Alternate who goes first so slow drift (thermal, caches) hits both alike.
      const order = i % 2 === 0 ? [0, 1] : [1, 0];
      for (const j of order) {
        const t = targets[j];
        const r = await runWrk(cfg, t.port, sc, duration);
        results[j].push(r);
        console.log(`  ${t.name.padEnd(11)} run ${i + 1}/${repeats}: ${describe(r)}`);
        if (errorCount(r) > 0 || r.non2xx > 0) trouble = true;
      }
    }
    const rps = results.map((rs) => median(rs.map((r) => r.rps))) as [number, number];
    const p99 = results.map((rs) => median(rs.map((r) => r.p99Ms))) as [number, number];
    const sockErrors = results.map((rs) => rs.reduce((a, r) => a + errorCount(r), 0)) as [number, number];
    const non2xx = results.map((rs) => rs.reduce((a, r) => a + r.non2xx, 0)) as [number, number];
    summaries.push({ scenario: sc.label, rps, p99, sockErrors, non2xx });
    console.log(
      `  => pythongoose ${fmtInt(rps[0])} req/s, p99 ${fmtMs(p99[0])} ms; ` +
        `node:http ${fmtInt(rps[1])} req/s, p99 ${fmtMs(p99[1])} ms; ` +
        `ours/node:http: throughput ${fmtRatio(rps[0] / rps[1])}, p99 ${fmtRatio(p99[0] / p99[1])}`,
    );
  }

  // A crash or traceback under load must show, not just slower numbers.
  for (const t of targets) {
    if (t.child.exitCode !== null || t.child.signalCode !== null) {
      trouble = true;
      console.log(`\nbench: WARNING: ${t.name} died during the run (${t.child.exitCode ?? t.child.signalCode})`);
    }
    const extra = t.stderr.text
      .split('\n')
      .filter((l) => l.trim() !== '' && !/\bserving\b.*\bhttp:\/\//.test(l));
    if (extra.length > 0) {
      trouble = true;
      console.log(`\nbench: ${t.name} wrote to stderr:\n${extra.map((l) => `  ${l}`).join('\n')}`);
    }
  }
  await Promise.all(targets.map(stopTarget));

  console.log(
    `\n| scenario | pythongoose req/s | node:http req/s | ratio | pythongoose p99 ms | node:http p99 ms | ratio | socket errors (ours / node) | non-2xx (ours / node) |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of summaries) {
    console.log(
      `| ${s.scenario} | ${fmtInt(s.rps[0])} | ${fmtInt(s.rps[1])} | ${fmtRatio(s.rps[0] / s.rps[1])} | ` +
        `${fmtMs(s.p99[0])} | ${fmtMs(s.p99[1])} | ${fmtRatio(s.p99[0] / s.p99[1])} | ` +
        `${s.sockErrors[0]} / ${s.sockErrors[1]} | ${s.non2xx[0]} / ${s.non2xx[1]} |`,
    );
  }
  console.log(
    `\n${wrkVersion}, -t${THREADS} -c${connections}, ${duration} s × ${repeats}${repeats > 1 ? ' (median)' : ''}; ${pinNote}; ` +
      `ratio = pythongoose / node:http; error counts summed over measured runs.`,
  );
  if (trouble) console.log('bench: WARNING: errors or non-2xx responses above; see the per-run lines');
}

main().catch((err: unknown) => die(err instanceof Error ? (err.stack ?? err.message) : String(err)));
