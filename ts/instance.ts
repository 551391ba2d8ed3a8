// One guest instance with everything that serves it: the worker, its virtual
// link, the inbound forwarder, the outbound gateway, and a watchdog for a
// guest stuck where the CPU budget cannot reach (inside a C function).
import type { Socket } from 'node:net';
import { Guest } from './guest/guest.js';
import { GUEST_HTTP_PORT, type GuestOptions } from './guest/shared.js';
import { Forwarder, type ForwarderStats } from './forwarder.js';
import { Gateway, type EgressOptions, type GatewayStats } from './gateway.js';
import { NetInterface, type LinkConfig, type LinkCounters } from './net/interface.js';
import { parseAccessRecords, type AccessRecord } from './access-log.js';
import type { PcapWriter } from './net/pcap.js';

export interface InstanceConfig {
  guest: GuestOptions;
  link: LinkConfig;
  egress: EgressOptions;
  wasmPath?: string;
  pcap: PcapWriter | null;
  stdout(text: string): void;
  stderr(text: string): void;
  accessLog: ((record: AccessRecord) => void) | null;
  /** A guest silent this long while serving is stuck: it is killed (and restarted). 0: never. */
  stuckAfterMs: number;
}

export interface InstanceStats extends ForwarderStats {
  link: LinkCounters;
  outbound: GatewayStats;
  /** The guest's wasm memory in bytes (Python heap included). */
  guestMemory: number;
}

export type ExitReport = { code: number; error?: string };

export class Instance {
  readonly guest: Guest;
  readonly iface: NetInterface;
  readonly forwarder: Forwarder;
  readonly gateway: Gateway;
  /** Resolves once the app polls with its link up. */
  readonly up: Promise<void>;
  /** Resolves when the guest exits or crashes. */
  readonly exited: Promise<ExitReport>;
  private watchdog: NodeJS.Timeout | null = null;

  constructor(config: InstanceConfig) {
    let onUp!: () => void;
    let onExit!: (r: ExitReport) => void;
    this.up = new Promise((resolve) => (onUp = resolve));
    this.exited = new Promise((resolve) => (onExit = resolve));
    const { pcap } = config;
    this.guest = new Guest(
      config.guest,
      {
        frame: (f) => {
          pcap?.write(f);
          this.iface.receive(f);
        },
        batchEnd: () => {
          this.forwarder.batchEnd();
          this.gateway.batchEnd();
        },
        output: (fd, text) => (fd === 1 ? config.stdout(text) : config.stderr(text)),
        access: (records) => {
          for (const r of parseAccessRecords(records, (port) => this.guest.peer(port))) config.accessLog?.(r);
        },
        exit: (code, error) => {
          this.stopWatchdog();
          onExit({ code, error });
        },
      },
      config.wasmPath,
    );
    this.iface = new NetInterface(
      config.link,
      {
        send: (frame, reserve) => {
          if (!this.guest.send(frame, reserve)) return false;
          pcap?.write(frame);
          return true;
        },
      },
      (seg, frame, dstIp) => (this.forwarder.owns(seg, dstIp) ? this.forwarder.segment(seg, frame) : this.gateway.segment(seg, frame, dstIp)),
      (dgram, frame, dstIp) => this.gateway.datagram(dgram, frame, dstIp),
    );
    const setPaused = (port: number, paused: boolean): void => this.guest.setPaused(port, paused);
    this.forwarder = new Forwarder(this.iface, GUEST_HTTP_PORT, setPaused, (port, socket) => {
      const addr = socket.remoteAddress ?? '';
      this.guest.setPeer(port, `${addr.includes(':') ? `[${addr}]` : addr}:${socket.remotePort ?? 0}`);
    });
    this.gateway = new Gateway(this.iface, config.egress, setPaused, (port, reason) => this.guest.setRefusal(port, reason), (line) =>
      config.stderr(`pythongoose: ${line}\n`),
    );
    this.iface.onGuestUp = () => {
      this.forwarder.startSyns();
      onUp();
      if (config.stuckAfterMs > 0) this.startWatchdog(config.stuckAfterMs);
    };
  }

  get running(): boolean {
    return this.guest.isRunning;
  }

  /** Connections this instance is serving (for least-loaded dispatch). */
  get load(): number {
    return this.forwarder.load;
  }

  /** Whether the guest is alive and answering (for health checks). */
  get healthy(): boolean {
    return this.running && this.guest.silentFor() < 1000;
  }

  accept(socket: Socket): void {
    this.forwarder.accept(socket);
  }

  stats(): InstanceStats {
    return { ...this.forwarder.stats(), link: this.iface.counters, outbound: this.gateway.stats(), guestMemory: this.guest.memoryBytes };
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

  /** Ask the guest to finish responses in progress and close the rest. */
  beginShutdown(): void {
    this.guest.beginShutdown();
  }

  drained(): boolean {
    return this.forwarder.drained();
  }

  /** Reset every connection (inbound and outbound). */
  resetConnections(): void {
    this.forwarder.closeAll();
    this.gateway.closeAll();
  }

  async terminate(): Promise<void> {
    this.stopWatchdog();
    await this.guest.terminate();
  }
}
