// The egress policy (--allow rules) and the gateway's DNS server, driven
// directly: rules parsed and checked, DNS queries in and replies decoded with
// dns-packet, through a fake resolver.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import dnsPacket from 'dns-packet';
import { EgressPolicy, EgressRuleError, isSpecialAddress, normalizeName, parseAllowRule } from '../../ts/host/egress.js';
import { DNS_TTL_S, DnsServer } from '../../ts/host/dns.js';
import { formatIpv4, parseIpv4 } from '../../ts/net/wire/ipv4.js';

const ip = parseIpv4;

function ruleError(text: string): string {
  try {
    parseAllowRule(text);
  } catch (e) {
    assert.instance(e, EgressRuleError, `${text}: an EgressRuleError`);
    return (e as Error).message;
  }
  assert.unreachable(`${text} was accepted`);
  return '';
}

// ---------------------------------------------------------------------------
const Parse = suite('egress parseAllowRule');

Parse('accepts names, wildcards, *, addresses and networks, with or without a port', () => {
  assert.equal(parseAllowRule('example.com'), { text: 'example.com', pattern: { kind: 'name', name: 'example.com' }, port: null });
  assert.equal(parseAllowRule('Example.COM.:443'), { text: 'Example.COM.:443', pattern: { kind: 'name', name: 'example.com' }, port: 443 });
  assert.equal(parseAllowRule('*.example.com'), { text: '*.example.com', pattern: { kind: 'suffix', suffix: '.example.com' }, port: null });
  assert.equal(parseAllowRule('*.Example.com:8883').pattern, { kind: 'suffix', suffix: '.example.com' });
  assert.equal(parseAllowRule('*'), { text: '*', pattern: { kind: 'any' }, port: null });
  assert.equal(parseAllowRule('*:1'), { text: '*:1', pattern: { kind: 'any' }, port: 1 });
  assert.equal(parseAllowRule('203.0.113.7:65535'), {
    text: '203.0.113.7:65535',
    pattern: { kind: 'net', net: ip('203.0.113.7'), mask: 0xffffffff, bits: 32 },
    port: 65535,
  });
  assert.equal(parseAllowRule('10.0.0.0/8').pattern, { kind: 'net', net: ip('10.0.0.0'), mask: 0xff000000, bits: 8 });
  assert.equal(parseAllowRule('0.0.0.0/0').pattern, { kind: 'net', net: 0, mask: 0, bits: 0 });
  assert.equal(parseAllowRule('192.168.1.128/25').pattern, { kind: 'net', net: ip('192.168.1.128'), mask: 0xffffff80, bits: 25 });
  assert.is(parseAllowRule('  localhost:8080  ').text, 'localhost:8080', 'trimmed');
  assert.is(parseAllowRule('under_score.example').port, null);
});

Parse('rejects bad rules with a message naming the rule', () => {
  const cases: [string, RegExp][] = [
    ['exa*mple.com', /^--allow exa\*mple\.com: exa\*mple\.com is not a host name, address, network or \*\.domain$/],
    ['*example.com', /^--allow \*example\.com: .*not a host name/],
    ['*.*.example.com', /^--allow \*\.\*\.example\.com: \*\.\*\.example\.com is not a valid wildcard name$/],
    ['*.', /^--allow \*\.: .*not a valid wildcard name/],
    ['10.0.0.1/33', /^--allow 10\.0\.0\.1\/33: a prefix length is 0 to 32$/],
    ['10.0.0.1/8', /^--allow 10\.0\.0\.1\/8: 10\.0\.0\.1 has bits set outside \/8 \(did you mean 10\.0\.0\.0\/8\?\)$/],
    ['127.0.0.0/7', /^--allow 127\.0\.0\.0\/7: .*did you mean 126\.0\.0\.0\/7\?/],
    ['256.1.1.1', /^--allow 256\.1\.1\.1: 256\.1\.1\.1 is not an IPv4 address$/],
    ['1.2.3.4/', /^--allow 1\.2\.3\.4\/: /],
    ['[::1]:80', /^--allow \[::1\]:80: IPv6 destinations are not supported/],
    ['[::1]', /^--allow \[::1\]: IPv6/],
    ['::1', /^--allow ::1: IPv6 destinations are not supported/],
    ['2001:db8::1:443', /^--allow 2001:db8::1:443: IPv6/],
    ['example.com:0', /^--allow example\.com:0: the port must be 1 to 65535$/],
    ['example.com:65536', /^--allow example\.com:65536: the port must be 1 to 65535$/],
    ['example.com:x', /^--allow example\.com:x: the port must be 1 to 65535$/],
    ['example.com:', /^--allow example\.com:: the port must be 1 to 65535$/],
    ['example.com:-1', /the port must be 1 to 65535/],
    ['example.com:123456', /the port must be 1 to 65535/],
    ['-bad.example', /^--allow -bad\.example: .*not a host name/],
    ['a..b', /^--allow a\.\.b: /],
    [':80', /^--allow :80: /],
    ['', /^--allow needs HOST\[:PORT\]$/],
    ['   ', /^--allow needs HOST\[:PORT\]$/],
  ];
  for (const [text, re] of cases) {
    const msg = ruleError(text);
    assert.match(msg, re, `${JSON.stringify(text)} -> ${msg}`);
  }
});

