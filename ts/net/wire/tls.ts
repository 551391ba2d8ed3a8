// The one thing the host reads of TLS: the server name (SNI) in a client's
// first flight, so the egress policy can hold a guest's TLS connection to the
// name that allowed it (RFC 8446 4.1.2, RFC 6066 3). Nothing is decrypted.

/** A ClientHello as far as the host cares, or what stands in its way. */
export type ClientHelloRepr =
  | { kind: 'not-tls' }
  | { kind: 'incomplete' } // a handshake record whose ClientHello has not all arrived
  | { kind: 'hello'; serverName: string | null };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;
/** A ClientHello longer than one record's most is not one this host reads. */
export const CLIENT_HELLO_MAX = 5 + 16384;

/** Read the first bytes a client sent; a malformed hello is 'not-tls' (the peer will refuse it anyway). */
export function parseClientHello(b: Uint8Array): ClientHelloRepr {
  if (b.length === 0) return { kind: 'incomplete' };
  if (b[0] !== RECORD_HANDSHAKE) return { kind: 'not-tls' };
  if (b.length < 9) return b.length >= 2 && b[1] !== 3 ? { kind: 'not-tls' } : { kind: 'incomplete' };
  if (b[1] !== 3 || b[5] !== HANDSHAKE_CLIENT_HELLO) return { kind: 'not-tls' };
  const recordEnd = 5 + ((b[3] << 8) | b[4]);
  const helloEnd = 9 + ((b[6] << 16) | (b[7] << 8) | b[8]);
  // The whole hello in its first record, as every client sends it (no fragmentation across records).
  if (helloEnd > recordEnd || recordEnd > CLIENT_HELLO_MAX) return { kind: 'not-tls' };
  if (b.length < recordEnd) return { kind: 'incomplete' };
  let at = 9 + 2 + 32; // version, random
  const skip = (lenBytes: number): boolean => {
    if (at + lenBytes > helloEnd) return false;
    let n = 0;
    for (let i = 0; i < lenBytes; i++) n = (n << 8) | b[at + i];
    at += lenBytes + n;
    return at <= helloEnd;
  };
  if (!skip(1) || !skip(2) || !skip(1)) return { kind: 'not-tls' }; // session id, cipher suites, compression
  if (at === helloEnd) return { kind: 'hello', serverName: null }; // no extensions
  if (at + 2 > helloEnd) return { kind: 'not-tls' };
  const extEnd = at + 2 + ((b[at] << 8) | b[at + 1]);
  if (extEnd > helloEnd) return { kind: 'not-tls' };
  at += 2;
  while (at + 4 <= extEnd) {
    const type = (b[at] << 8) | b[at + 1];
    const len = (b[at + 2] << 8) | b[at + 3];
    const start = at + 4;
    at = start + len;
    if (at > extEnd) return { kind: 'not-tls' };
    if (type !== EXT_SERVER_NAME) continue;
    // server_name_list: length, then (type, length, name) entries; the host_name one counts.
    for (let i = start + 2; i + 3 <= at; ) {
      const nameType = b[i];
      const nameLen = (b[i + 1] << 8) | b[i + 2];
      if (i + 3 + nameLen > at) return { kind: 'not-tls' };
      if (nameType === NAME_TYPE_HOST) return { kind: 'hello', serverName: new TextDecoder('latin1').decode(b.subarray(i + 3, i + 3 + nameLen)) };
      i += 3 + nameLen;
    }
  }
  return { kind: 'hello', serverName: null };
}
