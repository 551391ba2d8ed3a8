// Health checks the host answers itself, before a connection reaches the
// guest: load balancers and Kubernetes probes get an answer even while the
// app is busy, and Python never sees them.
import type { Socket } from 'node:net';

/** First bytes a client may send before we must decide; more is not a probe. */
const MAX_PEEK = 512;

const EMPTY = Buffer.alloc(0);

/** The request lines that probe one path, as bytes: built once per server, compared per connection. */
export class HealthProbes {
  private readonly lines: { bytes: Buffer; head: boolean }[];

  constructor(readonly path: string) {
    this.lines = ['GET', 'HEAD'].flatMap((method) =>
      [' ', '?'].map((end) => ({ bytes: Buffer.from(`${method} ${path}${end}`, 'latin1'), head: method === 'HEAD' })),
    );
  }

  /** A probe (HEAD or GET), `undecided` while `first` could still become one, or null for any other request. */
  classify(first: Buffer): 'GET' | 'HEAD' | 'undecided' | null {
    const c = first[0];
    if (c !== 0x47 && c !== 0x48) return null; // neither G nor H: most requests end here
    let undecided = false;
    for (const { bytes, head } of this.lines) {
      const n = Math.min(first.length, bytes.length, MAX_PEEK);
      if (bytes.compare(first, 0, n, 0, n) !== 0) continue;
      if (n === bytes.length) return head ? 'HEAD' : 'GET';
      undecided ||= first.length < MAX_PEEK;
    }
    return undecided ? 'undecided' : null;
  }
}

/**
 * Watch a new connection's first bytes. A `GET|HEAD <path> ` request is
 * answered here (200 while the guest runs, else 503) and the connection
 * closed; anything else goes to `pass` with the bytes read so far, in order
 * before the socket's next 'data'. A client that sends nothing for
 * `timeouts.idleMs`, or stops partway through a probe's first line for
 * `timeouts.headerMs`, is closed (0: no limit).
 */
export function interceptHealth(
  socket: Socket,
  probes: HealthProbes,
  healthy: () => boolean,
  pass: (socket: Socket, head: Buffer) => void,
  undecided: Set<Socket>,
  timeouts: { idleMs: number; headerMs: number } = { idleMs: 0, headerMs: 0 },
): void {
  undecided.add(socket); // close() destroys these: they are not the inbound relay's yet
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
    const kind = probes.classify(head);
    if (kind === 'undecided') {
      if (first) arm(timeouts.headerMs);
      return;
    }
    detach();
    if (kind === null) pass(socket, head);
    else answer(socket, kind === 'HEAD', healthy());
  };
  const onEnd = (): void => {
    detach();
    closeAfterWrite(socket, '');
  };
  const onTimeout = (): void => {
    detach();
    // Silence is closed quietly; a head begun and not finished gets 408, as the guest answers it.
    const body = 'Request Timeout\n';
    const reply = `HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    closeAfterWrite(socket, head.length > 0 ? reply : '');
  };
  const detach = (): void => {
    clearTimeout(timer);
    undecided.delete(socket);
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
    undecided.delete(socket);
  });
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
}

function answer(socket: Socket, head: boolean, ok: boolean): void {
  const body = JSON.stringify({ status: ok ? 'ok' : 'down' }) + '\n';
  closeAfterWrite(
    socket,
    `HTTP/1.1 ${ok ? '200 OK' : '503 Service Unavailable'}\r\n` +
      'Content-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${head ? '' : body}`,
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
