// Randomized tests with a fixed seed: random and mutated frames through
// NetInterface.receive and parseTcp, and a random guest byte stream through
// TcpConnection. Nothing may throw, and nothing invalid may get through.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import dnsPacket from 'dns-packet';
import { createServer, type Socket } from 'node:net';
import { Outbound } from '../../ts/host/outbound.js';
import { NetInterface, type LinkConfig } from '../../ts/net/interface.js';
import { ARP_REPLY, ARP_REQUEST, buildArp, parseArp } from '../../ts/net/wire/arp.js';
import { BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, writeEthernet } from '../../ts/net/wire/ethernet.js';
import { PROTO_TCP, PROTO_UDP, parseIpv4, readU32, writeIpv4Header } from '../../ts/net/wire/ipv4.js';
import { ACK, FIN, PSH, RST, SYN, parseTcp, seqAdd, writeTcp, type TcpRepr } from '../../ts/net/wire/tcp.js';
import { TcpConnection, TcpState, type TcpHost, type TcpSegmentOut } from '../../ts/net/tcp.js';
import { type UdpRepr } from '../../ts/net/wire/udp.js';
import { LOOPBACK, TEST_LINK, gatewayOnLink, frameToGuestProblem, guestTcpFrame, guestUdpFrame } from '../helpers/link.js';
import { rng } from '../helpers/rng.js';

const CONFIG: LinkConfig = TEST_LINK;
const { hostMac: HOST_MAC, guestMac: GUEST_MAC, hostIp: HOST_IP, guestIp: GUEST_IP } = CONFIG;

/** Option walk written independently of parseTcp: null if malformed, else the MSS (0 if none). */
function refOptions(buf: Uint8Array, from: number, to: number): number | null {
  let mss = 0;
  let i = from;
  while (i < to) {
    const kind = buf[i];
    if (kind === 0) return mss;
    if (kind === 1) {
      i += 1;
      continue;
    }
    if (i + 1 >= to) return null;
    const len = buf[i + 1];
    if (len < 2 || i + len > to) return null;
    if (kind === 2 && len === 4) mss = (buf[i + 2] << 8) | buf[i + 3];
    i += len;
  }
  return mss;
}

/** A destination the interface passes on: not the guest itself, broadcast, multicast or 0/8. */
function routable(dst: number): boolean {
  return dst !== GUEST_IP && dst >>> 28 < 14 && dst >>> 24 !== 0;
}

/** Re-validate, from scratch, the IPv4 layer of a frame that reached a handler. */
function ipProblem(frame: Uint8Array, protocol: number, dstIp: number): string | null {
  if (frame.length < 14 + 20) return 'frame too short';
  if (((frame[12] << 8) | frame[13]) !== ETHERTYPE_IPV4) return 'ethertype';
  if (frame[14] >> 4 !== 4) return 'ip version';
  const ihl = (frame[14] & 15) * 4;
  if (ihl < 20) return 'ihl';
  const total = (frame[16] << 8) | frame[17];
  if (total < ihl || 14 + total > frame.length) return 'ip total length';
  if ((((frame[20] << 8) | frame[21]) & 0x3fff) !== 0) return 'fragment';
  if (frame[23] !== protocol) return 'protocol';
  if (readU32(frame, 26) !== GUEST_IP) return 'source';
  if (readU32(frame, 30) !== dstIp) return 'destination argument';
  if (!routable(dstIp)) return 'destination';
  return null;
}

/** Re-validate, from scratch, a frame that reached the datagram handler. */
function udpProblem(frame: Uint8Array, dgram: UdpRepr, dstIp: number): string | null {
  const p = ipProblem(frame, PROTO_UDP, dstIp);
  if (p !== null) return p;
  const u = 14 + (frame[14] & 15) * 4;
  const total = (frame[16] << 8) | frame[17];
  const len = (frame[u + 4] << 8) | frame[u + 5];
  if (total - (u - 14) < 8) return 'udp short';
  if (len < 8 || u + len > 14 + total) return 'udp length';
  if (dgram.srcPort !== ((frame[u] << 8) | frame[u + 1])) return 'udp srcPort';
  if (dgram.dstPort !== ((frame[u + 2] << 8) | frame[u + 3])) return 'udp dstPort';
  if (dgram.payloadStart !== u + 8 || dgram.payloadEnd !== u + len) return 'udp payload bounds';
  return null;
}

