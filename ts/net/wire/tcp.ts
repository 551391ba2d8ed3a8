// TCP segments: validation of untrusted segments and the writer.
import { fold, pseudoHeaderSum, sum16 } from './checksum.js';
import { type Ipv4, PROTO_TCP, readU32, writeU32 } from './ipv4.js';

export const TCP_HEADER_LEN = 20;
export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;

/** The header fields a segment's reader and writer share. */
interface TcpFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
}

/** A received segment, as the state machine sees it. */
export interface TcpRepr extends TcpFields {
  mss: number; // 0 if no MSS option
  payloadStart: number;
  payloadEnd: number;
}

export type TcpError = 'short' | 'data-offset' | 'option';

export function parseTcp(buf: Uint8Array, start: number, end: number): TcpRepr | TcpError {
  if (end - start < TCP_HEADER_LEN) return 'short';
  const doff = (buf[start + 12] >> 4) * 4;
  if (doff < TCP_HEADER_LEN || start + doff > end) return 'data-offset';
  let mss = 0;
  for (let i = start + TCP_HEADER_LEN; i < start + doff; ) {
    const kind = buf[i];
    if (kind === 0) break; // end of options
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= start + doff) return 'option';
    const len = buf[i + 1];
    if (len < 2 || i + len > start + doff) return 'option';
    if (kind === 2 && len === 4) mss = (buf[i + 2] << 8) | buf[i + 3];
    i += len;
  }
  return {
    srcPort: (buf[start] << 8) | buf[start + 1],
    dstPort: (buf[start + 2] << 8) | buf[start + 3],
    seq: readU32(buf, start + 4),
    ack: readU32(buf, start + 8),
    flags: buf[start + 13] & 0x3f,
    window: (buf[start + 14] << 8) | buf[start + 15],
    mss,
    payloadStart: start + doff,
    payloadEnd: end,
  };
}

export function flagNames(flags: number): string {
  const names: string[] = [];
  if (flags & SYN) names.push('SYN');
  if (flags & FIN) names.push('FIN');
  if (flags & RST) names.push('RST');
  if (flags & PSH) names.push('PSH');
  if (flags & ACK) names.push('ACK');
  return names.join('|') || 'none';
}

/** Fields of a segment to write. */
export interface TcpOut extends TcpFields {
  srcIp: Ipv4;
  dstIp: Ipv4;
  mss?: number;
}

/**
 * Write the TCP header at `at` (payload already at at+headerLen(mss)) and,
 * unless told not to (checksum 0), its checksum over the pseudo-header.
 * Returns the header length.
 */
export function writeTcp(out: Uint8Array, at: number, seg: TcpOut, payloadLen: number, checksum = true): number {
  const hlen = seg.mss ? TCP_HEADER_LEN + 4 : TCP_HEADER_LEN;
  out[at] = seg.srcPort >> 8;
  out[at + 1] = seg.srcPort & 255;
  out[at + 2] = seg.dstPort >> 8;
  out[at + 3] = seg.dstPort & 255;
  writeU32(out, at + 4, seg.seq >>> 0);
  writeU32(out, at + 8, seg.ack >>> 0);
  out[at + 12] = (hlen / 4) << 4;
  out[at + 13] = seg.flags;
  out[at + 14] = seg.window >> 8;
  out[at + 15] = seg.window & 255;
  out[at + 16] = 0;
  out[at + 17] = 0;
  out[at + 18] = 0;
  out[at + 19] = 0;
  if (seg.mss) {
    out[at + 20] = 2;
    out[at + 21] = 4;
    out[at + 22] = seg.mss >> 8;
    out[at + 23] = seg.mss & 255;
  }
  if (!checksum) return hlen;
  const tcpLen = hlen + payloadLen;
  const c = fold(sum16(out, at, at + tcpLen, pseudoHeaderSum(seg.srcIp, seg.dstIp, PROTO_TCP, tcpLen)));
  out[at + 16] = c >> 8;
  out[at + 17] = c & 255;
  return hlen;
}

/** Sequence-number comparisons modulo 2^32. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
