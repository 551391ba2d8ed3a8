// TcpConnection: the host's end of one TCP connection to the guest, driven
// segment by segment through a fake TcpHost (smoltcp style: feed, then assert
// exactly what was emitted).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  FIN_GIVE_UP_MS,
  FIN_IDLE_MS,
  CLOSING_QUIET_MS,
  MAX_MSS,
  SEND_BUDGET,
  SYN_GIVE_UP_MS,
  SYN_RETRY_MS,
  TcpConnection,
  TcpState,
  type TcpCounters,
  type TcpHost,
  type TcpSegmentOut,
} from '../../ts/net/tcp.js';
import { ACK, FIN, PSH, RST, SYN, seqAdd, type TcpRepr } from '../../ts/net/wire/tcp.js';

const LOCAL = 40000;
const REMOTE = 8080;
const ISS = 1000;
const GISS = 5000; // the guest's initial sequence number

interface Emitted {
  flags: number;
  seq: number;
  ack: number;
  mss?: number;
  payload?: Uint8Array;
}

class FakeHost implements TcpHost {
  out: Emitted[] = [];
  refusedEmits = 0;
  delivered: Uint8Array[] = [];
  calls: string[] = [];
  closes: { reset: boolean; reason: string }[] = [];
  /** Decides whether the link takes a segment (default: always). */
  accept: (seg: TcpSegmentOut) => boolean = () => true;

  emit(_conn: TcpConnection, seg: TcpSegmentOut): boolean {
    if (!this.accept(seg)) {
      this.refusedEmits++;
      return false;
    }
    // Copy: the payload view may point into a buffer that is reused.
    this.out.push({ flags: seg.flags, seq: seg.seq, ack: seg.ack, mss: seg.mss, payload: seg.payload?.slice() });
    this.calls.push('emit');
    return true;
  }
  deliver(_conn: TcpConnection, data: Uint8Array): void {
    this.delivered.push(data.slice());
    this.calls.push('deliver');
  }
  established(_conn: TcpConnection): void {
    this.calls.push('established');
  }
  guestFinished(_conn: TcpConnection): void {
    this.calls.push('guestFinished');
  }
  closed(_conn: TcpConnection, reset: boolean, reason: string): void {
    this.closes.push({ reset, reason });
    this.calls.push('closed');
  }
  caughtUp = true;
  guestSettled(_conn: TcpConnection): boolean {
    return this.caughtUp;
  }
  writable(_conn: TcpConnection): void {
    this.calls.push('writable');
  }

  count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }
  deliveredText(): string {
    return this.delivered.map((d) => Buffer.from(d).toString('latin1')).join('');
  }
  take(): Emitted[] {
    const o = this.out;
    this.out = [];
    return o;
  }
}

function counters(): TcpCounters {
  return { segmentsIn: 0, segmentsOut: 0, duplicates: 0, outOfOrder: 0 };
}

/**
 * A segment from the guest. The payload sits in a frame with junk around it,
 * so a reader that strays outside [payloadStart, payloadEnd) is caught.
 */
function seg(flags: number, seq: number, ack: number, payload: string | Uint8Array = '', mss = 0): { repr: TcpRepr; frame: Uint8Array } {
  const bytes = typeof payload === 'string' ? new Uint8Array(Buffer.from(payload, 'latin1')) : payload;
  const start = 54;
  const frame = new Uint8Array(start + bytes.length + 8).fill(0xee);
  frame.set(bytes, start);
  return {
    repr: { srcPort: REMOTE, dstPort: LOCAL, seq: seq >>> 0, ack: ack >>> 0, flags, window: 6000, mss, payloadStart: start, payloadEnd: start + bytes.length },
    frame,
  };
}

function feed(conn: TcpConnection, s: { repr: TcpRepr; frame: Uint8Array }, now = 0): void {
  conn.input(s.repr, s.frame, now);
}

function bytes(n: number, salt = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + salt + (i >> 8)) & 255;
  return b;
}