/** Re-validate, from scratch, a frame that reached the segment handler. Returns a problem or null. */
function problemWith(frame: Uint8Array, seg: TcpRepr, dstIp = HOST_IP): string | null {
  const p = ipProblem(frame, PROTO_TCP, dstIp);
  if (p !== null) return p;
  const ihl = (frame[14] & 15) * 4;
  const total = (frame[16] << 8) | frame[17];
  const t = 14 + ihl;
  const tcpLen = total - ihl;
  if (tcpLen < 20) return 'tcp short';
  const doff = (frame[t + 12] >> 4) * 4;
  if (doff < 20 || doff > tcpLen) return 'data offset';
  const mss = refOptions(frame, t + 20, t + doff);
  if (mss === null) return 'options';
  if (seg.mss !== mss) return 'mss';
  if (seg.srcPort !== ((frame[t] << 8) | frame[t + 1])) return 'srcPort';
  if (seg.dstPort !== ((frame[t + 2] << 8) | frame[t + 3])) return 'dstPort';
  if (seg.seq !== readU32(frame, t + 4)) return 'seq';
  if (seg.ack !== readU32(frame, t + 8)) return 'ack';
  if (seg.flags !== (frame[t + 13] & 0x3f)) return 'flags';
  if (seg.payloadStart !== t + doff) return 'payloadStart';
  if (seg.payloadEnd !== 14 + total) return 'payloadEnd';
  return null;
}

function randomBytes(next: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
  return b;
}

/** Where base frames go: [address, port] for TCP and UDP, and the guest's source port. */
interface Shape {
  dst(next: () => number, udp: boolean): [number, number];
  srcPort(next: () => number): number;
  /** TCP flags (default: any six bits). */
  flags?(next: () => number): number;
}

/** Mostly the host, sometimes any address (the interface passes on routable ones). */
const INTERFACE_SHAPE: Shape = {
  dst: (next, udp) => [next() < 0.8 ? HOST_IP : Math.floor(next() * 2 ** 32), udp ? (next() < 0.7 ? 53 : Math.floor(next() * 65536)) : 40000 + Math.floor(next() * 10)],
  srcPort: () => 8080,
};

/** A UDP frame from the guest with a random (or given) payload. */
function udpFrame(next: () => number, dstIp: number, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const pad = next() < 0.2 ? Math.floor(next() * 10) : 0; // drawn before the IP id, as the sequence of draws is the test
  return guestUdpFrame(CONFIG, { dstIp, srcPort, dstPort, payload, pad, ipId: Math.floor(next() * 65536) });
}

/** A plausible frame from the guest: TCP with random options and payload, UDP, or ARP. */
function baseFrame(next: () => number, shape: Shape = INTERFACE_SHAPE): Uint8Array {
  const r = next();
  if (r < 0.15) {
    const target = next() < 0.7 ? HOST_IP : Math.floor(next() * 2 ** 32);
    return buildArp(next() < 0.8 ? ARP_REQUEST : ARP_REPLY, GUEST_MAC, next() < 0.9 ? GUEST_IP : Math.floor(next() * 2 ** 32), BROADCAST_MAC, target);
  }
  if (r < 0.25) {
    const [dstIp, dstPort] = shape.dst(next, true);
    return udpFrame(next, dstIp, shape.srcPort(next), dstPort, randomBytes(next, Math.floor(next() * 80)));
  }
  const [dstIp, dstPort] = shape.dst(next, false);
  const options: number[] = [];
  const nOpts = Math.floor(next() * 4);
  for (let i = 0; i < nOpts; i++) {
    const k = next();
    if (k < 0.3) options.push(1);
    else if (k < 0.6) options.push(2, 4, Math.floor(next() * 256), Math.floor(next() * 256));
    else if (k < 0.8) options.push(8, 10, ...randomBytes(next, 8));
    else options.push(0);
  }
  while (options.length % 4 !== 0) options.push(next() < 0.5 ? 0 : 1);
  const hlen = 20 + options.length;
  const payload = randomBytes(next, next() < 0.4 ? 0 : Math.floor(next() * 300));
  const frame = new Uint8Array(34 + hlen + payload.length + (next() < 0.2 ? Math.floor(next() * 10) : 0));
  writeEthernet(frame, HOST_MAC, GUEST_MAC, ETHERTYPE_IPV4);
  frame.set(payload, 34 + hlen);
  writeTcp(
    frame,
    34,
    { srcIp: GUEST_IP, dstIp, srcPort: shape.srcPort(next), dstPort, seq: Math.floor(next() * 2 ** 32), ack: Math.floor(next() * 2 ** 32), flags: shape.flags ? shape.flags(next) : Math.floor(next() * 64), window: 6000 },
    payload.length,
  );
  frame.set(options, 54);
  frame[46] = (hlen / 4) << 4;
  writeIpv4Header(frame, 14, GUEST_IP, dstIp, PROTO_TCP, hlen + payload.length, Math.floor(next() * 65536));
  return frame;
}