Parse('EgressPolicy throws on the first bad rule', () => {
  assert.throws(() => new EgressPolicy(['example.com', 'exa*mple.com']), (e: Error) => e instanceof EgressRuleError && e.message.includes('exa*mple.com'));
  assert.is(new EgressPolicy(['example.com', '*.example.org:443']).rules.length, 2);
  assert.is(new EgressPolicy().rules.length, 0);
});

Parse.run();

// ---------------------------------------------------------------------------
const Names = suite('egress names and special addresses');

Names('normalizeName: lower case, trailing dot, invalid names', () => {
  assert.is(normalizeName('Example.COM.'), 'example.com');
  assert.is(normalizeName('a_b.example'), 'a_b.example');
  assert.is(normalizeName('x'), 'x');
  assert.is(normalizeName('a'.repeat(63) + '.com'), 'a'.repeat(63) + '.com');
  for (const bad of ['', '.', '..', 'a..b', '.a', '-a.com', 'a-.com', 'a b.com', 'a*.com', '*.a.com', 'a'.repeat(64) + '.com', `${'a.'.repeat(127)}ab`]) {
    assert.is(normalizeName(bad), null, JSON.stringify(bad));
  }
  assert.is(normalizeName(`${'a.'.repeat(126)}a`)?.length, 253, '253 characters is the limit');
});

Names('isSpecialAddress: loopback, link-local and 0.0.0.0/8 only', () => {
  for (const a of ['127.0.0.1', '127.255.255.255', '127.0.0.0', '169.254.0.1', '169.254.169.254', '169.254.255.255', '0.0.0.0', '0.255.255.255']) {
    assert.ok(isSpecialAddress(ip(a)), a);
  }
  for (const a of ['126.255.255.255', '128.0.0.1', '169.253.255.255', '169.255.0.0', '1.0.0.0', '10.0.0.1', '192.168.1.1', '8.8.8.8', '255.255.255.255']) {
    assert.not.ok(isSpecialAddress(ip(a)), a);
  }
});

Names.run();

// ---------------------------------------------------------------------------
const Check = suite('egress EgressPolicy.check');

const PUBLIC = ip('93.184.216.34');

Check('no rules: everything is denied, with the default-deny reason', () => {
  const p = new EgressPolicy();
  assert.is(p.check(PUBLIC, 443, ['example.com']), 'no --allow rules (outbound is denied by default)');
  assert.is(p.check(ip('127.0.0.1'), 80, ['localhost']), 'loopback and link-local need an explicit --allow');
  assert.not.ok(p.allowsName('example.com'));
});

Check('an exact name allows the addresses it resolved to, and only with that name', () => {
  const p = new EgressPolicy(['example.com']);
  assert.is(p.check(PUBLIC, 443, ['example.com']), null);
  assert.is(p.check(PUBLIC, 1, ['other.net', 'example.com']), null, 'any of the names');
  assert.is(p.check(PUBLIC, 443, []), 'no --allow rule matches', 'an address nobody resolved');
  assert.is(p.check(PUBLIC, 443, ['www.example.com']), 'no --allow rule matches', 'not subdomains');
  assert.is(p.check(PUBLIC, 443, ['badexample.com']), 'no --allow rule matches');
});

