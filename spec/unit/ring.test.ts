// FrameRing: the SPSC frame queue over a SharedArrayBuffer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameRing } from '../../ts/guest/ring.js';
import { rng } from '../helpers/rng.js';

/** A frame whose bytes identify it: [n & 255, (n + 1) & 255, ...]. */
function frameOf(n: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (n * 31 + i * 7) & 255;
  return f;
}

function popCopy(ring: FrameRing): Uint8Array | null {
  let got: Uint8Array | null = null;
  const ok = ring.pop((f) => {
    got = f.slice();
  });
  assert.is(ok, got !== null);
  return got;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

test('constructor rejects capacities that are not powers of two >= 4096', () => {
  for (const bad of [0, 1, 1024, 2048, 4095, 4097, 5000, 6144, 12288, -4096]) {
    assert.throws(() => new FrameRing(bad), (e: unknown) => e instanceof RangeError, `capacity ${bad}`);
  }
  for (const good of [4096, 8192, 65536]) {
    const r = new FrameRing(good);
    assert.is(r.capacity, good);
    assert.is(r.buffer.byteLength, good + 8);
    assert.is(r.free(), good);
    assert.ok(r.isEmpty());
  }
});

test('recordSize: 8-byte header plus data padded to 8', () => {
  assert.is(FrameRing.recordSize(0), 8);
  assert.is(FrameRing.recordSize(1), 16);
  assert.is(FrameRing.recordSize(7), 16);
  assert.is(FrameRing.recordSize(8), 16);
  assert.is(FrameRing.recordSize(9), 24);
  assert.is(FrameRing.recordSize(1514), 8 + 1520);
});

test('frames are handed over 8-byte aligned, as they were pushed from aligned buffers', () => {
  const ring = new FrameRing(8192);
  for (const len of [1, 54, 1514, 7, 3000]) {
    assert.ok(ring.push(frameOf(len, len)));
    let offset = -1;
    ring.pop((f) => {
      offset = f.byteOffset;
    });
    assert.is(offset % 8, 0, `frame of ${len} at offset ${offset}`);
  }
});

test('push/pop round trip, peekLength and isEmpty', () => {
  const ring = new FrameRing(4096);
  assert.is(ring.peekLength(), -1);
  let called = false;
  assert.is(
    ring.pop(() => {
      called = true;
    }),
    false,
  );
  assert.not.ok(called, 'pop on an empty ring must not call back');

  const a = Uint8Array.from([1, 2, 3]);
  const b = frameOf(9, 100);
  assert.ok(ring.push(a));
  assert.ok(ring.push(b));
  assert.not.ok(ring.isEmpty());
  assert.is(ring.peekLength(), 3);
  a.fill(0xee); // push copied the bytes
  assert.equal(Array.from(popCopy(ring)!), [1, 2, 3]);
  assert.is(ring.peekLength(), 100);
  assert.ok(same(popCopy(ring)!, frameOf(9, 100)));
  assert.ok(ring.isEmpty());
  assert.is(ring.peekLength(), -1);
  assert.is(ring.free(), 4096);
});

test('empty frames are frames too', () => {
  const ring = new FrameRing(4096);
  assert.ok(ring.push(new Uint8Array(0)));
  assert.not.ok(ring.isEmpty());
  assert.is(ring.free(), 4096 - 8);
  assert.is(ring.peekLength(), 0);
  const got = popCopy(ring);
  assert.is(got!.length, 0);
  assert.ok(ring.isEmpty());
});

test('free() accounts for the record header and padding', () => {
  const ring = new FrameRing(4096);
  ring.push(new Uint8Array(5));
  assert.is(ring.free(), 4096 - 16);
  ring.push(new Uint8Array(9));
  assert.is(ring.free(), 4096 - 16 - 24);
  ring.push(new Uint8Array(0));
  assert.is(ring.free(), 4096 - 16 - 24 - 8);
  popCopy(ring);
  assert.is(ring.free(), 4096 - 24 - 8);
  popCopy(ring);
  popCopy(ring);
  assert.is(ring.free(), 4096);
});

test('push is refused (nothing written) when the record does not fit', () => {
  const ring = new FrameRing(4096);
  // 4 records of 1016 bytes (1024 with the header) fill it exactly.
  for (let i = 0; i < 4; i++) assert.ok(ring.push(frameOf(i, 1016)), `push ${i}`);
  assert.is(ring.free(), 0);
  assert.not.ok(ring.push(new Uint8Array(0)), 'not even an empty frame fits');
  assert.not.ok(ring.push(new Uint8Array(1)));
  assert.is(ring.free(), 0);
  for (let i = 0; i < 4; i++) assert.ok(same(popCopy(ring)!, frameOf(i, 1016)), `frame ${i} intact`);
  assert.ok(ring.isEmpty());
  assert.is(popCopy(ring), null);
});

test('a frame larger than the ring is refused', () => {
  const ring = new FrameRing(4096);
  assert.not.ok(ring.push(new Uint8Array(4096)));
  assert.not.ok(ring.push(new Uint8Array(4089)));
  assert.ok(ring.isEmpty());
  assert.ok(ring.push(new Uint8Array(4088)), 'exactly the capacity with the header');
  assert.is(ring.free(), 0);
});

test('reserve: push keeps `reserve` bytes free or refuses', () => {
  const ring = new FrameRing(4096);
  ring.push(new Uint8Array(2040)); // 2048 used
  assert.is(ring.free(), 2048);
  // A 1016-byte frame needs 1024: fits with reserve 1024, not with 1025.
  assert.not.ok(ring.push(new Uint8Array(1016), 1025));
  assert.is(ring.free(), 2048, 'refused push wrote nothing');
  assert.ok(ring.push(new Uint8Array(1016), 1024));
  assert.is(ring.free(), 1024);
  assert.not.ok(ring.push(new Uint8Array(0), 1017));
  assert.ok(ring.push(new Uint8Array(0), 1016));
  assert.is(ring.free(), 1016);
});

test('wrap-around: many frames of varying sizes stay intact and in order', () => {
  const ring = new FrameRing(4096);
  const next = rng(1234);
  const pending: Uint8Array[] = [];
  let pushed = 0;
  let popped = 0;
  let wrapped = 0; // pops that had to copy (frame split across the end)
  let direct = 0;
  for (let step = 0; step < 20000; step++) {
    if (next() < 0.55) {
      const len = Math.floor(next() * 1600);
      const f = frameOf(pushed, len);
      const before = ring.free();
      if (ring.push(f)) {
        pending.push(f);
        pushed++;
        assert.is(ring.free(), before - FrameRing.recordSize(len));
      } else {
        assert.ok(FrameRing.recordSize(len) > before, 'refused only when it does not fit');
        assert.is(ring.free(), before);
      }
    } else {
      const expect = pending.shift();
      if (expect === undefined) {
        assert.ok(ring.isEmpty());
        continue;
      }
      assert.is(ring.peekLength(), expect.length);
      let ok = false;
      ring.pop((f) => {
        ok = same(f, expect);
        if (f.buffer instanceof SharedArrayBuffer) direct++;
        else wrapped++;
      });
      assert.ok(ok, `frame ${popped} intact`);
      popped++;
    }
    const used = pending.reduce((s, f) => s + FrameRing.recordSize(f.length), 0);
    if (step % 97 === 0) assert.is(ring.free(), 4096 - used);
  }
  while (pending.length > 0) assert.ok(same(popCopy(ring)!, pending.shift()!));
  assert.ok(ring.isEmpty());
  assert.ok(pushed > 1000, `pushed ${pushed}`);
  assert.ok(wrapped > 10, `frames split across the end: ${wrapped}`);
  assert.ok(direct > 100, `frames popped without copying: ${direct}`);
});

test('a frame split exactly around the end of the buffer', () => {
  const ring = new FrameRing(4096);
  ring.push(new Uint8Array(4072)); // record 4080: head at 4080
  popCopy(ring);
  // Header at 4080..4088, data 4088..4096 then 0..
  const f = frameOf(77, 10);
  assert.ok(ring.push(f));
  let copied = false;
  let ok = false;
  ring.pop((g) => {
    copied = !(g.buffer instanceof SharedArrayBuffer);
    ok = same(g, f);
  });
  assert.ok(ok);
  assert.ok(copied, 'frame crossing the end is handed over as a copy');
  // Header exactly at the end, data from 0.
  const ring2 = new FrameRing(4096);
  ring2.push(new Uint8Array(4080)); // record 4088
  popCopy(ring2);
  const g = frameOf(5, 30);
  assert.ok(ring2.push(g));
  assert.ok(same(popCopy(ring2)!, g));
});

test('a second FrameRing over the same buffer sees the frames (producer/consumer views)', () => {
  const producer = new FrameRing(8192);
  const consumer = new FrameRing(producer.buffer);
  assert.is(consumer.capacity, 8192);
  producer.push(frameOf(1, 33));
  producer.push(frameOf(2, 44));
  assert.is(consumer.free(), 8192 - FrameRing.recordSize(33) - FrameRing.recordSize(44));
  assert.ok(same(popCopy(consumer)!, frameOf(1, 33)));
  assert.is(producer.free(), 8192 - FrameRing.recordSize(44), 'producer sees the consumer release space');
  assert.ok(same(popCopy(consumer)!, frameOf(2, 44)));
  assert.ok(producer.isEmpty());
});

test('positions wrap past 2^31 and 2^32 without losing frames', () => {
  for (const start of [0x7ffffff8, 0xfffffff0, 0xfffffff8]) {
    const ring = new FrameRing(4096);
    const pos = new Int32Array(ring.buffer, 0, 2);
    pos[0] = start | 0;
    pos[1] = start | 0;
    assert.ok(ring.isEmpty());
    assert.is(ring.free(), 4096);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) {
      const f = frameOf(i, 50 + i * 3);
      assert.ok(ring.push(f), `push ${i} at ${start.toString(16)}`);
      frames.push(f);
      if (frames.length > 10) assert.ok(same(popCopy(ring)!, frames.shift()!));
    }
    let used = 0;
    for (const f of frames) used += FrameRing.recordSize(f.length);
    assert.is(ring.free(), 4096 - used);
    while (frames.length > 0) assert.ok(same(popCopy(ring)!, frames.shift()!));
    assert.ok(ring.isEmpty());
    assert.is(ring.free(), 4096);
  }
});

test.run();
