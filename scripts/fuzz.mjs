// npm run fuzz: the property-based fuzzer of spec/fuzz/host-properties.test.ts, much longer
// than in the test suite and with a random seed (printed, so a failure
// replays), bounded in time, ending with a one-line summary.
//
//   node scripts/fuzz.mjs [--seed N] [--minutes M] [--only a,b,c,d]
//
// It compiles the specs (tsc -p tsconfig.spec.json) but never builds the
// guest: property d (hostile clients through the real guest) needs
// `npm run build` done first, and is skipped, with a note, without it.
// Env: FUZZ_SEED, FUZZ_SCALE (runs per property x the test suite's), FUZZ_BUDGET_MS
// (time limit per property), FUZZ_ONLY.
import { spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => {
  const at = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (at < 0) return undefined;
  return args[at].includes('=') ? args[at].slice(args[at].indexOf('=') + 1) : args[at + 1];
};

const seed = Number(flag('seed') ?? process.env.FUZZ_SEED ?? randomInt(0, 2 ** 31));
const minutes = Number(flag('minutes') ?? 3);
let only = flag('only') ?? process.env.FUZZ_ONLY ?? 'a,b,c,d,r';
const properties = only.split(',').filter((p) => 'abcd'.includes(p)).length || 1;
// The time goes to the four properties; the regression checks take a few seconds.
const budgetMs = Number(process.env.FUZZ_BUDGET_MS ?? Math.max(5000, Math.floor((minutes * 60000 - 15000) / properties)));
const scale = Number(process.env.FUZZ_SCALE ?? 1000); // the time budget is what ends each property
if (!Number.isInteger(seed) || !(minutes > 0)) {
  console.error('usage: node scripts/fuzz.mjs [--seed N] [--minutes M] [--only a,b,c,d]');
  process.exit(2);
}

console.log(`fuzz: seed ${seed}, ${budgetMs / 1000} s per property (replay: FUZZ_SEED=${seed} npm run fuzz)`);

if (!existsSync(join(root, 'wasm/build/pythongoose.wasm')) || !existsSync(join(root, 'dist/index.js'))) {
  console.log('fuzz: dist/ or the guest (wasm/build/pythongoose.wasm) is missing: run `npm run build` first; property d (through the real guest) is skipped');
  only = only.split(',').filter((p) => p !== 'd').join(',');
}

const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.spec.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) {
  console.log(`fuzz: seed ${seed}: the specs do not compile`);
  process.exit(1);
}

const started = Date.now();
const child = spawn(process.execPath, [join(root, 'node_modules/uvu/bin.js'), 'dist-spec/spec', '^fuzz/host-properties\\.test\\.js$'], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, FUZZ_LONG: '1', FUZZ_SEED: String(seed), FUZZ_SCALE: String(scale), FUZZ_BUDGET_MS: String(budgetMs), FUZZ_ONLY: only },
});
let out = '';
child.stdout.on('data', (d) => {
  out += d;
  process.stdout.write(d);
});
child.on('close', (code) => {
  const results = [...out.matchAll(/^.*FUZZ-RESULT (\{.*\})$/gm)].map((m) => JSON.parse(m[1]));
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(plain.match(/Total:\s+(\d+)/)?.[1] ?? 0);
  const passed = Number(plain.match(/Passed:\s+(\d+)/)?.[1] ?? 0);
  const failedProps = results.filter((r) => r.failed).map((r) => r.name);
  const ok = code === 0 && total > 0 && passed === total && failedProps.length === 0;
  const runs = results.map((r) => `${r.name.split('.')[0]} ${r.runs}`).join(', ');
  const secs = Math.round((Date.now() - started) / 1000);
  console.log(
    ok
      ? `fuzz: seed ${seed}: all passed, ${results.reduce((n, r) => n + r.runs, 0)} runs (${runs}) and ${total - results.length} checks in ${secs} s`
      : `fuzz: seed ${seed}: FAILED ${failedProps.join(', ') || (total === 0 ? 'no test ran' : `${total - passed} of ${total} tests`)} after ${secs} s (${runs}); replay: FUZZ_SEED=${seed} FUZZ_SCALE=${scale} npm run fuzz`,
  );
  process.exit(ok ? 0 : 1);
});
