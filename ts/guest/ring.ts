// A single-producer single-consumer queue of frames over a SharedArrayBuffer.
// One thread pushes, the other pops; positions only grow (mod 2^32) and each
// record is a u32 length and 4 unused bytes, then the frame, padded to 8 (a
// frame may be split across the wrap). Frames start 8-byte aligned, as the
// guest's buffers do: V8 copies to and from shared memory word by word only
// when both ends have the same alignment, else byte by byte (3-4x slower).

const HEAD = 0; // bytes ever written (producer-owned)
const TAIL = 1; // bytes ever read (consumer-owned)
const HEADER_BYTES = 8;
const RECORD_HEADER = 8;

export class FrameRing {
  readonly buffer: SharedArrayBuffer;
  private readonly pos: Int32Array;
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private readonly mask: number;

  /** Wrap an existing buffer (from the other thread) or make one of `capacity` bytes (a power of two). */
  constructor(bufferOrCapacity: SharedArrayBuffer | number) {
    if (typeof bufferOrCapacity === 'number') {
      const capacity = bufferOrCapacity;
      if (capacity < 4096 || (capacity & (capacity - 1)) !== 0) {
        throw new RangeError(`ring capacity must be a power of two >= 4096, got ${capacity}`);
      }
      this.buffer = new SharedArrayBuffer(HEADER_BYTES + capacity);
    } else {
      this.buffer = bufferOrCapacity;
    }
    this.pos = new Int32Array(this.buffer, 0, 2);
    this.data = new Uint8Array(this.buffer, HEADER_BYTES);
    this.view = new DataView(this.buffer, HEADER_BYTES);
    this.mask = this.data.length - 1;
  }

  /** Empty the ring (only while neither thread uses it: a buffer reused for a new guest). */
  reset(): void {
    Atomics.store(this.pos, HEAD, 0);
    Atomics.store(this.pos, TAIL, 0);
  }

  get capacity(): number {
    return this.data.length;
  }

  /** Bytes a push may still use (including the record header and padding). */
  free(): number {
    return this.data.length - ((Atomics.load(this.pos, HEAD) - Atomics.load(this.pos, TAIL)) >>> 0);
  }

  isEmpty(): boolean {
    return Atomics.load(this.pos, HEAD) === Atomics.load(this.pos, TAIL);
  }

  static recordSize(len: number): number {
    return RECORD_HEADER + ((len + 7) & ~7);
  }

  /** Append one frame; false (and nothing written) if it does not fit in `free() - reserve`. */
  push(frame: Uint8Array, reserve = 0): boolean {
    const need = FrameRing.recordSize(frame.length);
    if (need + reserve > this.free()) return false;
    const head = Atomics.load(this.pos, HEAD) >>> 0;
    const at = head & this.mask;
    this.view.setUint32(at, frame.length, true);
    this.copyIn(frame, (at + RECORD_HEADER) & this.mask);
    Atomics.store(this.pos, HEAD, (head + need) | 0);
    return true;
  }

  /** Length of the next frame, or -1 if the ring is empty. */
  peekLength(): number {
    const tail = Atomics.load(this.pos, TAIL) >>> 0;
    if ((Atomics.load(this.pos, HEAD) >>> 0) === tail) return -1;
    return this.view.getUint32(tail & this.mask, true);
  }

  /**
   * Hand the next frame to `use` without copying when it does not wrap, then
   * release it. The view is valid only during the call.
   */
  pop(use: (frame: Uint8Array) => void): boolean {
    const tail = Atomics.load(this.pos, TAIL) >>> 0;
    if ((Atomics.load(this.pos, HEAD) >>> 0) === tail) return false;
    const at = tail & this.mask;
    const len = this.view.getUint32(at, true);
    const start = (at + RECORD_HEADER) & this.mask;
    if (start + len <= this.data.length) {
      use(this.data.subarray(start, start + len));
    } else {
      const copy = new Uint8Array(len);
      const first = this.data.length - start;
      copy.set(this.data.subarray(start), 0);
      copy.set(this.data.subarray(0, len - first), first);
      use(copy);
    }
    Atomics.store(this.pos, TAIL, (tail + FrameRing.recordSize(len)) | 0);
    return true;
  }

  private copyIn(src: Uint8Array, at: number): void {
    const first = Math.min(src.length, this.data.length - at);
    this.data.set(first === src.length ? src : src.subarray(0, first), at);
    if (first < src.length) this.data.set(src.subarray(first), 0);
  }
}
