// Outbound (outbound NAT + DNS) at the packet level: guest frames go into a
// NetInterface wired to a Outbound, the frames it sends toward the guest are
// collected and parsed, and dials go to real loopback servers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import dnsPacket from 'dns-packet';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { GUEST_LINK, LOOPBACK, gatewayOnLink, assertIpToGuest, guestTcpFrame, guestUdpFrame } from '../helpers/link.js';
import { freePort } from '../helpers/loopback.js';
import { sleep, waiter } from '../helpers/wait.js';
import { Outbound, type EgressOptions } from '../../ts/host/outbound.js';
import { MAX_MSS } from '../../ts/net/tcp.js';
import { NetInterface, type LinkConfig } from '../../ts/net/interface.js';
import { PROTO_TCP, PROTO_UDP, formatIpv4, parseIpv4 } from '../../ts/net/wire/ipv4.js';
import { ACK, FIN, PSH, RST, SYN, flagNames, parseTcp, seqAdd, type TcpRepr } from '../../ts/net/wire/tcp.js';
import { parseUdp, type UdpRepr } from '../../ts/net/wire/udp.js';
import { parseClientHello } from '../../ts/net/wire/tls.js';
import { connect as tlsConnect } from 'node:tls';

const require = createRequire(import.meta.url);
const CONFIG: LinkConfig = GUEST_LINK;
const { hostIp: HOST_IP } = CONFIG;

// --- frames from the guest ----------------------------------------------------

interface GuestTcp {
  dstIp?: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack?: number;
  flags: number;
  mss?: number;
  payload?: string | Uint8Array;
}

function guestTcp(o: GuestTcp): Uint8Array {
  const payload = typeof o.payload === 'string' ? new Uint8Array(Buffer.from(o.payload)) : o.payload;
  const { srcPort, dstPort, seq, flags, mss } = o;
  return guestTcpFrame(CONFIG, { dstIp: o.dstIp ?? LOOPBACK, srcPort, dstPort, seq, ack: o.ack ?? 0, flags, window: 6000, mss, payload, ipId: 1 });
}

const guestUdp = (dstIp: number, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array =>
  guestUdpFrame(CONFIG, { dstIp, srcPort, dstPort, payload, ipId: 2 });

function dnsQuery(id: number, name: string, type: 'A' | 'AAAA' = 'A'): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] }));
}

// --- frames toward the guest ------------------------------------------------

interface OutTcp {
  src: number;
  tcp: TcpRepr;
  payload: Buffer;
}

function parseOutTcp(frame: Uint8Array): OutTcp {
  const ip = assertIpToGuest(CONFIG, frame, PROTO_TCP);
  const tcp = parseTcp(frame, ip.payloadStart, ip.payloadEnd);
  assert.type(tcp, 'object');
  const t = tcp as TcpRepr;
  return { src: ip.src, tcp: t, payload: Buffer.from(frame.subarray(t.payloadStart, t.payloadEnd)) };
}

function parseOutUdp(frame: Uint8Array): { src: number; udp: UdpRepr; payload: Buffer } {
  const ip = assertIpToGuest(CONFIG, frame, PROTO_UDP);
  const udp = parseUdp(frame, ip.payloadStart, ip.payloadEnd);
  assert.type(udp, 'object');
  const u = udp as UdpRepr;
  return { src: ip.src, udp: u, payload: Buffer.from(frame.subarray(u.payloadStart, u.payloadEnd)) };
}

// --- the harness ------------------------------------------------------------

class Sink {
  frames: Uint8Array[] = [];
  accept = true;
  send(frame: Uint8Array): boolean {
    if (!this.accept) return false;
    this.frames.push(frame.slice());
    return true;
  }
}

interface Harness {
  sink: Sink;
  iface: NetInterface;
  gateway: Outbound;
  refusals: [number, string][];
  logs: string[];
  /** TCP frames sent to the guest and not yet taken (parsed). */
  tcpOut(): OutTcp[];
  /** The same, marked as taken. */
  take(): OutTcp[];
  /** Every frame not yet taken, raw, marked as taken. */
  takeFrames(): Uint8Array[];
}

const isTcp = (f: Uint8Array): boolean => f.length > 23 && f[23] === PROTO_TCP;

const harnesses: Harness[] = [];

