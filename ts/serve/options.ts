// serve()'s options: their types, defaults and checks, and what they resolve
// to for each guest instance. Bad options are an AppError with one message.
import { readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Server } from 'node:net';
import { GUEST_MEMORY_LIMIT, GUEST_MEMORY_MARGIN, WASM_PAGE, type StaticFile, type VolumeInit } from '../guest/abi.js';
import { PACKAGE_ROOT } from '../guest/paths.js';
import { EgressRuleError, parseAllowRule } from '../host/egress.js';
import type { InstanceConfig, TextSink } from '../host/instance.js';
import type { EgressOptions } from '../host/outbound.js';
import type { PcapWriter } from '../host/pcap.js';
import { LINK } from '../net/link.js';
import { formatAccess, formatAccessJson, formatMessageJson, type AccessRecord } from './access-log.js';
import { checkEnvironment, EnvironmentError, Redactor } from './environment.js';
import { callbackSink, HostLog, stdOut, streamSink } from './output.js';
import { BundleError, bundleFromFiles, DEFAULT_APP_MAX, readBundleDir, type AppBundle } from './bundle.js';
import { readTree, TreeError } from './tree.js';
import { prepareVolume, VolumeError, VolumeLock } from './volume.js';
import type { GuestTls, TlsOptions } from './tls.js';

/** Refuse --static directories that would not fit comfortably in a guest. */
export const MAX_STATIC_BYTES = 512 * 1024 * 1024;

/** The app served when none is named: the seed's main.py. */
export const DEFAULT_APP = join(PACKAGE_ROOT, 'examples', 'seed', 'main.py');

export interface ServeOptions {
  /**
   * Path of the Python app (default: the seed app): a .py file, or a
   * directory (a bundle) whose main.py runs, every file of it readable under
   * /app and its modules importable.
   */
  app?: string;
  /** Python source instead of a file; `app` then only names it in tracebacks. */
  source?: string;
  /** The app as a bundle given in memory: paths relative to /app ('main.py', 'lib/util.py') to contents. */
  files?: Readonly<Record<string, string | Uint8Array>>;
  /** The most bytes of files a bundle may hold (default 16 MiB). */
  appMax?: number;
  /**
   * A file holding the data volume mounted read-write at /data (littlefs),
   * created on first use with dataSize bytes (default 16 MiB). A file that
   * holds no littlefs is refused unless dataFormat. One server at a time.
   */
  data?: string;
  dataSize?: number;
  dataFormat?: boolean;
  /** Variables for Python's os.environ and os.getenv: nothing else of the host's environment reaches it. */
  env?: Readonly<Record<string, string>>;
  /**
   * Variables as env, whose values the host never writes: in Python's output,
   * the access log and its own messages they become `[secret NAME]`. Not in stats().
   */
  secrets?: Readonly<Record<string, string>>;
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
  /**
   * Where Python's print() and tracebacks go (default: process stdout/stderr).
   * Return a promise to hold the guest's output until it settles: past 1 MiB
   * in flight the guest waits, and drops (and counts, stats().outputDropped)
   * what it prints while the promises make no progress for a second
   * (time a callback spends waiting counts against its CPU budget).
   */
  stdout?: (text: string) => unknown;
  stderr?: (text: string) => unknown;
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
  /**
   * TLS inside the guest: with `cert` and `key` the port serves HTTPS only (the key is
   * parsed and kept in guest memory); `ca` replaces the system CA bundle that
   * outbound https:// and mqtts:// verify against. Read once: a reload keeps them.
   */
  tls?: TlsOptions;
  /**
   * Prometheus metrics, answered by the host (never by Python): at `path`
   * (default '/metrics') on the server's own port, or on a port of their own
   * (`port`, on `host`, default the server's host) so they need not be public.
   */
  metrics?: { path?: string; port?: number; host?: string };
  /** The default access log's and the host messages' format: text lines, or one JSON object a line. */
  logFormat?: 'text' | 'json';
  /** How long close() and a reload wait for responses in progress (default 10,000 ms). */
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
  /**
   * Bytes waiting in one connection's guest send buffer (Mongoose's c->send)
   * past which a send is refused (default 1 MiB; 0: none): a WebSocket is
   * closed with 1013 and ws.send() returns False, an event stream is ended and
   * EventStream.send() returns False; streamed bodies wait for the client as before.
   */
  maxSendBuffer?: number;
}

export const DEFAULT_LIMITS: Required<Limits> = {
  cpuBudgetMs: 1000,
  maxBody: 8 * 1024 * 1024,
  headerTimeoutMs: 10000,
  idleTimeoutMs: 60000,
  maxConnections: 10000,
  maxSendBuffer: 1024 * 1024,
};

