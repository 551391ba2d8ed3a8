// Wire formats: checksum, Ethernet, IPv4, ARP and TCP headers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checksum, fold, sum16 } from '../../ts/net/wire/checksum.js';
import { BROADCAST_MAC, ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetView, formatMac, parseMac, writeEthernet } from '../../ts/net/wire/ethernet.js';
import {
  IPV4_HEADER_LEN,
  PROTO_TCP,
  PROTO_UDP,
  formatIpv4,
  parseIpv4,
  parseIpv4Header,
  readU32,
  writeIpv4Header,
  writeU32,
  type Ipv4Repr,
} from '../../ts/net/wire/ipv4.js';
import { ARP_LEN, ARP_REPLY, ARP_REQUEST, buildArp, parseArp } from '../../ts/net/wire/arp.js';
import { ACK, FIN, PSH, RST, SYN, TCP_HEADER_LEN, flagNames, parseTcp, seqAdd, seqLe, seqLt, writeTcp, type TcpRepr } from '../../ts/net/wire/tcp.js';
import { TEST_LINK, fixIpv4Checksum } from '../helpers/link.js';
import { rng } from '../helpers/rng.js';

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Reference ones-complement sum, folding after every word. */
function refChecksum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    s += (bytes[i] << 8) | (i + 1 < bytes.length ? bytes[i + 1] : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  return ~s & 0xffff;
}

// ---------------------------------------------------------------------------
const Checksum = suite('checksum');

Checksum('classic IPv4 header vector -> 0xb861', () => {
  const hdr = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  assert.is(checksum(hdr, 0, hdr.length), 0xb861);
  hdr[10] = 0xb8;
  hdr[11] = 0x61;
  assert.is(checksum(hdr, 0, hdr.length), 0, 'a header including its checksum sums to 0');
});

Checksum('RFC 1071 example sum', () => {
  const data = hex('0001 f203 f4f5 f6f7');
  assert.is(sum16(data, 0, data.length), 0x2ddf0);
  assert.is(checksum(data, 0, data.length), 0x220d);
});

Checksum('odd length pads the last byte with zero', () => {
  const data = Uint8Array.from([0x01, 0x02, 0x03]);
  assert.is(sum16(data, 0, 3), 0x0102 + 0x0300);
  assert.is(checksum(data, 0, 3), ~(0x0402) & 0xffff);
  // Same as an explicit trailing zero.
  const padded = Uint8Array.from([0x01, 0x02, 0x03, 0x00]);
  assert.is(checksum(data, 0, 3), checksum(padded, 0, 4));
  // A sub-range starting at an odd offset.
  const buf = Uint8Array.from([0xff, 0x12, 0x34, 0x56]);
  assert.is(sum16(buf, 1, 4), 0x1234 + 0x5600);
  assert.is(sum16(buf, 2, 2), 0, 'empty range');
  assert.is(checksum(buf, 2, 2), 0xffff);
});

Checksum('fold carries repeatedly', () => {
  assert.is(fold(0x1fffe), 0); // 0xfffe + 1 = 0xffff -> ~ = 0
  assert.is(fold(0xffff), 0);
  assert.is(fold(0), 0xffff);
  assert.is(fold(0x2ddf0), 0x220d);
  const big = new Uint8Array(100001).fill(0xff);
  assert.is(checksum(big, 0, big.length - 1), 0, 'many 0xffff words');
});

Checksum('random data: matches a reference, and data with its own checksum sums to 0', () => {
  const next = rng(42);
  for (let n = 0; n < 200; n++) {
    const len = 2 + Math.floor(next() * 300);
    const data = new Uint8Array(len);
    for (let i = 0; i < len; i++) data[i] = Math.floor(next() * 256);
    assert.is(checksum(data, 0, len), refChecksum(Array.from(data)), `len ${len}`);
    // Place the checksum at an even offset and verify.
    const at = 2 * Math.floor(next() * Math.floor(len / 2));
    if (at + 1 >= len) continue;
    data[at] = 0;
    data[at + 1] = 0;
    const c = checksum(data, 0, len);
    data[at] = c >> 8;
    data[at + 1] = c & 255;
    assert.is(checksum(data, 0, len), 0, `len ${len} at ${at}`);
  }
});

Checksum.run();

