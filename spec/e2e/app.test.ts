// The Flask/Microdot-style App (c/py/mongoose/app.py), end to end over real
// sockets through the wasm guest, with the test app spec/apps/webapp.py.
import * as assert from 'uvu/assert';
import type { AccessRecord } from '../../ts/index.js';
import { ResponseReader, parseHead } from '../helpers/http1.js';
import { waitFor } from '../helpers/wait.js';
import { appPath, rawConnect, readAll, request, settled, sleep, serverSuite, startServer, stderrText, type Reply, type TestServer } from '../helpers/server.js';

const APP = appPath('webapp.py');

// ---- helpers -------------------------------------------------------------------

const json = (r: Reply): unknown => JSON.parse(r.body.toString('utf8'));
const header = (r: Reply, name: string): string | undefined => {
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
};

interface Parsed {
  status: number;
  headers: Map<string, string[]>;
  body: Buffer;
  /** The body was framed completely (all of Content-Length, or the last chunk). */
  complete: boolean;
}

/** Parse consecutive HTTP/1.1 responses from raw bytes. heads[i]: response i answers a HEAD (no body). */
function parseResponses(buf: Buffer, heads: boolean[] = []): Parsed[] {
  const out: Parsed[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const { status, fields, bodyStart } = parseHead(buf, pos);
    const headers = new Map<string, string[]>();
    for (const [name, value] of fields) headers.set(name, [...(headers.get(name) ?? []), value]);
    pos = bodyStart;
    const head = heads[out.length] ?? false;
    const te = headers.get('transfer-encoding')?.[0];
    if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      out.push({ status, headers, body: Buffer.alloc(0), complete: true });
    } else if (te !== undefined && /chunked/i.test(te)) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const eol = buf.indexOf('\r\n', pos);
        if (eol < 0) break;
        const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error(`bad chunk size at ${pos}`);
        if (size === 0) {
          if (buf.length >= eol + 4 && buf.subarray(eol + 2, eol + 4).toString() === '\r\n') {
            complete = true;
            pos = eol + 4;
          } else {
            pos = buf.length;
          }
          break;
        }
        if (buf.length < eol + 2 + size + 2) {
          parts.push(buf.subarray(eol + 2, Math.min(buf.length, eol + 2 + size)));
          pos = buf.length;
          break;
        }
        parts.push(buf.subarray(eol + 2, eol + 2 + size));
        pos = eol + 2 + size + 2;
      }
      out.push({ status, headers, body: Buffer.concat(parts), complete });
      if (!complete) break;
    } else {
      const len = Number(headers.get('content-length')?.[0] ?? 0);
      const body = buf.subarray(pos, Math.min(buf.length, pos + len));
      out.push({ status, headers, body, complete: body.length === len });
      pos += len;
    }
  }
  return out;
}

/** Write raw bytes on a new connection; resolve with everything until the server closes. */
async function exchange(port: number, data: string | Buffer): Promise<{ bytes: Buffer; local: { address: string; port: number } }> {
  const s = await rawConnect(port);
  const local = { address: s.localAddress ?? '', port: s.localPort ?? 0 };
  const done = readAll(s, 15000);
  s.write(data);
  const bytes = await done;
  s.destroy();
  return { bytes, local };
}

const sortKeys = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));

/** The expected bytes of /stream/big: n 64 KiB chunks, chunk i is the block rotated by i. */
function bigExpected(n: number): Buffer {
  const block = Buffer.alloc(65536);
  for (let i = 0; i < block.length; i++) block[i] = i & 255;
  const parts: Buffer[] = [];
  for (let i = 0; i < n; i++) parts.push(Buffer.concat([block.subarray(i), block.subarray(0, i)]));
  return Buffer.concat(parts);
}

const appSuite = (name: string, options: Parameters<typeof startServer>[0] = {}) => serverSuite(name, { app: APP, ...options });

// ---- routing -------------------------------------------------------------------

const routing = appSuite('App routing');

routing('a plain route answers', async ({ srv }) => {
  const r = await request(srv.port, '/');
  assert.is(r.status, 200);
  assert.is(r.body.toString(), '<h1>webapp</h1>');
});

routing('<name> parameter, percent-decoded', async ({ srv }) => {
  assert.is((await request(srv.port, '/hello/world')).body.toString(), 'hello world');
  assert.is((await request(srv.port, '/hello/J%C3%BCrgen%20X')).body.toString('utf8'), 'hello Jürgen X');
});

routing('<name> does not match an empty or multi-segment part', async ({ srv }) => {
  assert.is((await request(srv.port, '/hello/')).status, 404);
  assert.is((await request(srv.port, '/hello/a/b')).status, 404);
});

routing('<int:name> gives an int, negative ones too', async ({ srv }) => {
  assert.equal(json(await request(srv.port, '/items/42')), { id: 42, type: 'int', next: 43 });
  assert.equal(json(await request(srv.port, '/items/-7')), { id: -7, type: 'int', next: -6 });
  assert.equal(json(await request(srv.port, '/items/0')), { id: 0, type: 'int', next: 1 });
});

