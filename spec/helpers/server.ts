// Test helpers: start a real server (real sockets) and talk HTTP to it.
import { request as httpRequest, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { suite, type Test } from 'uvu';
import * as assert from 'uvu/assert';
import { AppError, serve, type ServeOptions, type ServerHandle } from '../../ts/index.js';
import { sleep } from './wait.js';

export { sleep };

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const appPath = (name: string): string => `${ROOT}spec/apps/${name}`;

export interface TestServer {
  handle: ServerHandle;
  stdout: string[];
  stderr: string[];
  port: number;
}

export async function startServer(options: ServeOptions = {}): Promise<TestServer> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const handle = await serve({
    port: 0,
    stdout: (t) => stdout.push(t),
    stderr: (t) => stderr.push(t),
    onExit: () => {},
    ...options,
  });
  return { handle, stdout, stderr, port: handle.address.port };
}

/** serve() must refuse these options with an AppError whose message matches. */
export async function startRefused(options: ServeOptions, message: RegExp): Promise<void> {
  let srv: TestServer;
  try {
    srv = await startServer(options);
  } catch (err) {
    assert.instance(err, AppError);
    assert.match((err as Error).message, message);
    return;
  }
  await srv.handle.close();
  assert.unreachable(`serve() started; expected ${message}`);
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function request(
  port: number,
  path: string,
  opts: { method?: string; body?: string | Buffer; auth?: string; agent?: Agent; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.auth !== undefined) headers.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'), headers, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30000, () => req.destroy(new Error(`timeout ${path}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Open a raw TCP connection. */
export function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(s));
    s.on('error', reject);
  });
}

/** Read everything until the server closes (or timeout). */
export function readAll(s: Socket, timeoutMs = 10000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const t = setTimeout(() => reject(new Error('readAll timeout')), timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Wait until the forwarder holds no connection state (nothing leaked). */
export async function settled(server: TestServer, timeoutMs = 5000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = server.handle.stats();
    if (s.active === 0 && s.halfOpen === 0 && s.waitingForSyn === 0) return 0;
    if (Date.now() > until) return s.active;
    await sleep(20);
  }
}

export const basic = (user: string, pwd: string): string => `${user}:${pwd}`;

/** The seed app's Basic-auth login (examples/seed/main.py), as `user:password` for request()'s auth. */
export const SEED_LOGIN = 'admin:istrator';

/** Everything the server wrote to stderr so far. */
export const stderrText = (server: TestServer): string => server.stderr.join('');

/**
 * A uvu suite whose tests share one server: started before the first test (with these options, or
 * the options a function returns then), closed after the last (with closeOptions).
 */
export function serverSuite(
  name: string,
  options: ServeOptions | (() => ServeOptions) = {},
  closeOptions?: { drainTimeoutMs?: number },
): Test<{ srv: TestServer }> {
  const s = suite<{ srv: TestServer }>(name);
  s.before(async (ctx) => {
    ctx.srv = await startServer(typeof options === 'function' ? options() : options);
  });
  s.after(async (ctx) => {
    await ctx.srv?.handle.close(closeOptions);
  });
  return s;
}
