// The host's end of one TCP connection to the guest, as an explicit state
// machine. The host opens it (a client arrived: open()) or accepts the
// guest's SYN (an outbound connection was dialled: acceptSyn()), and relays
// bytes both ways. "Client" below is the host's socket either way.
// Mongoose's stack shapes it: it never retransmits data (so we must never
// lose a frame it sends), answers a FIN at once even with output queued (so a
// client's FIN is held until the guest has answered), and may send data after
// its FIN reusing the FIN's sequence number (accepted here).
import { ACK, FIN, PSH, RST, SYN, type TcpRepr, seqAdd, seqLe, seqLt } from './wire/tcp.js';
import { LINK_MTU } from './link.js';

export enum TcpState {
  Idle = 'IDLE', // created, waiting for a backlog slot; client bytes queue up
  SynSent = 'SYN-SENT',
  SynReceived = 'SYN-RECEIVED', // we answered the guest's SYN, waiting for its ACK
  Established = 'ESTABLISHED',
  FinWait = 'FIN-WAIT', // we sent FIN (client half-closed), waiting for the guest's FIN
  Closing = 'CLOSING', // both FINs sent; collecting data Mongoose sends after its FIN
  LastAck = 'LAST-ACK', // the guest sent FIN first, we answered with ours
  Closed = 'CLOSED',
}

export interface TcpSegmentOut {
  flags: number;
  seq: number;
  ack: number;
  mss?: number;
  payload?: Uint8Array;
}

/** What the connection asks of its surroundings. */
export interface TcpHost {
  /** Put a segment on the link; false if the link is full (try again later). */
  emit(conn: TcpConnection, seg: TcpSegmentOut): boolean;
  /** Bytes from the guest for the client (the view is only valid during the call). */
  deliver(conn: TcpConnection, data: Uint8Array): void;
  established(conn: TcpConnection): void;
  /** The guest finished sending: end the client side once its writes flush. */
  guestFinished(conn: TcpConnection): void;
  /** The connection is gone: `reset` if by RST or failure rather than by FINs. */
  closed(conn: TcpConnection, reset: boolean, reason: string): void;
  /** Client data no longer over the budget: resume reading the client. */
  writable(conn: TcpConnection): void;
  /**
   * The guest may be done with this connection: the client has taken all it
   * sent (nothing buffered or paused) and the guest is waiting, not running a
   * handler (its silence then means nothing).
   */
  guestSettled(conn: TcpConnection): boolean;
}

export interface TcpCounters {
  segmentsIn: number;
  segmentsOut: number;
  duplicates: number;
  outOfOrder: number;
}

export const SYN_RETRY_MS = 1000;
export const SYN_GIVE_UP_MS = 15000;
/** Client data held for the guest (queued + unacknowledged) before the client is paused. */
export const SEND_BUDGET = 256 * 1024;
/** Quiet time after which a held client FIN is passed to the guest. */
export const FIN_IDLE_MS = 20;
/**
 * After the FINs crossed, Mongoose still sends what it had queued, one
 * segment per poll, and frees the connection 1 s after its FIN at most:
 * wait this long for more before closing (a busy machine spaces its polls).
 */
export const CLOSING_QUIET_MS = 250;
/** A FIN the guest never answers (it was lost, or the guest hung) ends the connection. */
export const FIN_GIVE_UP_MS = 10000;
/** Largest segment we send, whatever the guest claims: a whole frame's worth. */
export const MAX_MSS = LINK_MTU - 40;

export class TcpConnection {
  state = TcpState.Idle;
  mss = 536; // the guest's MSS, from its SYN|ACK
  private sndUna: number; // oldest byte not acknowledged by the guest
  private sndNxt: number; // next byte we send
  private rcvNxt = 0; // next byte we expect from the guest
  private finSeq = -1; // the guest's FIN seq, once seen
  private readonly queue: Uint8Array[] = []; // client bytes not yet sent
  private queueHead = 0; // bytes of queue[0] already sent
  private queued = 0;
  private clientFinPending = false;
  private finSent = false;
  private lastGuestActivity = 0;
  private synSentAt = 0;
  private synFirstSentAt = 0;
  private finSentAt = 0;
  /** Set when the link refused a segment; flush() retries. */
  stalled = false;

