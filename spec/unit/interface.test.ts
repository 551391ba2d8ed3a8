// NetInterface: validation of guest frames, ARP, and frames built toward the guest.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CONTROL_RESERVE, NetInterface, type LinkConfig } from '../../ts/net/interface.js';
import { ARP_REPLY, ARP_REQUEST, buildArp, parseArp } from '../../ts/net/wire/arp.js';
import { BROADCAST_MAC, ETHERTYPE_ARP, EthernetView, formatMac } from '../../ts/net/wire/ethernet.js';
import { PROTO_TCP, PROTO_UDP, parseIpv4, parseIpv4Header, type Ipv4Repr } from '../../ts/net/wire/ipv4.js';
import { ACK, FIN, PSH, RST, SYN, parseTcp, type TcpRepr } from '../../ts/net/wire/tcp.js';
import { parseUdp, type UdpRepr } from '../../ts/net/wire/udp.js';
import { TEST_LINK, fixIpv4Checksum, assertIpToGuest, guestIpFrame, guestTcpFrame, guestUdpFrame } from '../helpers/link.js';

const CONFIG: LinkConfig = { ...TEST_LINK, maxFrame: 1514 };
const { hostMac: HOST_MAC, guestMac: GUEST_MAC, hostIp: HOST_IP, guestIp: GUEST_IP } = CONFIG;

class FakeSink {
  frames: { frame: Uint8Array; reserve: number }[] = [];
  accept = true;
  send(frame: Uint8Array, reserve: number): boolean {
    if (!this.accept) return false;
    this.frames.push({ frame: frame.slice(), reserve });
    return true;
  }
}

interface Setup {
  sink: FakeSink;
  iface: NetInterface;
  segs: { seg: TcpRepr; frame: Uint8Array; dstIp: number }[];
  dgrams: { dgram: UdpRepr; frame: Uint8Array; dstIp: number }[];
}

function setup(): Setup {
  const sink = new FakeSink();
  const segs: Setup['segs'] = [];
  const dgrams: Setup['dgrams'] = [];
  const iface = new NetInterface(
    CONFIG,
    sink,
    (seg, frame, dstIp) => segs.push({ seg: { ...seg }, frame: frame.slice(), dstIp }),
    (dgram, frame, dstIp) => dgrams.push({ dgram: { ...dgram }, frame: frame.slice(), dstIp }),
  );
  return { sink, iface, segs, dgrams };
}

interface GuestTcp {
  srcIp?: number;
  dstIp?: number;
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  mss?: number;
  payload?: Uint8Array;
  protocol?: number;
  pad?: number; // Ethernet padding bytes after the IP packet
}

/** A well-formed TCP frame from the guest to the host. */
function guestTcp(o: GuestTcp = {}): Uint8Array {
  const { srcIp, mss, payload, protocol, pad } = o;
  const defaults = { dstIp: o.dstIp ?? HOST_IP, srcPort: o.srcPort ?? 8080, dstPort: o.dstPort ?? 40000, seq: o.seq ?? 1, ack: o.ack ?? 2 };
  return guestTcpFrame(CONFIG, { ...defaults, srcIp, flags: o.flags ?? ACK, window: o.window ?? 6000, mss, payload, protocol, pad, ipId: 77 });
}

/** Wrap raw TCP bytes (possibly malformed) in a valid Ethernet + IPv4 frame from the guest. */
const guestRawTcp = (tcp: Uint8Array): Uint8Array => guestIpFrame(CONFIG, PROTO_TCP, tcp);

interface GuestUdp {
  dstIp?: number;
  srcPort?: number;
  dstPort?: number;
  payload?: Uint8Array;
  udpLength?: number; // override the UDP length field
  pad?: number;
}

