// Formats the guest's access log records (one per response) into lines.

/** A finished request, as the access log reports it. */
export interface AccessRecord {
  client: string; // "addr:port" of the real client
  request: string; // "METHOD /path?query"
  status: number;
  bytes: number; // response body bytes
  ms: number; // from the complete request to the queued response
}

/** Parse "port\tstatus\tbytes\tms\tMETHOD uri" lines; skip malformed ones. */
export function parseAccessRecords(records: string, peer: (port: number) => string): AccessRecord[] {
  const out: AccessRecord[] = [];
  for (const line of records.split('\n')) {
    const f = line.split('\t');
    if (f.length < 5) continue;
    out.push({
      client: peer(Number(f[0])) || '-',
      request: f.slice(4).join('\t'),
      status: Number(f[1]),
      bytes: Number(f[2]),
      ms: Number(f[3]),
    });
  }
  return out;
}

/** Control characters and quotes are escaped: clients choose the URI. */
export function formatAccess(r: AccessRecord): string {
  // eslint-disable-next-line no-control-regex
  const request = r.request.replace(/[\x00-\x1f\x7f"\\]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `${new Date().toISOString()} ${r.client} "${request}" ${r.status} ${r.bytes} ${r.ms}ms\n`;
}
