#!/usr/bin/env node
// CLI: node dist/server.js [APP.py | DIR] [options]: a thin layer over
// serve(); and `data FILE COMMAND`, the data volume's tool.
import { parseArgs } from 'node:util';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { AppError, DEFAULT_APP, DEFAULT_LIMITS, EnvironmentError, flushOutput, parseEnvFile, runVolumeCommand, serve, VOLUME_COMMANDS, VolumeToolError, type ServeOptions } from './index.js';
import { formatMessageJson } from './serve/access-log.js';
import { watchApp } from './serve/watch.js';
import { SYSTEM_CA_BUNDLE } from './serve/tls.js';

const HELP = `Usage: node dist/server.js [APP.py | DIR] [options]
       node dist/server.js data FILE COMMAND [ARGS]   (npx pythongoose data ...)

Serve a Python app (MicroPython + Mongoose, sandboxed in WebAssembly).
APP.py defaults to the seed app (${DEFAULT_APP}).
DIR is a bundle: its main.py runs, its modules import and its files are
readable under /app (read-only; packed into the sandbox at start).

Serving:
  --port N        TCP port to listen on (default 8000; 0 picks a free one)
  --host ADDR     address to bind (default 127.0.0.1; 0.0.0.0 for all)
  --workers N     guest instances, each with its own worker thread and Python
                  heap, sharing the port; connections go to the least loaded
                  (default 1: the seed's single loop). A crashed or stuck
                  instance is replaced, and the others keep serving
  --health PATH   health check the host answers itself, never passed to
                  Python (default /healthz; "off" for none)
  --drain-timeout S  on SIGINT/SIGTERM, and for the old version in a reload,
                  let responses in progress finish for up to S seconds
                  (default 10) before closing the rest
  --watch         reload the app when its file or bundle directory changes
                  (SIGHUP reloads too): the new version starts, new
                  connections go to it once it serves, the old one finishes
                  its responses; a version that fails to start leaves the
                  old one serving. Not with --data
  --static DIR    serve DIR's files for paths no route answers (copied into
                  the sandbox at start; Python cannot reach the host's files)

Files:
  --app-max SIZE  largest bundle, e.g. 16M (default 16M)
  --data FILE     mount the data volume in FILE read-write at /data
                  (littlefs; created on first use); a file once closed
                  survives a crash or a kill. One server per FILE
  --data-size SIZE  size of a volume created on first use (default 16M);
                  writes past it raise OSError(ENOSPC)
  --data-format   format FILE if it holds no littlefs (erasing it)

The app's environment (os.environ; nothing else of the host's reaches it):
  --env NAME[=VALUE]  hand NAME to Python, its value from this process's
                  environment or as given (repeatable)
  --env-file FILE hand every NAME=VALUE line of FILE to Python (dotenv:
                  # comments, export, quotes)
  --secret NAME   hand NAME to Python, its value from --env-file or this
                  process's environment, never from the command line; the
                  host writes it nowhere: [secret NAME] in Python's output,
                  the access log and host messages (repeatable)

Python's limits (0 turns a timeout off):
  --heap-max MB   largest MicroPython heap, in MiB (default 256)
  --cpu-budget S  wall time one Python callback may run before it is
                  interrupted; the request gets 503 (default 1)

Clients' limits:
  --max-body SIZE largest request body, e.g. 8M, 512K (default 8M); larger
                  ones get 413 without being read
  --header-timeout S   request head must arrive within S seconds, else 408
                  (default 10)
  --idle-timeout S     close keep-alive connections idle this long (default 60)
  --max-connections N  client connections at once (default 10000); beyond
                  it new connections are refused at once
  --max-send-buffer SIZE  bytes waiting to go to one client, e.g. 1M, 512K
                  (default 1M; 0: none); past it a WebSocket send closes
                  the socket (1013) and an SSE send ends the stream, both
                  returning False; streamed bodies wait for the client

TLS, inside the sandbox (the key is parsed and kept in guest memory only):
  --tls-cert FILE serve HTTPS only, with this PEM certificate (and any
                  intermediates after it, sent whole); needs --tls-key
  --tls-key FILE  its private key, PEM, unencrypted: RSA 2048+ or ECDSA
                  P-256/P-384
  --ca FILE       the CAs outbound https:// and mqtts:// trust (PEM),
                  instead of the system's (/etc/ssl/certs/ca-certificates.crt)

Outbound connections from Python (MQTTclient, fetch), denied by default:
  --allow HOST[:PORT]  let the app reach HOST (repeatable): a name
                  (example.com), a wildcard (*.example.com), an address or a
                  network (203.0.113.7, 10.0.0.0/8), or * for any public host.
                  Loopback and link-local need a rule that names them
                  (--allow 127.0.0.1:1883, --allow localhost:1883)
  --max-outbound N     outbound connections at once (default 64)
  --connect-timeout S  how long a dial may take (default 10, under 15)
  --outbound-idle-timeout S  reset an outbound connection idle this long
                  (default 300)

Logs, metrics and diagnostics:
  --quiet         no access log (default: one line per response on stderr)
  --log-format F  text (default) or json: the access log and host messages
                  as one JSON object a line (time, client, method, path,
                  status, bytes, ms, instance, id: the request's id, from
                  X-Request-Id or made, also request.id and echoed back)
  --metrics [PATH]  Prometheus metrics answered by the host at PATH
                  (default /metrics), never passed to Python
  --metrics-port N  serve the metrics on port N instead, not the app's port
  --pcap FILE     write every frame on the virtual link to FILE (tshark -r FILE)
  -h, --help      show this help

The data volume's tool (FILE must not be in use by a server):
${VOLUME_COMMANDS}

Python's print() goes to stdout; host messages and tracebacks go to stderr.`;

