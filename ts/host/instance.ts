// One guest instance with everything that serves it: the worker, the host's
// end of its virtual link (router.ts), and a watchdog for a guest stuck where
// the CPU budget cannot reach (inside a C function).
import type { Socket } from 'node:net';
import { Guest } from '../guest/guest.js';
import type { GuestOptions } from '../guest/abi.js';
import type { LinkConfig, LinkCounters } from '../net/interface.js';
import type { HostPaths, InboundStats } from './inbound.js';
import type { EgressOptions, OutboundStats } from './outbound.js';
import { RateLimitedLog } from './log.js';
import { parseGuestRecords, type AccessRecord, type TlsHandshakeResult } from './records.js';
import { LinkRouter } from './router.js';
import type { PcapWriter } from './pcap.js';

/** A guest that has not called the host for this long while busy is not answering soon (Python calls it every 1000 branches). */
const STALLED_MS = 50;

export interface InstanceConfig {
  guest: GuestOptions;
  link: LinkConfig;
  egress: EgressOptions;
  wasmPath?: string;
  pcap: PcapWriter | null;
  /** Python's stdout and stderr. */
  stdout: TextSink;
  stderr: TextSink;
  /** The host's own messages about this instance (whole lines). */
  log(text: string): void;
  /** The guest's responses, for the access log and the metrics (null: the guest reports none). */
  access: ((records: AccessRecord[]) => void) | null;
  /** A guest silent this long while serving is stuck: it is killed (and restarted). 0: never. */
  stuckAfterMs: number;
}

/** Where a stream of text goes; `done` once it has left the host's memory. */
export type TextSink = (text: string, done: () => void) => void;

export interface InstanceStats extends InboundStats {
  /** Bytes the guest dropped while the host's stream was not being read (OUTPUT_CAP). */
  outputDropped: { stdout: number; stderr: number; access: number };
  /** Host log lines about this instance suppressed by the rate limit. */
  logSuppressed: number;
  link: LinkCounters;
  outbound: OutboundStats;
  /** The guest's wasm memory in bytes (Python heap included). */
  guestMemory: number;
  /**
   * Connections the guest has set aside until their client sends more (an idle
   * keep-alive, or a request head or body still arriving): they cost it
   * nothing per poll. As of its last idle moment.
   */
  connectionsWaiting: number;
  /** What Python ran into; the heap as of its last collection (reported with the access log's records: zeros without). */
  python: { budgetInterruptions: number; memoryErrors: number; heapUsed: number; heapTotal: number };
  /** Clients' TLS handshakes, by how they ended (HTTPS serving; counted from the access records, as `python`'s). */
  tls: Record<TlsHandshakeResult, number>;
}

export type ExitReport = { code: number; error?: string };

export class Instance {
  readonly guest: Guest;
  readonly router: LinkRouter;
  /** Resolves once the app polls with its link up. */
  readonly up: Promise<void>;
  /** Resolves when the guest exits or crashes. */
  readonly exited: Promise<ExitReport>;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly outputDropped = { stdout: 0, stderr: 0, access: 0 };
  private readonly log: RateLimitedLog;
  private readonly python = { budgetInterruptions: 0, memoryErrors: 0, heapUsed: 0, heapTotal: 0 };
  private readonly tls: Record<TlsHandshakeResult, number> = { ok: 0, failed: 0, nomem: 0 };

