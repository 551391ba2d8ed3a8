// The embedding API: serve a Python app from a wasm guest on a TCP port.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { GATEWAY_IP } from './guest/shared.js';
import { Instance, type ExitReport, type InstanceConfig, type InstanceStats } from './instance.js';
import type { EgressOptions } from './gateway.js';
import { EgressRuleError, parseAllowRule } from './egress.js';
import { parseMac } from './net/ethernet.js';
import { LINK_MAX_FRAME, parseIpv4 } from './net/ipv4.js';
import { PcapWriter } from './net/pcap.js';
import { readStaticDir, StaticDirError } from './static-files.js';
import { formatAccess, type AccessRecord } from './access-log.js';
import { interceptHealth } from './health.js';

export { DEFAULT_APP } from './paths.js';
export type { AccessRecord } from './access-log.js';
export type { EgressOptions, GatewayStats } from './gateway.js';
export type { InstanceStats } from './instance.js';
import { DEFAULT_APP } from './paths.js';

export interface ServeOptions {
  /** Path of the Python app (default: the seed app). */
  app?: string;
  /** Python source instead of a file; `app` then only names it in tracebacks. */
  source?: string;
  port?: number; // default 8000; 0 picks a free port
  host?: string; // default 127.0.0.1
  /**
   * Serve the connections of this net.Server instead of creating one (it is
   * listened on with port/host if it is not listening yet). close() detaches
   * from it, and closes it only if serve() started it.
   */
  listener?: Server;
  /** Write every frame on the virtual link to this pcap file. */
  pcap?: string;
  /** MicroPython heap: initial and maximum bytes (defaults 1 MiB and 256 MiB). */
  heapInitial?: number;
  heapMax?: number;
  /** Collect garbage at every safe point (for tests; also env PYTHONGOOSE_GC_STRESS=1). */
  gcStress?: boolean;
  /** Where Python's print() and tracebacks go (default: process stdout/stderr). */
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Serve this directory's files for requests no route answers (copied into the guest at start). */
  staticDir?: string;
  /** One call per response (default: a line on stderr); false turns the access log off. */
  accessLog?: ((record: AccessRecord) => void) | false;
  /** Health check path the host answers itself, never passed to Python (default '/healthz'; false: none). */
  healthPath?: string | false;
  /** Limits on Python and on clients (see Limits for the defaults). */
  limits?: Limits;
  /**
   * Guest instances, each in its own worker thread with its own Python heap,
   * sharing the listening port; connections go to the least loaded (default 1).
   */
  workers?: number;
  /** Outbound connections from Python (MQTT, HTTP client): denied unless `allow` names them. */
  egress?: EgressOptions;
  /** How long close() waits for responses in progress (default 10,000 ms). */
  drainTimeoutMs?: number;
  /** The app exited or the guest crashed (default: log to stderr). */
  onExit?: (code: number, error?: string) => void;
  /** Path of the guest .wasm (default: the built one). */
  wasmPath?: string;
}

export interface Limits {
  /** Wall time one Python callback may run before it is interrupted (503); default 1000 ms, 0: none. */
  cpuBudgetMs?: number;
  /** Largest request body; larger ones get 413 without being read (default 8 MiB). */
  maxBody?: number;
  /** A request's head must arrive within this (else 408); default 10,000 ms. */
  headerTimeoutMs?: number;
  /** A keep-alive connection with no request in progress is closed after this; default 60,000 ms. */
  idleTimeoutMs?: number;
  /** Client connections at once; beyond it new ones are refused at once (default 10,000). */
  maxConnections?: number;
}

export const DEFAULT_LIMITS: Required<Limits> = {
  cpuBudgetMs: 1000,
  maxBody: 8 * 1024 * 1024,
  headerTimeoutMs: 10000,
  idleTimeoutMs: 60000,
  maxConnections: 10000,
};