/** A UDP frame from the guest (to the host's DNS port unless told otherwise). */
function guestUdp(o: GuestUdp = {}): Uint8Array {
  const { udpLength, pad } = o;
  const payload = o.payload ?? new Uint8Array(0);
  return guestUdpFrame(CONFIG, { dstIp: o.dstIp ?? HOST_IP, srcPort: o.srcPort ?? 33000, dstPort: o.dstPort ?? 53, payload, udpLength, pad, ipId: 78 });
}

/** Wrap raw UDP bytes (possibly malformed) in a valid Ethernet + IPv4 frame from the guest. */
const guestRawUdp = (udp: Uint8Array): Uint8Array => guestIpFrame(CONFIG, PROTO_UDP, udp);

/** Parse a frame the host sent toward the guest, checking every layer. */
function parseOut(frame: Uint8Array, src = HOST_IP): { ip: Ipv4Repr; tcp: TcpRepr; payload: Uint8Array } {
  const r = assertIpToGuest(CONFIG, frame, PROTO_TCP, src);
  const tcp = parseTcp(frame, r.payloadStart, r.payloadEnd);
  assert.type(tcp, 'object');
  const t = tcp as TcpRepr;
  return { ip: r, tcp: t, payload: frame.subarray(t.payloadStart, t.payloadEnd) };
}

function refusedTotal(iface: NetInterface): number {
  return Object.values(iface.counters.refused).reduce((a, b) => a + b, 0);
}

// ---------------------------------------------------------------------------
const Arp = suite('interface ARP');

Arp('ARP request for the host IP: reply, guestUp and onGuestUp once', () => {
  const { sink, iface } = setup();
  let ups = 0;
  iface.onGuestUp = () => ups++;
  assert.not.ok(iface.guestUp);
  iface.receive(buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, HOST_IP));
  assert.ok(iface.guestUp);
  assert.is(ups, 1);
  assert.is(sink.frames.length, 1);
  const { frame, reserve } = sink.frames[0];
  assert.is(reserve, 0);
  const eth = new EthernetView(frame);
  assert.is(formatMac(eth.dst()), formatMac(GUEST_MAC));
  assert.is(formatMac(eth.src()), formatMac(HOST_MAC));
  assert.is(eth.ethertype(), ETHERTYPE_ARP);
  const a = parseArp(frame, 14)!;
  assert.ok(a);
  assert.is(a.op, ARP_REPLY);
  assert.is(formatMac(a.senderMac), formatMac(HOST_MAC));
  assert.is(a.senderIp, HOST_IP);
  assert.is(a.targetIp, GUEST_IP);
  assert.is(formatMac(frame.subarray(32, 38)), formatMac(GUEST_MAC), 'target hardware address');
  iface.receive(buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, HOST_IP));
  assert.is(sink.frames.length, 2, 'answered again');
  assert.is(ups, 1, 'onGuestUp only once');
  assert.is(iface.counters.framesIn, 2);
  assert.is(iface.counters.framesOut, 2);
  assert.is(refusedTotal(iface), 0);
});

Arp('ARP request for another IP: no reply, but the guest is up', () => {
  const { sink, iface } = setup();
  let ups = 0;
  iface.onGuestUp = () => ups++;
  iface.receive(buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, parseIpv4('10.0.0.9')));
  assert.is(sink.frames.length, 0);
  assert.ok(iface.guestUp);
  assert.is(ups, 1);
  iface.receive(buildArp(ARP_REPLY, GUEST_MAC, GUEST_IP, HOST_MAC, HOST_IP));
  assert.is(sink.frames.length, 0, 'an ARP reply is not answered');
});

Arp('ARP from a spoofed sender or of the wrong kind is refused', () => {
  const { sink, iface } = setup();
  let ups = 0;
  iface.onGuestUp = () => ups++;
  iface.receive(buildArp(ARP_REQUEST, GUEST_MAC, parseIpv4('10.0.0.3'), BROADCAST_MAC, HOST_IP));
  assert.equal(iface.counters.refused, { 'arp-spoofed-sender': 1 });
  const bad = buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, HOST_IP);
  bad[16] = 0x86;
  bad[17] = 0xdd; // not IPv4
  iface.receive(bad);
  iface.receive(bad.subarray(0, 30)); // truncated
  assert.equal(iface.counters.refused, { 'arp-spoofed-sender': 1, arp: 2 });
  assert.not.ok(iface.guestUp);
  assert.is(ups, 0);
  assert.is(sink.frames.length, 0);
});

