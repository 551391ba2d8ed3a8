// A mosquitto broker on loopback for the outbound suites (Debian's package,
// which .ci/run installs): one listener, its config written to a temp dir.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accepts } from './loopback.js';
import { waiter } from './wait.js';

const MOSQUITTO = '/usr/sbin/mosquitto';
const waitFor = waiter({ timeoutMs: 10000, everyMs: 30, retryErrors: true });

const brokers = new Set<ChildProcess>();
process.on('exit', () => {
  for (const b of brokers) b.kill('SIGKILL');
});

export class Broker {
  proc: ChildProcess | null = null;
  log = '';
  private readonly dir = mkdtempSync(join(tmpdir(), 'pg-mosquitto-'));
  /** `listener` lines follow the listener (a TLS one's cafile, certfile, keyfile). */
  constructor(
    readonly port: number,
    auth = 'allow_anonymous true\n',
    listener = '',
  ) {
    writeFileSync(join(this.dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\n${listener}${auth}persistence false\n`);
  }

  async start(): Promise<void> {
    const proc = spawn(MOSQUITTO, ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    brokers.add(proc);
    proc.stdout!.on('data', (d: Buffer) => (this.log += d));
    proc.stderr!.on('data', (d: Buffer) => (this.log += d));
    proc.on('exit', () => brokers.delete(proc));
    await waitFor(`mosquitto on ${this.port} (${this.log})`, async () => proc.exitCode === null && (await accepts(this.port)), 5000);
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
