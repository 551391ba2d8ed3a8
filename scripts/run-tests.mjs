// Runs every uvu suite (compiled to dist-spec/) and ends with the one line
// CI reads: "N passed, M failed".
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const pattern = args[0] ?? '\\.test\\.js$';
const child = spawn(process.execPath, ['node_modules/uvu/bin.js', 'dist-spec/spec', pattern], {
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
  const num = (label) => {
    const m = plain.match(new RegExp(`${label}:\\s+(\\d+)`));
    return m ? Number(m[1]) : null;
  };
  const total = num('Total');
  const passed = num('Passed');
  const skipped = num('Skipped') ?? 0;
  let failed = total === null || passed === null ? 1 : total - passed - skipped;
  if (code !== 0 && failed === 0) failed = 1; // a suite crashed outside a test
  console.log(`${passed ?? 0} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
});