// ---------------------------------------------------------------------------
const Eth = suite('ethernet');

Eth('parseMac / formatMac round trip', () => {
  const mac = parseMac('02:0A:ff:00:7:1');
  assert.equal(Array.from(mac), [2, 10, 255, 0, 7, 1]);
  assert.is(formatMac(mac), '02:0a:ff:00:07:01');
  assert.is(formatMac(parseMac('de:ad:be:ef:00:01')), 'de:ad:be:ef:00:01');
  assert.is(formatMac(BROADCAST_MAC), 'ff:ff:ff:ff:ff:ff');
});

Eth('parseMac rejects malformed text', () => {
  for (const bad of ['', '02:00:00:00:00', '02:00:00:00:00:00:00', '02:00:00:00:00:100', 'zz:00:00:00:00:00', '02-00-00-00-00-01', '02:00::00:00:01']) {
    assert.throws(() => parseMac(bad), /bad MAC/, bad);
  }
});

Eth('EthernetView and writeEthernet', () => {
  assert.not.ok(new EthernetView(new Uint8Array(13)).check());
  const frame = new Uint8Array(ETH_HEADER_LEN);
  writeEthernet(frame, parseMac('02:00:00:00:00:02'), parseMac('02:00:00:00:00:01'), ETHERTYPE_ARP);
  const v = new EthernetView(frame);
  assert.ok(v.check());
  assert.is(formatMac(v.dst()), '02:00:00:00:00:02');
  assert.is(formatMac(v.src()), '02:00:00:00:00:01');
  assert.is(v.ethertype(), 0x0806);
  assert.is(frame[12], 0x08);
  assert.is(frame[13], 0x06);
  writeEthernet(frame, BROADCAST_MAC, BROADCAST_MAC, ETHERTYPE_IPV4);
  assert.is(v.ethertype(), 0x0800);
});

Eth.run();

// ---------------------------------------------------------------------------
const Ip = suite('ipv4');

Ip('parseIpv4 / formatIpv4 round trip, unsigned', () => {
  assert.is(parseIpv4('192.168.0.1'), 0xc0a80001);
  assert.is(parseIpv4('255.255.255.255'), 0xffffffff);
  assert.ok(parseIpv4('200.0.0.1') > 0, 'unsigned even with the top bit set');
  assert.is(parseIpv4('0.0.0.0'), 0);
  for (const t of ['10.0.0.1', '192.168.200.7', '255.255.255.255', '1.2.3.4', '128.0.0.0']) assert.is(formatIpv4(parseIpv4(t)), t);
});

Ip('parseIpv4 rejects malformed text', () => {
  for (const bad of ['1.2.3', '1.2.3.4.5', '1.2.3.256', '1.2.3.-1', 'a.b.c.d', '1.2.3.4x', '1.5.2.3.']) {
    assert.throws(() => parseIpv4(bad), /bad IPv4/, bad);
  }
});

Ip('readU32 / writeU32', () => {
  const b = new Uint8Array(6);
  writeU32(b, 1, 0xdeadbeef);
  assert.equal(Array.from(b), [0, 0xde, 0xad, 0xbe, 0xef, 0]);
  assert.is(readU32(b, 1), 0xdeadbeef);
});

