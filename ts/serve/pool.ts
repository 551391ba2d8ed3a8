// The guest instances behind one port: least-loaded dispatch, and
// supervision: a crashed or stuck instance is replaced (with backoff), the
// clients it never accepted move to the next; an app that exits ends it all.
import type { Socket } from 'node:net';
import { EXIT_GUEST_FAILED } from '../guest/abi.js';
import { Instance, type ExitReport, type InstanceConfig, type InstanceStats } from '../host/instance.js';
import type { HostPaths } from '../host/inbound.js';
import { RateLimitedLog } from '../host/log.js';

export type PoolStats = InstanceStats & {
  workers: InstanceStats[];
  restarts: { count: number; lastMs: number };
  /** Host log lines dropped while stderr was not being read (bytes), and restart lines rate-limited away. */
  hostLog: { droppedBytes: number; suppressedLines: number };
};

/** Negative when `a` should take the next client before `b`. */
function rank(a: Instance, b: Instance): number {
  if (a.running !== b.running) return a.running ? -1 : 1;
  if (a.stalled !== b.stalled) return a.stalled ? 1 : -1;
  if (a.load !== b.load) return a.load - b.load;
  return Number(a.busy) - Number(b.busy);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class WorkerPool {
  readonly instances: Instance[];
  /** Resolves when the app exits (or restarts keep failing). */
  readonly exited: Promise<ExitReport>;
  private onAppExit!: (r: ExitReport) => void;
  private readonly restarts = { count: 0, lastMs: 0, failedInARow: 0 };
  /** The paths the host answers itself, looked for in each client's first bytes. */
  hostPaths: HostPaths | null = null;
  private readonly waiting: Socket[] = []; // clients held while no instance is running (a restart backs off)
  private closing = false;
  private readonly log: RateLimitedLog;
  /** Called with an instance's last stats when it is replaced (its counters stay counted). */
  onRetire: (stats: InstanceStats) => void = () => {};

  constructor(
    private readonly config: InstanceConfig,
    workers: number,
    private readonly hostLogDropped: () => number = () => 0,
  ) {
    this.instances = Array.from({ length: workers }, (_, slot) => new Instance(config, slot));
    this.log = new RateLimitedLog((line) => config.log(`pythongoose: ${line}\n`));
    this.exited = new Promise<ExitReport>((resolve) => (this.onAppExit = resolve));
  }

  /** Wait until the app polls with its link up in every instance; null, or the first failure. */
  async started(): Promise<ExitReport | null> {
    const started = await Promise.all(this.instances.map((inst) => Promise.race([inst.up.then(() => null), inst.exited])));
    const failed = started.find((r) => r !== null) ?? null;
    if (failed === null) this.instances.forEach((inst, slot) => this.supervise(slot, inst));
    return failed;
  }

  /** Connections the instances serve and the clients held for them. */
  get load(): number {
    return this.instances.reduce((n, inst) => n + inst.load, 0) + this.waiting.length;
  }

  get healthy(): boolean {
    return this.instances.some((inst) => inst.healthy);
  }

  dispatch(socket: Socket): void {
    if (this.closing || socket.destroyed) socket.destroy();
    else if (!this.instances.some((inst) => inst.running)) {
      socket.pause(); // until an instance takes it (Inbound.accept resumes it)
      this.waiting.push(socket);
    } else this.pick().accept(socket, this.hostPaths);
  }

  stats(): PoolStats {
    const each = this.instances.map((inst) => inst.stats());
    return {
      ...sumStats(each),
      workers: each,
      restarts: { count: this.restarts.count, lastMs: this.restarts.lastMs },
      hostLog: { droppedBytes: this.hostLogDropped(), suppressedLines: this.log.suppressedTotal },
    };
  }

  /** Stop replacing instances; clients still held are dropped. */
  stopSupervising(): void {
    this.closing = true;
  }

  /** Let responses in progress finish, for up to drainMs (handover: a reload's, see Guest.beginShutdown). */
  async drain(drainMs: number, handover = false): Promise<void> {
    const live = this.instances.filter((inst) => inst.running);
    if (drainMs <= 0 || live.length === 0) return;
    for (const inst of live) inst.beginShutdown(handover);
    const deadline = Date.now() + drainMs;
    while (live.some((inst) => inst.running && !inst.drained()) && Date.now() < deadline) await sleep(10);
  }

  /** Reset every connection and the held clients, end every guest. */
  async terminate(): Promise<void> {
    this.closing = true;
    this.log.flush();
    for (const inst of this.instances) inst.resetConnections();
    for (const socket of this.waiting.splice(0)) socket.destroy();
    await Promise.all(this.instances.map((inst) => inst.terminate()));
  }

  /** A running instance before one restarting, one answering before a stalled one, then the least loaded, then an idle one. */
  private pick(): Instance {
    let best = this.instances[0];
    for (const inst of this.instances) if (rank(inst, best) < 0) best = inst;
    return best;
  }

  // A crashed or stuck guest is replaced; an app that exits ends the server.
  private supervise(slot: number, inst: Instance): void {
    const { restarts } = this;
    void inst.exited.then(async (r) => {
      if (this.closing) return;
      if (r.error === undefined) {
        this.onAppExit(r);
        return;
      }
      const t0 = Date.now();
      this.log.line(`worker ${slot}: ${r.error}; its connections were reset, starting a fresh instance`);
      // Clients the dead guest never accepted are served by the next one.
      this.waiting.push(...inst.router.inbound.takeUnaccepted());
      inst.resetConnections();
      this.onRetire(inst.stats());
      void inst.terminate();
      const backoff = Math.min(5000, restarts.failedInARow === 0 ? 0 : 100 * 2 ** restarts.failedInARow);
      if (backoff > 0) await sleep(backoff);
      if (this.closing) return;
      const next = new Instance(this.config, slot);
      this.instances[slot] = next;
      this.supervise(slot, next);
      for (const socket of this.waiting.splice(0)) this.dispatch(socket);
      const up = await Promise.race([next.up.then(() => true), next.exited.then(() => false)]);
      if (up) {
        restarts.count++;
        restarts.lastMs = Date.now() - t0;
        restarts.failedInARow = 0;
      } else if (++restarts.failedInARow >= 5) {
        this.onAppExit({ code: EXIT_GUEST_FAILED, error: `worker ${slot} failed to restart 5 times in a row: ${r.error}` });
      }
    });
  }
}

/** Totals over the workers' stats: numbers added, records merged key by key. */
function sumStats<T>(all: T[]): T {
  const add = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
      for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? add(out[k], v) : v;
      return out;
    }
    return a;
  };
  return all.slice(1).reduce((acc, s) => add(acc, s) as T, all[0]);
}
