// The app bundle's image writer (ts/serve/romfs.ts) read back by a reader of
// MicroPython's ROMFS format as extmod/vfs_rom.c describes it; and the
// bundle's checks on embedders' paths (ts/serve/bundle.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BundleError, bundleFromFiles } from '../../ts/serve/bundle.js';
import { packRomfs } from '../../ts/serve/romfs.js';

type Entry = { kind: 'dir'; entries: Map<string, Entry> } | { kind: 'file'; data: Uint8Array };

function varuint(b: Uint8Array, at: number): [number, number] {
  let n = 0;
  for (;;) {
    const byte = b[at++];
    n = n * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) return [n, at];
  }
}

/** Records in b[at, end): directories and files by name. */
function readRecords(b: Uint8Array, at: number, end: number): Map<string, Entry> {
  const out = new Map<string, Entry>();
  while (at < end) {
    const [kind, a1] = varuint(b, at);
    const [len, a2] = varuint(b, a1);
    const next = a2 + len;
    if (kind === 4 || kind === 5) {
      const [nameLen, a3] = varuint(b, a2);
      const name = new TextDecoder().decode(b.subarray(a3, a3 + nameLen));
      if (kind === 4) out.set(name, { kind: 'dir', entries: readRecords(b, a3 + nameLen, next) });
      else {
        const [dataKind, a4] = varuint(b, a3 + nameLen);
        const [dataLen, a5] = varuint(b, a4);
        assert.is(dataKind, 2, 'file data is verbatim');
        out.set(name, { kind: 'file', data: b.subarray(a5, a5 + dataLen) });
      }
    }
    at = next;
  }
  assert.is(at, end, 'records end where their parent does');
  return out;
}

function readImage(image: Uint8Array): Map<string, Entry> {
  assert.equal([...image.subarray(0, 3)], [0xd2, 0xcd, 0x31], 'the ROMFS header');
  assert.is(image.length % 2, 0, 'an even-length image');
  const [len, at] = varuint(image, 3);
  assert.is(at + len, image.length, 'the filesystem record spans the image');
  return readRecords(image, at, image.length);
}

const romfs = suite('romfs image');

romfs('files and nested directories come back with their bytes', () => {
  const big = Uint8Array.from({ length: 70000 }, (_, i) => i % 251);
  const tree = readImage(
    packRomfs([
      { path: 'main.py', data: new TextEncoder().encode('print(1)\n') },
      { path: 'shop/__init__.py', data: new Uint8Array(0) },
      { path: 'shop/deep/data.bin', data: big },
      { path: 'templates/h\u00e9.html', data: new TextEncoder().encode('<p>\u2603</p>') },
    ]),
  );
  assert.equal([...tree.keys()].sort(), ['main.py', 'shop', 'templates']);
  const shop = tree.get('shop') as Extract<Entry, { kind: 'dir' }>;
  assert.equal([...shop.entries.keys()].sort(), ['__init__.py', 'deep']);
  const deep = (shop.entries.get('deep') as Extract<Entry, { kind: 'dir' }>).entries.get('data.bin') as Extract<Entry, { kind: 'file' }>;
  assert.ok(Buffer.from(deep.data).equals(Buffer.from(big)), '70,000 bytes, multi-byte length');
  const page = (tree.get('templates') as Extract<Entry, { kind: 'dir' }>).entries.get('h\u00e9.html') as Extract<Entry, { kind: 'file' }>;
  assert.is(new TextDecoder().decode(page.data), '<p>\u2603</p>');
});

romfs('the image is of even length whatever its contents (its length varuint is padded)', () => {
  for (let n = 0; n < 300; n++) readImage(packRomfs([{ path: 'f', data: new Uint8Array(n) }]));
  assert.equal([...packRomfs([])], [0xd2, 0xcd, 0x31, 0x00]);
});

romfs.run();

const paths = suite('bundle paths');

paths('an embedder names files by relative paths inside the bundle', () => {
  assert.is(bundleFromFiles({ 'main.py': 'pass', 'a/b/c.txt': 'x', 'dotted.name/.hidden': 'y' }, 1024).source, 'pass');
  for (const bad of ['../x.py', 'a/../../x', '/abs.py', 'a//b', 'a/./b', 'a\\b', '.', 'a/', '']) {
    assert.throws(() => bundleFromFiles({ 'main.py': 'pass', [bad]: 'x' }, 1024), (e: unknown) => e instanceof BundleError, bad);
  }
  assert.throws(() => bundleFromFiles({ 'main.py': 'x'.repeat(2000) }, 1024), /more than/);
  assert.throws(() => bundleFromFiles({ 'main.py': new Uint8Array([0xff, 0xfe]) }, 1024), /not UTF-8/);
});

paths.run();