Ip('writeIpv4Header reproduces the classic header byte for byte', () => {
  const out = new Uint8Array(20);
  writeIpv4Header(out, 0, parseIpv4('192.168.0.1'), parseIpv4('192.168.0.199'), PROTO_UDP, 0x73 - 20, 0);
  assert.equal(Array.from(out), Array.from(hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7')));
});

Ip('writeIpv4Header then parseIpv4Header (with checksum) round trip', () => {
  const at = 14;
  const buf = new Uint8Array(at + 20 + 100);
  writeIpv4Header(buf, at, parseIpv4('10.0.0.1'), parseIpv4('10.0.0.2'), PROTO_TCP, 100, 0x1234);
  assert.is(checksum(buf, at, at + 20), 0);
  assert.is(buf[at + 4], 0x12);
  assert.is(buf[at + 5], 0x34);
  assert.is(buf[at + 6], 0x40, 'DF');
  assert.is(buf[at + 8], 64, 'TTL');
  const r = parseIpv4Header(buf, at, true) as Ipv4Repr;
  assert.type(r, 'object');
  assert.is(r.src, parseIpv4('10.0.0.1'));
  assert.is(r.dst, parseIpv4('10.0.0.2'));
  assert.is(r.protocol, PROTO_TCP);
  assert.is(r.payloadStart, at + 20);
  assert.is(r.payloadEnd, at + 120);
});

Ip('trailing bytes (Ethernet padding) are outside the payload', () => {
  const buf = new Uint8Array(60);
  writeIpv4Header(buf, 14, 1, 2, PROTO_TCP, 20, 1);
  const r = parseIpv4Header(buf, 14, true) as Ipv4Repr;
  assert.is(r.payloadEnd, 14 + 40);
});

function goodHeader(): Uint8Array {
  const buf = new Uint8Array(14 + 20 + 8);
  writeIpv4Header(buf, 14, parseIpv4('10.0.0.2'), parseIpv4('10.0.0.1'), PROTO_TCP, 8, 9);
  return buf;
}

Ip('rejection: short', () => {
  const buf = goodHeader();
  assert.is(parseIpv4Header(buf.subarray(0, 33), 14), 'short');
  assert.is(parseIpv4Header(new Uint8Array(0), 0), 'short');
  assert.type(parseIpv4Header(buf.subarray(0, 34), 14, false), 'string'); // total-length 28 > 20 available
});

Ip('rejection: version', () => {
  const buf = goodHeader();
  buf[14] = 0x65;
  fixIpv4Checksum(buf);
  assert.is(parseIpv4Header(buf, 14, true), 'version');
});

Ip('rejection: header-length', () => {
  const buf = goodHeader();
  buf[14] = 0x44; // 16-byte header
  assert.is(parseIpv4Header(buf, 14), 'header-length');
  buf[14] = 0x4f; // 60-byte header, buffer too short
  assert.is(parseIpv4Header(buf, 14), 'header-length');
});

Ip('options (IHL > 5) are skipped', () => {
  const buf = new Uint8Array(14 + 24 + 4);
  writeIpv4Header(buf, 14, 1, 2, PROTO_TCP, 8, 0); // writes 20, total 28
  buf[14] = 0x46;
  buf[17] = 28;
  fixIpv4Checksum(buf);
  const r = parseIpv4Header(buf, 14, true) as Ipv4Repr;
  assert.is(r.payloadStart, 14 + 24);
  assert.is(r.payloadEnd, 14 + 28);
});

Ip('rejection: total-length', () => {
  const buf = goodHeader();
  buf[16] = 0;
  buf[17] = 19; // less than the header
  fixIpv4Checksum(buf);
  assert.is(parseIpv4Header(buf, 14, true), 'total-length');
  buf[17] = 29; // one more than the buffer holds
  fixIpv4Checksum(buf);
  assert.is(parseIpv4Header(buf, 14, true), 'total-length');
  buf[17] = 28;
  fixIpv4Checksum(buf);
  assert.type(parseIpv4Header(buf, 14, true), 'object');
});

Ip('rejection: fragment (MF or offset), DF alone is fine', () => {
  const buf = goodHeader();
  for (const [b6, b7] of [
    [0x20, 0x00],
    [0x00, 0x01],
    [0x1f, 0xff],
    [0x60, 0x00],
  ]) {
    buf[20] = b6;
    buf[21] = b7;
    fixIpv4Checksum(buf);
    assert.is(parseIpv4Header(buf, 14, true), 'fragment', `${b6}/${b7}`);
  }
  buf[20] = 0x40;
  buf[21] = 0;
  fixIpv4Checksum(buf);
  assert.type(parseIpv4Header(buf, 14, true), 'object');
  buf[20] = 0x80; // reserved bit: not a fragment
  fixIpv4Checksum(buf);
  assert.type(parseIpv4Header(buf, 14, true), 'object');
});

Ip('rejection: checksum (only when asked)', () => {
  const buf = goodHeader();
  buf[22] ^= 1; // TTL
  assert.is(parseIpv4Header(buf, 14, true), 'checksum');
  assert.type(parseIpv4Header(buf, 14, false), 'object');
  assert.type(parseIpv4Header(buf, 14), 'object');
});

Ip.run();

// ---------------------------------------------------------------------------
const Arp = suite('arp');

const { hostMac: HOST_MAC, guestMac: GUEST_MAC, hostIp: HOST_IP, guestIp: GUEST_IP } = TEST_LINK;

Arp('buildArp then parseArp round trip (request)', () => {
  const f = buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, HOST_IP);
  assert.is(f.length, ETH_HEADER_LEN + ARP_LEN);
  const eth = new EthernetView(f);
  assert.is(formatMac(eth.dst()), 'ff:ff:ff:ff:ff:ff');
  assert.is(formatMac(eth.src()), formatMac(GUEST_MAC));
  assert.is(eth.ethertype(), ETHERTYPE_ARP);
  assert.equal(Array.from(f.subarray(14, 22)), [0, 1, 8, 0, 6, 4, 0, 1]);
  const a = parseArp(f, ETH_HEADER_LEN)!;
  assert.ok(a);
  assert.is(a.op, ARP_REQUEST);
  assert.is(formatMac(a.senderMac), formatMac(GUEST_MAC));
  assert.is(a.senderIp, GUEST_IP);
  assert.is(a.targetIp, HOST_IP);
  f[22] = 0xaa; // the parsed MAC is a copy
  assert.is(formatMac(a.senderMac), formatMac(GUEST_MAC));
});

Arp('reply carries target hardware address', () => {
  const f = buildArp(ARP_REPLY, HOST_MAC, HOST_IP, GUEST_MAC, GUEST_IP);
  const a = parseArp(f, 14)!;
  assert.is(a.op, ARP_REPLY);
  assert.is(formatMac(f.subarray(32, 38)), formatMac(GUEST_MAC));
  assert.is(readU32(f, 38), GUEST_IP);
  assert.is(readU32(f, 28), HOST_IP);
});

Arp('non Ethernet/IPv4 ARP and short packets are rejected', () => {
  const good = buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, HOST_IP);
  assert.is(parseArp(good.subarray(0, 14 + 27), 14), null, 'short');
  const mutate = (at: number, v: number) => {
    const f = good.slice();
    f[at] = v;
    return parseArp(f, 14);
  };
  assert.is(mutate(15, 6), null, 'htype 6');
  assert.is(mutate(16, 0x86), null, 'ptype 0x86dd');
  assert.is(mutate(17, 0x06), null, 'ptype 0x0806');
  assert.is(mutate(18, 8), null, 'hlen 8');
  assert.is(mutate(19, 16), null, 'plen 16');
  assert.ok(parseArp(good, 14));
});

