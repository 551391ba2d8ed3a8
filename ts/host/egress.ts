// The egress policy: which destinations the guest may reach. Default deny;
// each --allow rule names a host pattern and optionally a port:
//   example.com[:PORT]      that name (what it resolves to, when resolved by the guest)
//   *.example.com[:PORT]    any name under example.com (not example.com itself)
//   *[:PORT]                any public destination
//   203.0.113.7[:PORT]      that address
//   10.0.0.0/8[:PORT]       that network
// Loopback (127.0.0.0/8), link-local (169.254.0.0/16) and 0.0.0.0/8 are
// reached only by a rule that names them: an exact name (e.g. localhost) or
// an address or network inside those ranges. Wildcards and wider networks
// never reach them.
import { type Ipv4, formatIpv4, parseIpv4 } from '../net/wire/ipv4.js';

export class EgressRuleError extends Error {}

type Pattern =
  | { kind: 'any' }
  | { kind: 'name'; name: string }
  | { kind: 'suffix'; suffix: string } // ".example.com"
  | { kind: 'net'; net: Ipv4; mask: number; bits: number };

export interface EgressRule {
  text: string;
  pattern: Pattern;
  port: number | null; // null: any port
}

const SPECIAL: Array<[Ipv4, number]> = [
  [parseIpv4('127.0.0.0'), 8],
  [parseIpv4('169.254.0.0'), 16],
  [parseIpv4('0.0.0.0'), 8],
];

/** Mongoose resolves the name "localhost" to this itself (mg_aton), never asking the gateway's DNS. */
const LOCALHOST = parseIpv4('127.0.0.1');

const maskOf = (bits: number): number => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
const inNet = (ip: Ipv4, net: Ipv4, mask: number): boolean => ((ip & mask) >>> 0) === net;

/** Loopback, link-local or "this network": reachable only when named explicitly. */
export function isSpecialAddress(ip: Ipv4): boolean {
  return SPECIAL.some(([net, bits]) => inNet(ip, net, maskOf(bits)));
}

/** Whether a network lies inside one special range (so a rule for it names it explicitly). */
function namesSpecial(net: Ipv4, bits: number): boolean {
  return SPECIAL.some(([s, sbits]) => bits >= sbits && inNet(net, s, maskOf(sbits)));
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Lower-case a DNS name and drop a trailing dot; null if it is not a valid name. */
export function normalizeName(name: string): string | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return null;
  return n.split('.').every((label) => LABEL.test(label)) ? n : null;
}

function parsePattern(host: string, text: string): Pattern {
  if (host === '*') return { kind: 'any' };
  const cidr = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(host);
  if (cidr) {
    let ip: Ipv4;
    try {
      ip = parseIpv4(cidr[1]);
    } catch {
      throw new EgressRuleError(`--allow ${text}: ${cidr[1]} is not an IPv4 address`);
    }
    const bits = cidr[2] === undefined ? 32 : Number(cidr[2]);
    if (bits > 32) throw new EgressRuleError(`--allow ${text}: a prefix length is 0 to 32`);
    const mask = maskOf(bits);
    if (((ip & mask) >>> 0) !== ip) {
      throw new EgressRuleError(`--allow ${text}: ${cidr[1]} has bits set outside /${bits} (did you mean ${formatIpv4((ip & mask) >>> 0)}/${bits}?)`);
    }
    return { kind: 'net', net: ip, mask, bits };
  }
  if (host.includes(':') || host.startsWith('[')) {
    throw new EgressRuleError(`--allow ${text}: IPv6 destinations are not supported (the guest speaks IPv4)`);
  }
  if (host.startsWith('*.')) {
    const base = normalizeName(host.slice(2));
    if (base === null) throw new EgressRuleError(`--allow ${text}: ${host} is not a valid wildcard name`);
    return { kind: 'suffix', suffix: `.${base}` };
  }
  const name = normalizeName(host);
  if (name === null || host.includes('*')) {
    throw new EgressRuleError(`--allow ${text}: ${host} is not a host name, address, network or *.domain`);
  }
  return { kind: 'name', name };
}

/** Parse one HOST[:PORT] rule; throws EgressRuleError with a message for the user. */
export function parseAllowRule(text: string): EgressRule {
  const rule = text.trim();
  if (rule.length === 0) throw new EgressRuleError('--allow needs HOST[:PORT]');
  if (rule.startsWith('[')) throw new EgressRuleError(`--allow ${text}: IPv6 destinations are not supported (the guest speaks IPv4)`);
  const colon = rule.lastIndexOf(':');
  let host = rule;
  let port: number | null = null;
  if (colon >= 0 && rule.indexOf(':') === colon) {
    host = rule.slice(0, colon);
    const p = rule.slice(colon + 1);
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
      throw new EgressRuleError(`--allow ${text}: the port must be 1 to 65535`);
    }
    port = Number(p);
  }
  return { text: rule, pattern: parsePattern(host, text), port };
}

function nameMatches(p: Pattern, name: string): boolean {
  if (p.kind === 'any') return true;
  if (p.kind === 'name') return p.name === name;
  if (p.kind === 'suffix') return name.endsWith(p.suffix);
  return false;
}

export class EgressPolicy {
  readonly rules: readonly EgressRule[];

  constructor(allow: readonly string[] = []) {
    this.rules = allow.map(parseAllowRule);
  }

  /** Whether the guest may resolve this (normalized) name: some rule could allow it. */
  allowsName(name: string): boolean {
    return this.rules.some((r) => nameMatches(r.pattern, name));
  }

  /**
   * Whether the guest may connect to ip:port, given the names the guest
   * resolved to that address (and "localhost" for 127.0.0.1, which Mongoose
   * resolves itself, unless `exactNames`: the names are all there is, as a
   * TLS server name is). Returns null if allowed, else why not.
   */
  check(ip: Ipv4, port: number, names: Iterable<string>, exactNames = false): string | null {
    const special = isSpecialAddress(ip);
    const known = [...names];
    if (ip === LOCALHOST && !exactNames) known.push('localhost');
    for (const r of this.rules) {
      if (r.port !== null && r.port !== port) continue;
      const p = r.pattern;
      if (p.kind === 'net') {
        if (inNet(ip, p.net, p.mask) && (!special || namesSpecial(p.net, p.bits))) return null;
      } else if (p.kind === 'name' || !special) {
        if (p.kind === 'any' || known.some((n) => nameMatches(p, n))) return null;
      }
    }
    if (special) return 'loopback and link-local need an explicit --allow';
    return this.rules.length === 0 ? 'no --allow rules (outbound is denied by default)' : 'no --allow rule matches';
  }
}