export class AppError extends Error {}

/**
 * The Python stack: exhausted (RuntimeError, a 500) before deep recursion
 * overflows the worker's native stack (a trap, and a restart). Node's worker
 * threads have room for about 1,300 nested calls; Deno's and Bun's native
 * stacks are smaller and fixed, so there it is about 330.
 */
const PYSTACK_BYTES = 'Deno' in globalThis || 'Bun' in globalThis ? 16 * 1024 : 64 * 1024;

/** What serve() runs with once its options are checked. */
export interface Resolved {
  /** Every instance's configuration, the pcap writer left for serve() to open. */
  config: Omit<InstanceConfig, 'pcap'>;
  limits: Required<Limits>;
  workers: number;
  healthPath: string | false;
  /** Where the host answers the metrics (null: nowhere). */
  metricsPath: string | null;
  /** The host's own messages and the default access log (stderr, bounded). */
  hostLog: HostLog;
  /** Held while the data volume is in use (null: none). */
  volumeLock: VolumeLock | null;
}

/** The app as options name it: one file's source, or a bundle. */
function readApp(options: ServeOptions, appPath: string): { source: string; filename: string; bundle: AppBundle | null } {
  const appMax = options.appMax ?? DEFAULT_APP_MAX;
  if (!(Number.isInteger(appMax) && appMax > 0)) throw new AppError(`appMax must be a positive integer (got ${appMax})`);
  try {
    if (options.files !== undefined) {
      if (options.source !== undefined) throw new AppError('give the app as source or as files, not both');
      const bundle = bundleFromFiles(options.files, appMax);
      return { source: bundle.source, filename: 'main.py', bundle };
    }
    if (options.source !== undefined) return { source: options.source, filename: basename(appPath), bundle: null };
    try {
      if (statSync(appPath).isDirectory()) {
        const bundle = readBundleDir(appPath, appMax);
        return { source: bundle.source, filename: 'main.py', bundle };
      }
      return { source: readFileSync(appPath, 'utf8'), filename: basename(appPath), bundle: null };
    } catch (err) {
      if (err instanceof BundleError) throw err;
      throw new AppError(`cannot read app ${appPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  } catch (err) {
    throw err instanceof BundleError ? new AppError(err.message) : err;
  }
}

/** Check the options, read the app and the static files; throws AppError. `tls`: options.tls, resolved once by serve(). */
export function resolveOptions(options: ServeOptions, tls: GuestTls = { server: null, ca: null }): Resolved {
  const appPath = options.app ?? DEFAULT_APP;
  const { source, filename, bundle } = readApp(options, appPath);
  let env: Record<string, string>;
  try {
    env = checkEnvironment(options.env ?? {}, options.secrets ?? {});
  } catch (err) {
    throw new AppError(err instanceof EnvironmentError ? err.message : String(err));
  }
  const redactor = new Redactor(options.secrets ?? {});
  const { redact } = redactor;
  // Output and access records are on the hot path: wrapped only when there are secrets.
  const redacting = (sink: TextSink): TextSink => (redactor.active ? (text, done) => sink(redact(text), done) : sink);
  const stdout = redacting(options.stdout ? callbackSink(options.stdout) : streamSink(stdOut(1)));
  const stderr = redacting(options.stderr ? callbackSink(options.stderr) : streamSink(stdOut(2)));
  const logFormat = options.logFormat ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') throw new AppError(`logFormat must be text or json (got ${String(logFormat)})`);
  const hostLog = new HostLog(options.stderr ?? stdOut(2), redact, logFormat === 'json' ? formatMessageJson : undefined);
  if (bundle !== null && bundle.outside.length > 0) {
    hostLog.write(`pythongoose: app bundle ${appPath}: not following links that lead out of it: ${bundle.outside.join(', ')}\n`);
  }
  let staticFiles: StaticFile[] = [];
  if (options.staticDir !== undefined) {
    try {
      staticFiles = readTree(options.staticDir, 'static dir', MAX_STATIC_BYTES, 'the static files\' limit').files.map((f) => ({ ...f, path: `/${f.path}` }));
    } catch (err) {
      throw new AppError(err instanceof TreeError ? err.message : String(err));
    }
  }
  const format = logFormat === 'json' ? formatAccessJson : formatAccess;
  // The default log writes a batch of records (one per response since the guest's last idle moment) at once: a
  // write per line would cost a system call each where stderr is a file.
  // The host log redacts what it writes; a function of the embedder's gets its records redacted.
  const custom = options.accessLog === false ? null : options.accessLog ?? null;
  const toCustom = (fn: (r: AccessRecord) => void) => (redactor.active ? (records: AccessRecord[]) => records.forEach((r) => fn({ ...r, request: redact(r.request) })) : (records: AccessRecord[]) => records.forEach(fn));
  const access: ((records: AccessRecord[]) => void) | null =
    options.accessLog === false ? null : custom === null ? (records) => hostLog.writeFormatted(records.map(format).join('')) : toCustom(custom);
  const healthPath = options.healthPath ?? '/healthz';
  if (healthPath !== false && !/^\/[!-~]*$/.test(healthPath)) {
    throw new AppError(`health path must start with / and have no spaces: ${healthPath}`);
  }
  const metricsPath = options.metrics === undefined ? null : options.metrics.path ?? '/metrics';
  if (metricsPath !== null) {
    if (!/^\/[!-~]*$/.test(metricsPath)) throw new AppError(`metrics path must start with / and have no spaces: ${metricsPath}`);
    const port = options.metrics?.port;
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new AppError(`metrics.port must be 0-65535 (got ${port})`);
    if (port === undefined && metricsPath === healthPath) throw new AppError(`the metrics and the health check cannot share ${metricsPath}`);
    if (port === undefined && tls.server !== null) throw new AppError('the metrics cannot be on the HTTPS port (the host cannot read its requests): give them a port of their own (metrics.port, --metrics-port)');
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
  // littlefs has one writer: instances on one volume would each cache its
  // blocks and overwrite each other's commits.
  if (options.data !== undefined && workers > 1) throw new AppError('a data volume needs a single worker: littlefs has one writer, and each worker is its own instance');

  const heapInitial = options.heapInitial ?? 1024 * 1024;
  const heapMax = options.heapMax ?? 256 * 1024 * 1024;
  const staticBytes = staticFiles.reduce((n, f) => n + f.data.length + f.path.length + 64, 0) + (bundle?.image.length ?? 0);
  const memoryMax = Math.ceil((heapMax + PYSTACK_BYTES + staticBytes + GUEST_MEMORY_MARGIN) / WASM_PAGE) * WASM_PAGE;
  if (!(Number.isInteger(heapInitial) && heapInitial >= 64 * 1024)) throw new AppError(`heapInitial must be an integer >= 65536 (got ${heapInitial})`);
  if (!(Number.isInteger(heapMax) && heapMax >= heapInitial)) throw new AppError(`heapMax must be an integer >= heapInitial (got ${heapMax})`);
  if (memoryMax > GUEST_MEMORY_LIMIT) {
    const room = Math.floor((GUEST_MEMORY_LIMIT - GUEST_MEMORY_MARGIN - PYSTACK_BYTES - staticBytes) / 2 ** 20);
    throw new AppError(`heapMax must be at most ${room} MiB here: the guest's memory (heap, static files, app bundle and ${GUEST_MEMORY_MARGIN / 2 ** 20} MiB for C) is capped at 2 GiB`);
  }

  // Last, as nothing after it may fail: the lock is serve()'s to release.
  let volume: VolumeInit | null = null;
  let volumeLock: VolumeLock | null = null;
  if (options.data !== undefined) {
    try {
      volumeLock = VolumeLock.acquire(resolve(options.data));
      volume = prepareVolume(options.data, options.dataSize, options.dataFormat ?? false);
    } catch (err) {
      volumeLock?.release();
      throw new AppError(err instanceof VolumeError ? err.message : String(err));
    }
  }

  const config: Resolved['config'] = {
    guest: {
      source,
      filename,
      heapInitial,
      heapMax,
      memoryMax,
      pystackBytes: PYSTACK_BYTES,
      gcStress: options.gcStress ?? process.env.PYTHONGOOSE_GC_STRESS === '1',
      accessLog: access !== null || metricsPath !== null,
      healthPath: healthPath === false ? '' : healthPath,
      // On the app's port only: on a port of their own the metrics path is the app's.
      metricsPath: metricsPath !== null && options.metrics?.port === undefined ? metricsPath : '',
      limits,
      staticFiles,
      appImage: bundle?.image ?? null,
      volume,
      env,
      tls: tls.server,
      ca: tls.ca,
    },
    link: LINK,
    egress,
    wasmPath: options.wasmPath,
    stdout,
    stderr,
    log: (text) => hostLog.write(text),
    access,
    // The budget interrupts Python code; silence well beyond it means C code that cannot be interrupted.
    stuckAfterMs: limits.cpuBudgetMs > 0 ? limits.cpuBudgetMs + 2000 : 0,
  };
  return { config, limits, workers, healthPath, metricsPath, hostLog, volumeLock };
}
