// Contender: MicroPython compiled to WebAssembly (npm
// @micropython/micropython-webassembly-pyscript) inside Node. It runs
// bench/app.py as __main__ (no `mongoose` module here, so the file only
// defines the functions) and node:http calls them per request; or the seed's
// program (examples/seed/main.py without its print, written out by the bench), whose callbacks node:http calls.
//
//   node bench/contenders/micropython-wasm.mjs --port N [--host 127.0.0.1] [--app bench/app.py]

import { readFileSync } from 'node:fs';
import { loadMicroPython } from '@micropython/micropython-webassembly-pyscript';
import { isSeedProgram, parseCli, runSeedProgram, serve } from './lib/http-server.mjs';

const opts = parseCli();

// The default GC heap is 1 MiB: app.py's 1 MiB BLOB alone does not fit, nor
// do 8 MiB uploads or a 16 MiB epname body (its str plus the concatenated
// result). 64 MiB leaves room for the largest accepted body and fragmentation;
// pages the heap never touches are not resident.
const HEAPSIZE = 64 * 1024 * 1024;

// Python's own output goes to stderr: stdout carries only the "serving" line.
const mp = await loadMicroPython({ heapsize: HEAPSIZE, stdout: (line) => process.stderr.write(line + '\n') });

// Bytes across the boundary. This build converts only None/bool/int/float/str
// between JS and Python (bytes become opaque proxies both ways) and does not
// export its wasm memory, so bulk bytes go through a character device in its
// Emscripten FS: Python's read() on it gets the request body copied straight
// into a new bytes object in the Python heap, and Python's write() of the
// download bytes hands us a view of the wasm memory, copied once into a Buffer.
let inbound = null; // the request body still to be read by Python
let outbound = []; // chunks written by Python
const { FS } = mp;
const dev = FS.makedev(240, 0);
FS.registerDevice(dev, {
  read(stream, heap, offset, length) {
    const n = Math.min(length, inbound.length);
    // heap is an Int8Array: copy through a Uint8Array view so set() is a memcpy.
    new Uint8Array(heap.buffer, heap.byteOffset + offset, n).set(inbound.subarray(0, n));
    inbound = inbound.subarray(n);
    return n;
  },
  write(stream, heap, offset, length) {
    outbound.push(Buffer.copyBytesFrom(new Uint8Array(heap.buffer, heap.byteOffset + offset, length)));
    return length;
  },
});
FS.mkdev('/dev/bench-xfer', dev);

const source = readFileSync(opts.app, 'utf8');
if (isSeedProgram(opts.app)) {
  runSeedProgram((code) => mp.runPython(code), source);
  const api = mp.globals.get('_seed_api');
  const auth = mp.globals.get('_seed_auth');
  serve({ auth: (user, pwd) => auth(user, pwd), api: (text) => api(text) }, opts);
} else {
  serveApp();
}

function serveApp() {
  mp.runPython(source);
  mp.runPython(`
_xfer = open('/dev/bench-xfer', 'r+b')  # unbuffered: read(n)/write(b) go straight to the device

def _upload_from_js(n):
    return upload(_xfer.read(n))  # a bytes object of exactly n bytes

def _download_to_js():
    _xfer.write(download())
`);

  // Function proxies looked up once; str arguments and results convert
  // implicitly (JS string <-> Python str).
  const page = mp.globals.get('page');
  const epname = mp.globals.get('epname');
  const download = mp.globals.get('_download_to_js');
  const upload = mp.globals.get('_upload_from_js');

  serve(
    {
      page: () => page(),
      epname: (text) => epname(text),
      download: () => {
        outbound = [];
        download();
        const out = outbound.length === 1 ? outbound[0] : Buffer.concat(outbound);
        outbound = [];
        return out;
      },
      upload: (body) => {
        inbound = body;
        try {
          return upload(body.length);
        } finally {
          inbound = null;
        }
      },
    },
    opts,
  );
}