export interface ServerHandle {
  readonly address: AddressInfo;
  readonly url: string;
  /** Resolves with the guest's exit code when the app exits or crashes. */
  readonly exited: Promise<{ code: number; error?: string }>;
  /** Totals over the workers, each worker's own, and how often a crashed or stuck worker was replaced. */
  stats(): InstanceStats & { workers: InstanceStats[]; restarts: { count: number; lastMs: number } };
  /**
   * Stop accepting, let responses in progress finish (up to drainTimeoutMs;
   * idle keep-alive connections and WebSockets are closed at once), then
   * reset whatever is left and end the guest. `{ drainTimeoutMs: 0 }`: at once.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

const LINK = {
  hostMac: parseMac('02:00:00:00:00:02'),
  hostIp: GATEWAY_IP,
  guestMac: parseMac('02:00:00:00:00:0f'),
  guestIp: parseIpv4('10.0.2.15'),
  maxFrame: LINK_MAX_FRAME,
};

export class AppError extends Error {}

/**
 * The Python stack: exhausted (RuntimeError, a 500) before deep recursion
 * overflows the worker's native stack (a trap, and a restart). Node's worker
 * threads have room for about 1,300 nested calls; Deno's and Bun's native
 * stacks are smaller and fixed, so there it is about 330.
 */
const PYSTACK_BYTES = 'Deno' in globalThis || 'Bun' in globalThis ? 16 * 1024 : 64 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Start serving; resolves once the port is bound and the app has started. */
export async function serve(options: ServeOptions = {}): Promise<ServerHandle> {
  const appPath = options.app ?? DEFAULT_APP;
  let source = options.source;
  if (source === undefined) {
    try {
      source = readFileSync(appPath, 'utf8');
    } catch (err) {
      throw new AppError(`cannot read app ${appPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  const stdout = options.stdout ?? ((t: string) => process.stdout.write(t));
  const stderr = options.stderr ?? ((t: string) => process.stderr.write(t));
  let staticFiles: ReturnType<typeof readStaticDir> = [];
  if (options.staticDir !== undefined) {
    try {
      staticFiles = readStaticDir(options.staticDir);
    } catch (err) {
      throw new AppError(err instanceof StaticDirError ? err.message : String(err));
    }
  }
  const accessLog = options.accessLog === false ? null : options.accessLog ?? ((r: AccessRecord) => stderr(formatAccess(r)));
  const healthPath = options.healthPath ?? '/healthz';
  if (healthPath !== false && !/^\/[!-~]*$/.test(healthPath)) {
    throw new AppError(`health path must start with / and have no spaces: ${healthPath}`);
  }
  const egress = options.egress ?? {};
  try {
    for (const rule of egress.allow ?? []) parseAllowRule(rule);
  } catch (err) {
    throw new AppError(err instanceof EgressRuleError ? err.message : String(err));
  }
  for (const [name, value] of Object.entries({ maxConnections: egress.maxConnections, connectTimeoutMs: egress.connectTimeoutMs, idleTimeoutMs: egress.idleTimeoutMs })) {
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) throw new AppError(`egress.${name} must be a positive integer (got ${value})`);
  }
  if ((egress.connectTimeoutMs ?? 0) >= 15000) throw new AppError('egress.connectTimeoutMs must be under 15,000 (the guest gives up at 15 s)');
  const limits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(options.limits ?? {})) if (value !== undefined) limits[name as keyof Limits] = value;
  for (const [name, value] of Object.entries(limits)) {
    const min = name === 'maxConnections' ? 1 : 0;
    if (!(Number.isInteger(value) && value >= min && value <= 0xffffffff)) throw new AppError(`limits.${name} must be an integer >= ${min} (got ${value})`);
  }
  const workers = options.workers ?? 1;
  if (!(Number.isInteger(workers) && workers >= 1 && workers <= 64)) throw new AppError(`workers must be 1-64 (got ${workers})`);
  if (options.pcap && workers > 1) throw new AppError('pcap needs a single worker (each worker has its own link)');
  const pcap = options.pcap ? new PcapWriter(options.pcap) : null;

  const config: InstanceConfig = {
    guest: {
      source,
      filename: basename(appPath),
      heapInitial: options.heapInitial ?? 1024 * 1024,
      heapMax: options.heapMax ?? 256 * 1024 * 1024,
      pystackBytes: PYSTACK_BYTES,
      gcStress: options.gcStress ?? process.env.PYTHONGOOSE_GC_STRESS === '1',
      accessLog: accessLog !== null,
      healthPath: healthPath === false ? '' : healthPath,
      limits,
      staticFiles,
    },
    link: LINK,
    egress,
    wasmPath: options.wasmPath,
    pcap,
    stdout,
    stderr,
    accessLog,
    // The budget interrupts Python code; silence well beyond it means C code that cannot be interrupted.
    stuckAfterMs: limits.cpuBudgetMs > 0 ? limits.cpuBudgetMs + 2000 : 0,
  };

  // The app must get to mongoose.poll() (link up) in every worker, or fail first.
  const instances = Array.from({ length: workers }, () => new Instance(config));
  const started = await Promise.all(instances.map((inst) => Promise.race([inst.up.then(() => null), inst.exited])));
  const failed = started.find((r) => r !== null);
  if (failed) {
    await Promise.all(instances.map((inst) => inst.terminate()));
    pcap?.close();
    throw new AppError(failed.error ?? `app exited with code ${failed.code} before serving`);
  }

  let onAppExit!: (r: ExitReport) => void;
  const exited = new Promise<ExitReport>((resolve) => (onAppExit = resolve));
  const restarts = { count: 0, lastMs: 0, failedInARow: 0 };
  let closing: Promise<void> | null = null;

  // A crashed or stuck guest is replaced; an app that exits ends the server.
  const supervise = (slot: number, inst: Instance): void => {
    void inst.exited.then(async (r) => {
      if (closing) return;
      if (r.error === undefined) {
        onAppExit(r);
        return;
      }
      const t0 = Date.now();
      stderr(`pythongoose: worker ${slot}: ${r.error}; its connections were reset, starting a fresh instance\n`);
      // Clients the dead guest never accepted are served by the next one.
      waiting.push(...inst.forwarder.takeUnaccepted());
      inst.resetConnections();
      void inst.terminate();
      const backoff = Math.min(5000, restarts.failedInARow === 0 ? 0 : 100 * 2 ** restarts.failedInARow);
      if (backoff > 0) await sleep(backoff);
      if (closing) return;
      const next = new Instance(config);
      instances[slot] = next;
      supervise(slot, next);
      for (const socket of waiting.splice(0)) dispatch(socket);
      const up = await Promise.race([next.up.then(() => true), next.exited.then(() => false)]);
      if (up) {
        restarts.count++;
        restarts.lastMs = Date.now() - t0;
        restarts.failedInARow = 0;
      } else if (++restarts.failedInARow >= 5) {
        onAppExit({ code: 70, error: `worker ${slot} failed to restart 5 times in a row: ${r.error}` });
      }
    });
  };
  instances.forEach((inst, slot) => supervise(slot, inst));

  // Least-loaded dispatch among the instances that are running.
  const pick = (): Instance => {
    let best = instances[0];
    for (const inst of instances) if ((inst.running && !best.running) || (inst.running === best.running && inst.load < best.load)) best = inst;
    return best;
  };
  const totalLoad = (): number => instances.reduce((n, inst) => n + inst.load, 0);
  const undecided = new Set<Socket>(); // connections still being checked for a health probe
  const waiting: Socket[] = []; // clients held while no instance is running (a restart backs off)
  const dispatch = (socket: Socket): void => {
    if (closing || socket.destroyed) socket.destroy();
    else if (!instances.some((inst) => inst.running)) waiting.push(socket);
    else pick().accept(socket);
  };
  const onConnection = (socket: Socket): void => {
    if (totalLoad() + undecided.size + waiting.length >= limits.maxConnections) {
      socket.destroy(); // over --max-connections: refused at once, the others unaffected
      return;
    }
    socket.allowHalfOpen = true; // a client's FIN is relayed, not answered with ours
    socket.setNoDelay(true);
    if (healthPath === false) dispatch(socket);
    else
      interceptHealth(socket, healthPath, () => instances.some((inst) => inst.healthy), dispatch, undecided, {
        idleMs: limits.idleTimeoutMs, // a client that sends nothing: as the guest treats an idle connection
        headerMs: limits.headerTimeoutMs,
      });
  };
  const server: Server = options.listener ?? createServer({ allowHalfOpen: true, noDelay: true });
  const ownServer = options.listener === undefined || !options.listener.listening;
  server.on('connection', onConnection);
  try {
    if (!server.listening) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 8000, options.host ?? '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
  } catch (err) {
    server.off('connection', onConnection);
    closing = Promise.resolve();
    await Promise.all(instances.map((inst) => inst.terminate()));
    pcap?.close();
    const e = err as NodeJS.ErrnoException;
    const where = `${options.host ?? '127.0.0.1'}:${options.port ?? 8000}`;
    throw new AppError(e.code === 'EADDRINUSE' ? `port ${where} is already in use` : `cannot listen on ${where}: ${e.message}`);
  }

  const close = (how?: { drainTimeoutMs?: number }): Promise<void> =>
    (closing ??= (async () => {
      server.off('connection', onConnection);
      const closed = ownServer ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      const drainMs = how?.drainTimeoutMs ?? options.drainTimeoutMs ?? 10000;
      const live = instances.filter((inst) => inst.running);
      if (drainMs > 0 && live.length > 0) {
        for (const inst of live) inst.beginShutdown();
        const deadline = Date.now() + drainMs;
        while (live.some((inst) => inst.running && !inst.drained()) && Date.now() < deadline) await sleep(10);
      }
      for (const inst of instances) inst.resetConnections();
      for (const socket of [...undecided, ...waiting.splice(0)]) socket.destroy();
      await closed;
      await Promise.all(instances.map((inst) => inst.terminate()));
      pcap?.close();
    })());

  void exited.then((r) => {
    if (options.onExit) options.onExit(r.code, r.error);
    else stderr(`pythongoose: ${r.error ?? `app exited with code ${r.code}`}\n`);
    void close({ drainTimeoutMs: 0 });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    address,
    url: `http://${host}:${address.port}`,
    exited,
    stats: () => {
      const each = instances.map((inst) => inst.stats());
      return { ...sumStats(each), workers: each, restarts: { count: restarts.count, lastMs: restarts.lastMs } };
    },
    close,
  };
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
