// Relays client sockets to the guest's HTTP listeners over the virtual link:
// one TcpConnection per client, SYNs spread over the listeners and paced to
// each one's 5-slot backlog, backpressure both ways, and nothing kept once a
// connection is gone.
import type { Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import type { NetInterface } from '../net/interface.js';
import { TcpConnection, TcpState, type TcpCounters, type TcpSegmentOut } from '../net/tcp.js';
import { ACK, RST, SYN, seqAdd, type TcpRepr } from '../net/wire/tcp.js';
import { GUEST_HTTP_LISTENERS, GUEST_HTTP_PORT, isGuestHttpPort, isInbound } from '../net/link.js';
import { PortPool } from '../net/ports.js';
import { Relay, type RelayFlow } from './relay.js';

/** A request for one of the host's own paths: which, and whether by HEAD. */
export interface HostPathRequest {
  path: string;
  head: boolean;
}

/**
 * The host's own paths (health check, metrics), looked for in a client's
 * first bytes while its connection to the guest opens: those bytes wait
 * until they are known not to ask for one.
 */
export interface HostPaths {
  /** The path `head` asks for, `undecided` while more bytes could make it ask for one, or null. */
  match(head: Buffer): HostPathRequest | 'undecided' | null;
  /** Answer it on the socket, which is the host's from here (its guest connection ends when it closes). */
  answer(socket: Socket, request: HostPathRequest): void;
  /** A first line that could still ask for one stopped coming for headerMs: answer 408. */
  timedOut(socket: Socket): void;
  readonly headerMs: number;
}

/** Mongoose keeps 5 half-open connections per listener and drops further SYNs (the guest has GUEST_HTTP_LISTENERS). */
export const MAX_HALF_OPEN = 5;
/** Mongoose frees an unanswered backlog slot within 1-2 s. */
const ABANDONED_SYN_MS = 2500;
/** How long a client may keep its half of a finished connection open. */
const LINGER_MS = 5000;
/**
 * Host ports for inbound connections. The guest's own ephemeral ports (its
 * outbound connections) are 32768-65535, so a port names one flow either way.
 */
export const INBOUND_PORTS: [number, number] = [1024, 32767];

interface Flow extends RelayFlow {
  /** The client socket is closed and the connection is finished. */
  done: boolean;
  /** Holds one of the guest's backlog slots (SYN sent, no SYN|ACK yet). */
  halfOpen: boolean;
  /** Which listener (0 .. GUEST_HTTP_LISTENERS-1) its SYN went to. */
  listener: number;
  /** Closed during SYN-SENT; the port returns via releaseAbandoned(). */
  abandonedSyn: boolean;
  /**
   * The client half-closed. A FIN with requests pipelined usually means it
   * left, which the host learns only by writing to it: so each response to it
   * is followed by an empty write (EPIPE if it left, and the guest is reset),
   * and until that succeeds the guest holds its next request (FLOW_HELD).
   */
  ended: boolean;
  probing: boolean;
  /** When a probe last released a request it pipelined (0: never). */
  releasedAt: number;
  /** The client's first bytes, held while they may ask for a host path (null: passed on, or none to look for). */
  sniffed: Buffer | null;
  hostPaths: HostPaths | null;
  sniffTimer: NodeJS.Timeout | undefined;
}

/**
 * A half-closed client that was sent a response after its FIN may have more
 * requests queued in the guest: for this long after its last one was released,
 * its FIN waits while the guest is busy (Mongoose has no half-close: a FIN
 * ends the requests it has not parsed yet).
 */
const PIPELINE_FIN_WAIT_MS = 5000;

/** What the guest's side of a half-closed client's flow needs (ts/guest/guest.ts). */
export interface EndedClientHooks {
  /** Whether the guest is running rather than waiting for frames. */
  readonly isBusy: boolean;
  setClientEnded(port: number, ended: boolean): void;
  beginProbe(port: number): void;
  endProbe(port: number): boolean;
}
const NO_ENDED_HOOKS: EndedClientHooks = { isBusy: false, setClientEnded: () => {}, beginProbe: () => {}, endProbe: () => true };

const EMPTY = Buffer.alloc(0);

export interface InboundStats {
  active: number;
  waitingForSyn: number;
  halfOpen: number;
  /** Bytes written to client sockets and not yet flushed to the kernel. */
  bufferedToClients: number;
  /** Connections by TCP state (client socket state after a slash when it is not open). */
  states: Record<string, number>;
  counters: TcpCounters;
  /** Bytes from clients and to them. */
  bytesIn: number;
  bytesOut: number;
}

/** Relays client sockets to the guest's HTTP listener; flows are keyed by host port. */
export class Inbound extends Relay<Flow> {
  private readonly synQueue: Flow[] = [];
  /** Backlog slots taken, per guest listener. */
  private readonly halfOpenAt = new Int32Array(GUEST_HTTP_LISTENERS);
  private readonly ports = new PortPool(INBOUND_PORTS[0], INBOUND_PORTS[1], 2000);
  private readonly lingering = new Set<Socket>();
  /** Ports whose client left during SYN-SENT: the guest's backlog slot is still taken. */
  private readonly abandoned = new Map<number, { timer: NodeJS.Timeout; listener: number }>();

  constructor(
    iface: NetInterface,
    pause: (hostPort: number, paused: boolean) => void,
    private readonly onAccept: (hostPort: number, socket: Socket) => void = () => {},
    private readonly endedClients: EndedClientHooks = NO_ENDED_HOOKS,
  ) {
    super(iface, pause);
  }

  protected flowKey(conn: TcpConnection): number {
    return conn.localPort;
  }

  /** Whether a segment from the guest belongs to an inbound connection. */
  owns(seg: TcpRepr, dstIp: number): boolean {
    return isInbound(seg.srcPort, dstIp);
  }

  /** Client connections this relay holds (for least-loaded dispatch). */
  get load(): number {
    return this.flows.size;
  }

  stats(): InboundStats {
    let buffered = 0;
    const states: Record<string, number> = {};
    for (const flow of this.flows.values()) {
      buffered += flow.socket.writableLength;
      const rs = flow.socket.destroyed ? 'destroyed' : flow.socket.readyState;
      const key = rs === 'open' ? flow.conn.state : `${flow.conn.state}/${rs}`;
      states[key] = (states[key] ?? 0) + 1;
    }
    return {
      active: this.flows.size,
      bytesIn: this.bytes.fromSockets,
      bytesOut: this.bytes.toSockets,
      waitingForSyn: this.synQueue.length,
      halfOpen: this.halfOpenAt.reduce((a, b) => a + b, 0),
      bufferedToClients: buffered,
      states,
      counters: this.counters,
    };
  }

  /** Hand a client socket to the guest (a paused one is resumed), its first bytes checked for `hostPaths`. */
  accept(socket: Socket, hostPaths: HostPaths | null = null): void {
    const port = this.ports.take();
    if (port === null) {
      socket.destroy(); // every port is in use or cooling down
      return;
    }
    this.onAccept(port, socket);
    const conn = new TcpConnection(this, port, GUEST_HTTP_PORT, this.counters, randomInt(0, 2 ** 32));
    const flow: Flow = {
      conn, socket, done: false, halfOpen: false, listener: 0, guestPaused: false, abandonedSyn: false, ended: false, probing: false, releasedAt: 0,
      sniffed: hostPaths === null ? null : EMPTY, hostPaths, sniffTimer: undefined,
    };
    this.flows.set(port, flow);
    this.relaySocket(flow);
    socket.on('close', () => {
      clearTimeout(flow.sniffTimer);
      conn.abort('client closed');
      this.release(flow);
    });
    socket.resume(); // paused if it was taken back from a guest that died
    this.synQueue.push(flow);
    this.startSyns();
  }

  /**
   * The guest died: give back the clients it never accepted (their bytes
   * pushed back into the socket, paused), to be served by another guest.
   */
  takeUnaccepted(): Socket[] {
    const moved: Socket[] = [];
    for (const flow of [...this.flows.values()]) {
      const unsent = flow.conn.takeUnsent();
      if (unsent === null || flow.socket.destroyed) continue;
      flow.socket.pause();
      flow.socket.removeAllListeners('data');
      flow.socket.removeAllListeners('end');
      flow.socket.removeAllListeners('close');
      flow.socket.removeAllListeners('error');
      clearTimeout(flow.sniffTimer);
      if (flow.sniffed !== null && flow.sniffed.length > 0) flow.socket.unshift(flow.sniffed); // held, after what was sent
      for (let i = unsent.length - 1; i >= 0; i--) flow.socket.unshift(Buffer.from(unsent[i]));
      this.flows.delete(flow.conn.localPort); // first: the abort below must not touch the socket
      flow.done = true;
      flow.conn.abort('handed to another guest');
      moved.push(flow.socket);
    }
    return moved;
  }

  /** True once the guest has finished (sent its FIN on) every connection and clients hold all its bytes. */
  drained(): boolean {
    if (this.synQueue.length > 0) return false;
    for (const flow of this.flows.values()) {
      const s = flow.conn.state;
      if (s !== TcpState.LastAck && s !== TcpState.Closing && s !== TcpState.Closed) return false;
      if (flow.socket.writableLength > 0) return false;
    }
    return true;
  }

  /** Drop every connection (RST to the guest, client sockets destroyed). */
  closeAll(): void {
    for (const flow of [...this.flows.values()]) {
      flow.conn.abort('server closing');
      flow.socket.destroy();
    }
    for (const socket of this.lingering) socket.destroy();
    for (const { timer } of this.abandoned.values()) clearTimeout(timer);
    this.abandoned.clear();
  }

  /** The guest's interface is up: start the connections waiting for it. */
  startSyns(): void {
    if (!this.iface.guestUp) return;
    while (this.synQueue.length > 0) {
      const listener = this.leastBusyListener();
      if (this.halfOpenAt[listener] >= MAX_HALF_OPEN) return;
      const flow = this.synQueue.shift()!;
      if (flow.conn.state !== TcpState.Idle || flow.done) continue;
      this.halfOpenAt[listener]++;
      flow.halfOpen = true;
      flow.listener = listener;
      flow.conn.open(Date.now(), GUEST_HTTP_PORT + listener);
      this.watch(flow.conn);
    }
  }

  private leastBusyListener(): number {
    let best = 0;
    for (let i = 1; i < GUEST_HTTP_LISTENERS; i++) if (this.halfOpenAt[i] < this.halfOpenAt[best]) best = i;
    return best;
  }

  segment(seg: TcpRepr, frame: Uint8Array): void {
    const known = this.flows.get(seg.dstPort);
    const flow = known !== undefined && known.conn.remotePort === seg.srcPort ? known : undefined;
    if (flow === undefined || flow.conn.state === TcpState.Closed) {
      if (isGuestHttpPort(seg.srcPort) && this.abandoned.has(seg.dstPort) && (seg.flags & (SYN | ACK)) === (SYN | ACK)) {
        // The listener ignores a RST for a backlog entry: complete the
        // handshake, then reset the new connection, to free the slot now.
        this.iface.sendTcp(seg.dstPort, seg.srcPort, ACK, seg.ack, seqAdd(seg.seq, 1));
        this.iface.sendTcp(seg.dstPort, seg.srcPort, RST | ACK, seg.ack, seqAdd(seg.seq, 1));
        this.releaseAbandoned(seg.dstPort);
        return;
      }
      this.iface.sendResetFor(seg);
      return;
    }
    this.input(flow.conn, seg, frame);
  }

  // --- TcpHost ---------------------------------------------------------------

  emit(conn: TcpConnection, seg: TcpSegmentOut): boolean {
    return this.iface.sendTcp(conn.localPort, conn.remotePort, seg.flags, seg.seq, seg.ack, seg.payload, seg.mss);
  }

  private endHalfOpen(flow: Flow | undefined): void {
    if (flow?.halfOpen) {
      flow.halfOpen = false;
      this.halfOpenAt[flow.listener]--;
      this.startSyns();
    }
  }

  established(conn: TcpConnection): void {
    this.endHalfOpen(this.flows.get(conn.localPort));
    if (conn.stalled) this.stall(conn);
  }

  closed(conn: TcpConnection, reset: boolean, _reason: string): void {
    const flow = this.flows.get(conn.localPort);
    if (flow?.halfOpen) {
      // Gone before the guest answered: its backlog slot stays taken until
      // its SYN|ACK arrives (or the slot expires), so keep counting it.
      flow.halfOpen = false;
      flow.abandonedSyn = true;
      const port = conn.localPort;
      const timer = setTimeout(() => this.releaseAbandoned(port), ABANDONED_SYN_MS);
      timer.unref();
      this.abandoned.set(port, { timer, listener: flow.listener });
    }
    this.forget(conn);
    if (flow === undefined) return;
    if (reset) flow.socket.destroy();
    // Usually ended already, when the guest's FIN came (a second end() builds an Error to report).
    else if (!flow.socket.destroyed && !flow.socket.writableEnded) flow.socket.end();
    this.release(flow);
  }

  protected override received(flow: Flow, data: Buffer): Buffer | null {
    if (flow.sniffed === null || flow.hostPaths === null) return data;
    const paths = flow.hostPaths;
    const first = flow.sniffed.length === 0;
    const head = first ? data : Buffer.concat([flow.sniffed, data]);
    const request = paths.match(head);
    if (request === 'undecided') {
      flow.sniffed = head;
      if (first && paths.headerMs > 0) {
        flow.sniffTimer = setTimeout(() => {
          if (flow.sniffed === null || flow.done) return;
          this.takeForHost(flow);
          paths.timedOut(flow.socket);
        }, paths.headerMs);
      }
      return null;
    }
    clearTimeout(flow.sniffTimer);
    flow.sniffed = null;
    if (request === null) return head;
    this.takeForHost(flow);
    paths.answer(flow.socket, request);
    return null;
  }

  /** The host answers this client: nothing more of it goes to the guest, whose connection ends as the socket closes. */
  private takeForHost(flow: Flow): void {
    flow.sniffed = null;
    flow.socket.removeAllListeners('data');
    flow.socket.removeAllListeners('end');
  }

  protected override clientEnded(flow: Flow): void {
    flow.ended = true;
    this.endedClients.setClientEnded(flow.conn.localPort, true); // held until a response is seen to reach it
  }

  protected override delivered(flow: Flow): void {
    if (!flow.ended || flow.probing) return;
    flow.probing = true;
    // Once the batch of guest frames being read is through (beginProbe reads the rest).
    queueMicrotask(() => this.probe(flow));
  }

  // Its callback runs once everything written before it has gone to the
  // kernel: with no error, the client was still there to take it.
  private probe(flow: Flow): void {
    const port = flow.conn.localPort;
    if (flow.done) return;
    flow.probing = true;
    this.endedClients.beginProbe(port);
    flow.socket.write(EMPTY, (err) => {
      flow.probing = false;
      if (err || flow.done) return; // 'close' resets the guest's connection
      if (!this.endedClients.endProbe(port)) this.probe(flow);
      else flow.releasedAt = Date.now();
    });
  }

  protected override guestMayBeWorkingFor(flow: Flow): boolean {
    return flow.releasedAt > 0 && Date.now() - flow.releasedAt < PIPELINE_FIN_WAIT_MS && this.endedClients.isBusy;
  }

  private releaseAbandoned(port: number): void {
    const slot = this.abandoned.get(port);
    if (slot === undefined) return;
    clearTimeout(slot.timer);
    this.abandoned.delete(port);
    this.ports.give(port, Date.now());
    this.halfOpenAt[slot.listener]--;
    this.startSyns();
  }

  private release(flow: Flow): void {
    if (flow.conn.state !== TcpState.Closed) return;
    if (flow.done) {
      this.lingering.delete(flow.socket);
      return;
    }
    if (!flow.socket.destroyed && flow.socket.readyState !== 'closed') {
      // The guest is done; a client that keeps its half open gets a little
      // while to close (like FIN-WAIT-2), holding no connection state.
      this.lingering.add(flow.socket);
      flow.socket.setTimeout(LINGER_MS, () => flow.socket.destroy());
      flow.socket.removeAllListeners('data');
      flow.socket.on('data', () => {}); // nothing more goes to the guest
    }
    flow.done = true;
    if (flow.ended) this.endedClients.setClientEnded(flow.conn.localPort, false); // the port serves a new client next
    this.flows.delete(flow.conn.localPort);
    if (!flow.abandonedSyn) this.ports.give(flow.conn.localPort, Date.now());
  }
}
