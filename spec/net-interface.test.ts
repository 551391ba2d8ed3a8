// NetInterface: validation of guest frames, ARP, and frames built toward the guest.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CONTROL_RESERVE, NetInterface, type LinkConfig } from '../ts/net/interface.js';
import { ARP_REPLY, ARP_REQUEST, buildArp, parseArp } from '../ts/net/arp.js';
import { BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetView, formatMac, parseMac, writeEthernet } from '../ts/net/ethernet.js';
import { checksum, fold, sum16 } from '../ts/net/checksum.js';
import { PROTO_TCP, PROTO_UDP, parseIpv4, parseIpv4Header, writeIpv4Header, type Ipv4Repr } from '../ts/net/ipv4.js';
import { ACK, FIN, PSH, RST, SYN, parseTcp, writeTcp, type TcpRepr } from '../ts/net/tcp-wire.js';

const HOST_MAC = parseMac('02:00:00:00:00:01');
const GUEST_MAC = parseMac('02:00:00:00:00:02');
const HOST_IP = parseIpv4('10.0.0.1');
const GUEST_IP = parseIpv4('10.0.0.2');
const CONFIG: LinkConfig = { hostMac: HOST_MAC, hostIp: HOST_IP, guestMac: GUEST_MAC, guestIp: GUEST_IP, maxFrame: 1514 };

class FakeSink {
  frames: { frame: Uint8Array; reserve: number }[] = [];
  accept = true;
  send(frame: Uint8Array, reserve: number): boolean {
    if (!this.accept) return false;
    this.frames.push({ frame: frame.slice(), reserve });
    return true;
  }
}

function setup(): { sink: FakeSink; iface: NetInterface; segs: { seg: TcpRepr; frame: Uint8Array }[] } {
  const sink = new FakeSink();
  const segs: { seg: TcpRepr; frame: Uint8Array }[] = [];
  const iface = new NetInterface(CONFIG, sink, (seg, frame) => segs.push({ seg: { ...seg }, frame: frame.slice() }));
  return { sink, iface, segs };
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
  const payload = o.payload ?? new Uint8Array(0);
  const hlen = o.mss ? 24 : 20;
  const frame = new Uint8Array(14 + 20 + hlen + payload.length + (o.pad ?? 0));
  const srcIp = o.srcIp ?? GUEST_IP;
  const dstIp = o.dstIp ?? HOST_IP;
  writeEthernet(frame, HOST_MAC, GUEST_MAC, ETHERTYPE_IPV4);
  frame.set(payload, 34 + hlen);
  writeTcp(
    frame,
    34,
    { srcIp, dstIp, srcPort: o.srcPort ?? 8080, dstPort: o.dstPort ?? 40000, seq: o.seq ?? 1, ack: o.ack ?? 2, flags: o.flags ?? ACK, window: o.window ?? 6000, mss: o.mss },
    payload.length,
  );
  writeIpv4Header(frame, 14, srcIp, dstIp, o.protocol ?? PROTO_TCP, hlen + payload.length, 77);
  return frame;
}

/** Wrap raw TCP bytes (possibly malformed) in a valid Ethernet + IPv4 frame from the guest. */
function guestRawTcp(tcp: Uint8Array): Uint8Array {
  const frame = new Uint8Array(34 + tcp.length);
  writeEthernet(frame, HOST_MAC, GUEST_MAC, ETHERTYPE_IPV4);
  frame.set(tcp, 34);
  writeIpv4Header(frame, 14, GUEST_IP, HOST_IP, PROTO_TCP, tcp.length, 1);
  return frame;
}

function fixIpChecksum(frame: Uint8Array): void {
  frame[24] = 0;
  frame[25] = 0;
  const c = checksum(frame, 14, 14 + (frame[14] & 15) * 4);
  frame[24] = c >> 8;
  frame[25] = c & 255;
}

function tcpChecksumOk(frame: Uint8Array, ip: Ipv4Repr): boolean {
  const len = ip.payloadEnd - ip.payloadStart;
  const pseudo = (ip.src >>> 16) + (ip.src & 0xffff) + (ip.dst >>> 16) + (ip.dst & 0xffff) + PROTO_TCP + len;
  return fold(sum16(frame, ip.payloadStart, ip.payloadEnd, pseudo)) === 0;
}

/** Parse a frame the host sent toward the guest, checking every layer. */
function parseOut(frame: Uint8Array): { ip: Ipv4Repr; tcp: TcpRepr; payload: Uint8Array } {
  const eth = new EthernetView(frame);
  assert.ok(eth.check());
  assert.is(formatMac(eth.dst()), formatMac(GUEST_MAC));
  assert.is(formatMac(eth.src()), formatMac(HOST_MAC));
  assert.is(eth.ethertype(), ETHERTYPE_IPV4);
  const ip = parseIpv4Header(frame, 14, true);
  assert.type(ip, 'object', `IPv4 header: ${String(ip)}`);
  const r = ip as Ipv4Repr;
  assert.is(r.src, HOST_IP);
  assert.is(r.dst, GUEST_IP);
  assert.is(r.protocol, PROTO_TCP);
  assert.is(r.payloadEnd, frame.length, 'no trailing bytes');
  assert.ok(tcpChecksumOk(frame, r), 'TCP checksum');
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
      fixIpChecksum(f);
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
      fixIpChecksum(f);
      return f;
    },
  ],
  ['ipv4-spoofed-source', () => guestTcp({ srcIp: parseIpv4('10.0.0.3') })],
  ['ipv4-spoofed-source', () => guestTcp({ srcIp: HOST_IP })],
  ['ipv4-destination', () => guestTcp({ dstIp: parseIpv4('8.8.8.8') })],
  ['ipv4-protocol', () => guestTcp({ protocol: PROTO_UDP })],
  ['ipv4-protocol', () => guestTcp({ protocol: 1 })],
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
    const { sink, iface, segs } = setup();
    iface.receive(make());
    assert.equal(iface.counters.refused, { [reason]: 1 });
    assert.is(segs.length, 0, 'never reaches the segment handler');
    assert.is(sink.frames.length, 0, 'nothing answered');
    assert.is(iface.counters.framesIn, 1);
    assert.not.ok(iface.guestUp);
  });
}

Refuse('counts accumulate by reason', () => {
  const { iface, segs } = setup();
  iface.receive(new Uint8Array(3));
  iface.receive(new Uint8Array(3));
  iface.receive(guestTcp({ protocol: PROTO_UDP }));
  iface.receive(guestTcp());
  assert.equal(iface.counters.refused, { 'ethernet-short': 2, 'ipv4-protocol': 1 });
  assert.is(segs.length, 1);
  assert.is(iface.counters.framesIn, 4);
});

Refuse.run();

// ---------------------------------------------------------------------------
const Rx = suite('interface TCP in');

Rx('a valid TCP frame reaches the handler with the right fields', () => {
  const { sink, iface, segs } = setup();
  const payload = new Uint8Array(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  const frame = guestTcp({ srcPort: 8080, dstPort: 41234, seq: 0xfffffff0, ack: 0x12345678, flags: ACK | PSH, window: 6000, payload });
  iface.receive(frame);
  assert.is(segs.length, 1);
  const { seg, frame: got } = segs[0];
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

Rx.run();

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

Reset('a RST is never answered', () => {
  const { sink, iface } = setup();
  iface.sendResetFor(segOf({ flags: RST }));
  iface.sendResetFor(segOf({ flags: RST | ACK }));
  iface.sendResetFor(segOf({ flags: RST | ACK | PSH, payload: new Uint8Array(3) }));
  assert.is(sink.frames.length, 0);
});

Reset.run();
