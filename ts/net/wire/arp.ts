// ARP for IPv4 over Ethernet: the host answers the guest's questions about
// the gateway (its only neighbour).
import { ETH_HEADER_LEN, ETHERTYPE_ARP, type Mac, writeEthernet } from './ethernet.js';
import { type Ipv4, readU32, writeU32 } from './ipv4.js';

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export interface ArpRepr {
  op: number;
  senderMac: Mac;
  senderIp: Ipv4;
  targetIp: Ipv4;
}

/** Parse the ARP packet at `at`, or null if it is not Ethernet/IPv4 ARP. */
export function parseArp(buf: Uint8Array, at: number): ArpRepr | null {
  if (buf.length < at + ARP_LEN) return null;
  const htype = (buf[at] << 8) | buf[at + 1];
  const ptype = (buf[at + 2] << 8) | buf[at + 3];
  if (htype !== 1 || ptype !== 0x0800 || buf[at + 4] !== 6 || buf[at + 5] !== 4) return null;
  return {
    op: (buf[at + 6] << 8) | buf[at + 7],
    senderMac: buf.slice(at + 8, at + 14),
    senderIp: readU32(buf, at + 14),
    targetIp: readU32(buf, at + 24),
  };
}

/** Build a whole ARP frame. */
export function buildArp(op: number, srcMac: Mac, srcIp: Ipv4, dstMac: Mac, dstIp: Ipv4): Uint8Array {
  const out = new Uint8Array(ETH_HEADER_LEN + ARP_LEN);
  writeEthernet(out, dstMac, srcMac, ETHERTYPE_ARP);
  const a = ETH_HEADER_LEN;
  out.set([0, 1, 8, 0, 6, 4, 0, op], a);
  out.set(srcMac, a + 8);
  writeU32(out, a + 14, srcIp);
  out.set(dstMac, a + 18);
  writeU32(out, a + 24, dstIp);
  return out;
}