  /** slot: the worker's number, in its access records. */
  constructor(config: InstanceConfig, slot = 0) {
    let onUp!: () => void;
    let onExit!: (r: ExitReport) => void;
    this.up = new Promise((resolve) => (onUp = resolve));
    this.exited = new Promise((resolve) => (onExit = resolve));
    const { pcap } = config;
    this.log = new RateLimitedLog((line) => config.log(`pythongoose: ${line}\n`));
    this.guest = new Guest(
      config.guest,
      {
        frame: (f) => {
          pcap?.write(f);
          this.router.iface.receive(f);
        },
        batchEnd: () => this.router.batchEnd(),
        output: (fd, text, done) => (fd === 1 ? config.stdout(text, done) : config.stderr(text, done)),
        dropped: (fd, bytes) => {
          const stream = fd === 1 ? 'stdout' : fd === 2 ? 'stderr' : 'access';
          this.outputDropped[stream] += bytes;
          this.log.line(`dropped ${bytes} bytes of the app's ${stream === 'access' ? 'access log' : stream}: it was not being read`);
        },
        access: (text) => {
          const records = parseGuestRecords(text, (port) => this.guest.peer(port), slot, (e) => {
            if (e.type === 'budget') this.python.budgetInterruptions++;
            else if (e.type === 'memory') this.python.memoryErrors++;
            else if (e.type === 'tls') this.tls[e.result]++;
            else {
              this.python.heapUsed = e.used;
              this.python.heapTotal = e.total;
            }
          });
          if (records.length > 0) config.access?.(records);
        },
        exit: (code, error) => {
          this.stopWatchdog();
          this.log.flush();
          onExit({ code, error });
        },
      },
      config.wasmPath,
    );
    this.router = new LinkRouter(
      { ...config.link, tcpChecksums: pcap !== null },
      {
        send: (frame, reserve) => {
          if (!this.guest.send(frame, reserve)) return false;
          pcap?.write(frame);
          return true;
        },
      },
      config.egress,
      {
        setPaused: (port, paused) => this.guest.setPaused(port, paused),
        endedClients: this.guest,
        accepted: (port, socket) => {
          const addr = socket.remoteAddress ?? '';
          this.guest.setPeer(port, `${addr.includes(':') ? `[${addr}]` : addr}:${socket.remotePort ?? 0}`);
        },
        refuse: (port, reason) => this.guest.setRefusal(port, reason),
        log: (line) => this.log.line(line),
      },
    );
    this.router.onGuestUp = () => {
      onUp();
      if (config.stuckAfterMs > 0) this.startWatchdog(config.stuckAfterMs);
    };
  }

  get running(): boolean {
    return this.guest.isRunning;
  }

  /** Connections this instance is serving (for least-loaded dispatch). */
  get load(): number {
    return this.router.inbound.load;
  }

  /** Whether the guest is running Python or C rather than waiting for frames. */
  get busy(): boolean {
    return this.guest.isBusy;
  }

  /** Busy and silent for STALLED_MS: in one C call (stuck, or slow), so a new client would wait for it. */
  get stalled(): boolean {
    return this.guest.isBusy && this.guest.silentFor() > STALLED_MS;
  }

  /** Whether the guest is alive and answering (for health checks). */
  get healthy(): boolean {
    return this.running && this.guest.silentFor() < 1000;
  }

  accept(socket: Socket, hostPaths: HostPaths | null = null): void {
    this.router.inbound.accept(socket, hostPaths);
  }

  stats(): InstanceStats {
    return {
      ...this.router.inbound.stats(),
      link: this.router.iface.counters,
      outbound: this.router.outbound.stats(),
      guestMemory: this.guest.memoryBytes,
      connectionsWaiting: this.guest.connectionsWaiting,
      outputDropped: { ...this.outputDropped },
      logSuppressed: this.log.suppressedTotal,
      python: { ...this.python },
      tls: { ...this.tls },
    };
  }

  private startWatchdog(stuckAfterMs: number): void {
    this.watchdog = setInterval(() => {
      const silent = this.guest.silentFor();
      if (silent >= stuckAfterMs) this.guest.kill(`guest stuck for ${silent} ms (in a C function the CPU budget cannot interrupt)`);
    }, Math.min(250, stuckAfterMs));
    this.watchdog.unref();
  }

  private stopWatchdog(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  /** Ask the guest to finish responses in progress and close the rest (handover: see Guest.beginShutdown). */
  beginShutdown(handover = false): void {
    this.guest.beginShutdown(handover);
  }

  drained(): boolean {
    return this.router.inbound.drained();
  }

  /** Reset every connection (inbound and outbound). */
  resetConnections(): void {
    this.router.closeAll();
  }

  async terminate(): Promise<void> {
    this.stopWatchdog();
    this.log.flush();
    await this.guest.terminate();
  }
}
