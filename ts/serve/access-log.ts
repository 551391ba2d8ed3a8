// The access log's lines, text or JSON, made of the guest's records
// (ts/host/records.ts), and the host's messages as JSON.
import type { AccessRecord } from '../host/records.js';

export type { AccessRecord, RequestKind } from '../host/records.js';

// eslint-disable-next-line no-control-regex
const escapeRequest = (request: string): string => request.replace(/[\x00-\x1f\x7f"\\]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** A text line; control characters and quotes are escaped: clients choose the URI. */
export function formatAccess(r: AccessRecord): string {
  return `${new Date().toISOString()} ${r.client} "${escapeRequest(r.request)}" ${r.status} ${r.bytes} ${r.ms}ms\n`;
}

/** One JSON object: method and path split out of the request line. */
export function formatAccessJson(r: AccessRecord): string {
  const space = r.request.indexOf(' ');
  const method = space < 0 ? r.request : r.request.slice(0, space);
  const path = space < 0 ? '' : r.request.slice(space + 1);
  return (
    JSON.stringify({
      time: new Date().toISOString(),
      client: r.client,
      method,
      path,
      status: r.status,
      bytes: r.bytes,
      ms: r.ms,
      instance: r.instance,
      id: r.id,
      kind: r.kind,
      ...(r.cutShort ? { cutShort: true } : {}),
    }) + '\n'
  );
}

/** A host message ("pythongoose: ..." lines) as JSON lines. */
export function formatMessageJson(text: string): string {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.stringify({ time: new Date().toISOString(), msg: line.replace(/^pythongoose: /, '') }) + '\n')
    .join('');
}
