// Subscribers of a broadcast feed (spec/apps/send_caps.py) for the send-cap
// suites: a WebSocket client that reads every message, and a raw client that
// opens a route and then never reads.
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { rawConnect } from './server.js';

export interface FastWs {
  /** The number of each message received, in order. */
  got: number[];
  /** Resolves once `count` messages arrived or the socket closed. */
  done: Promise<void>;
  ws: WebSocket;
  /** The close code (0 while open). */
  code(): number;
  close(): void;
}

/** A WebSocket client of /wsopen that reads everything; messages start "<n>:". */
export function fastWs(port: number, count: number): Promise<FastWs> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/wsopen?tag=fast`, { maxPayload: 16 * 1024 * 1024 });
    const got: number[] = [];
    let finish: () => void;
    const done = new Promise<void>((r) => (finish = r));
    let code = 0;
    ws.on('message', (data: Buffer) => {
      got.push(Number(data.toString('latin1', 0, 12).split(':')[0]));
      if (got.length === count) finish();
    });
    ws.on('close', (c: number) => {
      code = c;
      finish();
    });
    ws.once('open', () => resolve({ got, done, ws, code: () => code, close: () => ws.close() }));
    ws.once('error', reject);
  });
}

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** The request head of a WebSocket upgrade to `path`. */
export const wsHead = (path: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** A client that sends `head` and then never reads. */
export async function slowClient(port: number, head: string): Promise<Socket> {
  const s = await rawConnect(port);
  s.on('error', () => {});
  s.write(head);
  s.pause();
  return s;
}
