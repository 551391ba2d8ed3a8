// The host's interface on the virtual link: it is the guest's gateway. It
// validates every frame the guest sends, answers ARP, and hands TCP segments
// and UDP datagrams on (to the inbound forwarder or the outbound gateway);
// frames toward the guest are built here.
import { buildArp, parseArp, ARP_REPLY, ARP_REQUEST } from './wire/arp.js';
import { ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetView, type Mac, BROADCAST_MAC, writeEthernet } from './wire/ethernet.js';
import { IPV4_HEADER_LEN, PROTO_TCP, PROTO_UDP, parseIpv4Header, writeIpv4Header, type Ipv4 } from './wire/ipv4.js';
import { ACK, RST, parseTcp, seqAdd, writeTcp, type TcpRepr } from './wire/tcp.js';
import { UDP_HEADER_LEN, parseUdp, writeUdp, type UdpRepr } from './wire/udp.js';

export interface LinkConfig {
  hostMac: Mac;
  hostIp: Ipv4;
  guestMac: Mac;
  guestIp: Ipv4;
  /** Largest frame the guest accepts (its MTU + Ethernet header). */
  maxFrame: number;
  /**
   * Whether TCP segments toward the guest carry their checksum (default yes).
   * Mongoose verifies none, and the frames never leave shared memory: only a
   * capture needs them, and without it an upload skips a pass over each byte.
   */
  tcpChecksums?: boolean;
}

/** Where frames toward the guest go; false when it cannot take more now. */
export interface FrameSink {
  /** `reserve`: bytes that must stay free after this frame (kept for control frames). */
  send(frame: Uint8Array, reserve: number): boolean;
}

/** Room kept in the guest's ring for control segments, so ACK/FIN/RST never wait behind data. */
export const CONTROL_RESERVE = 64 * 1024;

export interface LinkCounters {
  framesIn: number;
  framesOut: number;
  refused: Record<string, number>; // invalid guest frames, by reason
}

/** A TCP segment from the guest, already validated, and the address it is for. */
export type SegmentHandler = (seg: TcpRepr, frame: Uint8Array, dstIp: Ipv4) => void;
/** A UDP datagram from the guest, already validated. */
export type DatagramHandler = (dgram: UdpRepr, frame: Uint8Array, dstIp: Ipv4) => void;

/** Destinations no frame may go to: broadcast, multicast, "this network". */
function unroutable(ip: Ipv4): boolean {
  return ip >>> 28 >= 14 || ip >>> 24 === 0;
}

/**
 * Frame-building buffers, one per size, shared by every interface: a frame is
 * built and copied out within one call. A buffer per interface (one per guest
 * start) was malloc churn that fragmented the host's heap across crash restarts.
 */
const scratchBySize = new Map<number, Uint8Array>();

function scratchFor(maxFrame: number): Uint8Array {
  const size = Math.max(maxFrame, 1514) + 64;
  let buf = scratchBySize.get(size);
  if (buf === undefined) scratchBySize.set(size, (buf = new Uint8Array(size)));
  return buf;
}

export class NetInterface {
  readonly counters: LinkCounters = { framesIn: 0, framesOut: 0, refused: {} };
  private readonly scratch: Uint8Array;
  private readonly eth = new EthernetView(new Uint8Array(0));
  private ipId = 0;
  /** Set once the guest has spoken on the link (its interface is up). */
  guestUp = false;
  onGuestUp: () => void = () => {};

  constructor(
    readonly config: LinkConfig,
    private readonly sink: FrameSink,
    private readonly onSegment: SegmentHandler,
    private readonly onDatagram: DatagramHandler = () => this.refuse('udp-unhandled'),
  ) {
    this.scratch = scratchFor(config.maxFrame);
  }

  /** One frame from the guest (the view is valid only during the call). */
  receive(frame: Uint8Array): void {
    this.counters.framesIn++;
    const eth = this.eth;
    eth.buf = frame;
    if (!eth.check()) return this.refuse('ethernet-short');
    const type = eth.ethertype();
    if (type === ETHERTYPE_ARP) return this.receiveArp(frame);
    if (type !== ETHERTYPE_IPV4) return this.refuse('ethertype');
    const ip = parseIpv4Header(frame, ETH_HEADER_LEN);
    if (typeof ip === 'string') return this.refuse(`ipv4-${ip}`);
    if (ip.src !== this.config.guestIp) return this.refuse('ipv4-spoofed-source');
    if (ip.dst === this.config.guestIp || unroutable(ip.dst)) return this.refuse('ipv4-destination');
    if (ip.protocol === PROTO_TCP) {
      const tcp = parseTcp(frame, ip.payloadStart, ip.payloadEnd);
      if (typeof tcp === 'string') return this.refuse(`tcp-${tcp}`);
      this.onSegment(tcp, frame, ip.dst);
    } else if (ip.protocol === PROTO_UDP) {
      const udp = parseUdp(frame, ip.payloadStart, ip.payloadEnd);
      if (typeof udp === 'string') return this.refuse(`udp-${udp}`);
      this.onDatagram(udp, frame, ip.dst);
    } else {
      this.refuse('ipv4-protocol');
    }
  }

