// Contender for the HTTPS scenarios: node:https with the same certificate and
// key pythongoose serves, answering GET / with bench/app.py's page bytes.
//
//   node bench/contenders/node-https.mjs --port N --host H --tls-cert FILE --tls-key FILE

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    app: { type: 'string' }, // accepted as every contender does; the page is fixed
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
  },
});
const PAGE = '<!doctype html><title>pythongoose bench</title><h1>OK</h1><p>served by a Python handler</p>\n';
createServer({ cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) }, (req, res) => {
  if (req.method === 'GET' && req.url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(PAGE) });
    res.end(PAGE);
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 });
    res.end('not found\n');
  }
}).listen(Number(values.port), values.host);
