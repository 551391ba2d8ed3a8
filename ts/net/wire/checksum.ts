// Internet checksum (RFC 1071) over byte ranges, folded at the end.

/** Add the 16-bit big-endian words of buf[start, end) to sum (unfolded). */
export function sum16(buf: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function checksum(buf: Uint8Array, start: number, end: number): number {
  return fold(sum16(buf, start, end));
}

/** The TCP/UDP pseudo-header's words (RFC 793, RFC 768), unfolded: the sum to start a segment's checksum from. */
export function pseudoHeaderSum(srcIp: number, dstIp: number, protocol: number, length: number): number {
  return (srcIp >>> 16) + (srcIp & 0xffff) + (dstIp >>> 16) + (dstIp & 0xffff) + protocol + length;
}
