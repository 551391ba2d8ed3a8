// Property-based fuzzing (fast-check) of everything a hostile guest or a
// hostile client can reach on the host:
//   a. guest frames into NetInterface + Inbound + Outbound, wired by the
//      instance's own LinkRouter (ts/host/router.ts): nothing throws (now or later, in socket callbacks) and
//      every frame toward the guest is well-formed and from a legitimate source;
//   b. the egress policy: no sequence of guest frames dials a destination the
//      rules forbid, or asks the host's resolver about a name they forbid;
//   c. bounded memory: after long runs (bursts of SYNs, data, DNS queries) the
//      gateway's and forwarder's state stays under its caps, and closeAll()
//      leaves nothing behind (no flows, no timers keeping the process alive);
//   d. random and mutated requests from clients through the whole path (the
//      real guest): it never crashes, every connection ends, and a normal
//      request still gets 200.
// Then (r.) a regression test for each host bug the fuzzer found.
//
// Fixed seed here; `npm run fuzz` (scripts/fuzz.mjs) runs the same properties
// much longer with a random seed: FUZZ_LONG=1, FUZZ_SEED, FUZZ_SCALE (runs
// multiplier), FUZZ_BUDGET_MS (time limit per property). A failure prints the
// seed and the counterexample path, so `FUZZ_SEED=... FUZZ_SCALE=...` replays it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { INBOUND_PORTS, type Inbound } from '../../ts/host/inbound.js';
import { LinkRouter } from '../../ts/host/router.js';
import type { EgressOptions, Outbound } from '../../ts/host/outbound.js';
import { DnsServer } from '../../ts/host/dns.js';
import { EgressPolicy } from '../../ts/host/egress.js';
import { GUEST_HTTP_LISTENERS, GUEST_HTTP_PORT, isGuestHttpPort } from '../../ts/net/link.js';

import { NetInterface, type LinkConfig } from '../../ts/net/interface.js';
import { ARP_REPLY, ARP_REQUEST, buildArp, parseArp } from '../../ts/net/wire/arp.js';
import { BROADCAST_MAC, ETHERTYPE_IPV4, parseMac, writeEthernet } from '../../ts/net/wire/ethernet.js';
import { fold, sum16 } from '../../ts/net/wire/checksum.js';
import { PROTO_TCP, PROTO_UDP, formatIpv4, parseIpv4, readU32, writeIpv4Header } from '../../ts/net/wire/ipv4.js';
import { ACK, FIN, PSH, RST, SYN, parseTcp, seqAdd, writeTcp } from '../../ts/net/wire/tcp.js';
import { MAX_MSS } from '../../ts/net/tcp.js';
import { MAX_BUFFERED } from '../../ts/host/relay.js';
import { appPath, request, settled, sleep, startServer, type TestServer } from '../helpers/server.js';
import { GUEST_LINK, LOOPBACK, frameToGuestProblem, guestUdpFrame, type GuestTcpFrame } from '../helpers/link.js';

const require = createRequire(import.meta.url);

// --- run settings -------------------------------------------------------------

const LONG = process.env.FUZZ_LONG === '1';
const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 42;
/** Multiplies every property's number of runs (1 in the test suite). */
const SCALE = Number(process.env.FUZZ_SCALE ?? (LONG ? 40 : 1));
/** Time limit per property (0: none): the runs done by then count. */
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? (LONG ? 45000 : 0));
const VERBOSE = LONG || process.env.FUZZ_VERBOSE === '1';
/** FUZZ_ONLY=a,c: run only the properties with these letters. */
const ONLY = process.env.FUZZ_ONLY?.split(',');
const prop = (name: string, fn: () => Promise<void>): void => {
  if (ONLY === undefined || ONLY.includes(name.slice(0, 1))) test(name, fn);
};

/** Run one property; report it; fail the test with fast-check's report (seed, path, counterexample). */
async function check<T>(name: string, prop: fc.IAsyncProperty<T>, numRuns: number, extra: Partial<fc.Parameters<T>> = {}): Promise<fc.RunDetails<T>> {
  const t0 = Date.now();
  const details = await fc.check(prop, {
    seed: SEED,
    numRuns: Math.max(1, Math.round(numRuns * SCALE)),
    plugins: BUDGET_MS > 0 ? [fc.interruptAfterTimeLimit(BUDGET_MS) as fc.Plugin<T>] : [],
    ...extra,
  });
  const ms = Date.now() - t0;
  if (VERBOSE) console.log(`FUZZ-RESULT ${JSON.stringify({ name, runs: details.numRuns, ms, failed: details.failed, seed: SEED })}`);
  if (details.failed) {
    const err = details.errorInstance as Error | null;
    assert.unreachable(`${name}: ${err?.stack ?? String(err)}\n${await fc.asyncDefaultReportMessage(details)}`);
  }
  assert.ok(details.numRuns > 0, `${name}: no run completed`);
  return details;
}

// --- the link, as in ts/index.ts ------------------------------------------------

const CONFIG: LinkConfig = GUEST_LINK;
const { hostMac: HOST_MAC, guestMac: GUEST_MAC, hostIp: HOST_IP, guestIp: GUEST_IP } = CONFIG;
const ip = parseIpv4;

/** Not loopback, link-local, 0/8, the virtual link or multicast/broadcast: what a wildcard rule may reach. */
function isPublic(a: number): boolean {
  const top = a >>> 24;
  return top !== 127 && top !== 0 && a >>> 16 !== 0xa9fe && a >>> 8 !== HOST_IP >>> 8 && a >>> 28 < 14;
}

// --- global fakes: node:net connect (recorded, never leaves the machine) and the host resolver

const netModule = require('node:net') as typeof import('node:net');
const realConnect = netModule.connect;
const dnsModule = require('node:dns/promises') as { lookup: (name: string, o: object) => Promise<unknown> };
const realLookup = dnsModule.lookup;

/** The rig being fuzzed: decides what is allowed and collects what happened. */
let current: Rig | null = null;
/** Bad frames toward the guest from a rig whose run had ended. */
const lateProblems: string[] = [];
/** Errors thrown in callbacks (socket events, timers) while fuzzing. */
const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

function fakeConnect(...args: unknown[]): Socket {
  const o = args[0] as { host: string; port: number };
  const rig = current;
  if (rig !== null) rig.connects.push(`${o.host}:${o.port}`);
  if (rig !== null && !rig.allowed(ip(o.host), o.port)) rig.violations.push(`connect ${o.host}:${o.port}`);
  // Loopback goes where it was sent (a forbidden dial then really reaches the counting server);
  // anything else to a closed loopback port, so nothing leaves this machine.
  if (o.host === '127.0.0.1') return (realConnect as (...a: unknown[]) => Socket)(...args);
  return (realConnect as (...a: unknown[]) => Socket)({ ...(o as object), host: '127.0.0.1', port: deadPort });
}

/** Deterministic small hash of a string. */
function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * The fake resolver: allowed.test is 127.0.0.1; x.same.test is always 192.0.2.7;
 * x.wild.test is 1-8 addresses picked by hash, special ones among them (the
 * gateway must never let a wildcard reach those); slow.* answers late, never.*
 * never; anything else does not exist.
 */
async function fakeLookup(name: string): Promise<{ address: string; family: 4 }[]> {
  const rig = current;
  const n = name.toLowerCase();
  if (rig !== null) {
    rig.lookups++;
    if (!rig.nameAllowed(n)) rig.violations.push(`resolver asked about ${name}`);
  }
  const answer = (list: number[]): { address: string; family: 4 }[] => {
    for (const a of list) rig?.resolved.add(a);
    return list.map((a) => ({ address: formatIpv4(a), family: 4 }));
  };
  if (n === 'allowed.test') return answer([LOOPBACK]);
  if (n.endsWith('.same.test')) return answer([ip('192.0.2.7')]);
  if (n.endsWith('.wild.test')) {
    let h = hash(n);
    const count = 1 + (h % 8);
    const special = [LOOPBACK, ip('127.0.0.2'), HOST_IP, ip('10.0.2.3'), ip('169.254.1.1'), ip('0.0.0.7'), ip('10.0.2.255')];
    const list: number[] = [];
    for (let i = 0; i < count; i++) {
      h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
      list.push(h % 5 === 0 ? special[h % special.length] : (((11 + (h % 112)) << 24) | (h >>> 8)) >>> 0);
    }
    if (n.startsWith('slow')) await sleep(5 + (hash(n) % 30));
    if (n.startsWith('never')) await new Promise(() => {});
    return answer(list);
  }
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
}

