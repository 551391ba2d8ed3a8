// Reads a directory of the host's for copying into the guest's memory (the
// --static files, the app bundle): the guest gets these bytes and can reach
// nothing else of the host's file system.
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

export class TreeError extends Error {}

export interface TreeFile {
  /** Relative to the directory, with forward slashes: "css/site.css". */
  path: string;
  data: Uint8Array;
  mtime: number; // seconds since the epoch
}

export interface Tree {
  files: TreeFile[];
  /** Symlinks not followed because they lead out of the directory, relative as above. */
  outside: string[];
}

/**
 * Every regular file under dir. Symlinks are followed only when they stay
 * inside dir, so a link cannot hand other host files to the guest. `what`
 * names the directory in errors ("static dir", "app bundle"); `limit` names
 * the option that sets maxBytes.
 */
export function readTree(dir: string, what: string, maxBytes: number, limit: string): Tree {
  let root: string;
  try {
    root = realpathSync(dir);
    if (!statSync(root).isDirectory()) throw new TreeError(`${what} ${dir} is not a directory`);
  } catch (err) {
    if (err instanceof TreeError) throw err;
    throw new TreeError(`cannot read ${what} ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const files: TreeFile[] = [];
  const outside: string[] = [];
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
      const rel = relative(root, path).split(sep).join('/');
      if (lstatSync(path).isSymbolicLink()) {
        let target: string;
        try {
          target = realpathSync(path);
        } catch {
          continue; // dangling (an editor's lock file, say): nothing to copy
        }
        if (target !== root && !target.startsWith(root + sep)) {
          outside.push(rel);
          continue;
        }
        path = target;
      }
      const st = statSync(path);
      if (st.isDirectory()) {
        walk(join(abs, name));
        continue;
      }
      if (!st.isFile()) throw new TreeError(`${what} ${dir}: ${rel} is not a regular file`);
      total += st.size;
      if (total > maxBytes) throw new TreeError(`${what} ${dir} holds more than ${maxBytes / 1024 / 1024} MiB (${limit})`);
      let data: Uint8Array;
      try {
        data = readFileSync(path);
      } catch (err) {
        throw new TreeError(`${what} ${dir}: cannot read ${rel}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
      files.push({ path: rel, data, mtime: Math.floor(st.mtimeMs / 1000) });
    }
    walking.delete(real);
  };
  walk(root);
  return { files, outside };
}