Arp('announce() broadcasts a gratuitous reply', () => {
  const { sink, iface } = setup();
  iface.announce();
  const f = sink.frames[0].frame;
  assert.is(formatMac(new EthernetView(f).dst()), 'ff:ff:ff:ff:ff:ff');
  const a = parseArp(f, 14)!;
  assert.is(a.op, ARP_REPLY);
  assert.is(a.senderIp, HOST_IP);
  assert.is(a.targetIp, GUEST_IP);
  assert.is(formatMac(a.senderMac), formatMac(HOST_MAC));
});

Arp.run();

// ---------------------------------------------------------------------------
const Refuse = suite('interface refusals');

const cases: [string, () => Uint8Array][] = [
  ['ethernet-short', () => new Uint8Array(13)],
  ['ethernet-short', () => new Uint8Array(0)],
  [
    'ethertype',
    () => {
      const f = guestTcp();
      f[12] = 0x86;
      f[13] = 0xdd;
      return f;
    },
  ],
  ['ipv4-short', () => guestTcp().subarray(0, 33)],
  [
    'ipv4-version',
    () => {
      const f = guestTcp();
      f[14] = 0x65;
      fixIpv4Checksum(f);
      return f;
    },
  ],
  [
    'ipv4-header-length',
    () => {
      const f = guestTcp();
      f[14] = 0x43;
      return f;
    },
  ],
  ['ipv4-total-length', () => guestTcp().subarray(0, 50)],
  [
    'ipv4-fragment',
    () => {
      const f = guestTcp();
      f[20] = 0x20; // MF
      fixIpv4Checksum(f);
      return f;
    },
  ],
  ['ipv4-spoofed-source', () => guestTcp({ srcIp: parseIpv4('10.0.0.3') })],
  ['ipv4-spoofed-source', () => guestTcp({ srcIp: HOST_IP })],
  ['ipv4-destination', () => guestTcp({ dstIp: GUEST_IP })], // to itself
  ['ipv4-destination', () => guestTcp({ dstIp: parseIpv4('255.255.255.255') })],
  ['ipv4-destination', () => guestTcp({ dstIp: parseIpv4('224.0.0.1') })],
  ['ipv4-destination', () => guestTcp({ dstIp: parseIpv4('239.255.255.250') })],
  ['ipv4-destination', () => guestTcp({ dstIp: parseIpv4('240.0.0.1') })],
  ['ipv4-destination', () => guestTcp({ dstIp: parseIpv4('0.0.0.0') })],
  ['ipv4-destination', () => guestTcp({ dstIp: parseIpv4('0.1.2.3') })],
  ['ipv4-destination', () => guestUdp({ dstIp: parseIpv4('255.255.255.255') })],
  ['ipv4-protocol', () => guestTcp({ protocol: 1 })], // ICMP
  ['ipv4-protocol', () => guestTcp({ protocol: 47 })], // GRE
  ['ipv4-protocol', () => guestTcp({ protocol: 0 })],
  ['udp-short', () => guestRawUdp(new Uint8Array(7))],
  ['udp-length', () => guestUdp({ payload: new Uint8Array(4), udpLength: 7 })], // shorter than the header
  ['udp-length', () => guestUdp({ payload: new Uint8Array(4), udpLength: 13 })], // beyond the IP packet
  ['udp-length', () => guestTcp({ protocol: PROTO_UDP })], // TCP bytes read as UDP: its length field is the seq
  ['tcp-short', () => guestRawTcp(new Uint8Array(19))],
  [
    'tcp-data-offset',
    () => {
      const t = new Uint8Array(20);
      t[12] = 0x40;
      return guestRawTcp(t);
    },
  ],
  [
    'tcp-data-offset',
    () => {
      const t = new Uint8Array(20);
      t[12] = 0x60; // 24-byte header in a 20-byte segment
      return guestRawTcp(t);
    },
  ],
  [
    'tcp-option',
    () => {
      const t = new Uint8Array(24);
      t[12] = 0x60;
      t.set([2, 0, 0, 0], 20); // zero-length option
      return guestRawTcp(t);
    },
  ],
];

