// MicroPython's ROMFS image format (extmod/vfs_rom.c describes it), written
// for the app bundle the guest mounts read-only at /app with vfs.VfsRom.
// Records are a varuint kind, a varuint payload length, then the payload.

const KIND_DATA = 2;
const KIND_DIRECTORY = 4;
const KIND_FILE = 5;
/** The filesystem record's kind, 0x14a6b1, encodes as "RM1" with the high bits of R and M set. */
const HEADER = [0xd2, 0xcd, 0x31];

export interface RomFile {
  /** Relative to the image's root, with forward slashes: "lib/util.py". */
  path: string;
  data: Uint8Array;
}

type Dir = Map<string, Dir | Uint8Array>;

function varuint(n: number): number[] {
  const out = [n & 0x7f];
  for (n = Math.floor(n / 128); n > 0; n = Math.floor(n / 128)) out.unshift(0x80 | (n & 0x7f));
  return out;
}

const encoder = new TextEncoder();

/** The records of one directory's entries, as chunks (file data is not copied until the end). */
function records(dir: Dir): { chunks: Uint8Array[]; size: number } {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const push = (c: Uint8Array): void => {
    chunks.push(c);
    size += c.length;
  };
  for (const [name, entry] of [...dir].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const nameBytes = encoder.encode(name);
    const head = [...varuint(nameBytes.length), ...nameBytes];
    if (entry instanceof Map) {
      const inner = records(entry);
      push(Uint8Array.from([...varuint(KIND_DIRECTORY), ...varuint(head.length + inner.size), ...head]));
      for (const c of inner.chunks) push(c);
    } else {
      const data = [...varuint(KIND_DATA), ...varuint(entry.length)];
      push(Uint8Array.from([...varuint(KIND_FILE), ...varuint(head.length + data.length + entry.length), ...head, ...data]));
      push(entry);
    }
  }
  return { chunks, size };
}

/** One ROMFS image holding files (their directories are implied by their paths). */
export function packRomfs(files: readonly RomFile[]): Uint8Array {
  const root: Dir = new Map();
  for (const { path, data } of files) {
    const parts = path.split('/');
    let dir = root;
    for (const part of parts.slice(0, -1)) {
      let sub = dir.get(part);
      if (!(sub instanceof Map)) dir.set(part, (sub = new Map()));
      dir = sub;
    }
    dir.set(parts[parts.length - 1], data);
  }
  const body = records(root);
  let len = varuint(body.size);
  // The whole record must be of even length (no one-byte padding record exists): pad the varuint instead.
  if ((HEADER.length + len.length + body.size) % 2 === 1) len = [0x80, ...len];
  const image = new Uint8Array(HEADER.length + len.length + body.size);
  image.set([...HEADER, ...len]);
  let at = HEADER.length + len.length;
  for (const c of body.chunks) {
    image.set(c, at);
    at += c.length;
  }
  return image;
}