function installFakes(): void {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  (netModule as { connect: unknown }).connect = fakeConnect;
  dnsModule.lookup = (name: string) => fakeLookup(name);
  syncBuiltinESMExports();
}

function removeFakes(): void {
  (netModule as { connect: unknown }).connect = realConnect;
  dnsModule.lookup = realLookup;
  syncBuiltinESMExports();
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
}

// --- far ends -------------------------------------------------------------------

interface Far {
  server: Server;
  port: number;
  sockets: Socket[];
  connections: number;
  bytes: number;
}

/** A loopback server; `echo`: send small reads back. */
async function listen(echo: boolean): Promise<Far> {
  const far: Far = { server: createServer({ allowHalfOpen: true }), port: 0, sockets: [], connections: 0, bytes: 0 };
  far.server.on('connection', (s) => {
    far.connections++;
    far.sockets.push(s);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      far.bytes += d.length;
      if (echo && d.length < 200) s.write(d);
    });
    s.on('end', () => s.end());
    s.on('close', () => far.sockets.splice(far.sockets.indexOf(s) >>> 0, 1));
  });
  await new Promise<void>((resolve) => far.server.listen(0, '127.0.0.1', resolve));
  far.port = (far.server.address() as { port: number }).port;
  return far;
}

async function closeFar(far: Far): Promise<void> {
  for (const s of [...far.sockets]) s.destroy();
  await new Promise((resolve) => far.server.close(resolve));
}

let farA: Far; // the allowed destination
let farB: Far; // never allowed: must never see a connection
let deadPort = 0; // allowed in some rule sets, nothing listening
let pairServer: Server; // hands out connected socket pairs for inbound (client) flows
const pairWaiters: ((s: Socket) => void)[] = [];

async function socketPair(): Promise<[client: Socket, server: Socket]> {
  const port = (pairServer.address() as { port: number }).port;
  const server = new Promise<Socket>((resolve) => pairWaiters.push(resolve));
  const client = realConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
  client.on('error', () => {});
  return [client, await server];
}

// --- frames from the guest ------------------------------------------------------

interface TcpSpec extends Pick<GuestTcpFrame, 'srcPort' | 'dstPort' | 'seq' | 'ack' | 'flags' | 'window'> {
  src: number;
  dst: number;
  options: number[];
  payload: Uint8Array;
  trailing: number;
}

function tcpFrame(o: TcpSpec): Uint8Array {
  const opts = o.options.slice(0, 40);
  while (opts.length % 4 !== 0) opts.push(0);
  const hlen = 20 + opts.length;
  const frame = new Uint8Array(34 + hlen + o.payload.length + o.trailing);
  writeEthernet(frame, HOST_MAC, GUEST_MAC, ETHERTYPE_IPV4);
  frame.set(opts, 54);
  frame.set(o.payload, 34 + hlen);
  writeTcp(frame, 34, { srcIp: o.src, dstIp: o.dst, srcPort: o.srcPort, dstPort: o.dstPort, seq: o.seq, ack: o.ack, flags: o.flags, window: o.window }, 0);
  frame[46] = (hlen / 4) << 4;
  // The checksum over options and payload too.
  frame[50] = frame[51] = 0;
  const len = hlen + o.payload.length;
  const c = fold(sum16(frame, 34, 34 + len, (o.src >>> 16) + (o.src & 0xffff) + (o.dst >>> 16) + (o.dst & 0xffff) + PROTO_TCP + len));
  frame[50] = c >> 8;
  frame[51] = c & 255;
  writeIpv4Header(frame, 14, o.src, o.dst, PROTO_TCP, len, 7);
  return frame;
}

const udpFrame = (srcIp: number, dstIp: number, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array =>
  guestUdpFrame(CONFIG, { srcIp, dstIp, srcPort, dstPort, payload, ipId: 9 });

/** A DNS message; names dns-packet cannot encode become raw bytes. */
function dnsMessage(q: DnsSpec): Uint8Array {
  try {
    const questions = Array.from({ length: q.questions }, () => ({ type: q.type, name: q.name, class: 'IN' as const })) as dnsPacket.Question[];
    return new Uint8Array(dnsPacket.encode({ type: q.response ? 'response' : 'query', id: q.id, flags: dnsPacket.RECURSION_DESIRED, questions }));
  } catch {
    return new Uint8Array(Buffer.from(q.name));
  }
}

interface DnsSpec {
  srcPort: number;
  id: number;
  name: string;
  type: 'A' | 'AAAA' | 'MX' | 'TXT' | 'ANY';
  questions: number;
  response: boolean;
  flips: [number, number][]; // byte index (mod length), value
}

function dnsFrame(q: DnsSpec): Uint8Array {
  const msg = dnsMessage(q);
  for (const [at, v] of q.flips) if (msg.length > 0) msg[at % msg.length] = v;
  return udpFrame(GUEST_IP, HOST_IP, q.srcPort, 53, msg);
}

// --- arbitraries ----------------------------------------------------------------

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 255 });

/** Destinations: the ones that matter (host, loopback, link, broadcast, multicast, 0/8, the guest) or anything. */
const dstIpArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(HOST_IP, LOOPBACK, ip('127.0.0.2'), ip('10.0.2.3'), ip('10.0.2.255'), ip('255.255.255.255'), ip('224.0.0.251'), ip('0.0.0.0'), GUEST_IP, ip('169.254.1.1'), ip('192.0.2.7'), ip('203.0.113.9')) },
  { weight: 1, arbitrary: u32 },
);
const dstPortArb = (): fc.Arbitrary<number> =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(farA.port, farB.port, deadPort, 80, 53, 443, 0, 65535) }, { weight: 1, arbitrary: u16 });
const srcPortArb = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(GUEST_HTTP_PORT, GUEST_HTTP_PORT + GUEST_HTTP_LISTENERS - 1, 40000, 40001, 40002, 40003, 50000, 53, 0) }, { weight: 1, arbitrary: u16 });
/** Mostly the guest; sometimes spoofed. */
const srcIpArb = fc.oneof({ weight: 12, arbitrary: fc.constant(GUEST_IP) }, { weight: 1, arbitrary: fc.oneof(u32, fc.constantFrom(HOST_IP, LOOPBACK, ip('10.0.2.16'))) });
const flagsArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(SYN, SYN, ACK, ACK | PSH, FIN | ACK, RST, RST | ACK, SYN | ACK, SYN | FIN, 0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) });
const optionsArb = fc
  .array(
    fc.oneof(
      fc.constant([1]),
      fc.constant([0]),
      u16.map((m) => [2, 4, m >> 8, m & 255]),
      fc.constant([8, 10, 1, 2, 3, 4, 5, 6, 7, 8]),
      fc.tuple(u8, u8).map(([k, l]) => [k, l]),
    ),
    { maxLength: 5 },
  )
  .map((parts) => parts.flat());
const payloadArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 1500 }).map((n) => new Uint8Array(n).fill(0x61)) },
);

const tcpSpecArb = (): fc.Arbitrary<TcpSpec> =>
  fc.record({
    src: srcIpArb,
    dst: dstIpArb,
    srcPort: srcPortArb,
    dstPort: dstPortArb(),
    seq: u32,
    ack: u32,
    flags: flagsArb,
    window: u16,
    options: fc.oneof({ weight: 3, arbitrary: fc.constant([] as number[]) }, { weight: 1, arbitrary: optionsArb }),
    payload: payloadArb,
    trailing: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }) }),
  });

const nameArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('allowed.test', 'ALLOWED.Test.', 'example.com', 'localhost', 'a.same.test', 'x.wild.test', 'slow1.wild.test', 'never.wild.test', '', '.', 'a..b', '-a.test', `${'x'.repeat(63)}.wild.test`, `${'y'.repeat(64)}.wild.test`, '*.wild.test', '127.0.0.1') },
  { weight: 3, arbitrary: fc.stringMatching(/^(slow)?[a-z0-9-]{1,12}$/).map((s) => `${s}.wild.test`) },
  { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9]{1,8}$/).map((s) => `${s}.same.test`) },
  { weight: 2, arbitrary: fc.domain() },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
);