  constructor(
    readonly host: TcpHost,
    readonly localPort: number,
    /** The guest's port; open() may name another of its listeners. */
    public remotePort: number,
    readonly counters: TcpCounters,
    iss: number,
  ) {
    this.sndUna = iss >>> 0;
    this.sndNxt = iss >>> 0;
  }

  /** Client bytes sent to the guest and not yet acknowledged, plus those still queued. */
  get pendingBytes(): number {
    return ((this.sndNxt - this.sndUna) >>> 0) + this.queued;
  }

  get overBudget(): boolean {
    return this.pendingBytes >= SEND_BUDGET;
  }

  /** Send the SYN, to `remotePort` (the constructor's by default). */
  open(now: number, remotePort = this.remotePort): void {
    this.remotePort = remotePort;
    this.state = TcpState.SynSent;
    this.synFirstSentAt = now;
    this.sendSyn(now);
  }

  /** Answer the guest's SYN (its seq and MSS option) with SYN|ACK. */
  acceptSyn(seq: number, mss: number, now: number): void {
    this.rcvNxt = seqAdd(seq, 1);
    if (mss > 0) this.mss = Math.min(mss, MAX_MSS);
    this.state = TcpState.SynReceived;
    this.synFirstSentAt = now;
    this.sendSyn(now);
  }

  private sendSyn(now: number): void {
    this.synSentAt = now;
    const passive = this.state === TcpState.SynReceived;
    this.host.emit(this, { flags: passive ? SYN | ACK : SYN, seq: this.sndUna, ack: passive ? this.rcvNxt : 0, mss: MAX_MSS });
    this.sndNxt = seqAdd(this.sndUna, passive ? 1 : 0);
    this.counters.segmentsOut++;
  }

  /** Queue client bytes for the guest; the caller hands over `data` and must not reuse it. */
  write(data: Uint8Array): void {
    if (this.state !== TcpState.Idle && this.state !== TcpState.SynSent && this.state !== TcpState.SynReceived && this.state !== TcpState.Established) return;
    if (this.clientFinPending || data.length === 0) return;
    this.queue.push(data);
    this.queued += data.length;
    this.flush();
  }

  /**
   * Before the guest accepted the connection, take back the client bytes
   * queued for it (to hand the client to another guest); null once the
   * guest may have seen any of them, or the client half-closed.
   */
  takeUnsent(): Uint8Array[] | null {
    if ((this.state !== TcpState.Idle && this.state !== TcpState.SynSent) || this.clientFinPending) return null;
    const chunks = this.queue.splice(0);
    if (chunks.length > 0 && this.queueHead > 0) chunks[0] = chunks[0].subarray(this.queueHead);
    this.queueHead = 0;
    this.queued = 0;
    return chunks;
  }

  /** The client half-closed: pass it on once the guest has answered. */
  clientFinished(): void {
    if (this.state === TcpState.Closed) return;
    this.clientFinPending = true;
  }

  /** Drop the connection now (client error/reset): RST to the guest. */
  abort(reason: string): void {
    if (this.state === TcpState.Closed) return;
    if (this.state !== TcpState.SynSent && this.state !== TcpState.Idle) {
      const seq = this.state === TcpState.SynReceived ? seqAdd(this.sndUna, 1) : this.sndNxt;
      this.host.emit(this, { flags: RST | ACK, seq, ack: this.rcvNxt });
      this.counters.segmentsOut++;
    }
    this.finish(true, reason);
  }

  /** Send what the queue and the link allow. */
  flush(): void {
    this.stalled = false;
    if (this.state !== TcpState.Established) return;
    while (this.queued > 0) {
      const chunk = this.queue[0];
      const len = Math.min(this.mss, chunk.length - this.queueHead);
      const payload = chunk.subarray(this.queueHead, this.queueHead + len);
      if (!this.host.emit(this, { flags: ACK | PSH, seq: this.sndNxt, ack: this.rcvNxt, payload })) {
        this.stalled = true;
        return;
      }
      this.ackPending = false; // carried by this segment
      this.counters.segmentsOut++;
      this.sndNxt = seqAdd(this.sndNxt, len);
      this.queued -= len;
      this.queueHead += len;
      if (this.queueHead === chunk.length) {
        this.queue.shift();
        this.queueHead = 0;
      }
    }
  }