Check('rules in any case and with a trailing dot match normalized names', () => {
  const p = new EgressPolicy(['EXAMPLE.Com.', '*.Example.ORG.']);
  assert.is(p.check(PUBLIC, 80, ['example.com']), null);
  assert.is(p.check(PUBLIC, 80, ['a.example.org']), null);
  assert.ok(p.allowsName('example.com'));
  assert.ok(p.allowsName('a.example.org'));
});

Check('a wildcard allows subdomains at any depth, not the apex or look-alikes', () => {
  const p = new EgressPolicy(['*.example.com']);
  assert.is(p.check(PUBLIC, 443, ['a.example.com']), null);
  assert.is(p.check(PUBLIC, 443, ['a.b.example.com']), null);
  assert.is(p.check(PUBLIC, 443, ['example.com']), 'no --allow rule matches');
  assert.is(p.check(PUBLIC, 443, ['aexample.com']), 'no --allow rule matches');
  assert.is(p.check(PUBLIC, 443, ['example.com.evil.net']), 'no --allow rule matches');
  assert.is(p.check(PUBLIC, 443, []), 'no --allow rule matches');
});

Check('ports: a rule with a port allows only that port; rules combine', () => {
  const p = new EgressPolicy(['example.com:443', '*.example.net:8883', '198.51.100.0/24:22']);
  assert.is(p.check(PUBLIC, 443, ['example.com']), null);
  assert.is(p.check(PUBLIC, 80, ['example.com']), 'no --allow rule matches');
  assert.is(p.check(PUBLIC, 8883, ['broker.example.net']), null);
  assert.is(p.check(PUBLIC, 1883, ['broker.example.net']), 'no --allow rule matches');
  assert.is(p.check(ip('198.51.100.9'), 22, []), null);
  assert.is(p.check(ip('198.51.100.9'), 23, []), 'no --allow rule matches');
  assert.is(p.check(ip('198.51.100.9'), 443, ['example.com']), null, 'the name rule allows any address it resolved to');
  const any = new EgressPolicy(['example.com']);
  for (const port of [1, 80, 443, 65535]) assert.is(any.check(PUBLIC, port, ['example.com']), null, `port ${port}`);
});

Check('addresses and CIDR networks, without any name', () => {
  const p = new EgressPolicy(['203.0.113.7', '10.0.0.0/8', '192.168.1.128/25:80']);
  assert.is(p.check(ip('203.0.113.7'), 5, []), null);
  assert.is(p.check(ip('203.0.113.8'), 5, []), 'no --allow rule matches');
  assert.is(p.check(ip('10.0.0.0'), 1, []), null);
  assert.is(p.check(ip('10.255.255.255'), 1, []), null);
  assert.is(p.check(ip('11.0.0.0'), 1, []), 'no --allow rule matches');
  assert.is(p.check(ip('9.255.255.255'), 1, []), 'no --allow rule matches');
  assert.is(p.check(ip('192.168.1.128'), 80, []), null);
  assert.is(p.check(ip('192.168.1.255'), 80, []), null);
  assert.is(p.check(ip('192.168.1.127'), 80, []), 'no --allow rule matches');
  assert.is(p.check(ip('192.168.1.200'), 81, []), 'no --allow rule matches');
  assert.not.ok(p.allowsName('10.0.0.1'), 'address rules allow no names');
  assert.not.ok(p.allowsName('example.com'));
});

Check('* and 0.0.0.0/0 allow any public address, never loopback, link-local or 0/8', () => {
  for (const rules of [['*'], ['0.0.0.0/0'], ['*', '0.0.0.0/0', '*.example.com', '96.0.0.0/3']]) {
    const p = new EgressPolicy(rules);
    for (const a of ['8.8.8.8', '10.1.2.3', '126.255.255.255', '128.0.0.1', '223.255.255.255']) {
      assert.is(p.check(ip(a), 443, []), null, `${rules.join(' ')} -> ${a}`);
    }
    for (const a of ['127.0.0.1', '127.1.2.3', '169.254.169.254', '0.0.0.0', '0.1.2.3']) {
      assert.is(p.check(ip(a), 443, ['a.example.com']), 'loopback and link-local need an explicit --allow', `${rules.join(' ')} -> ${a}`);
    }
  }
  assert.ok(new EgressPolicy(['*']).allowsName('anything.at.all'));
  assert.not.ok(new EgressPolicy(['0.0.0.0/0']).allowsName('example.com'));
});

