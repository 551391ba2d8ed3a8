// The virtual link in packet-level tests: its addresses, frames from the guest
// built on it, and checks of the frames the host sends toward the guest.
import * as assert from 'uvu/assert';
import dnsPacket from 'dns-packet';
import { ARP_REPLY, parseArp } from '../../ts/net/wire/arp.js';
import { checksum, fold, sum16 } from '../../ts/net/wire/checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetView, formatMac, parseMac, writeEthernet } from '../../ts/net/wire/ethernet.js';
import { Outbound } from '../../ts/host/outbound.js';
import { NetInterface, type FrameSink, type LinkConfig } from '../../ts/net/interface.js';
import { PROTO_TCP, PROTO_UDP, parseIpv4, parseIpv4Header, writeIpv4Header, type Ipv4Repr } from '../../ts/net/wire/ipv4.js';
import { parseTcp, writeTcp, type TcpOut, type TcpRepr } from '../../ts/net/wire/tcp.js';
import { parseUdp, writeUdp } from '../../ts/net/wire/udp.js';
import { LINK, LINK_MAX_FRAME } from '../../ts/net/link.js';

/** A small made-up link (10.0.0.1 the host, 10.0.0.2 the guest), for the wire and interface tests. */
export const TEST_LINK: LinkConfig = {
  hostMac: parseMac('02:00:00:00:00:01'),
  hostIp: parseIpv4('10.0.0.1'),
  guestMac: parseMac('02:00:00:00:00:02'),
  guestIp: parseIpv4('10.0.0.2'),
  maxFrame: LINK_MAX_FRAME,
};

/** The real link (10.0.2.2 the host, 10.0.2.15 the guest). */
export const GUEST_LINK: LinkConfig = LINK;

export const LOOPBACK = parseIpv4('127.0.0.1');

/** A NetInterface on the link whose TCP and UDP from the guest go to the Outbound `make` builds on it (as ts/host/router.ts routes them). */
export function gatewayOnLink(link: LinkConfig, sink: FrameSink, make: (iface: NetInterface) => Outbound): { iface: NetInterface; gateway: Outbound } {
  let gateway!: Outbound;
  const iface = new NetInterface(
    link,
    sink,
    (seg, frame, dstIp) => gateway.segment(seg, frame, dstIp),
    (dgram, frame, dstIp) => gateway.datagram(dgram, frame, dstIp),
  );
  gateway = make(iface);
  return { iface, gateway };
}

// --- frames from the guest ---------------------------------------------------------

/** A segment's fields as writeTcp takes them, the source address defaulting to the guest's. */
export interface GuestTcpFrame extends Omit<TcpOut, 'srcIp'> {
  srcIp?: number;
  payload?: Uint8Array;
  protocol?: number; // the IPv4 protocol field (default TCP)
  pad?: number; // Ethernet padding bytes after the IP packet
  ipId: number;
}

/** A well-formed TCP frame from the guest (checksums right, MSS option if given). */
export function guestTcpFrame(link: LinkConfig, o: GuestTcpFrame): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const hlen = o.mss ? 24 : 20;
  const srcIp = o.srcIp ?? link.guestIp;
  const frame = new Uint8Array(14 + 20 + hlen + payload.length + (o.pad ?? 0));
  writeEthernet(frame, link.hostMac, link.guestMac, ETHERTYPE_IPV4);
  frame.set(payload, 34 + hlen);
  const { dstIp, srcPort, dstPort, seq, ack, flags, window, mss } = o;
  writeTcp(frame, 34, { srcIp, dstIp, srcPort, dstPort, seq, ack, flags, window, mss }, payload.length);
  writeIpv4Header(frame, 14, srcIp, dstIp, o.protocol ?? PROTO_TCP, hlen + payload.length, o.ipId);
  return frame;
}

export interface GuestUdpFrame {
  srcIp?: number; // default: the guest's address
  dstIp: number;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
  udpLength?: number; // overrides the UDP length field (after the checksum is computed)
  pad?: number; // Ethernet padding bytes after the IP packet
  ipId: number;
}

/** A UDP frame from the guest. */
export function guestUdpFrame(link: LinkConfig, o: GuestUdpFrame): Uint8Array {
  const srcIp = o.srcIp ?? link.guestIp;
  const frame = new Uint8Array(14 + 20 + 8 + o.payload.length + (o.pad ?? 0));
  writeEthernet(frame, link.hostMac, link.guestMac, ETHERTYPE_IPV4);
  frame.set(o.payload, 42);
  writeUdp(frame, 34, srcIp, o.dstIp, o.srcPort, o.dstPort, o.payload.length);
  if (o.udpLength !== undefined) {
    frame[38] = o.udpLength >> 8;
    frame[39] = o.udpLength & 255;
  }
  writeIpv4Header(frame, 14, srcIp, o.dstIp, PROTO_UDP, 8 + o.payload.length, o.ipId);
  return frame;
}

