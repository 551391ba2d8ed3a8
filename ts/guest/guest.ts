// The main thread's handle on one guest: its worker, the frame rings both
// ways, and flow control. The host's event loop never blocks on the guest.
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { FrameRing } from './ring.js';
import { DEFAULT_WASM_PATH } from './paths.js';
import { CTRL_IDLE, CTRL_OUTPUT, CTRL_SHUTDOWN, CTRL_TX, CTRL_WAKE, CTRL_WORDS, EXIT_GUEST_FAILED, FLOW_DIRTY, FLOW_ENDED, FLOW_HELD, FLOW_PAUSED, GUEST_EXPORTS, GUEST_IMPORTS, NOTE_SLOT, type GuestOptions, type HostMessage, type WorkerInit, type WorkerMessage } from './abi.js';

const RING_BYTES = 4 * 1024 * 1024;
/**
 * The worker's own JS heap stays small (frames live in wasm memory and the
 * rings); V8 sizes a fresh heap from these limits, so lower ones save 1-2 MiB
 * of RSS per instance.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 64 };

let compiled: { path: string; module: WebAssembly.Module } | null = null;

/** Compile the guest once per process; instances share the module. */
export function loadGuestModule(path = DEFAULT_WASM_PATH): WebAssembly.Module {
  if (compiled?.path !== path) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch {
      throw new Error(`guest not built: ${path} is missing (run 'npm run build')`);
    }
    const module = new WebAssembly.Module(new Uint8Array(bytes));
    checkAbi(module, path);
    compiled = { path, module };
  }
  return compiled.module;
}