const dnsSpecArb: fc.Arbitrary<DnsSpec> = fc.record({
  srcPort: fc.oneof(fc.constantFrom(40000, 40001, 53, 0), u16),
  id: u16,
  name: nameArb,
  type: fc.constantFrom('A', 'A', 'A', 'AAAA', 'MX', 'TXT', 'ANY'),
  questions: fc.constantFrom(1, 1, 1, 1, 0, 2),
  response: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  flips: fc.oneof({ weight: 4, arbitrary: fc.constant([] as [number, number][]) }, { weight: 1, arbitrary: fc.array(fc.tuple(fc.nat(600), u8), { minLength: 1, maxLength: 4 }) }),
});

const udpArb = (): fc.Arbitrary<Uint8Array> =>
  fc
    .record({ src: srcIpArb, dst: dstIpArb, srcPort: srcPortArb, dstPort: fc.oneof(fc.constant(53), u16), payload: fc.uint8Array({ maxLength: 120 }) })
    .map((u) => udpFrame(u.src, u.dst, u.srcPort, u.dstPort, u.payload));

const arpArb = fc
  .record({ op: fc.constantFrom(ARP_REQUEST, ARP_REPLY, 0, 7), sender: srcIpArb, target: fc.oneof(fc.constant(HOST_IP), u32), mac: fc.constantFrom(GUEST_MAC, BROADCAST_MAC, HOST_MAC) })
  .map((a) => buildArp(a.op, a.mac, a.sender, BROADCAST_MAC, a.target));

/** Random bytes, sometimes with a plausible Ethernet type and IPv4 version/IHL. */
const rawArb = fc.tuple(fc.uint8Array({ maxLength: 140 }), fc.constantFrom(0, 1, 2, 3)).map(([b, how]) => {
  const f = b.slice();
  if (f.length >= 14 && how > 0) {
    f[12] = 0x08;
    f[13] = how === 3 ? 0x06 : 0x00;
    if (how === 2 && f.length > 14) f[14] = 0x45;
  }
  return f;
});

/** Interesting header offsets: Ethernet type, IPv4 v/ihl, length, flags/fragment, protocol, addresses; UDP length; TCP offset, flags, options. */
const HOT = [12, 13, 14, 16, 17, 20, 21, 23, 26, 29, 30, 33, 36, 37, 38, 39, 46, 47, 54, 55, 56, 57];
type Mutation = { k: 'set'; at: number; v: number } | { k: 'hot'; at: number; v: number } | { k: 'cut'; frac: number } | { k: 'add'; bytes: Uint8Array };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant('set' as const), at: fc.nat(2000), v: u8 }),
  fc.record({ k: fc.constant('hot' as const), at: fc.nat(HOT.length - 1), v: fc.oneof(fc.constantFrom(0, 1, 2, 0xff, 0x45, 0x46, 0x4f, 0x40, 0x20, 0x06, 0x11, 0x50, 0xf0), u8) }),
  fc.record({ k: fc.constant('cut' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ k: fc.constant('add' as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
);

function mutate(base: Uint8Array, muts: Mutation[]): Uint8Array {
  let f = base.slice();
  for (const m of muts) {
    if (m.k === 'set' && f.length > 0) f[m.at % f.length] = m.v;
    else if (m.k === 'hot' && HOT[m.at] < f.length) f[HOT[m.at]] = m.v;
    else if (m.k === 'cut') f = f.slice(0, Math.floor(m.frac * (f.length + 1)));
    else if (m.k === 'add') {
      const g = new Uint8Array(f.length + m.bytes.length);
      g.set(f);
      g.set(m.bytes, f.length);
      f = g;
    }
  }
  return f;
}

// --- operations -------------------------------------------------------------------

type Op =
  | { k: 'frame'; frame: Uint8Array }
  | { k: 'dns'; q: DnsSpec }
  /** A segment that follows a connection the host opened or answered (pick: which). */
  | { k: 'follow'; pick: number; act: number; len: number; skew: number; badAck: boolean; iss: number; mss: number }
  /** A SYN (with MSS) to farA (0), the dead port (1), a resolved address on farA's port (2), farB (3). */
  | { k: 'dial'; to: number; guestPort: number; seq: number; mss: number; pick: number }
  /** Up to n full-size data segments in a row on one connection, until the worker holds one (its port is paused). */
  | { k: 'flood'; pick: number; n: number }
  | { k: 'wait'; ms: number }
  | { k: 'batch' }
  | { k: 'link'; full: boolean }
  | { k: 'accept' }
  | { k: 'client'; pick: number; act: 'write' | 'end' | 'destroy'; size: number }
  | { k: 'far'; pick: number; act: 'write' | 'end' | 'destroy' | 'pause' | 'resume'; size: number }
  /** Many SYNs at once (to random, denied, allowed destinations) from `seed`. */
  | { k: 'synBurst'; n: number; seed: number }
  /** Many DNS queries at once. */
  | { k: 'dnsBurst'; n: number; seed: number; slow: boolean };

const frameArb = (): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 6, arbitrary: tcpSpecArb().map(tcpFrame) },
    { weight: 1, arbitrary: udpArb() },
    { weight: 1, arbitrary: arpArb },
    { weight: 1, arbitrary: rawArb },
    { weight: 3, arbitrary: fc.tuple(fc.oneof(tcpSpecArb().map(tcpFrame), udpArb(), arpArb, dnsSpecArb.map(dnsFrame)), fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([f, m]) => mutate(f, m)) },
  );

const followArb = fc.record({
  k: fc.constant('follow' as const),
  pick: fc.nat(50),
  act: fc.nat(9),
  len: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 200 }) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 1460 }) }),
  skew: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -3000, max: 3000 }) }),
  badAck: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  iss: u32,
  mss: fc.constantFrom(0, 0, 536, 1460, 1, 65535),
});

const dialArb = fc.record({
  k: fc.constant('dial' as const),
  to: fc.constantFrom(0, 0, 0, 1, 2, 3),
  guestPort: fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 40000, max: 40007 }) }, { weight: 1, arbitrary: fc.constantFrom(GUEST_HTTP_PORT, 1024, 65535) }, { weight: 1, arbitrary: u16 }),
  seq: u32,
  mss: fc.constantFrom(0, 1460, 536, 1, 65535),
  pick: fc.nat(1000),
});
const floodArb = fc.record({ k: fc.constant('flood' as const), pick: fc.nat(50), n: fc.integer({ min: 1, max: 3000 }) });
const waitArb = fc.record({ k: fc.constant('wait' as const), ms: fc.constantFrom(0, 0, 1, 2, 5) });
const clientArb = fc.record({ k: fc.constant('client' as const), pick: fc.nat(20), act: fc.constantFrom('write' as const, 'write' as const, 'end' as const, 'destroy' as const), size: fc.integer({ min: 1, max: 70000 }) });
const farArb = fc.record({
  k: fc.constant('far' as const),
  pick: fc.nat(20),
  act: fc.constantFrom('write' as const, 'write' as const, 'end' as const, 'destroy' as const, 'pause' as const, 'resume' as const),
  size: fc.integer({ min: 1, max: 100000 }),
});

/** The op mix of properties a and b: mostly frames and follow-ups, with time passing. */
const opArb = (): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 10, arbitrary: frameArb().map((frame) => ({ k: 'frame' as const, frame })) },
    { weight: 3, arbitrary: dnsSpecArb.map((q) => ({ k: 'dns' as const, q })) },
    { weight: 10, arbitrary: followArb },
    { weight: 3, arbitrary: dialArb },
    { weight: 1, arbitrary: floodArb },
    { weight: 4, arbitrary: waitArb },
    { weight: 2, arbitrary: fc.constant({ k: 'batch' as const }) },
    { weight: 1, arbitrary: fc.boolean().map((full) => ({ k: 'link' as const, full })) },
    { weight: 1, arbitrary: fc.constant({ k: 'accept' as const }) },
    { weight: 2, arbitrary: clientArb },
    { weight: 2, arbitrary: farArb },
  );

// --- the rig: interface + forwarder + gateway, wired as in ts/instance.ts ------------

interface Peer {
  ip: number;
  port: number;
  guestPort: number;
  hostNext: number;
  guestNext: number;
  /** The forwarder's SYN, not answered yet. */
  needSynAck: boolean;
}

/** Rule sets: the literal one of the brief, and one with names (whose answers only open farA's port). */
type Rules = 'literal' | 'names';