Arp.run();

// ---------------------------------------------------------------------------
const Tcp = suite('tcp-wire');

const SRC = parseIpv4('10.0.0.1');
const DST = parseIpv4('10.0.0.2');

function pseudoSum(src: number, dst: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + PROTO_TCP + len;
}

/** Independent check: pseudo-header and segment bytes laid out, reference checksum. */
function refTcpValid(buf: Uint8Array, at: number, end: number, src: number, dst: number): boolean {
  const bytes: number[] = [];
  const push32 = (v: number) => bytes.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  push32(src);
  push32(dst);
  const len = end - at;
  bytes.push(0, PROTO_TCP, len >> 8, len & 255);
  for (let i = at; i < end; i++) bytes.push(buf[i]);
  return refChecksum(bytes) === 0;
}

Tcp('writeTcp + parseTcp round trip with MSS option', () => {
  const at = 34;
  const payload = new TextEncoder().encode('hello, guest');
  const buf = new Uint8Array(at + 24 + payload.length + 6);
  buf.fill(0xcc);
  buf.set(payload, at + 24);
  const hlen = writeTcp(buf, at, { srcIp: SRC, dstIp: DST, srcPort: 40001, dstPort: 80, seq: 0xfffffffe, ack: 0x80000001, flags: SYN | ACK, window: 6000, mss: 1460 }, payload.length);
  assert.is(hlen, 24);
  const end = at + hlen + payload.length;
  assert.is(buf[end], 0xcc, 'nothing written past the segment');
  const r = parseTcp(buf, at, end) as TcpRepr;
  assert.type(r, 'object');
  assert.is(r.srcPort, 40001);
  assert.is(r.dstPort, 80);
  assert.is(r.seq, 0xfffffffe);
  assert.is(r.ack, 0x80000001);
  assert.is(r.flags, SYN | ACK);
  assert.is(r.window, 6000);
  assert.is(r.mss, 1460);
  assert.is(r.payloadStart, at + 24);
  assert.is(r.payloadEnd, end);
  assert.is(new TextDecoder().decode(buf.subarray(r.payloadStart, r.payloadEnd)), 'hello, guest');
  assert.is(fold(sum16(buf, at, end, pseudoSum(SRC, DST, end - at))), 0, 'checksum verifies over the pseudo-header');
  assert.ok(refTcpValid(buf, at, end, SRC, DST));
  assert.not.ok(refTcpValid(buf, at, end, SRC, DST + 1), 'pseudo-header addresses are covered');
});

