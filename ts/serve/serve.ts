// serve(): a TCP listener in front of a pool of guest instances, the health
// check answered on the host, and a graceful close.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PcapWriter } from '../host/pcap.js';
import { HealthProbes, interceptHealth } from './health.js';
import { AppError, resolveOptions, type ServeOptions } from './options.js';
import { WorkerPool, type PoolStats } from './pool.js';

export interface ServerHandle {
  readonly address: AddressInfo;
  readonly url: string;
  /** Resolves with the guest's exit code when the app exits or crashes. */
  readonly exited: Promise<{ code: number; error?: string }>;
  /** Totals over the workers, each worker's own, and how often a crashed or stuck worker was replaced. */
  stats(): PoolStats;
  /**
   * Stop accepting, let responses in progress finish (up to drainTimeoutMs;
   * idle keep-alive connections and WebSockets are closed at once), then
   * reset whatever is left and end the guest. `{ drainTimeoutMs: 0 }`: at once.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

/** Start serving; resolves once the port is bound and the app has started. */
export async function serve(options: ServeOptions = {}): Promise<ServerHandle> {
  const { config, limits, workers, healthPath, hostLog, volumeLock } = resolveOptions(options);
  const pcap = options.pcap ? new PcapWriter(options.pcap) : null;

  // The app must get to mongoose.poll() (link up) in every worker, or fail first.
  const pool = new WorkerPool({ ...config, pcap }, workers, () => hostLog.droppedBytes);
  const failed = await pool.started();
  if (failed) {
    await pool.terminate();
    pcap?.close();
    volumeLock?.release();
    throw new AppError(failed.error ?? `app exited with code ${failed.code} before serving`);
  }

  let closing: Promise<void> | null = null;
  const undecided = new Set<Socket>(); // connections still being checked for a health probe
  const dispatch = (socket: Socket, head?: Buffer): void => pool.dispatch(socket, head);
  const probes = healthPath === false ? null : new HealthProbes(healthPath);
  const onConnection = (socket: Socket): void => {
    if (pool.load + undecided.size >= limits.maxConnections) {
      socket.destroy(); // over --max-connections: refused at once, the others unaffected
      return;
    }
    socket.allowHalfOpen = true; // a client's FIN is relayed, not answered with ours
    socket.setNoDelay(true);
    if (probes === null) dispatch(socket);
    else
      interceptHealth(socket, probes, () => pool.healthy, dispatch, undecided, {
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
    await pool.terminate();
    pcap?.close();
    volumeLock?.release();
    const e = err as NodeJS.ErrnoException;
    const where = `${options.host ?? '127.0.0.1'}:${options.port ?? 8000}`;
    throw new AppError(e.code === 'EADDRINUSE' ? `port ${where} is already in use` : `cannot listen on ${where}: ${e.message}`);
  }

  const close = (how?: { drainTimeoutMs?: number }): Promise<void> =>
    (closing ??= (async () => {
      pool.stopSupervising();
      server.off('connection', onConnection);
      const closed = ownServer ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      await pool.drain(how?.drainTimeoutMs ?? options.drainTimeoutMs ?? 10000);
      for (const socket of undecided) socket.destroy();
      const terminated = pool.terminate();
      await closed;
      await terminated;
      pcap?.close();
      volumeLock?.release(); // after the guest, and its hold on the file, ended
    })());

  void pool.exited.then((r) => {
    if (options.onExit) options.onExit(r.code, r.error);
    else hostLog.write(`pythongoose: ${r.error ?? `app exited with code ${r.code}`}\n`);
    void close({ drainTimeoutMs: 0 });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    address,
    url: `http://${host}:${address.port}`,
    exited: pool.exited,
    stats: () => pool.stats(),
    close,
  };
}
