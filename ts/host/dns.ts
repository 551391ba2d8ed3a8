// The gateway's DNS server (UDP 53 on 10.0.2.2): answers the guest's A
// queries through the host's resolver, for names the egress policy allows;
// other names get NXDOMAIN. The packet codec is dns-packet's.
import type DnsPacket from 'dns-packet';
import { createRequire } from 'node:module';
import { lookup } from 'node:dns/promises';
import { normalizeName, type EgressPolicy } from './egress.js';
import { type Ipv4, parseIpv4 } from '../net/wire/ipv4.js';

// Loaded on the first query: most apps make none, and loading it costs about
// 10 ms of the process's start-up.
let loaded: typeof DnsPacket | undefined;
const codec = (): typeof DnsPacket => (loaded ??= createRequire(import.meta.url)('dns-packet') as typeof DnsPacket);

const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
const RCODE_NOTIMP = 4;
const MAX_ANSWERS = 8;
/** Mongoose gives up on a query after 3 s; answer (SERVFAIL) before that. */
const LOOKUP_TIMEOUT_MS = 2500;
/** Queries being resolved at once; more get SERVFAIL rather than queueing. */
const MAX_PENDING = 64;
export const DNS_TTL_S = 60;

export interface DnsEvents {
  /** Send a reply datagram to the guest's port. */
  reply(guestPort: number, payload: Uint8Array): void;
  /** The guest resolved `name` to these addresses (the policy may allow them by name). */
  resolved(name: string, addresses: Ipv4[]): void;
  /** A name the policy does not allow was asked for. */
  denied(name: string): void;
}

type Resolver = (name: string) => Promise<string[]>;

const hostResolver: Resolver = async (name) => (await lookup(name, { family: 4, all: true })).map((a) => a.address);

export class DnsServer {
  private pending = 0;
  readonly counters = { queries: 0, answered: 0, nxdomain: 0, servfail: 0, malformed: 0 };

  constructor(
    private readonly policy: EgressPolicy,
    private readonly events: DnsEvents,
    private readonly resolve: Resolver = hostResolver,
  ) {}

  /** A datagram from the guest to port 53. */
  query(guestPort: number, payload: Uint8Array): void {
    const dnsPacket = codec();
    let packet: ReturnType<typeof DnsPacket.decode>;
    try {
      packet = dnsPacket.decode(Buffer.from(payload));
    } catch {
      this.counters.malformed++;
      return;
    }
    this.counters.queries++;
    const questions = packet.questions ?? [];
    const question = questions[0];
    const send = (rcode: number, answers: Ipv4[] = []): void => {
      if (rcode === RCODE_NXDOMAIN) this.counters.nxdomain++;
      else if (rcode === RCODE_SERVFAIL) this.counters.servfail++;
      else this.counters.answered++;
      const reply = dnsPacket.encode({
        type: 'response',
        id: packet.id,
        flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | rcode,
        // Echo only a valid name: dns-packet decodes bytes that are not UTF-8 to
        // U+FFFD, which would re-encode as a longer (malformed) label.
        questions: question && normalizeName(question.name) !== null ? [question] : [],
        answers: answers.map((ip) => ({
          type: 'A' as const,
          name: question.name,
          ttl: DNS_TTL_S,
          data: [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.'),
        })),
      });
      this.events.reply(guestPort, reply);
    };
    if (packet.type !== 'query' || questions.length !== 1) return send(RCODE_NOTIMP);
    const name = normalizeName(question.name);
    if (name === null) return send(RCODE_NXDOMAIN);
    if (!this.policy.allowsName(name)) {
      this.events.denied(name);
      return send(RCODE_NXDOMAIN);
    }
    if (question.type !== 'A' || (question.class ?? 'IN') !== 'IN') return send(0); // no data: the guest speaks IPv4
    if (this.pending >= MAX_PENDING) return send(RCODE_SERVFAIL);
    this.pending++;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEOUT' })), LOOKUP_TIMEOUT_MS);
    });
    Promise.race([this.resolve(name), timeout])
      .then((addresses) => {
        const ips = [...new Set(addresses)].slice(0, MAX_ANSWERS).map(parseIpv4);
        if (ips.length === 0) return send(RCODE_NXDOMAIN);
        this.events.resolved(name, ips);
        send(0, ips);
      })
      .catch((err: NodeJS.ErrnoException) => {
        send(err.code === 'ENOTFOUND' || err.code === 'ENODATA' ? RCODE_NXDOMAIN : RCODE_SERVFAIL);
      })
      .finally(() => {
        clearTimeout(timer);
        this.pending--;
      });
  }
}
