// The embedding API: serve a Python app from a wasm guest on a TCP port.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Guest } from './guest/guest.js';
import { GUEST_HTTP_PORT } from './guest/shared.js';
import { Forwarder, type ForwarderStats } from './forwarder.js';
import { Gateway, type EgressOptions, type GatewayStats } from './gateway.js';
import { EgressRuleError, parseAllowRule } from './egress.js';
import { NetInterface } from './net/interface.js';
import { parseMac } from './net/ethernet.js';
import { parseIpv4 } from './net/ipv4.js';
import { PcapWriter } from './net/pcap.js';
import { readStaticDir, StaticDirError } from './static-files.js';
import { formatAccess, parseAccessRecords, type AccessRecord } from './access-log.js';
import { interceptHealth } from './health.js';

export { DEFAULT_APP } from './paths.js';
export type { AccessRecord } from './access-log.js';
export type { EgressOptions, GatewayStats } from './gateway.js';
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
  stats(): ForwarderStats & {
    link: { framesIn: number; framesOut: number; refused: Record<string, number> };
    outbound: GatewayStats;
  };
  /**
   * Stop accepting, let responses in progress finish (up to drainTimeoutMs;
   * idle keep-alive connections and WebSockets are closed at once), then
   * reset whatever is left and end the guest. `{ drainTimeoutMs: 0 }`: at once.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<void>;
}

const LINK = {
  hostMac: parseMac('02:00:00:00:00:02'),
  hostIp: parseIpv4('10.0.2.2'),
  guestMac: parseMac('02:00:00:00:00:0f'),
  guestIp: parseIpv4('10.0.2.15'),
  maxFrame: 1514,
};

export class AppError extends Error {}

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
  const pcap = options.pcap ? new PcapWriter(options.pcap) : null;

  let iface!: NetInterface;
  let forwarder!: Forwarder;
  let gateway!: Gateway;
  let onUp!: () => void;
  let onFirstExit!: (r: { code: number; error?: string }) => void;
  const up = new Promise<void>((resolve) => (onUp = resolve));
  const exited = new Promise<{ code: number; error?: string }>((resolve) => (onFirstExit = resolve));

  const guest = new Guest(
    {
      source,
      filename: basename(appPath),
      heapInitial: options.heapInitial ?? 1024 * 1024,
      heapMax: options.heapMax ?? 256 * 1024 * 1024,
      pystackBytes: 64 * 1024,
      gcStress: options.gcStress ?? process.env.PYTHONGOOSE_GC_STRESS === '1',
      accessLog: accessLog !== null,
      healthPath: healthPath === false ? '' : healthPath,
      limits,
      staticFiles,
    },
    {
      frame: (f) => {
        pcap?.write(f);
        iface.receive(f);
      },
      batchEnd: () => {
        forwarder.batchEnd();
        gateway.batchEnd();
      },
      output: (fd, text) => (fd === 1 ? stdout(text) : stderr(text)),
      access: (records) => {
        for (const r of parseAccessRecords(records, (port) => guest.peer(port))) accessLog?.(r);
      },
      exit: (code, error) => onFirstExit({ code, error }),
    },
    options.wasmPath,
  );
  iface = new NetInterface(
    LINK,
    {
      send: (frame, reserve) => {
        if (!guest.send(frame, reserve)) return false;
        pcap?.write(frame);
        return true;
      },
    },
    (seg, frame, dstIp) => (forwarder.owns(seg, dstIp) ? forwarder.segment(seg, frame) : gateway.segment(seg, frame, dstIp)),
    (dgram, frame, dstIp) => gateway.datagram(dgram, frame, dstIp),
  );
  const setPaused = (port: number, paused: boolean): void => guest.setPaused(port, paused);
  forwarder = new Forwarder(iface, GUEST_HTTP_PORT, setPaused, (port, socket) => {
    const addr = socket.remoteAddress ?? '';
    guest.setPeer(port, `${addr.includes(':') ? `[${addr}]` : addr}:${socket.remotePort ?? 0}`);
  });
  gateway = new Gateway(iface, egress, setPaused, (port, reason) => guest.setRefusal(port, reason), (line) => stderr(`pythongoose: ${line}\n`));
  iface.onGuestUp = () => {
    forwarder.startSyns();
    onUp();
  };

  // The app must get to mongoose.poll() (link up) or fail first.
  const started = await Promise.race([up.then(() => null), exited]);
  if (started !== null) {
    await guest.terminate();
    pcap?.close();
    const why = started.error ?? `app exited with code ${started.code} before serving`;
    throw new AppError(why);
  }

  let guestRunning = true;
  void exited.then(() => (guestRunning = false));
  const undecided = new Set<Socket>(); // connections still being checked for a health probe
  let closing: Promise<void> | null = null;
  const onConnection = (socket: Socket): void => {
    socket.allowHalfOpen = true; // a client's FIN is relayed, not answered with ours
    socket.setNoDelay(true);
    if (healthPath === false) forwarder.accept(socket);
    else interceptHealth(socket, healthPath, () => guestRunning, (s) => (closing ? s.destroy() : forwarder.accept(s)), undecided);
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
    await guest.terminate();
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
      if (drainMs > 0 && guestRunning) {
        guest.beginShutdown();
        const deadline = Date.now() + drainMs;
        while (!forwarder.drained() && guestRunning && Date.now() < deadline) await sleep(10);
      }
      forwarder.closeAll();
      gateway.closeAll();
      for (const socket of undecided) socket.destroy();
      await closed;
      await guest.terminate();
      pcap?.close();
    })());

  void exited.then((r) => {
    if (options.onExit) options.onExit(r.code, r.error);
    else stderr(`pythongoose: ${r.error ?? `app exited with code ${r.code}`}\n`);
    void close({ drainTimeoutMs: 0 });
  });
  // close() waits for client sockets; unreferenced so a finished app can exit.
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    address,
    url: `http://${host}:${address.port}`,
    exited,
    stats: () => ({ ...forwarder.stats(), link: iface.counters, outbound: gateway.stats() }),
    close,
  };
}
