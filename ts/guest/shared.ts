// What the main thread and the guest's worker share: ring buffers, the
// control words they wait on, and the per-port flow flags.

/** Indices into the control Int32Array. */
export const CTRL_WAKE = 0; // bumped by the host when frames arrive or a flow resumes
export const CTRL_TX = 1; // bumped by the guest when it queued frames for the host
export const CTRL_SHUTDOWN = 2; // set by the host: finish in-flight responses, close the rest
export const CTRL_WORDS = 4;

/** The guest's HTTP listener port. */
export const GUEST_HTTP_PORT = 80;
/** The host's address on the virtual link (the guest's gateway), as an unsigned 32-bit number. */
export const GATEWAY_IP = ((10 << 24) | (0 << 16) | (2 << 8) | 2) >>> 0;

/** Reserved for control frames: TCP data waits rather than crowd them out. */
export const TX_CONTROL_RESERVE = 64 * 1024;

export interface GuestOptions {
  /** Python source of the app and the name tracebacks show. */
  source: string;
  filename: string;
  /** Initial and maximum MicroPython heap, bytes. */
  heapInitial: number;
  heapMax: number;
  pystackBytes: number;
  /** Collect garbage at every safe point (tests). */
  gcStress: boolean;
  /** Report each response on fd 3 for the access log. */
  accessLog: boolean;
  /** Health check path the guest answers without Python ('' for none). */
  healthPath: string;
  /** Limits the guest enforces itself (0 = none). */
  limits: GuestLimits;
  /** Files the guest serves for --static, copied into its memory at start. */
  staticFiles: StaticFile[];
}

export interface GuestLimits {
  cpuBudgetMs: number;
  maxBody: number;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
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
export const PEER_SLOT = 48;

export interface WorkerInit extends GuestOptions {
  wasm: WebAssembly.Module;
  rx: SharedArrayBuffer; // host -> guest frames
  tx: SharedArrayBuffer; // guest -> host frames
  ctrl: SharedArrayBuffer;
  paused: SharedArrayBuffer; // Uint8Array(65536): 1 = hold TCP data of that flow (host port inbound, guest port outbound)
  peers: SharedArrayBuffer; // Uint8Array(65536 * PEER_SLOT): length byte + text
  beat: SharedArrayBuffer; // Float64Array(2): Date.now() when the guest last called the host (a stuck guest stops), its memory size
}

export type WorkerMessage =
  | { type: 'output'; fd: 1 | 2; text: string }
  | { type: 'access'; records: string }
  | { type: 'exit'; code: number; error?: string };
