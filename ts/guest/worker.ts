// The guest's thread: instantiates the wasm with exactly the imports of
// GUEST_IMPORTS (abi.ts) and runs the app. Python blocks here, never the host.
import { parentPort, workerData } from 'node:worker_threads';
import { webcrypto } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FrameRing } from './ring.js';
import { VOLUME_BLOCK, volumeContents } from './volume-file.js';
import { LINK_MAX_FRAME, isInbound } from '../net/link.js';
import { CTRL_IDLE, CTRL_OUTPUT, CTRL_SHUTDOWN, CTRL_TX, CTRL_WAKE, EXIT_GUEST_FAILED, FLOW_DIRTY, FLOW_ENDED, FLOW_HELD, FLOW_PAUSED, GUEST_MEMORY_INITIAL, OUTPUT_CAP, WASM_PAGE, OUTPUT_STALL_MS, GUEST_IMPORTS, NOTE_SLOT, TX_CONTROL_RESERVE, type HostMessage, type WorkerInit, type WorkerMessage } from './abi.js';

/** Access records buffered before they are posted, bytes (records are under 10 KiB: the request line is capped). */
const ACCESS_BUFFER = 64 * 1024;

interface GuestExports {
  _initialize(): void;
  malloc(n: number): number;
  free(p: number): void;
  pg_init(heapInitial: number, heapMax: number, pystack: number, stress: number, accessLog: number): void;
  pg_fs_add(path: number, data: number, size: number, mtime: number): number;
  pg_mount_app(image: number, len: number): number;
  pg_mount_data(blockCount: number, format: number): number;
  pg_set_host_paths(health: number, metrics: number): void;
  pg_set_env(entries: number, len: number): void;
  pg_set_limits(cpuBudgetMs: number, maxBody: number, headerTimeoutMs: number, idleTimeoutMs: number, maxSendBuffer: number): void;
  pg_parked(): number;
  pg_tls_server(cert: number, certLen: number, key: number, keyLen: number, err: number, cap: number): number;
  pg_tls_set_ca(pem: number, len: number): void;
  pg_run(src: number, len: number, filename: number): number;
}

const post = (m: WorkerMessage): void => parentPort!.postMessage(m);
const MAX_OVERFLOW = 65536;
const NOTIFY_BATCH_BYTES = 256 * 1024;
const TIME_ORIGIN = performance.timeOrigin; // a getter that costs more than now()
const decoder = new TextDecoder();
/** The guest's memory grows ahead of sbrk by a sixteenth, within these bounds (see emscripten_notify_memory_growth). */
const GROW_AHEAD_MIN = 1024 * 1024;
const GROW_AHEAD_MAX = 16 * 1024 * 1024;
/** Text of one stream buffered until a line ends, at most (a longer line goes in pieces). */
const MAX_PENDING_TEXT = 65536;

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      n += 4; // a surrogate pair
      i++;
    } else n += 3;
  }
  return n;
}

/** A failed call on the data volume's file, as the guest's -errno (EIO when Node gives none). */
function errno(err: unknown): number {
  const n = (err as NodeJS.ErrnoException).errno;
  return typeof n === 'number' && n < 0 ? n : -5;
}

/** A file system the host handed over would not mount: the app cannot start (the reason is on stderr). */
class MountError extends Error {}

class GuestExit extends Error {
  constructor(readonly code: number) {
    super(`guest exited with code ${code}`);
  }
}

