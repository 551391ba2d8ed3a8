// Inbound's handshakes: SYNs toward the guest are spread over its listeners,
// at most MAX_HALF_OPEN in flight on each (Mongoose drops SYNs past a
// listener's 5-slot backlog), and a freed slot is taken by the next client.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Socket } from 'node:net';
import { Inbound, MAX_HALF_OPEN } from '../../ts/host/inbound.js';
import { NetInterface } from '../../ts/net/interface.js';
import { GATEWAY_IP, GUEST_HTTP_LISTENERS, GUEST_HTTP_PORT, LINK } from '../../ts/net/link.js';
import { parseIpv4Header } from '../../ts/net/wire/ipv4.js';
import { ACK, RST, SYN, parseTcp, seqAdd, type TcpRepr } from '../../ts/net/wire/tcp.js';
import { guestTcpFrame } from '../helpers/link.js';

const handshakes = suite('inbound handshakes');

function rig(): { inbound: Inbound; iface: NetInterface; toGuest: TcpRepr[]; sockets: Socket[] } {
  const toGuest: TcpRepr[] = [];
  const sink = {
    send(frame: Uint8Array): boolean {
      const ip = parseIpv4Header(frame, 14);
      if (typeof ip === 'string') throw new Error(ip);
      const seg = parseTcp(frame, ip.payloadStart, ip.payloadEnd);
      if (typeof seg === 'string') throw new Error(seg);
      toGuest.push({ ...seg });
      return true;
    },
  };
  let inbound: Inbound | undefined;
  const iface = new NetInterface(LINK, sink, (seg, frame) => inbound!.segment(seg, frame));
  iface.guestUp = true;
  inbound = new Inbound(iface, () => {});
  return { inbound, iface, toGuest, sockets: [] };
}

handshakes('200 clients at once: 5 SYNs on each listener, the rest wait', () => {
  const { inbound, toGuest, sockets } = rig();
  for (let i = 0; i < 200; i++) sockets.push(new Socket());
  for (const s of sockets) inbound.accept(s);
  const perPort = new Map<number, number>();
  for (const seg of toGuest) {
    assert.is(seg.flags, SYN);
    perPort.set(seg.dstPort, (perPort.get(seg.dstPort) ?? 0) + 1);
  }
  assert.equal(
    [...perPort].sort((a, b) => a[0] - b[0]),
    Array.from({ length: GUEST_HTTP_LISTENERS }, (_, i) => [GUEST_HTTP_PORT + i, MAX_HALF_OPEN]),
  );
  const stats = inbound.stats();
  assert.is(stats.halfOpen, GUEST_HTTP_LISTENERS * MAX_HALF_OPEN);
  assert.is(stats.waitingForSyn, 200 - GUEST_HTTP_LISTENERS * MAX_HALF_OPEN);
  inbound.closeAll();
});

handshakes("a listener's answered SYN frees its slot for the next client, on that listener", () => {
  const { inbound, iface, toGuest, sockets } = rig();
  for (let i = 0; i < 100; i++) sockets.push(new Socket());
  for (const s of sockets) inbound.accept(s);
  const syn = toGuest.find((s) => s.dstPort === GUEST_HTTP_PORT + 3)!;
  toGuest.length = 0;
  // The guest's SYN|ACK, as Mongoose's listener sends it.
  iface.receive(
    guestTcpFrame(LINK, { dstIp: GATEWAY_IP, srcPort: syn.dstPort, dstPort: syn.srcPort, seq: 7000, ack: seqAdd(syn.seq, 1), flags: SYN | ACK, window: 6000, mss: 1460, ipId: 1 }),
  );
  assert.equal(
    toGuest.map((s) => [s.flags, s.dstPort]),
    [
      [ACK, syn.dstPort], // the handshake's last step
      [SYN, syn.dstPort], // the next client takes the freed slot
    ],
  );
  assert.is(inbound.stats().halfOpen, GUEST_HTTP_LISTENERS * MAX_HALF_OPEN);
  // A segment for that flow from another listener's port is not the flow's: it is reset.
  toGuest.length = 0;
  iface.receive(guestTcpFrame(LINK, { dstIp: GATEWAY_IP, srcPort: syn.dstPort + 1, dstPort: syn.srcPort, seq: 7001, ack: seqAdd(syn.seq, 1), flags: ACK, window: 6000, ipId: 2 }));
  assert.is(toGuest.length, 1);
  assert.ok(toGuest[0].flags & RST, 'RST');
  inbound.closeAll();
});

handshakes.run();