function concat(parts: (Uint8Array | undefined)[]): Uint8Array {
  const total = parts.reduce((s, p) => s + (p?.length ?? 0), 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    if (!p) continue;
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

function isEmpty(e: Emitted): boolean {
  return e.payload === undefined || e.payload.length === 0;
}

/** A connection through the handshake; the host's record is cleared. */
function established(opts: { iss?: number; giss?: number; mss?: number; now?: number } = {}): { host: FakeHost; conn: TcpConnection; c: TcpCounters } {
  const host = new FakeHost();
  const c = counters();
  const iss = opts.iss ?? ISS;
  const giss = opts.giss ?? GISS;
  const conn = new TcpConnection(host, LOCAL, REMOTE, c, iss);
  conn.open(opts.now ?? 0);
  feed(conn, seg(SYN | ACK, giss, seqAdd(iss, 1), '', opts.mss ?? 1000), opts.now ?? 0);
  assert.is(conn.state, TcpState.Established);
  host.out = [];
  host.calls = [];
  return { host, conn, c };
}

/** Check that data segments carry contiguous seqs from `first` and return their bytes. */
function dataStream(out: Emitted[], first: number): Uint8Array {
  let seq = first;
  const parts: Uint8Array[] = [];
  for (const e of out) {
    if (isEmpty(e)) continue;
    assert.is(e.seq, seq, 'contiguous sequence numbers');
    assert.is(e.flags, ACK | PSH);
    parts.push(e.payload!);
    seq = seqAdd(seq, e.payload!.length);
  }
  return concat(parts);
}

// ---------------------------------------------------------------------------
const Handshake = suite('tcp handshake');

Handshake('open() sends a bare SYN with the MSS option', () => {
  const host = new FakeHost();
  const c = counters();
  const conn = new TcpConnection(host, LOCAL, REMOTE, c, ISS);
  assert.is(conn.state, TcpState.Idle);
  conn.open(0);
  assert.is(conn.state, TcpState.SynSent);
  assert.is(host.out.length, 1);
  const syn = host.out[0];
  assert.is(syn.flags, SYN, 'flags exactly SYN (Mongoose refuses anything else)');
  assert.is(syn.seq, ISS);
  assert.is(syn.ack, 0);
  assert.is(syn.mss, MAX_MSS);
  assert.ok(isEmpty(syn));
  assert.is(c.segmentsOut, 1);
  assert.ok(conn.wantsTick);
});

Handshake('SYN|ACK with the right ack: ESTABLISHED, bare ACK, established(), guest MSS', () => {
  const host = new FakeHost();
  const c = counters();
  const conn = new TcpConnection(host, LOCAL, REMOTE, c, ISS);
  conn.open(0);
  host.take();
  host.calls = [];
  feed(conn, seg(SYN | ACK, GISS, ISS + 1, '', 1200), 3);
  assert.is(conn.state, TcpState.Established);
  assert.is(conn.mss, 1200);
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, ACK, 'the third packet is a bare ACK');
  assert.is(out[0].seq, ISS + 1);
  assert.is(out[0].ack, GISS + 1);
  assert.ok(isEmpty(out[0]));
  assert.equal(host.calls, ['emit', 'established']);
  assert.not.ok(conn.wantsTick);
  assert.is(conn.pendingBytes, 0);
  assert.is(c.segmentsIn, 1);
});

Handshake('SYN|ACK without MSS keeps the default 536', () => {
  const { conn } = established({ mss: 0 });
  assert.is(conn.mss, 536);
});

Handshake('SYN|ACK with a wrong ack gets a RST, connection keeps waiting', () => {
  const host = new FakeHost();
  const conn = new TcpConnection(host, LOCAL, REMOTE, counters(), ISS);
  conn.open(0);
  host.take();
  feed(conn, seg(SYN | ACK, GISS, ISS + 7));
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, RST);
  assert.is(out[0].seq, ISS + 7, 'RST seq = their ack');
  assert.is(conn.state, TcpState.SynSent);
  assert.is(host.count('established'), 0);
  assert.is(host.count('closed'), 0);
  // A right one afterwards still completes the handshake.
  feed(conn, seg(SYN | ACK, GISS, ISS + 1));
  assert.is(conn.state, TcpState.Established);
});

Handshake('in SYN-SENT a bare ACK is answered by RST, a bare SYN is ignored', () => {
  const host = new FakeHost();
  const conn = new TcpConnection(host, LOCAL, REMOTE, counters(), ISS);
  conn.open(0);
  host.take();
  feed(conn, seg(ACK, GISS, ISS + 1));
  let out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, RST);
  assert.is(conn.state, TcpState.SynSent);
  feed(conn, seg(SYN, GISS, 0));
  out = host.take();
  assert.is(out.length, 0);
  assert.is(conn.state, TcpState.SynSent);
});

Handshake('data written before establishment is sent after the bare ACK', () => {
  const host = new FakeHost();
  const conn = new TcpConnection(host, LOCAL, REMOTE, counters(), ISS);
  conn.open(0);
  conn.write(new Uint8Array(Buffer.from('hello')));
  conn.write(new Uint8Array(Buffer.from(' world')));
  assert.is(host.out.length, 1, 'only the SYN so far');
  assert.is(conn.pendingBytes, 11);
  host.take();
  feed(conn, seg(SYN | ACK, GISS, ISS + 1, '', 1460));
  const out = host.take();
  assert.is(out[0].flags, ACK);
  assert.ok(isEmpty(out[0]), 'the ACK completing the handshake carries no data');
  assert.is(Buffer.from(dataStream(out.slice(1), ISS + 1)).toString(), 'hello world');
  assert.ok(out.slice(1).every((e) => e.ack === GISS + 1));
});

