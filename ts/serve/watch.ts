// --watch: the app's file, or its bundle directory, polled for changes.
// Polling, not fs.watch: it behaves the same under Node, Deno and Bun, on
// every file system, and a bundle of a few hundred files costs little to stat.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Paths with their sizes and modification times: any edit, addition or removal changes it. */
function signature(path: string): string {
  const parts: string[] = [];
  const visit = (p: string, depth: number): void => {
    let st;
    try {
      st = statSync(p);
    } catch {
      parts.push(`${p}:missing`);
      return;
    }
    if (st.isDirectory() && depth < 32) {
      parts.push(`${p}/`);
      for (const name of readdirSync(p).sort()) visit(join(p, name), depth + 1);
    } else parts.push(`${p}:${st.size}:${st.mtimeMs}`);
  };
  visit(path, 0);
  return parts.join('\n');
}

/**
 * Call onChange once the app changed and then stayed unchanged for one more
 * poll (an editor's save or a copy in progress is not reloaded half-done).
 * Returns a function that stops watching.
 */
export function watchApp(path: string, onChange: () => void, everyMs = 300): () => void {
  let seen = signature(path);
  let pending: string | null = null;
  const timer = setInterval(() => {
    const now = signature(path);
    if (pending !== null && now === pending) {
      pending = null;
      seen = now;
      onChange();
    } else if (now !== seen) pending = now;
    else pending = null;
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