Tcp('writeTcp without MSS: 20-byte header, mss 0', () => {
  const buf = new Uint8Array(20 + 3);
  buf.set([1, 2, 3], 20);
  const hlen = writeTcp(buf, 0, { srcIp: SRC, dstIp: DST, srcPort: 1, dstPort: 2, seq: 7, ack: 9, flags: ACK | PSH, window: 65535 }, 3);
  assert.is(hlen, 20);
  assert.is(buf[12], 0x50);
  const r = parseTcp(buf, 0, 23) as TcpRepr;
  assert.is(r.mss, 0);
  assert.is(r.payloadStart, 20);
  assert.is(r.window, 65535);
  assert.is(r.flags, ACK | PSH);
  assert.ok(refTcpValid(buf, 0, 23, SRC, DST), 'odd-length segment checksum');
});

Tcp('checksum is right for random segments', () => {
  const next = rng(7);
  for (let n = 0; n < 100; n++) {
    const plen = Math.floor(next() * 200);
    const mss = next() < 0.5 ? 1 + Math.floor(next() * 65535) : undefined;
    const hl = mss ? 24 : 20;
    const buf = new Uint8Array(hl + plen);
    for (let i = hl; i < buf.length; i++) buf[i] = Math.floor(next() * 256);
    const src = Math.floor(next() * 2 ** 32);
    const dst = Math.floor(next() * 2 ** 32);
    writeTcp(buf, 0, { srcIp: src, dstIp: dst, srcPort: Math.floor(next() * 65536), dstPort: Math.floor(next() * 65536), seq: Math.floor(next() * 2 ** 32), ack: Math.floor(next() * 2 ** 32), flags: Math.floor(next() * 64), window: Math.floor(next() * 65536), mss }, plen);
    assert.ok(refTcpValid(buf, 0, buf.length, src, dst), `segment ${n}`);
    const r = parseTcp(buf, 0, buf.length) as TcpRepr;
    assert.is(r.mss, mss ?? 0);
  }
});

Tcp('flags are masked to the six classic bits', () => {
  const buf = new Uint8Array(20);
  writeTcp(buf, 0, { srcIp: SRC, dstIp: DST, srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0xc0 | SYN, window: 0 }, 0);
  assert.is((parseTcp(buf, 0, 20) as TcpRepr).flags, SYN);
});

/** A header with the given data offset (words) and option bytes. */
function withOptions(doffWords: number, options: number[], total = Math.max(doffWords * 4, 20)): Uint8Array {
  const buf = new Uint8Array(total);
  buf[0] = 0x1f;
  buf[1] = 0x90;
  buf[12] = doffWords << 4;
  buf[13] = ACK;
  if (options.length > 0) buf.set(options, 20);
  return buf;
}

Tcp('rejection: short and bad data offset', () => {
  assert.is(parseTcp(new Uint8Array(19), 0, 19), 'short');
  assert.is(parseTcp(new Uint8Array(40), 10, 29), 'short', 'the range, not the buffer, counts');
  assert.is(parseTcp(withOptions(4, []), 0, 20), 'data-offset');
  assert.is(parseTcp(withOptions(0, []), 0, 20), 'data-offset');
  assert.is(parseTcp(withOptions(6, [], 20), 0, 20), 'data-offset', 'header longer than the segment');
  assert.is(parseTcp(withOptions(15, [], 59), 0, 59), 'data-offset');
  assert.type(parseTcp(withOptions(15, [], 60), 0, 60), 'object');
});

