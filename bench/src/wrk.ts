// Running wrk and reading its report: throughput, latency percentiles, errors.
import { spawn } from 'node:child_process';
import { track } from './procs.js';

export interface WrkResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Socket errors: connect, read, write, timeout. */
  errors: number;
  non2xx: number;
}

export interface WrkRun {
  url: string;
  connections: number;
  seconds: number;
  /** wrk Lua script file (method, body, headers), or none for a plain GET. */
  lua?: string;
  headers?: string[];
  /** Pin wrk to this CPU (taskset), or run it anywhere. */
  cpu: number | null;
}

/** A wrk run gets this long beyond its duration before it is killed. */
const GRACE_MS = 20_000;

function parseTime(value: string, unit: string): number {
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const k = scale[unit];
  if (k === undefined) throw new Error(`unknown wrk time unit ${unit}`);
  return Number(value) * k;
}

export function parseWrk(out: string): WrkResult {
  const rps = out.match(/^Requests\/sec:\s+([\d.]+)/m);
  const p50 = out.match(/^\s+50%\s+([\d.]+)(us|ms|s|m|h)\s*$/m);
  const p99 = out.match(/^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$/m);
  const reqs = out.match(/^\s+(\d+) requests in /m);
  if (!rps || !reqs) throw new Error(`cannot read wrk's output:\n${out}`);
  const sock = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non2xx = out.match(/Non-2xx or 3xx responses: (\d+)/);
  return {
    rps: Number(rps[1]),
    // No latency lines when no request completed.
    p50Ms: p50 ? parseTime(p50[1], p50[2]) : NaN,
    p99Ms: p99 ? parseTime(p99[1], p99[2]) : NaN,
    requests: Number(reqs[1]),
    errors: sock ? sock.slice(1, 5).reduce((a, n) => a + Number(n), 0) : 0,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
  };
}

export function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = ['-t1', `-c${run.connections}`, `-d${run.seconds}s`, '--latency'];
  for (const h of run.headers ?? []) args.push('-H', h);
  if (run.lua !== undefined) args.push('-s', run.lua);
  args.push(run.url);
  const [cmd, argv] = run.cpu === null ? ['wrk', args] : ['taskset', ['-c', String(run.cpu), 'wrk', ...args]];
  return new Promise((resolve, reject) => {
    const child = track(spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => (out += d));
    child.stderr?.on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), run.seconds * 1000 + GRACE_MS);
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
