// The guest's ABI: what the wasm module imports and exports (the whole
// sandbox contract; README.md "What the guest can reach" documents each
// import, c/abi/ declares them), and the protocol between the main thread
// and the guest's worker: ring buffers, the control words they wait on, the
// per-port flow flags and notes, and the messages the worker posts.

/**
 * Every function the guest may import, as "module.name": pg.* are ours
 * (c/abi/imports.h); env.* and wasi_snapshot_preview1.* are what emscripten's
 * runtime needs (setjmp's i64 halves, memory growth, libc's stdio and exit),
 * and env.memory is the guest's memory, made by the host with its maximum.
 * The host refuses a module that imports anything else.
 */
export const GUEST_IMPORTS = [
  'pg.tx', 'pg.rx', 'pg.wait', 'pg.millis', 'pg.random', 'pg.write', 'pg.peer', 'pg.refusal', 'pg.held',
  'pg.block_read', 'pg.block_write', 'pg.block_sync',
  'env.getTempRet0', 'env.setTempRet0', 'env.emscripten_notify_memory_growth', 'env.memory',
  'wasi_snapshot_preview1.fd_write', 'wasi_snapshot_preview1.proc_exit',
] as const;

/** The guest's exports the host calls (c/abi/exports.h, plus libc's allocator and emscripten's initializer). */
export const GUEST_EXPORTS = ['_initialize', 'malloc', 'free', 'pg_init', 'pg_set_limits', 'pg_set_host_paths', 'pg_set_env', 'pg_fs_add', 'pg_mount_app', 'pg_mount_data', 'pg_parked', 'pg_tls_server', 'pg_tls_set_ca', 'pg_run'] as const;
/** Exports emscripten's runtime adds that the host never calls. */
export const RUNTIME_EXPORTS = ['__indirect_function_table', '__errno_location', 'stackSave', 'stackRestore', 'stackAlloc'] as const;

/** Wasm pages are 64 KiB; the guest's memory starts at wasm/Makefile's INITIAL_MEMORY and may grow to WorkerInit.memoryMax. */
export const WASM_PAGE = 65536;
export const GUEST_MEMORY_INITIAL = 8 * 1024 * 1024;
/** The build's own ceiling (wasm/Makefile MAXIMUM_MEMORY): no memoryMax beyond it. */
export const GUEST_MEMORY_LIMIT = 2 * 1024 * 1024 * 1024;
/**
 * The guest's memory beyond the Python heap (--heap-max): C data and stack,
 * Mongoose's connection buffers (each connection's send buffer is capped by
 * --max-send-buffer), the pystack, the static files and the app bundle
 * (added on top).
 */
export const GUEST_MEMORY_MARGIN = 64 * 1024 * 1024;

/** The exit code when the guest crashed or its worker failed, not the app's own (BSD's EX_SOFTWARE). */
export const EXIT_GUEST_FAILED = 70;

/** Indices into the control Int32Array. */
export const CTRL_WAKE = 0; // bumped by the host when frames arrive or a flow resumes
export const CTRL_TX = 1; // bumped by the guest when it queued frames for the host
export const CTRL_SHUTDOWN = 2; // set by the host: finish in-flight responses, close the rest (1), or hand over for a reload (2)
export const CTRL_OUTPUT = 3; // bytes of output the worker posted that the host has not written out yet
export const CTRL_IDLE = 4; // 1 while the guest waits in pg.wait (set by the guest)
export const CTRL_WORDS = 5;

/**
 * The most output (stdout and stderr) of one guest that may be in flight at
 * once: posted by its worker, not yet written by the host. Past it the guest
 * waits in pg.write while the host's stream makes progress, and drops (and
 * counts) what it writes while the stream makes none for OUTPUT_STALL_MS.
 */
export const OUTPUT_CAP = 1024 * 1024;
export const OUTPUT_STALL_MS = 1000;

/** Reserved for control frames: TCP data waits rather than crowd them out. */
export const TX_CONTROL_RESERVE = 64 * 1024;