class Rig {
  readonly iface: NetInterface;
  readonly forwarder: Inbound;
  readonly gateway: Outbound;
  readonly problems: string[] = [];
  readonly violations: string[] = [];
  readonly connects: string[] = [];
  /** Addresses the fake resolver answered (a wildcard name rule may allow the public ones). */
  readonly resolved = new Set<number>();
  lookups = 0;
  /** Addresses guest TCP segments were addressed to (resets come from them). */
  readonly tcpDsts = new Set<number>();
  readonly dnsPorts = new Set<number>();
  readonly peers = new Map<string, Peer>();
  readonly clients: Socket[] = [];
  /** The worker's per-port hold flags, driven by the relays' pause callbacks. */
  readonly paused = new Uint8Array(65536);
  held = 0;
  /** Model the worker's pause (false: a guest that ignores it). */
  gate = true;
  framesOut = 0;
  sinkFull = false;
  accepted = 0;
  logLines = 0;

  constructor(readonly rules: Rules, egress: Omit<EgressOptions, 'allow'> = {}) {
    const allow = rules === 'literal' ? [`127.0.0.1:${farA.port}`] : [`127.0.0.1:${farA.port}`, `127.0.0.1:${deadPort}`, `allowed.test:${farA.port}`, `*.wild.test:${farA.port}`, `*.same.test:${farA.port}`];
    const setPaused = (port: number, p: boolean): void => {
      this.paused[port] = p ? 1 : 0;
    };
    const refuse = (port: number, reason: string): void => {
      // The guest keeps a reason in a 48-byte slot per port.
      if (!(port >= 0 && port <= 65535) || reason.length > 47) this.problems.push(`refusal for port ${port}: ${JSON.stringify(reason)}`);
    };
    // The host's end of the link exactly as an instance wires it.
    const router = new LinkRouter(CONFIG, { send: (frame) => this.fromHost(frame) }, { allow, ...egress }, {
      setPaused,
      refuse,
      log: () => this.logLines++,
      tap: (dstIp) => this.tcpDsts.add(dstIp),
    });
    this.iface = router.iface;
    this.forwarder = router.inbound;
    this.gateway = router.outbound;
    router.onGuestUp = () => {};
  }

  /** The oracle, written independently of egress.ts: may the guest reach ip:port? */
  allowed(a: number, port: number): boolean {
    if (a === LOOPBACK && port === farA.port) return true;
    if (this.rules === 'literal') return false;
    if (a === LOOPBACK && port === deadPort) return true;
    return port === farA.port && this.resolved.has(a) && isPublic(a);
  }

  /** May the host's resolver be asked about this (lower-case) name? */
  nameAllowed(name: string): boolean {
    if (this.rules === 'literal') return false;
    const n = name.replace(/\.$/, '');
    return n === 'allowed.test' || n.endsWith('.wild.test') || n.endsWith('.same.test');
  }

  // --- toward the guest ---

  private fromHost(frame: Uint8Array): boolean {
    if (this.sinkFull) return false;
    this.framesOut++;
    const p = this.outProblem(frame);
    // After its run (a late DNS answer, a far end's late close), a problem is the next run's failure.
    if (p !== null) (current === this ? this.problems : lateProblems).push(`${p}: ${Buffer.from(frame.subarray(0, 80)).toString('hex')}`);
    else this.learn(frame);
    return true;
  }

  /** Check one frame toward the guest from scratch; a problem or null. */
  outProblem(frame: Uint8Array): string | null {
    const checked = frameToGuestProblem(CONFIG, frame, this.dnsPorts);
    if (checked === null || typeof checked === 'string') return checked;
    const { ip: r, tcp: t } = checked;
    const plen = t.payloadEnd - t.payloadStart;
    if (r.src !== HOST_IP && !this.tcpDsts.has(r.src)) return `TCP from ${formatIpv4(r.src)}, never addressed`;
    if (t.flags & RST) return plen === 0 ? null : 'RST with data';
    if (plen > MAX_MSS) return `payload ${plen} > MSS`;
    if (t.flags & FIN && plen > 0) return 'FIN with data';
    if (r.src === HOST_IP) {
      // Only the forwarder speaks from the host address: its ports, the guest's listeners.
      if (t.srcPort < INBOUND_PORTS[0] || t.srcPort > INBOUND_PORTS[1] || !isGuestHttpPort(t.dstPort)) return `host ${t.srcPort}->${t.dstPort} is no inbound flow`;
      if (t.flags & SYN && t.flags !== SYN) return 'forwarder SYN with other flags';
    } else {
      if (!this.connects.includes(`${formatIpv4(r.src)}:${t.srcPort}`) || !this.allowed(r.src, t.srcPort)) return `${formatIpv4(r.src)}:${t.srcPort} never dialled`;
      if (t.flags & SYN && t.flags !== (SYN | ACK)) return 'an outbound flow answers with more than SYN|ACK';
    }
    if (!(t.flags & ACK) && !(t.flags & SYN)) return 'no ACK';
    return null;
  }

  /** Learn sequence numbers from the host's segments, for follow-ups. */
  private learn(frame: Uint8Array): void {
    if (frame[12] !== 0x08 || frame[13] !== 0x00 || frame[23] !== PROTO_TCP) return;
    const t = parseTcp(frame, 34, frame.length);
    if (typeof t === 'string') return;
    const src = readU32(frame, 26);
    const key = `${src}:${t.srcPort}:${t.dstPort}`;
    const len = t.payloadEnd - t.payloadStart;
    if (t.flags & RST) this.peers.delete(key);
    else if (t.flags === SYN) this.peers.set(key, { ip: src, port: t.srcPort, guestPort: t.dstPort, hostNext: seqAdd(t.seq, 1), guestNext: 0, needSynAck: true });
    else if (t.flags === (SYN | ACK)) this.peers.set(key, { ip: src, port: t.srcPort, guestPort: t.dstPort, hostNext: seqAdd(t.seq, 1), guestNext: t.ack, needSynAck: false });
    else {
      const p = this.peers.get(key);
      if (p) p.hostNext = seqAdd(t.seq, len + (t.flags & FIN ? 1 : 0));
    }
    if (this.peers.size > 64) this.peers.delete(this.peers.keys().next().value!);
  }

  // --- from the guest ---

  /** One frame from the guest through the worker's gate (held TCP data of a paused port waits: dropped here). */
  send(frame: Uint8Array): boolean {
    if (frame.length >= 54 && frame[12] === 0x08 && frame[13] === 0x00 && frame[23] === PROTO_TCP) {
      // ts/guest/worker.ts tcpData(): the data length and the port that names the flow.
      const ihl = (frame[14] & 15) * 4;
      const t = 14 + ihl;
      if (frame.length >= t + 20) {
        const data = ((frame[16] << 8) | frame[17]) - ihl - (frame[t + 12] >> 4) * 4;
        const src = (frame[t] << 8) | frame[t + 1];
        const port = isGuestHttpPort(src) ? (frame[t + 2] << 8) | frame[t + 3] : src;
        if (data > 0 && this.gate && this.paused[port] !== 0) {
          this.held++;
          return false;
        }
      }
    }
    if (frame.length >= 42 && frame[23] === PROTO_UDP) this.dnsPorts.add((frame[34] << 8) | frame[35]);
    this.iface.receive(frame);
    return true;
  }

  follow(op: Extract<Op, { k: 'follow' }>): void {
    const peers = [...this.peers.values()];
    if (peers.length === 0) return;
    const p = peers[op.pick % peers.length];
    let flags: number;
    let len = 0;
    let seq = seqAdd(p.guestNext, op.skew);
    let ack = op.badAck ? op.iss : p.hostNext;
    let options: number[] = [];
    if (p.needSynAck && op.act < 7) {
      flags = SYN | ACK;
      seq = op.iss;
      ack = p.hostNext;
      if (op.mss) options = [2, 4, op.mss >> 8, op.mss & 255];
    } else {
      flags = [ACK | PSH, ACK | PSH, ACK | PSH, ACK, FIN | ACK, ACK | PSH | FIN, RST, SYN, RST | ACK, op.iss & 0x3f][op.act];
      if (flags & PSH) len = op.len;
    }
    const payload = new Uint8Array(len);
    for (let i = 0; i < len; i++) payload[i] = (op.iss + i) & 255;
    const delivered = this.send(tcpFrame({ src: GUEST_IP, dst: p.ip, srcPort: p.guestPort, dstPort: p.port, seq, ack, flags, window: 65535, options, payload, trailing: 0 }));
    if (!delivered) return;
    if (flags === (SYN | ACK)) {
      p.needSynAck = false;
      p.guestNext = seqAdd(op.iss, 1);
    } else if (op.skew === 0) p.guestNext = seqAdd(p.guestNext, len + (flags & (SYN | FIN) ? 1 : 0));
  }