/** Exit once Python's last output has reached stdout and stderr. */
function exit(code: number): void {
  void flushOutput().then(() => process.exit(code));
}

function fail(message: string): never {
  process.stderr.write(`pythongoose: ${message}\n`);
  process.exit(1);
}

/** What the server runs with, in one short block under the "serving" line. */
function startBlock(o: ServeOptions, metricsUrl: string | null, watching: boolean, tls: string): [string, string][] {
  const limits = { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(o.limits ?? {}).filter(([, v]) => v !== undefined)) };
  const mib = (n: number): string => `${+(n / 2 ** 20).toFixed(1)} MiB`;
  const sec = (ms: number): string => (ms === 0 ? 'off' : `${ms / 1000} s`);
  let app = 'the seed app (examples/seed/main.py)';
  if (o.app !== undefined) app = existsSync(o.app) && statSync(o.app).isDirectory() ? `${o.app} (a bundle: its main.py, read-only at /app)` : o.app;
  const allow = o.egress?.allow ?? [];
  const lines: [string, string][] = [
    ['app', app],
    ['workers', String(o.workers ?? 1)],
    ...(o.data === undefined ? [] : [['data', `${o.data} at /data`] as [string, string]]),
    ...(Object.keys(o.env ?? {}).length + Object.keys(o.secrets ?? {}).length === 0
      ? []
      : [['env', [...Object.keys(o.env ?? {}), ...Object.keys(o.secrets ?? {}).map((n) => `${n} (secret)`)].join(', ')] as [string, string]]),
    [
      'limits',
      `heap ${mib(o.heapMax ?? 256 * 2 ** 20)}, CPU budget ${sec(limits.cpuBudgetMs)}, body ${mib(limits.maxBody)}, ` +
        `head ${sec(limits.headerTimeoutMs)}, idle ${sec(limits.idleTimeoutMs)}, ${limits.maxConnections} connections, ` +
        `send buffer ${limits.maxSendBuffer === 0 ? 'unbounded' : mib(limits.maxSendBuffer)}`,
    ],
    ['outbound', allow.length === 0 ? 'denied (no --allow)' : `allowed to ${allow.join(', ')}`],
    ['tls', tls],
    ...(metricsUrl === null ? [] : [['metrics', metricsUrl] as [string, string]]),
    ...(watching ? [['reload', 'on changes to the app (--watch) and on SIGHUP'] as [string, string]] : []),
  ];
  return lines;
}

