// UDP datagrams: validation of untrusted datagrams and the writer. The guest
// uses UDP only for its DNS queries to the gateway.
import { fold, pseudoHeaderSum, sum16 } from './checksum.js';
import { type Ipv4, PROTO_UDP } from './ipv4.js';

export const UDP_HEADER_LEN = 8;

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payloadStart: number; // offset in the frame
  payloadEnd: number;
}

export type UdpError = 'short' | 'length';

export function parseUdp(buf: Uint8Array, start: number, end: number): UdpRepr | UdpError {
  if (end - start < UDP_HEADER_LEN) return 'short';
  const len = (buf[start + 4] << 8) | buf[start + 5];
  if (len < UDP_HEADER_LEN || start + len > end) return 'length';
  return {
    srcPort: (buf[start] << 8) | buf[start + 1],
    dstPort: (buf[start + 2] << 8) | buf[start + 3],
    payloadStart: start + UDP_HEADER_LEN,
    payloadEnd: start + len,
  };
}

/** Write the UDP header at `at` (payload already at at+8) with its checksum. */
export function writeUdp(out: Uint8Array, at: number, srcIp: Ipv4, dstIp: Ipv4, srcPort: number, dstPort: number, payloadLen: number): void {
  const len = UDP_HEADER_LEN + payloadLen;
  out[at] = srcPort >> 8;
  out[at + 1] = srcPort & 255;
  out[at + 2] = dstPort >> 8;
  out[at + 3] = dstPort & 255;
  out[at + 4] = len >> 8;
  out[at + 5] = len & 255;
  out[at + 6] = 0;
  out[at + 7] = 0;
  const sum = sum16(out, at, at + len, pseudoHeaderSum(srcIp, dstIp, PROTO_UDP, len));
  const c = fold(sum) || 0xffff; // 0 means "no checksum" in UDP
  out[at + 6] = c >> 8;
  out[at + 7] = c & 255;
}
