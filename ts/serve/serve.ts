// serve(): a TCP listener in front of a pool of guest instances, the paths
// the host answers itself (health check, metrics), reload, and a graceful close.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Registry } from 'prom-client';
import type { ExitReport } from '../host/instance.js';
import { PcapWriter } from '../host/pcap.js';
import { HealthProbes, healthAnswer, hostPaths, interceptHealth, type HostAnswer } from './health.js';
import type { HostPaths } from '../host/inbound.js';
import { MetricsLedger, ServerMetrics } from './metrics.js';
import { AppError, resolveOptions, type Resolved, type ServeOptions } from './options.js';
import { WorkerPool, type PoolStats } from './pool.js';
import { resolveTls, TlsError, type GuestTls } from './tls.js';

export type ReloadResult = { ok: true } | { ok: false; error: string };

export interface ServerHandle {
  readonly address: AddressInfo;
  readonly url: string;
  /** The metrics endpoint's URL, if it has its own port (metrics.port). */
  readonly metricsUrl: string | null;
  /** Resolves with the guest's exit code when the app exits or crashes. */
  readonly exited: Promise<{ code: number; error?: string }>;
  /** Totals over the workers, each worker's own, and how often a crashed or stuck worker was replaced. */
  stats(): PoolStats;
  /**
   * The server's Prometheus registry (what the metrics endpoint serves).
   * Responses are counted from the guest's access records: not with
   * `accessLog: false` unless `metrics` is given. Made at start when
   * `metrics` is given, else when first read: responses count from then.
   */
  readonly metrics: Registry;
  /**
   * Read the app again and start it in new instances; once they serve, new
   * connections go to them and the old ones finish what they have (up to
   * drainTimeoutMs; idle keep-alive clients get one more response, with
   * Connection: close). A version that fails to start leaves the old one
   * serving: `{ ok: false, error }`. Not with a data volume.
   */
  reload(): Promise<ReloadResult>;
  /**
   * Stop accepting, let responses in progress finish (up to drainTimeoutMs;
   * idle keep-alive connections and WebSockets are closed at once), then
   * reset whatever is left and end the guest. `{ drainTimeoutMs: 0 }`: at once.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

const listen = (server: Server, port: number, host: string): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

const urlOf = (server: Server, scheme = 'http'): string => {
  const a = server.address() as AddressInfo;
  return `${scheme}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
};

/** Start serving; resolves once the port is bound and the app has started. */
export async function serve(options: ServeOptions = {}): Promise<ServerHandle> {
  let tls: GuestTls;
  try {
    tls = resolveTls(options.tls);
  } catch (err) {
    throw new AppError(err instanceof TlsError ? err.message : String(err));
  }
  const first = resolveOptions(options, tls);
  const { limits, workers, healthPath, hostLog, volumeLock, metricsPath } = first;
  const pcap = options.pcap ? new PcapWriter(options.pcap) : null;
  const drainMs = options.drainTimeoutMs ?? 10000;

  let ledger!: MetricsLedger; // made once the first pool exists: it reads the pool's stats
  let metrics: ServerMetrics | null = null; // made at start with options.metrics, else when first read
  let paths: HostPaths | null = null; // the host's own paths on the app's port (set once the answers are known)
  const startPool = (r: Resolved): WorkerPool => {
    const { access } = r.config;
    const pool = new WorkerPool(
      {
        ...r.config,
        pcap,
        access: (records) => {
          if (metrics !== null) for (const rec of records) metrics.record(rec);
          access?.(records);
        },
      },
      r.workers,
      () => hostLog.droppedBytes,
    );
    pool.onRetire = (s) => ledger.retire(s);
    pool.hostPaths = paths;
    return pool;
  };

  // The app must get to mongoose.poll() (link up) in every worker, or fail first.
  let pool = startPool(first);
  const heapMax = first.config.guest.heapMax;
  const draining = new Set<WorkerPool>(); // pools a reload replaced, finishing their responses
  ledger = new MetricsLedger({ stats: () => pool.stats(), heapMax });
  const registry = (): ServerMetrics => (metrics ??= new ServerMetrics(ledger, () => [...draining].reduce((n, p) => n + p.load, pool.load)));
  if (metricsPath !== null) registry();
  const failed = await pool.started();
  if (failed) {
    await pool.terminate();
    pcap?.close();
    volumeLock?.release();
    throw new AppError(failed.error ?? `app exited with code ${failed.code} before serving`);
  }

  let closing: Promise<void> | null = null;
  const answers = new Map<string, () => HostAnswer | Promise<HostAnswer>>();
  // Over TLS the host cannot read requests: the guest answers the health check itself.
  if (healthPath !== false && tls.server === null) answers.set(healthPath, () => healthAnswer(pool.healthy));
  const scrape = async (): Promise<HostAnswer> => {
    const { body, contentType } = await registry().scrape();
    return { status: '200 OK', contentType, body };
  };
  if (metricsPath !== null && options.metrics?.port === undefined) answers.set(metricsPath, scrape);
  const answer = (path: string): HostAnswer | Promise<HostAnswer> => (answers.get(path) ?? (() => healthAnswer(false)))();
  // Looked for while each client's guest connection opens: a client that sends nothing meets the guest's idle timeout.
  paths = answers.size === 0 ? null : hostPaths(new HealthProbes([...answers.keys()]), answer, limits.headerTimeoutMs);
  pool.hostPaths = paths;
  const load = (): number => [...draining].reduce((n, p) => n + p.load, pool.load);
  const onConnection = (socket: Socket): void => {
    if (load() >= limits.maxConnections) {
      ledger.connectionRefused();
      socket.destroy(); // over --max-connections: refused at once, the others unaffected
      return;
    }
    socket.allowHalfOpen = true; // a client's FIN is relayed, not answered with ours
    socket.setNoDelay(true);
    pool.dispatch(socket);
  };
  const server: Server = options.listener ?? createServer({ allowHalfOpen: true, noDelay: true });
  const ownServer = options.listener === undefined || !options.listener.listening;
  let metricsServer: Server | null = null;
  server.on('connection', onConnection);
  const host = options.host ?? '127.0.0.1';
  try {
    if (!server.listening) await listen(server, options.port ?? 8000, host);
    if (metricsPath !== null && options.metrics?.port !== undefined) {
      const only = new HealthProbes(metricsPath);
      const notFound = { status: '404 Not Found', contentType: 'text/plain', body: `the metrics are at ${metricsPath}\n` };
      metricsServer = createServer({ allowHalfOpen: true }, (socket) =>
        interceptHealth(socket, only, scrape, (s) => s.end(`HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(notFound.body)}\r\n\r\n${notFound.body}`), { idleMs: 10000, headerMs: 10000 }),
      );
      try {
        await listen(metricsServer, options.metrics.port, options.metrics.host ?? host);
      } catch (err) {
        (err as { metricsPort?: number }).metricsPort = options.metrics.port;
        throw err;
      }
    }
  } catch (err) {
    server.off('connection', onConnection);
    if (ownServer && server.listening) server.close();
    await pool.terminate();
    pcap?.close();
    volumeLock?.release();
    const e = err as NodeJS.ErrnoException & { metricsPort?: number };
    const where = e.metricsPort !== undefined ? `${options.metrics?.host ?? host}:${e.metricsPort}` : `${host}:${options.port ?? 8000}`;
    const what = e.metricsPort !== undefined ? 'metrics port' : 'port';
    throw new AppError(e.code === 'EADDRINUSE' ? `${what} ${where} is already in use` : `cannot listen on ${where}: ${e.message}`);
  }

  let onExit!: (r: ExitReport) => void;
  const exited = new Promise<ExitReport>((resolve) => (onExit = resolve));
  const close = (how?: { drainTimeoutMs?: number }): Promise<void> =>
    (closing ??= (async () => {
      pool.stopSupervising();
      server.off('connection', onConnection);
      const closed = ownServer ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      const metricsClosed = metricsServer === null ? Promise.resolve() : new Promise<void>((resolve) => metricsServer?.close(() => resolve()));
      await pool.drain(how?.drainTimeoutMs ?? drainMs);
      const terminated = Promise.all([pool, ...draining].map((p) => p.terminate()));
      await closed;
      await metricsClosed;
      await terminated;
      pcap?.close();
      volumeLock?.release(); // after the guest, and its hold on the file, ended
    })());

  // The serving pool's app exiting ends the server; a pool being drained may exit as it likes.
  const watchExit = (p: WorkerPool): void => {
    void p.exited.then((r) => {
      if (p !== pool) return;
      onExit(r);
      if (options.onExit) options.onExit(r.code, r.error);
      else hostLog.write(`pythongoose: ${r.error ?? `app exited with code ${r.code}`}\n`);
      void close({ drainTimeoutMs: 0 });
    });
  };
  watchExit(pool);

  let reloads: Promise<void> = Promise.resolve();
  const reloadOnce = async (): Promise<ReloadResult> => {
    const refuse = (error: string): ReloadResult => {
      ledger.reloaded(false);
      hostLog.write(`pythongoose: reload failed: ${error}; still serving the previous version\n`);
      return { ok: false, error };
    };
    if (closing !== null) return { ok: false, error: 'the server is closing' };
    if (volumeLock !== null) return refuse('a server with a data volume cannot reload (littlefs has one writer, and the old and new instances would overlap): restart it');
    let next: Resolved;
    try {
      next = resolveOptions(options, tls);
    } catch (err) {
      return refuse(err instanceof AppError ? err.message : String(err));
    }
    const fresh = startPool(next);
    const failure = await fresh.started();
    if (failure !== null || closing !== null) {
      await fresh.terminate();
      return failure === null ? { ok: false, error: 'the server is closing' } : refuse(failure.error ?? `app exited with code ${failure.code} before serving`);
    }
    const old = pool;
    pool = fresh;
    watchExit(fresh);
    ledger.reloaded(true, { stats: () => fresh.stats(), heapMax: next.config.guest.heapMax });
    hostLog.write(`pythongoose: reloaded ${options.app ?? 'the app'}; the previous version is finishing its responses\n`);
    draining.add(old);
    old.stopSupervising();
    void (async () => {
      await old.drain(drainMs, true);
      for (const inst of old.instances) ledger.retire(inst.stats());
      await old.terminate();
      draining.delete(old);
    })();
    return { ok: true };
  };
  // One reload at a time: one asked for while another runs starts after it.
  const reload = (): Promise<ReloadResult> => {
    const run = reloads.then(reloadOnce);
    reloads = run.then(() => {});
    return run;
  };

  const address = server.address() as AddressInfo;
  return {
    address,
    url: urlOf(server, tls.server === null ? 'http' : 'https'),
    metricsUrl: metricsServer === null ? null : `${urlOf(metricsServer)}${metricsPath}`,
    exited,
    stats: () => pool.stats(),
    get metrics() {
      return registry().registry;
    },
    reload,
    close,
  };
}
