// Contender: the ceiling for the GET / scenario. A raw node:net server that
// answers every request head on a connection with one precomputed response
// (page()'s body, minimal headers); no HTTP parser, no routing, no per-request
// allocation. It only serves GET / (whatever the request says): it counts
// request-head terminators ("\r\n\r\n"), so keep-alive and pipelining work,
// but a request with a body would be miscounted. Use it for GET / only. A
// read that says "Connection: close" is answered and the socket ended (the
// new-connection-per-request scenario).
//
//   node bench/contenders/node-net.mjs --port N [--host 127.0.0.1]
// (--app is accepted and ignored, so every contender starts the same way.)

import net from 'node:net';
import { parseCli, announce } from './lib/http-server.mjs';

const PAGE = '<!doctype html><title>pythongoose bench</title><h1>OK</h1><p>served by a Python handler</p>\n';
const body = Buffer.from(PAGE, 'utf8');
const RESPONSE = Buffer.concat([
  Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'),
  body,
]);
// The same, saying it closes (else wrk counts the close as an error).
const CLOSING = Buffer.concat([
  Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, 'latin1'),
  body,
]);
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CLOSE = /\r\nconnection:[ \t]*close\r\n/i;

const { host, port } = parseCli();

// noDelay as node:http does by default, so small responses are not held back.
const server = net.createServer({ noDelay: true }, (socket) => {
  // Bytes after the last terminator (at most 3) that may start one split
  // across reads.
  let carry = null;
  socket.on('data', (chunk) => {
    const data = carry ? Buffer.concat([carry, chunk]) : chunk;
    let n = 0;
    let end = 0; // just past the last terminator found
    for (let i = data.indexOf(CRLFCRLF); i >= 0; i = data.indexOf(CRLFCRLF, end)) {
      n++;
      end = i + 4;
    }
    const keep = Math.max(end, data.length - 3);
    carry = keep < data.length ? data.subarray(keep) : null;
    if (n > 0 && CLOSE.test(data.toString('latin1', 0, end))) {
      socket.end(CLOSING);
    } else if (n === 1) {
      socket.write(RESPONSE);
    } else if (n > 1) {
      // Pipelined heads in one read: one write for all the answers.
      socket.cork();
      for (let k = 0; k < n; k++) socket.write(RESPONSE);
      socket.uncork();
    }
  });
  socket.on('error', () => {}); // resets from clients are normal under load
});

server.listen(port, host, () => announce(server, host));