routing('<int:name> does not match non-numbers', async ({ srv }) => {
  for (const p of ['/items/abc', '/items/-', '/items/1.5', '/items/--1', '/items/12x']) {
    assert.is((await request(srv.port, p)).status, 404, p);
  }
});

routing('<path:name> takes the rest of the path, slashes included', async ({ srv }) => {
  assert.equal(json(await request(srv.port, '/files/a/b/c.txt')), { rest: 'a/b/c.txt' });
  assert.equal(json(await request(srv.port, '/files/one')), { rest: 'one' });
  assert.equal(json(await request(srv.port, '/files/a%2Fb/c%20d')), { rest: 'a/b/c d' });
});

routing('several parameters in one route', async ({ srv }) => {
  assert.equal(json(await request(srv.port, '/users/5/posts/first-post')), { uid: 5, slug: 'first-post' });
});

routing('an invalid percent-encoding in the path is a 400', async ({ srv }) => {
  const r = await request(srv.port, '/hello/%FF%FE');
  assert.is(r.status, 400);
});

routing('route(methods=...) and the method decorators', async ({ srv }) => {
  assert.is((await request(srv.port, '/multi')).body.toString(), 'multi GET');
  assert.is((await request(srv.port, '/multi', { method: 'POST', body: '' })).body.toString(), 'multi POST');
  assert.is((await request(srv.port, '/thing', { method: 'PUT', body: 'x' })).body.toString(), 'put x');
  assert.is((await request(srv.port, '/thing', { method: 'PATCH', body: 'y' })).body.toString(), 'patch y');
  const d = await request(srv.port, '/thing', { method: 'DELETE' });
  assert.is(d.status, 204);
  assert.is(d.body.length, 0);
});

routing('an unknown path is 404 (through errorhandler(404))', async ({ srv }) => {
  const r = await request(srv.port, '/no/such/page');
  assert.is(r.status, 404);
  assert.is(r.body.toString(), 'custom 404 for /no/such/page');
});

routing('a known path with the wrong method is 405 with Allow', async ({ srv }) => {
  const r = await request(srv.port, '/hello/x', { method: 'POST', body: 'b' });
  assert.is(r.status, 405);
  assert.is(header(r, 'allow'), 'GET, HEAD');
  const r2 = await request(srv.port, '/only-post', { method: 'DELETE' });
  assert.is(r2.status, 405);
  assert.is(header(r2, 'allow'), 'POST');
  const r3 = await request(srv.port, '/thing');
  assert.is(r3.status, 405);
  assert.is(header(r3, 'allow'), 'PUT, PATCH, DELETE');
  const r4 = await request(srv.port, '/multi', { method: 'PUT', body: '' });
  assert.is(r4.status, 405);
  assert.is(header(r4, 'allow'), 'GET, POST, HEAD');
});

routing('HEAD of a GET route: headers and Content-Length, no body', async ({ srv }) => {
  // A GET follows on the same connection: its status line must come right after the HEAD's headers.
  const { bytes } = await exchange(
    srv.port,
    'HEAD /hello/world HTTP/1.1\r\nHost: t\r\n\r\nGET /hello/after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
  );
  const text = bytes.toString('latin1');
  const firstEnd = text.indexOf('\r\n\r\n');
  assert.ok(text.slice(firstEnd + 4).startsWith('HTTP/1.1 200'), `HEAD sent a body: ${JSON.stringify(text)}`);
  const [head, get] = parseResponses(bytes, [true, false]);
  assert.is(head.status, 200);
  assert.equal(head.headers.get('content-length'), [String('hello world'.length)]);
  assert.match(head.headers.get('content-type')?.[0] ?? '', /text\/html/);
  assert.equal(head.headers.get('x-after'), ['yes']);
  assert.is(get.status, 200);
  assert.is(get.body.toString(), 'hello after');
});

routing('HEAD of a streamed route sends no chunks', async ({ srv }) => {
  const { bytes } = await exchange(
    srv.port,
    'HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\nGET /hello/next HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
  );
  const text = bytes.toString('latin1');
  assert.ok(text.slice(text.indexOf('\r\n\r\n') + 4).startsWith('HTTP/1.1 200'), `HEAD sent a body: ${JSON.stringify(text)}`);
  const [head, get] = parseResponses(bytes, [true, false]);
  assert.is(head.status, 200);
  assert.is(get.body.toString(), 'hello next');
});

routing('HEAD of a POST-only route is 405', async ({ srv }) => {
  const r = await request(srv.port, '/only-post', { method: 'HEAD' });
  assert.is(r.status, 405);
  assert.is(header(r, 'allow'), 'POST');
});

