// The main thread's handle on one guest: its worker, the frame rings both
// ways, and flow control. The host's event loop never blocks on the guest.
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { FrameRing } from './ring.js';
import { DEFAULT_WASM_PATH } from './paths.js';
import { CTRL_SHUTDOWN, CTRL_TX, CTRL_WAKE, CTRL_WORDS, EXIT_GUEST_FAILED, GUEST_EXPORTS, GUEST_IMPORTS, NOTE_SLOT, type GuestOptions, type WorkerInit, type WorkerMessage } from './abi.js';

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
  output(fd: 1 | 2, text: string): void;
  /** Access log records: "port\tstatus\tbytes\tms\tMETHOD uri\n" lines. */
  access(records: string): void;
  exit(code: number, error?: string): void;
}

export class Guest {
  private readonly rx = new FrameRing(RING_BYTES);
  private readonly tx = new FrameRing(RING_BYTES);
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(CTRL_WORDS * 4));
  private readonly paused = new Uint8Array(new SharedArrayBuffer(65536));
  private readonly notes = new Uint8Array(new SharedArrayBuffer(65536 * NOTE_SLOT));
  private readonly beat = new Float64Array(new SharedArrayBuffer(16));
  private readonly encoder = new TextEncoder();
  private readonly worker: Worker;
  private wakeQueued = false;
  private running = true;

  constructor(options: GuestOptions, private readonly events: GuestEvents, wasmPath?: string) {
    const init: WorkerInit = {
      ...options,
      wasm: loadGuestModule(wasmPath),
      rx: this.rx.buffer,
      tx: this.tx.buffer,
      ctrl: this.ctrl.buffer as SharedArrayBuffer,
      paused: this.paused.buffer as SharedArrayBuffer,
      notes: this.notes.buffer as SharedArrayBuffer,
      beat: this.beat.buffer as SharedArrayBuffer,
    };
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init, resourceLimits: WORKER_LIMITS });
    this.worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'output') this.events.output(m.fd, m.text);
      else if (m.type === 'access') this.events.access(m.records);
      else this.stop(m.code, m.error);
    });
    this.worker.on('error', (err) => this.stop(EXIT_GUEST_FAILED, `guest worker failed: ${err.message}`));
    this.worker.on('exit', (code) => this.stop(code === 0 ? 0 : EXIT_GUEST_FAILED, code === 0 ? undefined : `guest worker exited (${code})`));
    // Not from here: frames must not reach `events` before our caller has
    // finished wiring them up (Deno's Worker constructor blocks for ~30 ms,
    // long enough for the guest to queue its first frame).
    queueMicrotask(() => void this.pump());
  }

  /** Milliseconds since the guest last called the host (0 before it started). */
  silentFor(now = Date.now()): number {
    return this.beat[0] === 0 ? 0 : now - this.beat[0];
  }

  /** The guest's wasm memory (its Python heap lives in it), as of its last idle moment. */
  get memoryBytes(): number {
    return this.beat[1];
  }

  get isRunning(): boolean {
    return this.running;
  }

  private stop(code: number, error?: string): void {
    if (!this.running) return;
    this.running = false;
    this.drain();
    this.releasePump();
    this.events.exit(code, error);
    void this.worker.terminate();
  }

  /** Queue a frame for the guest; false if its ring is full right now. */
  send(frame: Uint8Array, reserve = 0): boolean {
    if (!this.rx.push(frame, reserve)) return false;
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
    return this.rx.free();
  }

  private wake(): void {
    this.wakeQueued = false;
    Atomics.add(this.ctrl, CTRL_WAKE, 1);
    Atomics.notify(this.ctrl, CTRL_WAKE);
  }

  /** Ask the guest to finish the responses in progress and close every other connection. */
  beginShutdown(): void {
    Atomics.store(this.ctrl, CTRL_SHUTDOWN, 1);
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
    const { written } = this.encoder.encodeInto(text, this.notes.subarray(slot + 1, slot + NOTE_SLOT));
    this.notes[slot] = written;
  }

  /** The client recorded for a host port, or ''. */
  peer(port: number): string {
    const slot = port * NOTE_SLOT;
    return Buffer.from(this.notes.subarray(slot + 1, slot + 1 + this.notes[slot])).toString();
  }

  /** Hold (or release) the guest's TCP data toward one host port. */
  setPaused(port: number, paused: boolean): void {
    const v = paused ? 1 : 0;
    if (this.paused[port] === v) return;
    this.paused[port] = v;
    if (!paused) this.wake();
  }

  private readonly onFrame = (frame: Uint8Array): void => this.events.frame(frame);

  private drain(): void {
    // A guest refused room for data (it waits up to 100 ms between polls)
    // should hear at once that the ring has drained.
    const wasCrowded = this.tx.free() < this.tx.capacity / 2;
    let any = false;
    while (this.tx.pop(this.onFrame)) any = true;
    if (any) this.events.batchEnd();
    if (wasCrowded && this.running) this.wake();
  }

  private async pump(): Promise<void> {
    while (this.running) {
      const seen = Atomics.load(this.ctrl, CTRL_TX);
      this.drain();
      const w = Atomics.waitAsync(this.ctrl, CTRL_TX, seen);
      if (w.async) await w.value;
    }
  }

  /** Resolve the pending waitAsync so nothing keeps the process alive. */
  private releasePump(): void {
    Atomics.add(this.ctrl, CTRL_TX, 1);
    Atomics.notify(this.ctrl, CTRL_TX);
  }

  /** End a guest that is stuck: reported through exit() as a crash. */
  kill(reason: string): void {
    this.stop(EXIT_GUEST_FAILED, reason);
  }

  async terminate(): Promise<void> {
    this.running = false;
    this.releasePump();
    await this.worker.terminate();
  }
}
