// TLS material for the guests: the server's certificate chain and key, and
// the CA bundle outbound TLS trusts. Held once, in shared memory that every
// worker reads (no copy per instance or restart); each guest copies it into
// its own memory and parses it there, where the handshakes run.
import { existsSync, readFileSync } from 'node:fs';

/** serve()'s `tls` option. PEM text, as a string or bytes. */
export interface TlsOptions {
  /** The server's certificate, then any intermediates (sent whole). With `key`, the port serves HTTPS only. */
  cert?: string | Uint8Array;
  /** Its private key, unencrypted: RSA (2048 bits or more) or ECDSA (P-256, P-384). */
  key?: string | Uint8Array;
  /** The CAs outbound https:// and mqtts:// trust, replacing the system bundle. */
  ca?: string | Uint8Array;
}

/** What a guest is given: bytes in shared memory, each NUL-free PEM text. */
export interface GuestTls {
  server: { cert: Uint8Array; key: Uint8Array } | null;
  ca: Uint8Array | null;
}

/** Debian's (and most distributions') bundle of the system's trusted CAs. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export class TlsError extends Error {}

const PEM = /-----BEGIN [A-Z0-9 ]+-----/;

function shared(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(new SharedArrayBuffer(bytes.length));
  out.set(bytes);
  return out;
}

function pemBytes(what: string, value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
  if (!PEM.test(new TextDecoder('latin1').decode(bytes.subarray(0, 64 * 1024)))) {
    throw new TlsError(`tls.${what} holds no PEM block (-----BEGIN ...-----)${typeof value === 'string' && value.length < 4096 && !value.includes('\n') ? ': give the file\'s contents, not its path' : ''}`);
  }
  if (bytes.includes(0)) throw new TlsError(`tls.${what} has a NUL byte: PEM is text`);
  return shared(bytes);
}

/** Check serve()'s tls option and put what the guests need in shared memory; throws TlsError. */
export function resolveTls(tls: TlsOptions | undefined): GuestTls {
  const { cert, key, ca } = tls ?? {};
  if ((cert === undefined) !== (key === undefined)) throw new TlsError(cert === undefined ? 'tls.key needs tls.cert' : 'tls.cert needs tls.key');
  const server = cert !== undefined && key !== undefined ? { cert: pemBytes('cert', cert), key: pemBytes('key', key) } : null;
  let bundle: Uint8Array | null = null;
  if (ca !== undefined) bundle = pemBytes('ca', ca);
  else if (existsSync(SYSTEM_CA_BUNDLE)) {
    try {
      bundle = shared(readFileSync(SYSTEM_CA_BUNDLE));
    } catch {
      bundle = null; // unreadable: outbound TLS then fails naming the missing bundle
    }
  }
  return { server, ca: bundle };
}
