// App bundles: a directory (or an embedder's file map) whose main.py is the
// app, packed into a ROMFS image the guest mounts read-only at /app.
import { packRomfs, type RomFile } from './romfs.js';
import { readTree, TreeError } from './tree.js';

/** The most bytes of files a bundle may hold by default (--app-max). */
export const DEFAULT_APP_MAX = 16 * 1024 * 1024;

/** The file a bundle runs, as MicroPython boards run it. */
export const BUNDLE_MAIN = 'main.py';

export class BundleError extends Error {}

export interface AppBundle {
  image: Uint8Array;
  /** main.py's source, which the guest runs. */
  source: string;
  /** Symlinks left out because they lead out of the directory. */
  outside: string[];
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function pack(files: RomFile[], where: string): AppBundle {
  const main = files.find((f) => f.path === BUNDLE_MAIN);
  if (main === undefined) throw new BundleError(`${where} has no ${BUNDLE_MAIN} (the file a bundle runs)`);
  let source: string;
  try {
    source = decoder.decode(main.data);
  } catch {
    throw new BundleError(`${where}: ${BUNDLE_MAIN} is not UTF-8 text`);
  }
  return { image: packRomfs(files), source, outside: [] };
}

/** Every file under dir, packed; throws BundleError. */
export function readBundleDir(dir: string, appMax: number): AppBundle {
  try {
    const tree = readTree(dir, 'app bundle', appMax, '--app-max');
    return { ...pack(tree.files, `app bundle ${dir}`), outside: tree.outside };
  } catch (err) {
    throw err instanceof TreeError ? new BundleError(err.message) : err;
  }
}

/** A file path an embedder may name: relative, forward slashes, no '.' or '..' parts. */
const BUNDLE_PATH = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[^/\\\0]+(?:\/[^/\\\0]+)*$/;

/** serve({ files }): paths relative to /app mapped to contents; throws BundleError. */
export function bundleFromFiles(files: Readonly<Record<string, string | Uint8Array>>, appMax: number): AppBundle {
  const encoder = new TextEncoder();
  const romFiles: RomFile[] = [];
  let total = 0;
  for (const [path, content] of Object.entries(files)) {
    if (!BUNDLE_PATH.test(path)) throw new BundleError(`files: ${JSON.stringify(path)} is not a relative path within the bundle`);
    const data = typeof content === 'string' ? encoder.encode(content) : content;
    total += data.length;
    if (total > appMax) throw new BundleError(`files hold more than ${appMax / 1024 / 1024} MiB (appMax)`);
    romFiles.push({ path, data });
  }
  return pack(romFiles, 'files');
}
