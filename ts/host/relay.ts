// What the inbound forwarder and the outbound gateway share: relaying bytes
// between a host socket and a TcpConnection to the guest, with backpressure
// both ways, one ACK per batch of guest frames, and the TCP timers.
import type { Socket } from 'node:net';
import type { NetInterface } from '../net/interface.js';
import type { TcpConnection, TcpCounters, TcpHost, TcpSegmentOut } from '../net/tcp.js';

const TICK_MS = 5;
/**
 * A bare ACK waits this long for data toward the guest to carry it instead:
 * Mongoose needs no ACKs to go on sending, and each frame costs it a poll
 * round (a keep-alive request/response pair would otherwise be three frames).
 */
export const ACK_DELAY_MS = 40;
/**
 * Guest bytes one socket may hold unsent. The guest's output to a slow socket
 * is paused (the worker holds it), so only what was already in the 4 MiB ring
 * arrives after the pause; beyond this the guest ignored it (or its ports do
 * not name the flow the pause was for), and the connection is reset.
 */
export const MAX_BUFFERED = 8 * 1024 * 1024;

/**
 * A copy of guest bytes in the ring (the view is reused once the frame is
 * handled), placed at the same alignment mod 8: V8 copies out of shared
 * memory word by word only then, else byte by byte (3-4x slower). allocUnsafe
 * and set() copy from shared memory twice as fast as Buffer.from.
 */
function copyOut(data: Uint8Array): Buffer {
  const block = Buffer.allocUnsafe(data.length + 7);
  const skew = (data.byteOffset - block.byteOffset) & 7;
  const copy = block.subarray(skew, skew + data.length);
  copy.set(data);
  return copy;
}

export interface RelayFlow {
  conn: TcpConnection;
  socket: Socket;
  /** The guest's output to this socket is held until the socket drains. */
  guestPaused: boolean;
}

export abstract class Relay<F extends RelayFlow> implements TcpHost {
  readonly counters: TcpCounters = { segmentsIn: 0, segmentsOut: 0, duplicates: 0, outOfOrder: 0 };
  /** Bytes read from the host sockets (toward the guest) and written to them (from it). */
  readonly bytes = { fromSockets: 0, toSockets: 0 };
  /** Live flows by their port key (see flowKey). */
  protected readonly flows = new Map<number, F>();
  private readonly ticking = new Set<TcpConnection>();
  private readonly stalled = new Set<TcpConnection>();
  private readonly touched = new Set<TcpConnection>();
  private timer: NodeJS.Timeout | null = null;
  private ackTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly iface: NetInterface,
    /** Hold (or release) the guest's TCP data on the flow with this port key. */
    private readonly pause: (key: number, paused: boolean) => void,
  ) {}

  /** The port that names a flow: unique among live flows of this relay. */
  protected abstract flowKey(conn: TcpConnection): number;
  abstract emit(conn: TcpConnection, seg: TcpSegmentOut): boolean;
  abstract established(conn: TcpConnection): void;
  abstract closed(conn: TcpConnection, reset: boolean, reason: string): void;
  /** Extra periodic work while the timer runs; true keeps it running. */
  protected onTick(_now: number): boolean {
    return false;
  }

  protected flowOf(conn: TcpConnection): F | undefined {
    return this.flows.get(this.flowKey(conn));
  }

  /** Feed a socket's bytes and half-close to its connection ('close' is the subclass's). */
  protected relaySocket(flow: F): void {
    const { conn, socket } = flow;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.bytes.fromSockets += chunk.length;
      const data = this.received(flow, chunk);
      if (data === null) return;
      conn.write(data);
      if (conn.stalled) this.stall(conn);
      if (conn.overBudget) socket.pause();
    });
    socket.on('end', () => {
      conn.clientFinished();
      this.watch(conn);
      this.clientEnded(flow);
    });
    socket.on('error', () => {}); // 'close' follows
  }

  /** A socket's bytes, before its connection takes them: the bytes to pass on, or null for none yet. */
  protected received(_flow: F, data: Buffer): Buffer | null {
    return data;
  }

  /** The client half-closed (its FIN came). */
  protected clientEnded(_flow: F): void {}

  /** Whether the guest may still be running requests of this flow (its client's FIN then waits). */
  protected guestMayBeWorkingFor(_flow: F): boolean {
    return false;
  }

  /** Guest bytes were written to the flow's socket. */
  protected delivered(_flow: F): void {}

  /** A segment from the guest for this flow. */
  protected input(conn: TcpConnection, seg: Parameters<TcpConnection['input']>[0], frame: Uint8Array): void {
    conn.input(seg, frame, Date.now());
    if (conn.ackPending) this.touched.add(conn);
    if (conn.wantsTick) this.watch(conn);
  }

  /** After a batch of guest frames: an ACK, soon, for each connection that got data. */
  batchEnd(): void {
    if (this.touched.size > 0 && this.ackTimer === null) {
      this.ackTimer = setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
      this.ackTimer.unref();
    }
    this.retryStalled();
  }

  /** Send the ACKs no data segment has carried since. */
  flushAcks(): void {
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    for (const conn of this.touched) conn.flushAck();
    this.touched.clear();
  }

  protected watch(conn: TcpConnection): void {
    if (conn.wantsTick) this.ticking.add(conn);
    this.arm();
  }

  protected stall(conn: TcpConnection): void {
    this.stalled.add(conn);
    this.arm();
  }

  protected arm(): void {
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.timer.unref();
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const conn of this.ticking) {
      conn.tick(now);
      if (!conn.wantsTick) this.ticking.delete(conn);
    }
    this.retryStalled();
    const more = this.onTick(now);
    if (this.ticking.size === 0 && this.stalled.size === 0 && !more && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private retryStalled(): void {
    for (const conn of this.stalled) {
      conn.flush();
      if (!conn.stalled) this.stalled.delete(conn);
    }
  }

  /** Forget a finished connection's timers and release its guest output. */
  protected forget(conn: TcpConnection): void {
    this.ticking.delete(conn);
    this.stalled.delete(conn);
    this.touched.delete(conn);
    this.pause(this.flowKey(conn), false);
  }

  // --- TcpHost ---------------------------------------------------------------

  deliver(conn: TcpConnection, data: Uint8Array): void {
    const flow = this.flowOf(conn);
    if (flow === undefined || flow.socket.destroyed || flow.socket.writableEnded) return;
    if (flow.socket.writableLength > MAX_BUFFERED) {
      // Not from inside the segment's processing: reset once it is done.
      queueMicrotask(() => conn.abort('guest ignored backpressure'));
      return;
    }
    this.bytes.toSockets += data.length;
    const wrote = flow.socket.write(copyOut(data));
    this.delivered(flow);
    if (!wrote && !flow.guestPaused) {
      // The socket drains slowly: hold the guest's output in the guest.
      const key = this.flowKey(conn);
      flow.guestPaused = true;
      this.pause(key, true);
      flow.socket.once('drain', () => {
        flow.guestPaused = false;
        // The key may belong to a newer flow by now.
        if (this.flows.get(key) === flow) this.pause(key, false);
      });
    }
  }

  guestFinished(conn: TcpConnection): void {
    const flow = this.flowOf(conn);
    if (flow !== undefined && !flow.socket.destroyed) flow.socket.end();
  }

  guestSettled(conn: TcpConnection): boolean {
    const flow = this.flowOf(conn);
    if (flow === undefined) return true;
    if (this.guestMayBeWorkingFor(flow)) return false;
    return !flow.guestPaused && flow.socket.writableLength === 0;
  }

  writable(conn: TcpConnection): void {
    this.flowOf(conn)?.socket.resume();
  }
}