/** --env, --env-file and --secret: what the app's os.environ holds. */
function environment(names: string[], envFile: string | undefined, secretNames: string[]): { env: Record<string, string>; secrets: Record<string, string> } {
  let fromFile: Record<string, string> = {};
  if (envFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(envFile, 'utf8');
    } catch (err) {
      fail(`cannot read --env-file ${envFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    try {
      fromFile = parseEnvFile(text, envFile);
    } catch (err) {
      fail(err instanceof EnvironmentError ? err.message : String(err));
    }
  }
  const secrets: Record<string, string> = {};
  for (const name of secretNames) {
    if (name.includes('=')) fail(`--secret takes a NAME, its value from --env-file or the environment: a value on the command line shows in ps (got --secret ${name.slice(0, name.indexOf('='))}=...)`);
    const value = fromFile[name] ?? process.env[name];
    if (value === undefined) fail(`--secret ${name}: ${name} is not set in the environment${envFile ? ` or in ${envFile}` : ''}`);
    secrets[name] = value;
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(fromFile)) if (!(name in secrets)) env[name] = value;
  for (const arg of names) {
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? process.env[name] : arg.slice(eq + 1);
    if (value === undefined) fail(`--env ${name}: ${name} is not set in the environment (or give --env ${name}=VALUE)`);
    if (name in secrets) fail(`${name} is given both with --env and --secret`);
    env[name] = value;
  }
  return { env, secrets };
}

/** A size option's bytes: 1048576, 512K, 8M, 1G. */
function parseSize(flag: string, text: string, example: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(text);
  if (m === null) fail(`--${flag} must be a size like ${example}, 512K or 1048576, got ${text}`);
  const n = Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
  if (n > 0xffffffff) fail(`--${flag} must be under 4G, got ${text}`);
  return n;
}

/** `data FILE COMMAND [ARGS] [--data-size SIZE]`. */
function volumeTool(args: string[]): void {
  const sizeAt = args.indexOf('--data-size');
  let dataSize: number | undefined;
  if (sizeAt >= 0) {
    dataSize = parseSize('data-size', args[sizeAt + 1] ?? '', '16M');
    args.splice(sizeAt, 2);
  }
  const [file, ...command] = args;
  runVolumeCommand(file, command, { stdout: (data) => process.stdout.write(data) }, dataSize).then(
    () => exit(0),
    (err) => fail(err instanceof VolumeToolError ? err.message : String(err)),
  );
}

/** `--metrics` may come without a value: the next argument is its PATH only if it starts with /. */
function metricsWithoutPath(argv: string[]): string[] {
  return argv.map((arg, i) => (arg === '--metrics' && !(argv[i + 1] ?? '').startsWith('/') ? '--metrics=/metrics' : arg));
}

function main(): void {
  const argv = metricsWithoutPath(process.argv.slice(2));
  // `data FILE COMMAND`: a bundle directory named data is still served with `data` alone or `./data`.
  if (argv[0] === 'data' && argv.length >= 3 && !argv[1].startsWith('-')) {
    volumeTool(argv.slice(1));
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        pcap: { type: 'string' },
        'heap-max': { type: 'string' },
        static: { type: 'string' },
        quiet: { type: 'boolean' },
        health: { type: 'string' },
        'drain-timeout': { type: 'string' },
        'gc-stress': { type: 'boolean' },
        'log-format': { type: 'string' },
        metrics: { type: 'string' },
        'metrics-port': { type: 'string' },
        watch: { type: 'boolean' },
        allow: { type: 'string', multiple: true },
        'cpu-budget': { type: 'string' },
        workers: { type: 'string' },
        'max-body': { type: 'string' },
        'max-send-buffer': { type: 'string' },
        'header-timeout': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-outbound': { type: 'string' },
        'connect-timeout': { type: 'string' },
        'outbound-idle-timeout': { type: 'string' },
        'app-max': { type: 'string' },
        data: { type: 'string' },
        'data-size': { type: 'string' },
        'data-format': { type: 'boolean' },
        env: { type: 'string', multiple: true },
        'env-file': { type: 'string' },
        secret: { type: 'string', multiple: true },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        ca: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    fail(`${(err as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (positionals.length > 1) fail(`one app at a time, got ${positionals.join(' ')}`);
  const port = values.port === undefined ? 8000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0-65535, got ${values.port}`);
  const heapMb = values['heap-max'] === undefined ? 256 : Number(values['heap-max']);
  if (!(heapMb >= 1 && heapMb <= 1536)) fail(`--heap-max must be 1-1536 (MiB), got ${values['heap-max']}`);

  const drainS = values['drain-timeout'] === undefined ? 10 : Number(values['drain-timeout']);
  if (!(drainS >= 0 && drainS <= 3600)) fail(`--drain-timeout must be 0-3600 (seconds), got ${values['drain-timeout']}`);

  const number = (flag: string, min: number, max: number): number | undefined => {
    const text = values[flag as keyof typeof values] as string | undefined;
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!(n >= min && n <= max)) fail(`--${flag} must be ${min}-${max}, got ${text}`);
    return n;
  };
  const maxOutbound = number('max-outbound', 1, 65536);
  const seconds = (flag: string): number | undefined => {
    const n = number(flag, 0, 86400);
    return n === undefined ? undefined : Math.round(n * 1000);
  };
  const size = (flag: 'max-body' | 'max-send-buffer' | 'app-max' | 'data-size', example: string): number | undefined => {
    const text = values[flag];
    return text === undefined ? undefined : parseSize(flag, text, example);
  };
  const maxBody = size('max-body', '8M');
  const maxSendBuffer = size('max-send-buffer', '1M');
  const appMax = size('app-max', '16M');
  if (appMax === 0) fail('--app-max must be more than 0');
  const dataSize = size('data-size', '16M');
  const { env, secrets } = environment(values.env ?? [], values['env-file'], values.secret ?? []);
  const maxConnections = number('max-connections', 1, 1000000);
  const workers = number('workers', 1, 64);
  if (workers !== undefined && !Number.isInteger(workers)) fail(`--workers must be a whole number, got ${values.workers}`);
  const connectS = number('connect-timeout', 0.1, 14);
  const logFormat = values['log-format'] ?? 'text';
  if (logFormat !== 'text' && logFormat !== 'json') fail(`--log-format must be text or json, got ${logFormat}`);
  const metricsPort = number('metrics-port', 0, 65535);
  if (metricsPort !== undefined && !Number.isInteger(metricsPort)) fail(`--metrics-port must be a whole number, got ${values['metrics-port']}`);
  const metrics = values.metrics !== undefined || metricsPort !== undefined ? { path: values.metrics, port: metricsPort } : undefined;
  if (values.watch && values.data !== undefined) fail('--watch cannot be used with --data: littlefs has one writer, and a reload runs the old and new versions side by side');
  const outboundIdleS = number('outbound-idle-timeout', 1, 86400);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) fail(values['tls-cert'] === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
  if (values['tls-cert'] !== undefined && metrics !== undefined && metricsPort === undefined) {
    fail('--metrics cannot be on the HTTPS port (the host cannot read its requests): add --metrics-port N');
  }
  const pem = (flag: 'tls-cert' | 'tls-key' | 'ca'): Buffer | undefined => {
    const file = values[flag];
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      fail(`cannot read --${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const tls = { cert: pem('tls-cert'), key: pem('tls-key'), ca: pem('ca') };

  // The host's own lines once the options are read, in the format asked for (usage errors above stay text).
  const say = (message: string): void => {
    const line = `pythongoose: ${message}\n`;
    process.stderr.write(logFormat === 'json' ? formatMessageJson(line) : line);
  };
  const options: ServeOptions = {
    app: positionals[0],
    appMax,
    data: values.data,
    dataSize,
    dataFormat: values['data-format'] ?? false,
    env,
    secrets,
    port,
    host: values.host,
    pcap: values.pcap,
    heapMax: heapMb * 1024 * 1024,
    gcStress: values['gc-stress'] ?? false,
    staticDir: values.static,
    accessLog: values.quiet ? false : undefined,
    logFormat,
    metrics,
    tls: tls.cert === undefined && tls.ca === undefined ? undefined : tls,
    healthPath: values.health === 'off' ? false : values.health,
    drainTimeoutMs: drainS * 1000,
    workers,
    limits: {
      cpuBudgetMs: seconds('cpu-budget'),
      maxBody,
      headerTimeoutMs: seconds('header-timeout'),
      idleTimeoutMs: seconds('idle-timeout'),
      maxConnections: maxConnections === undefined ? undefined : Math.floor(maxConnections),
      maxSendBuffer,
    },
    egress: {
      allow: values.allow ?? [],
      maxConnections: maxOutbound === undefined ? undefined : Math.floor(maxOutbound),
      connectTimeoutMs: connectS === undefined ? undefined : Math.round(connectS * 1000),
      idleTimeoutMs: outboundIdleS === undefined ? undefined : Math.round(outboundIdleS * 1000),
    },
    onExit: (code, error) => {
      say(error ?? `app exited with code ${code}`);
      exit(code === 0 ? 0 : code || 1);
    },
  };
  // Once serve() holds its own copy (in shared memory, for the guests), or failed: this one is wiped.
  const wipe = (): void => {
    for (const bytes of [tls.cert, tls.key, tls.ca]) bytes?.fill(0);
  };
  serve(options).then(
    (handle) => {
      wipe();
      const stop = (): void => {
        void handle.close().then(() => exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // Failures are on stderr already (the host's "reload failed" line and the app's traceback).
      const reload = (): void => void handle.reload();
      if (values.data === undefined) process.on('SIGHUP', reload);
      if (values.watch) watchApp(positionals[0] ?? DEFAULT_APP, reload);
      // Last: once this line is out, a supervisor may send any of those signals.
      const trust = values.ca ?? (existsSync(SYSTEM_CA_BUNDLE) ? SYSTEM_CA_BUNDLE : 'nothing (no system CA bundle: give --ca)');
      const tlsLine = `${values['tls-cert'] === undefined ? 'none inbound' : `HTTPS only, certificate ${values['tls-cert']}`}; outbound trusts ${trust}`;
      const block = startBlock(options, handle.metricsUrl ?? (metrics ? `${handle.url}${metrics.path ?? '/metrics'}` : null), values.watch ?? false, tlsLine);
      const serving = `serving ${positionals[0] ?? 'the seed app'} on ${handle.url}`;
      process.stderr.write(
        logFormat === 'json'
          ? `${JSON.stringify({ time: new Date().toISOString(), msg: serving, url: handle.url, ...Object.fromEntries(block) })}\n`
          : `pythongoose: ${serving}\n${block.map(([k, v]) => `  ${k.padEnd(9)}${v}\n`).join('')}`,
      );
    },
    (err) => {
      wipe();
      say(err instanceof AppError ? err.message : String(err));
      exit(1); // after the app's traceback, which may still be on its way to stderr
    },
  );
}

main();