/** Refuse a module that imports anything beyond GUEST_IMPORTS or lacks an export the host calls. */
function checkAbi(module: WebAssembly.Module, path: string): void {
  const allowed = new Set<string>(GUEST_IMPORTS);
  const extra = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`).filter((n) => !allowed.has(n));
  if (extra.length > 0) throw new Error(`guest ${path} imports what the sandbox does not offer: ${extra.join(', ')}`);
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = GUEST_EXPORTS.filter((n) => !exported.has(n));
  if (missing.length > 0) throw new Error(`guest ${path} lacks exports: ${missing.join(', ')} (rebuild it: npm run build)`);
}

export interface GuestEvents {
  /** Frames from the guest, in order; each view is valid only during the call. */
  frame(frame: Uint8Array): void;
  /** After each batch of frames. */
  batchEnd(): void;
  /** Python's output; call `done` once it has left the host's memory (that frees room under OUTPUT_CAP). */
  output(fd: 1 | 2, text: string, done: () => void): void;
  /** Output the guest dropped while the host's stream made no progress (fd 3: access log records). */
  dropped(fd: 1 | 2 | 3, bytes: number): void;
  /** Access log records: "port\tstatus\tbytes\tms\tMETHOD uri\n" lines. */
  access(records: string): void;
  exit(code: number, error?: string): void;
}

/** The memory one guest's worker shares with the host. */
interface SharedViews {
  rx: FrameRing; // host -> guest frames
  tx: FrameRing; // guest -> host frames
  ctrl: Int32Array;
  paused: Int32Array;
  notes: Uint8Array;
  beat: Float64Array;
}

function newShared(ringBytes: number, ports: number): SharedViews {
  return {
    rx: new FrameRing(ringBytes),
    tx: new FrameRing(ringBytes),
    ctrl: new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4)),
    paused: new Int32Array(new SharedArrayBuffer(ports * 4)),
    notes: new Uint8Array(new SharedArrayBuffer(ports * NOTE_SLOT)),
    beat: new Float64Array(new SharedArrayBuffer(24)),
  };
}

/**
 * What instances that came and went leave for the next ones. Each new thread
 * costs a V8 isolate and a glibc arena that keeps what it freed, and glibc
 * serves multi-MiB blocks (the rings) from its heap once one was freed (its
 * mmap threshold adapts), a heap fragmentation never shrinks: 150 crash
 * restarts grew RSS by 450 MB. So an idle worker (its guest ended on its
 * own: the app exited or the wasm trapped) runs the next guest with its
 * shared memory, and, under Node, the shared memory of a thread that is gone
 * serves the next new one. Not under Deno and Bun: a worker there may still
 * touch its memory after its 'exit' event (a guest reusing it under Deno 2.9
 * saw its rings corrupted; Bun's terminate() leaves a thread busy in C running).
 */
interface IdleWorker {
  worker: Worker;
  shared: SharedViews;
  timer: NodeJS.Timeout;
}
const idle: IdleWorker[] = [];
const MAX_IDLE = 4;
const IDLE_MS = 10000; // an idle worker is ended after this
const spare: SharedViews[] = [];
const MAX_SPARE = 64;
const REUSE_SHARED = !('Deno' in globalThis) && !('Bun' in globalThis);
/** What a guest holds once its memory went back: writes go nowhere, reads find nothing. */
const RELEASED: SharedViews = newShared(4096, 0);

function takeShared(): SharedViews {
  const s = spare.pop();
  return s === undefined ? newShared(RING_BYTES, 65536) : resetShared(s);
}

function resetShared(s: SharedViews): SharedViews {
  s.rx.reset();
  s.tx.reset();
  s.ctrl.fill(0);
  s.paused.fill(0);
  s.notes.fill(0);
  s.beat.fill(0);
  return s;
}

export class Guest {
  private shared: SharedViews;
  private readonly encoder = new TextEncoder();
  private readonly worker: Worker;
  private wakeQueued = false;
  private running = true;
  /** The worker went on to run another guest: it is no longer ours to end. */
  private handedOff = false;

  constructor(options: GuestOptions, private readonly events: GuestEvents, wasmPath?: string) {
    const reused = idle.pop();
    if (reused !== undefined) clearTimeout(reused.timer);
    this.shared = reused !== undefined ? resetShared(reused.shared) : takeShared();
    const init: WorkerInit = {
      ...options,
      wasm: loadGuestModule(wasmPath),
      rx: this.shared.rx.buffer,
      tx: this.shared.tx.buffer,
      ctrl: this.shared.ctrl.buffer as SharedArrayBuffer,
      paused: this.shared.paused.buffer as SharedArrayBuffer,
      notes: this.shared.notes.buffer as SharedArrayBuffer,
      beat: this.shared.beat.buffer as SharedArrayBuffer,
    };
    if (reused !== undefined) {
      this.worker = reused.worker;
      this.worker.ref();
      this.worker.postMessage({ type: 'start', init } satisfies HostMessage);
    } else {
      this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init, resourceLimits: WORKER_LIMITS });
    }
    this.worker.on('message', this.onMessage);
    this.worker.on('error', this.onError);
    this.worker.on('exit', this.onExit);
    // Not from here: frames must not reach `events` before our caller has
    // finished wiring them up (Deno's Worker constructor blocks for ~30 ms,
    // long enough for the guest to queue its first frame).
    queueMicrotask(() => void this.pump());
  }

  /** Milliseconds since the guest last called the host (0 before it started). */
  silentFor(now = Date.now()): number {
    return this.shared.beat[0] === 0 ? 0 : now - this.shared.beat[0];
  }

  /** The guest's wasm memory (its Python heap lives in it), as of its last idle moment. */
  get memoryBytes(): number {
    return this.shared.beat[1];
  }

  /** Connections the guest has set aside until their client sends more, as of its last idle moment. */
  get connectionsWaiting(): number {
    return this.shared.beat[2];
  }

  /** Whether the guest is running rather than waiting for the host (before it first waits: running). */
  get isBusy(): boolean {
    return Atomics.load(this.shared.ctrl, CTRL_IDLE) === 0;
  }

  get isRunning(): boolean {
    return this.running;
  }

  private readonly onMessage = (m: WorkerMessage): void => {
    if (m.type === 'output') this.events.output(m.fd, m.text, () => this.written(m.bytes));
    else if (m.type === 'access') {
      this.events.access(m.records);
      this.written(m.bytes);
    } else if (m.type === 'dropped') this.events.dropped(m.fd, m.bytes);
    else this.stop(m.code, m.error, true);
  };

  private readonly onError = (err: Error): void => this.stop(EXIT_GUEST_FAILED, `guest worker failed: ${err.message}`);

  private readonly onExit = (code: number): void => {
    this.stop(code === 0 ? 0 : EXIT_GUEST_FAILED, code === 0 ? undefined : `guest worker exited (${code})`);
    this.releaseShared();
  };

  /** `idleWorker`: the worker's run ended and it waits, able to run the next guest. */
  private stop(code: number, error?: string, idleWorker = false): void {
    if (!this.running) return;
    this.running = false;
    this.drain();
    this.releasePump();
    if (idleWorker && idle.length < MAX_IDLE) this.handOff();
    this.events.exit(code, error);
    if (!this.handedOff) void this.worker.terminate();
  }

  private handOff(): void {
    const { worker, shared } = this;
    worker.off('message', this.onMessage);
    worker.off('error', this.onError);
    worker.off('exit', this.onExit);
    worker.unref();
    const entry: IdleWorker = {
      worker,
      shared,
      timer: setTimeout(() => {
        idle.splice(idle.indexOf(entry), 1);
        void worker.terminate();
      }, IDLE_MS).unref(),
    };
    idle.push(entry);
    this.shared = RELEASED;
    this.handedOff = true;
  }

  /** Queue a frame for the guest; false if its ring is full right now. */
  send(frame: Uint8Array, reserve = 0): boolean {
    if (!this.shared.rx.push(frame, reserve)) return false;
    if (!this.wakeQueued) {
      this.wakeQueued = true;
      // After this loop turn's I/O, not after each socket's: one wake-up
      // carries every frame the turn queued (a microtask would wake per read).
      setImmediate(() => this.wake());
    }
    return true;
  }

  /** Room in the guest's ring, in bytes. */
  rxFree(): number {
    return this.shared.rx.free();
  }

  /** Output the host has written out: room for more under OUTPUT_CAP. */
  private written(bytes: number): void {
    Atomics.sub(this.shared.ctrl, CTRL_OUTPUT, bytes);
    Atomics.notify(this.shared.ctrl, CTRL_OUTPUT);
  }

  private wake(): void {
    this.wakeQueued = false;
    Atomics.add(this.shared.ctrl, CTRL_WAKE, 1);
    // A running guest sees the count before it next waits (Atomics.wait compares it),
    // so only a waiting one needs the notify, which takes V8's waiter-list lock.
    if (Atomics.load(this.shared.ctrl, CTRL_IDLE) !== 0) Atomics.notify(this.shared.ctrl, CTRL_WAKE);
  }

  /** Ask the guest to finish the responses in progress and close every other connection. */
  /** handover (a reload): idle keep-alive clients get one more response, with Connection: close. */
  beginShutdown(handover = false): void {
    Atomics.store(this.shared.ctrl, CTRL_SHUTDOWN, handover ? 2 : 1);
    this.wake();
  }

  /** Record who the real client behind a host port is (request.client_addr). */
  setPeer(port: number, peer: string): void {
    this.setNote(port, peer);
  }

  /** Record why the guest's connection from `guestPort` was refused ('' clears it). */
  setRefusal(guestPort: number, reason: string): void {
    this.setNote(guestPort, reason);
  }

  private setNote(port: number, text: string): void {
    const slot = port * NOTE_SLOT;
    const { written } = this.encoder.encodeInto(text, this.shared.notes.subarray(slot + 1, slot + NOTE_SLOT));
    this.shared.notes[slot] = written;
  }

  /** The client recorded for a host port, or ''. */
  peer(port: number): string {
    const slot = port * NOTE_SLOT;
    return Buffer.from(this.shared.notes.subarray(slot + 1, slot + 1 + this.shared.notes[slot])).toString();
  }

  /** Hold (or release) the guest's TCP data toward one host port. */
  setPaused(port: number, paused: boolean): void {
    this.setFlowBit(port, FLOW_PAUSED, paused);
  }

  /** The client of host port `port` half-closed (or the port is free again): see FLOW_ENDED. */
  setClientEnded(port: number, ended: boolean): void {
    if (port >= this.shared.paused.length) return; // released
    if (ended) Atomics.or(this.shared.paused, port, FLOW_ENDED | FLOW_HELD);
    else this.setFlowBit(port, FLOW_ENDED | FLOW_HELD | FLOW_DIRTY, false);
  }

  /** A probe of an ended flow's client starts: it covers the guest's data up to here. */
  beginProbe(port: number): void {
    if (port >= this.shared.paused.length) return;
    Atomics.and(this.shared.paused, port, ~FLOW_DIRTY);
    this.drain(); // data the guest sent before is written ahead of the probe
  }

  /** The probe succeeded: release the guest's next request, unless more data came since (false: probe again). */
  endProbe(port: number): boolean {
    const p = this.shared.paused;
    if (port >= p.length) return true;
    for (;;) {
      const was = Atomics.load(p, port);
      if ((was & FLOW_DIRTY) !== 0) return false;
      if (Atomics.compareExchange(p, port, was, was & ~FLOW_HELD) === was) break;
    }
    this.wake();
    return true;
  }

  private setFlowBit(port: number, bits: number, on: boolean): void {
    if (port >= this.shared.paused.length) return; // the guest's memory went back (RELEASED)
    const was = on ? Atomics.or(this.shared.paused, port, bits) : Atomics.and(this.shared.paused, port, ~bits);
    if (!on && (was & bits) !== 0) this.wake();
  }

  private readonly onFrame = (frame: Uint8Array): void => this.events.frame(frame);

  private drain(): void {
    // A guest refused room for data (it waits up to 100 ms between polls)
    // should hear at once that the ring has drained.
    const wasCrowded = this.shared.tx.free() < this.shared.tx.capacity / 2;
    let any = false;
    while (this.shared.tx.pop(this.onFrame)) any = true;
    if (any) this.events.batchEnd();
    if (wasCrowded && this.running) this.wake();
  }

  private async pump(): Promise<void> {
    while (this.running) {
      const seen = Atomics.load(this.shared.ctrl, CTRL_TX);
      this.drain();
      const w = Atomics.waitAsync(this.shared.ctrl, CTRL_TX, seen);
      if (w.async) await w.value;
    }
  }

  /** The worker's thread is gone: its shared memory serves the next guest. */
  private releaseShared(): void {
    if (this.shared === RELEASED) return;
    const s = this.shared;
    this.shared = RELEASED;
    if (REUSE_SHARED && spare.length < MAX_SPARE) spare.push(s);
  }

  /** Resolve the pending waitAsync so nothing keeps the process alive. */
  private releasePump(): void {
    Atomics.add(this.shared.ctrl, CTRL_TX, 1);
    Atomics.notify(this.shared.ctrl, CTRL_TX);
  }

  /** End a guest that is stuck: reported through exit() as a crash. */
  kill(reason: string): void {
    this.stop(EXIT_GUEST_FAILED, reason); // not idle: it is never handed on
  }

  async terminate(): Promise<void> {
    this.running = false;
    this.releasePump();
    if (!this.handedOff) await this.worker.terminate();
  }
}