for (const [reason, make] of cases) {
  Refuse(`refused and counted: ${reason}`, () => {
    const { sink, iface, segs, dgrams } = setup();
    iface.receive(make());
    assert.equal(iface.counters.refused, { [reason]: 1 });
    assert.is(segs.length, 0, 'never reaches the segment handler');
    assert.is(dgrams.length, 0, 'never reaches the datagram handler');
    assert.is(sink.frames.length, 0, 'nothing answered');
    assert.is(iface.counters.framesIn, 1);
    assert.not.ok(iface.guestUp);
  });
}

Refuse('counts accumulate by reason', () => {
  const { iface, segs, dgrams } = setup();
  iface.receive(new Uint8Array(3));
  iface.receive(new Uint8Array(3));
  iface.receive(guestTcp({ protocol: 1 }));
  iface.receive(guestTcp({ dstIp: GUEST_IP }));
  iface.receive(guestTcp());
  iface.receive(guestUdp());
  assert.equal(iface.counters.refused, { 'ethernet-short': 2, 'ipv4-protocol': 1, 'ipv4-destination': 1 });
  assert.is(segs.length, 1);
  assert.is(dgrams.length, 1);
  assert.is(iface.counters.framesIn, 6);
});

Refuse('without a datagram handler, UDP is refused as udp-unhandled', () => {
  const sink = new FakeSink();
  const segs: TcpRepr[] = [];
  const iface = new NetInterface(CONFIG, sink, (seg) => segs.push(seg));
  iface.receive(guestUdp({ payload: new Uint8Array(12) }));
  iface.receive(guestRawUdp(new Uint8Array(3))); // still validated first
  assert.equal(iface.counters.refused, { 'udp-unhandled': 1, 'udp-short': 1 });
  assert.is(segs.length, 0);
  assert.is(sink.frames.length, 0);
});

Refuse('a handler can count its own refusals with refuse()', () => {
  const { iface } = setup();
  iface.refuse('udp-destination');
  iface.refuse('udp-destination');
  iface.refuse('dns-reply-dropped');
  assert.equal(iface.counters.refused, { 'udp-destination': 2, 'dns-reply-dropped': 1 });
  assert.is(iface.counters.framesIn, 0, 'refuse() does not count a frame in');
});

Refuse.run();

// ---------------------------------------------------------------------------
const Rx = suite('interface TCP in');

