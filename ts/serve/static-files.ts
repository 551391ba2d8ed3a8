// Reads a --static directory for copying into the guest's memory: the guest
// serves these bytes and can reach nothing else of the host's file system.
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { StaticFile } from '../guest/abi.js';

/** Refuse directories that would not fit comfortably in a guest. */
export const MAX_STATIC_BYTES = 512 * 1024 * 1024;

export class StaticDirError extends Error {}

/**
 * Every regular file under dir, keyed "/relative/path". Symlinks are followed
 * only when they stay inside dir, so a link cannot publish other host files.
 */
export function readStaticDir(dir: string): StaticFile[] {
  let root: string;
  try {
    root = realpathSync(dir);
    if (!statSync(root).isDirectory()) throw new StaticDirError(`static dir ${dir} is not a directory`);
  } catch (err) {
    if (err instanceof StaticDirError) throw err;
    throw new StaticDirError(`cannot read static dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const files: StaticFile[] = [];
  let total = 0;
  // Real paths of the directories being walked: a link to one of them (say
  // `current -> .`) would otherwise be walked again and again, until ELOOP.
  const walking = new Set<string>();
  const walk = (abs: string): void => {
    const real = realpathSync(abs);
    if (walking.has(real)) return;
    walking.add(real);
    for (const name of readdirSync(abs).sort()) {
      let path = join(abs, name);
      if (lstatSync(path).isSymbolicLink()) {
        let target: string;
        try {
          target = realpathSync(path);
        } catch {
          continue; // dangling (an editor's lock file, say): nothing to publish
        }
        if (target !== root && !target.startsWith(root + sep)) continue;
        path = target;
      }
      const st = statSync(path);
      const rel = relative(root, join(abs, name)).split(sep).join('/');
      if (st.isDirectory()) {
        walk(join(abs, name));
      } else if (st.isFile()) {
        total += st.size;
        if (total > MAX_STATIC_BYTES) {
          throw new StaticDirError(`static dir ${dir} holds more than ${MAX_STATIC_BYTES / 1024 / 1024} MiB`);
        }
        files.push({ path: `/${rel}`, data: readFileSync(path), mtime: Math.floor(st.mtimeMs / 1000) });
      }
    }
    walking.delete(real);
  };
  walk(root);
  return files;
}
