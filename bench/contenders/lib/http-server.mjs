// The node:http layer shared by node-http, pyodide and micropython-wasm, so
// those three differ only in who computes the bodies (JS, Pyodide,
// MicroPython): same routing, body limits, headers and keep-alive handling.
// Not a contender itself (it lives in lib/ so a glob over contenders/*.mjs
// does not pick it up).

import http from 'node:http';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const MAX_BODY = 16 * 1024 * 1024; // larger bodies get 413

// --port N [--host H] [--app FILE]; every contender accepts all three so the
// harness can start them the same way (node-http and node-net ignore --app).
export function parseCli() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' }, // 0: any free port (the line says which)
      host: { type: 'string', default: '127.0.0.1' },
      app: { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`bad --port ${values.port}`);
  }
  const app = values.app
    ? path.resolve(values.app)
    : fileURLToPath(new URL('../../app.py', import.meta.url)); // bench/app.py
  return { port, host: values.host, app };
}

// Printed once the socket listens; the harness waits for this exact line.
export function announce(server, host) {
  const { port } = server.address();
  const h = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(`serving http://${h}:${port}\n`);
}

// handlers: page() -> string, epname(text) -> string, download() -> Buffer,
// upload(Buffer) -> string. Strings are sent as UTF-8.
export function serve(handlers, { host, port }) {
  const routes = new Map([
    ['GET /', { type: 'text/html', run: () => handlers.page() }],
    ['POST /api/epname', { type: 'text/plain', body: true, run: (b) => handlers.epname(b.toString('utf8')) }],
    ['GET /download', { type: 'application/octet-stream', run: () => handlers.download() }],
    ['POST /upload', { type: 'text/plain', body: true, run: (b) => handlers.upload(b) }],
  ]);

  const send = (res, status, type, body, extra) => {
    const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': buf.length, ...extra });
    res.end(buf);
  };
  // Connection: close because the rest of the oversized body is not read.
  const tooLarge = (res) => send(res, 413, 'text/plain', 'Payload Too Large\n', { Connection: 'close' });

  const respond = (req, res, route, body) => {
    let out;
    try {
      out = route.run(body);
    } catch (err) {
      console.error(err);
      send(res, 500, 'text/plain', 'Internal Server Error\n');
      return;
    }
    send(res, 200, route.type, out);
  };

  const onRequest = (req, res) => {
    const q = req.url.indexOf('?');
    const route = routes.get(`${req.method} ${q < 0 ? req.url : req.url.slice(0, q)}`);
    if (Number(req.headers['content-length']) > MAX_BODY) return tooLarge(res);
    if (!route) return send(res, 404, 'text/plain', 'Not Found\n');
    if (!route.body) return respond(req, res, route, null);
    // Collect the body (Content-Length or chunked), then call the handler once.
    const chunks = [];
    let size = 0;
    let failed = false;
    req.on('data', (c) => {
      if (failed) return;
      size += c.length;
      if (size > MAX_BODY) {
        failed = true;
        chunks.length = 0;
        tooLarge(res);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) respond(req, res, route, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
  };

  const server = http.createServer(onRequest);
  // Expect: 100-continue (curl sends it for big uploads): refuse oversized
  // bodies before the client sends them; otherwise continue as usual.
  server.on('checkContinue', (req, res) => {
    if (Number(req.headers['content-length']) > MAX_BODY) return tooLarge(res);
    res.writeContinue();
    onRequest(req, res);
  });
  // Node's 5 s idle timeout would drop pooled connections between benchmark
  // phases; keep idle keep-alive connections for a minute instead.
  server.keepAliveTimeout = 60_000;
  server.listen(port, host, () => announce(server, host));
  return server;
}
