// PortPool: host source ports, reused FIFO after a cooldown.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PortPool } from '../../ts/net/ports.js';

const T0 = 1_000_000; // a clock well past the cooldown

test('hands out every port once, in order, then null', () => {
  const pool = new PortPool(10, 12, 1000);
  assert.is(pool.available, 3);
  assert.is(pool.take(T0), 10);
  assert.is(pool.take(T0), 11);
  assert.is(pool.take(T0), 12);
  assert.is(pool.available, 0);
  assert.is(pool.take(T0), null);
  assert.is(pool.take(T0 + 1e9), null);
});

test('FIFO reuse: the least recently freed port comes back first', () => {
  const pool = new PortPool(10, 12, 0);
  pool.take(T0);
  pool.take(T0);
  pool.take(T0);
  pool.give(12, T0);
  pool.give(10, T0);
  pool.give(11, T0);
  assert.is(pool.available, 3);
  assert.equal([pool.take(T0), pool.take(T0), pool.take(T0)], [12, 10, 11]);
  assert.is(pool.take(T0), null);
});

test('cooldown respected: take returns null until the head port has cooled', () => {
  const pool = new PortPool(10, 11, 2000);
  assert.is(pool.take(T0), 10);
  assert.is(pool.take(T0), 11);
  pool.give(11, T0 + 100);
  pool.give(10, T0 + 500);
  assert.is(pool.available, 2, 'cooling ports are counted as available');
  assert.is(pool.take(T0 + 100), null);
  assert.is(pool.take(T0 + 2099), null);
  assert.is(pool.available, 2, 'a refused take takes nothing');
  assert.is(pool.take(T0 + 2100), 11);
  assert.is(pool.take(T0 + 2100), null, '10 was freed later');
  assert.is(pool.take(T0 + 2499), null);
  assert.is(pool.take(T0 + 2500), 10);
  assert.is(pool.available, 0);
});

test('default clock: fresh ports are available now', () => {
  const pool = new PortPool(1024, 1025, 2000);
  assert.is(pool.take(), 1024);
  pool.give(1024);
  assert.is(pool.take(), 1025);
  assert.is(pool.take(), null, 'the port given back just now is cooling');
  assert.is(pool.available, 1);
});

test('many takes and gives (the ring wraps) keep order and count', () => {
  const pool = new PortPool(1, 10000, 0);
  for (let p = 1; p <= 6000; p++) assert.is(pool.take(T0), p);
  for (let p = 6000; p > 5900; p--) pool.give(p, T0);
  assert.is(pool.available, 4000 + 100);
  for (let p = 6001; p <= 10000; p++) {
    const got = pool.take(T0);
    if (got !== p) assert.is(got, p);
  }
  for (let p = 6000; p > 5900; p--) assert.is(pool.take(T0), p);
  assert.is(pool.take(T0), null);
  assert.is(pool.available, 0);
  // Cycle a small set through many times: still FIFO.
  pool.give(7, T0);
  pool.give(8, T0);
  for (let i = 0; i < 20000; i++) {
    const p = pool.take(T0)!;
    assert.ok(p === 7 || p === 8);
    if (p !== (i % 2 === 0 ? 7 : 8)) assert.is(p, i % 2 === 0 ? 7 : 8);
    pool.give(p, T0);
  }
  assert.is(pool.available, 2);
});

test('freed ports beyond the first ring size keep FIFO order, bounded by the range', () => {
  const pool = new PortPool(1, 1000, 0);
  for (let p = 1; p <= 1000; p++) pool.take(T0);
  pool.give(500, T0);
  assert.is(pool.take(T0), 500, 'head moved off slot 0 before growth');
  for (let p = 1000; p >= 1; p--) pool.give(p, T0);
  pool.give(1, T0);
  assert.is(pool.available, 1000, 'a give beyond the range is ignored');
  for (let p = 1000; p >= 1; p--) {
    const got = pool.take(T0);
    if (got !== p) assert.is(got, p);
  }
  assert.is(pool.take(T0), null);
});

test.run();