function setup(options: EgressOptions): Harness {
  const sink = new Sink();
  const refusals: [number, string][] = [];
  const logs: string[] = [];
  const { iface, gateway } = gatewayOnLink(CONFIG, sink, (i) =>
    new Outbound(i, options, () => {}, (port, reason) => refusals.push([port, reason]), (line) => logs.push(line)),
  );
  let taken = 0;
  const takeFrames = (): Uint8Array[] => {
    const out = sink.frames.slice(taken);
    taken = sink.frames.length;
    return out;
  };
  const h: Harness = {
    sink,
    iface,
    gateway,
    refusals,
    logs,
    tcpOut: () => sink.frames.slice(taken).filter(isTcp).map(parseOutTcp),
    take: () => takeFrames().filter(isTcp).map(parseOutTcp),
    takeFrames,
  };
  harnesses.push(h);
  return h;
}

interface TestServer {
  server: Server;
  port: number;
  sockets: Socket[];
  received: Buffer[];
  ended: number;
  text(): string;
}

const servers: TestServer[] = [];

async function listen(onSocket: (s: Socket) => void = () => {}): Promise<TestServer> {
  const ts: TestServer = { server: createServer({ allowHalfOpen: true }), port: 0, sockets: [], received: [], ended: 0, text: () => Buffer.concat(ts.received).toString() };
  ts.server.on('connection', (s) => {
    ts.sockets.push(s);
    s.on('data', (d) => ts.received.push(d));
    s.on('end', () => ts.ended++);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((resolve) => ts.server.listen(0, '127.0.0.1', resolve));
  ts.port = (ts.server.address() as { port: number }).port;
  servers.push(ts);
  return ts;
}

const waitFor = waiter({ timeoutMs: 1500, everyMs: 2 });

async function cleanup(): Promise<void> {
  for (const h of harnesses.splice(0)) h.gateway.closeAll();
  for (const ts of servers.splice(0)) {
    for (const s of ts.sockets) s.destroy();
    await new Promise((resolve) => ts.server.close(resolve));
  }
}

const describe = (o: OutTcp): string => `${formatIpv4(o.src)}:${o.tcp.srcPort} -> ${o.tcp.dstPort} ${flagNames(o.tcp.flags)} seq=${o.tcp.seq} ack=${o.tcp.ack} len=${o.payload.length}`;

/** The guest dials 127.0.0.1:port from guestPort; returns the gateway's SYN|ACK once the server accepted. */
async function establish(h: Harness, ts: TestServer, guestPort: number, iss: number): Promise<{ hostSeq: number; guestSeq: number }> {
  const before = ts.sockets.length;
  h.iface.receive(guestTcp({ srcPort: guestPort, dstPort: ts.port, seq: iss, flags: SYN, mss: 1460 }));
  await waitFor('SYN|ACK', () => h.tcpOut().some((o) => o.tcp.dstPort === guestPort && o.tcp.flags === (SYN | ACK)));
  const synAck = h.take().find((o) => o.tcp.dstPort === guestPort && o.tcp.flags === (SYN | ACK))!;
  await waitFor('the server to accept', () => ts.sockets.length > before);
  h.iface.receive(guestTcp({ srcPort: guestPort, dstPort: ts.port, seq: iss + 1, ack: synAck.tcp.seq + 1, flags: ACK }));
  return { hostSeq: seqAdd(synAck.tcp.seq, 1), guestSeq: seqAdd(iss, 1) };
}

// ---------------------------------------------------------------------------
const Tcp = suite('gateway TCP');
Tcp.after.each(cleanup);

Tcp('an allowed SYN is dialled; SYN|ACK from the destination once the server accepted', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  h.iface.receive(guestTcp({ srcPort: 40001, dstPort: ts.port, seq: 0xfffffff0, flags: SYN, mss: 1400 }));
  assert.is(h.sink.frames.length, 0, 'no answer before the dial ends');
  assert.equal(h.refusals, [[40001, '']], 'an old refusal reason is cleared');
  assert.is(h.gateway.stats().dialing, 1);
  assert.is(h.gateway.stats().active, 1);
  // A retransmitted SYN while dialling does not dial again.
  h.iface.receive(guestTcp({ srcPort: 40001, dstPort: ts.port, seq: 0xfffffff0, flags: SYN, mss: 1400 }));
  await waitFor('SYN|ACK', () => h.sink.frames.length > 0);
  await waitFor('the connection', () => ts.sockets.length === 1);
  const out = h.take();
  assert.is(out.length, 1, out.map(describe).join('; '));
  const { src, tcp } = out[0];
  assert.is(src, LOOPBACK, 'from the address the guest dialled');
  assert.is(tcp.srcPort, ts.port);
  assert.is(tcp.dstPort, 40001);
  assert.is(tcp.flags, SYN | ACK);
  assert.is(tcp.ack, 0xfffffff1, 'ack = guest seq + 1');
  assert.is(tcp.mss, MAX_MSS);
  await sleep(20);
  assert.is(ts.sockets.length, 1, 'one connection for two SYNs');
  const stats = h.gateway.stats();
  assert.equal([stats.active, stats.dialing, stats.opened, stats.denied, stats.failed], [1, 0, 1, 0, 0]);
  assert.equal(h.logs, []);
});

Tcp('data both ways: guest ACK+data reaches the server, server data comes back as segments', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  const { hostSeq, guestSeq } = await establish(h, ts, 40002, 1000);
  assert.equal(h.take(), [], 'the bare ACK is not answered');
  h.iface.receive(guestTcp({ srcPort: 40002, dstPort: ts.port, seq: guestSeq, ack: hostSeq, flags: ACK | PSH, payload: 'hello ' }));
  h.iface.receive(guestTcp({ srcPort: 40002, dstPort: ts.port, seq: guestSeq + 6, ack: hostSeq, flags: ACK | PSH, payload: 'server' }));
  h.gateway.batchEnd();
  assert.equal(h.take(), [], 'the ACK waits for data toward the guest to carry it');
  h.gateway.flushAcks();
  const acks = h.take();
  assert.is(acks.length, 1, 'one ACK per batch');
  assert.equal([acks[0].src, acks[0].tcp.srcPort, acks[0].tcp.flags, acks[0].tcp.seq, acks[0].tcp.ack], [LOOPBACK, ts.port, ACK, hostSeq, guestSeq + 12]);
  await waitFor('server to read', () => ts.text() === 'hello server');
  ts.sockets[0].write('hi guest');
  await waitFor('data segment', () => h.tcpOut().length > 0);
  const data = h.take();
  assert.is(data.length, 1, data.map(describe).join('; '));
  const d = data[0];
  assert.equal([d.src, d.tcp.srcPort, d.tcp.dstPort, d.tcp.flags, d.tcp.seq, d.tcp.ack], [LOOPBACK, ts.port, 40002, ACK | PSH, hostSeq, guestSeq + 12]);
  assert.is(d.payload.toString(), 'hi guest');
  // The guest acknowledges; a large write is split at the guest's MSS.
  h.iface.receive(guestTcp({ srcPort: 40002, dstPort: ts.port, seq: guestSeq + 12, ack: hostSeq + 8, flags: ACK }));
  ts.sockets[0].write(Buffer.alloc(3000, 0x61));
  await waitFor('3000 bytes', () => h.tcpOut().reduce((n, o) => n + o.payload.length, 0) >= 3000);
  const big = h.take();
  assert.is(Buffer.concat(big.map((o) => o.payload)).toString(), 'a'.repeat(3000));
  assert.ok(big.every((o) => o.payload.length <= 1460));
  assert.is(big[0].tcp.seq, hostSeq + 8);
  assert.equal(big.map((o) => o.tcp.seq), big.map((_, i) => hostSeq + 8 + big.slice(0, i).reduce((n, o) => n + o.payload.length, 0)));
});

