// Where text goes: Python's stdout and stderr, the access log and the
// host's own messages. Nothing here buffers without bound: Python's output
// is acknowledged once written (the guest waits or drops past OUTPUT_CAP),
// and host lines are dropped, and counted, while stderr is not being read.
import type { TextSink } from '../host/instance.js';

/** Host lines waiting in stderr beyond this are dropped until it drains. */
export const HOST_LOG_CAP = 256 * 1024;

/** One of the process's own streams, with what it holds that the OS has not taken yet. */
export interface TextOut {
  write(text: string, done?: () => void): void;
  /** Bytes written and not yet handed to the OS. */
  readonly pending: number;
}

/** A Node stream: its write callbacks say when the OS took the text. */
class NodeOut implements TextOut {
  pending = 0;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  write(text: string, done?: () => void): void {
    const n = text.length;
    this.pending += n;
    this.stream.write(text, () => {
      this.pending -= n;
      done?.();
    });
  }
}

interface DenoFile {
  write(p: Uint8Array): Promise<number>;
}

/**
 * Deno's own stdout/stderr, written in order and asynchronously: Deno's
 * process.stdout writes synchronously, so a pipe nobody reads would stop the
 * host's event loop.
 */
class DenoOut implements TextOut {
  pending = 0;
  private readonly queue: { bytes: Uint8Array; done?: () => void }[] = [];
  private writing = false;
  private readonly encoder = new TextEncoder();

  constructor(private readonly file: DenoFile) {}

  write(text: string, done?: () => void): void {
    const bytes = this.encoder.encode(text);
    this.pending += bytes.length;
    this.queue.push({ bytes, done });
    if (!this.writing) void this.drain();
  }

  private async drain(): Promise<void> {
    this.writing = true;
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      try {
        for (let off = 0; off < next.bytes.length; ) off += await this.file.write(next.bytes.subarray(off));
      } catch {
        // A closed stream takes nothing more: what it was given counts as gone.
      }
      this.pending -= next.bytes.length;
      next.done?.();
    }
    this.writing = false;
  }
}

const std: (TextOut | undefined)[] = [];

/** The process's stdout (1) or stderr (2), one writer each for every server in it. */
export function stdOut(fd: 1 | 2): TextOut {
  const deno = (globalThis as { Deno?: { stdout: DenoFile; stderr: DenoFile } }).Deno;
  return (std[fd] ??= deno ? new DenoOut(fd === 1 ? deno.stdout : deno.stderr) : new NodeOut(fd === 1 ? process.stdout : process.stderr));
}

/**
 * Resolves once the process's stdout and stderr writers have handed the OS
 * everything, or after timeoutMs: before exiting, so Python's last output
 * (a traceback at start-up, say) is not lost.
 */
export async function flushOutput(timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (std.some((out) => out !== undefined && out.pending > 0) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A stream: `done` when the text has been handed to the OS. */
export function streamSink(out: TextOut): TextSink {
  return (text, done) => out.write(text, done);
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
    private readonly out: TextOut | ((text: string) => unknown),
    /** What the text must not show (the app's secrets). */
    private readonly redact: (text: string) => string = (text) => text,
    /** How a host message is written (text, or JSON lines). */
    private readonly format: (text: string) => string = (text) => text,
    private readonly cap = HOST_LOG_CAP,
  ) {}

  /** A host message ("pythongoose: ..." lines): redacted and formatted. */
  write(line: string): void {
    this.writeFormatted(this.format(line));
  }

  /** An access log line, formatted already: redacted only. */
  writeFormatted(line: string): void {
    const text = this.redact(line);
    if (typeof this.out === 'function') {
      void this.out(text);
      return;
    }
    if (this.out.pending > this.cap) {
      this.droppedBytes += text.length;
      this.droppedSinceNote += text.length;
      return;
    }
    if (this.droppedSinceNote > 0) {
      this.out.write(this.format(`pythongoose: ${this.droppedSinceNote} bytes of log output dropped: stderr was not being read\n`));
      this.droppedSinceNote = 0;
    }
    this.out.write(text);
  }
}
