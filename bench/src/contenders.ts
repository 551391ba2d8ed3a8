// The servers the benchmark compares, all serving bench/app.py's handler (or,
// for node:http and node:net, the same bytes from JS), and how to start them.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { HOST, die, request, sleep, track } from './procs.js';

export interface Contender {
  id: string;
  label: string;
  /** Answers only GET / (the raw node:net ceiling). */
  getOnly: boolean;
  /** Serves HTTPS only (readiness is checked over TLS). */
  tls?: boolean;
  /** Command line for a server of `app` (a Python file) on `port`. */
  command(port: number, app: string): { cmd: string; args: string[]; env?: NodeJS.ProcessEnv };
}

/** How a pythongoose-only section of the bench runs (files, operations, HTTPS). */
export interface SectionRun {
  pythongoose: Contender;
  serverCpu: number | null;
  wrkCpu: number | null;
  seconds: number;
  runs: number;
  warmup: boolean;
}

export interface Paths {
  root: string;
  serverJs: string;
  app: string;
  native: string;
}

export function contenders(p: Paths): Contender[] {
  const script = (name: string) => (port: number, app: string) => ({
    cmd: process.execPath,
    args: [join(p.root, 'bench', 'contenders', `${name}.mjs`), '--port', String(port), '--host', HOST, '--app', app],
  });
  return [
    {
      id: 'pythongoose',
      label: 'pythongoose',
      getOnly: false,
      command: (port, app) => ({ cmd: process.execPath, args: [p.serverJs, app, '--port', String(port), '--host', HOST, '--quiet'] }),
    },
    { id: 'node-http', label: 'node:http', getOnly: false, command: script('node-http') },
    { id: 'node-net', label: 'node:net (ceiling)', getOnly: true, command: script('node-net') },
    { id: 'pyodide', label: 'Pyodide in node:http', getOnly: false, command: script('pyodide') },
    { id: 'micropython-wasm', label: 'MicroPython-wasm in node:http', getOnly: false, command: script('micropython-wasm') },
    {
      id: 'native',
      label: 'native (unix port + Mongoose)',
      getOnly: false,
      command: (port, app) => ({
        cmd: p.native,
        args: [app],
        env: { ...process.env, PYTHONGOOSE_LISTEN: `http://${HOST}:${port}` },
      }),
    },
  ];
}

export interface Running {
  contender: Contender;
  port: number;
  child: ChildProcess;
  stderr: { text: string };
  /** Process start to the first 200 for GET /, ms. */
  startMs: number;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

/** Start a server of `app` (pinned to `cpu` if given) and wait for its first 200. */
export async function start(c: Contender, port: number, cpu: number | null, app: string): Promise<Running> {
  const { cmd, args, env } = c.command(port, app);
  const [file, argv] = cpu === null ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
  const t0 = performance.now();
  const child = track(spawn(file, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env }));
  const stderr = { text: '' };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr.text = (stderr.text + d).slice(-8192);
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      die(`${c.label} exited during start-up (${child.exitCode ?? child.signalCode}):\n${stderr.text}`);
    }
    try {
      const r = await request(port, 'GET', '/', '', 2000, [], c.tls);
      if (r.status === 200) return { contender: c, port, child, stderr, startMs: performance.now() - t0 };
      last = `status ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(2);
  }
  die(`${c.label} not answering on ${HOST}:${port} after ${START_TIMEOUT_MS / 1000} s (${last}):\n${stderr.text}`);
}

export async function stop(r: Running): Promise<void> {
  const { child } = r;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((res) => child.once('exit', () => res()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await gone;
  clearTimeout(timer);
}

export function alive(r: Running): boolean {
  return r.child.exitCode === null && r.child.signalCode === null;
}