routing('OPTIONS is 204 with Allow', async ({ srv }) => {
  const r = await request(srv.port, '/multi', { method: 'OPTIONS' });
  assert.is(r.status, 204);
  assert.is(header(r, 'allow'), 'GET, POST, HEAD');
  assert.is(r.body.length, 0);
  const r2 = await request(srv.port, '/thing', { method: 'OPTIONS' });
  assert.is(r2.status, 204);
  assert.is(header(r2, 'allow'), 'PUT, PATCH, DELETE');
});

routing('OPTIONS of an unknown path is 404', async ({ srv }) => {
  assert.is((await request(srv.port, '/nowhere', { method: 'OPTIONS' })).status, 404);
});

routing('an unknown method (BREW) is 501', async ({ srv }) => {
  const { bytes } = await exchange(srv.port, 'BREW /hello/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  const [r] = parseResponses(bytes);
  assert.is(r.status, 501);
  assert.match(r.body.toString(), /Not Implemented/);
});

routing.run();

// ---- Request -------------------------------------------------------------------

const req = appSuite('App Request fields');

req('method, path and query_string', async ({ srv }) => {
  assert.equal(json(await request(srv.port, '/reqinfo?x=1&y')), { method: 'GET', path: '/reqinfo', query_string: 'x=1&y' });
});

req('query: repeated keys, getlist, percent-decoding, defaults', async ({ srv }) => {
  const q = json(await request(srv.port, '/query?a=1&a=2&b=x%20y&a=3&c=')) as Record<string, unknown>;
  assert.is(q.a, '1');
  assert.equal(q.alist, ['1', '2', '3']);
  assert.is(q.b, 'x y');
  assert.is(q.missing, 'dflt');
  assert.equal(q.missing_list, []);
  assert.equal(q.keys, ['a', 'b', 'c']);
  assert.is(q.raw, 'a=1&a=2&b=x%20y&a=3&c=');
});

req('query: "+" is a space, as a GET form submits it', async ({ srv }) => {
  const q = json(await request(srv.port, '/query?b=hello+world%2B1')) as Record<string, unknown>;
  assert.is(q.b, 'hello world+1');
});

req('query: malformed percent escapes stay as they are', async ({ srv }) => {
  for (const [raw, want] of [
    ['5%2', '5%2'],
    ['100%', '100%'],
    ['%zz1', '%zz1'],
    ['%%41', '%A'],
    ['%2', '%2'],
    ['%-1x', '%-1x'],
    ['%41%42', 'AB'],
  ]) {
    const q = json(await request(srv.port, `/query?b=${raw}`)) as Record<string, unknown>;
    assert.is(q.b, want, raw);
  }
});

req('headers are looked up case-insensitively', async ({ srv }) => {
  const r = await request(srv.port, '/headers', { headers: { 'X-Custom-Thing': 'Some Value' } });
  assert.equal(json(r), { lower: 'Some Value', upper: 'Some Value', item: 'Some Value', has: true, absent: null, absent_in: false });
});

req('repeated request headers are joined with ", "', async ({ srv }) => {
  const { bytes } = await exchange(
    srv.port,
    'GET /headers HTTP/1.1\r\nHost: t\r\nx-custom-thing: one\r\nX-CUSTOM-THING: two\r\nConnection: close\r\n\r\n',
  );
  const [r] = parseResponses(bytes);
  assert.is((JSON.parse(r.body.toString()) as { item: string }).item, 'one, two');
});

req('body is bytes, non-UTF-8 intact', async ({ srv }) => {
  const body = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x80, 0x0d, 0x0a]);
  const r = await request(srv.port, '/echo', { body });
  assert.is(r.status, 200);
  assert.equal(r.body, body);
  assert.is(header(r, 'x-body-type'), 'bytes');
  assert.is(header(r, 'x-body-len'), String(body.length));
  assert.is(header(r, 'content-type'), 'application/octet-stream');
});

req('the body compares, hashes and works as a dict key like a literal', async ({ srv }) => {
  const r = await request(srv.port, '/body-as-key', { body: 'key-1' });
  assert.equal(json(r), { equal: true, hash: true, lookup: 'found', in: true, other: false });
});

req('an empty body is b""', async ({ srv }) => {
  const r = await request(srv.port, '/echo', { method: 'POST', body: '' });
  assert.is(r.status, 200);
  assert.is(header(r, 'x-body-type'), 'bytes');
  assert.is(header(r, 'x-body-len'), '0');
});

req('text decodes UTF-8', async ({ srv }) => {
  const r = await request(srv.port, '/text', { body: 'grüße ✓' });
  assert.equal(json(r), { type: 'str', text: 'grüße ✓', len: 7 });
});

req('text of a non-UTF-8 body is a 400', async ({ srv }) => {
  const r = await request(srv.port, '/text', { body: Buffer.from([0xc3, 0x28]) });
  assert.is(r.status, 400);
});

req('json() parses the body', async ({ srv }) => {
  const r = await request(srv.port, '/json', { body: '{"a": [1, 2.5, null, true], "s": "ü"}', headers: { 'content-type': 'application/json' } });
  assert.is(r.status, 200);
  assert.equal(json(r), { got: { a: [1, 2.5, null, true], s: 'ü' }, type: 'dict' });
  assert.equal(json(await request(srv.port, '/json', { body: '[1,2]' })), { got: [1, 2], type: 'list' });
});