  async apply(op: Op): Promise<void> {
    switch (op.k) {
      case 'frame':
        this.send(op.frame);
        break;
      case 'dns':
        this.send(dnsFrame(op.q));
        break;
      case 'follow':
        this.follow(op);
        break;
      case 'dial': {
        const resolved = [...this.resolved];
        const [dst, port] = [[LOOPBACK, farA.port], [LOOPBACK, deadPort], [resolved[op.pick % Math.max(1, resolved.length)] ?? LOOPBACK, farA.port], [LOOPBACK, farB.port]][op.to];
        const options = op.mss ? [2, 4, op.mss >> 8, op.mss & 255] : [];
        this.send(tcpFrame({ src: GUEST_IP, dst, srcPort: op.guestPort, dstPort: port, seq: op.seq, ack: 0, flags: SYN, window: 65535, options, payload: new Uint8Array(0), trailing: 0 }));
        break;
      }
      case 'flood': {
        const peers = [...this.peers.values()].filter((p) => !p.needSynAck);
        if (peers.length === 0) break;
        const p = peers[op.pick % peers.length];
        const payload = new Uint8Array(1460).fill(0x64);
        for (let i = 0; i < op.n && this.peers.get(`${p.ip}:${p.port}:${p.guestPort}`) === p; i++) {
          const frame = tcpFrame({ src: GUEST_IP, dst: p.ip, srcPort: p.guestPort, dstPort: p.port, seq: p.guestNext, ack: p.hostNext, flags: ACK | PSH, window: 65535, options: [], payload, trailing: 0 });
          if (!this.send(frame)) break;
          p.guestNext = seqAdd(p.guestNext, payload.length);
          if (i % 16 === 15) this.gateway.batchEnd();
        }
        this.forwarder.batchEnd();
        this.gateway.batchEnd();
        break;
      }
      case 'wait':
        await (op.ms === 0 ? new Promise((r) => setImmediate(r)) : sleep(op.ms));
        break;
      case 'batch':
        this.forwarder.batchEnd();
        this.gateway.batchEnd();
        break;
      case 'link':
        this.sinkFull = op.full;
        break;
      case 'accept': {
        if (this.accepted >= 6) break;
        this.accepted++;
        const [client, server] = await socketPair();
        this.clients.push(client);
        server.allowHalfOpen = true;
        this.forwarder.accept(server);
        break;
      }
      case 'client': {
        const live = this.clients.filter((c) => !c.destroyed);
        if (live.length === 0) break;
        const c = live[op.pick % live.length];
        if (op.act === 'write') {
          if (!c.writableEnded) c.write(Buffer.alloc(op.size, 0x62));
        } else if (op.act === 'end') c.end();
        else c.destroy();
        break;
      }
      case 'far': {
        const socks = farA.sockets.filter((s) => !s.destroyed);
        if (socks.length === 0) break;
        const s = socks[op.pick % socks.length];
        if (op.act === 'write') {
          if (!s.writableEnded) s.write(Buffer.alloc(op.size, 0x63));
        } else if (op.act === 'end') s.end();
        else if (op.act === 'destroy') s.destroy();
        else if (op.act === 'pause') s.pause();
        else s.resume();
        break;
      }
      case 'synBurst': {
        let h = op.seed >>> 0;
        const rnd = (): number => (h = (Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
        for (let i = 0; i < op.n; i++) {
          const r = rnd() % 10;
          const dst = r < 4 ? rnd() : r < 6 ? LOOPBACK : r < 7 ? HOST_IP : [...this.resolved][rnd() % Math.max(1, this.resolved.size)] ?? LOOPBACK;
          const dstPort = r === 5 ? farA.port : r === 4 ? farB.port : rnd() & 0xffff;
          this.send(tcpFrame({ src: GUEST_IP, dst, srcPort: 32768 + (rnd() % 32768), dstPort, seq: rnd(), ack: 0, flags: SYN, window: 65535, options: [2, 4, 5, 180], payload: new Uint8Array(0), trailing: 0 }));
        }
        break;
      }
      case 'dnsBurst': {
        let h = op.seed >>> 0;
        for (let i = 0; i < op.n; i++) {
          h = (Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
          const name = h % 7 === 0 ? `n${h}.example.org` : `${op.slow && h % 2 ? 'slow' : ''}h${h % 100000}.${h % 5 === 0 ? 'same' : 'wild'}.test`;
          this.send(dnsFrame({ srcPort: 32768 + (h % 1000), id: h & 0xffff, name, type: 'A', questions: 1, response: false, flips: [] }));
        }
        break;
      }
    }
  }

  /** Sum of bytes the host holds for far-end sockets (gateway) and clients (forwarder). */
  buffered(): { toFar: number; toClients: number; perSocket: number } {
    let toFar = 0;
    let perSocket = 0;
    for (const relay of [this.gateway, this.forwarder]) {
      for (const f of (relay as unknown as { flows: Map<number, { socket: Socket }> }).flows.values()) {
        if (relay === this.gateway) toFar += f.socket.writableLength;
        perSocket = Math.max(perSocket, f.socket.writableLength);
      }
    }
    return { toFar, toClients: this.forwarder.stats().bufferedToClients, perSocket };
  }

  /** Internal sizes that must stay bounded. */
  sizes(): Record<string, number> {
    const g = this.gateway as unknown as {
      names: Map<number, Map<string, number>>;
      logged: Set<string>;
      dns: { pending: number };
      flows: Map<number, unknown>;
      ticking: Set<unknown>;
      stalled: Set<unknown>;
      touched: Set<unknown>;
    };
    const f = this.forwarder as unknown as { flows: Map<number, unknown>; synQueue: unknown[]; lingering: Set<unknown>; abandoned: Map<number, unknown>; ticking: Set<unknown>; stalled: Set<unknown>; touched: Set<unknown> };
    let names = 0;
    let maxPerAddress = 0;
    for (const m of g.names.values()) {
      names += m.size;
      maxPerAddress = Math.max(maxPerAddress, m.size);
    }
    return {
      gwFlows: g.flows.size,
      gwTicking: g.ticking.size,
      gwStalled: g.stalled.size,
      gwTouched: g.touched.size,
      addresses: g.names.size,
      names,
      maxPerAddress,
      logged: g.logged.size,
      dnsPending: g.dns.pending,
      fwFlows: f.flows.size,
      fwQueue: f.synQueue.length,
      fwLingering: f.lingering.size,
      fwAbandoned: f.abandoned.size,
      fwTicking: f.ticking.size,
      fwStalled: f.stalled.size,
      fwTouched: f.touched.size,
      refusedReasons: Object.keys(this.iface.counters.refused).length,
    };
  }

  /** Everything closed: RST everything, drop client sockets; true once nothing is left. */
  async teardown(): Promise<void> {
    this.sinkFull = false;
    await sleep(2); // let callbacks of what just happened run (their errors count)
    this.forwarder.closeAll();
    this.gateway.closeAll();
    for (const c of this.clients) c.destroy();
    for (const s of [...farA.sockets]) s.destroy();
  }
}

/** Run ops against a fresh rig; check as we go; tear down. */
async function runRig(rig: Rig, ops: Op[], checkEvery = 0, onCheck: (rig: Rig) => void = () => {}): Promise<void> {
  current = rig;
  // Never cleared: a late callback of an earlier run that threw fails this one.
  if (lateProblems.length > 0) throw new Error(`bad frame toward the guest after an earlier run: ${lateProblems[0]}`);
  try {
    rig.send(buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, HOST_IP)); // the guest's interface comes up
    for (let i = 0; i < ops.length; i++) {
      try {
        await rig.apply(ops[i]);
      } catch (e) {
        throw new Error(`op ${i} (${ops[i].k}) threw: ${(e as Error).stack}`);
      }
      if (checkEvery > 0 && i % checkEvery === checkEvery - 1) onCheck(rig);
      if (uncaught.length > 0) throw new Error(`a callback threw after op ${i}: ${(uncaught[0] as Error).stack ?? String(uncaught[0])}`);
      if (rig.problems.length > 0) throw new Error(`bad frame toward the guest after op ${i}: ${rig.problems[0]}`);
      if (rig.violations.length > 0) throw new Error(`policy violated after op ${i}: ${rig.violations.join('; ')}`);
    }
    onCheck(rig);
  } finally {
    await rig.teardown();
  }
  const g = rig.gateway.stats();
  const f = rig.forwarder.stats();
  if (g.active !== 0 || f.active !== 0) throw new Error(`closeAll left flows: gateway ${g.active}, forwarder ${f.active}`);
  if (uncaught.length > 0) throw new Error(`a callback threw: ${(uncaught[0] as Error).stack ?? String(uncaught[0])}`);
  if (rig.problems.length > 0) throw new Error(`bad frame toward the guest: ${rig.problems[0]}`);
  if (rig.violations.length > 0) throw new Error(`policy violated: ${rig.violations.join('; ')}`);
}

// --- set-up and tear-down of the shared far ends ------------------------------------

test.before(async () => {
  farA = await listen(true);
  farB = await listen(false);
  const dead = createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  deadPort = (dead.address() as { port: number }).port;
  await new Promise((resolve) => dead.close(resolve));
  pairServer = createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    s.on('error', () => {});
    pairWaiters.shift()?.(s);
  });
  await new Promise<void>((resolve) => pairServer.listen(0, '127.0.0.1', resolve));
  installFakes();
  if (VERBOSE) console.log(`fuzz: seed ${SEED}, scale ${SCALE}, budget ${BUDGET_MS || 'none'} ms per property`);
});

