// Contender: CPython compiled to WebAssembly (npm `pyodide`) inside Node. It
// runs bench/app.py as __main__ (there is no `mongoose` module here, so the
// file only defines the functions) and node:http calls them per request; or
// the seed's program (examples/seed/main.py without its print, written out by the bench), whose callbacks node:http calls.
//
//   node bench/contenders/pyodide.mjs --port N [--host 127.0.0.1] [--app bench/app.py]
//
// Everything loads from bench/node_modules/pyodide (the wasm, the stdlib zip,
// the lock file); no packages are requested, so nothing is fetched.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPyodide } from 'pyodide';
import { isSeedProgram, parseCli, runSeedProgram, serve } from './lib/http-server.mjs';

const opts = parseCli();
const indexURL = path.dirname(fileURLToPath(import.meta.resolve('pyodide'))) + path.sep;

// Python's own output goes to stderr: stdout carries only the "serving" line.
const toStderr = (line) => process.stderr.write(line + '\n');
const py = await loadPyodide({ indexURL, stdout: toStderr, stderr: toStderr });

const source = readFileSync(opts.app, 'utf8');
if (isSeedProgram(opts.app)) {
  runSeedProgram((code) => py.runPython(code, { filename: opts.app }), source);
  const api = py.globals.get('_seed_api');
  const auth = py.globals.get('_seed_auth');
  serve({ auth: (user, pwd) => auth(user, pwd), api: (text) => api(text) }, opts);
} else {
  serveApp();
}

function serveApp() {
  py.runPython(source, { filename: opts.app });
  // A JS Uint8Array arrives in Python as a JsProxy; to_bytes() copies it once
  // into a real bytes object, which is what upload() is written against.
  py.runPython('def _upload_from_js(buf):\n    return upload(buf.to_bytes())\n', { filename: '<glue>' });

  // Function proxies looked up once; str arguments and results convert
  // implicitly (JS string <-> Python str).
  const page = py.globals.get('page');
  const epname = py.globals.get('epname');
  const download = py.globals.get('download');
  const upload = py.globals.get('_upload_from_js');

  serve(
    {
      page: () => page(),
      epname: (text) => epname(text),
      // bytes come back as a PyProxy (not converted implicitly): view its buffer
      // in the wasm memory (no copy; bytes are 1-D and contiguous), copy it once
      // into a Buffer, then release the view and the proxy.
      download: () => {
        const proxy = download();
        const view = proxy.getBuffer('u8');
        try {
          return Buffer.copyBytesFrom(view.data);
        } finally {
          view.release();
          proxy.destroy();
        }
      },
      // Pyodide names typed arrays by constructor and rejects a Buffer ("Unknown
      // typed array type 'Buffer'"): pass a plain Uint8Array over the same memory.
      upload: (body) => upload(new Uint8Array(body.buffer, body.byteOffset, body.length)),
    },
    opts,
  );
}