req('json() of invalid JSON is a 400', async ({ srv }) => {
  const r = await request(srv.port, '/json', { body: '{not json' });
  assert.is(r.status, 400);
  assert.match(r.body.toString(), /invalid JSON/);
});

req('json() of an empty body is a 400', async ({ srv }) => {
  const r = await request(srv.port, '/json', { method: 'POST', body: '' });
  assert.is(r.status, 400);
  assert.match(r.body.toString(), /empty JSON body/);
});

req('form parses application/x-www-form-urlencoded', async ({ srv }) => {
  const r = await request(srv.port, '/form', {
    body: 'name=J%C3%BCrgen+X&tag=a&tag=b%26c&empty=',
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
  });
  assert.equal(json(r), { name: 'Jürgen X', tags: ['a', 'b&c'], empty: '', n: 3 });
});

req('form is empty for another Content-Type', async ({ srv }) => {
  const r = await request(srv.port, '/form', { body: 'name=x', headers: { 'content-type': 'text/plain' } });
  assert.equal(json(r), { name: null, tags: [], empty: null, n: 0 });
});

req('cookies from the Cookie header', async ({ srv }) => {
  const r = await request(srv.port, '/cookies', { headers: { cookie: 'a=1; b=two;c=x=y; junk' } });
  assert.equal(json(r), { a: '1', b: 'two', c: 'x=y' });
  assert.equal(json(await request(srv.port, '/cookies')), {});
});

