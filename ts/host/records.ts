// The guest's records on fd 3 (c/mod/conn.c): one per response, for the
// access log and the metrics, and events for the metrics.

/** What answered a request: Python, a static file, a WebSocket upgrade, or the guest refusing it (400, 408, 413, ...). */
export type RequestKind = 'app' | 'static' | 'websocket' | 'refused';

/** A finished request, as the access log reports it. */
export interface AccessRecord {
  client: string; // "addr:port" of the real client
  request: string; // "METHOD /path?query"
  status: number;
  bytes: number; // response body bytes
  ms: number; // from the complete request to the queued response
  /** Its X-Request-Id, or the one the guest made ('-' for a request refused before its head was read). */
  id: string;
  kind: RequestKind;
  /** The client left (or the connection was reset) before the response was complete. */
  cutShort: boolean;
  /** The worker (0-based) that answered it. */
  instance: number;
}

/** What the guest reports besides responses: a callback over its CPU budget, a MemoryError, the heap after a collection, a client's TLS handshake. */
export type GuestEvent = { type: 'budget' } | { type: 'memory' } | { type: 'heap'; used: number; total: number } | { type: 'tls'; result: TlsHandshakeResult };

/** How a client's TLS handshake ended: done, failed (bad or slow client, plain HTTP), or refused for want of guest memory. */
export type TlsHandshakeResult = 'ok' | 'failed' | 'nomem';
const TLS_RESULTS: Record<string, TlsHandshakeResult> = { '#tls ok': 'ok', '#tls failed': 'failed', '#tls nomem': 'nomem' };

const KINDS: Record<string, RequestKind> = { a: 'app', s: 'static', w: 'websocket', e: 'refused' };

/**
 * Parse "port\tstatus\tbytes\tms\tkind[x]\tid\tMETHOD uri" lines and "#..."
 * events (c/mod/conn.c); skip malformed ones.
 */
export function parseGuestRecords(
  text: string,
  peer: (port: number) => string,
  instance: number,
  onEvent: (e: GuestEvent) => void,
): AccessRecord[] {
  const out: AccessRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      if (line === '#b') onEvent({ type: 'budget' });
      else if (line === '#m') onEvent({ type: 'memory' });
      else if (line in TLS_RESULTS) onEvent({ type: 'tls', result: TLS_RESULTS[line] });
      else if (line.startsWith('#h ')) {
        const [used, total] = line.slice(3).split(' ').map(Number);
        if (Number.isFinite(used) && Number.isFinite(total)) onEvent({ type: 'heap', used, total });
      }
      continue;
    }
    const f = line.split('\t');
    const kind = f.length >= 7 ? KINDS[f[4][0]] : undefined;
    if (kind === undefined) continue;
    out.push({
      client: peer(Number(f[0])) || '-',
      request: f.slice(6).join('\t'),
      status: Number(f[1]),
      bytes: Number(f[2]),
      ms: Number(f[3]),
      id: f[5],
      kind,
      cutShort: f[4][1] === 'x',
      instance,
    });
  }
  return out;
}