Tcp('a server that speaks first: its banner waits for the handshake, then goes out at once', async () => {
  const ts = await listen((s) => s.write('220 banner\r\n'));
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  h.iface.receive(guestTcp({ srcPort: 40006, dstPort: ts.port, seq: 10, flags: SYN }));
  await waitFor('SYN|ACK', () => h.tcpOut().length > 0);
  await sleep(30); // the banner has reached the gateway's socket
  const [synAck, ...rest] = h.take();
  assert.is(synAck.tcp.flags, SYN | ACK);
  assert.equal(rest, [], 'no data before the handshake completes');
  h.iface.receive(guestTcp({ srcPort: 40006, dstPort: ts.port, seq: 11, ack: synAck.tcp.seq + 1, flags: ACK }));
  const data = h.take();
  assert.equal(data.map((o) => [o.tcp.flags, o.tcp.seq, o.tcp.ack, o.payload.toString()]), [[ACK | PSH, synAck.tcp.seq + 1, 11, '220 banner\r\n']]);
});

Tcp('a lost SYN|ACK: the guest\'s retransmitted SYN gets it again (not sooner than 100 ms apart)', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  h.sink.accept = false; // the link drops the first SYN|ACK
  h.iface.receive(guestTcp({ srcPort: 40007, dstPort: ts.port, seq: 70, flags: SYN }));
  await waitFor('the connection', () => ts.sockets.length === 1);
  await waitFor('the SYN|ACK attempt', () => h.gateway.stats().dialing === 0);
  h.sink.accept = true;
  assert.equal(h.take(), []);
  await sleep(110);
  h.iface.receive(guestTcp({ srcPort: 40007, dstPort: ts.port, seq: 70, flags: SYN }));
  const again = h.take();
  assert.equal(again.map((o) => [o.tcp.flags, o.tcp.ack]), [[SYN | ACK, 71]]);
  h.iface.receive(guestTcp({ srcPort: 40007, dstPort: ts.port, seq: 70, flags: SYN }));
  assert.equal(h.take(), [], 'an immediate duplicate SYN is not answered again');
  h.iface.receive(guestTcp({ srcPort: 40007, dstPort: ts.port, seq: 71, ack: again[0].tcp.seq + 1, flags: ACK | PSH, payload: 'ok' }));
  await waitFor('data', () => ts.text() === 'ok');
  assert.is(ts.sockets.length, 1);
});