Handshake('SYN retransmitted after SYN_RETRY_MS, given up after SYN_GIVE_UP_MS', () => {
  const host = new FakeHost();
  const conn = new TcpConnection(host, LOCAL, REMOTE, counters(), ISS);
  conn.open(100);
  host.take();
  conn.tick(100 + SYN_RETRY_MS - 1);
  assert.is(host.out.length, 0);
  conn.tick(100 + SYN_RETRY_MS);
  let out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, SYN);
  assert.is(out[0].seq, ISS, 'same ISS');
  assert.is(out[0].mss, MAX_MSS);
  conn.tick(100 + SYN_RETRY_MS + 500);
  assert.is(host.out.length, 0, 'retry timer restarts from the retransmission');
  for (let t = 100 + 2 * SYN_RETRY_MS; t < 100 + SYN_GIVE_UP_MS; t += SYN_RETRY_MS) conn.tick(t);
  out = host.take();
  assert.ok(out.length > 5 && out.every((e) => e.flags === SYN));
  assert.is(conn.state, TcpState.SynSent);
  assert.is(host.closes.length, 0);
  conn.tick(100 + SYN_GIVE_UP_MS);
  assert.is(conn.state, TcpState.Closed);
  assert.equal(host.closes.map((x) => x.reset), [true]);
  assert.is(host.out.length, 0, 'no SYN (and no RST) when giving up');
  assert.not.ok(conn.wantsTick);
  conn.tick(100 + SYN_GIVE_UP_MS + SYN_RETRY_MS);
  assert.is(host.out.length, 0);
  assert.is(host.closes.length, 1);
});

Handshake.run();

// ---------------------------------------------------------------------------
const Send = suite('tcp sending');

Send('write() splits by the guest MSS', () => {
  const { host, conn } = established({ mss: 1000 });
  const data = bytes(2500);
  conn.write(data);
  const out = host.take();
  assert.equal(
    out.map((e) => e.payload!.length),
    [1000, 1000, 500],
  );
  assert.equal(
    out.map((e) => e.seq),
    [ISS + 1, ISS + 1001, ISS + 2001],
  );
  assert.ok(out.every((e) => e.flags === (ACK | PSH) && e.ack === GISS + 1));
  assert.ok(sameBytes(dataStream(out, ISS + 1), data));
  assert.is(conn.pendingBytes, 2500);
});

Send('write() of nothing, or after the client FIN, sends nothing', () => {
  const { host, conn } = established();
  conn.write(new Uint8Array(0));
  assert.is(host.out.length, 0);
  conn.clientFinished();
  conn.write(bytes(10));
  assert.is(host.out.length, 0);
  assert.is(conn.pendingBytes, 0);
});

Send('link refusal: stalled, and flush() resumes with no byte lost or duplicated', () => {
  const { host, conn } = established({ mss: 1000 });
  let budget = 2;
  host.accept = () => budget-- > 0;
  const data = bytes(5300, 1);
  conn.write(data);
  assert.ok(conn.stalled);
  assert.is(host.out.length, 2);
  assert.is(conn.pendingBytes, 5300, 'in flight + queued');
  budget = 1;
  conn.flush();
  assert.ok(conn.stalled);
  assert.is(host.out.length, 3);
  // More client data while stalled is queued behind.
  const more = bytes(700, 2);
  budget = 0;
  conn.write(more);
  assert.ok(conn.stalled);
  assert.is(host.out.length, 3);
  host.accept = () => true;
  conn.flush();
  assert.not.ok(conn.stalled);
  const out = host.take();
  const all = dataStream(out, ISS + 1);
  assert.ok(sameBytes(all, concat([data, more])), 'stream intact');
  assert.ok(out.every((e) => e.payload!.length <= 1000));
  assert.is(conn.pendingBytes, 6000);
});

Send('randomized refusals: the stream still arrives exactly once', () => {
  let s = 99;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const { host, conn } = established({ mss: 1460, iss: 0xffff0000 });
  host.accept = () => rand() < 0.6;
  const written: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) {
    if (rand() < 0.5) {
      const b = bytes(1 + Math.floor(rand() * 4000), i);
      written.push(b);
      conn.write(b);
    } else {
      conn.flush();
    }
  }
  host.accept = () => true;
  conn.flush();
  assert.not.ok(conn.stalled);
  assert.ok(host.refusedEmits > 10, 'the link did refuse');
  const all = dataStream(host.take(), 0xffff0001);
  assert.ok(sameBytes(all, concat(written)));
});