req("client_addr is the test client's own address and port", async ({ srv }) => {
  const { bytes, local } = await exchange(srv.port, 'GET /client HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  const [r] = parseResponses(bytes);
  assert.is(local.address, '127.0.0.1');
  assert.equal(JSON.parse(r.body.toString()), { type: 'tuple', addr: [local.address, local.port] });
});

req('authorization is (user, password), or None', async ({ srv }) => {
  assert.equal(json(await request(srv.port, '/whoami', { auth: 'bob:pa:ss wörd' })), { auth: ['bob', 'pa:ss wörd'] });
  assert.equal(json(await request(srv.port, '/whoami')), { auth: null });
  assert.equal(json(await request(srv.port, '/whoami', { headers: { authorization: 'Bearer xyz' } })), { auth: null });
});

req.run();

// ---- Response ------------------------------------------------------------------

const resp = appSuite('App responses');

resp('str is text/html', async ({ srv }) => {
  const r = await request(srv.port, '/r/str');
  assert.is(r.status, 200);
  assert.is(header(r, 'content-type'), 'text/html; charset=utf-8');
  assert.is(header(r, 'content-length'), String('<p>a str</p>'.length));
  assert.is(r.body.toString(), '<p>a str</p>');
});

resp('bytes are application/octet-stream', async ({ srv }) => {
  const r = await request(srv.port, '/r/bytes');
  assert.is(header(r, 'content-type'), 'application/octet-stream');
  assert.equal(r.body, Buffer.from([0, 1, 2, 255]));
});

resp('dict is JSON', async ({ srv }) => {
  const r = await request(srv.port, '/r/dict');
  assert.is(header(r, 'content-type'), 'application/json');
  assert.equal(json(r), { k: 'v', n: [1, 2, 3], nested: { t: true, none: null } });
});

resp('list is JSON', async ({ srv }) => {
  const r = await request(srv.port, '/r/list');
  assert.is(header(r, 'content-type'), 'application/json');
  assert.equal(json(r), [1, 'two', { three: 3 }]);
});

resp('(body, status)', async ({ srv }) => {
  const r = await request(srv.port, '/r/tuple-status');
  assert.is(r.status, 201);
  assert.is(r.body.toString(), 'created');
  const r2 = await request(srv.port, '/r/dict-status');
  assert.is(r2.status, 418);
  assert.equal(json(r2), { error: 'nope' });
});

resp('(body, status, headers); a Content-Type there wins', async ({ srv }) => {
  const r = await request(srv.port, '/r/tuple-headers');
  assert.is(r.status, 202);
  assert.is(header(r, 'x-one'), '1');
  assert.is(header(r, 'x-two'), 'two');
  assert.is(header(r, 'content-type'), 'text/plain; charset=utf-8');
  assert.is(r.body.toString(), 'with headers');
});

resp('(Response, status, headers) updates the Response', async ({ srv }) => {
  const r = await request(srv.port, '/r/response-tuple');
  assert.is(r.status, 203);
  assert.is(header(r, 'x-orig'), 'o');
  assert.is(header(r, 'x-added'), 'a');
  assert.is(r.body.toString(), 'resp');
});

resp('set_cookie attributes appear in Set-Cookie headers', async ({ srv }) => {
  const r = await request(srv.port, '/r/cookie');
  const cookies = r.headers['set-cookie'] as string[];
  assert.ok(Array.isArray(cookies));
  assert.is(cookies.length, 2);
  assert.is(cookies[0], 'session=abc123; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax');
  assert.is(cookies[1], 'theme=dark; Path=/app; Domain=example.com; Secure');
  assert.is(r.body.toString(), 'cookies set');
});

resp('delete_cookie expires the cookie', async ({ srv }) => {
  const r = await request(srv.port, '/r/delcookie');
  const cookies = r.headers['set-cookie'] as string[];
  assert.equal(cookies, ['session=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT']);
});

resp('redirect() is a 302 with Location', async ({ srv }) => {
  const r = await request(srv.port, '/r/redirect');
  assert.is(r.status, 302);
  assert.is(header(r, 'location'), '/hello/redirected');
});

resp('redirect(url, 301)', async ({ srv }) => {
  const r = await request(srv.port, '/r/redirect301');
  assert.is(r.status, 301);
  assert.is(header(r, 'location'), 'https://example.com/moved');
});

resp('a header value with CR LF is a 500, not header injection', async ({ srv }) => {
  for (const path of ['/r/bad-header', '/r/bad-header-name']) {
    const { bytes } = await exchange(srv.port, `GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    const text = bytes.toString('latin1');
    assert.not.match(text, /\r\nX-Injected/i, path);
    const [r] = parseResponses(bytes);
    assert.is(r.status, 500, path);
    assert.is(r.headers.get('x-bad'), undefined);
  }
  await waitFor('traceback', () => (/ValueError: invalid header/.test(stderrText(srv)) ? true : undefined));
  assert.match(stderrText(srv), /Traceback while answering GET \/r\/bad-header:\n/);
  assert.match(stderrText(srv), /Traceback while answering GET \/r\/bad-header-name:\n/);
  assert.is((await request(srv.port, '/hello/still')).body.toString(), 'hello still');
});

resp('an invalid status is a 500 with a traceback naming the request', async ({ srv }) => {
  const r = await request(srv.port, '/r/bad-status');
  assert.is(r.status, 500);
  assert.is(r.body.toString(), 'Internal Server Error\n');
  await waitFor('traceback', () => (/Traceback while answering GET \/r\/bad-status:\n/.test(stderrText(srv)) ? true : undefined));
  assert.match(stderrText(srv), /ValueError: status must be 200\.\.999/);
});

resp("the app's Content-Length / Transfer-Encoding never contradict the real framing", async ({ srv }) => {
  const { bytes } = await exchange(
    srv.port,
    'GET /r/framing HTTP/1.1\r\nHost: t\r\n\r\nGET /stream/framing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
  );
  const [whole, streamed] = parseResponses(bytes);
  assert.equal(whole.headers.get('content-length'), ['3']);
  assert.is(whole.headers.get('transfer-encoding'), undefined);
  assert.is(whole.body.toString(), 'abc');
  assert.equal(streamed.headers.get('transfer-encoding'), ['chunked']);
  assert.is(streamed.headers.get('content-length'), undefined);
  assert.is(streamed.body.toString(), 'abcd');
  assert.ok(streamed.complete);
});

resp('a handler returning None is a 500 with a traceback', async ({ srv }) => {
  const r = await request(srv.port, '/r/none');
  assert.is(r.status, 500);
  await waitFor('traceback', () => (/Traceback while answering GET \/r\/none:/.test(stderrText(srv)) ? true : undefined));
  assert.match(stderrText(srv), /TypeError: the handler returned None/);
});

resp.run();

// ---- Streaming -----------------------------------------------------------------

const stream = appSuite('App streaming bodies');

stream('a generator body is sent chunked', async ({ srv }) => {
  const r = await request(srv.port, '/stream');
  assert.is(r.status, 200);
  assert.is(header(r, 'transfer-encoding'), 'chunked');
  assert.is(header(r, 'content-length'), undefined);
  assert.is(r.body.toString(), 'one,two,three');
});

stream('chunk framing on the wire: one chunk per non-empty yield, then the last chunk', async ({ srv }) => {
  const { bytes } = await exchange(srv.port, 'GET /stream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  const text = bytes.toString('latin1');
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.is(body, '4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n');
});

stream('any iterable body (a tuple) is streamed', async ({ srv }) => {
  const r = await request(srv.port, '/stream/list');
  assert.is(header(r, 'transfer-encoding'), 'chunked');
  assert.is(r.body.toString(), 'abc');
});

stream('2 MiB in 64 KiB chunks arrives byte-exact', async ({ srv }) => {
  const r = await request(srv.port, '/stream/big?n=32');
  assert.is(r.status, 200);
  assert.is(header(r, 'transfer-encoding'), 'chunked');
  assert.is(header(r, 'content-type'), 'application/octet-stream');
  assert.is(r.body.length, 32 * 65536);
  assert.ok(r.body.equals(bigExpected(32)), 'streamed bytes differ');
});

stream('a generator that raises midway cuts the response short; serving goes on', async ({ srv }) => {
  const { bytes } = await exchange(srv.port, 'GET /stream/fail HTTP/1.1\r\nHost: t\r\n\r\n');
  const [r] = parseResponses(bytes);
  assert.is(r.status, 200);
  assert.is(r.complete, false, 'the response looked whole');
  assert.not.ok(bytes.toString('latin1').endsWith('0\r\n\r\n'));
  assert.ok(r.body.toString().startsWith('part1,'), r.body.toString());
  await waitFor('streaming traceback', () => (/Traceback while streaming GET \/stream\/fail:/.test(stderrText(srv)) ? true : undefined));
  assert.match(stderrText(srv), /RuntimeError: generator broke on purpose/);
  assert.is((await request(srv.port, '/hello/after-fail')).body.toString(), 'hello after-fail');
});

stream('an HTTP client sees the cut-short stream as an error', async ({ srv }) => {
  let failed = false;
  try {
    await request(srv.port, '/stream/fail');
  } catch {
    failed = true;
  }
  assert.ok(failed, 'the client took the truncated body as complete');
  assert.is((await request(srv.port, '/stream')).body.toString(), 'one,two,three');
});

stream.run();

// ---- Hooks and errors ----------------------------------------------------------

const hooks = appSuite('App hooks and error handlers');

hooks('before_request can answer instead of the route', async ({ srv }) => {
  const r = await request(srv.port, '/blocked');
  assert.is(r.status, 403);
  assert.is(r.body.toString(), 'blocked by before_request');
  const r2 = await request(srv.port, '/hello/x', { headers: { 'x-short-circuit': '1' } });
  assert.is(r2.status, 200);
  assert.equal(json(r2), { short: true });
});

hooks('after_request adds a header; request.g carries state from before_request', async ({ srv }) => {
  const r = await request(srv.port, '/hello/x');
  assert.is(header(r, 'x-after'), 'yes');
  assert.is(header(r, 'x-before-ran'), '1');
  assert.is(r.body.toString(), 'hello x');
  assert.is(header(await request(srv.port, '/blocked'), 'x-after'), 'yes');
});

hooks('errorhandler(404) gives the custom body', async ({ srv }) => {
  const r = await request(srv.port, '/missing-page');
  assert.is(r.status, 404);
  assert.is(header(r, 'content-type'), 'text/plain; charset=utf-8');
  assert.is(r.body.toString(), 'custom 404 for /missing-page');
});

hooks('errorhandler(ValueError) catches it and subclasses, without a traceback', async ({ srv }) => {
  const r = await request(srv.port, '/raise/value');
  assert.is(r.status, 422);
  assert.equal(json(r), { error: 'value', message: 'bad value here' });
  const r2 = await request(srv.port, '/raise/subvalue');
  assert.is(r2.status, 422);
  assert.equal(json(r2), { error: 'value', message: 'a subclass' });
  await sleep(50);
  assert.not.match(stderrText(srv), /bad value here|a subclass/);
});

hooks('abort(403) and abort(status, message)', async ({ srv }) => {
  const r = await request(srv.port, '/abort/403');
  assert.is(r.status, 403);
  assert.is(r.body.toString(), 'Forbidden\n');
  const r2 = await request(srv.port, '/abort/msg');
  assert.is(r2.status, 409);
  assert.is(r2.body.toString(), 'already there\n');
});

hooks('an uncaught exception is a 500 with a traceback naming the request', async ({ srv }) => {
  const r = await request(srv.port, '/raise/runtime?q=1');
  assert.is(r.status, 500);
  assert.is(r.body.toString(), 'Internal Server Error\n');
  const err = await waitFor('traceback', () => {
    const t = stderrText(srv);
    return /Traceback while answering GET \/raise\/runtime:\n/.test(t) ? t : undefined;
  });
  const tb = err.slice(err.indexOf('Traceback while answering GET /raise/runtime:'));
  assert.match(tb, /Traceback \(most recent call last\):/);
  assert.match(tb, /webapp\.py/);
  assert.match(tb, /RuntimeError: handler exploded on purpose/);
  assert.is((await request(srv.port, '/hello/alive')).body.toString(), 'hello alive');
});

hooks.run();

// ---- Auth ----------------------------------------------------------------------

const auth = appSuite('App Basic auth');

auth('a basic_auth prefix without credentials is 401 with WWW-Authenticate', async ({ srv }) => {
  const r = await request(srv.port, '/admin/panel');
  assert.is(r.status, 401);
  assert.is(header(r, 'www-authenticate'), 'Basic realm="admin area"');
});

auth('wrong credentials are 401', async ({ srv }) => {
  assert.is((await request(srv.port, '/admin/panel', { auth: 'admin:wrong' })).status, 401);
  assert.is((await request(srv.port, '/admin/panel', { auth: 'alice:wonderland' })).status, 401);
  assert.is((await request(srv.port, '/admin/panel', { headers: { authorization: 'Basic !!!' } })).status, 401);
});

auth('good credentials are 200', async ({ srv }) => {
  const r = await request(srv.port, '/admin/panel', { auth: 'admin:s3cret' });
  assert.is(r.status, 200);
  assert.is(r.body.toString(), 'panel for admin');
});

auth('the prefix protects paths no route answers too (401 before 404)', async ({ srv }) => {
  assert.is((await request(srv.port, '/admin/nothing')).status, 401);
  assert.is((await request(srv.port, '/admin/nothing', { auth: 'admin:s3cret' })).status, 404);
});

auth('percent-encoded and doubled slashes do not get around the prefix', async ({ srv }) => {
  for (const path of ['/%61dmin/panel', '/%41dmin/panel', '//admin/panel', '/admin//panel', '/%2561dmin/panel']) {
    const r = await request(srv.port, path);
    assert.ok(r.status === 401 || r.status === 404, `${path}: ${r.status}`);
    assert.is.not(r.body.toString(), 'panel for admin', path);
  }
  assert.is((await request(srv.port, '/%61dmin/panel')).status, 401);
});

auth('paths outside the prefix need no credentials', async ({ srv }) => {
  assert.is((await request(srv.port, '/hello/anon')).status, 200);
});

auth('per-route auth=check', async ({ srv }) => {
  const r = await request(srv.port, '/private');
  assert.is(r.status, 401);
  assert.match(header(r, 'www-authenticate') ?? '', /^Basic realm=/);
  assert.is((await request(srv.port, '/private', { auth: 'admin:s3cret' })).status, 401);
  const ok = await request(srv.port, '/private', { auth: 'alice:wonderland' });
  assert.is(ok.status, 200);
  assert.is(ok.body.toString(), 'private for alice');
});

auth.run();

// ---- Timers --------------------------------------------------------------------

const timers = appSuite('App timers');
type Counters = { repeat: number; cancelled: number; once: number };
const counters = async (srv: TestServer): Promise<Counters> => json(await request(srv.port, '/timers')) as Counters;

timers('a repeating timer runs while the server is idle', async ({ srv }) => {
  const first = await waitFor('the repeating timer', async () => {
    const c = await counters(srv);
    return c.repeat >= 2 ? c : undefined;
  });
  // No traffic at all for a while, then look again (several tries, generous).
  let later = first;
  for (let i = 0; i < 10 && later.repeat <= first.repeat; i++) {
    await sleep(400);
    later = await counters(srv);
  }
  assert.ok(later.repeat > first.repeat, `repeat stayed at ${first.repeat}`);
});

timers('a one-shot timer fires exactly once', async ({ srv }) => {
  const c0 = await waitFor('the one-shot timer', async () => {
    const c = await counters(srv);
    return c.once >= 1 ? c : undefined;
  });
  // Let the repeating timer (a shorter interval) run a few more times.
  await waitFor('more ticks', async () => ((await counters(srv)).repeat >= c0.repeat + 4 ? true : undefined));
  assert.is((await counters(srv)).once, 1);
});

timers('cancel() stops a repeating timer; the others go on', async ({ srv }) => {
  await waitFor('the cancellable timer', async () => ((await counters(srv)).cancelled >= 2 ? true : undefined));
  const atCancel = json(await request(srv.port, '/timers/cancel', { method: 'POST', body: '' })) as Counters;
  assert.ok(atCancel.cancelled >= 2);
  await waitFor('more ticks', async () => ((await counters(srv)).repeat >= atCancel.repeat + 5 ? true : undefined));
  await sleep(200);
  const after = await counters(srv);
  assert.is(after.cancelled, atCancel.cancelled);
  assert.ok(after.repeat > atCancel.repeat);
});

timers.run();

// ---- Connections ---------------------------------------------------------------

const conns = appSuite('App keep-alive and pipelining');

conns('several requests on one keep-alive connection', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const reader = new ResponseReader(s);
  try {
    for (const [req, status, body] of [
      ['GET /hello/one HTTP/1.1\r\nHost: t\r\n\r\n', 200, 'hello one'],
      ['POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nping', 200, 'ping'],
      ['GET /nope HTTP/1.1\r\nHost: t\r\n\r\n', 404, 'custom 404 for /nope'],
      ['GET /items/-9 HTTP/1.1\r\nHost: t\r\n\r\n', 200, '{"id":-9,"next":-8,"type":"int"}'],
      ['GET /raise/runtime HTTP/1.1\r\nHost: t\r\n\r\n', 500, 'Internal Server Error\n'],
      ['GET /hello/last HTTP/1.1\r\nHost: t\r\n\r\n', 200, 'hello last'],
    ] as const) {
      s.write(req);
      const r = await reader.next();
      assert.is(r.status, status, req);
      // JSON bodies compared with sorted keys: MicroPython's dict order is its own.
      const text = r.body.toString();
      assert.is(text.startsWith('{') ? JSON.stringify(sortKeys(JSON.parse(text))) : text, body, req);
    }
  } finally {
    s.destroy();
  }
});

conns('pipelined requests on one socket are answered in order', async ({ srv }) => {
  const { bytes } = await exchange(
    srv.port,
    [
      'GET /hello/1 HTTP/1.1\r\nHost: t\r\n\r\n',
      'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello',
      'GET /stream HTTP/1.1\r\nHost: t\r\n\r\n',
      'HEAD /hello/h HTTP/1.1\r\nHost: t\r\n\r\n',
      'GET /items/-3 HTTP/1.1\r\nHost: t\r\n\r\n',
      'GET /stream/big?n=3 HTTP/1.1\r\nHost: t\r\n\r\n',
      'GET /hello/last HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n',
    ].join(''),
  );
  const rs = parseResponses(bytes, [false, false, false, true, false, false, false]);
  assert.is(rs.length, 7);
  assert.equal(rs.map((r) => r.status), [200, 200, 200, 200, 200, 200, 200]);
  assert.is(rs[0].body.toString(), 'hello 1');
  assert.is(rs[1].body.toString(), 'hello');
  assert.is(rs[2].body.toString(), 'one,two,three');
  assert.equal(rs[3].headers.get('content-length'), ['7']);
  assert.equal(JSON.parse(rs[4].body.toString()), { id: -3, type: 'int', next: -2 });
  assert.ok(rs[5].body.equals(bigExpected(3)), 'streamed bytes differ');
  assert.is(rs[6].body.toString(), 'hello last');
  assert.ok(rs.every((r) => r.complete));
});

conns('nothing is left behind', async ({ srv }) => {
  assert.is(await settled(srv), 0);
});

conns.run();

// ---- Access log ----------------------------------------------------------------

const log = appSuite('App access log (default: a line on stderr)');

log('a response writes a line with client, request, status and bytes', async ({ srv }) => {
  const { local } = await exchange(srv.port, 'GET /hello/logme?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
  const line = await waitFor('the access log line', () =>
    stderrText(srv)
      .split('\n')
      .find((l) => l.includes('"GET /hello/logme?x=1"')),
  );
  const re = new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z 127\\.0\\.0\\.1:${local.port} "GET /hello/logme\\?x=1" 200 ${'hello logme'.length} \\d+ms$`);
  assert.match(line, re);
});

log('error statuses and streamed bodies are logged with their sizes', async ({ srv }) => {
  await request(srv.port, '/no-such');
  await request(srv.port, '/stream');
  const find = (needle: string) => () => stderrText(srv).split('\n').find((l) => l.includes(needle));
  const notFound = await waitFor('404 line', find('"GET /no-such"'));
  assert.match(notFound, new RegExp(`" 404 ${'custom 404 for /no-such'.length} \\d+ms$`));
  const streamed = await waitFor('stream line', find('"GET /stream"'));
  assert.match(streamed, /" 200 13 \d+ms$/);
});

log.run();

const quiet = appSuite('App access log off (accessLog: false)', { accessLog: false });

quiet('no access log line is written', async ({ srv }) => {
  assert.is((await request(srv.port, '/hello/quiet')).status, 200);
  assert.is((await request(srv.port, '/nothing-here')).status, 404);
  // An uncaught exception still logs its traceback: stderr is live, only the log is off.
  assert.is((await request(srv.port, '/raise/runtime')).status, 500);
  await waitFor('traceback', () => (/Traceback while answering GET \/raise\/runtime/.test(stderrText(srv)) ? true : undefined));
  await sleep(200);
  assert.not.match(stderrText(srv), /"GET \//);
});

quiet.run();

const records: AccessRecord[] = [];
const fnLog = appSuite('App access log as a function', { accessLog: (r: AccessRecord) => records.push(r) });

fnLog('each response gives a record with the right fields', async ({ srv }) => {
  const s = await rawConnect(srv.port);
  const localPort = s.localPort;
  const reader = new ResponseReader(s);
  s.write('GET /hello/rec?a=b HTTP/1.1\r\nHost: t\r\n\r\n');
  await reader.next();
  s.write('POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc');
  await reader.next();
  s.write('GET /abort/403 HTTP/1.1\r\nHost: t\r\n\r\n');
  await reader.next();
  s.destroy();
  await waitFor('three records', () => (records.length >= 3 ? true : undefined));
  const client = `127.0.0.1:${localPort}`;
  const [a, b, c] = records.slice(-3);
  assert.is(a.client, client);
  assert.is(a.request, 'GET /hello/rec?a=b');
  assert.is(a.status, 200);
  assert.is(a.bytes, 'hello rec'.length);
  assert.type(a.ms, 'number');
  assert.ok(a.ms >= 0);
  assert.equal([b.client, b.request, b.status, b.bytes], [client, 'POST /echo', 200, 3]);
  assert.equal([c.client, c.request, c.status, c.bytes], [client, 'GET /abort/403', 403, 'Forbidden\n'.length]);
  assert.not.match(stderrText(srv), /"GET \/hello\/rec/);
});

fnLog.run();
