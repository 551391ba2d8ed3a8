// The data volume on the host: the --data file checked or created at start,
// and a lock so that one server at a time writes it.
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { VolumeInit } from '../guest/abi.js';
import { VOLUME_BLOCK, volumeContents } from '../guest/volume-file.js';

/** The size of a volume created on first use (--data-size). */
export const DEFAULT_DATA_SIZE = 16 * 1024 * 1024;
/** littlefs needs a few blocks for its superblock pair and metadata; below this a volume is of no use. */
export const MIN_DATA_SIZE = 16 * VOLUME_BLOCK;

export class VolumeError extends Error {}

/**
 * Check FILE or create it (sparse, size bytes). A file that holds something
 * other than littlefs is refused unless format is set; a blank one (as this
 * creates) is formatted by the first guest that mounts it. size, when given,
 * must match an existing file.
 */
export function prepareVolume(file: string, size: number | undefined, format: boolean): VolumeInit {
  const path = resolve(file);
  const want = size ?? DEFAULT_DATA_SIZE;
  if (!(Number.isInteger(want) && want >= MIN_DATA_SIZE && want % VOLUME_BLOCK === 0 && want <= 2 ** 40)) {
    throw new VolumeError(`data size must be a multiple of ${VOLUME_BLOCK / 1024} KiB, at least ${MIN_DATA_SIZE / 1024} KiB (got ${want})`);
  }
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new VolumeError(`cannot open data volume ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    try {
      fd = openSync(path, 'wx+');
      ftruncateSync(fd, want);
      fsyncSync(fd);
    } catch (e) {
      throw new VolumeError(`cannot create data volume ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new VolumeError(`data volume ${file} is not a regular file`);
    if (st.size % VOLUME_BLOCK !== 0 || st.size < MIN_DATA_SIZE) {
      throw new VolumeError(`data volume ${file} is ${st.size} bytes: not a volume (a multiple of ${VOLUME_BLOCK} bytes, at least ${MIN_DATA_SIZE})`);
    }
    if (size !== undefined && st.size !== size) {
      throw new VolumeError(`data volume ${file} is ${st.size / 1024} KiB, not the ${size / 1024} KiB --data-size asks for: a volume is not resized`);
    }
    if (!format && volumeContents(fd) === 'other') {
      throw new VolumeError(`data volume ${file} holds no littlefs file system; refusing to format it (--data-format formats it, erasing what it holds)`);
    }
    return { path, blockCount: st.size / VOLUME_BLOCK, format };
  } finally {
    closeSync(fd);
  }
}

/** Volumes this process holds: a second serve() on one is refused like a second process. */
const held = new Set<string>();

function alive(pid: number): boolean {
  if (process.platform === 'linux') return existsSync(`/proc/${pid}`);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * FILE.lock, created exclusively, holding this process's pid. One left by a
 * process that is gone (killed, say) is taken over.
 */
export class VolumeLock {
  private released = false;
  private constructor(readonly path: string, private readonly lockPath: string) {}

  /** path: the volume's, absolute. */
  static acquire(path: string): VolumeLock {
    const lockPath = `${path}.lock`;
    if (held.has(path)) throw new VolumeError(`data volume ${path} is in use by this process already`);
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(lockPath, 'wx');
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
          throw new VolumeError(`cannot lock data volume ${path} (${lockPath}): ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
        let pid = NaN;
        try {
          pid = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
        } catch {
          // gone meanwhile, or unreadable: try once more
        }
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
          throw new VolumeError(`data volume ${path} is in use by process ${pid} (${lockPath}): one server at a time`);
        }
        try {
          unlinkSync(lockPath);
        } catch {
          // another process took it over first: the next attempt says so
        }
      }
    }
    held.add(path);
    const lock = new VolumeLock(path, lockPath);
    process.once('exit', lock.release);
    return lock;
  }

  readonly release = (): void => {
    if (this.released) return;
    this.released = true;
    held.delete(this.path);
    process.off('exit', this.release);
    try {
      unlinkSync(this.lockPath);
    } catch {
      // removed by hand: nothing to release
    }
  };
}