test.after(async () => {
  current = null;
  removeFakes();
  await closeFar(farA);
  await closeFar(farB);
  await new Promise((resolve) => pairServer.close(resolve));
});

// --- a. nothing throws; every frame toward the guest is well-formed ---------------------

prop('a. guest frames into interface + forwarder + gateway: nothing throws, every frame toward the guest is well-formed', async () => {
  let opened = 0;
  let held = 0;
  let frames = 0;
  await check(
    'a. well-formed',
    fc.asyncProperty(fc.constantFrom<Rules>('names', 'literal'), fc.array(opArb(), { minLength: 5, maxLength: 60 }), async (rules, ops) => {
      const rig = new Rig(rules, { maxConnections: 6, idleTimeoutMs: 2000 });
      await runRig(rig, ops);
      opened += rig.gateway.stats().opened;
      held += rig.held;
      frames += rig.framesOut;
    }),
    120,
  );
  if (VERBOSE) console.log(`  a: ${opened} outbound connections opened, ${frames} frames toward the guest, ${held} data frames held by pauses`);
  assert.ok(opened > 0, 'the fuzzer opened outbound connections');
});

// --- b. the egress policy holds -----------------------------------------------------

const policyOpArb = (): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 8, arbitrary: opArb() },
    // SYNs aimed at what must stay closed: farB, other loopback ports, the link, broadcast; spoofed sources.
    {
      weight: 6,
      arbitrary: fc
        .record({
          dst: fc.constantFrom(LOOPBACK, LOOPBACK, ip('127.0.0.2'), HOST_IP, ip('10.0.2.3'), ip('10.0.2.255'), ip('255.255.255.255'), ip('0.0.0.0'), ip('169.254.1.1'), ip('192.0.2.7'), GUEST_IP),
          dstPort: fc.constantFrom(farB.port, farB.port, farA.port, deadPort, 80, 53),
          src: srcIpArb,
          srcPort: srcPortArb,
          seq: u32,
          flags: fc.constantFrom(SYN, SYN, SYN | ACK, SYN | FIN, SYN | PSH),
        })
        .map((o) => ({ k: 'frame' as const, frame: tcpFrame({ ...o, ack: 0, window: 1024, options: [], payload: new Uint8Array(0), trailing: 0 }) })),
    },
    // DNS for random names, then SYNs to whatever was answered (with the allowed port and others).
    { weight: 3, arbitrary: dnsSpecArb.map((q) => ({ k: 'dns' as const, q })) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('synBurst' as const), n: fc.integer({ min: 1, max: 20 }), seed: u32 }) },
  );

prop('b. the policy: no guest frames dial a forbidden destination or ask about a forbidden name; farB never sees a connection', async () => {
  let denied = 0;
  let dials = 0;
  let dialsToA = 0;
  const bBefore = farB.connections;
  const aBefore = farA.connections;
  await check(
    'b. policy',
    fc.asyncProperty(fc.constantFrom<Rules>('literal', 'names'), fc.array(policyOpArb(), { minLength: 5, maxLength: 60 }), async (rules, ops) => {
      const rig = new Rig(rules, { maxConnections: 8 });
      await runRig(rig, ops);
      await sleep(3); // a forbidden dial would have arrived by now
      const s = rig.gateway.stats();
      denied += s.denied;
      dials += rig.connects.length;
      if (farB.connections !== bBefore) throw new Error(`farB saw ${farB.connections - bBefore} connections (dials: ${rig.connects.join(', ')})`);
      // Every dial is counted: opened, failed, or dropped (by the guest's RST, a port reuse, or closeAll).
      if (s.opened + s.failed > rig.connects.length) throw new Error(`opened ${s.opened} + failed ${s.failed} > ${rig.connects.length} dials`);
      dialsToA += rig.connects.filter((c) => c === `127.0.0.1:${farA.port}`).length;
      if (rules === 'literal' && rig.lookups > 0) throw new Error('the resolver was asked with no name rule');
    }),
    120,
  );
  await sleep(20);
  assert.ok(farA.connections - aBefore <= dialsToA, `farA saw ${farA.connections - aBefore} connections for ${dialsToA} dials`);
  assert.is(farB.connections, bBefore, 'farB never saw a connection');
  if (VERBOSE) console.log(`  b: ${denied} SYNs denied, ${dials} dials (all allowed)`);
  assert.ok(denied > 100, `denied ${denied}`);
  assert.ok(dials > 10, `dials ${dials}`);
});

// --- c. bounded memory ---------------------------------------------------------------

const MAX_CONNECTIONS = 8;
/** Per address, the names remembered (MAX_NAMES_PER_ADDRESS in ts/gateway.ts). */
const MAX_NAMES_PER_ADDRESS = 16;
const BOUNDS = { dnsPending: 64, addresses: 4096, logged: 1025, perSocket: MAX_BUFFERED + MAX_MSS };

function checkBounds(rig: Rig): void {
  const s = rig.sizes();
  const b = rig.buffered();
  const fail = (what: string): never => {
    throw new Error(`${what}: ${JSON.stringify({ ...s, ...b })}`);
  };
  if (rig.gateway.stats().active > MAX_CONNECTIONS || s.gwFlows > MAX_CONNECTIONS) fail('more outbound flows than maxConnections');
  if (s.dnsPending > BOUNDS.dnsPending) fail('DNS lookups pending');
  if (s.addresses > BOUNDS.addresses) fail('remembered addresses');
  if (s.maxPerAddress > MAX_NAMES_PER_ADDRESS) fail('names remembered for one address');
  if (s.logged > BOUNDS.logged || rig.logLines > BOUNDS.logged) fail(`denial log (${rig.logLines} lines)`);
  if (s.gwTicking > s.gwFlows || s.gwStalled > s.gwFlows) fail('gateway timers for flows that are gone');
  if (s.fwFlows > rig.accepted || s.fwQueue > rig.accepted) fail('forwarder flows');
  if (s.refusedReasons > 40) fail('refusal reasons');
  if (b.perSocket > BOUNDS.perSocket) fail('bytes buffered toward one socket');
}

const longOpArb = (): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ k: fc.constant('synBurst' as const), n: fc.integer({ min: 1, max: 60 }), seed: u32 }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('dnsBurst' as const), n: fc.integer({ min: 1, max: 80 }), seed: u32, slow: fc.boolean() }) },
    { weight: 10, arbitrary: followArb },
    { weight: 4, arbitrary: dialArb },
    { weight: 2, arbitrary: floodArb },
    { weight: 3, arbitrary: farArb },
    { weight: 2, arbitrary: fc.constant({ k: 'accept' as const }) },
    { weight: 2, arbitrary: clientArb },
    { weight: 4, arbitrary: opArb() },
    { weight: 3, arbitrary: waitArb },
    { weight: 2, arbitrary: fc.constant({ k: 'batch' as const }) },
  );