/** Raw transport bytes (possibly malformed) in a valid Ethernet + IPv4 frame from the guest to the host. */
export function guestIpFrame(link: LinkConfig, protocol: number, transport: Uint8Array, ipId = 1): Uint8Array {
  const frame = new Uint8Array(34 + transport.length);
  writeEthernet(frame, link.hostMac, link.guestMac, ETHERTYPE_IPV4);
  frame.set(transport, 34);
  writeIpv4Header(frame, 14, link.guestIp, link.hostIp, protocol, transport.length, ipId);
  return frame;
}

/** Recomputes the IPv4 header checksum of a frame whose header a test changed. */
export function fixIpv4Checksum(frame: Uint8Array): void {
  frame[24] = 0;
  frame[25] = 0;
  const c = checksum(frame, 14, 14 + (frame[14] & 15) * 4);
  frame[24] = c >> 8;
  frame[25] = c & 255;
}

// --- frames toward the guest ---------------------------------------------------------

/** Whether the TCP or UDP checksum (pseudo-header included) of an IPv4 packet holds. */
export function transportChecksumOk(frame: Uint8Array, ip: Ipv4Repr): boolean {
  const len = ip.payloadEnd - ip.payloadStart;
  const pseudo = (ip.src >>> 16) + (ip.src & 0xffff) + (ip.dst >>> 16) + (ip.dst & 0xffff) + ip.protocol + len;
  return fold(sum16(frame, ip.payloadStart, ip.payloadEnd, pseudo)) === 0;
}

/**
 * Asserts that a frame the host sent is an IPv4 packet of `protocol` toward the guest, well-formed at
 * every layer up to the transport checksum (and from `src`, if given); returns its IPv4 header.
 */
export function assertIpToGuest(link: LinkConfig, frame: Uint8Array, protocol: number, src?: number): Ipv4Repr {
  const eth = new EthernetView(frame);
  assert.ok(eth.check());
  assert.is(formatMac(eth.dst()), formatMac(link.guestMac));
  assert.is(formatMac(eth.src()), formatMac(link.hostMac));
  assert.is(eth.ethertype(), ETHERTYPE_IPV4);
  const ip = parseIpv4Header(frame, 14, true);
  assert.type(ip, 'object', `IPv4 header: ${String(ip)}`);
  const r = ip as Ipv4Repr;
  if (src !== undefined) assert.is(r.src, src);
  assert.is(r.dst, link.guestIp);
  assert.is(r.protocol, protocol);
  assert.is(r.payloadEnd, frame.length, 'no trailing bytes');
  assert.ok(transportChecksumOk(frame, r), 'transport checksum');
  return r;
}

/**
 * Checks, from scratch and without asserting, a frame the host sent toward the guest: a problem, or
 * null for a good ARP reply or DNS reply (from the host's port 53; to one of `dnsPorts` if given),
 * or the parsed TCP segment, for the caller's own checks.
 */
export function frameToGuestProblem(link: LinkConfig, frame: Uint8Array, dnsPorts?: Set<number>): string | null | { ip: Ipv4Repr; tcp: TcpRepr } {
  if (frame.length < 14 || frame.length > link.maxFrame) return `frame length ${frame.length}`;
  if (Buffer.compare(frame.subarray(0, 6), link.guestMac) !== 0) return 'not to the guest MAC';
  if (Buffer.compare(frame.subarray(6, 12), link.hostMac) !== 0) return 'not from the host MAC';
  const type = (frame[12] << 8) | frame[13];
  if (type === ETHERTYPE_ARP) {
    const a = parseArp(frame, 14);
    return a && a.op === ARP_REPLY && a.senderIp === link.hostIp && a.targetIp === link.guestIp && frame.length === 42 ? null : 'bad ARP';
  }
  if (type !== ETHERTYPE_IPV4) return 'ethertype';
  const parsed = parseIpv4Header(frame, 14, true);
  if (typeof parsed === 'string') return `ip ${parsed}`;
  const r = parsed as Ipv4Repr;
  if (r.dst !== link.guestIp) return 'not to the guest';
  if (r.payloadEnd !== frame.length) return 'trailing bytes';
  if (!transportChecksumOk(frame, r)) return 'transport checksum';
  if (r.protocol === PROTO_UDP) {
    const u = parseUdp(frame, r.payloadStart, r.payloadEnd);
    if (typeof u === 'string') return `udp ${u}`;
    if (r.src !== link.hostIp || u.srcPort !== 53) return 'UDP not from the DNS server';
    if (dnsPorts !== undefined && !dnsPorts.has(u.dstPort)) return 'DNS reply to a port that asked nothing';
    try {
      if (dnsPacket.decode(Buffer.from(frame.subarray(u.payloadStart, u.payloadEnd))).type !== 'response') return 'DNS not a response';
    } catch {
      return 'DNS reply does not decode';
    }
    return null;
  }
  if (r.protocol !== PROTO_TCP) return `protocol ${r.protocol}`;
  const t = parseTcp(frame, r.payloadStart, r.payloadEnd);
  if (typeof t === 'string') return `tcp ${t}`;
  return { ip: r, tcp: t };
}
