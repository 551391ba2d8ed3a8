// Where the package's own files are, whether this module runs from dist/ or
// from the compiled tests: the nearest folder up with our package.json.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'pythongoose') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('pythongoose: cannot find the package root');
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();
export const DEFAULT_WASM_PATH = join(PACKAGE_ROOT, 'wasm', 'build', 'pythongoose.wasm');
