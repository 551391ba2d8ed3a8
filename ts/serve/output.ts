// Where text goes: Python's stdout and stderr, the access log and the
// host's own messages. Nothing here buffers without bound: Python's output
// is acknowledged once written (the guest waits or drops past OUTPUT_CAP),
// and host lines are dropped, and counted, while stderr is not being read.
import type { Writable } from 'node:stream';
import type { TextSink } from '../host/instance.js';

/** Host lines waiting in stderr beyond this are dropped until it drains. */
export const HOST_LOG_CAP = 256 * 1024;

/** A stream: `done` when the text has been handed to the OS. */
export function streamSink(stream: Writable): TextSink {
  return (text, done) => {
    stream.write(text, () => done());
  };
}

/** An embedder's callback: it has taken the text once it returns, or once the promise it returns settles. */
export function callbackSink(fn: (text: string) => unknown): TextSink {
  return (text, done) => {
    const r = fn(text);
    if (isThenable(r)) r.then(done, done);
    else done();
  };
}

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as PromiseLike<unknown> | null)?.then === 'function';

/** Host messages and access log lines: dropped (and counted) while the stream is backed up. */
export class HostLog {
  /** Bytes dropped since the start. */
  droppedBytes = 0;
  private droppedSinceNote = 0;

  constructor(
    private readonly out: Writable | ((text: string) => unknown),
    private readonly cap = HOST_LOG_CAP,
  ) {}

  write(text: string): void {
    if (typeof this.out === 'function') {
      void this.out(text);
      return;
    }
    if ((this.out.writableLength ?? 0) > this.cap) {
      this.droppedBytes += text.length;
      this.droppedSinceNote += text.length;
      return;
    }
    if (this.droppedSinceNote > 0) {
      this.out.write(`pythongoose: ${this.droppedSinceNote} bytes of log output dropped: stderr was not being read\n`);
      this.droppedSinceNote = 0;
    }
    this.out.write(text);
  }
}
