// The host's end of one virtual link: the interface that checks every guest
// frame, and the demux of its TCP and UDP to the inbound relay (clients of
// the guest's HTTP server) or the outbound gateway (the guest's own
// connections and DNS). Instance wires it to a guest; the fuzz rig to a fake.
import type { Socket } from 'node:net';
import { NetInterface, type FrameSink, type LinkConfig } from '../net/interface.js';
import type { Ipv4 } from '../net/wire/ipv4.js';
import { Inbound, type EndedClientHooks } from './inbound.js';
import { Outbound, type EgressOptions } from './outbound.js';

export interface RouterHooks {
  /** Hold (or resume) TCP data of a flow, named by its port (net/link.ts isInbound). */
  setPaused(port: number, paused: boolean): void;
  /** The guest's side of half-closed clients' flows (none: their pipelined requests are not held). */
  endedClients?: EndedClientHooks;
  /** A client was given host port `port` for its connection. */
  accepted?(port: number, socket: Socket): void;
  /** Tell the guest why its connection from `port` was refused or reset ('' clears it). */
  refuse(port: number, reason: string): void;
  /** A host log line (egress denials and the like). */
  log(line: string): void;
  /** Sees every TCP segment's destination before it is routed (for the fuzz rig's oracle). */
  tap?(dstIp: Ipv4): void;
}

export class LinkRouter {
  readonly iface: NetInterface;
  readonly inbound: Inbound;
  readonly outbound: Outbound;

  constructor(link: LinkConfig, sink: FrameSink, egress: EgressOptions, hooks: RouterHooks) {
    const tap = hooks.tap;
    this.iface = new NetInterface(
      link,
      sink,
      (seg, frame, dstIp) => {
        tap?.(dstIp);
        if (this.inbound.owns(seg, dstIp)) this.inbound.segment(seg, frame);
        else this.outbound.segment(seg, frame, dstIp);
      },
      (dgram, frame, dstIp) => this.outbound.datagram(dgram, frame, dstIp),
    );
    this.inbound = new Inbound(this.iface, hooks.setPaused, hooks.accepted, hooks.endedClients);
    this.outbound = new Outbound(this.iface, egress, hooks.setPaused, hooks.refuse, hooks.log);
  }

  /** Call once the guest's link is up (its first frame): paced SYNs start then. */
  set onGuestUp(fn: () => void) {
    this.iface.onGuestUp = () => {
      this.inbound.startSyns();
      fn();
    };
  }

  /** After each batch of guest frames: flush delayed ACKs and the like. */
  batchEnd(): void {
    this.inbound.batchEnd();
    this.outbound.batchEnd();
  }

  /** Reset every connection (inbound and outbound). */
  closeAll(): void {
    this.inbound.closeAll();
    this.outbound.closeAll();
  }
}