Send('overBudget and writable(): called once when acks bring it under the budget', () => {
  const { host, conn } = established({ mss: 1460 });
  conn.write(bytes(SEND_BUDGET + 2000));
  assert.ok(conn.overBudget);
  const last = host.out[host.out.length - 1];
  const sndNxt = seqAdd(last.seq, last.payload!.length);
  assert.is(sndNxt, seqAdd(ISS + 1, SEND_BUDGET + 2000));
  host.calls = [];
  host.out = [];
  feed(conn, seg(ACK, GISS + 1, ISS + 1 + 1000));
  assert.is(conn.pendingBytes, SEND_BUDGET + 1000);
  assert.is(host.count('writable'), 0);
  feed(conn, seg(ACK, GISS + 1, ISS + 1 + 2000));
  assert.is(conn.pendingBytes, SEND_BUDGET);
  assert.ok(conn.overBudget, 'at the budget is over it');
  assert.is(host.count('writable'), 0);
  feed(conn, seg(ACK, GISS + 1, ISS + 1 + 2001));
  assert.not.ok(conn.overBudget);
  assert.is(host.count('writable'), 1);
  feed(conn, seg(ACK, GISS + 1, ISS + 1 + 50000));
  assert.is(host.count('writable'), 1, 'only on the transition');
  assert.is(host.out.length, 0, 'pure ACKs draw no reply');
});

Send('acks outside (sndUna, sndNxt] are ignored', () => {
  const { conn } = established({ mss: 1460 });
  conn.write(bytes(3000));
  assert.is(conn.pendingBytes, 3000);
  feed(conn, seg(ACK, GISS + 1, ISS + 1 + 3001)); // beyond what we sent
  assert.is(conn.pendingBytes, 3000);
  feed(conn, seg(ACK, GISS + 1, ISS + 1 + 1000));
  assert.is(conn.pendingBytes, 2000);
  feed(conn, seg(ACK, GISS + 1, ISS + 1 + 500)); // old
  assert.is(conn.pendingBytes, 2000);
  feed(conn, seg(ACK, GISS + 1, ISS - 100000)); // far behind
  assert.is(conn.pendingBytes, 2000);
  feed(conn, seg(ACK, GISS + 1, ISS + 1 + 3000));
  assert.is(conn.pendingBytes, 0);
});

Send('queued bytes count towards the budget even when nothing could be sent', () => {
  const { host, conn } = established();
  host.accept = () => false;
  conn.write(bytes(SEND_BUDGET));
  assert.ok(conn.stalled);
  assert.ok(conn.overBudget);
  assert.is(host.out.length, 0);
});

Send('sequence numbers wrap past 2^32', () => {
  const { host, conn } = established({ iss: 0xfffffff0, mss: 10 });
  const data = bytes(40);
  conn.write(data);
  const out = host.take();
  assert.equal(
    out.map((e) => e.seq),
    [0xfffffff1, 0xfffffffb, 5, 15],
  );
  assert.ok(sameBytes(dataStream(out, 0xfffffff1), data));
  feed(conn, seg(ACK, GISS + 1, 25));
  assert.is(conn.pendingBytes, 0);
});

Send.run();

// ---------------------------------------------------------------------------
const Recv = suite('tcp receiving');

Recv('in-order data is delivered; one ACK per batch via flushAck', () => {
  const { host, conn, c } = established();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'abc'));
  assert.is(host.deliveredText(), 'abc');
  assert.ok(conn.ackPending);
  assert.is(host.out.length, 0, 'no ACK per segment');
  feed(conn, seg(ACK | PSH, GISS + 4, ISS + 1, 'defg'));
  assert.is(host.deliveredText(), 'abcdefg');
  conn.flushAck();
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, ACK);
  assert.is(out[0].seq, ISS + 1);
  assert.is(out[0].ack, GISS + 8);
  assert.ok(isEmpty(out[0]));
  assert.not.ok(conn.ackPending);
  conn.flushAck();
  assert.is(host.out.length, 0, 'nothing pending, nothing sent');
  assert.is(c.duplicates + c.outOfOrder, 0);
});

Recv('a duplicate segment is counted and acknowledged, not delivered again', () => {
  const { host, conn, c } = established();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'abc'));
  conn.flushAck();
  host.take();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'abc'));
  assert.is(c.duplicates, 1);
  assert.is(host.deliveredText(), 'abc');
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, ACK);
  assert.is(out[0].ack, GISS + 4);
});

