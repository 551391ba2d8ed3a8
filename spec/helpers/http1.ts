// A minimal HTTP/1.1 response reader over a raw socket, for tests that need
// control of the bytes on the wire (pipelining, half-close, resets).
import type { Socket } from 'node:net';
import { SEED_LOGIN } from './server.js';

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

const READ_TIMEOUT_MS = 20000;

/**
 * The response head that starts at buf[start]: its status, its header fields (names lower-cased, in
 * order, repeats kept) and where the body starts. Throws if the head is not all there.
 */
export function parseHead(buf: Buffer, start = 0): { status: number; fields: [string, string][]; bodyStart: number } {
  const end = buf.indexOf('\r\n\r\n', start);
  if (end < 0) throw new Error(`a truncated head: ${JSON.stringify(buf.subarray(start).toString('latin1'))}`);
  const lines = buf.subarray(start, end).toString('latin1').split('\r\n');
  const fields = lines.slice(1).map((line): [string, string] => {
    const i = line.indexOf(':');
    return [line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()];
  });
  return { status: Number(lines[0].split(' ')[1]), fields, bodyStart: end + 4 };
}

/** Reads Content-Length-delimited responses from a socket, in order. */
export class ResponseReader {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  private ended = false;

  constructor(socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.waiting?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.waiting?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.waiting?.();
    });
    socket.on('error', () => {
      this.ended = true;
      this.waiting?.();
    });
  }

  private async more(): Promise<void> {
    if (this.ended) {
      throw new Error(`connection closed before a whole response; have ${JSON.stringify(this.pending().slice(0, 200))}`);
    }
    let timer: NodeJS.Timeout | undefined;
    const arrived = await new Promise<boolean>((resolve) => {
      this.waiting = () => resolve(true);
      timer = setTimeout(() => resolve(false), READ_TIMEOUT_MS);
    });
    clearTimeout(timer);
    this.waiting = null;
    if (!arrived) throw new Error('timed out waiting for a response');
  }

  /** The next response; a HEAD response has no body whatever its Content-Length says. */
  async next(head = false): Promise<RawResponse> {
    while (this.buf.indexOf('\r\n\r\n') < 0) await this.more();
    const { status, fields, bodyStart } = parseHead(this.buf);
    const headers = new Map(fields);
    const len = head ? 0 : Number(headers.get('content-length') ?? 0);
    while (this.buf.length < bodyStart + len) await this.more();
    const body = this.buf.subarray(bodyStart, bodyStart + len);
    this.buf = this.buf.subarray(bodyStart + len);
    return { status, headers, body };
  }

  /** Bytes received and not yet taken as a response. */
  pending(): string {
    return this.buf.toString('latin1');
  }

  /** Resolves true if the peer closes with no further bytes. */
  async closedCleanly(): Promise<boolean> {
    while (!this.ended) await this.more().catch(() => undefined);
    return this.buf.length === 0;
  }
}

export const AUTH = `Basic ${Buffer.from(SEED_LOGIN).toString('base64')}`;

export function post(body: string | Buffer, extra = ''): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return Buffer.concat([
    Buffer.from(`POST /api/epname HTTP/1.1\r\nHost: t\r\nAuthorization: ${AUTH}\r\nContent-Length: ${b.length}\r\n${extra}\r\n`),
    b,
  ]);
}