Check('loopback and link-local are reached by rules that name them', () => {
  const one = new EgressPolicy(['127.0.0.1']);
  assert.is(one.check(ip('127.0.0.1'), 8080, []), null);
  assert.is(one.check(ip('127.0.0.2'), 8080, []), 'loopback and link-local need an explicit --allow');
  const net = new EgressPolicy(['127.0.0.0/8:6379']);
  assert.is(net.check(ip('127.0.0.1'), 6379, []), null);
  assert.is(net.check(ip('127.9.9.9'), 6379, []), null);
  assert.is(net.check(ip('127.0.0.1'), 6380, []), 'loopback and link-local need an explicit --allow');
  const inside = new EgressPolicy(['127.0.0.0/16']);
  assert.is(inside.check(ip('127.0.5.5'), 1, []), null, 'a network inside the range names it too');
  assert.is(inside.check(ip('127.1.0.0'), 1, []), 'loopback and link-local need an explicit --allow');
  const wider = new EgressPolicy(['126.0.0.0/7']);
  assert.is(wider.check(ip('126.1.1.1'), 1, []), null);
  assert.is(wider.check(ip('127.0.0.1'), 1, []), 'loopback and link-local need an explicit --allow', 'a wider network does not');
  const meta = new EgressPolicy(['169.254.169.254:80']);
  assert.is(meta.check(ip('169.254.169.254'), 80, []), null);
  assert.is(meta.check(ip('169.254.169.253'), 80, []), 'loopback and link-local need an explicit --allow');
});

Check('an exact name reaches a loopback address it resolved to; a wildcard does not (rebinding)', () => {
  const p = new EgressPolicy(['app.example', '*.example.com']);
  assert.is(p.check(ip('127.0.0.1'), 3000, ['app.example']), null);
  assert.is(p.check(ip('127.0.0.5'), 3000, ['app.example']), null);
  assert.is(p.check(ip('127.0.0.1'), 3000, []), 'loopback and link-local need an explicit --allow', 'only when the guest resolved the name');
  assert.is(p.check(ip('127.0.0.1'), 3000, ['evil.example.com']), 'loopback and link-local need an explicit --allow');
  assert.is(p.check(ip('169.254.169.254'), 80, ['metadata.example.com']), 'loopback and link-local need an explicit --allow');
  assert.is(new EgressPolicy(['app.example:3000']).check(ip('127.0.0.1'), 3001, ['app.example']), 'loopback and link-local need an explicit --allow');
});

Check('localhost: 127.0.0.1 counts as named localhost (Mongoose resolves it without asking the gateway)', () => {
  const p = new EgressPolicy(['localhost:3000']);
  assert.is(p.check(ip('127.0.0.1'), 3000, []), null);
  assert.is(p.check(ip('127.0.0.1'), 3000, ['localhost']), null, 'or resolved through the gateway');
  assert.is(p.check(ip('127.0.0.1'), 3001, []), 'loopback and link-local need an explicit --allow');
  assert.is(p.check(ip('127.0.0.2'), 3000, []), 'loopback and link-local need an explicit --allow', 'only 127.0.0.1 implicitly');
  assert.is(p.check(ip('127.0.0.2'), 3000, ['localhost']), null, 'another loopback address the guest resolved localhost to');
  // The implicit name gives nothing to rules that do not name localhost exactly.
  for (const rule of ['*', '*.localhost', 'example.com', '0.0.0.0/0']) {
    assert.is(new EgressPolicy([rule]).check(ip('127.0.0.1'), 3000, []), 'loopback and link-local need an explicit --allow', rule);
  }
  assert.is(new EgressPolicy(['LocalHost.']).check(ip('127.0.0.1'), 1, []), null, 'the rule is normalized');
});

