// The health probe matcher: which first bytes of a connection are a probe of the
// path, which could still become one, and which are any other request.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HealthProbes } from '../../ts/serve/health.js';

const probes = suite('health probes');
const healthz = new HealthProbes('/healthz');
const of = (text: string): ReturnType<HealthProbes['classify']> => healthz.classify(Buffer.from(text, 'latin1'));

probes('GET and HEAD of the path, with or without a query, are probes', () => {
  assert.is(of('GET /healthz HTTP/1.1\r\n\r\n'), 'GET');
  assert.is(of('GET /healthz?full=1 HTTP/1.1\r\n'), 'GET');
  assert.is(of('HEAD /healthz HTTP/1.1\r\n\r\n'), 'HEAD');
  assert.is(of('HEAD /healthz?x HTTP/1.0\r\n'), 'HEAD');
});

probes('a prefix of a probe line waits for more bytes', () => {
  for (const text of ['G', 'GE', 'GET /health', 'H', 'HEAD /', 'GET /healthz']) assert.is(of(text), 'undecided', text);
});

probes('other requests and look-alikes are not probes', () => {
  for (const text of ['GET / HTTP/1.1\r\n', 'GET /healthzz HTTP/1.1', 'GET /healthz/x HTTP/1.1', 'POST /healthz HTTP/1.1', 'get /healthz ', 'HEADER', '\x16\x03\x01']) {
    assert.is(of(text), null, JSON.stringify(text));
  }
});

probes('a probe line cut past 512 bytes is not a probe', () => {
  const long = new HealthProbes(`/${'a'.repeat(600)}`);
  assert.is(long.classify(Buffer.from(`GET /${'a'.repeat(600)}`)), null);
  assert.is(long.classify(Buffer.from(`GET /${'a'.repeat(100)}`)), 'undecided');
});

probes.run();