/** Run one guest to its end. A worker whose guest ended (the app exited, or it trapped) may be given the next. */
function run(init: WorkerInit): void {
  const rx = new FrameRing(init.rx);
  const tx = new FrameRing(init.tx);
  const ctrl = new Int32Array(init.ctrl);
  const paused = new Int32Array(init.paused);
  const notes = new Uint8Array(init.notes);
  const beat = new Float64Array(init.beat);
  // The data volume's file, open for this guest's lifetime (its blocks: pg.block_*).
  let volumeFd = -1;
  /** The guest ended: its volume is closed before the host hears of it, so the next guest may open it. */
  const exit = (m: WorkerMessage): void => {
    if (volumeFd >= 0) closeSync(volumeFd);
    volumeFd = -1;
    post(m);
  };

  let exports!: GuestExports;
  let mem = new Uint8Array(0);
  // The guest's memory is the host's to size: it may grow to init.memoryMax and no further (then malloc fails).
  const wasmMemory = new WebAssembly.Memory({ initial: GUEST_MEMORY_INITIAL / WASM_PAGE, maximum: init.memoryMax / WASM_PAGE });
  let wakeSeen = Atomics.load(ctrl, CTRL_WAKE);
  let txDirty = false;
  const overflow: Uint8Array[] = []; // control frames the ring could not take yet
  const pendingText: [string, string] = ['', ''];
  const pendingBytes: [number, number] = [0, 0]; // their UTF-8 length, as the guest wrote them
  const midLine: [boolean, boolean] = [false, false]; // the last text posted did not end a line
  const droppingLine: [boolean, boolean] = [false, false]; // the start of the current line was dropped

  function memory(): Uint8Array {
    if (mem.buffer !== wasmMemory.buffer) mem = new Uint8Array(wasmMemory.buffer);
    return mem;
  }

  function notifyHost(): void {
    if (!txDirty) return;
    txDirty = false;
    Atomics.add(ctrl, CTRL_TX, 1);
    Atomics.notify(ctrl, CTRL_TX);
  }

  function flushOverflow(): boolean {
    while (overflow.length > 0) {
      if (!tx.push(overflow[0])) return false;
      overflow.shift();
      txDirty = true;
    }
    return true;
  }

  /**
   * TCP payload length of an IPv4/TCP frame and the port that names its flow
   * (the host port of an inbound connection, else the guest's port), or null.
   */
  function tcpData(f: Uint8Array): [number, number] | null {
    if (f.length < 54 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) return null;
    const ihl = (f[14] & 15) * 4;
    const total = (f[16] << 8) | f[17];
    const t = 14 + ihl;
    if (f.length < t + 20) return null;
    const doff = (f[t + 12] >> 4) * 4;
    const src = (f[t] << 8) | f[t + 1];
    const inbound = isInbound(src, ((f[30] << 24) | (f[31] << 16) | (f[32] << 8) | f[33]) >>> 0);
    return [total - ihl - doff, inbound ? (f[t + 2] << 8) | f[t + 3] : src];
  }

  /** Bytes dropped per stream (stdout, stderr, access log) since the host last heard of it. */
  const dropped: [number, number, number] = [0, 0, 0];
  const dropping: [boolean, boolean, boolean] = [false, false, false]; // output goes until the host has caught up by half
  let droppedReported = 0; // Date.now() of the last report while dropping

  /**
   * Wait until the host has room for `bytes` more output: true once it has,
   * false if its stream made no progress for OUTPUT_STALL_MS. The heartbeat
   * goes on meanwhile: a guest waiting for the host is not stuck.
   */
  function outputRoom(bytes: number): boolean {
    let last = Atomics.load(ctrl, CTRL_OUTPUT);
    let stalledSince = Date.now();
    while (last + bytes > OUTPUT_CAP && last > 0) {
      beat[0] = Date.now();
      if (beat[0] - stalledSince >= OUTPUT_STALL_MS) return false;
      Atomics.wait(ctrl, CTRL_OUTPUT, last, 50);
      const now = Atomics.load(ctrl, CTRL_OUTPUT);
      if (now < last) stalledSince = Date.now();
      last = now;
    }
    return true;
  }

  /** Post output within OUTPUT_CAP, or count it as dropped; false if dropped. */
  function postOutput(fd: 1 | 2 | 3, text: string, bytes: number): boolean {
    // Once dropping, go on until the host has caught up by half: a stalled
    // stream costs one wait, not one per print().
    const room = dropping[fd - 1] ? Atomics.load(ctrl, CTRL_OUTPUT) + bytes <= OUTPUT_CAP / 2 : outputRoom(bytes);
    if (!room) {
      dropping[fd - 1] = true;
      dropped[fd - 1] += bytes;
      // The host hears of it at least once a second while it lasts (stats, log).
      if (Date.now() - droppedReported >= 1000) reportDropped();
      return false;
    }
    if (dropping[fd - 1]) {
      dropping[fd - 1] = false;
      reportDropped();
    }
    Atomics.add(ctrl, CTRL_OUTPUT, bytes);
    post(fd === 3 ? { type: 'access', records: text, bytes } : { type: 'output', fd, text, bytes });
    return true;
  }

  /**
   * Post the text buffered for stdout or stderr. Output is dropped by whole
   * lines where it can be: once part of a line went, the rest of it goes too,
   * and a line whose start was posted is ended before anything is dropped.
   */
  function flushText(fd: 1 | 2): void {
    let text = pendingText[fd - 1];
    let bytes = pendingBytes[fd - 1];
    if (text.length === 0) return;
    pendingText[fd - 1] = '';
    pendingBytes[fd - 1] = 0;
    if (droppingLine[fd - 1]) {
      const nl = text.indexOf('\n');
      const cut = nl < 0 ? text.length : nl + 1;
      const cutBytes = nl < 0 ? bytes : utf8Length(text.slice(0, cut));
      dropped[fd - 1] += cutBytes;
      if (nl < 0) return;
      droppingLine[fd - 1] = false;
      text = text.slice(cut);
      bytes -= cutBytes;
      if (text.length === 0) return;
    }
    const endsLine = text.endsWith('\n');
    if (postOutput(fd, text, bytes)) {
      midLine[fd - 1] = !endsLine;
      return;
    }
    if (midLine[fd - 1]) {
      Atomics.add(ctrl, CTRL_OUTPUT, 1);
      post({ type: 'output', fd, text: '\n', bytes: 1 });
      midLine[fd - 1] = false;
    }
    droppingLine[fd - 1] = !endsLine;
  }

  /** Before the guest ends: what could not be written is at least counted. */
  function reportDropped(): void {
    droppedReported = Date.now();
    for (const fd of [1, 2, 3] as const) {
      if (dropped[fd - 1] === 0) continue;
      post({ type: 'dropped', fd, bytes: dropped[fd - 1] });
      dropped[fd - 1] = 0;
    }
  }

  // Access records as bytes, decoded once per flush: one decode per record
  // would cost more than the rest of the record's way to the host.
  const accessBytes = new Uint8Array(ACCESS_BUFFER);
  let accessLen = 0;

  /** Post the whole records buffered (a record may come in pieces). */
  function flushAccess(): void {
    if (accessLen === 0) return;
    const end = accessBytes.lastIndexOf(0x0a, accessLen - 1) + 1;
    if (end === 0) return;
    postOutput(3, decoder.decode(accessBytes.subarray(0, end)), end);
    accessBytes.copyWithin(0, end, accessLen);
    accessLen -= end;
  }

  function write(fd: number, ptr: number, len: number): void {
    if (fd === 3) {
      if (accessLen + len > ACCESS_BUFFER) flushAccess();
      if (accessLen + len > ACCESS_BUFFER) {
        dropped[2] += len; // a record longer than the buffer: the guest's records are far shorter
        return;
      }
      accessBytes.set(memory().subarray(ptr, ptr + len), accessLen);
      accessLen += len;
      if (accessLen > ACCESS_BUFFER / 4) flushAccess();
      return;
    }
    const which: 1 | 2 = fd === 2 ? 2 : 1;
    const text = pendingText[which - 1] + decoder.decode(memory().subarray(ptr, ptr + len));
    pendingText[which - 1] = text;
    pendingBytes[which - 1] += len;
    if (text.endsWith('\n') || text.length > MAX_PENDING_TEXT) flushText(which);
  }

  /** pg.peer and pg.refusal: the host's note for a port (see NOTE_SLOT). */
  function readNote(port: number, ptr: number, cap: number): number {
    const slot = (port & 0xffff) * NOTE_SLOT;
    const n = Math.min(notes[slot], cap, NOTE_SLOT - 1);
    memory().set(notes.subarray(slot + 1, slot + 1 + n), ptr);
    return n;
  }

  const imports = {
    pg: {
      tx(ptr: number, len: number): number {
        // The guest's tx buffer holds one frame of LINK_MAX_FRAME: anything larger is not from it.
        if (len > LINK_MAX_FRAME) throw new Error(`guest sent a ${len}-byte frame (limit ${LINK_MAX_FRAME})`);
        const frame = memory().subarray(ptr, ptr + len);
        const data = tcpData(frame);
        if (data !== null && data[0] > 0) {
          // TCP data may wait (Mongoose retries it); control frames must not be lost.
          if ((paused[data[1]] & FLOW_PAUSED) !== 0 || overflow.length > 0 || !tx.push(frame, TX_CONTROL_RESERVE)) {
            notifyHost();
            return 0;
          }
          // Held from before the host sees this data until its probe after it succeeds.
          if ((paused[data[1]] & FLOW_ENDED) !== 0) Atomics.or(paused, data[1], FLOW_HELD | FLOW_DIRTY);
        } else if (!flushOverflow() || !tx.push(frame)) {
          // The host drains the ring continuously; this only grows if it stopped.
          if (overflow.length >= MAX_OVERFLOW) throw new Error('host stopped draining the guest ring');
          overflow.push(frame.slice());
        }
        txDirty = true;
        return 1;
      },
      rx(ptr: number, cap: number): number {
        flushOverflow();
        // Called every poll round: wake the host mid-burst only for a batch
        // worth the thread switch; wait() hands over the rest.
        if (tx.free() < tx.capacity - NOTIFY_BATCH_BYTES) notifyHost();
        let n = 0;
        rx.pop((frame) => {
          n = Math.min(frame.length, cap);
          memory().set(frame.subarray(0, n), ptr);
        });
        return n;
      },
      wait(ms: number): number {
        beat[0] = Date.now();
        beat[1] = wasmMemory.buffer.byteLength;
        beat[2] = exports.pg_parked();
        flushOverflow();
        notifyHost();
        flushText(1);
        flushText(2);
        flushAccess();
        if (dropped[0] + dropped[1] + dropped[2] > 0) reportDropped(); // idle: nothing may come after it
        if (Atomics.load(ctrl, CTRL_WAKE) === wakeSeen) {
          Atomics.store(ctrl, CTRL_IDLE, 1);
          Atomics.wait(ctrl, CTRL_WAKE, wakeSeen, Math.max(0, ms));
          Atomics.store(ctrl, CTRL_IDLE, 0);
        }
        const now = Atomics.load(ctrl, CTRL_WAKE);
        const woken = now !== wakeSeen;
        wakeSeen = now;
        const shutdown = Atomics.load(ctrl, CTRL_SHUTDOWN);
        if (shutdown !== 0) return shutdown === 2 ? 3 : 2; // 2: a handover (pg_wait in c/abi/imports.h)
        return woken ? 1 : 0;
      },
      millis(): number {
        // Called every 1000 branches of Python code and every network poll:
        // a guest that stops calling it is stuck in C (see Guest.silentFor).
        beat[0] = Date.now();
        return TIME_ORIGIN + performance.now();
      },
      random(ptr: number, len: number): void {
        for (let off = 0; off < len; off += 65536) {
          webcrypto.getRandomValues(memory().subarray(ptr + off, ptr + Math.min(len, off + 65536)));
        }
      },
      write,
      peer: readNote,
      refusal: readNote,
      held: (port: number): number => ((paused[port & 0xffff] & FLOW_HELD) !== 0 ? 1 : 0),
      // The guest checks block and length against the volume's size (c/vm/volume.c); the file is that size.
      block_read(block: number, offset: number, ptr: number, len: number): number {
        try {
          const n = readSync(volumeFd, memory(), ptr, len, block * VOLUME_BLOCK + offset);
          memory().fill(0, ptr + n, ptr + len); // past the end of a file the host created sparse
          return 0;
        } catch (err) {
          return errno(err);
        }
      },
      block_write(block: number, offset: number, ptr: number, len: number): number {
        try {
          for (let done = 0; done < len; ) done += writeSync(volumeFd, memory(), ptr + done, len - done, block * VOLUME_BLOCK + offset + done);
          return 0;
        } catch (err) {
          return errno(err);
        }
      },
      block_sync(): number {
        try {
          fsyncSync(volumeFd);
          beat[0] = Date.now(); // a slow disk is not a stuck guest
          return 0;
        } catch (err) {
          return errno(err);
        }
      },
    },
    env: {
      // i64 return halves for the setjmp helpers (wasm32 legalisation).
      getTempRet0: (): number => tempRet0,
      setTempRet0: (v: number): void => {
        tempRet0 = v;
      },
      // sbrk grows the memory by the pages it needs, often one, and under V8
      // each growth of a shared memory is a new SharedArrayBuffer that counts
      // as external memory and forces a full GC of this thread (with 5,000
      // connections opening, hundreds a second). So grow ahead by a sixteenth,
      // within the instance's maximum: untouched pages cost no RSS.
      emscripten_notify_memory_growth: (): void => {
        const size = wasmMemory.buffer.byteLength;
        const ahead = Math.min(init.memoryMax - size, GROW_AHEAD_MAX, Math.max(GROW_AHEAD_MIN, size / 16));
        if (ahead >= WASM_PAGE) wasmMemory.grow(Math.floor(ahead / WASM_PAGE));
      },
      memory: wasmMemory,
    },
    wasi_snapshot_preview1: {
      // libc's stdio, routed like pg.write (fd 1 and 2 only).
      fd_write(fd: number, iovs: number, iovcnt: number, nwritten: number): number {
        const view = new DataView(wasmMemory.buffer);
        let total = 0;
        for (let i = 0; i < iovcnt; i++) {
          const p = view.getUint32(iovs + i * 8, true);
          const l = view.getUint32(iovs + i * 8 + 4, true);
          if (fd === 1 || fd === 2) write(fd, p, l);
          total += l;
        }
        view.setUint32(nwritten, total, true);
        return 0;
      },
      proc_exit(code: number): never {
        throw new GuestExit(code);
      },
    },
  };
  let tempRet0 = 0;

  // The import object is the list: nothing is offered beyond GUEST_IMPORTS.
  {
    const offered = Object.entries(imports).flatMap(([module, fns]) => Object.keys(fns).map((name) => `${module}.${name}`));
    const listed = new Set<string>(GUEST_IMPORTS);
    if (offered.length !== listed.size || offered.some((n) => !listed.has(n))) throw new Error(`guest imports differ from GUEST_IMPORTS: ${offered.join(', ')}`);
  }

  /** Bytes copied into guest memory the guest then owns (or frees); `what` names them if it has no room. */
  function copyIn(bytes: Uint8Array, what: string): number {
    const p = exports.malloc(Math.max(1, bytes.length));
    if (p === 0) throw new Error(`no guest memory for ${what}`);
    memory().set(bytes, p);
    return p;
  }

  /** Bytes copied into guest memory with a NUL after them (C strings; PEM text, as Mbed TLS needs it). */
  function copyInTerminated(bytes: Uint8Array, what: string): number {
    const p = exports.malloc(bytes.length + 1);
    if (p === 0) throw new Error(`no guest memory for ${what}`);
    memory().set(bytes, p);
    memory()[p + bytes.length] = 0;
    return p;
  }

  const cString = (text: string): number => copyInTerminated(new TextEncoder().encode(text), JSON.stringify(text));

  try {
    if (init.volume !== null) {
      try {
        volumeFd = openSync(init.volume.path, 'r+');
      } catch (err) {
        throw new MountError(`cannot open data volume ${init.volume.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    const instance = new WebAssembly.Instance(init.wasm, imports as unknown as WebAssembly.Imports);
    exports = instance.exports as unknown as GuestExports;
    exports._initialize();
    exports.pg_init(init.heapInitial, init.heapMax, init.pystackBytes, init.gcStress ? 1 : 0, init.accessLog ? 1 : 0);
    const { cpuBudgetMs, maxBody, headerTimeoutMs, idleTimeoutMs, maxSendBuffer } = init.limits;
    exports.pg_set_limits(cpuBudgetMs, maxBody, headerTimeoutMs, idleTimeoutMs, maxSendBuffer);
    const health = cString(init.healthPath);
    const metrics = cString(init.metricsPath);
    exports.pg_set_host_paths(health, metrics);
    exports.free(health);
    exports.free(metrics);
    if (init.tls !== null) {
      // The guest parses both, then wipes and frees its copies: the key stays only in its parsed form.
      const cap = 256;
      const err = exports.malloc(cap);
      const ok = exports.pg_tls_server(copyInTerminated(init.tls.cert, 'the TLS certificate'), init.tls.cert.length, copyInTerminated(init.tls.key, 'the TLS key'), init.tls.key.length, err, cap);
      const reason = decoder.decode(memory().subarray(err, memory().indexOf(0, err)));
      exports.free(err);
      if (!ok) throw new MountError(`TLS: ${reason}`);
    }
    if (init.ca !== null) exports.pg_tls_set_ca(copyInTerminated(init.ca, 'the CA bundle'), init.ca.length); // the guest keeps it
    const env = new TextEncoder().encode(Object.entries(init.env).map(([name, value]) => `${name}=${value}\0`).join(''));
    exports.pg_set_env(copyIn(env, "the app's environment"), env.length); // the guest keeps it
    for (const file of init.staticFiles) {
      // The guest keeps the data for its lifetime (pg_fs_add owns it) and copies the path.
      const data = copyIn(file.data, `static file ${file.path}`);
      const path = cString(file.path);
      const added = exports.pg_fs_add(path, data, file.data.length, file.mtime);
      exports.free(path);
      if (!added) throw new Error(`no guest memory for static file ${file.path}`);
    }
    if (init.appImage !== null) {
      // The guest keeps the image for its lifetime: VfsRom reads files straight from it.
      const image = copyIn(init.appImage, 'the app bundle');
      if (!exports.pg_mount_app(image, init.appImage.length)) throw new MountError('cannot mount the app bundle at /app');
    }
    if (init.volume !== null) {
      const contents = volumeContents(volumeFd);
      const format = contents === 'blank' || (contents === 'other' && init.volume.format);
      if (!exports.pg_mount_data(init.volume.blockCount, format ? 1 : 0)) {
        throw new MountError(`cannot mount data volume ${init.volume.path} at /data: littlefs found it damaged`);
      }
    }
    const src = new TextEncoder().encode(init.source);
    const p = exports.malloc(src.length + 1);
    memory().set(src, p);
    const code = exports.pg_run(p, src.length, cString(init.filename));
    flushText(1);
    flushText(2);
    flushAccess();
    reportDropped();
    exit({ type: 'exit', code });
  } catch (err) {
    flushText(1);
    flushText(2);
    reportDropped();
    if (err instanceof GuestExit) exit({ type: 'exit', code: err.code });
    else if (err instanceof MountError) exit({ type: 'exit', code: 1, error: err.message });
    else exit({ type: 'exit', code: EXIT_GUEST_FAILED, error: `guest crashed: ${err instanceof Error ? err.message : String(err)}` });
  }
}

/**
 * A full collection of this worker's heap, so the last guest's wasm memory
 * (up to --heap-max) is gone before the next guest allocates its own: V8
 * would otherwise keep it until its small JS heap next needs collecting.
 */
function collectLastGuest(): void {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc === 'function') gc();
  } catch {
    // A runtime without V8's flags: its collector runs when it will.
  }
}

run(workerData as WorkerInit);
parentPort!.on('message', (m: HostMessage) => {
  if (m.type !== 'start') return;
  collectLastGuest();
  run(m.init);
});