Tcp('the guest closes first: the server sees the end, FIN|ACK comes back, the flow is gone', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  const { hostSeq, guestSeq } = await establish(h, ts, 40003, 5000);
  h.iface.receive(guestTcp({ srcPort: 40003, dstPort: ts.port, seq: guestSeq, ack: hostSeq, flags: FIN | ACK }));
  const fin = h.take();
  assert.equal(fin.map((o) => [o.tcp.flags, o.tcp.seq, o.tcp.ack]), [[FIN | ACK, hostSeq, guestSeq + 1]]);
  await waitFor('server end', () => ts.ended === 1);
  h.iface.receive(guestTcp({ srcPort: 40003, dstPort: ts.port, seq: guestSeq + 1, ack: hostSeq + 1, flags: ACK }));
  assert.is(h.gateway.stats().active, 0);
  // A late segment for the finished flow is reset from the destination's address.
  h.iface.receive(guestTcp({ srcPort: 40003, dstPort: ts.port, seq: guestSeq + 1, ack: hostSeq + 1, flags: ACK }));
  assert.equal(h.take().map((o) => [o.src, o.tcp.srcPort, o.tcp.flags, o.tcp.seq]), [[LOOPBACK, ts.port, RST, hostSeq + 1]]);
});

Tcp('the server closes: FIN to the guest; the server resets: RST to the guest', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  const a = await establish(h, ts, 40004, 100);
  const b = await establish(h, ts, 40005, 200);
  ts.sockets[0].end();
  await waitFor('FIN', () => h.tcpOut().some((o) => o.tcp.dstPort === 40004 && (o.tcp.flags & FIN) !== 0));
  const fin = h.take().find((o) => o.tcp.dstPort === 40004)!;
  assert.equal([fin.tcp.flags, fin.tcp.seq, fin.tcp.ack], [FIN | ACK, a.hostSeq, a.guestSeq]);
  ts.sockets[1].resetAndDestroy();
  await waitFor('RST', () => h.tcpOut().some((o) => o.tcp.dstPort === 40005 && (o.tcp.flags & RST) !== 0));
  const rst = h.take().find((o) => o.tcp.dstPort === 40005)!;
  assert.equal([rst.tcp.flags, rst.tcp.seq, rst.tcp.ack], [RST | ACK, b.hostSeq, b.guestSeq]);
  await waitFor('flow 40005 gone', () => h.gateway.stats().active === 1);
});

Tcp('a denied destination: RST|ACK at once, the refusal reason, one log line, no connection', async () => {
  const allowed = await listen();
  const other = await listen();
  const h = setup({ allow: [`127.0.0.1:${allowed.port}`] });
  h.iface.receive(guestTcp({ srcPort: 40010, dstPort: other.port, seq: 777, flags: SYN, mss: 1460 }));
  const out = h.take();
  assert.is(out.length, 1);
  assert.equal([out[0].src, out[0].tcp.srcPort, out[0].tcp.dstPort, out[0].tcp.flags, out[0].tcp.seq, out[0].tcp.ack], [LOOPBACK, other.port, 40010, RST | ACK, 0, 778]);
  assert.equal(h.refusals, [
    [40010, ''],
    [40010, `egress denied: 127.0.0.1:${other.port}`],
  ]);
  assert.equal(h.logs, [`egress denied: 127.0.0.1:${other.port}: loopback and link-local need an explicit --allow`]);
  // Again: refused again, logged once.
  h.iface.receive(guestTcp({ srcPort: 40011, dstPort: other.port, seq: 1, flags: SYN }));
  assert.is(h.take().length, 1);
  assert.is(h.logs.length, 1);
  // A public address with no matching rule: refused without dialling.
  h.iface.receive(guestTcp({ dstIp: parseIpv4('192.0.2.1'), srcPort: 40012, dstPort: 80, seq: 5, flags: SYN }));
  const pub = h.take();
  assert.equal(pub.map((o) => [o.src, o.tcp.srcPort, o.tcp.flags, o.tcp.ack]), [[parseIpv4('192.0.2.1'), 80, RST | ACK, 6]]);
  assert.equal(h.refusals.at(-1), [40012, 'egress denied: 192.0.2.1:80']);
  assert.is(h.logs[1], 'egress denied: 192.0.2.1:80: no --allow rule matches');
  await sleep(30);
  assert.is(other.sockets.length, 0, 'nothing reached the server');
  const s = h.gateway.stats();
  assert.equal([s.active, s.denied, s.opened], [0, 3, 0]);
});

