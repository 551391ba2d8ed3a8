// Runs the uvu suites (compiled to dist-spec/) and ends with the one line
// CI reads: "N passed, M failed".
//
//   node scripts/run-tests.mjs [--runtime node|deno|bun] [FOLDER|REGEX ...]
//
// Suites live in folders of spec/: unit/ (packet-level and pure TypeScript),
// e2e/ (the real server over real sockets), fuzz/ (property-based and
// randomized), native/ (the native build). A FOLDER ("e2e" or "e2e/") runs the
// suites in it; any other argument is a REGEX over the suite's path below
// spec/ ("unit/tcp", "e2e/(seed|app)"). Several arguments run the suites any of
// them picks; none runs every folder's suites. With --runtime deno or bun
// the suites run under that runtime (the pinned devDependency's binary in
// node_modules/.bin) and the line names it: "N passed, M failed (deno 2.9.6)".
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
let runtime = 'node';
const at = args.findIndex((a) => a === '--runtime' || a.startsWith('--runtime='));
if (at >= 0) {
  const [flag] = args.splice(at, 1);
  runtime = flag.includes('=') ? flag.slice(flag.indexOf('=') + 1) : args.splice(at, 1)[0];
}
// A suite is a compiled *.test.js file; helpers/ holds none.
const folder = (a) => /^[\w-]+\/?$/.test(a) && existsSync(join(root, 'spec', a.replace(/\/$/, '')));
const folders = readdirSync(join(root, 'spec'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
const picks = (args.length ? args : folders).map((a) => (folder(a) ? `^${a.replace(/\/$/, '')}/` : a));
const pattern = `^(?=.*\\.test\\.js$)[^]*?(?:${picks.map((p) => `(?:${p})`).join('|')})`;
const uvu = ['node_modules/uvu/bin.js', 'dist-spec/spec', pattern];

let command;
let label = '';
if (runtime === 'node') {
  command = [process.execPath, ...uvu];
} else if (runtime === 'deno' || runtime === 'bun') {
  const bin = join(root, 'node_modules', '.bin', runtime);
  const version = existsSync(bin) ? spawnSync(bin, ['--version'], { encoding: 'utf8' }) : null;
  if (!version || version.status !== 0) {
    console.error(`${runtime} is not installed at ${bin} (npm ci installs it)`);
    console.log(`0 passed, 1 failed (${runtime})`);
    process.exit(1);
  }
  // "deno 2.9.6 (stable, ...)" / "1.4.5"
  label = ` (${runtime} ${version.stdout.match(/\d+\.\d+\.\d+\S*/)?.[0] ?? version.stdout.trim()})`;
  command = runtime === 'deno' ? [bin, 'run', '-A', ...uvu] : [bin, ...uvu];
} else {
  console.error(`--runtime must be node, deno or bun, got ${runtime}`);
  process.exit(2);
}

const child = spawn(command[0], command.slice(1), {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
});
child.on('close', (code) => {
  // uvu's summary: "Total: N", "Passed: N", "Skipped: N" (colour codes stripped).
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (name) => {
    const m = plain.match(new RegExp(`${name}:\\s+(\\d+)`));
    return m ? Number(m[1]) : null;
  };
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped') ?? 0;
  let failed = total === null || passed === null ? 1 : total - passed - skipped;
  if (code !== 0 && failed === 0) failed = 1; // a suite crashed outside a test
  if (total === 0 && failed === 0) failed = 1; // no suite matched: a mistyped folder or regex
  console.log(`${passed ?? 0} passed, ${failed} failed${label}`);
  process.exit(failed > 0 ? 1 : 0);
});
