// Paths the host answers itself, before a connection reaches the guest: the
// health check (load balancers and Kubernetes probes get an answer even while
// the app is busy) and the metrics. Python never sees them.
import type { Socket } from 'node:net';
import type { HostPathRequest, HostPaths } from '../host/inbound.js';

const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 16\r\n\r\nRequest Timeout\n';

/** First bytes a client may send before we must decide; more is not a probe. */
const MAX_PEEK = 512;

const EMPTY = Buffer.alloc(0);

/** A host path's response: status line onwards, as "200 OK", headers and body. */
export interface HostAnswer {
  status: string;
  contentType: string;
  body: string;
}

/** The request lines that ask for the host's paths, as bytes: built once per server, compared per connection. */
export class HealthProbes {
  private readonly lines: { bytes: Buffer; head: boolean; path: string }[];

  constructor(paths: string | readonly string[]) {
    this.lines = (typeof paths === 'string' ? [paths] : paths).flatMap((path) =>
      ['GET', 'HEAD'].flatMap((method) =>
        [' ', '?'].map((end) => ({ bytes: Buffer.from(`${method} ${path}${end}`, 'latin1'), head: method === 'HEAD', path })),
      ),
    );
  }

  /** A probe (HEAD or GET), `undecided` while `first` could still become one, or null for any other request. */
  classify(first: Buffer): 'GET' | 'HEAD' | 'undecided' | null {
    const m = this.match(first);
    return m === null || m === 'undecided' ? m : m.head ? 'HEAD' : 'GET';
  }

  /** Which path `first` asks for, and whether with HEAD; `undecided` or null as classify. */
  match(first: Buffer): HostPathRequest | 'undecided' | null {
    const c = first[0];
    if (c !== 0x47 && c !== 0x48) return null; // neither G nor H: most requests end here
    let undecided = false;
    for (const { bytes, head, path } of this.lines) {
      const n = Math.min(first.length, bytes.length, MAX_PEEK);
      if (bytes.compare(first, 0, n, 0, n) !== 0) continue;
      if (n === bytes.length) return { path, head };
      undecided ||= first.length < MAX_PEEK;
    }
    return undecided ? 'undecided' : null;
  }
}

/** The health check's answer: 200 while an instance serves, else 503. */
export function healthAnswer(ok: boolean): HostAnswer {
  return { status: ok ? '200 OK' : '503 Service Unavailable', contentType: 'application/json', body: JSON.stringify({ status: ok ? 'ok' : 'down' }) + '\n' };
}

/**
 * Watch a new connection's first bytes. A `GET|HEAD <path> ` request for
 * one of the host's paths is answered here with `answer(path)` and the
 * connection closed; anything else goes to `pass` with the bytes read so far, in order
 * before the socket's next 'data'. A client that sends nothing for
 * `timeouts.idleMs`, or stops partway through a probe's first line for
 * `timeouts.headerMs`, is closed (0: no limit).
 */
export function interceptHealth(
  socket: Socket,
  probes: HealthProbes,
  answer: (path: string) => HostAnswer | Promise<HostAnswer>,
  pass: (socket: Socket, head: Buffer) => void,
  timeouts: { idleMs: number; headerMs: number } = { idleMs: 0, headerMs: 0 },
): void {
  let head: Buffer = EMPTY;
  let timer: NodeJS.Timeout | undefined;
  const arm = (ms: number): void => {
    clearTimeout(timer);
    timer = ms > 0 ? setTimeout(() => onTimeout(), ms) : undefined;
  };
  arm(timeouts.idleMs);
  const onData = (chunk: Buffer): void => {
    const first = head.length === 0;
    head = first ? chunk : Buffer.concat([head, chunk]);
    const kind = probes.match(head);
    if (kind === 'undecided') {
      if (first) arm(timeouts.headerMs);
      return;
    }
    detach();
    if (kind === null) pass(socket, head);
    else answerProbe(socket, kind, answer);
  };
  const onEnd = (): void => {
    detach();
    closeAfterWrite(socket, '');
  };
  const onTimeout = (): void => {
    detach();
    // Silence is closed quietly; a head begun and not finished gets 408, as the guest answers it.
    closeAfterWrite(socket, head.length > 0 ? REQUEST_TIMEOUT : '');
  };
  const detach = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
  };
  const onError = (): void => {
    detach();
    socket.destroy();
  };
  socket.once('close', () => {
    clearTimeout(timer);
  });
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
}

/** The host's paths on the app's port, for Inbound to look for while each client's guest connection opens. */
export function hostPaths(probes: HealthProbes, answer: (path: string) => HostAnswer | Promise<HostAnswer>, headerMs: number): HostPaths {
  return {
    headerMs,
    match: (head) => probes.match(head),
    answer: (socket, request) => answerProbe(socket, request, answer),
    timedOut: (socket) => closeAfterWrite(socket, REQUEST_TIMEOUT),
  };
}

/** Answer a request for a host path, then close; a failing answer is a 500. */
function answerProbe(socket: Socket, request: HostPathRequest, answer: (path: string) => HostAnswer | Promise<HostAnswer>): void {
  const reply = (a: HostAnswer): void => send(socket, request.head, a);
  void Promise.resolve(answer(request.path)).then(reply, (err) =>
    reply({ status: '500 Internal Server Error', contentType: 'text/plain', body: `${String(err)}\n` }),
  );
}

function send(socket: Socket, head: boolean, a: HostAnswer): void {
  if (socket.destroyed) return;
  closeAfterWrite(
    socket,
    `HTTP/1.1 ${a.status}\r\nContent-Type: ${a.contentType}\r\nCache-Control: no-store\r\nConnection: close\r\n` +
      `Content-Length: ${Buffer.byteLength(a.body)}\r\n\r\n${head ? '' : a.body}`,
  );
}

/** How long a closed probe connection may keep sending before it is cut. */
const LINGER_MS = 2000;

/**
 * Send the last bytes and half-close, then read and drop whatever the client
 * still sends until it closes too: destroying at once would answer its
 * remaining bytes with a RST, which can discard our response on its side.
 */
function closeAfterWrite(socket: Socket, data: string): void {
  socket.end(data);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.on('data', () => {});
  socket.once('end', () => socket.destroy());
  socket.once('error', () => socket.destroy());
  socket.once('close', () => clearTimeout(timer));
}
