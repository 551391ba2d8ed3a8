// The guest's way out: NAT from its TCP connections to real node:net ones,
// and DNS, both under the egress policy. The host dials first and answers
// the guest's SYN only once the far end accepted (SYN|ACK), else with a RST,
// so the guest never holds a half-open connection. Flows are keyed by the
// guest's source port (Mongoose's ephemeral ports, 32768-65535).
import { connect, type Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import { DnsServer, DNS_TTL_S } from './dns.js';
import { EgressPolicy, normalizeName } from './egress.js';
import type { NetInterface } from '../net/interface.js';
import { type Ipv4, formatIpv4 } from '../net/wire/ipv4.js';
import { TcpConnection, TcpState, type TcpSegmentOut } from '../net/tcp.js';
import { ACK, FIN, RST, SYN, seqAdd, type TcpRepr } from '../net/wire/tcp.js';
import type { UdpRepr } from '../net/wire/udp.js';
import { parseClientHello } from '../net/wire/tls.js';
import { Relay, type RelayFlow } from './relay.js';

export interface EgressOptions {
  /** Destinations the guest may reach, HOST[:PORT] each (see egress.ts); default none. */
  allow?: readonly string[];
  /** Outbound connections open (or being dialled) at once (default 64). */
  maxConnections?: number;
  /** How long a dial may take (default 10,000 ms; the guest itself gives up at 15 s). */
  connectTimeoutMs?: number;
  /** A connection with no data either way for this long is reset (default 300,000 ms). */
  idleTimeoutMs?: number;
}

export interface OutboundStats {
  active: number;
  dialing: number;
  opened: number;
  denied: number;
  /** Denials by reason: to the virtual link itself, by the --allow policy, over --max-outbound. */
  deniedBy: { link: number; policy: number; limit: number };
  failed: number;
  dns: DnsServer['counters'];
}

interface OutFlow extends RelayFlow {
  dstIp: Ipv4;
  dstPort: number;
  synSeq: number;
  lastActive: number;
  /** The guest's first bytes were read for a TLS server name (see deliver). */
  helloRead: boolean;
  /** Its first bytes so far, while they are the start of a ClientHello. */
  head: Uint8Array | null;
}

const DNS_PORT = 53;
/** How long the far end may keep its half of a connection the guest finished. */
const LINGER_MS = 5000;
const MAX_NAMES = 4096; // addresses remembered with the names that resolved to them
const MAX_NAMES_PER_ADDRESS = 16; // names kept for one address (a wildcard zone has any number): the latest
const MAX_LOGGED = 1024; // destinations whose denial was logged
/** The guest tells why a connection was refused in at most this many bytes (NOTE_SLOT - 1). */
const REASON_MAX = 47;

export class Outbound extends Relay<OutFlow> {
  readonly policy: EgressPolicy;
  private readonly dns: DnsServer;
  private readonly names = new Map<Ipv4, Map<string, number>>(); // ip -> name -> expiry (ms)
  private readonly logged = new Set<string>();
  private readonly maxConnections: number;
  private readonly connectTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly totals = { opened: 0, denied: 0, failed: 0 };
  private readonly deniedBy = { link: 0, policy: 0, limit: 0 };

  constructor(
    iface: NetInterface,
    options: EgressOptions,
    pause: (guestPort: number, paused: boolean) => void,
    /** Tell the guest why its connection from guestPort was refused or reset ('' clears it). */
    private readonly refuse: (guestPort: number, reason: string) => void,
    private readonly log: (line: string) => void,
  ) {
    super(iface, pause);
    this.policy = new EgressPolicy(options.allow ?? []);
    this.maxConnections = options.maxConnections ?? 64;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 300000;
    this.dns = new DnsServer(this.policy, {
      reply: (port, payload) => {
        if (!this.iface.sendUdp(this.iface.config.hostIp, DNS_PORT, port, payload)) this.iface.refuse('dns-reply-dropped');
      },
      resolved: (name, ips) => this.remember(name, ips),
      denied: (name) => this.logDenial(name, 'name not allowed by --allow, answered NXDOMAIN'),
    });
  }

  stats(): OutboundStats {
    let dialing = 0;
    for (const flow of this.flows.values()) if (flow.conn.state === TcpState.Idle) dialing++;
    return { active: this.flows.size, dialing, ...this.totals, deniedBy: { ...this.deniedBy }, dns: { ...this.dns.counters } };
  }

  protected flowKey(conn: TcpConnection): number {
    return conn.remotePort;
  }

  /** A UDP datagram from the guest: DNS to the gateway, or nothing. */
  datagram(dgram: UdpRepr, frame: Uint8Array, dstIp: Ipv4): void {
    if (dstIp !== this.iface.config.hostIp || dgram.dstPort !== DNS_PORT) return this.iface.refuse('udp-destination');
    this.dns.query(dgram.srcPort, frame.subarray(dgram.payloadStart, dgram.payloadEnd));
  }

  /** A TCP segment from the guest that is not for an inbound connection. */
  segment(seg: TcpRepr, frame: Uint8Array, dstIp: Ipv4): void {
    const flow = this.flows.get(seg.srcPort);
    if (flow !== undefined && flow.dstIp === dstIp && flow.dstPort === seg.dstPort) {
      if (flow.conn.state === TcpState.Idle) {
        // Still dialling: the guest's SYN is answered when the dial ends.
        if (seg.flags & RST) this.dropDial(flow);
        return;
      }
      if (seg.payloadEnd > seg.payloadStart) flow.lastActive = Date.now();
      this.input(flow.conn, seg, frame);
      return;
    }
    if ((seg.flags & (SYN | ACK | RST | FIN)) === SYN) {
      if (flow !== undefined) this.drop(flow); // the guest reused the port: the old one is gone
      this.dial(seg, dstIp);
      return;
    }
    this.iface.sendResetFor(seg, dstIp);
  }

  private dial(seg: TcpRepr, dstIp: Ipv4): void {
    const guestPort = seg.srcPort;
    const dest = `${formatIpv4(dstIp)}:${seg.dstPort}`;
    this.refuse(guestPort, '');
    const refuseSyn = (reason: string): void => {
      this.refuse(guestPort, reason.slice(0, REASON_MAX));
      this.iface.sendTcpFrom(dstIp, seg.dstPort, guestPort, RST | ACK, 0, seqAdd(seg.seq, 1));
    };
    const link = this.iface.config;
    if ((dstIp & 0xffffff00) >>> 0 === (link.hostIp & 0xffffff00) >>> 0) {
      this.totals.denied++;
      this.deniedBy.link++;
      return refuseSyn(`egress denied: ${dest} (virtual link)`);
    }
    const why = this.policy.check(dstIp, seg.dstPort, this.namesOf(dstIp));
    if (why !== null) {
      this.totals.denied++;
      this.deniedBy.policy++;
      this.logDenial(dest, why);
      return refuseSyn(`egress denied: ${dest}`);
    }
    if (this.flows.size >= this.maxConnections) {
      this.totals.denied++;
      this.deniedBy.limit++;
      this.logDenial(`limit:${this.maxConnections}`, `more than ${this.maxConnections} outbound connections at once (--max-outbound)`);
      return refuseSyn(`too many outbound connections (${this.maxConnections})`);
    }
    const socket = connect({ host: formatIpv4(dstIp), port: seg.dstPort, allowHalfOpen: true, noDelay: true });
    const conn = new TcpConnection(this, seg.dstPort, guestPort, this.counters, randomInt(0, 2 ** 32));
    const flow: OutFlow = { conn, socket, guestPaused: false, dstIp, dstPort: seg.dstPort, synSeq: seg.seq, lastActive: Date.now(), helloRead: false, head: null };
    this.flows.set(guestPort, flow);
    this.armIdle();
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), this.connectTimeoutMs);
    let failure = '';
    socket.once('connect', () => {
      clearTimeout(timer);
      if (this.flows.get(guestPort) !== flow) return;
      this.totals.opened++;
      flow.lastActive = Date.now();
      conn.acceptSyn(seg.seq, seg.mss, Date.now());
      this.watch(conn);
    });
    this.relaySocket(flow);
    socket.on('error', (err: NodeJS.ErrnoException) => (failure ||= `${err.code ?? err.message} ${dest}`));
    socket.on('data', () => (flow.lastActive = Date.now()));
    socket.on('close', () => {
      clearTimeout(timer);
      if (this.flows.get(guestPort) !== flow) return;
      if (conn.state === TcpState.Idle) {
        this.totals.failed++;
        this.flows.delete(guestPort);
        refuseSyn(failure || `connection failed ${dest}`);
        return;
      }
      // Reset by the far end (or the host): the guest's error says why.
      if (failure) this.refuse(guestPort, failure.slice(0, REASON_MAX));
      conn.abort('remote end closed');
    });
  }

  /** The guest gave up on a connection still being dialled. */
  private dropDial(flow: OutFlow): void {
    this.flows.delete(flow.conn.remotePort);
    flow.socket.destroy();
  }

  private drop(flow: OutFlow): void {
    if (flow.conn.state === TcpState.Idle) return this.dropDial(flow);
    flow.conn.abort('replaced');
  }

  /** Reset every outbound connection (the server is closing). */
  closeAll(): void {
    for (const flow of [...this.flows.values()]) this.drop(flow);
    if (this.idleTimer !== null) clearInterval(this.idleTimer);
    this.idleTimer = null;
  }

  private armIdle(): void {
    if (this.idleTimer !== null) return;
    this.idleTimer = setInterval(() => {
      const now = Date.now();
      for (const flow of [...this.flows.values()]) {
        if (flow.conn.state !== TcpState.Idle && now - flow.lastActive >= this.idleTimeoutMs) {
          this.refuse(flow.conn.remotePort, `idle for ${Math.round(this.idleTimeoutMs / 1000)} s, reset`);
          flow.conn.abort('idle timeout');
        }
      }
      if (this.flows.size === 0 && this.idleTimer !== null) {
        clearInterval(this.idleTimer);
        this.idleTimer = null;
      }
    }, Math.min(1000, this.idleTimeoutMs));
    this.idleTimer.unref();
  }

  private remember(name: string, ips: Ipv4[]): void {
    const expires = Date.now() + DNS_TTL_S * 1000 * 2; // the guest may cache for the TTL, then connect
    for (const ip of ips) {
      let names = this.names.get(ip);
      if (names === undefined) {
        if (this.names.size >= MAX_NAMES) this.names.delete(this.names.keys().next().value!);
        names = new Map();
        this.names.set(ip, names);
      }
      names.delete(name); // a refreshed name is the newest
      if (names.size >= MAX_NAMES_PER_ADDRESS) names.delete(names.keys().next().value!);
      names.set(name, expires);
    }
  }

  private namesOf(ip: Ipv4): string[] {
    const names = this.names.get(ip);
    if (names === undefined) return [];
    const now = Date.now();
    for (const [name, expires] of names) if (expires < now) names.delete(name);
    return [...names.keys()];
  }

  private logDenial(dest: string, why: string): void {
    if (this.logged.has(dest) || this.logged.size > MAX_LOGGED) return;
    this.logged.add(dest);
    this.log(this.logged.size > MAX_LOGGED ? 'egress denied: further destinations are not logged' : `egress denied: ${dest}: ${why}`);
  }

  // --- TcpHost ---------------------------------------------------------------

  /**
   * The guest's data toward the far end. Its first bytes, when they are a TLS
   * ClientHello, name the server the guest means to reach (SNI): that name must
   * pass the policy for this address and port as the names that allowed the
   * connection did, or a guest allowed to one name could reach another behind
   * the same address (a shared CDN front).
   */
  override deliver(conn: TcpConnection, data: Uint8Array): void {
    const flow = this.flowOf(conn);
    if (flow === undefined || flow.helloRead) return super.deliver(conn, data);
    let head = data;
    if (flow.head !== null) {
      head = new Uint8Array(flow.head.length + data.length);
      head.set(flow.head);
      head.set(data, flow.head.length);
    }
    const hello = parseClientHello(head);
    if (hello.kind === 'incomplete') {
      flow.head = head === data ? data.slice() : head; // data is a view of the guest's frame
      return;
    }
    flow.helloRead = true;
    flow.head = null;
    if (hello.kind === 'hello') {
      const name = hello.serverName === null ? null : normalizeName(hello.serverName);
      const why = this.policy.check(flow.dstIp, flow.dstPort, name === null ? [] : [name], true);
      if (why !== null) {
        const what = name === null ? 'TLS without a server name' : `TLS name ${name}`;
        this.totals.denied++;
        this.deniedBy.policy++;
        this.logDenial(`${what} to ${formatIpv4(flow.dstIp)}:${flow.dstPort}`, why);
        this.refuse(conn.remotePort, `egress denied: ${what}`.slice(0, REASON_MAX));
        queueMicrotask(() => conn.abort('egress denied: TLS name')); // not from inside the segment's processing
        return;
      }
    }
    super.deliver(conn, head);
  }

  emit(conn: TcpConnection, seg: TcpSegmentOut): boolean {
    const flow = this.flowOf(conn);
    if (flow === undefined) return true; // gone: nothing to send it from
    return this.iface.sendTcpFrom(flow.dstIp, conn.localPort, conn.remotePort, seg.flags, seg.seq, seg.ack, seg.payload, seg.mss);
  }

  established(conn: TcpConnection): void {
    if (conn.stalled) this.stall(conn);
  }

  closed(conn: TcpConnection, reset: boolean, _reason: string): void {
    const flow = this.flowOf(conn);
    this.forget(conn);
    if (flow === undefined) return;
    this.flows.delete(conn.remotePort);
    if (reset) flow.socket.destroy();
    else if (!flow.socket.destroyed) {
      // Untracked from here: a far end that never closes its half is cut off.
      flow.socket.end();
      flow.socket.setTimeout(LINGER_MS, () => flow.socket.destroy());
    }
  }
}