Tcp('no rules: default deny, named in the log', () => {
  const h = setup({});
  h.iface.receive(guestTcp({ dstIp: parseIpv4('93.184.216.34'), srcPort: 40013, dstPort: 443, seq: 9, flags: SYN }));
  assert.equal(h.take().map((o) => o.tcp.flags), [RST | ACK]);
  assert.equal(h.logs, ['egress denied: 93.184.216.34:443: no --allow rules (outbound is denied by default)']);
});

Tcp('the virtual link itself is never dialled, whatever the rules', () => {
  const h = setup({ allow: ['*', '10.0.2.0/24', '0.0.0.0/0'] });
  for (const [dst, port] of [
    ['10.0.2.2', 80],
    ['10.0.2.3', 22],
    ['10.0.2.255', 80],
  ] as const) {
    h.iface.receive(guestTcp({ dstIp: parseIpv4(dst), srcPort: 40020, dstPort: port, seq: 1, flags: SYN }));
    const out = h.take();
    assert.equal(out.map((o) => [formatIpv4(o.src), o.tcp.flags]), [[dst, RST | ACK]]);
    assert.equal(h.refusals.at(-1), [40020, `egress denied: ${dst}:${port} (virtual link)`]);
  }
  assert.is(h.gateway.stats().active, 0);
});

Tcp('nothing listening: RST|ACK after the dial fails, with an ECONNREFUSED reason', async () => {
  const port = await freePort();
  const h = setup({ allow: ['127.0.0.1'] });
  h.iface.receive(guestTcp({ srcPort: 40030, dstPort: port, seq: 4000, flags: SYN }));
  await waitFor('RST', () => h.sink.frames.length > 0);
  const out = h.take();
  assert.equal(out.map((o) => [o.src, o.tcp.srcPort, o.tcp.dstPort, o.tcp.flags, o.tcp.ack]), [[LOOPBACK, port, 40030, RST | ACK, 4001]]);
  const reason = h.refusals.at(-1)!;
  assert.is(reason[0], 40030);
  assert.ok(reason[1].startsWith('ECONNREFUSED'), reason[1]);
  assert.is(reason[1], `ECONNREFUSED 127.0.0.1:${port}`);
  assert.ok(reason[1].length <= 47, 'fits the guest slot');
  const s = h.gateway.stats();
  assert.equal([s.active, s.dialing, s.failed, s.opened], [0, 0, 1, 0]);
});

Tcp('the guest gives up (RST) while dialling: no SYN|ACK is sent and the flow is gone', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  h.iface.receive(guestTcp({ srcPort: 40040, dstPort: ts.port, seq: 10, flags: SYN }));
  h.iface.receive(guestTcp({ srcPort: 40040, dstPort: ts.port, seq: 11, flags: RST }));
  assert.is(h.gateway.stats().active, 0);
  await sleep(30);
  assert.equal(h.take(), [], 'nothing sent to the guest');
});

