// The virtual link's constants and the rule that names a TCP flow: the one
// TypeScript definition of each. The guest's are in c/abi/link.h; the abi
// unit test fails when the two disagree.
import type { LinkConfig } from './interface.js';
import type { Mac } from './wire/ethernet.js';
import type { Ipv4 } from './wire/ipv4.js';

const ipv4 = (a: number, b: number, c: number, d: number): Ipv4 => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

/** The guest's address and MAC (PG_GUEST_IP_OCTETS, PG_GUEST_MAC_OCTETS). */
export const GUEST_IP: Ipv4 = ipv4(10, 0, 2, 15);
export const GUEST_MAC: Mac = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x0f);
/** The host's address on the link: the guest's gateway, DNS server and every peer's stand-in (PG_GATEWAY_IP_OCTETS). */
export const GATEWAY_IP: Ipv4 = ipv4(10, 0, 2, 2);
/** The host's MAC; the guest learns it by ARP, so only the host needs it. */
export const GATEWAY_MAC: Mac = Uint8Array.of(0x02, 0x00, 0x00, 0x00, 0x00, 0x02);
/** The first port the guest's HTTP server listens on (PG_HTTP_PORT). */
export const GUEST_HTTP_PORT = 80;
/**
 * How many ports it listens on, from GUEST_HTTP_PORT (PG_HTTP_LISTENERS):
 * each Mongoose listener holds 5 half-open connections, and the host spreads
 * handshakes over them.
 */
export const GUEST_HTTP_LISTENERS = 16;

/** Whether a guest port is one of its HTTP listeners'. */
export function isGuestHttpPort(port: number): boolean {
  return port >= GUEST_HTTP_PORT && port < GUEST_HTTP_PORT + GUEST_HTTP_LISTENERS;
}
/**
 * The MTU (PG_MTU): no wire to fit, so as large as IPv4's 16-bit total
 * length allows with the frame (MTU + 14) within pcap's 65535-byte snapshot
 * length. Big segments cost far fewer guest polls.
 */
export const LINK_MTU = 65521;
/** Largest Ethernet frame on the link (no FCS). */
export const LINK_MAX_FRAME = LINK_MTU + 14;

/**
 * Whether a guest segment from `srcPort` to `dstIp` belongs to an inbound
 * connection (a client of the guest's HTTP server, relayed by the host).
 * Inbound flows are named by their host port, the guest's own connections by
 * its port; the ranges never overlap (host ports 1024-32767, guest 32768+).
 */
export function isInbound(srcPort: number, dstIp: Ipv4): boolean {
  return isGuestHttpPort(srcPort) && dstIp === GATEWAY_IP;
}

/** The link as the host's interface sees it. */
export const LINK: LinkConfig = { hostMac: GATEWAY_MAC, hostIp: GATEWAY_IP, guestMac: GUEST_MAC, guestIp: GUEST_IP, maxFrame: LINK_MAX_FRAME };
