// Static files (--static / ServeOptions.staticDir), end to end over real
// sockets: the host copies a fixture directory into the guest and Mongoose
// serves it for requests no route answers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { AppError } from '../../ts/index.js';
import { rng } from '../helpers/rng.js';
import { rawConnect, readAll, request, settled, startServer, type TestServer } from '../helpers/server.js';
import { ResponseReader, type RawResponse } from '../helpers/http1.js';

// ---- The fixture -------------------------------------------------------------

const MTIME = Date.UTC(2021, 2, 4, 5, 6, 7) / 1000; // Thu, 04 Mar 2021 05:06:07 GMT
const LAST_MODIFIED = 'Thu, 04 Mar 2021 05:06:07 GMT';
const SECRET = 'TOP SECRET: outside the static dir';

const big = ((): Buffer => {
  const next = rng(42);
  const b = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(next() * 256);
  return b;
})();
const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
const pageText = 'plain text, also served precompressed\n'.repeat(20);

const FILES: Record<string, string | Buffer> = {
  'index.html': '<!doctype html><title>root</title><h1>root index</h1>\n',
  'sub/index.html': '<!doctype html><h1>sub index</h1>\n',
  'sub/deeper/note.txt': 'a note two levels down\n',
  'style.css': 'body { color: #123456 }\n',
  'app.js': 'console.log("hello");\n',
  'pic.png': png,
  'logo.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
  'data.json': '{"from": "file"}\n',
  'page.txt': pageText,
  'page.txt.gz': gzipSync(pageText),
  'big.bin': big,
};

interface Fixture {
  tmp: string;
  root: string;
}

function makeFixture(): Fixture {
  const tmp = mkdtempSync(join(tmpdir(), 'pg-static-'));
  const root = join(tmp, 'www');
  const outside = join(tmp, 'outside');
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  writeFileSync(join(tmp, 'secret.txt'), SECRET);
  for (const [rel, data] of Object.entries(FILES)) {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, data);
    utimesSync(path, MTIME, MTIME);
  }
  symlinkSync(join(outside, 'secret.txt'), join(root, 'leak.txt')); // a file outside
  symlinkSync(outside, join(root, 'leakdir')); // a directory outside
  symlinkSync('style.css', join(root, 'alias.css')); // a file inside: published
  return { tmp, root };
}

// ---- Raw HTTP/1.1 over one connection, HEAD-aware ---------------------------

type Resp = RawResponse;

class Conn {
  private readonly reader: ResponseReader;

  constructor(readonly s: Socket) {
    this.reader = new ResponseReader(s);
  }

  static async open(port: number): Promise<Conn> {
    return new Conn(await rawConnect(port));
  }

  next(head = false): Promise<Resp> {
    return this.reader.next(head);
  }

  send(method: string, path: string, extra = ''): void {
    this.s.write(`${method} ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`);
  }

  /** Bytes that arrived after the responses taken so far. */
  leftover(): string {
    return this.reader.pending();
  }

  close(): void {
    this.s.destroy();
  }
}

/** One request on a fresh keep-alive connection, sent byte for byte as given. */
async function raw(port: number, method: string, path: string, extra = ''): Promise<Resp> {
  const c = await Conn.open(port);
  try {
    c.send(method, path, extra);
    return await c.next(method === 'HEAD');
  } finally {
    c.close();
  }
}

const TRAVERSALS = [
  '/../secret.txt',
  '/../outside/secret.txt',
  '/%2e%2e/outside/secret.txt',
  '/%2E%2E/outside/secret.txt',
  '/.%2e/outside/secret.txt',
  '/..%2foutside%2fsecret.txt',
  '/..%2Foutside/secret.txt',
  '/sub/../../outside/secret.txt',
  '/sub/..%2f..%2foutside%2fsecret.txt',
  '/sub/%2e%2e/%2e%2e/outside/secret.txt',
  '/..%5coutside%5csecret.txt',
  '/sub%5c..%5c..%5coutside%5csecret.txt',
  '/..\\outside\\secret.txt',
  '/%252e%252e/outside/secret.txt',
  '/%252e%252e%252foutside%252fsecret.txt',
  '/sub/%252e%252e/%252e%252e/outside/secret.txt',
  '/leakdir/secret.txt',
  '/leak.txt',
  '/%2e%2e',
  '/..',
  '/sub/..',
];

// ============================================================================