Tcp('maxConnections: the next SYN is refused until one closes', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`], maxConnections: 2 });
  const a = await establish(h, ts, 40050, 1);
  h.take();
  // A dial still in progress counts too.
  h.iface.receive(guestTcp({ srcPort: 40051, dstPort: ts.port, seq: 1, flags: SYN }));
  assert.equal(h.gateway.stats().dialing, 1);
  h.iface.receive(guestTcp({ srcPort: 40052, dstPort: ts.port, seq: 50, flags: SYN }));
  assert.equal(h.take().map((o) => [o.tcp.dstPort, o.tcp.flags, o.tcp.ack]), [[40052, RST | ACK, 51]]);
  assert.equal(h.refusals.at(-1), [40052, 'too many outbound connections (2)']);
  assert.equal(h.logs, ['egress denied: limit:2: more than 2 outbound connections at once (--max-outbound)']);
  await waitFor('second SYN|ACK', () => h.tcpOut().some((o) => o.tcp.dstPort === 40051 && o.tcp.flags === (SYN | ACK)));
  await sleep(20);
  assert.is(ts.sockets.length, 2);
  // One closes: the next is dialled.
  h.iface.receive(guestTcp({ srcPort: 40050, dstPort: ts.port, seq: a.guestSeq, flags: RST }));
  assert.is(h.gateway.stats().active, 1);
  await establish(h, ts, 40052, 60);
  assert.is(ts.sockets.length, 3);
  assert.is(h.gateway.stats().active, 2);
  assert.is(h.gateway.stats().denied, 1);
});

Tcp('a segment that belongs to no flow is reset from the address it was sent to', () => {
  const h = setup({ allow: ['*'] });
  const far = parseIpv4('198.51.100.20');
  h.iface.receive(guestTcp({ dstIp: far, srcPort: 40060, dstPort: 443, seq: 7, ack: 12345, flags: ACK, payload: 'x' }));
  h.iface.receive(guestTcp({ dstIp: far, srcPort: 40060, dstPort: 443, seq: 7, flags: SYN | ACK }));
  h.iface.receive(guestTcp({ dstIp: far, srcPort: 40060, dstPort: 443, seq: 7, flags: RST }));
  h.iface.receive(guestTcp({ dstIp: far, srcPort: 40060, dstPort: 443, seq: 7, flags: FIN }));
  assert.equal(
    h.take().map((o) => [o.src, o.tcp.srcPort, o.tcp.dstPort, o.tcp.flags, o.tcp.seq, o.tcp.ack]),
    [
      [far, 443, 40060, RST, 12345, 0],
      [far, 443, 40060, RST, 0, 0], // SYN|ACK carries ACK (ack 0)
      [far, 443, 40060, RST | ACK, 0, 8], // the FIN
    ],
  );
  assert.is(h.gateway.stats().active, 0);
});

Tcp('a segment to another destination from a live flow\'s port does not reach that flow', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  const { hostSeq, guestSeq } = await establish(h, ts, 40070, 300);
  h.iface.receive(guestTcp({ srcPort: 40070, dstPort: ts.port + 1 === 65536 ? 1 : ts.port + 1, seq: guestSeq, ack: hostSeq, flags: ACK | PSH, payload: 'stray' }));
  const out = h.take();
  assert.equal(out.map((o) => o.tcp.flags), [RST]);
  await sleep(20);
  assert.is(ts.text(), '', 'nothing delivered');
  assert.is(h.gateway.stats().active, 1, 'the flow survives');
});

Tcp('the guest reuses a port with a new SYN: the old flow is dropped, a new one dialled', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  await establish(h, ts, 40080, 1000);
  h.take();
  h.iface.receive(guestTcp({ dstIp: LOOPBACK, srcPort: 40080, dstPort: ts.port, seq: 900000, flags: SYN }));
  // Same four-tuple: the SYN goes to the live connection, which answers with an ACK; no new dial.
  assert.equal(h.take().map((o) => [o.tcp.flags, o.tcp.ack]), [[ACK, 1001]]);
  await sleep(20);
  assert.is(ts.sockets.length, 1);
  assert.is(h.gateway.stats().active, 1);
  // Another destination port from the same guest port: the old flow goes.
  const ts2 = await listen();
  const h2 = setup({ allow: ['127.0.0.1'] });
  await establish(h2, ts, 40081, 1);
  h2.take();
  h2.iface.receive(guestTcp({ srcPort: 40081, dstPort: ts2.port, seq: 5000, flags: SYN }));
  await waitFor('new SYN|ACK', () => h2.tcpOut().some((o) => o.tcp.srcPort === ts2.port && o.tcp.flags === (SYN | ACK)));
  const frames = h2.take();
  assert.ok(frames.some((o) => o.tcp.srcPort === ts.port && (o.tcp.flags & RST) !== 0), 'the old flow was reset toward the guest');
  await waitFor('old server socket closed', () => ts.sockets[1].destroyed || ts.ended > 0);
  assert.is(ts2.sockets.length, 1);
  assert.is(h2.gateway.stats().active, 1);
});

Tcp('an idle connection is reset after idleTimeoutMs', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`], idleTimeoutMs: 100 });
  const { hostSeq, guestSeq } = await establish(h, ts, 40090, 1);
  h.take();
  await waitFor('RST', () => h.sink.frames.length > 1, 1000);
  assert.equal(h.take().map((o) => [o.tcp.flags, o.tcp.seq, o.tcp.ack]), [[RST | ACK, hostSeq, guestSeq]]);
  await waitFor('server sees the close', () => ts.sockets[0].destroyed || ts.ended > 0);
  assert.is(h.gateway.stats().active, 0);
});

