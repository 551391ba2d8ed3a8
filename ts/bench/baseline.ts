#!/usr/bin/env node
// The benchmark's yardstick: a plain node:http server that does the seed app's
// work (Basic auth, print the body, answer) and sends back, byte for byte, the
// responses the bench captured from pythongoose.
//   node dist/bench/baseline.js --port N --spec FILE
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** One captured HTTP response, split so node:http can re-emit the same bytes. */
export interface RawResponse {
  status: number;
  reason: string;
  /** In wire order, values untrimmed (Mongoose pads Content-Length with spaces). */
  headers: [string, string][];
  /** base64, so any body survives JSON. */
  body: string;
}

export interface BaselineSpec {
  user: string;
  password: string;
  apiPath: string;
  responses: {
    page: RawResponse;
    api: RawResponse;
    unauthorized: RawResponse;
    notFound: RawResponse;
  };
}

function fail(message: string): never {
  process.stderr.write(`baseline: ${message}\n`);
  process.exit(1);
}

function isRawResponse(v: unknown): v is RawResponse {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.status === 'number' &&
    typeof r.reason === 'string' &&
    typeof r.body === 'string' &&
    Array.isArray(r.headers) &&
    r.headers.every((h: unknown) => Array.isArray(h) && h.length === 2 && h.every((s: unknown) => typeof s === 'string'))
  );
}

function isSpec(v: unknown): v is BaselineSpec {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Record<string, unknown>;
  const responses = s.responses as Record<string, unknown> | undefined;
  return (
    typeof s.user === 'string' &&
    typeof s.password === 'string' &&
    typeof s.apiPath === 'string' &&
    typeof responses === 'object' &&
    responses !== null &&
    ['page', 'api', 'unauthorized', 'notFound'].every((k) => isRawResponse(responses[k]))
  );
}

/** A response ready to send: the header list flattened once, the body decoded once. */
interface Prepared {
  status: number;
  reason: string;
  headers: string[];
  body: Buffer;
}

function prepare(r: RawResponse): Prepared {
  return { status: r.status, reason: r.reason, headers: r.headers.flat(), body: Buffer.from(r.body, 'base64') };
}

function send(res: ServerResponse, r: Prepared): void {
  // node:http adds Date and Connection headers of its own; Mongoose sends
  // neither, so drop them to keep the bytes identical (keep-alive still works).
  res.sendDate = false;
  res.removeHeader('Connection');
  res.writeHead(r.status, r.reason, r.headers);
  res.end(r.body);
}

/** Mongoose's check: "Basic " (any case), base64, password after the first colon. */
function authorised(req: IncomingMessage, user: string, password: string): boolean {
  const h = req.headers.authorization;
  if (h === undefined || h.length < 6 || h.slice(0, 6).toLowerCase() !== 'basic ') return false;
  const plain = Buffer.from(h.slice(6), 'base64').toString('utf8');
  const colon = plain.indexOf(':');
  return colon >= 0 && plain.slice(0, colon) === user && plain.slice(colon + 1) === password;
}

function main(): void {
  let values;
  try {
    ({ values } = parseArgs({ options: { port: { type: 'string' }, spec: { type: 'string' } } }));
  } catch (err) {
    fail((err as Error).message);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`--port must be 1-65535, got ${values.port}`);
  if (values.spec === undefined) fail('--spec FILE is required');
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(values.spec, 'utf8'));
  } catch (err) {
    fail(`cannot read ${values.spec}: ${(err as Error).message}`);
  }
  if (!isSpec(spec)) fail(`${values.spec} is not a baseline spec`);
  const { user, password, apiPath } = spec;
  const page = prepare(spec.responses.page);
  const api = prepare(spec.responses.api);
  const unauthorized = prepare(spec.responses.unauthorized);
  const notFound = prepare(spec.responses.notFound);

  const server = createServer((req, res) => {
    // Like Mongoose, answer only once the whole body is in.
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (!path.startsWith('/api/')) {
        send(res, page);
      } else if (!authorised(req, user, password)) {
        send(res, unauthorized);
      } else if (path === apiPath) {
        // The seed app's api_cb prints the body; keep that cost on both sides.
        process.stdout.write(`f1 ${Buffer.concat(chunks).toString('utf8')}\n`);
        send(res, api);
      } else {
        send(res, notFound);
      }
    });
  });
  server.on('error', (err) => fail(err.message));
  server.listen(port, '127.0.0.1', () => process.stderr.write(`baseline: serving on http://127.0.0.1:${port}\n`));
  const stop = (): void => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main();