/** Interesting header bytes to overwrite (Ethernet type, IP vihl/length/frag/proto/addresses, UDP length, TCP offset/options). */
const HOT = [12, 13, 14, 16, 17, 20, 21, 23, 26, 29, 30, 33, 38, 39, 46, 54, 55, 56, 57];

function mutate(next: () => number, f: Uint8Array): Uint8Array {
  let frame = f;
  const ops = 1 + Math.floor(next() * 3);
  for (let o = 0; o < ops; o++) {
    const r = next();
    if (r < 0.35 && frame.length > 0) {
      frame[Math.floor(next() * frame.length)] = Math.floor(next() * 256);
    } else if (r < 0.6) {
      const at = HOT[Math.floor(next() * HOT.length)];
      if (at < frame.length) frame[at] = next() < 0.3 ? [0, 1, 2, 0xff, 0x45, 0x40, 0x06, 0x50, 0xf0][Math.floor(next() * 9)] : Math.floor(next() * 256);
    } else if (r < 0.8) {
      frame = frame.slice(0, Math.floor(next() * (frame.length + 1)));
    } else {
      const more = randomBytes(next, Math.floor(next() * 40));
      const g = new Uint8Array(frame.length + more.length);
      g.set(frame);
      g.set(more, frame.length);
      frame = g;
    }
  }
  return frame;
}

function randomFrame(next: () => number): Uint8Array {
  const f = randomBytes(next, Math.floor(next() * 120));
  if (f.length >= 14 && next() < 0.6) {
    const arp = next() < 0.3;
    f[12] = 0x08;
    f[13] = arp ? 0x06 : 0x00;
    if (!arp && f.length > 14 && next() < 0.7) f[14] = 0x45;
  }
  return f;
}