  /** Count a frame a handler refused. */
  refuse(reason: string): void {
    this.counters.refused[reason] = (this.counters.refused[reason] ?? 0) + 1;
  }

  private receiveArp(frame: Uint8Array): void {
    const arp = parseArp(frame, ETH_HEADER_LEN);
    if (arp === null) return this.refuse('arp');
    if (arp.senderIp !== this.config.guestIp) return this.refuse('arp-spoofed-sender');
    if (!this.guestUp) {
      this.guestUp = true;
      this.onGuestUp();
    }
    if (arp.op === ARP_REQUEST && arp.targetIp === this.config.hostIp) {
      // To the guest's configured MAC, not the one the request claims: every frame goes to the guest.
      this.sendRaw(buildArp(ARP_REPLY, this.config.hostMac, this.config.hostIp, this.config.guestMac, this.config.guestIp));
    }
  }

  sendRaw(frame: Uint8Array, reserve = 0): boolean {
    if (!this.sink.send(frame, reserve)) return false;
    this.counters.framesOut++;
    return true;
  }

  /** Build and send a TCP segment from the host to the guest. */
  sendTcp(srcPort: number, dstPort: number, flags: number, seq: number, ack: number, payload?: Uint8Array, mss?: number, window = 65535): boolean {
    return this.sendTcpFrom(this.config.hostIp, srcPort, dstPort, flags, seq, ack, payload, mss, window);
  }

  /** The same, from another address (the far end of an outbound connection). */
  sendTcpFrom(srcIp: Ipv4, srcPort: number, dstPort: number, flags: number, seq: number, ack: number, payload?: Uint8Array, mss?: number, window = 65535): boolean {
    const out = this.scratch;
    const ipAt = ETH_HEADER_LEN;
    const tcpAt = ipAt + IPV4_HEADER_LEN;
    const hlen = mss ? 24 : 20;
    const plen = payload ? payload.length : 0;
    if (payload) out.set(payload, tcpAt + hlen);
    writeEthernet(out, this.config.guestMac, this.config.hostMac, ETHERTYPE_IPV4);
    writeTcp(out, tcpAt, { srcIp, dstIp: this.config.guestIp, srcPort, dstPort, seq, ack, flags, window, mss }, plen, this.config.tcpChecksums ?? true);
    this.ipId = (this.ipId + 1) & 0xffff;
    writeIpv4Header(out, ipAt, srcIp, this.config.guestIp, PROTO_TCP, hlen + plen, this.ipId);
    return this.sendRaw(out.subarray(0, tcpAt + hlen + plen), plen > 0 ? CONTROL_RESERVE : 0);
  }

  /** A UDP datagram from `srcIp:srcPort` to the guest (payload small enough for one frame). */
  sendUdp(srcIp: Ipv4, srcPort: number, dstPort: number, payload: Uint8Array): boolean {
    const out = this.scratch;
    const udpAt = ETH_HEADER_LEN + IPV4_HEADER_LEN;
    if (udpAt + UDP_HEADER_LEN + payload.length > this.config.maxFrame) return false;
    out.set(payload, udpAt + UDP_HEADER_LEN);
    writeEthernet(out, this.config.guestMac, this.config.hostMac, ETHERTYPE_IPV4);
    writeUdp(out, udpAt, srcIp, this.config.guestIp, srcPort, dstPort, payload.length);
    this.ipId = (this.ipId + 1) & 0xffff;
    writeIpv4Header(out, ETH_HEADER_LEN, srcIp, this.config.guestIp, PROTO_UDP, UDP_HEADER_LEN + payload.length, this.ipId);
    return this.sendRaw(out.subarray(0, udpAt + UDP_HEADER_LEN + payload.length));
  }

  /** Answer a segment that belongs to no connection (RFC 9293 3.10.7.1), from the address it was sent to. */
  sendResetFor(seg: TcpRepr, from = this.config.hostIp): void {
    if (seg.flags & RST) return;
    const len = seg.payloadEnd - seg.payloadStart;
    if (seg.flags & ACK) this.sendTcpFrom(from, seg.dstPort, seg.srcPort, RST, seg.ack, 0);
    else this.sendTcpFrom(from, seg.dstPort, seg.srcPort, RST | ACK, 0, seqAdd(seg.seq, len + ((seg.flags & 0x03) ? 1 : 0)));
  }

  /** Tell the guest where the gateway is before it asks (saves its ARP timeout). */
  announce(): void {
    this.sendRaw(buildArp(ARP_REPLY, this.config.hostMac, this.config.hostIp, BROADCAST_MAC, this.config.guestIp));
  }
}
