// The guest's ABI and the link, where C and TypeScript must agree: each side
// defines a value once (c/abi/, ts/net/link.ts, ts/guest/abi.ts) and this
// suite fails when they differ, reading the C headers and the built .wasm.
// Also: the layering of ts/ and c/ (scripts/check-layers.mjs, check-c-includes.mjs).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { GUEST_EXPORTS, GUEST_IMPORTS, GUEST_MEMORY_INITIAL, GUEST_MEMORY_LIMIT, RUNTIME_EXPORTS, WASM_PAGE } from '../../ts/guest/abi.js';
import { DEFAULT_WASM_PATH } from '../../ts/guest/paths.js';
import { GATEWAY_IP, GUEST_HTTP_LISTENERS, GUEST_HTTP_PORT, GUEST_IP, GUEST_MAC, LINK_MTU } from '../../ts/net/link.js';
import { DEFAULT_LIMITS } from '../../ts/serve/options.js';
import { ROOT } from '../helpers/server.js';

const cFile = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8');

/** The value of `#define NAME ...` in a C header, as its comma-separated numbers. */
function defined(header: string, name: string): number[] {
  const m = header.match(new RegExp(`^#define ${name} (.+)$`, 'm'));
  if (!m) throw new Error(`no #define ${name}`);
  return m[1].split(',').map((v) => Number(v.trim()));
}

const octets = (ip: number): number[] => [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];

/** The limits of the module's memory import, from its binary (Node 20 has no type reflection). */
function memoryImportLimits(wasm: Uint8Array): { min: number; max: number | undefined } {
  let i = 8;
  const leb = (): number => {
    let r = 0;
    for (let shift = 0; ; shift += 7) {
      const b = wasm[i++];
      r += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return r;
    }
  };
  const name = (): string => {
    const n = leb();
    i += n;
    return Buffer.from(wasm.subarray(i - n, i)).toString();
  };
  while (i < wasm.length) {
    const id = wasm[i++];
    const size = leb();
    if (id !== 2) {
      i += size;
      continue;
    }
    for (let count = leb(); count > 0; count--) {
      const where = `${name()}.${name()}`;
      const kind = wasm[i++];
      if (kind === 0) leb(); // function: type index
      else if (kind === 1) {
        i++; // table: element type, then limits
        const flags = wasm[i++];
        leb();
        if (flags & 1) leb();
      }
      else if (kind === 3) i += 2; // global: type, mutability
      else if (kind === 2) {
        const flags = wasm[i++];
        const min = leb();
        const max = flags & 1 ? leb() : undefined;
        if (where === 'env.memory') return { min, max };
      }
    }
    break;
  }
  throw new Error('the module imports no env.memory');
}

const link = suite('link constants: c/abi/link.h = ts/net/link.ts');
const header = cFile('c/abi/link.h');

link('the guest address, the gateway address and the guest MAC', () => {
  assert.equal(defined(header, 'PG_GUEST_IP_OCTETS'), octets(GUEST_IP));
  assert.equal(defined(header, 'PG_GATEWAY_IP_OCTETS'), octets(GATEWAY_IP));
  assert.equal(defined(header, 'PG_GUEST_MAC_OCTETS'), [...GUEST_MAC]);
});

link('the MTU and the HTTP port', () => {
  assert.equal(defined(header, 'PG_MTU'), [LINK_MTU]);
  assert.equal(defined(header, 'PG_HTTP_PORT'), [GUEST_HTTP_PORT]);
  assert.equal(defined(header, 'PG_HTTP_LISTENERS'), [GUEST_HTTP_LISTENERS]);
});

link('the limits the native build keeps (c/vm/options.c) are the host defaults', () => {
  const src = cFile('c/vm/options.c');
  const field = (name: string): number => {
    const m = src.match(new RegExp(`\\.${name} = ([0-9 *]+),`));
    if (!m) throw new Error(`no .${name} in c/vm/options.c`);
    return m[1].split('*').reduce((p, v) => p * Number(v.trim()), 1);
  };
  assert.is(field('cpu_budget_ms'), DEFAULT_LIMITS.cpuBudgetMs);
  assert.is(field('max_body'), DEFAULT_LIMITS.maxBody);
  assert.is(field('header_timeout_ms'), DEFAULT_LIMITS.headerTimeoutMs);
  assert.is(field('idle_timeout_ms'), DEFAULT_LIMITS.idleTimeoutMs);
  assert.is(field('max_send_buffer'), DEFAULT_LIMITS.maxSendBuffer);
});

link.run();

const abi = suite('guest ABI: c/abi/*.h, ts/guest/abi.ts and the built .wasm');
const wasm = new Uint8Array(readFileSync(DEFAULT_WASM_PATH));
const module = new WebAssembly.Module(wasm);

abi('c/abi/imports.h declares exactly the pg.* imports of GUEST_IMPORTS', () => {
  const declared = [...cFile('c/abi/imports.h').matchAll(/^PG_IMPORT\((\w+)\)/gm)].map((m) => `pg.${m[1]}`).sort();
  assert.equal(declared, GUEST_IMPORTS.filter((n) => n.startsWith('pg.')).sort());
});

abi('c/abi/exports.h declares exactly the pg_* exports of GUEST_EXPORTS', () => {
  const declared = [...cFile('c/abi/exports.h').matchAll(/^PG_EXPORT [^(]*?\b(pg_\w+)\(/gm)].map((m) => m[1]).sort();
  assert.equal(declared, GUEST_EXPORTS.filter((n) => n.startsWith('pg_')).sort());
});

abi('the built module imports exactly GUEST_IMPORTS', () => {
  const imports = WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}`).sort();
  assert.equal(imports, [...GUEST_IMPORTS].sort());
});

abi('the built module exports exactly GUEST_EXPORTS and the runtime exports', () => {
  const exports = WebAssembly.Module.exports(module).map((e) => e.name).sort();
  assert.equal(exports, [...GUEST_EXPORTS, ...RUNTIME_EXPORTS].sort());
});

abi('its memory import: the initial size and the ceiling the host sizes memory within', () => {
  const { min, max } = memoryImportLimits(wasm);
  assert.is(min * WASM_PAGE, GUEST_MEMORY_INITIAL);
  assert.is((max ?? 0) * WASM_PAGE, GUEST_MEMORY_LIMIT);
});

abi.run();

const layers = suite('layering: no cycles, dependencies one way');

for (const script of ['check-layers.mjs', 'check-c-includes.mjs']) {
  layers(`scripts/${script} finds nothing`, () => {
    const r = spawnSync(process.execPath, [`${ROOT}scripts/${script}`], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /OK/);
  });
}

layers.run();