test('2,000 random and mutated frames: nothing throws, nothing invalid reaches the handler', () => {
  const next = rng(0xc0ffee);
  const sent: Uint8Array[] = [];
  const sink = { send: (frame: Uint8Array) => (sent.push(frame.slice()), true) };
  let handled = 0;
  let datagrams = 0;
  const problems: string[] = [];
  const iface = new NetInterface(
    CONFIG,
    sink,
    (seg, frame, dstIp) => {
      handled++;
      const p = problemWith(frame, seg, dstIp);
      if (p !== null) problems.push(p);
    },
    (dgram, frame, dstIp) => {
      datagrams++;
      const p = udpProblem(frame, dgram, dstIp);
      if (p !== null) problems.push(`udp: ${p}`);
    },
  );
  let expectArpOk = 0;
  let expectReplies = 0;
  const N = 2000;
  for (let n = 0; n < N; n++) {
    const r = next();
    const frame = r < 0.2 ? randomFrame(next) : r < 0.3 ? baseFrame(next) : mutate(next, baseFrame(next));
    // Independent expectation for ARP frames.
    if (frame.length >= 14 && ((frame[12] << 8) | frame[13]) === ETHERTYPE_ARP) {
      const a = frame.length >= 14 + 28 && frame[14] === 0 && frame[15] === 1 && frame[16] === 8 && frame[17] === 0 && frame[18] === 6 && frame[19] === 4;
      if (a && readU32(frame, 28) === GUEST_IP) {
        expectArpOk++;
        if (((frame[20] << 8) | frame[21]) === ARP_REQUEST && readU32(frame, 38) === HOST_IP) expectReplies++;
      }
    }
    try {
      iface.receive(frame);
    } catch (e) {
      assert.unreachable(`frame ${n} threw ${String(e)}: ${Buffer.from(frame).toString('hex')}`);
    }
  }
  assert.equal(problems, [], 'invalid segments reached the handler');
  const refused = Object.values(iface.counters.refused).reduce((a, b) => a + b, 0);
  assert.is(iface.counters.framesIn, N);
  assert.is(handled + datagrams + refused + expectArpOk, N, 'every frame is handled, refused, or an accepted ARP');
  assert.is(sent.length, expectReplies, 'one ARP reply per request for the host');
  for (const f of sent) {
    const a = parseArp(f, 14);
    assert.ok(a && a.op === ARP_REPLY && a.senderIp === HOST_IP && a.targetIp === GUEST_IP);
  }
  // The fuzzer reached both the handler and many distinct refusals.
  assert.ok(handled > 300, `handled ${handled}`);
  assert.ok(datagrams > 50, `datagrams ${datagrams}`);
  const reasons = Object.keys(iface.counters.refused);
  for (const r of ['ethernet-short', 'ethertype', 'ipv4-version', 'ipv4-total-length', 'ipv4-protocol', 'ipv4-destination', 'tcp-data-offset', 'tcp-option', 'udp-length', 'arp']) {
    assert.ok(reasons.includes(r), `reason ${r} seen (${reasons.join(', ')})`);
  }
});

test('parseTcp on 2,000 random buffers and ranges: terminates, never throws, never over-reads', () => {
  const next = rng(777);
  let ok = 0;
  const errors: Record<string, number> = {};
  for (let n = 0; n < 2000; n++) {
    const buf = randomBytes(next, Math.floor(next() * 120));
    const start = Math.floor(next() * Math.min(buf.length + 1, 10));
    const end = next() < 0.7 ? buf.length : start + Math.floor(next() * (buf.length - start + 1));
    const h = start; // header fields relative to the segment
    if (buf.length > h + 12 && next() < 0.8) buf[h + 12] = (5 + Math.floor(next() * (next() < 0.8 ? 3 : 11))) << 4; // plausible data offset
    if (buf.length > h + 24 && next() < 0.6) {
      // Plausible options, or a zero/one-length one, then NOPs or random bytes.
      const opts = [[1], [2, 4, 5, 180], [1, 1, 2, 4, 2, 0], [0], [8, 10], [2, 0], [3, 1]][Math.floor(next() * 7)];
      if (next() < 0.5) buf.fill(1, h + 20, Math.min(buf.length, h + 28));
      buf.set(opts.slice(0, buf.length - h - 20), h + 20);
    }
    let r: TcpRepr | string;
    try {
      r = parseTcp(buf, start, end);
    } catch (e) {
      assert.unreachable(`buffer ${n} threw ${String(e)}`);
      return;
    }
    if (typeof r === 'string') {
      assert.ok(['short', 'data-offset', 'option'].includes(r), r);
      errors[r] = (errors[r] ?? 0) + 1;
      continue;
    }
    ok++;
    const doff = r.payloadStart - start;
    assert.ok(doff >= 20 && doff <= 60 && doff % 4 === 0, `doff ${doff}`);
    assert.ok(r.payloadStart <= r.payloadEnd && r.payloadEnd === end && end <= buf.length);
    assert.is(r.mss, refOptions(buf, start + 20, r.payloadStart), 'mss agrees with the reference walk');
    assert.ok(r.flags < 64 && r.window < 65536 && r.seq < 2 ** 32 && r.ack < 2 ** 32 && r.seq >= 0 && r.ack >= 0);
  }
  assert.ok(ok > 200, `accepted ${ok}`);
  assert.ok(errors.short > 20 && errors['data-offset'] > 20 && errors.option > 20, JSON.stringify(errors));
});

