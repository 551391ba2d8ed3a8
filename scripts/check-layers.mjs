#!/usr/bin/env node
// The host's layering, checked: no import cycle among ts/ files, and each
// folder imports only from itself and the layers below it:
//   net/wire < net < guest < host < serve < index.ts < server.ts
// bench/src may import only the built package (dist/index.js).
// Prints one OK line, or every violation and exits 1.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const LAYERS = ['net/wire', 'net', 'guest', 'host', 'serve', 'index.ts', 'server.ts'];

function files(dir) {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

/** Relative import specifiers of a file, resolved to repo-relative .ts paths. */
function imports(file) {
  const src = readFileSync(join(root, file), 'utf8');
  const out = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s+'(\.[^']+)'|new URL\('(\.[^']+\.js)'/g)) {
    out.push(join(dirname(file), m[1] ?? m[2]).replace(/\.js$/, '.ts'));
  }
  return out;
}

/** The layer a ts/ file is in: the longest LAYERS entry its path starts with. */
function layer(file) {
  const rel = relative('ts', file);
  let best = -1;
  LAYERS.forEach((l, i) => {
    if (rel === l || rel.startsWith(`${l}/`)) best = best < 0 || l.length > LAYERS[best].length ? i : best;
  });
  return best;
}

const problems = [];
const graph = new Map();
const tsFiles = files('ts');
for (const f of tsFiles) {
  const deps = imports(f);
  graph.set(f, deps);
  const from = layer(f);
  if (from < 0) problems.push(`${f}: in no layer (${LAYERS.join(', ')})`);
  for (const d of deps) {
    if (!d.startsWith('ts/')) problems.push(`${f} imports ${d}, outside ts/`);
    else if (layer(d) > from) problems.push(`${f} (${LAYERS[from]}) imports ${d} (${LAYERS[layer(d)]}), a layer above it`);
  }
}
for (const f of files('bench/src')) {
  for (const d of imports(f)) if (!d.startsWith('bench/src/') && d !== 'dist/index.ts') problems.push(`${f} imports ${d}: bench uses only the built package (dist/index.js)`);
}

// Cycles: depth-first search over the import graph.
const state = new Map(); // 1 = on the stack, 2 = done
const stack = [];
function visit(f) {
  state.set(f, 1);
  stack.push(f);
  for (const d of graph.get(f) ?? []) {
    if (state.get(d) === 1) problems.push(`import cycle: ${[...stack.slice(stack.indexOf(d)), d].join(' -> ')}`);
    else if (!state.has(d) && graph.has(d)) visit(d);
  }
  stack.pop();
  state.set(f, 2);
}
for (const f of graph.keys()) if (!state.has(f)) visit(f);

if (problems.length > 0) {
  for (const p of problems) console.error(`check-layers: ${p}`);
  process.exit(1);
}
const edges = [...graph.values()].reduce((n, d) => n + d.length, 0);
console.log(`check-layers: OK: ${graph.size} ts/ files, ${edges} imports, no cycle, every import points down (${LAYERS.join(' < ')})`);