prop('c. bounded memory: long runs stay under every cap; closeAll leaves no flows, timers or sockets', async () => {
  let peak: Record<string, number> = {};
  await check(
    'c. bounded',
    fc.asyncProperty(fc.array(longOpArb(), { minLength: 300, maxLength: 600 }), async (ops) => {
      const rig = new Rig('names', { maxConnections: MAX_CONNECTIONS, idleTimeoutMs: 1000 });
      await runRig(rig, ops, 25, (r) => {
        checkBounds(r);
        const s: Record<string, number> = { ...r.sizes(), ...r.buffered(), held: r.held };
        for (const k of Object.keys(s)) peak[k] = Math.max(peak[k] ?? 0, s[k]);
      });
      // Nothing keeps running for the closed flows.
      await sleep(15);
      const s = rig.sizes();
      const leftovers = Object.entries(s).filter(([k, v]) => v !== 0 && !['addresses', 'names', 'maxPerAddress', 'logged', 'dnsPending', 'refusedReasons', 'fwQueue', 'gwTouched', 'fwTouched'].includes(k));
      if (leftovers.length > 0) throw new Error(`left after closeAll: ${JSON.stringify(Object.fromEntries(leftovers))}`);
      const timers = { gw: (rig.gateway as unknown as { timer: unknown; idleTimer: unknown }), fw: rig.forwarder as unknown as { timer: unknown } };
      if (timers.gw.timer !== null || timers.gw.idleTimer !== null || timers.fw.timer !== null) throw new Error('a relay timer still runs after closeAll');
    }),
    4,
    { endOnFailure: true },
  );
  if (VERBOSE) console.log(`  c: peaks ${JSON.stringify(peak)}`);
  assert.ok(peak.addresses > 500, `the runs remembered many addresses (${peak.addresses})`);
  assert.ok(peak.logged > 200, `and logged many denials (${peak.logged})`);
  assert.ok(peak.dnsPending >= 10, `and kept DNS lookups pending (${peak.dnsPending})`);
  assert.ok(peak.gwFlows >= 3, `and opened outbound flows (${peak.gwFlows})`);
});

prop('c. the caps themselves: resolutions fill the address table to its cap, denied destinations the log; one address keeps at most 16 names', async () => {
  const rig = new Rig('names', { maxConnections: MAX_CONNECTIONS });
  current = rig;
  try {
    for (let i = 0; i < 2500; i++) await rig.apply({ k: 'dnsBurst', n: 1, seed: 1000 + i * 7919, slow: false });
    for (let i = 0; i < 1100; i++) await rig.apply({ k: 'synBurst', n: 1, seed: 5000 + i * 104729 });
    // Many names for one address (a wildcard rule and a wildcard DNS zone): this grew
    // without bound before MAX_NAMES_PER_ADDRESS (ts/gateway.ts).
    for (let i = 0; i < 300; i++) rig.send(dnsFrame({ srcPort: 40000, id: i, name: `n${i}.same.test`, type: 'A', questions: 1, response: false, flips: [] }));
    await sleep(20);
    checkBounds(rig);
    const s = rig.sizes();
    assert.is(s.addresses, 4096, 'the address table is full, and no fuller');
    assert.ok(s.logged >= 1024, `logged ${s.logged}`);
    assert.ok(s.maxPerAddress <= MAX_NAMES_PER_ADDRESS, `names for one address: ${s.maxPerAddress}`);
    assert.equal(uncaught, []);
  } finally {
    await rig.teardown();
    current = null;
  }
});

// --- d. hostile clients through the whole path ------------------------------------------

interface ClientInput {
  bytes: Uint8Array;
  /** fin: half-close after sending; crlf: the bytes end with CRLFCRLF and the socket stays open; rst: destroy after sending. */
  end: 'fin' | 'crlf' | 'rst';
  split: number; // write in two pieces at this fraction (0: one write)
}

const tokenArb = fc.oneof(fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH', 'CONNECT', 'TRACE', 'BREW', 'get', ''), fc.string({ maxLength: 12 }));
const pathArb = fc.oneof(
  fc.constantFrom('/', '/hello/x', '/items/7', '/items/x', '/echo', '/json', '/form', '/query?a=1&b=%zz', '/files/a/../../b', '/stream', '/r/dict', '/nope', '/healthz', '*', '', '//', '/%00', `/${'a'.repeat(3000)}`),
  fc.webPath(),
  fc.string({ maxLength: 40 }),
);
const headerArb = fc.oneof(
  fc.constantFrom<[string, string]>(
    ['Host', 'x'],
    ['Content-Length', '5'],
    ['Content-Length', '-1'],
    ['Content-Length', '99999999999999999999'],
    ['Content-Length', '0'],
    ['Transfer-Encoding', 'chunked'],
    ['Connection', 'close'],
    ['Connection', 'keep-alive'],
    ['Content-Type', 'application/json'],
    ['Content-Type', 'application/x-www-form-urlencoded'],
    ['Cookie', 'a=b; c'],
    ['Authorization', 'Basic !!!'],
    ['Upgrade', 'websocket'],
    ['Expect', '100-continue'],
    ['X-Big', 'v'.repeat(9000)],
  ),
  fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 60 })),
);
const requestArb = fc
  .record({
    method: tokenArb,
    path: pathArb,
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x', '', 'http/1.1'),
    headers: fc.array(headerArb, { maxLength: 8 }),
    body: fc.oneof(fc.constant(''), fc.string({ maxLength: 100 }), fc.constantFrom('{"a":', '5\r\nhello\r\n0\r\n\r\n', 'zz\r\n', 'a=1&b')),
    eol: fc.constantFrom('\r\n', '\r\n', '\n', '\r'),
  })
  .map((r) => new Uint8Array(Buffer.from(`${r.method} ${r.path} ${r.version}${r.eol}${r.headers.map(([k, v]) => `${k}: ${v}${r.eol}`).join('')}${r.eol}${r.body}`)));
const clientBytesArb = fc.oneof(
  { weight: 3, arbitrary: requestArb },
  { weight: 3, arbitrary: fc.tuple(requestArb, fc.array(mutationArb, { minLength: 1, maxLength: 5 })).map(([b, m]) => mutate(b, m)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 3000 }) },
  { weight: 1, arbitrary: fc.constantFrom(new Uint8Array(0), new Uint8Array(Buffer.from('\r\n\r\n')), new Uint8Array(70000).fill(0x41), new Uint8Array(Buffer.from('GET / HTTP/1.1\r\n'.repeat(200)))) },
);
const clientInputArb: fc.Arbitrary<ClientInput> = fc.record({ bytes: clientBytesArb, end: fc.constantFrom<'fin' | 'crlf' | 'rst'>('fin', 'crlf', 'crlf', 'rst'), split: fc.constantFrom(0, 0, 0.5, 0.1) });

/** A complete head that gets no answer (it announced a body): the client half-closes after this. */
const HALF_CLOSE_AFTER_MS = 300;

/** Send one hostile input; resolves how it ended, rejects if it neither ended nor was answered in time. */
const slowest = { ms: 0, input: '' };