const seedStatic = suite<{ srv: TestServer; fx: Fixture }>('static files (seed app)');

seedStatic.before(async (ctx) => {
  ctx.fx = makeFixture();
  ctx.srv = await startServer({ staticDir: ctx.fx.root, accessLog: false });
});
seedStatic.after(async (ctx) => {
  await ctx.srv?.handle.close();
  if (ctx.fx) rmSync(ctx.fx.tmp, { recursive: true, force: true });
});

seedStatic('GET / is the root index.html', async ({ srv }) => {
  const r = await request(srv.port, '/');
  assert.is(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/html/);
  assert.is(r.body.toString(), FILES['index.html']);
  assert.is(r.headers['last-modified'], LAST_MODIFIED, 'an index gets Last-Modified too');
  const direct = await request(srv.port, '/index.html');
  assert.is(direct.body.toString(), FILES['index.html']);
});

seedStatic('a directory without its slash redirects (301) to it; with it, its index.html', async ({ srv }) => {
  const r = await request(srv.port, '/sub');
  assert.is(r.status, 301);
  assert.is(r.headers.location, '/sub/');
  const index = await request(srv.port, '/sub/');
  assert.is(index.status, 200);
  assert.match(String(index.headers['content-type']), /^text\/html/);
  assert.is(index.body.toString(), FILES['sub/index.html']);
  const note = await request(srv.port, '/sub/deeper/note.txt');
  assert.is(note.status, 200);
  assert.is(note.body.toString(), FILES['sub/deeper/note.txt']);
});

for (const [file, type] of [
  ['style.css', /^text\/css/],
  ['app.js', /^(text|application)\/javascript/],
  ['pic.png', /^image\/png$/],
  ['logo.svg', /^image\/svg\+xml$/],
  ['data.json', /^application\/json/],
  ['page.txt', /^text\/plain/],
] as const) {
  seedStatic(`${file}: its Content-Type, its exact bytes`, async ({ srv }) => {
    const r = await request(srv.port, `/${file}`);
    assert.is(r.status, 200);
    assert.match(String(r.headers['content-type']), type);
    assert.ok(r.body.equals(Buffer.from(FILES[file])), `${file} body differs`);
    assert.is(Number(r.headers['content-length']), Buffer.from(FILES[file]).length);
  });
}

seedStatic('the 1 MiB file arrives whole, byte for byte', async ({ srv }) => {
  const r = await request(srv.port, '/big.bin');
  assert.is(r.status, 200);
  assert.is(r.body.length, big.length);
  assert.ok(r.body.equals(big), 'big.bin differs');
});

seedStatic('ETag and If-None-Match: 304 without a body; another tag gets 200', async ({ srv }) => {
  const first = await request(srv.port, '/style.css');
  const etag = first.headers.etag;
  assert.type(etag, 'string');
  assert.match(String(etag), /^"[^"]+"$/);
  const again = await request(srv.port, '/style.css', { headers: { 'if-none-match': String(etag) } });
  assert.is(again.status, 304);
  assert.is(again.body.length, 0);
  const other = await request(srv.port, '/style.css', { headers: { 'if-none-match': '"not-the-tag"' } });
  assert.is(other.status, 200);
  assert.is(other.body.toString(), FILES['style.css']);
  const big1 = await request(srv.port, '/big.bin', { headers: { range: 'bytes=0-0' } });
  assert.is.not(big1.headers.etag, etag, 'different files, different tags');
});

seedStatic('Last-Modified is the file time', async ({ srv }) => {
  for (const f of ['style.css', 'big.bin', 'sub/']) {
    const r = await request(srv.port, `/${f}`, { headers: { range: 'bytes=0-0' } });
    assert.is(r.headers['last-modified'], LAST_MODIFIED, f);
  }
});

seedStatic('Range: a middle slice is 206 with its Content-Range and exact bytes', async ({ srv }) => {
  const r = await request(srv.port, '/big.bin', { headers: { range: 'bytes=100-199' } });
  assert.is(r.status, 206);
  assert.is(r.headers['content-range'], `bytes 100-199/${big.length}`);
  assert.ok(r.body.equals(big.subarray(100, 200)), 'slice differs');
  const one = await request(srv.port, '/big.bin', { headers: { range: 'bytes=0-0' } });
  assert.is(one.status, 206);
  assert.equal([...one.body], [big[0]]);
  const mid = await request(srv.port, '/big.bin', { headers: { range: 'bytes=300000-700000' } });
  assert.is(mid.status, 206);
  assert.ok(mid.body.equals(big.subarray(300000, 700001)), 'a 400 KB slice differs');
});