class StreamHost implements TcpHost {
  delivered: Uint8Array[] = [];
  deliveredLen = 0;
  out: TcpSegmentOut[] = [];
  closedCount = 0;
  accept = () => true;
  emit(_c: TcpConnection, seg: TcpSegmentOut): boolean {
    if (!this.accept()) return false;
    this.out.push({ ...seg, payload: seg.payload?.slice() });
    return true;
  }
  deliver(_c: TcpConnection, data: Uint8Array): void {
    this.delivered.push(data.slice());
    this.deliveredLen += data.length;
  }
  established(): void {}
  guestFinished(): void {}
  closed(): void {
    this.closedCount++;
  }
  writable(): void {}
  guestSettled(): boolean {
    return true;
  }
}

test('random guest segments (duplicates, overlaps, gaps) across the 2^32 wrap: delivered bytes are always a prefix of the stream', () => {
  const next = rng(4242);
  const GISS = 0xffffd000;
  const ISS = 0x7ffffff0;
  const stream = randomBytes(next, 60000);
  const host = new StreamHost();
  const counters = { segmentsIn: 0, segmentsOut: 0, duplicates: 0, outOfOrder: 0 };
  const conn = new TcpConnection(host, 40000, 8080, counters, ISS);
  conn.open(0);
  conn.input({ srcPort: 8080, dstPort: 40000, seq: GISS, ack: ISS + 1, flags: SYN | ACK, window: 6000, mss: 1460, payloadStart: 0, payloadEnd: 0 }, new Uint8Array(0), 0);
  assert.is(conn.state, TcpState.Established);
  host.out = [];
  const written: Uint8Array[] = [];
  let lastAck = seqAdd(GISS, 1);
  let acked = 0; // bytes of ours the fake guest has acknowledged
  let steps = 0;
  while (host.deliveredLen < stream.length && steps < 20000) {
    steps++;
    const have = host.deliveredLen;
    const r = next();
    let a: number;
    if (r < 0.4) a = have; // in order
    else if (r < 0.7) a = Math.max(0, have - Math.floor(next() * 3000)); // old / overlapping
    else a = Math.min(stream.length - 1, have + 1 + Math.floor(next() * 3000)); // gap
    const len = 1 + Math.floor(next() * Math.min(1460, stream.length - a));
    const pre = Math.floor(next() * 60);
    const frame = new Uint8Array(pre + len + Math.floor(next() * 20)).fill(0xaa);
    frame.set(stream.subarray(a, a + len), pre);
    // The guest acknowledges some of what we sent.
    const sentLen = host.out.reduce((s, e) => s + (e.payload?.length ?? 0), 0);
    if (next() < 0.3) acked = Math.min(sentLen, acked + Math.floor(next() * 3000));
    conn.input(
      { srcPort: 8080, dstPort: 40000, seq: seqAdd(GISS, 1 + a), ack: seqAdd(ISS, 1 + acked), flags: ACK | (next() < 0.5 ? PSH : 0), window: 6000, mss: 0, payloadStart: pre, payloadEnd: pre + len },
      frame,
      steps,
    );
    // Client data goes the other way, through a link that sometimes refuses.
    host.accept = () => next() < 0.8;
    if (next() < 0.2) {
      const w = randomBytes(next, 1 + Math.floor(next() * 2000));
      written.push(w);
      conn.write(w);
    }
    if (conn.stalled) conn.flush();
    host.accept = () => true;
    if (next() < 0.3) conn.flushAck();
    assert.ok(host.deliveredLen >= have, 'delivery never goes backwards');
    assert.ok(host.deliveredLen <= stream.length);
  }
  conn.flushAck();
  conn.flush();
  const got = new Uint8Array(host.deliveredLen);
  let at = 0;
  for (const d of host.delivered) {
    got.set(d, at);
    at += d.length;
  }
  assert.is(host.deliveredLen, stream.length, `delivered ${host.deliveredLen} in ${steps} steps`);
  assert.ok(Buffer.from(got).equals(Buffer.from(stream)), 'stream intact');
  assert.ok(counters.duplicates > 20 && counters.outOfOrder > 20, `dups ${counters.duplicates}, ooo ${counters.outOfOrder}`);
  // Our ACKs never acknowledge more than was delivered, and never go backwards.
  const finalAck = seqAdd(GISS, 1 + stream.length);
  for (const e of host.out) {
    if (e.flags & (RST | FIN)) assert.unreachable('no RST or FIN expected');
    const ahead = (e.ack - lastAck) | 0;
    assert.ok(ahead >= 0, 'ack went backwards');
    assert.ok(((finalAck - e.ack) | 0) >= 0, 'ack beyond the stream');
    lastAck = e.ack;
  }
  assert.is(lastAck, finalAck);
  // Our own bytes went out once each, in order.
  let seq = seqAdd(ISS, 1);
  const ours: Uint8Array[] = [];
  for (const e of host.out) {
    if (!e.payload || e.payload.length === 0) continue;
    assert.is(e.seq, seq);
    seq = seqAdd(seq, e.payload.length);
    ours.push(e.payload);
  }
  const sentAll = Buffer.concat(ours.map((p) => Buffer.from(p)));
  assert.ok(sentAll.equals(Buffer.concat(written.map((w) => Buffer.from(w)))), 'client stream intact');
  assert.is(host.closedCount, 0);
});

