// Process and socket helpers for the benchmark: nothing it starts outlives it.
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { cpus } from 'node:os';
import { delimiter, join } from 'node:path';

export const HOST = '127.0.0.1';

const children = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`bench: interrupted (${sig})\n`);
    process.exit(130);
  });
}

export function die(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

export function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** CPUs this process may run on, from /proc (so a restricted cpuset is respected). */
export function allowedCpus(): number[] {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(\S+)/m);
    if (line) {
      const out: number[] = [];
      for (const part of line[1].split(',')) {
        const [a, b] = part.split('-').map(Number);
        for (let i = a; i <= (b ?? a); i++) out.push(i);
      }
      return out;
    }
  } catch {
    // not Linux: fall through
  }
  return cpus().map((_, i) => i);
}

/** Resident memory of a process, bytes (Linux), or NaN. */
export function rssOf(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface RawResponse {
  status: number;
  body: Buffer;
}

/** One request on a fresh connection; the whole response (by Content-Length). */
export function request(port: number, method: string, path: string, body = '', timeoutMs = 5000, headers: string[] = [], tls = false): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    // Over TLS the bench's own self-signed certificates are not verified.
    const sock = tls ? tlsConnect({ port, host: HOST, rejectUnauthorized: false }) : connect(port, HOST);
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (err: Error | null, out?: RawResponse): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(out as RawResponse);
    };
    const timer = setTimeout(() => finish(new Error(`no whole response within ${timeoutMs} ms`)), timeoutMs);
    sock.on('error', (err) => finish(err));
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const len = head.match(/\r\ncontent-length:\s*(\d+)/i);
      if (!len) return finish(new Error('response without Content-Length'));
      const total = end + 4 + Number(len[1]);
      if (buf.length >= total) {
        finish(null, { status: Number(head.slice(9, 12)), body: buf.subarray(end + 4, total) });
      }
    });
    sock.on('end', () => finish(new Error('connection closed before a whole response')));
    const extra = headers.map((h) => `${h}\r\n`).join('');
    const head = `${method} ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    sock.write(head + body);
  });
}
