// IPv4 headers: validation of untrusted packets and the writer (no options,
// no fragments: the guest neither sends nor accepts them).
import { checksum } from './checksum.js';

export const IPV4_HEADER_LEN = 20;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

export type Ipv4 = number; // host byte order, unsigned

export function parseIpv4(text: string): Ipv4 {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`bad IPv4 address ${text}`);
  }
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIpv4(ip: Ipv4): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

export function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at] << 24) | (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3]) >>> 0;
}

export function writeU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 255;
  buf[at + 2] = (v >>> 8) & 255;
  buf[at + 3] = v & 255;
}

/** The parts of a received IPv4 header that decisions use. */
export interface Ipv4Repr {
  src: Ipv4;
  dst: Ipv4;
  protocol: number;
  payloadStart: number; // offset in the frame
  payloadEnd: number;
}

export type Ipv4Error = 'short' | 'version' | 'header-length' | 'total-length' | 'fragment' | 'checksum';

/** Validate the IPv4 header at `at`; returns the repr or why it was refused. */
export function parseIpv4Header(buf: Uint8Array, at: number, verifyChecksum = false): Ipv4Repr | Ipv4Error {
  if (buf.length < at + IPV4_HEADER_LEN) return 'short';
  if (buf[at] >> 4 !== 4) return 'version';
  const ihl = (buf[at] & 15) * 4;
  if (ihl < IPV4_HEADER_LEN || buf.length < at + ihl) return 'header-length';
  const total = (buf[at + 2] << 8) | buf[at + 3];
  if (total < ihl || at + total > buf.length) return 'total-length';
  const fragment = ((buf[at + 6] << 8) | buf[at + 7]) & 0x3fff; // MF flag + offset
  if (fragment !== 0) return 'fragment';
  if (verifyChecksum && checksum(buf, at, at + ihl) !== 0) return 'checksum';
  return {
    src: readU32(buf, at + 12),
    dst: readU32(buf, at + 16),
    protocol: buf[at + 9],
    payloadStart: at + ihl,
    payloadEnd: at + total,
  };
}

export function writeIpv4Header(out: Uint8Array, at: number, src: Ipv4, dst: Ipv4, protocol: number, payloadLen: number, id: number): void {
  const total = IPV4_HEADER_LEN + payloadLen;
  out[at] = 0x45;
  out[at + 1] = 0;
  out[at + 2] = total >> 8;
  out[at + 3] = total & 255;
  out[at + 4] = (id >> 8) & 255;
  out[at + 5] = id & 255;
  out[at + 6] = 0x40; // don't fragment
  out[at + 7] = 0;
  out[at + 8] = 64;
  out[at + 9] = protocol;
  out[at + 10] = 0;
  out[at + 11] = 0;
  writeU32(out, at + 12, src);
  writeU32(out, at + 16, dst);
  const sum = checksum(out, at, at + IPV4_HEADER_LEN);
  out[at + 10] = sum >> 8;
  out[at + 11] = sum & 255;
}
