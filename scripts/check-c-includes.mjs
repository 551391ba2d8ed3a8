#!/usr/bin/env node
// Checks the layering of c/ (issue 13): builds the graph of quoted includes
// among c/'s .c and .h files and fails (exit 1) on
//   - an include cycle. A .c and the .h of the same name are one node (a
//     unit): a header declares what its .c defines, so unit A including B's
//     header while B includes A's is a cycle even though no file includes
//     itself back;
//   - an include against the layers, bottom to top: the top-level config
//     headers < abi/ < vm/ < platform/ < mod/; a file includes only its own
//     layer and those below. So platform/ and vm/ never include mod/ (the
//     module registers hooks instead), vm/ never includes platform/, and abi/
//     only config;
//   - a header that declares what its own .c does not define (a call cycle
//     the include graph cannot see: A's header declaring a function B
//     defines, which A calls while B includes A). Headers with no .c of their
//     name (c/platform/platform.h, c/abi/*.h) are interfaces, implemented
//     once per platform or by the host;
//   - PG_NATIVE anywhere but c/platform/, the top-level config headers
//     (c/mpconfigport.h, c/mongoose_config.h) and c/micropython.mk, which
//     defines it for the native build.
// Prints one OK line otherwise. Run from anywhere: node scripts/check-c-includes.mjs
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const problems = [];

function walk(dir) {
  const out = [];
  for (const name of readdirSync(join(root, dir)).sort()) {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) {
      out.push(...walk(path));
    } else {
      out.push(path);
    }
  }
  return out;
}
const all = walk('c');
const sources = all.filter((f) => /\.(c|h)$/.test(f));

// A quoted include, resolved as the compilers do here (-I. -Ic): against the
// project root ("c/..."), the including file's folder, then c/. Anything not
// in c/ (mongoose.h, py/..., the unix port's variants/standard/...) is not ours.
function resolve(from, target) {
  for (const candidate of [target, join(dirname(from), target), join('c', target)]) {
    if (candidate.startsWith('c/') && existsSync(join(root, candidate)) && sources.includes(candidate)) {
      return candidate;
    }
  }
  return null;
}

const unitOf = (file) => file.replace(/\.(c|h)$/, '');
const layerOf = (file) => {
  const m = /^c\/(abi|vm|platform|mod)\//.exec(file);
  return m ? m[1] : 'config';
};
const rank = { config: 0, abi: 1, vm: 2, platform: 3, mod: 4 };

const edges = new Map();  // unit -> Set(unit)
let nEdges = 0;
for (const file of sources) {
  const text = readFileSync(join(root, file), 'utf8');
  const unit = unitOf(file);
  if (!edges.has(unit)) edges.set(unit, new Set());
  for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
    const target = resolve(file, m[1]);
    if (target === null) continue;
    nEdges++;
    const from = layerOf(file), to = layerOf(target);
    if (rank[to] > rank[from]) {
      const name = (layer) => (layer === 'config' ? 'config' : `${layer}/`);
      problems.push(`${file} (${name(from)}) includes ${target} (${name(to)}): against the layers`);
    }
    if (unitOf(target) !== unit) edges.get(unit).add(unitOf(target));
  }
}

// Cycles: depth-first search; a unit met again while on the stack closes one.
const state = new Map();  // unit -> 1 on the stack, 2 done
const stack = [];
function visit(unit) {
  state.set(unit, 1);
  stack.push(unit);
  for (const next of edges.get(unit) ?? []) {
    if (state.get(next) === 1) {
      problems.push(`include cycle: ${[...stack.slice(stack.indexOf(next)), next].join(' -> ')}`);
    } else if (!state.has(next)) {
      visit(next);
    }
  }
  stack.pop();
  state.set(unit, 2);
}
for (const unit of [...edges.keys()].sort()) {
  if (!state.has(unit)) visit(unit);
}

// What a header declares for others: prototypes, extern variables and
// MicroPython objects (MP_DECLARE_CONST_FUN_OBJ_*), outside brace blocks
// (types, enums and static inline functions are the header's own).
const stripComments = (text) => text.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, '');
function declared(text) {
  let body = stripComments(text).replace(/^\s*#.*(\\\n.*)*$/gm, '');
  for (let prev = ''; prev !== body; ) {
    prev = body;
    body = body.replace(/\{[^{}]*\}/g, ';');
  }
  const names = [];
  for (let stmt of body.split(';')) {
    stmt = stmt.replace(/\s+/g, ' ').trim();
    if (stmt === '' || /^(typedef|enum|struct \w+ ?$|static|_Static_assert)\b/.test(stmt)) continue;
    let m = /^MP_DECLARE_CONST_FUN_OBJ_\w+\((\w+)\)$/.exec(stmt);
    if (m === null) m = /^extern\b.*?(\w+)(\[[^\]]*\])?$/.exec(stmt);
    if (m === null) m = /(\w+)\s*\([^()]*(\([^()]*\)[^()]*)*\)$/.exec(stmt);
    if (m !== null) names.push(m[1]);
  }
  return names;
}
function defines(text, name) {
  const t = stripComments(text);
  return new RegExp(`^[^;#]*\\b${name}\\s*\\([^;]*?\\)\\s*\\{`, 'm').test(t) ||  // a function
    new RegExp(`^(?!extern)[\\w ]*[\\w*] \\*?${name}\\s*(=|;|\\[)`, 'm').test(t) ||  // a variable
    new RegExp(`\\bMP_DEFINE_\\w+\\(\\s*${name}\\b`).test(t);  // a MicroPython object
}
let nDeclared = 0;
for (const header of sources.filter((f) => f.endsWith('.h'))) {
  const source = header.replace(/\.h$/, '.c');
  if (!sources.includes(source)) continue;
  const code = readFileSync(join(root, source), 'utf8');
  for (const name of declared(readFileSync(join(root, header), 'utf8'))) {
    nDeclared++;
    if (process.env.CHECK_C_VERBOSE) console.log(`${header}: ${name}`);
    if (!defines(code, name)) problems.push(`${header} declares ${name}, which ${source} does not define`);
  }
}

const nativeOk = (f) => f.startsWith('c/platform/') || ['c/mpconfigport.h', 'c/mongoose_config.h', 'c/micropython.mk'].includes(f);
for (const file of all.filter((f) => /\.(c|h|mk)$/.test(f))) {
  readFileSync(join(root, file), 'utf8').split('\n').forEach((line, i) => {
    if (/\bPG_NATIVE\b/.test(line) && !nativeOk(file)) {
      problems.push(`${file}:${i + 1}: PG_NATIVE outside c/platform/ and the config headers`);
    }
  });
}

if (problems.length > 0) {
  for (const p of problems) console.error(`check-c-includes: ${p}`);
  process.exit(1);
}
console.log(`check-c-includes: OK: ${sources.length} files in ${edges.size} units, ${nEdges} includes within c/, ` +
  `no cycles, layers config < abi < vm < platform < mod kept, ${nDeclared} header declarations each defined ` +
  `by its own .c, PG_NATIVE only in c/platform/ and config`);