test('random segments in random states never throw and never deliver after CLOSED', () => {
  const next = rng(99);
  for (let run = 0; run < 200; run++) {
    const host = new StreamHost();
    const conn = new TcpConnection(host, 40000, 8080, { segmentsIn: 0, segmentsOut: 0, duplicates: 0, outOfOrder: 0 }, Math.floor(next() * 2 ** 32));
    conn.open(0);
    let deliveredAtClose = -1;
    for (let i = 0; i < 30; i++) {
      const flags = [SYN | ACK, ACK, ACK | PSH, FIN | ACK, RST, FIN, ACK | PSH | FIN, 0][Math.floor(next() * 8)];
      const len = next() < 0.5 ? 0 : Math.floor(next() * 50);
      const frame = randomBytes(next, len + 4);
      const seg: TcpRepr = {
        srcPort: 8080,
        dstPort: 40000,
        seq: Math.floor(next() * 2 ** 32),
        ack: Math.floor(next() * 2 ** 32),
        flags,
        window: 6000,
        mss: next() < 0.3 ? Math.floor(next() * 65536) : 0,
        payloadStart: 2,
        payloadEnd: 2 + len,
      };
      const now = i * 7;
      const op = next();
      if (op < 0.6) conn.input(seg, frame, now);
      else if (op < 0.7) conn.write(randomBytes(next, 1 + Math.floor(next() * 100)));
      else if (op < 0.8) conn.tick(now + Math.floor(next() * 20000));
      else if (op < 0.85) conn.clientFinished();
      else if (op < 0.9) conn.flushAck();
      else if (op < 0.93) conn.abort('random');
      else conn.flush();
      if (conn.state === TcpState.Closed && deliveredAtClose < 0) deliveredAtClose = host.deliveredLen;
      if (deliveredAtClose >= 0) assert.is(host.deliveredLen, deliveredAtClose, 'nothing delivered after CLOSED');
      for (const e of host.out) {
        if (e.flags & FIN) assert.ok(!e.payload || e.payload.length === 0, 'a FIN never carries data');
        if (e.flags & SYN) assert.is(e.flags, SYN);
      }
    }
  }
});

// ---------------------------------------------------------------------------
// The same with the outbound gateway behind the interface: random and mutated
// frames to allowed, denied and link destinations, DNS queries, and frames
// that follow the gateway's own segments (so connections are really opened,
// carry data to a loopback server, and close). Nothing may throw, now or in
// the socket callbacks later, and every frame toward the guest is well-formed.