async function hostileClient(port: number, input: ClientInput, deadlineMs: number): Promise<'answered' | 'closed'> {
  const t0 = Date.now();
  let bytes = Buffer.from(input.bytes);
  if (input.end === 'crlf' && !bytes.subarray(-4).equals(Buffer.from('\r\n\r\n'))) bytes = Buffer.concat([bytes, Buffer.from('\r\n\r\n')]);
  return new Promise((resolve, reject) => {
    const s = realConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let answered = false;
    let fallback: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end and no answer within ${deadlineMs} ms: ${JSON.stringify(bytes.subarray(0, 200).toString('latin1'))} (${input.end})`));
    }, deadlineMs);
    const done = (how: 'answered' | 'closed'): void => {
      if (Date.now() - t0 > slowest.ms) Object.assign(slowest, { ms: Date.now() - t0, input: `${input.end} ${JSON.stringify(bytes.subarray(0, 120).toString('latin1'))}` });
      clearTimeout(deadline);
      clearTimeout(fallback);
      s.destroy();
      resolve(how);
    };
    s.on('error', () => {});
    s.on('data', () => {
      answered = true;
      // An answer is enough for liveness; keep reading until the deadline only if it is a stream.
      done('answered');
    });
    s.on('close', () => done(answered ? 'answered' : 'closed'));
    s.on('connect', () => {
      const cut = Math.floor(bytes.length * input.split);
      if (cut > 0) {
        s.write(bytes.subarray(0, cut));
        setTimeout(() => !s.destroyed && s.write(bytes.subarray(cut)), 2);
      } else s.write(bytes);
      if (input.end === 'fin') setTimeout(() => !s.destroyed && s.end(), cut > 0 ? 4 : 0);
      else if (input.end === 'rst') setTimeout(() => s.destroy(), cut > 0 ? 4 : 1);
      else {
        // The head is complete, but it may announce a body that never comes: half-close after a while.
        fallback = setTimeout(() => !s.destroyed && s.end(), HALF_CLOSE_AFTER_MS);
      }
    });
  });
}

prop('d. hostile clients through the whole path: the guest survives, every connection ends, a normal request still gets 200', async () => {
  let srv: TestServer;
  try {
    srv = await startServer({ app: appPath('webapp.py'), accessLog: false });
  } catch (e) {
    assert.unreachable(`cannot start the guest (npm run build first?): ${String(e)}`);
    return;
  }
  let exited: unknown = null;
  void srv.handle.exited.then((r) => (exited = r));
  const counts = { answered: 0, closed: 0, connections: 0 };
  try {
    await check(
      'd. hostile clients',
      fc.asyncProperty(fc.array(clientInputArb, { minLength: 1, maxLength: 10 }), async (inputs) => {
        const ends = await Promise.all(inputs.map((input) => hostileClient(srv.port, input, 15000)));
        for (const e of ends) counts[e]++;
        counts.connections += inputs.length;
        if (exited !== null) throw new Error(`the guest exited: ${JSON.stringify(exited)}`);
      }),
      35,
      { endOnFailure: true },
    );
    if (VERBOSE) console.log(`  d: ${counts.connections} connections: ${counts.answered} answered, ${counts.closed} closed without an answer; slowest ${slowest.ms} ms: ${slowest.input}`);
    assert.is(exited, null, 'the guest is still running');
    assert.equal(uncaught, [], 'no callback threw');
    const ok = await request(srv.port, '/');
    assert.is(ok.status, 200);
    assert.is(ok.body.toString(), '<h1>webapp</h1>');
    assert.is(await settled(srv), 0, 'no connection state left in the forwarder');
  } finally {
    await srv.handle.close({ drainTimeoutMs: 0 });
  }
});

// --- regressions: what the fuzzer found ------------------------------------------------

prop('r. ARP: the reply goes to the guest MAC, whatever sender MAC the request claims', async () => {
  const sent: Uint8Array[] = [];
  const iface = new NetInterface(CONFIG, { send: (f) => (sent.push(f.slice()), true) }, () => {});
  iface.receive(buildArp(ARP_REQUEST, parseMac('02:00:00:00:00:99'), GUEST_IP, BROADCAST_MAC, HOST_IP));
  assert.is(sent.length, 1);
  assert.equal([...sent[0].subarray(0, 6)], [...GUEST_MAC], 'Ethernet destination');
  assert.equal([...sent[0].subarray(32, 38)], [...GUEST_MAC], 'ARP target MAC');
  const a = parseArp(sent[0], 14);
  assert.ok(a !== null && a.op === ARP_REPLY && a.senderIp === HOST_IP && a.targetIp === GUEST_IP);
});

prop('r. DNS: a name that is not UTF-8 gets a reply that decodes (NXDOMAIN, no mangled question echoed)', async () => {
  const replies: Uint8Array[] = [];
  const dns = new DnsServer(new EgressPolicy(['*.test']), { reply: (_port, payload) => replies.push(payload), resolved: () => {}, denied: () => {} });
  const q = Buffer.from(dnsPacket.encode({ type: 'query', id: 5, questions: [{ type: 'A', name: `${'a'.repeat(63)}.test` }] }));
  q.fill(0xff, 13, 13 + 63); // the 63-byte label: bytes dns-packet decodes to U+FFFD (3 bytes each when re-encoded)
  dns.query(40000, q);
  assert.is(replies.length, 1);
  const r = dnsPacket.decode(Buffer.from(replies[0])); // threw before: a 189-byte label
  assert.equal([r.type, r.id, (r.flags ?? 0) & 15, r.questions?.length], ['response', 5, 3, 0]);
  // A valid name is still echoed.
  dns.query(40000, new Uint8Array(dnsPacket.encode({ type: 'query', id: 6, questions: [{ type: 'AAAA', name: 'Ok.Test' }] })));
  assert.equal(dnsPacket.decode(Buffer.from(replies[1])).questions, [{ name: 'Ok.Test', type: 'AAAA', class: 'IN' }]);
});

/** The established peer (handshake done) for a guest port, after waiting for it. */
async function peerFor(rig: Rig, pred: (p: Peer) => boolean): Promise<Peer> {
  for (let i = 0; i < 500; i++) {
    const p = [...rig.peers.values()].find(pred);
    if (p !== undefined) return p;
    await sleep(2);
  }
  throw new Error('no such peer');
}

/** Flood `peer` until the host resets it (or `max` segments); the largest per-socket buffer seen. */
async function floodUntilReset(rig: Rig, peer: Peer, max: number): Promise<{ peak: number; reset: boolean; held: number }> {
  let peak = 0;
  const key = `${peer.ip}:${peer.port}:${peer.guestPort}`;
  for (let sent = 0; sent < max && rig.peers.get(key) === peer; sent += 500) {
    const pick = [...rig.peers.values()].filter((p) => !p.needSynAck).indexOf(peer);
    await rig.apply({ k: 'flood', pick, n: 500 });
    peak = Math.max(peak, rig.buffered().perSocket);
    await new Promise((r) => setImmediate(r));
  }
  return { peak, reset: rig.peers.get(key) !== peer, held: rig.held };
}

prop('r. an outbound flow from the guest HTTP port floods a far end that does not read: reset at MAX_BUFFERED, not unbounded', async () => {
  // The worker names a flow from port 80 by its destination port, the gateway by 80: the pause does not hold it.
  const rig = new Rig('literal', { maxConnections: 8 });
  current = rig;
  try {
    rig.send(buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, HOST_IP));
    const before = farA.connections;
    await rig.apply({ k: 'dial', to: 0, guestPort: GUEST_HTTP_PORT, seq: 1, mss: 1460, pick: 0 });
    const peer = await peerFor(rig, (p) => p.guestPort === GUEST_HTTP_PORT && !p.needSynAck);
    while (farA.connections === before) await sleep(2);
    farA.sockets.at(-1)!.pause();
    const { peak, reset } = await floodUntilReset(rig, peer, 30000);
    assert.ok(reset, `the host reset the flow (peak ${peak})`);
    assert.ok(peak <= MAX_BUFFERED + MAX_MSS, `peak ${peak}`);
    await sleep(5);
    assert.is(rig.gateway.stats().active, 0);
    assert.equal(uncaught, []);
    assert.equal(rig.problems, []);
  } finally {
    await rig.teardown();
  }
});

prop('r. an inbound flow: a guest that ignores the pause toward a client that does not read is reset at MAX_BUFFERED', async () => {
  const rig = new Rig('literal');
  current = rig;
  try {
    rig.send(buildArp(ARP_REQUEST, GUEST_MAC, GUEST_IP, BROADCAST_MAC, HOST_IP));
    await rig.apply({ k: 'accept' });
    const syn = await peerFor(rig, (p) => p.ip === HOST_IP && p.needSynAck);
    rig.follow({ k: 'follow', pick: [...rig.peers.values()].indexOf(syn), act: 0, len: 1, skew: 0, badAck: false, iss: 1000, mss: 1460 });
    rig.clients[0].pause();
    // An honest guest is held by the pause...
    const honest = await floodUntilReset(rig, syn, 6000);
    assert.ok(!honest.reset && honest.held > 0, 'the pause holds an honest guest');
    // ...one that ignores it is cut off.
    rig.gate = false;
    const { peak, reset } = await floodUntilReset(rig, syn, 30000);
    assert.ok(reset, `the host reset the flow (peak ${peak})`);
    assert.ok(peak <= MAX_BUFFERED + MAX_MSS, `peak ${peak}`);
    assert.is(rig.forwarder.stats().active, 0);
    assert.equal(uncaught, []);
    assert.equal(rig.problems, []);
  } finally {
    await rig.teardown();
  }
});

test.run();