Rx('a valid TCP frame reaches the handler with the right fields', () => {
  const { sink, iface, segs, dgrams } = setup();
  const payload = new Uint8Array(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  const frame = guestTcp({ srcPort: 8080, dstPort: 41234, seq: 0xfffffff0, ack: 0x12345678, flags: ACK | PSH, window: 6000, payload });
  iface.receive(frame);
  assert.is(segs.length, 1);
  const { seg, frame: got, dstIp } = segs[0];
  assert.is(dstIp, HOST_IP);
  assert.is(dgrams.length, 0);
  assert.is(seg.srcPort, 8080);
  assert.is(seg.dstPort, 41234);
  assert.is(seg.seq, 0xfffffff0);
  assert.is(seg.ack, 0x12345678);
  assert.is(seg.flags, ACK | PSH);
  assert.is(seg.window, 6000);
  assert.is(seg.mss, 0);
  assert.is(seg.payloadStart, 54);
  assert.is(seg.payloadEnd, 54 + payload.length);
  assert.is(Buffer.from(got.subarray(seg.payloadStart, seg.payloadEnd)).toString(), 'GET / HTTP/1.1\r\n\r\n');
  assert.is(refusedTotal(iface), 0);
  assert.is(sink.frames.length, 0);
});

Rx('SYN|ACK with MSS: mss parsed, payload empty', () => {
  const { iface, segs } = setup();
  iface.receive(guestTcp({ flags: SYN | ACK, mss: 1460 }));
  assert.is(segs[0].seg.mss, 1460);
  assert.is(segs[0].seg.flags, SYN | ACK);
  assert.is(segs[0].seg.payloadStart, 58);
  assert.is(segs[0].seg.payloadEnd, 58);
});

Rx('Ethernet padding is not payload', () => {
  const { iface, segs } = setup();
  const f = guestTcp({ flags: ACK, pad: 6 });
  f.fill(0xab, 54);
  assert.is(f.length, 60);
  iface.receive(f);
  assert.is(segs.length, 1);
  assert.is(segs[0].seg.payloadEnd - segs[0].seg.payloadStart, 0);
});

Rx('TCP to an address beyond the link reaches the handler with that destination', () => {
  const { sink, iface, segs } = setup();
  const dsts = ['8.8.8.8', '127.0.0.1', '169.254.1.1', '10.0.0.255', '223.255.255.255', '1.0.0.0'].map(parseIpv4);
  for (const dstIp of dsts) iface.receive(guestTcp({ dstIp, srcPort: 41000, dstPort: 443, flags: SYN, mss: 1460 }));
  assert.equal(
    segs.map((s) => s.dstIp),
    dsts,
  );
  for (const { seg } of segs) {
    assert.is(seg.srcPort, 41000);
    assert.is(seg.dstPort, 443);
    assert.is(seg.flags, SYN);
    assert.is(seg.mss, 1460);
  }
  assert.is(refusedTotal(iface), 0);
  assert.is(sink.frames.length, 0, 'the interface itself answers nothing');
});

Rx.run();

// ---------------------------------------------------------------------------
const Udp = suite('interface UDP');

Udp('a valid datagram reaches the datagram handler with its fields and destination', () => {
  const { sink, iface, segs, dgrams } = setup();
  const payload = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  iface.receive(guestUdp({ srcPort: 49152, dstPort: 53, payload }));
  iface.receive(guestUdp({ dstIp: parseIpv4('192.0.2.9'), srcPort: 5000, dstPort: 123, payload: new Uint8Array(3) }));
  assert.is(segs.length, 0);
  assert.is(dgrams.length, 2);
  const [a, b] = dgrams;
  assert.is(a.dstIp, HOST_IP);
  assert.is(a.dgram.srcPort, 49152);
  assert.is(a.dgram.dstPort, 53);
  assert.is(a.dgram.payloadStart, 42);
  assert.is(a.dgram.payloadEnd, 42 + payload.length);
  assert.equal(Array.from(a.frame.subarray(a.dgram.payloadStart, a.dgram.payloadEnd)), Array.from(payload));
  assert.is(b.dstIp, parseIpv4('192.0.2.9'));
  assert.is(b.dgram.dstPort, 123);
  assert.is(b.dgram.payloadEnd - b.dgram.payloadStart, 3);
  assert.is(refusedTotal(iface), 0);
  assert.is(sink.frames.length, 0);
});

Udp('the UDP length field bounds the payload (IP and Ethernet padding are not payload)', () => {
  const { iface, dgrams } = setup();
  const f = guestUdp({ payload: new Uint8Array([1, 2, 3, 4, 5, 6]), udpLength: 8 + 4, pad: 10 });
  iface.receive(f);
  assert.is(dgrams.length, 1);
  assert.is(dgrams[0].dgram.payloadEnd - dgrams[0].dgram.payloadStart, 4);
  const g = guestUdp({ payload: new Uint8Array(0) });
  iface.receive(g);
  assert.is(dgrams[1].dgram.payloadStart, dgrams[1].dgram.payloadEnd, 'an empty datagram is valid');
});

Udp('parseUdp on truncated headers and lengths', () => {
  const b = new Uint8Array(20);
  assert.is(parseUdp(b, 0, 7), 'short');
  b[5] = 8;
  assert.equal(parseUdp(b, 0, 8), { srcPort: 0, dstPort: 0, payloadStart: 8, payloadEnd: 8 });
  b[5] = 9;
  assert.is(parseUdp(b, 0, 8), 'length');
  assert.is(parseUdp(b, 13, 20), 'short', 'relative to start');
  b[5] = 0;
  assert.is(parseUdp(b, 0, 20), 'length');
});

/** Parse a UDP frame the host sent toward the guest, checking every layer. */
function parseUdpOut(frame: Uint8Array): { ip: Ipv4Repr; udp: UdpRepr; payload: Uint8Array } {
  const r = assertIpToGuest(CONFIG, frame, PROTO_UDP);
  assert.is.not((frame[r.payloadStart + 6] << 8) | frame[r.payloadStart + 7], 0, 'a checksum is always sent');
  const udp = parseUdp(frame, r.payloadStart, r.payloadEnd) as UdpRepr;
  assert.type(udp, 'object');
  return { ip: r, udp, payload: frame.subarray(udp.payloadStart, udp.payloadEnd) };
}

Udp('sendUdp builds a frame that parses back with a valid checksum', () => {
  const { sink, iface } = setup();
  const payload = new Uint8Array(300).map((_, i) => (i * 31) & 255);
  assert.ok(iface.sendUdp(HOST_IP, 53, 49152, payload));
  assert.is(sink.frames.length, 1);
  assert.is(sink.frames[0].reserve, 0);
  const { ip, udp, payload: got } = parseUdpOut(sink.frames[0].frame);
  assert.is(ip.src, HOST_IP);
  assert.is(udp.srcPort, 53);
  assert.is(udp.dstPort, 49152);
  assert.equal(Array.from(got), Array.from(payload));
  assert.is(iface.counters.framesOut, 1);
  // From another address, and an empty payload.
  assert.ok(iface.sendUdp(parseIpv4('192.0.2.1'), 7, 8, new Uint8Array(0)));
  const second = parseUdpOut(sink.frames[1].frame);
  assert.is(second.ip.src, parseIpv4('192.0.2.1'));
  assert.is(second.payload.length, 0);
});

Udp('sendUdp refuses a payload larger than one frame, and a full sink', () => {
  const { sink, iface } = setup();
  assert.is(iface.sendUdp(HOST_IP, 53, 1000, new Uint8Array(1514 - 42 + 1)), false);
  assert.is(sink.frames.length, 0);
  assert.ok(iface.sendUdp(HOST_IP, 53, 1000, new Uint8Array(1514 - 42)), 'exactly maxFrame fits');
  assert.is(sink.frames[0].frame.length, 1514);
  sink.accept = false;
  assert.is(iface.sendUdp(HOST_IP, 53, 1000, new Uint8Array(10)), false);
  assert.is(iface.counters.framesOut, 1);
});

Udp.run();

// ---------------------------------------------------------------------------
const Tx = suite('interface TCP out');

Tx('sendTcp builds a frame that parses back at every layer', () => {
  const { sink, iface } = setup();
  const payload = new Uint8Array(1000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 255;
  assert.ok(iface.sendTcp(40000, 8080, ACK | PSH, 0xfffffff0, 0x01020304, payload));
  assert.is(sink.frames.length, 1);
  const { frame, reserve } = sink.frames[0];
  assert.is(frame.length, 14 + 20 + 20 + 1000);
  const { tcp, payload: got } = parseOut(frame);
  assert.is(tcp.srcPort, 40000);
  assert.is(tcp.dstPort, 8080);
  assert.is(tcp.seq, 0xfffffff0);
  assert.is(tcp.ack, 0x01020304);
  assert.is(tcp.flags, ACK | PSH);
  assert.is(tcp.window, 65535);
  assert.is(tcp.mss, 0);
  assert.ok(Buffer.from(got).equals(Buffer.from(payload)), 'payload intact');
  assert.is(reserve, CONTROL_RESERVE, 'data leaves room for control segments');
  assert.is(iface.counters.framesOut, 1);
});

Tx('SYN with MSS option: 24-byte header, reserve 0', () => {
  const { sink, iface } = setup();
  iface.sendTcp(40000, 8080, SYN, 1000, 0, undefined, 1460);
  const { frame, reserve } = sink.frames[0];
  assert.is(frame.length, 14 + 20 + 24);
  const { tcp } = parseOut(frame);
  assert.is(tcp.flags, SYN);
  assert.is(tcp.mss, 1460);
  assert.is(tcp.payloadStart, tcp.payloadEnd);
  assert.is(reserve, 0);
});

Tx('control segments ask for no reserve; data segments for CONTROL_RESERVE', () => {
  const { sink, iface } = setup();
  iface.sendTcp(1, 2, ACK, 1, 2);
  iface.sendTcp(1, 2, FIN | ACK, 1, 2);
  iface.sendTcp(1, 2, RST | ACK, 1, 2);
  iface.sendTcp(1, 2, RST | ACK, 1, 2, new Uint8Array(0));
  iface.sendTcp(1, 2, ACK | PSH, 1, 2, new Uint8Array(1));
  assert.equal(
    sink.frames.map((f) => f.reserve),
    [0, 0, 0, 0, CONTROL_RESERVE],
  );
  for (const f of sink.frames) parseOut(f.frame);
});

Tx('consecutive frames get distinct IP ids and do not corrupt each other', () => {
  const { sink, iface } = setup();
  iface.sendTcp(1, 2, ACK | PSH, 10, 20, new Uint8Array([1, 2, 3]));
  iface.sendTcp(1, 2, ACK, 13, 20);
  const [a, b] = sink.frames.map((f) => f.frame);
  assert.is.not((a[18] << 8) | a[19], (b[18] << 8) | b[19]);
  assert.equal(Array.from(parseOut(a).payload), [1, 2, 3]);
  assert.is(parseOut(b).payload.length, 0);
});

Tx('a full sink: sendTcp returns false and nothing is counted', () => {
  const { sink, iface } = setup();
  sink.accept = false;
  assert.is(iface.sendTcp(1, 2, ACK | PSH, 1, 2, new Uint8Array(10)), false);
  assert.is(iface.counters.framesOut, 0);
  sink.accept = true;
  assert.is(iface.sendTcp(1, 2, ACK | PSH, 1, 2, new Uint8Array(10)), true);
  assert.is(iface.counters.framesOut, 1);
});

Tx('a full-size segment (MSS 1460) fits in maxFrame', () => {
  const { sink, iface } = setup();
  assert.ok(iface.sendTcp(1, 2, ACK | PSH, 1, 2, new Uint8Array(1460).fill(9)));
  assert.is(sink.frames[0].frame.length, 1514);
  assert.ok(parseOut(sink.frames[0].frame).payload.every((x) => x === 9));
});

Tx('sendTcpFrom: the segment comes from the far address, checksummed over it', () => {
  const { sink, iface } = setup();
  const far = parseIpv4('93.184.216.34');
  assert.ok(iface.sendTcpFrom(far, 443, 41000, SYN | ACK, 0xdeadbeef, 1001, undefined, 1460));
  assert.ok(iface.sendTcpFrom(far, 443, 41000, ACK | PSH, 0xdeadbef0, 1001, new Uint8Array([7, 8, 9])));
  const a = parseOut(sink.frames[0].frame, far);
  assert.is(a.tcp.srcPort, 443);
  assert.is(a.tcp.dstPort, 41000);
  assert.is(a.tcp.flags, SYN | ACK);
  assert.is(a.tcp.seq, 0xdeadbeef);
  assert.is(a.tcp.ack, 1001);
  assert.is(a.tcp.mss, 1460);
  const b = parseOut(sink.frames[1].frame, far);
  assert.equal(Array.from(b.payload), [7, 8, 9]);
  assert.is(sink.frames[1].reserve, CONTROL_RESERVE);
});

Tx.run();

// ---------------------------------------------------------------------------
const Reset = suite('interface sendResetFor');

function segOf(o: GuestTcp): TcpRepr {
  const f = guestTcp(o);
  const ip = parseIpv4Header(f, 14) as Ipv4Repr;
  return parseTcp(f, ip.payloadStart, ip.payloadEnd) as TcpRepr;
}

Reset('ACK-bearing segment: RST with seq = their ack', () => {
  const { sink, iface } = setup();
  iface.sendResetFor(segOf({ srcPort: 8080, dstPort: 40000, seq: 100, ack: 777, flags: ACK | PSH, payload: new Uint8Array(5) }));
  assert.is(sink.frames.length, 1);
  const { tcp, payload } = parseOut(sink.frames[0].frame);
  assert.is(tcp.flags, RST);
  assert.is(tcp.seq, 777);
  assert.is(tcp.ack, 0);
  assert.is(tcp.srcPort, 40000);
  assert.is(tcp.dstPort, 8080);
  assert.is(payload.length, 0);
  assert.is(sink.frames[0].reserve, 0);
});

Reset('non-ACK segments: RST|ACK acknowledging SYN, FIN and data', () => {
  const { sink, iface } = setup();
  iface.sendResetFor(segOf({ seq: 100, ack: 0, flags: SYN }));
  iface.sendResetFor(segOf({ seq: 100, ack: 0, flags: PSH, payload: new Uint8Array(10) }));
  iface.sendResetFor(segOf({ seq: 100, ack: 0, flags: FIN, payload: new Uint8Array(5) }));
  iface.sendResetFor(segOf({ seq: 0xffffffff, ack: 0, flags: SYN }));
  const outs = sink.frames.map((f) => parseOut(f.frame).tcp);
  assert.equal(
    outs.map((t) => [t.flags, t.seq, t.ack]),
    [
      [RST | ACK, 0, 101],
      [RST | ACK, 0, 110],
      [RST | ACK, 0, 106],
      [RST | ACK, 0, 0],
    ],
  );
});

Reset('from another address: the RST comes from the address the segment was sent to', () => {
  const { sink, iface } = setup();
  const far = parseIpv4('198.51.100.7');
  iface.sendResetFor(segOf({ dstIp: far, srcPort: 41000, dstPort: 80, seq: 500, ack: 0, flags: SYN }), far);
  iface.sendResetFor(segOf({ dstIp: far, srcPort: 41000, dstPort: 80, seq: 501, ack: 9000, flags: ACK }), far);
  const [a, b] = sink.frames.map((f) => parseOut(f.frame, far).tcp);
  assert.equal([a.srcPort, a.dstPort, a.flags, a.seq, a.ack], [80, 41000, RST | ACK, 0, 501]);
  assert.equal([b.srcPort, b.dstPort, b.flags, b.seq, b.ack], [80, 41000, RST, 9000, 0]);
});

Reset('a RST is never answered', () => {
  const { sink, iface } = setup();
  iface.sendResetFor(segOf({ flags: RST }));
  iface.sendResetFor(segOf({ flags: RST | ACK }));
  iface.sendResetFor(segOf({ flags: RST | ACK | PSH, payload: new Uint8Array(3) }));
  assert.is(sink.frames.length, 0);
});

Reset.run();