  /** A segment from the guest addressed to this connection. */
  input(seg: TcpRepr, frame: Uint8Array, now: number): void {
    this.counters.segmentsIn++;
    if (this.state === TcpState.Closed || this.state === TcpState.Idle) return;
    if (seg.flags & RST) {
      this.finish(true, 'guest reset the connection');
      return;
    }
    switch (this.state) {
      case TcpState.SynSent:
        if ((seg.flags & (SYN | ACK)) === (SYN | ACK) && seg.ack === seqAdd(this.sndUna, 1)) {
          this.sndUna = this.sndNxt = seg.ack;
          this.rcvNxt = seqAdd(seg.seq, 1);
          if (seg.mss > 0) this.mss = Math.min(seg.mss, MAX_MSS);
          this.state = TcpState.Established;
          this.lastGuestActivity = now;
          this.sendAck(); // the third packet must be a bare ACK
          this.host.established(this);
          this.flush();
        } else if (seg.flags & ACK) {
          this.host.emit(this, { flags: RST, seq: seg.ack, ack: 0 });
          this.counters.segmentsOut++;
        }
        return;
      case TcpState.SynReceived:
        if ((seg.flags & (SYN | ACK)) === SYN) {
          if (now - this.synSentAt >= SYN_RETRY_MS / 10) this.sendSyn(now); // our SYN|ACK was lost
          return;
        }
        if (!(seg.flags & ACK) || seg.ack !== this.sndNxt) {
          this.host.emit(this, { flags: RST, seq: seg.ack, ack: 0 });
          this.counters.segmentsOut++;
          return;
        }
        this.sndUna = seg.ack;
        this.state = TcpState.Established;
        this.host.established(this);
        this.flush(); // what the far end sent meanwhile
        break; // the ACK may carry data
      default:
        break;
    }
    this.lastGuestActivity = now;
    if (seg.flags & ACK) this.acknowledge(seg.ack);
    const len = seg.payloadEnd - seg.payloadStart;
    if (len > 0) this.receive(seg, frame, len);
    // A bare segment off our receive point is a keepalive probe (Mongoose
    // sends seq-1 after 45 s idle and drops the connection after 3 misses).
    else if (!(seg.flags & FIN) && seg.seq !== this.rcvNxt) this.sendAck();
    if (seg.flags & FIN) this.receiveFin(seg, len);
    if ((this.state as TcpState) === TcpState.LastAck && this.finSent && seqLe(this.sndNxt, this.sndUna)) {
      this.finish(false, 'closed');
    }
  }

  private acknowledge(ack: number): void {
    if (seqLt(this.sndUna, ack) && seqLe(ack, this.sndNxt)) {
      const wasOver = this.overBudget;
      this.sndUna = ack;
      if (wasOver && !this.overBudget) this.host.writable(this);
    } else if (this.finSent && ack === seqAdd(this.sndNxt, 0)) {
      this.sndUna = ack; // ACK of our FIN (sndNxt already counts it)
    }
  }

  private receive(seg: TcpRepr, frame: Uint8Array, len: number): void {
    let seq = seg.seq;
    let start = seg.payloadStart;
    // Mongoose sends queued data after its FIN, reusing the FIN's number.
    if (this.finSeq >= 0 && seq === this.finSeq) {
      this.finSeq = seqAdd(this.finSeq, len);
      this.rcvNxt = seqAdd(this.finSeq, 1);
      this.host.deliver(this, frame.subarray(start, start + len));
      return;
    }
    if (seqLt(seq, this.rcvNxt)) {
      const overlap = (this.rcvNxt - seq) >>> 0;
      if (overlap >= len) {
        this.counters.duplicates++;
        this.sendAck();
        return;
      }
      seq = this.rcvNxt;
      start += overlap;
    } else if (seq !== this.rcvNxt) {
      this.counters.outOfOrder++; // cannot happen on our lossless link; refuse it
      this.sendAck();
      return;
    }
    const take = seg.payloadEnd - start;
    this.rcvNxt = seqAdd(this.rcvNxt, take);
    this.host.deliver(this, frame.subarray(start, start + take));
    this.ackPending = true;
  }