Tcp('rejection: zero- and one-length options (Mongoose would loop forever)', () => {
  assert.is(parseTcp(withOptions(6, [2, 0, 0, 0]), 0, 24), 'option');
  assert.is(parseTcp(withOptions(6, [8, 0, 0, 0]), 0, 24), 'option');
  assert.is(parseTcp(withOptions(6, [1, 1, 5, 1]), 0, 24), 'option');
  assert.is(parseTcp(withOptions(6, [1, 1, 1, 5]), 0, 24), 'option', 'kind without a length byte');
  assert.is(parseTcp(withOptions(6, [2, 8, 5, 180]), 0, 24), 'option', 'length past the header');
  assert.is(parseTcp(withOptions(7, [1, 1, 1, 1, 2, 5, 0, 0]), 0, 28), 'option', 'length past the header (later option)');
});

Tcp('NOP and EOL handling', () => {
  const r1 = parseTcp(withOptions(7, [1, 1, 2, 4, 0x05, 0xb4, 0, 0]), 0, 28) as TcpRepr;
  assert.is(r1.mss, 1460, 'NOPs before MSS');
  assert.is(r1.payloadStart, 28);
  const r2 = parseTcp(withOptions(6, [0, 0xff, 0x00, 0x00]), 0, 24) as TcpRepr;
  assert.type(r2, 'object', 'bytes after EOL are ignored');
  assert.is(r2.mss, 0);
  const r3 = parseTcp(withOptions(7, [0, 0, 0, 0, 2, 4, 1, 0]), 0, 28) as TcpRepr;
  assert.is(r3.mss, 0, 'an MSS after EOL is not read');
  const r4 = parseTcp(withOptions(9, [8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 0x02, 0x18, 1, 1]), 0, 36) as TcpRepr;
  assert.is(r4.mss, 0x218, 'unknown option skipped by its length');
  const r5 = parseTcp(withOptions(6, [2, 3, 9, 1]), 0, 24) as TcpRepr;
  assert.type(r5, 'object');
  assert.is(r5.mss, 0, 'an MSS option of the wrong length is not an MSS');
  const r6 = parseTcp(withOptions(6, [1, 1, 1, 1]), 0, 24) as TcpRepr;
  assert.is(r6.mss, 0);
});

Tcp('parse at an offset within a larger buffer', () => {
  const buf = new Uint8Array(100).fill(0xff);
  const seg = withOptions(6, [2, 4, 0x02, 0x00], 30);
  buf.set(seg, 40);
  const r = parseTcp(buf, 40, 70) as TcpRepr;
  assert.is(r.mss, 512);
  assert.is(r.srcPort, 0x1f90);
  assert.is(r.payloadStart, 64);
  assert.is(r.payloadEnd, 70);
});

Tcp('seqLt / seqLe / seqAdd around the 2^32 wrap', () => {
  assert.ok(seqLt(0xffffffff, 0));
  assert.not.ok(seqLt(0, 0xffffffff));
  assert.ok(seqLt(0xfffffff0, 0x10));
  assert.not.ok(seqLt(0x10, 0xfffffff0));
  assert.not.ok(seqLt(5, 5));
  assert.ok(seqLe(5, 5));
  assert.ok(seqLe(0xffffffff, 0xffffffff));
  assert.ok(seqLe(0xffffffff, 0));
  assert.not.ok(seqLe(0, 0xffffffff));
  assert.ok(seqLt(0x7fffffff, 0x80000000), 'across 2^31');
  assert.ok(seqLt(1, 0x7fffffff));
  assert.is(seqAdd(0xffffffff, 1), 0);
  assert.is(seqAdd(0xfffffff0, 0x20), 0x10);
  assert.is(seqAdd(0x7fffffff, 1), 0x80000000);
  assert.ok(seqAdd(0x7fffffff, 1) > 0, 'unsigned result');
  assert.is(seqAdd(5, 0), 5);
});

Tcp('flagNames', () => {
  assert.is(flagNames(SYN | ACK), 'SYN|ACK');
  assert.is(flagNames(FIN | PSH | ACK), 'FIN|PSH|ACK');
  assert.is(flagNames(RST), 'RST');
  assert.is(flagNames(0), 'none');
  assert.is(TCP_HEADER_LEN, 20);
  assert.is(IPV4_HEADER_LEN, 20);
});

Tcp.run();