Tcp('closeAll resets every connection and closes their sockets', async () => {
  const ts = await listen();
  const h = setup({ allow: [`127.0.0.1:${ts.port}`] });
  await establish(h, ts, 40100, 1);
  await establish(h, ts, 40101, 1);
  h.iface.receive(guestTcp({ srcPort: 40102, dstPort: ts.port, seq: 1, flags: SYN })); // still dialling
  h.take();
  h.gateway.closeAll();
  const out = h.take();
  assert.equal(out.map((o) => [o.tcp.dstPort, o.tcp.flags]).sort(), [
    [40100, RST | ACK],
    [40101, RST | ACK],
  ]);
  assert.is(h.gateway.stats().active, 0);
  await waitFor('the servers see both connections end', () => ts.ended >= 2);
});

/** The first flight node:tls sends for this server name: a real ClientHello. */
async function clientHello(servername: string): Promise<Buffer> {
  const ts = await listen();
  const socket = tlsConnect({ host: '127.0.0.1', port: ts.port, servername, rejectUnauthorized: false });
  socket.on('error', () => {});
  await waitFor('the ClientHello', () => ts.received.length > 0);
  socket.destroy();
  return Buffer.concat(ts.received);
}

Tcp('a ClientHello reads as TLS with its server name; other first bytes do not', async () => {
  const hello = await clientHello('api.example.com');
  assert.equal(parseClientHello(hello), { kind: 'hello', serverName: 'api.example.com' });
  assert.equal(parseClientHello(hello.subarray(0, 40)), { kind: 'incomplete' });
  assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'not-tls' });
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0x00, 0x10])), { kind: 'not-tls' }, 'longer than a record');
});

Tcp('the egress policy holds a TLS server name to the rules: a name no rule allows is reset, with the reason', async () => {
  const ts = await listen();
  const h = setup({ allow: [`localhost:${ts.port}`] });
  const evil = await clientHello('evil.example');
  const good = await clientHello('localhost');
  const sent = ts.received.length; // clientHello()'s own servers are others: this one has seen nothing
  const a = await establish(h, ts, 40110, 100);
  h.take();
  h.iface.receive(guestTcp({ srcPort: 40110, dstPort: ts.port, seq: a.guestSeq, ack: a.hostSeq, flags: ACK | PSH, payload: evil.subarray(0, 30) }));
  h.iface.receive(guestTcp({ srcPort: 40110, dstPort: ts.port, seq: a.guestSeq + 30, ack: a.hostSeq, flags: ACK | PSH, payload: evil.subarray(30) }));
  await waitFor('the reset', () => h.tcpOut().some((o) => o.tcp.flags & RST));
  assert.ok(h.refusals.some(([port, why]) => port === 40110 && why === 'egress denied: TLS name evil.example'), JSON.stringify(h.refusals));
  assert.ok(h.logs.some((l) => l.includes('TLS name evil.example')), h.logs.join('\n'));
  await sleep(20);
  assert.is(ts.received.length, sent, 'nothing of it reached the server');
  const b = await establish(h, ts, 40111, 500);
  h.iface.receive(guestTcp({ srcPort: 40111, dstPort: ts.port, seq: b.guestSeq, ack: b.hostSeq, flags: ACK | PSH, payload: good }));
  await waitFor('the allowed hello at the server', () => Buffer.concat(ts.received).length >= good.length);
  assert.ok(Buffer.concat(ts.received).equals(good));
});

Tcp.run();

// ---------------------------------------------------------------------------
const Udp = suite('gateway UDP and DNS');
Udp.after.each(cleanup);

/** DNS replies sent to the guest since the last take. */
function dnsReplies(h: Harness): { port: number; packet: ReturnType<typeof dnsPacket.decode> }[] {
  return h.takeFrames().map((f) => {
    const { src, udp, payload } = parseOutUdp(f);
    assert.is(src, HOST_IP);
    assert.is(udp.srcPort, 53);
    return { port: udp.dstPort, packet: dnsPacket.decode(payload) };
  });
}

Udp('a query to 10.0.2.2:53 is answered with a UDP frame from port 53', () => {
  const h = setup({ allow: ['example.com'] });
  h.iface.receive(guestUdp(HOST_IP, 33333, 53, dnsQuery(0x4242, 'not-allowed.example')));
  const replies = dnsReplies(h);
  assert.is(replies.length, 1);
  assert.is(replies[0].port, 33333);
  assert.is(replies[0].packet.id, 0x4242);
  assert.is(replies[0].packet.type, 'response');
  assert.is((replies[0].packet.flags ?? 0) & 15, 3, 'NXDOMAIN');
  assert.equal(h.logs, ['egress denied: not-allowed.example: name not allowed by --allow, answered NXDOMAIN']);
  assert.equal(h.gateway.stats().dns, { queries: 1, answered: 0, nxdomain: 1, servfail: 0, malformed: 0 });
  h.iface.receive(guestUdp(HOST_IP, 33334, 53, dnsQuery(7, 'example.com', 'AAAA')));
  const [aaaa] = dnsReplies(h);
  assert.equal([aaaa.port, aaaa.packet.id, (aaaa.packet.flags ?? 0) & 15, aaaa.packet.answers!.length], [33334, 7, 0, 0]);
});