seedStatic('Range: an open-ended range runs to the end of the file', async ({ srv }) => {
  const r = await request(srv.port, '/big.bin', { headers: { range: 'bytes=1048000-' } });
  assert.is(r.status, 206);
  assert.is(r.headers['content-range'], `bytes 1048000-${big.length - 1}/${big.length}`);
  assert.ok(r.body.equals(big.subarray(1048000)), 'tail differs');
});

seedStatic('Range: a suffix range is the last N bytes', async ({ srv }) => {
  const r = await request(srv.port, '/big.bin', { headers: { range: 'bytes=-100' } });
  assert.is(r.status, 206);
  assert.is(r.headers['content-range'], `bytes ${big.length - 100}-${big.length - 1}/${big.length}`);
  assert.ok(r.body.equals(big.subarray(big.length - 100)), 'suffix differs');
  const all = await request(srv.port, '/style.css', { headers: { range: 'bytes=-1000' } });
  assert.is(all.status, 206, 'a suffix longer than the file is all of it');
  assert.is(all.body.toString(), FILES['style.css']);
});

seedStatic('Range: an unsatisfiable range is 416 with bytes */size', async ({ srv }) => {
  for (const range of ['bytes=2000000-', `bytes=${big.length}-`, 'bytes=2000000-2000010']) {
    const r = await request(srv.port, '/big.bin', { headers: { range } });
    assert.is(r.status, 416, range);
    assert.is(r.headers['content-range'], `bytes */${big.length}`, range);
    assert.is(r.body.length, 0, range);
  }
});

seedStatic('a .gz sibling is served with Content-Encoding: gzip to clients that take gzip', async ({ srv }) => {
  const gz = await request(srv.port, '/page.txt', { headers: { 'accept-encoding': 'gzip, deflate' } });
  assert.is(gz.status, 200);
  assert.is(gz.headers['content-encoding'], 'gzip');
  assert.match(String(gz.headers['content-type']), /^text\/plain/, 'the type of the uncompressed file');
  assert.ok(gz.body.equals(FILES['page.txt.gz'] as Buffer), 'the .gz bytes as they are');
  assert.is(gunzipSync(gz.body).toString(), pageText);
  assert.is(gz.headers.vary, 'Accept-Encoding', 'caches must keep the variants apart');
  const plain = await request(srv.port, '/page.txt');
  assert.is(plain.status, 200);
  assert.is(plain.headers['content-encoding'], undefined);
  assert.is(plain.headers.vary, 'Accept-Encoding');
  assert.is((await request(srv.port, '/style.css')).headers.vary, undefined, 'no variants, no Vary');
  assert.is(plain.body.toString(), pageText);
  const br = await request(srv.port, '/page.txt', { headers: { 'accept-encoding': 'br' } });
  assert.is(br.headers['content-encoding'], undefined);
  assert.is(br.body.toString(), pageText);
});

seedStatic('HEAD gets the headers of GET and no body; the connection stays usable', async ({ srv }) => {
  const c = await Conn.open(srv.port);
  c.send('HEAD', '/big.bin');
  const h = await c.next(true);
  assert.is(h.status, 200);
  assert.is(h.headers.get('content-length'), String(big.length));
  assert.is(h.headers.get('last-modified'), LAST_MODIFIED);
  c.send('GET', '/data.json');
  const g = await c.next();
  assert.is(g.status, 200);
  assert.is(g.body.toString(), FILES['data.json']);
  c.close();
});

seedStatic('HEAD answered with a Mongoose error status has no body either', async ({ srv }) => {
  const c = await Conn.open(srv.port);
  for (const path of ['/../outside/secret.txt', '/sub/deeper/', '/sub', '/style.css%00.txt']) {
    c.send('HEAD', path);
    const h = await c.next(true);
    assert.ok(h.status >= 300, `${path}: ${h.status}`);
    c.send('GET', '/data.json');
    const g = await c.next();
    assert.is(g.status, 200, `the response after HEAD ${path}`);
    assert.is(g.body.toString(), FILES['data.json'], `the response after HEAD ${path}`);
  }
  assert.is(c.leftover(), '');
  c.close();
});

