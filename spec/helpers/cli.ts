// Test helpers: the CLI as a user runs it (node dist/server.js ...), as a child process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './server.js';

export const SERVER = join(ROOT, 'dist', 'server.js');

/** Run the CLI to its end. */
export function runCli(args: string[], timeoutMs = 30000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SERVER, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface RunningCli {
  child: ChildProcess;
  url: string;
  port: number;
  /** What it wrote so far ('' while its stdout is held). */
  stdout: () => string;
  stderr: () => string;
}

/**
 * Start the CLI on a free port and wait for its "serving ... on URL" line.
 * The access log is off unless accessLog; with stdout 'held' its stdout is a
 * pipe nobody reads (child.stdout, paused) until the test says so.
 */
export function startCli(args: string[], { accessLog = false, stdout = 'read' }: { accessLog?: boolean; stdout?: 'read' | 'held' } = {}): Promise<RunningCli> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SERVER, '--port', '0', ...(accessLog ? [] : ['--quiet']), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    if (stdout === 'held') child.stdout!.pause();
    else child.stdout!.on('data', (d: Buffer) => (out += d));
    const timer = setTimeout(() => reject(new Error(`no start: ${err}`)), 20000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
      const m = /serving .* on (https?:\/\/[^:]+:(\d+))/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], port: Number(m[2]), stdout: () => out, stderr: () => err });
      }
    });
    // Left attached once started (rejecting a settled promise does nothing): under Deno (2.9) removing a
    // child's 'exit' listeners takes its own with them, and the exit of a later kill never arrives.
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited early: ${err}`));
    });
  });
}

/**
 * Stop it with a signal and wait for its exit code. Not child.kill(): Deno
 * (2.9) then reports exit (null, 'SIGTERM') even when the child handles the
 * signal and exits 0.
 */
export function stopCli(r: RunningCli, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return new Promise((resolve) => {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve(r.child.exitCode);
    r.child.on('exit', (code) => resolve(code));
    process.kill(r.child.pid!, signal);
  });
}