/**
 * Run fn with the host resolver (node:dns/promises lookup, which dns.ts
 * imports) answering `names` from the table; other names go to the real one.
 */
async function withFakeLookup(names: Record<string, string[]>, fn: () => Promise<void>): Promise<void> {
  const dnsp = require('node:dns/promises') as { lookup: (name: string, o: object) => Promise<unknown> };
  const real = dnsp.lookup;
  dnsp.lookup = async (name: string, o: object) => (name in names ? names[name].map((address) => ({ address, family: 4 })) : real(name, o));
  syncBuiltinESMExports();
  try {
    await fn();
  } finally {
    dnsp.lookup = real;
    syncBuiltinESMExports();
  }
}

Udp('a name the guest resolved through the gateway is allowed by its name rule', async () => {
  const ts = await listen();
  await withFakeLookup({ 'app.test': ['127.0.0.1'] }, async () => {
    const h = setup({ allow: [`app.test:${ts.port}`] });
    // Before resolving: the address alone is loopback, denied.
    h.iface.receive(guestTcp({ srcPort: 40200, dstPort: ts.port, seq: 1, flags: SYN }));
    assert.equal(h.take().map((o) => o.tcp.flags), [RST | ACK]);
    assert.equal(h.refusals.at(-1), [40200, `egress denied: 127.0.0.1:${ts.port}`]);
    h.iface.receive(guestUdp(HOST_IP, 33335, 53, dnsQuery(99, 'App.Test')));
    await waitFor('DNS reply', () => h.sink.frames.length > 1);
    const [reply] = dnsReplies(h);
    assert.is(reply.port, 33335);
    assert.is(reply.packet.id, 99);
    assert.is((reply.packet.flags ?? 0) & 15, 0);
    assert.equal(
      (reply.packet.answers as { type: string; name: string; data: string }[]).map((a) => [a.type, a.name, a.data]),
      [['A', 'App.Test', '127.0.0.1']],
    );
    await establish(h, ts, 40201, 1);
    assert.is(ts.sockets.length, 1);
    // The name allows only the rule's port.
    h.iface.receive(guestTcp({ srcPort: 40202, dstPort: ts.port === 65535 ? 1 : ts.port + 1, seq: 1, flags: SYN }));
    assert.equal(h.take().map((o) => o.tcp.flags), [RST | ACK]);
  });
});

Udp('localhost: 127.0.0.1 is allowed by a localhost rule without a DNS query (Mongoose resolves it itself)', async () => {
  const ts = await listen();
  const h = setup({ allow: ['localhost'] });
  await establish(h, ts, 40210, 1);
  assert.is(ts.sockets.length, 1);
  assert.is(h.gateway.stats().dns.queries, 0);
  h.iface.receive(guestTcp({ dstIp: parseIpv4('127.0.0.2'), srcPort: 40211, dstPort: ts.port, seq: 1, flags: SYN }));
  assert.equal(h.take().map((o) => [formatIpv4(o.src), o.tcp.flags]), [['127.0.0.2', RST | ACK]]);
});

Udp('UDP to another port or address is refused and counted; malformed DNS gets no reply', () => {
  const h = setup({ allow: ['*'] });
  h.iface.receive(guestUdp(HOST_IP, 33336, 123, new Uint8Array(48)));
  h.iface.receive(guestUdp(parseIpv4('8.8.8.8'), 33336, 53, dnsQuery(1, 'example.com')));
  h.iface.receive(guestUdp(parseIpv4('10.0.2.3'), 33336, 53, dnsQuery(1, 'example.com')));
  assert.equal(h.iface.counters.refused, { 'udp-destination': 3 });
  assert.is(h.sink.frames.length, 0);
  h.iface.receive(guestUdp(HOST_IP, 33336, 53, new Uint8Array([1, 2, 3])));
  assert.is(h.sink.frames.length, 0);
  assert.is(h.gateway.stats().dns.malformed, 1);
  assert.is(h.gateway.stats().dns.queries, 0);
});

Udp('a reply the link cannot take is dropped and counted', () => {
  const h = setup({});
  h.sink.accept = false;
  h.iface.receive(guestUdp(HOST_IP, 33337, 53, dnsQuery(1, 'example.com')));
  assert.equal(h.iface.counters.refused, { 'dns-reply-dropped': 1 });
});

Udp.run();