/** Check one frame the host sent toward the guest; returns a problem or null. */
function outProblem(frame: Uint8Array, allowedPort: number): string | null {
  const checked = frameToGuestProblem(CONFIG, frame);
  if (checked === null || typeof checked === 'string') return checked;
  const { ip: r, tcp: t } = checked;
  if (!routable(r.src)) return 'tcp from an unroutable address';
  if (t.flags & RST) return t.payloadEnd === t.payloadStart ? null : 'RST with data';
  // Anything but a reset comes from a connection, and only the allowed destination has those.
  if (r.src !== LOOPBACK || t.srcPort !== allowedPort) return `${t.flags} from a destination never dialled`;
  if (t.flags & SYN && t.flags !== (SYN | ACK)) return 'an active open';
  if (t.flags & FIN && t.payloadEnd !== t.payloadStart) return 'FIN with data';
  if (!(t.flags & ACK)) return 'no ACK';
  return null;
}

test('gateway attached: random, mutated and stateful frames never throw; every frame toward the guest is well-formed', async () => {
  const sockets: Socket[] = [];
  let serverBytes = 0;
  const serverNext = rng(31337); // server behaviour (its timing is not deterministic anyway)
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.on('data', (d) => {
      serverBytes += d.length;
      const r = serverNext();
      if (r < 0.6) s.write(d.length > 100 ? Buffer.concat([d, d, d]) : d);
      else if (r < 0.65) s.end();
      else if (r < 0.68) s.destroy();
    });
    s.on('end', () => s.end());
    if (serverNext() < 0.3) s.write('hello from the far end');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const deadPort = (dead.address() as { port: number }).port;
  await new Promise((resolve) => dead.close(resolve));

  const next = rng(0x9a7e);
  const problems: string[] = [];
  let out = 0;
  let refuseOut = false;
  /** Per guest port: the far end's next seq and the guest's, learned from the gateway's segments. */
  const flows = new Map<number, { src: number; srcPort: number; hostNext: number; guestNext: number }>();
  const sink = {
    send(frame: Uint8Array): boolean {
      if (refuseOut) return false;
      out++;
      const p = outProblem(frame, port);
      if (p !== null) problems.push(`${p}: ${Buffer.from(frame).toString('hex')}`);
      if (p === null && frame[23] === PROTO_TCP && ((frame[12] << 8) | frame[13]) === ETHERTYPE_IPV4) {
        const t = parseTcp(frame, 34, frame.length) as TcpRepr;
        const src = readU32(frame, 26);
        const len = t.payloadEnd - t.payloadStart;
        if (t.flags & RST) flows.delete(t.dstPort);
        else if (t.flags & SYN) flows.set(t.dstPort, { src, srcPort: t.srcPort, hostNext: seqAdd(t.seq, 1), guestNext: t.ack });
        else {
          const f = flows.get(t.dstPort);
          if (f) f.hostNext = seqAdd(t.seq, len + (t.flags & FIN ? 1 : 0));
        }
      }
      return true;
    },
  };
  const refusals: string[] = [];
  const { iface, gateway } = gatewayOnLink(
    CONFIG,
    sink,
    (i) => new Outbound(i, { allow: [`127.0.0.1:${port}`, `127.0.0.1:${deadPort}`], maxConnections: 6, idleTimeoutMs: 2000 }, () => {}, (_p, r) => r && refusals.push(r), () => {}),
  );

  const shape: Shape = {
    dst: (n, udp) => {
      const r = n();
      if (udp) return r < 0.6 ? [HOST_IP, 53] : r < 0.8 ? [HOST_IP, Math.floor(n() * 65536)] : [Math.floor(n() * 2 ** 32), 53];
      if (r < 0.45) return [LOOPBACK, port];
      if (r < 0.55) return [LOOPBACK, deadPort];
      if (r < 0.65) return [LOOPBACK, Math.floor(n() * 65536)];
      if (r < 0.75) return [HOST_IP, Math.floor(n() * 65536)];
      if (r < 0.85) return [parseIpv4('203.0.113.9'), 443];
      return [Math.floor(n() * 2 ** 32), Math.floor(n() * 65536)];
    },
    srcPort: (n) => 40000 + Math.floor(n() * 8),
    flags: (n) => (n() < 0.5 ? SYN : Math.floor(n() * 64)),
  };

  /** A segment that follows a live flow (possibly off by a little), or a DNS query. */
  function stateful(): Uint8Array {
    const ports = [...flows.keys()];
    if (ports.length === 0 || next() < 0.1) {
      const names = ['example.com', 'a.b.example', 'x', 'bad name', '127.0.0.1', `n${Math.floor(next() * 1000)}.test`];
      const q = dnsPacket.encode({ type: 'query', id: Math.floor(next() * 65536), questions: [{ type: next() < 0.8 ? 'A' : 'AAAA', name: names[Math.floor(next() * names.length)] }] });
      return udpFrame(next, HOST_IP, 40000 + Math.floor(next() * 8), 53, new Uint8Array(q));
    }
    const gp = ports[Math.floor(next() * ports.length)];
    const f = flows.get(gp)!;
    const r = next();
    let flags = ACK;
    let len = 0;
    if (r < 0.45) {
      flags = ACK | PSH;
      len = 1 + Math.floor(next() * (next() < 0.9 ? 200 : 1400));
    } else if (r < 0.6) flags = FIN | ACK;
    else if (r < 0.65) flags = RST;
    else if (r < 0.7) flags = SYN;
    const payload = randomBytes(next, len);
    const skew = next() < 0.15 ? Math.floor(next() * 2000) - 1000 : 0;
    const seq = seqAdd(f.guestNext, skew);
    const ack = next() < 0.9 ? f.hostNext : Math.floor(next() * 2 ** 32);
    if (skew === 0) f.guestNext = seqAdd(f.guestNext, len + (flags & (FIN | SYN) ? 1 : 0));
    return guestTcpFrame(CONFIG, { dstIp: f.src, srcPort: gp, dstPort: f.srcPort, seq, ack, flags, window: 6000, payload, ipId: 9 });
  }

  const N = 1500;
  for (let n = 0; n < N; n++) {
    const r = next();
    const frame = r < 0.1 ? randomFrame(next) : r < 0.35 ? baseFrame(next, shape) : r < 0.55 ? mutate(next, baseFrame(next, shape)) : stateful();
    refuseOut = next() < 0.05;
    try {
      iface.receive(frame);
      if (next() < 0.3) gateway.batchEnd();
    } catch (e) {
      assert.unreachable(`frame ${n} threw ${(e as Error).stack}: ${Buffer.from(frame).toString('hex')}`);
    }
    refuseOut = false;
    if (n % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  gateway.batchEnd();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const stats = gateway.stats();
  if (process.env.FUZZ_VERBOSE) console.log(stats, { serverBytes, sockets: sockets.length, out, refused: iface.counters.refused });
  gateway.closeAll();
  assert.is(gateway.stats().active, 0, 'closeAll leaves nothing');
  await new Promise((resolve) => setTimeout(resolve, 20));
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));

  assert.equal(problems.slice(0, 5), [], `${problems.length} bad frames toward the guest`);
  // The fuzzer got deep: connections opened and carried data, dials failed, destinations were denied, DNS answered.
  assert.ok(stats.opened >= 5, `opened ${stats.opened}`);
  assert.ok(sockets.length >= stats.opened, 'every opened flow is a real connection');
  assert.ok(serverBytes > 1000, `server got ${serverBytes} bytes`);
  assert.ok(stats.failed >= 1, `failed ${stats.failed}`);
  assert.ok(stats.denied > 50, `denied ${stats.denied}`);
  assert.ok(refusals.some((r) => r.startsWith('ECONNREFUSED')), 'a refused dial was reported');
  assert.ok(refusals.some((r) => r.startsWith('egress denied: ')), 'a denial was reported');
  assert.ok(refusals.every((r) => r.length <= 47), 'refusal reasons fit the guest slot');
  assert.ok(stats.dns.queries > 20 && stats.dns.malformed > 10, JSON.stringify(stats.dns));
  assert.ok(out > 300, `frames out ${out}`);
  assert.ok((iface.counters.refused['udp-destination'] ?? 0) > 5, JSON.stringify(iface.counters.refused));
});

test.run();