Check('allowsName: whether some rule could allow a name', () => {
  const p = new EgressPolicy(['example.com:443', '*.example.net', '10.0.0.0/8']);
  assert.ok(p.allowsName('example.com'), 'a port-limited rule still allows resolving');
  assert.not.ok(p.allowsName('www.example.com'));
  assert.ok(p.allowsName('a.example.net'));
  assert.ok(p.allowsName('a.b.example.net'));
  assert.not.ok(p.allowsName('example.net'));
  assert.not.ok(p.allowsName('localhost'));
});

Check.run();

// ---------------------------------------------------------------------------
const Dns = suite('dns server');

interface Harness {
  dns: DnsServer;
  replies: { port: number; packet: ReturnType<typeof dnsPacket.decode> }[];
  resolved: [string, string[]][];
  denied: string[];
  asked: string[];
}

function harness(allow: string[], resolve: (name: string) => Promise<string[]>): Harness {
  const h: Harness = { dns: undefined as unknown as DnsServer, replies: [], resolved: [], denied: [], asked: [] };
  h.dns = new DnsServer(
    new EgressPolicy(allow),
    {
      reply: (port, payload) => h.replies.push({ port, packet: dnsPacket.decode(Buffer.from(payload)) }),
      resolved: (name, ips) => h.resolved.push([name, ips.map(formatIpv4)]),
      denied: (name) => h.denied.push(name),
    },
    (name) => {
      h.asked.push(name);
      return resolve(name);
    },
  );
  return h;
}

function query(id: number, name: string, type: 'A' | 'AAAA' | 'MX' = 'A', extra: Partial<dnsPacket.Packet> = {}): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }], ...extra }));
}

const rcode = (p: { flags?: number }): number => (p.flags ?? 0) & 15;
const NOERROR = 0;
const SERVFAIL = 2;
const NXDOMAIN = 3;
const NOTIMP = 4;