export interface GuestOptions {
  /** Python source of the app and the name tracebacks show. */
  source: string;
  filename: string;
  /** Initial and maximum MicroPython heap, bytes. */
  heapInitial: number;
  heapMax: number;
  /** The most the guest's wasm memory may grow to, bytes (a multiple of WASM_PAGE). */
  memoryMax: number;
  pystackBytes: number;
  /** Collect garbage at every safe point (tests). */
  gcStress: boolean;
  /** Report each response, and events for the metrics, on fd 3 (the access log, the metrics). */
  accessLog: boolean;
  /** Health check path the guest answers without Python ('' for none). */
  healthPath: string;
  /** Metrics path the host answers: on a kept-alive connection the guest redirects it to a new one ('' for none). */
  metricsPath: string;
  /** Limits the guest enforces itself (0 = none). */
  limits: GuestLimits;
  /** Files the guest serves for --static, copied into its memory at start. */
  staticFiles: StaticFile[];
  /** The app bundle as a ROMFS image, mounted read-only at /app (null: a one-file app, no /app). */
  appImage: Uint8Array | null;
  /** The data volume mounted at /data (null: none). */
  volume: VolumeInit | null;
  /** The app's environment (os.environ): --env, --env-file and --secret variables. */
  env: Record<string, string>;
  /**
   * TLS material as PEM text in shared memory (one copy for every instance):
   * the server's chain and key (the port then serves HTTPS only), and the CAs
   * outbound TLS trusts (null: none found, so it verifies nothing and fails).
   */
  tls: { cert: Uint8Array; key: Uint8Array } | null;
  ca: Uint8Array | null;
}

/** The --data file: littlefs on blockCount blocks of VOLUME_BLOCK bytes (volume-file.ts). */
export interface VolumeInit {
  path: string; // absolute
  blockCount: number;
  /** Format it if it holds something other than littlefs (--data-format); a blank file is always formatted. */
  format: boolean;
}

export interface GuestLimits {
  cpuBudgetMs: number;
  maxBody: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  maxSendBuffer: number;
}

export interface StaticFile {
  path: string; // "/dir/name.ext", always with forward slashes
  data: Uint8Array;
  mtime: number; // seconds since the epoch
}

/**
 * Per port, a note from the host as text: for inbound connections (host
 * ports 1024-32767) the real client, read by pg.peer; for the guest's own
 * connections (its ports 32768-65535) why the host refused one, read by
 * pg.refusal. The ranges never overlap, so one table serves both.
 */
export const NOTE_SLOT = 48;

/** The guest's TCP data toward this flow waits (the socket drains slowly). */
export const FLOW_PAUSED = 1;
/** pg.held: the client half-closed and has not been seen to take the last response; a request it pipelined waits. */
export const FLOW_HELD = 2;
/** The client of this inbound flow half-closed: each response to it is followed by a probe (ts/host/inbound.ts). */
export const FLOW_ENDED = 4;
/** The guest sent data to an ended flow since the host's probe began: it covers not all of it. */
export const FLOW_DIRTY = 8;

export interface WorkerInit extends GuestOptions {
  wasm: WebAssembly.Module;
  rx: SharedArrayBuffer; // host -> guest frames
  tx: SharedArrayBuffer; // guest -> host frames
  ctrl: SharedArrayBuffer;
  // Int32Array(65536) of FLOW_* bits, by host port (inbound) or guest port (outbound). Not bytes: Bun 1.4's JIT
  // miscompiles 8-bit Atomics.or once warm (it stored 94 for 0|1), which left slow readers' flows unpaused.
  paused: SharedArrayBuffer;
  notes: SharedArrayBuffer; // Uint8Array(65536 * NOTE_SLOT): length byte + text
  beat: SharedArrayBuffer; // Float64Array(3): Date.now() when the guest last called the host (a stuck guest stops), its memory size, its connections set aside
}

/** To a worker whose guest ended: run the next one on this thread. */
export type HostMessage = { type: 'start'; init: WorkerInit };

/** From a worker; 'exit' ends its guest (and leaves the worker idle, able to run another). */
export type WorkerMessage =
  | { type: 'output'; fd: 1 | 2; text: string; bytes: number } // bytes: what it added to CTRL_OUTPUT
  | { type: 'dropped'; fd: 1 | 2 | 3; bytes: number } // output dropped while the host's stream was stalled (3: access log)
  | { type: 'access'; records: string; bytes: number }
  | { type: 'exit'; code: number; error?: string };