Recv('partial overlap delivers only the new bytes', () => {
  const { host, conn, c } = established();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'abc'));
  feed(conn, seg(ACK | PSH, GISS + 2, ISS + 1, 'bcdef'));
  assert.equal(
    host.delivered.map((d) => Buffer.from(d).toString()),
    ['abc', 'def'],
  );
  assert.is(c.duplicates, 0);
  conn.flushAck();
  assert.is(host.take()[0].ack, GISS + 7);
});

Recv('out-of-order segment (gap): counted, nothing delivered, duplicate ACK', () => {
  const { host, conn, c } = established();
  feed(conn, seg(ACK | PSH, GISS + 10, ISS + 1, 'xyz'));
  assert.is(c.outOfOrder, 1);
  assert.is(host.delivered.length, 0);
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, ACK);
  assert.is(out[0].ack, GISS + 1);
  assert.not.ok(conn.ackPending);
  // The in-order segment still works afterwards.
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'abc'));
  assert.is(host.deliveredText(), 'abc');
});

Recv('receive sequence numbers wrap past 2^32', () => {
  const { host, conn, c } = established({ giss: 0xfffffffd });
  feed(conn, seg(ACK | PSH, 0xfffffffe, ISS + 1, 'abcdef'));
  feed(conn, seg(ACK | PSH, 4, ISS + 1, 'ghi'));
  assert.is(host.deliveredText(), 'abcdefghi');
  feed(conn, seg(ACK | PSH, 0xffffffff, ISS + 1, 'bc')); // old bytes, across the wrap
  assert.is(c.duplicates, 1);
  feed(conn, seg(ACK | PSH, 6, ISS + 1, 'ijk')); // overlap by one across the wrap
  assert.is(host.deliveredText(), 'abcdefghijk');
  conn.flushAck();
  assert.is(host.out[host.out.length - 1].ack, 9);
});

Recv('the payload view is exactly [payloadStart, payloadEnd)', () => {
  const { host, conn } = established();
  feed(conn, seg(ACK, GISS + 1, ISS + 1, 'PAY'));
  assert.is(host.deliveredText(), 'PAY');
  assert.ok(!host.deliveredText().includes('\xee'));
});

Recv.run();

// ---------------------------------------------------------------------------
const Close = suite('tcp closing');

Close('guest FIN while ESTABLISHED: guestFinished, empty FIN|ACK, LAST-ACK, then closed cleanly', () => {
  const { host, conn } = established();
  feed(conn, seg(FIN | ACK, GISS + 1, ISS + 1));
  assert.is(host.count('guestFinished'), 1);
  assert.is(conn.state, TcpState.LastAck);
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, FIN | ACK);
  assert.is(out[0].seq, ISS + 1);
  assert.is(out[0].ack, GISS + 2, 'acknowledges their FIN');
  assert.ok(isEmpty(out[0]), 'a FIN never carries data');
  assert.is(host.closes.length, 0);
  feed(conn, seg(ACK, GISS + 2, ISS + 2));
  assert.is(conn.state, TcpState.Closed);
  assert.equal(host.closes.map((x) => x.reset), [false]);
  assert.is(host.out.length, 0, 'nothing answers the last ACK');
});

Close('guest FIN carrying data: data delivered first, FIN acked after it', () => {
  const { host, conn } = established();
  feed(conn, seg(FIN | ACK | PSH, GISS + 1, ISS + 1, 'bye'));
  assert.is(host.deliveredText(), 'bye');
  assert.ok(host.calls.indexOf('deliver') < host.calls.indexOf('guestFinished'));
  const fins = host.take().filter((e) => e.flags & FIN);
  assert.is(fins.length, 1);
  assert.is(fins[0].ack, GISS + 5);
  assert.ok(isEmpty(fins[0]));
});

Close('guest FIN while client data is queued: the FIN is still empty and no data follows it', () => {
  const { host, conn } = established({ mss: 100 });
  host.accept = (s) => !(s.payload && s.payload.length > 0) || host.out.length < 2;
  conn.write(bytes(1000));
  assert.ok(conn.stalled);
  host.accept = () => true;
  host.take();
  feed(conn, seg(FIN | ACK, GISS + 1, ISS + 1));
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, FIN | ACK);
  assert.ok(isEmpty(out[0]));
  assert.is(out[0].seq, ISS + 1 + 200, 'FIN after the data actually sent');
  conn.flush();
  conn.write(bytes(10));
  assert.is(host.out.length, 0, 'nothing is sent after our FIN');
});

