// Contender: plain node:http, the handler written in JS. Same routes and the
// same body bytes as bench/app.py (the harness compares them), so it shows what
// the HTTP layer costs without any Python in the path.
//
//   node bench/contenders/node-http.mjs --port N [--host 127.0.0.1]
// --app only tells bench/app.py's handler from the seed's program (examples/seed/main.py without its print, written out by the bench).

import { isSeedProgram, parseCli, serve } from './lib/http-server.mjs';

const opts = parseCli();

// Mirrors of app.py's PAGE and BLOB, built once like the Python module does.
const PAGE = '<!doctype html><title>pythongoose bench</title><h1>OK</h1><p>served by a Python handler</p>\n';
const BLOB = Buffer.alloc(256 * 4096); // bytes(range(256)) * 4096, 1 MiB
for (let i = 0; i < BLOB.length; i++) BLOB[i] = i & 0xff;

serve(
  isSeedProgram(opts.app)
    ? { auth: (user, pwd) => user === 'admin' && pwd === 'istrator', api: () => 'epname: pythongoose' }
    : {
        page: () => PAGE,
        epname: (body) => 'epname: ' + body,
        download: () => BLOB,
        upload: (body) => `received ${body.length} bytes`,
      },
  opts,
);
