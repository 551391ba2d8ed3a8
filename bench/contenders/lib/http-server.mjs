// The node:http layer shared by node-http, pyodide and micropython-wasm, so
// those three differ only in who computes the bodies (JS, Pyodide,
// MicroPython): same routing, body limits, headers and keep-alive handling.
// Not a contender itself (it lives in lib/ so a glob over contenders/*.mjs
// does not pick it up).

import { readFileSync } from 'node:fs';
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

// A program that calls mongoose.init(api_cb, auth_cb) is the seed's
// (examples/seed/main.py without its print, written out by the bench): it is served with serve()'s seed handlers.
export const isSeedProgram = (file) => /^mongoose\.init\(/m.test(readFileSync(file, 'utf8'));

// Run first in a Python without the `mongoose` module, so that the seed's
// program runs unchanged: init() keeps its callbacks and the first poll() ends
// the program (the runner catches _SeedServe); node:http then serves them.
export const SEED_SHIM = `
import sys

class _SeedServe(BaseException):
    pass

class _SeedMongoose:
    def init(self, api_cb, auth_cb):
        global _seed_api, _seed_auth
        _seed_api, _seed_auth = api_cb, auth_cb

    def poll(self, ms):
        raise _SeedServe()

sys.modules["mongoose"] = _SeedMongoose()
`;

// The seed's program run by `runPython` up to its first poll(); its callbacks
// are then the globals _seed_api and _seed_auth.
export function runSeedProgram(runPython, source) {
  runPython(SEED_SHIM);
  try {
    runPython(source);
  } catch (err) {
    if (String(err?.message ?? err).includes('_SeedServe')) return;
    throw err;
  }
  throw new Error('the seed program ended without calling mongoose.poll()');
}

// The seed's Basic credentials, (user, password) or null, decoded here as the
// seed decodes them in C.
function basicCredentials(req) {
  const value = req.headers.authorization;
  if (typeof value !== 'string' || value.slice(0, 6).toLowerCase() !== 'basic ') return null;
  const plain = Buffer.from(value.slice(6).trim(), 'base64').toString('utf8');
  const colon = plain.indexOf(':');
  return colon < 0 ? null : [plain.slice(0, colon), plain.slice(colon + 1)];
}

// handlers: page() -> string, epname(text) -> string, download() -> Buffer,
// upload(Buffer) -> string; or for the seed's program auth(user, pwd) -> bool
// and api(text) -> string, /api/epname behind Basic auth. Strings are sent as UTF-8.
export function serve(handlers, { host, port }) {
  const seedApi = (body) => ({ type: 'text/plain', body, auth: true, run: (b) => handlers.api(b === null ? '' : b.toString('utf8')) });
  const routes = handlers.auth
    ? new Map([
        ['GET /', { type: 'text/html', run: () => 'OK\n' }],
        ['GET /api/epname', seedApi(false)],
        ['POST /api/epname', seedApi(true)],
      ])
    : new Map([
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
      if (route.auth) {
        const creds = basicCredentials(req);
        if (creds === null || !handlers.auth(creds[0], creds[1])) {
          send(res, 401, 'text/plain', 'Auth required\n', { 'WWW-Authenticate': 'Basic realm="pythongoose"' });
          return;
        }
      }
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