Close('out-of-order FIN is not accepted', () => {
  const { host, conn, c } = established();
  feed(conn, seg(FIN | ACK, GISS + 5, ISS + 1));
  assert.is(conn.state, TcpState.Established);
  assert.is(host.count('guestFinished'), 0);
  assert.is(c.outOfOrder, 1);
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, ACK);
  assert.is(out[0].ack, GISS + 1);
});

Close('data after the guest FIN reusing its seq is delivered (Mongoose quirk)', () => {
  const { host, conn } = established();
  feed(conn, seg(FIN | ACK, GISS + 1, ISS + 1)); // FIN at GISS+1
  host.take();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'late'));
  assert.is(host.deliveredText(), 'late');
  assert.is(conn.state, TcpState.LastAck);
  feed(conn, seg(ACK | PSH, GISS + 5, ISS + 1, ' more'));
  assert.is(host.deliveredText(), 'late more');
  assert.is(host.closes.length, 0);
  feed(conn, seg(ACK, GISS + 10, ISS + 2));
  assert.is(conn.state, TcpState.Closed);
  assert.equal(host.closes.map((x) => x.reset), [false]);
  assert.is(host.count('guestFinished'), 1);
});

Close('a repeated FIN is acknowledged, not finished twice', () => {
  const { host, conn } = established();
  feed(conn, seg(FIN | ACK, GISS + 1, ISS + 1));
  host.take();
  feed(conn, seg(FIN | ACK, GISS + 1, ISS + 1));
  assert.is(host.count('guestFinished'), 1);
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, ACK);
  assert.is(out[0].ack, GISS + 2);
  assert.is(conn.state, TcpState.LastAck);
});

Close('client FIN is held while data is unacked and until the guest is idle, then an empty FIN', () => {
  const { host, conn } = established({ mss: 1460 });
  conn.write(bytes(100));
  host.take();
  conn.clientFinished();
  assert.ok(conn.wantsTick);
  conn.tick(10000);
  assert.is(host.out.length, 0, 'held: 100 bytes unacked');
  feed(conn, seg(ACK, GISS + 1, ISS + 101), 10000);
  conn.tick(10000 + FIN_IDLE_MS - 1);
  assert.is(host.out.length, 0, 'held: the guest was active just now');
  const t = 10000 + FIN_IDLE_MS - 1;
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 101, 'resp'), t);
  conn.tick(10000 + FIN_IDLE_MS);
  assert.is(host.out.length, 0, 'guest data restarts the idle time');
  conn.tick(t + FIN_IDLE_MS - 1);
  assert.is(host.out.length, 0);
  conn.tick(t + FIN_IDLE_MS);
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, FIN | ACK);
  assert.is(out[0].seq, ISS + 101);
  assert.is(out[0].ack, GISS + 5);
  assert.ok(isEmpty(out[0]));
  assert.is(conn.state, TcpState.FinWait);
  assert.ok(conn.wantsTick, "FIN-WAIT has a give-up timer");
  conn.tick(20000);
  assert.is(host.out.length, 0, 'FIN sent once');
  // The guest answers FIN|ACK at once; we wait for it to go quiet.
  feed(conn, seg(FIN | ACK, GISS + 5, ISS + 102), 20001);
  assert.is(conn.state, TcpState.Closing);
  assert.is(host.take().length, 0, 'its FIN is not acknowledged yet');
  conn.tick(20001 + CLOSING_QUIET_MS - 1);
  assert.is(host.take().length, 0, 'still collecting what Mongoose sends after its FIN');
  conn.tick(20001 + CLOSING_QUIET_MS);
  const last = host.take();
  assert.is(last.length, 1);
  assert.is(last[0].flags, ACK);
  assert.is(last[0].ack, GISS + 6);
  assert.is(host.count('guestFinished'), 1);
  assert.is(conn.state, TcpState.Closed);
  assert.equal(host.closes.map((x) => x.reset), [false]);
});

Close('client FIN is held while the client lags behind the guest (paused output is not quiet)', () => {
  const { host, conn } = established();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'data'), 1000);
  conn.clientFinished();
  host.take();
  host.caughtUp = false;
  conn.tick(1000 + 10 * FIN_IDLE_MS);
  conn.tick(1000 + 20 * FIN_IDLE_MS);
  assert.is(host.take().length, 0, 'no FIN while the client is behind');
  host.caughtUp = true;
  conn.tick(1000 + 20 * FIN_IDLE_MS + FIN_IDLE_MS);
  const out = host.take();
  assert.is(out[out.length - 1].flags, FIN | ACK);
});