/** Let the resolver's promise chain run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

Dns('an allowed A query: the reply carries the id, the question and the addresses', async () => {
  const h = harness(['example.com'], async () => ['93.184.216.34', '93.184.216.35']);
  h.dns.query(49152, query(0xbeef, 'example.com'));
  assert.is(h.replies.length, 0, 'answered once resolved');
  await settle();
  assert.equal(h.asked, ['example.com']);
  assert.is(h.replies.length, 1);
  const { port, packet } = h.replies[0];
  assert.is(port, 49152);
  assert.is(packet.id, 0xbeef);
  assert.is(packet.type, 'response');
  assert.is(rcode(packet), NOERROR);
  assert.ok(packet.flag_rd && packet.flag_ra);
  assert.equal(packet.questions, [{ name: 'example.com', type: 'A', class: 'IN' }]);
  assert.equal(
    (packet.answers as { type: string; name: string; ttl: number; data: string }[]).map((a) => [a.type, a.name, a.ttl, a.data]),
    [
      ['A', 'example.com', DNS_TTL_S, '93.184.216.34'],
      ['A', 'example.com', DNS_TTL_S, '93.184.216.35'],
    ],
  );
  assert.equal(h.resolved, [['example.com', ['93.184.216.34', '93.184.216.35']]]);
  assert.equal(h.denied, []);
  assert.equal(h.dns.counters, { queries: 1, answered: 1, nxdomain: 0, servfail: 0, malformed: 0 });
});

Dns('the name is normalized for the policy and the resolver; duplicates dropped, at most 8 answers', async () => {
  const many = ['1.1.1.1', '1.1.1.1', ...Array.from({ length: 12 }, (_, i) => `198.51.100.${i + 1}`)];
  const h = harness(['*.example.com'], async () => many);
  h.dns.query(1000, query(7, 'WWW.Example.COM.'));
  await settle();
  assert.equal(h.asked, ['www.example.com']);
  const p = h.replies[0].packet;
  assert.is(p.answers!.length, 8);
  assert.equal(
    p.answers!.map((a) => (a as { data: string }).data),
    ['1.1.1.1', ...Array.from({ length: 7 }, (_, i) => `198.51.100.${i + 1}`)],
  );
  assert.is(h.resolved[0][0], 'www.example.com');
  assert.is(h.resolved[0][1].length, 8);
});

Dns('a name the policy does not allow: NXDOMAIN at once, denied(), the resolver is not asked', () => {
  const h = harness(['example.com'], async () => ['1.2.3.4']);
  h.dns.query(5353, query(42, 'Evil.Example.NET'));
  assert.is(h.replies.length, 1, 'answered synchronously');
  assert.is(h.replies[0].port, 5353);
  assert.is(h.replies[0].packet.id, 42);
  assert.is(rcode(h.replies[0].packet), NXDOMAIN);
  assert.equal(h.replies[0].packet.answers, []);
  assert.equal(h.replies[0].packet.questions!.map((q) => q.name), ['Evil.Example.NET']);
  assert.equal(h.denied, ['evil.example.net']);
  assert.equal(h.asked, []);
  assert.equal(h.resolved, []);
  assert.equal(h.dns.counters, { queries: 1, answered: 0, nxdomain: 1, servfail: 0, malformed: 0 });
  // With no rules at all, every name is denied.
  const none = harness([], async () => ['1.2.3.4']);
  none.dns.query(1, query(1, 'example.com'));
  assert.is(rcode(none.replies[0].packet), NXDOMAIN);
  assert.equal(none.denied, ['example.com']);
});

Dns('resolver errors: ENOTFOUND and ENODATA are NXDOMAIN, no addresses is NXDOMAIN, others SERVFAIL', async () => {
  const fail = (code?: string) => async (): Promise<string[]> => {
    throw Object.assign(new Error('lookup failed'), code ? { code } : {});
  };
  const cases: [(name: string) => Promise<string[]>, number][] = [
    [fail('ENOTFOUND'), NXDOMAIN],
    [fail('ENODATA'), NXDOMAIN],
    [async () => [], NXDOMAIN],
    [fail('ESERVFAIL'), SERVFAIL],
    [fail('ECONNREFUSED'), SERVFAIL],
    [fail(), SERVFAIL],
    [async () => ['::1'], SERVFAIL], // not an IPv4 address
  ];
  for (const [resolve, expected] of cases) {
    const h = harness(['*'], resolve);
    h.dns.query(2000, query(9, 'missing.example'));
    await settle();
    assert.is(h.replies.length, 1);
    assert.is(h.replies[0].packet.id, 9);
    assert.is(rcode(h.replies[0].packet), expected, String(resolve));
    assert.equal(h.replies[0].packet.answers, []);
    assert.equal(h.resolved, [], 'nothing remembered');
    assert.equal(h.denied, []);
    assert.is(h.dns.counters.nxdomain + h.dns.counters.servfail, 1);
  }
});

Dns('AAAA and other types: NOERROR with no answers, without asking the resolver', () => {
  const h = harness(['example.com'], async () => ['1.2.3.4']);
  h.dns.query(3000, query(11, 'example.com', 'AAAA'));
  h.dns.query(3000, query(12, 'example.com', 'MX'));
  assert.is(h.replies.length, 2);
  for (const [i, id] of [11, 12].entries()) {
    const p = h.replies[i].packet;
    assert.is(p.id, id);
    assert.is(rcode(p), NOERROR);
    assert.equal(p.answers, []);
    assert.is(p.questions!.length, 1);
  }
  assert.is(h.replies[0].packet.questions![0].type, 'AAAA');
  assert.equal(h.asked, []);
  assert.equal(h.resolved, []);
  assert.equal(h.dns.counters, { queries: 2, answered: 2, nxdomain: 0, servfail: 0, malformed: 0 });
});

Dns('a denied name is NXDOMAIN (and logged) whatever the query type', () => {
  const h = harness(['example.com'], async () => ['1.2.3.4']);
  h.dns.query(3000, query(13, 'other.org', 'AAAA'));
  assert.is(h.replies.length, 1);
  assert.is(rcode(h.replies[0].packet), NXDOMAIN);
  assert.equal(h.denied, ['other.org']);
  assert.equal(h.asked, []);
});

Dns('not a single standard query: NOTIMP; an invalid name: NXDOMAIN', () => {
  const h = harness(['*'], async () => ['1.2.3.4']);
  h.dns.query(1, new Uint8Array(dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'example.com' }] })));
  h.dns.query(1, new Uint8Array(dnsPacket.encode({ type: 'query', id: 2, questions: [] })));
  h.dns.query(1, new Uint8Array(dnsPacket.encode({ type: 'query', id: 3, questions: [{ type: 'A', name: 'a.com' }, { type: 'A', name: 'b.com' }] })));
  h.dns.query(1, query(4, 'bad name.example'));
  assert.equal(
    h.replies.map((r) => [r.packet.id, rcode(r.packet)]),
    [
      [1, NOTIMP],
      [2, NOTIMP],
      [3, NOTIMP],
      [4, NXDOMAIN],
    ],
  );
  assert.equal(h.replies[1].packet.questions, []);
  assert.equal(h.asked, []);
  assert.equal(h.denied, [], 'an invalid name is not a policy denial');
});

Dns('malformed bytes: no reply, counted as malformed', () => {
  const h = harness(['*'], async () => ['1.2.3.4']);
  const good = query(5, 'example.com');
  for (const bad of [new Uint8Array(0), new Uint8Array([1, 2, 3]), good.subarray(0, 11), good.subarray(0, 12), good.subarray(0, 20)]) h.dns.query(1, bad);
  assert.is(h.replies.length, 0);
  assert.equal(h.dns.counters, { queries: 0, answered: 0, nxdomain: 0, servfail: 0, malformed: 5 });
  assert.equal(h.asked, []);
});

Dns('more than 64 lookups pending: SERVFAIL at once; the pending ones still answer', async () => {
  const waiting: ((ips: string[]) => void)[] = [];
  const h = harness(['*.example.com'], () => new Promise<string[]>((resolve) => waiting.push(resolve)));
  for (let i = 0; i < 64; i++) h.dns.query(40000 + i, query(i, `h${i}.example.com`));
  assert.is(waiting.length, 64);
  assert.is(h.replies.length, 0);
  h.dns.query(50000, query(999, 'one-more.example.com'));
  assert.is(h.replies.length, 1, 'refused synchronously');
  assert.is(h.replies[0].port, 50000);
  assert.is(h.replies[0].packet.id, 999);
  assert.is(rcode(h.replies[0].packet), SERVFAIL);
  assert.is(waiting.length, 64, 'the resolver was not asked');
  assert.is(h.denied.length, 0);
  for (const resolve of waiting) resolve(['192.0.2.1']);
  await settle();
  assert.is(h.replies.length, 65);
  assert.ok(h.replies.slice(1).every((r) => rcode(r.packet) === NOERROR && r.packet.answers!.length === 1));
  assert.equal(h.replies.slice(1).map((r) => r.packet.id).sort((a, b) => a! - b!), Array.from({ length: 64 }, (_, i) => i));
  assert.equal(h.dns.counters, { queries: 65, answered: 64, nxdomain: 0, servfail: 1, malformed: 0 });
  // The slots are free again.
  h.dns.query(50001, query(1000, 'again.example.com'));
  assert.is(waiting.length, 65);
  waiting[64](['192.0.2.2']);
  await settle();
  assert.is(rcode(h.replies[65].packet), NOERROR);
});

Dns('a resolver that hangs: SERVFAIL after the timeout (2.5 s), and a late answer is ignored', async () => {
  let release!: (ips: string[]) => void;
  const h = harness(['slow.example'], () => new Promise<string[]>((resolve) => (release = resolve)));
  const t0 = Date.now();
  h.dns.query(6000, query(77, 'slow.example'));
  await new Promise((r) => setTimeout(r, 2000));
  assert.is(h.replies.length, 0, 'still waiting at 2 s');
  while (h.replies.length === 0 && Date.now() - t0 < 4000) await new Promise((r) => setTimeout(r, 50));
  const elapsed = Date.now() - t0;
  assert.is(h.replies.length, 1);
  assert.ok(elapsed >= 2400 && elapsed < 3000, `answered after ${elapsed} ms (before Mongoose's 3 s)`);
  assert.is(h.replies[0].packet.id, 77);
  assert.is(rcode(h.replies[0].packet), SERVFAIL);
  release(['192.0.2.9']);
  await settle();
  assert.is(h.replies.length, 1, 'no second reply');
  assert.equal(h.resolved, [], 'a late answer is not remembered');
  assert.equal(h.dns.counters, { queries: 1, answered: 0, nxdomain: 0, servfail: 1, malformed: 0 });
});

Dns.run();
