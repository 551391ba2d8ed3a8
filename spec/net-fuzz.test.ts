// Randomized tests with a fixed seed: random and mutated frames through
// NetInterface.receive and parseTcp, and a random guest byte stream through
// TcpConnection. Nothing may throw, and nothing invalid may get through.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetInterface, type LinkConfig } from '../ts/net/interface.js';
import { ARP_REPLY, ARP_REQUEST, buildArp, parseArp } from '../ts/net/arp.js';
import { BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, parseMac, writeEthernet } from '../ts/net/ethernet.js';
import { PROTO_TCP, parseIpv4, readU32, writeIpv4Header } from '../ts/net/ipv4.js';
import { ACK, FIN, PSH, RST, SYN, parseTcp, seqAdd, writeTcp, type TcpRepr } from '../ts/net/tcp-wire.js';
import { TcpConnection, TcpState, type TcpHost, type TcpSegmentOut } from '../ts/net/tcp.js';
import { rng } from './helpers/rng.js';


const HOST_MAC = parseMac('02:00:00:00:00:01');
const GUEST_MAC = parseMac('02:00:00:00:00:02');
const HOST_IP = parseIpv4('10.0.0.1');
const GUEST_IP = parseIpv4('10.0.0.2');
const CONFIG: LinkConfig = { hostMac: HOST_MAC, hostIp: HOST_IP, guestMac: GUEST_MAC, guestIp: GUEST_IP, maxFrame: 1514 };

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

/** Re-validate, from scratch, a frame that reached the segment handler. Returns a problem or null. */
function problemWith(frame: Uint8Array, seg: TcpRepr): string | null {
  if (frame.length < 14 + 20 + 20) return 'frame too short';
  if (((frame[12] << 8) | frame[13]) !== ETHERTYPE_IPV4) return 'ethertype';
  if (frame[14] >> 4 !== 4) return 'ip version';
  const ihl = (frame[14] & 15) * 4;
  if (ihl < 20) return 'ihl';
  const total = (frame[16] << 8) | frame[17];
  if (total < ihl || 14 + total > frame.length) return 'ip total length';
  if ((((frame[20] << 8) | frame[21]) & 0x3fff) !== 0) return 'fragment';
  if (frame[23] !== PROTO_TCP) return 'protocol';
  if (readU32(frame, 26) !== GUEST_IP) return 'source';
  if (readU32(frame, 30) !== HOST_IP) return 'destination';
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

/** A plausible frame from the guest: TCP with random options and payload, or ARP. */
function baseFrame(next: () => number): Uint8Array {
  const r = next();
  if (r < 0.15) {
    const target = next() < 0.7 ? HOST_IP : Math.floor(next() * 2 ** 32);
    return buildArp(next() < 0.8 ? ARP_REQUEST : ARP_REPLY, GUEST_MAC, next() < 0.9 ? GUEST_IP : Math.floor(next() * 2 ** 32), BROADCAST_MAC, target);
  }
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
    { srcIp: GUEST_IP, dstIp: HOST_IP, srcPort: 8080, dstPort: 40000 + Math.floor(next() * 10), seq: Math.floor(next() * 2 ** 32), ack: Math.floor(next() * 2 ** 32), flags: Math.floor(next() * 64), window: 6000 },
    payload.length,
  );
  frame.set(options, 54);
  frame[46] = (hlen / 4) << 4;
  writeIpv4Header(frame, 14, GUEST_IP, HOST_IP, PROTO_TCP, hlen + payload.length, Math.floor(next() * 65536));
  return frame;
}

/** Interesting header bytes to overwrite (Ethernet type, IP vihl/length/frag/proto/addresses, TCP offset/options). */
const HOT = [12, 13, 14, 16, 17, 20, 21, 23, 26, 29, 30, 33, 46, 54, 55, 56, 57];

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
  const problems: string[] = [];
  const iface = new NetInterface(CONFIG, sink, (seg, frame) => {
    handled++;
    const p = problemWith(frame, seg);
    if (p !== null) problems.push(p);
  });
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
  assert.is(handled + refused + expectArpOk, N, 'every frame is handled, refused, or an accepted ARP');
  assert.is(sent.length, expectReplies, 'one ARP reply per request for the host');
  for (const f of sent) {
    const a = parseArp(f, 14);
    assert.ok(a && a.op === ARP_REPLY && a.senderIp === HOST_IP && a.targetIp === GUEST_IP);
  }
  // The fuzzer reached both the handler and many distinct refusals.
  assert.ok(handled > 300, `handled ${handled}`);
  const reasons = Object.keys(iface.counters.refused);
  for (const r of ['ethernet-short', 'ethertype', 'ipv4-version', 'ipv4-total-length', 'ipv4-protocol', 'tcp-data-offset', 'tcp-option', 'arp']) {
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
  clientCaughtUp(): boolean {
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

test.run();
