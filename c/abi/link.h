// The virtual link between the guest and the host: addresses, MTU and the
// HTTP port. The host's side (ts/) must agree; a unit test reads these lines,
// so keep each a one-line #define of plain values.
#pragma once

#define PG_GUEST_IP_OCTETS 10, 0, 2, 15
#define PG_GATEWAY_IP_OCTETS 10, 0, 2, 2
#define PG_GUEST_MAC_OCTETS 0x02, 0x00, 0x00, 0x00, 0x00, 0x0f
// A virtual link has no wire to fit: big segments cross mg_mgr_poll and the
// thread boundary far fewer times per byte. 65521 keeps a frame (MTU + 14)
// within IPv4's 16-bit total length and pcap's 65535-byte snapshot length.
#define PG_MTU 65521
#define PG_HTTP_PORT 80
// Mongoose's listener holds 5 half-open connections and drops further SYNs:
// the guest listens on this many ports from PG_HTTP_PORT, and the host
// spreads handshakes over them, so a burst of clients waits less.
#define PG_HTTP_LISTENERS 16

#define PG_DNS_PORT 53

// Derived from the above: Mongoose URLs as text.
#define PG_LINK_STR_(x) #x
#define PG_LINK_STR(x) PG_LINK_STR_(x)
#define PG_LINK_DOTTED_(a, b, c, d) #a "." #b "." #c "." #d
#define PG_LINK_DOTTED(octets) PG_LINK_DOTTED_(octets)
// Mongoose's address form (where mongoose.h is included): the octets are
// expanded before MG_IPV4 sees them.
#define PG_LINK_IPV4(octets) MG_IPV4(octets)
#define PG_GUEST_IP PG_LINK_IPV4(PG_GUEST_IP_OCTETS)
#define PG_GATEWAY_IP PG_LINK_IPV4(PG_GATEWAY_IP_OCTETS)
// With a static address the resolver must be the gateway (the host's DNS), not 8.8.8.8.
#define PG_DNS_URL "udp://" PG_LINK_DOTTED(PG_GATEWAY_IP_OCTETS) ":" PG_LINK_STR(PG_DNS_PORT)