seedStatic('pipelined requests for static files are all answered, in order', async ({ srv }) => {
  const c = await Conn.open(srv.port);
  c.s.write(
    ['/big.bin', '/style.css', '/nothing-here', '/data.json'].map((p) => `GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`).join(''),
  );
  const a = await c.next();
  assert.ok(a.body.equals(big));
  assert.is((await c.next()).body.toString(), FILES['style.css']);
  assert.match((await c.next()).body.toString(), /OK/, 'the seed page for a path that is no file');
  assert.is((await c.next()).body.toString(), FILES['data.json']);
  c.close();
});

seedStatic('"Connection: close" closes after a static file, big or small', async ({ srv }) => {
  for (const path of ['/data.json', '/big.bin', '/sub']) {
    const s = await rawConnect(srv.port);
    s.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`); // no FIN from us
    const all = await readAll(s, 20000);
    assert.match(all.subarray(0, 20).toString(), /^HTTP\/1\.1 (200|301) /, path);
    if (path === '/big.bin') assert.ok(all.subarray(all.length - big.length).equals(big), 'the whole file first');
  }
});

seedStatic('path traversal never reaches files outside the directory', async ({ srv }) => {
  for (const path of TRAVERSALS) {
    const r = await raw(srv.port, 'GET', path);
    assert.not.ok(r.body.toString().includes('SECRET'), `${path} leaked the secret`);
    // The seed answers paths that are no file with its OK page.
    assert.ok([200, 400, 404].includes(r.status), `${path}: ${r.status}`);
    if (r.status === 200) assert.match(r.body.toString(), /pythongoose is serving/, path);
  }
});

seedStatic('a %00 in the path does not cut the name short', async ({ srv }) => {
  for (const path of ['/style.css%00.txt', '/style.css%00', '/sub/index.html%00.png']) {
    const r = await raw(srv.port, 'GET', path);
    assert.not.ok(r.body.toString().includes('color'), `${path} served style.css`);
    assert.not.ok(r.body.toString().includes('sub index'), `${path} served sub/index.html`);
    assert.ok([400, 404].includes(r.status), `${path}: ${r.status}`);
  }
});

seedStatic('symlinks inside the directory are followed; ones leading out are not published', async ({ srv }) => {
  const alias = await request(srv.port, '/alias.css');
  assert.is(alias.status, 200);
  assert.is(alias.body.toString(), FILES['style.css']);
  for (const path of ['/leak.txt', '/leakdir/secret.txt', '/leakdir/', '/leakdir']) {
    const r = await request(srv.port, path);
    assert.not.ok(r.body.toString().includes('SECRET'), path);
    assert.match(r.body.toString(), /pythongoose is serving/, `${path} is no file: the OK page`);
  }
});

seedStatic('/api/ paths still go to the seed API', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname');
  assert.is(r.status, 401);
});

seedStatic('nothing is left behind', async ({ srv }) => {
  assert.is(await settled(srv, 10000), 0);
});

seedStatic.run();

// ============================================================================

const APP = `
from mongoose import App
app = App()

@app.get('/api/hello')
def hello(request):
    return 'hello from a route'

@app.get('/data.json')
def data(request):
    return {'from': 'route'}

app.run()
`;

const appStatic = suite<{ srv: TestServer; fx: Fixture }>('static files behind an App');

appStatic.before(async (ctx) => {
  ctx.fx = makeFixture();
  ctx.srv = await startServer({ source: APP, app: 'static_app.py', staticDir: ctx.fx.root, accessLog: false });
});
appStatic.after(async (ctx) => {
  await ctx.srv?.handle.close();
  if (ctx.fx) rmSync(ctx.fx.tmp, { recursive: true, force: true });
});

appStatic('routes answer first; files fill in for GET paths no route answers', async ({ srv }) => {
  const hello = await request(srv.port, '/api/hello');
  assert.is(hello.body.toString(), 'hello from a route');
  const data = await request(srv.port, '/data.json');
  assert.equal(JSON.parse(data.body.toString()), { from: 'route' }, 'the route wins over data.json');
  const css = await request(srv.port, '/style.css');
  assert.is(css.status, 200);
  assert.is(css.body.toString(), FILES['style.css']);
  const index = await request(srv.port, '/');
  assert.is(index.body.toString(), FILES['index.html']);
  const sub = await request(srv.port, '/sub');
  assert.is(sub.status, 301);
});

appStatic('a path that is no file or route is 404; so is POST to a file', async ({ srv }) => {
  assert.is((await request(srv.port, '/no/such/file.css')).status, 404);
  const post = await request(srv.port, '/style.css', { body: 'x' });
  assert.is(post.status, 404);
  assert.not.ok(post.body.toString().includes('color'));
});

appStatic('HEAD of a file has its headers and no body', async ({ srv }) => {
  const h = await raw(srv.port, 'HEAD', '/big.bin');
  assert.is(h.status, 200);
  assert.is(h.headers.get('content-length'), String(big.length));
});

appStatic('path traversal is 400 or 404, never a file from outside', async ({ srv }) => {
  for (const path of TRAVERSALS) {
    const r = await raw(srv.port, 'GET', path);
    assert.ok([400, 404].includes(r.status), `${path}: ${r.status} ${r.body.toString().slice(0, 60)}`);
    assert.not.ok(r.body.toString().includes('SECRET'), `${path} leaked the secret`);
  }
});

appStatic('Range and If-None-Match work behind an App too', async ({ srv }) => {
  const r = await request(srv.port, '/big.bin', { headers: { range: 'bytes=10-19' } });
  assert.is(r.status, 206);
  assert.ok(r.body.equals(big.subarray(10, 20)));
  const etag = String((await request(srv.port, '/app.js')).headers.etag);
  assert.is((await request(srv.port, '/app.js', { headers: { 'if-none-match': etag } })).status, 304);
});

appStatic.run();

// ============================================================================

const options = suite('static dir: options and errors');

options('App(static=False) serves no files', async () => {
  const fx = makeFixture();
  const srv = await startServer({
    source: "from mongoose import App\napp = App(static=False)\n@app.get('/x')\ndef x(r):\n    return 'x'\napp.run()\n",
    app: 'nostatic.py',
    staticDir: fx.root,
    accessLog: false,
  });
  try {
    assert.is((await request(srv.port, '/x')).body.toString(), 'x');
    assert.is((await request(srv.port, '/style.css')).status, 404);
    assert.is((await request(srv.port, '/')).status, 404);
  } finally {
    await srv.handle.close();
    rmSync(fx.tmp, { recursive: true, force: true });
  }
});

options('a missing static dir: serve() rejects with a clear AppError', async () => {
  const missing = join(tmpdir(), `pg-no-such-dir-${process.pid}`);
  try {
    await startServer({ staticDir: missing, accessLog: false });
    assert.unreachable('serve() started');
  } catch (err) {
    assert.instance(err, AppError);
    assert.match((err as Error).message, 'cannot read static dir');
    assert.match((err as Error).message, missing);
    assert.match((err as Error).message, 'ENOENT');
  }
});

options('a static "dir" that is a file: serve() rejects with a clear AppError', async () => {
  const fx = makeFixture();
  try {
    await startServer({ staticDir: join(fx.root, 'style.css'), accessLog: false });
    assert.unreachable('serve() started');
  } catch (err) {
    assert.instance(err, AppError);
    assert.match((err as Error).message, /is not a directory/);
  } finally {
    rmSync(fx.tmp, { recursive: true, force: true });
  }
});

options('a link back up the tree, or a dangling link, does not stop the server', async () => {
  const fx = makeFixture();
  symlinkSync('.', join(fx.root, 'self'));
  symlinkSync('..', join(fx.root, 'sub', 'up'));
  symlinkSync(join(fx.tmp, 'gone.txt'), join(fx.root, '.#lockfile'));
  const srv = await startServer({ staticDir: fx.root, accessLog: false });
  try {
    assert.is((await request(srv.port, '/style.css')).body.toString(), FILES['style.css']);
    assert.is((await request(srv.port, '/sub/deeper/note.txt')).body.toString(), FILES['sub/deeper/note.txt']);
  } finally {
    await srv.handle.close();
    rmSync(fx.tmp, { recursive: true, force: true });
  }
});

options('files added after start are not served (the guest has a copy)', async () => {
  const fx = makeFixture();
  const srv = await startServer({ staticDir: fx.root, accessLog: false });
  try {
    writeFileSync(join(fx.root, 'late.txt'), 'late');
    const r = await request(srv.port, '/late.txt');
    assert.not.ok(r.body.toString().includes('late'), 'a file written after start');
    assert.match(r.body.toString(), /pythongoose is serving/);
  } finally {
    await srv.handle.close();
    rmSync(fx.tmp, { recursive: true, force: true });
  }
});

options.run();