Close('a FIN the guest never answers ends the connection with a reset after FIN_GIVE_UP_MS', () => {
  const { host, conn } = established();
  conn.clientFinished();
  conn.tick(1000);
  assert.is(conn.state, TcpState.FinWait);
  assert.ok(conn.wantsTick);
  conn.tick(1000 + FIN_GIVE_UP_MS - 1);
  assert.is(conn.state, TcpState.FinWait);
  conn.tick(1000 + FIN_GIVE_UP_MS);
  assert.is(conn.state, TcpState.Closed);
  assert.equal(host.closes.map((x) => x.reset), [true]);
});

Close('client FIN is held while client data is still queued', () => {
  const { host, conn } = established({ mss: 100 });
  host.accept = () => false;
  conn.write(bytes(300));
  conn.clientFinished();
  conn.tick(100000);
  assert.is(host.out.length, 0);
  host.accept = () => true;
  conn.flush();
  assert.is(host.out.length, 3);
  feed(conn, seg(ACK, GISS + 1, ISS + 301), 100000);
  conn.tick(100000 + FIN_IDLE_MS);
  const out = host.take();
  assert.is(out[out.length - 1].flags, FIN | ACK);
  assert.is(out[out.length - 1].seq, ISS + 301);
});

Close('in FIN-WAIT, guest data before its FIN is still delivered', () => {
  const { host, conn } = established();
  conn.clientFinished();
  conn.tick(1000);
  assert.is(conn.state, TcpState.FinWait);
  host.take();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 2, 'tail'), 1001);
  assert.is(host.deliveredText(), 'tail');
  conn.flushAck();
  assert.is(host.take().length, 0, 'no bare ACK while our FIN is out: Mongoose would take it as the last one');
  feed(conn, seg(FIN | ACK, GISS + 5, ISS + 2), 1002);
  conn.tick(1002 + CLOSING_QUIET_MS);
  assert.is(conn.state, TcpState.Closed);
  assert.is(host.closes[0].reset, false);
  const acks = host.take().filter((e) => e.flags === ACK);
  assert.is(acks.length, 1, 'one ACK, at the end');
  assert.is(acks[0].ack, GISS + 6);
});

Close('in CLOSING, output Mongoose sends after its FIN (same seq) is delivered and acknowledged', () => {
  const { host, conn } = established();
  conn.clientFinished();
  conn.tick(1000);
  host.take();
  feed(conn, seg(FIN | ACK, GISS + 1, ISS + 2), 1001);
  assert.is(conn.state, TcpState.Closing);
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 2, 'late'), 1010);
  feed(conn, seg(ACK | PSH, GISS + 5, ISS + 2, 'r'), 1015);
  assert.is(host.deliveredText(), 'later');
  conn.tick(1015 + CLOSING_QUIET_MS - 1);
  assert.is(conn.state, TcpState.Closing, 'still collecting');
  conn.tick(1015 + CLOSING_QUIET_MS);
  const acks = host.take().filter((e) => e.flags === ACK);
  assert.is(acks[acks.length - 1].ack, GISS + 7, 'acknowledges the data and the FIN');
  assert.is(host.count('guestFinished'), 1);
  assert.is(conn.state, TcpState.Closed);
});

Close('RST from the guest closes with reset in every state', () => {
  const states: [string, () => { host: FakeHost; conn: TcpConnection }][] = [
    [
      TcpState.SynSent,
      () => {
        const host = new FakeHost();
        const conn = new TcpConnection(host, LOCAL, REMOTE, counters(), ISS);
        conn.open(0);
        return { host, conn };
      },
    ],
    [TcpState.Established, () => established()],
    [
      TcpState.FinWait,
      () => {
        const e = established();
        e.conn.clientFinished();
        e.conn.tick(1000);
        return e;
      },
    ],
    [
      TcpState.LastAck,
      () => {
        const e = established();
        feed(e.conn, seg(FIN | ACK, GISS + 1, ISS + 1));
        return e;
      },
    ],
  ];
  for (const [state, make] of states) {
    const { host, conn } = make();
    assert.is(conn.state, state);
    host.take();
    feed(conn, seg(RST, 12345, 0));
    assert.is(conn.state, TcpState.Closed, state);
    assert.is(host.closes.length, 1, state);
    assert.is(host.closes[0].reset, true, state);
    assert.is(host.out.length, 0, `nothing answers a RST (${state})`);
  }
});

Close('RST|ACK with data is not delivered', () => {
  const { host, conn } = established();
  feed(conn, seg(RST | ACK, GISS + 1, ISS + 1, 'nope'));
  assert.is(host.delivered.length, 0);
  assert.is(host.closes[0].reset, true);
});