  /** Set when guest data arrived; the link sends one ACK per batch. */
  ackPending = false;

  private receiveFin(seg: TcpRepr, len: number): void {
    const finAt = seqAdd(seg.seq, len);
    if (this.finSeq >= 0) {
      this.sendAck();
      return;
    }
    if (finAt !== this.rcvNxt) {
      this.counters.outOfOrder++;
      this.sendAck();
      return;
    }
    this.finSeq = finAt;
    this.rcvNxt = seqAdd(finAt, 1);
    if (this.state === TcpState.FinWait) {
      // Mongoose answers our FIN at once, then may still send queued output
      // after it: wait until it is quiet before acknowledging (tick()).
      this.state = TcpState.Closing;
      return;
    }
    // The guest closed first: acknowledge and close our side too.
    this.host.guestFinished(this);
    this.state = TcpState.LastAck;
    this.queue.length = 0;
    this.queued = 0;
    this.sendFin(this.lastGuestActivity);
  }

  /**
   * A bare ACK. Not once our FIN is out (FIN-WAIT, CLOSING) unless `final`:
   * Mongoose takes any bare ACK after the FINs crossed as the last one and
   * frees the connection, dropping the output it still has queued (and it
   * needs no ACKs to go on sending).
   */
  private sendAck(final = false): void {
    this.ackPending = false;
    if (!final && (this.state === TcpState.FinWait || this.state === TcpState.Closing)) return;
    this.host.emit(this, { flags: ACK, seq: this.sndNxt, ack: this.rcvNxt });
    this.counters.segmentsOut++;
  }

  private sendFin(now: number): void {
    this.ackPending = false; // the FIN carries the ACK
    // Always an empty segment: a FIN carrying data corrupts Mongoose's memory.
    this.host.emit(this, { flags: FIN | ACK, seq: this.sndNxt, ack: this.rcvNxt });
    this.counters.segmentsOut++;
    this.sndNxt = seqAdd(this.sndNxt, 1);
    this.finSent = true;
    this.finSentAt = now;
  }

  /** Send a pending ACK for data delivered in this batch. */
  flushAck(): void {
    if (this.ackPending && this.state !== TcpState.Closed) this.sendAck();
  }

  /** Timers: SYN retransmission, passing on a held client FIN, ending CLOSING. */
  tick(now: number): void {
    // Quiet while the client lags or a handler runs means the guest is held back or busy, not done.
    if (!this.host.guestSettled(this)) this.lastGuestActivity = now;
    if ((this.state === TcpState.FinWait || this.state === TcpState.LastAck) && now - this.finSentAt >= FIN_GIVE_UP_MS) {
      this.abort('no answer to our FIN');
      return;
    }
    if (this.state === TcpState.Closing) {
      if (now - this.lastGuestActivity >= CLOSING_QUIET_MS) {
        this.sendAck(true);
        this.host.guestFinished(this);
        this.finish(false, 'closed');
      }
      return;
    }
    if (this.state === TcpState.SynSent || this.state === TcpState.SynReceived) {
      if (now - this.synFirstSentAt >= SYN_GIVE_UP_MS) this.abort('guest did not complete the handshake');
      else if (now - this.synSentAt >= SYN_RETRY_MS) this.sendSyn(now);
      return;
    }
    if (
      this.state === TcpState.Established &&
      this.clientFinPending &&
      !this.finSent &&
      this.queued === 0 &&
      this.sndUna === this.sndNxt &&
      now - this.lastGuestActivity >= FIN_IDLE_MS
    ) {
      this.state = TcpState.FinWait;
      this.sendFin(now);
    }
  }

  /** Whether tick() has anything to do for this connection. */
  get wantsTick(): boolean {
    return (
      this.state === TcpState.SynSent ||
      this.state === TcpState.SynReceived ||
      this.state === TcpState.Closing ||
      this.state === TcpState.FinWait ||
      this.state === TcpState.LastAck ||
      (this.clientFinPending && !this.finSent && this.state === TcpState.Established)
    );
  }

  private finish(reset: boolean, reason: string): void {
    this.state = TcpState.Closed;
    this.queue.length = 0;
    this.queued = 0;
    this.host.closed(this, reset, reason);
  }
}