Close('abort() sends RST|ACK and closes; in SYN-SENT it just closes', () => {
  const { host, conn } = established();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'abc'));
  conn.write(bytes(10));
  host.take();
  conn.abort('client went away');
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, RST | ACK);
  assert.is(out[0].seq, ISS + 11);
  assert.is(out[0].ack, GISS + 4);
  assert.ok(isEmpty(out[0]));
  assert.is(conn.state, TcpState.Closed);
  assert.equal(host.closes, [{ reset: true, reason: 'client went away' }]);
  conn.abort('again');
  assert.is(host.closes.length, 1, 'abort on a closed connection does nothing');
  assert.is(host.out.length, 0);

  const h2 = new FakeHost();
  const c2 = new TcpConnection(h2, LOCAL, REMOTE, counters(), ISS);
  c2.open(0);
  h2.take();
  c2.abort('client went away early');
  assert.is(h2.out.length, 0, 'no RST for a connection the guest has not accepted');
  assert.is(c2.state, TcpState.Closed);
  assert.equal(h2.closes.map((x) => x.reset), [true]);
});

Close('abort() in LAST-ACK and FIN-WAIT sends RST|ACK', () => {
  const a = established();
  feed(a.conn, seg(FIN | ACK, GISS + 1, ISS + 1));
  a.host.take();
  a.conn.abort('x');
  assert.equal(
    a.host.take().map((e) => e.flags),
    [RST | ACK],
  );
  const b = established();
  b.conn.clientFinished();
  b.conn.tick(100);
  b.host.take();
  b.conn.abort('y');
  assert.equal(
    b.host.take().map((e) => e.flags),
    [RST | ACK],
  );
});

Close('segments after CLOSED are ignored (data, FIN, SYN|ACK, ACK)', () => {
  const { host, conn, c } = established();
  conn.abort('bye');
  host.take();
  host.calls = [];
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'data'));
  feed(conn, seg(FIN | ACK, GISS + 1, ISS + 1));
  feed(conn, seg(SYN | ACK, GISS, ISS + 1));
  feed(conn, seg(ACK, GISS + 1, ISS + 1));
  conn.flushAck();
  conn.tick(1e9);
  conn.write(bytes(5));
  conn.clientFinished();
  conn.flush();
  assert.is(host.out.length, 0);
  assert.equal(host.calls, []);
  assert.is(conn.state, TcpState.Closed);
  assert.is(c.duplicates + c.outOfOrder, 0);
});

Close.run();

// ---------------------------------------------------------------------------
// Robustness against a misbehaving or idle guest.
const Bugs = suite('tcp robustness');

// tcp.ts input(): the RST check comes before the state switch, so a RST that
// reaches a CLOSED connection calls host.closed() a second time.
Bugs('a RST after CLOSED does not close the connection a second time', () => {
  const { host, conn } = established();
  feed(conn, seg(ACK, GISS + 1, ISS + 1));
  conn.abort('client closed');
  assert.is(host.closes.length, 1);
  feed(conn, seg(RST, GISS + 1, 0));
  assert.is(host.closes.length, 1, 'closed() must be called once');
});

// Mongoose sends a keep-alive (ACK, no data, seq = its next seq - 1) after
// 45 s idle and drops the connection ("keepalive" error, no FIN/RST) after
// three unanswered ones (mongoose.c 5941-5948). RFC 9293 3.10.7.4: an
// unacceptable segment must be answered with an ACK; tcp.ts answers nothing.
Bugs('a guest keep-alive probe (seq = rcvNxt - 1, no data) is answered with an ACK', () => {
  const { host, conn } = established();
  feed(conn, seg(ACK | PSH, GISS + 1, ISS + 1, 'abc'));
  conn.flushAck();
  host.take();
  feed(conn, seg(ACK, GISS + 3, ISS + 1), 45000); // rcvNxt is GISS+4
  const out = host.take();
  assert.is(out.length, 1);
  assert.is(out[0].flags, ACK);
  assert.is(out[0].ack, GISS + 4);
});

// The guest's MSS is taken unclamped from its SYN|ACK; NetInterface.sendTcp
// has a fixed scratch buffer (maxFrame + 64), so a guest that advertises a
// large MSS makes segments that overflow it (RangeError) or the link's MTU.
Bugs('the MSS from the SYN|ACK is clamped to what the link can carry', () => {
  const { host, conn } = established({ mss: 65535 });
  conn.write(bytes(MAX_MSS + 8000));
  assert.ok(host.out.every((e) => (e.payload?.length ?? 0) <= MAX_MSS), `largest ${Math.max(...host.out.map((e) => e.payload?.length ?? 0))}`);
});

Bugs.run();
