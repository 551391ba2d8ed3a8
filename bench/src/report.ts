// The benchmark's outputs: a markdown report and an SVG chart of each
// contender's throughput as a ratio to node:http, scenario by scenario.

export interface Cell {
  /** Median requests/s, or MB/s for the transfer scenarios. */
  value: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  runs: number[];
}

export interface ScenarioResult {
  id: string;
  label: string;
  unit: 'req/s' | 'MB/s';
  /** By contender id; absent where a contender does not take part. */
  cells: Record<string, Cell>;
}

export interface ContenderInfo {
  id: string;
  label: string;
  /** Process start to first 200, ms (median). */
  startMs: number;
  /** RSS after the load phases, bytes. */
  rssAfterLoad: number;
}

export interface Report {
  when: string;
  setup: string[];
  contenders: ContenderInfo[];
  scenarios: ScenarioResult[];
  memory: { rss1: number; rss10: number; perInstance: number; guestMemory: number; wasmBytes: number; nativeBytes: number };
  /** pythongoose's files scenarios (bench/src/files.ts); absent when it did not run. */
  files?: { templateFile: number; templateConst: number; durableWrites: number; nodeFsWrites: number };
  /** pythongoose with --metrics and a JSON access log against --quiet (bench/src/operations.ts). */
  operations?: { observed: number; quiet: number; countsMatched: boolean };
  /** HTTPS against node:https on the same certificate (bench/src/tls.ts). */
  tls?: { key: string; kind: string; pythongoose: number; nodeHttps: number; errors: number }[];
  instanceStartMs: number[];
  summaries: string[];
  targets: { text: string; met: boolean }[];
}

export const BASELINE = 'node-http';

const fmtNum = (n: number): string =>
  Number.isNaN(n) ? 'n/a' : n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
const fmtMs = (n: number): string => (Number.isNaN(n) ? 'n/a' : n < 10 ? n.toFixed(2) : n.toFixed(1));
export const fmtRatio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');
export const fmtMiB = (n: number): string => (Number.isNaN(n) ? 'n/a' : `${(n / 1048576).toFixed(1)} MiB`);

export function ratio(s: ScenarioResult, id: string): number {
  const base = s.cells[BASELINE];
  const cell = s.cells[id];
  return base && cell ? cell.value / base.value : NaN;
}

export function markdown(r: Report): string {
  const out: string[] = [`# Benchmark results`, '', `${r.when}`, ''];
  for (const line of r.setup) out.push(`- ${line}`);
  out.push('', '## Summary', '');
  for (const s of r.summaries) out.push(`- ${s}`);
  out.push('', '## Targets', '');
  for (const t of r.targets) out.push(`- ${t.met ? 'met' : '**missed**'}: ${t.text}`);
  out.push('', '## Throughput and latency', '');
  out.push('Ratio: the contender over node:http in the same run (higher is better). Errors: socket errors and non-2xx responses, summed over the measured runs.', '');
  for (const s of r.scenarios) {
    out.push(`### ${s.label}`, '', `| contender | ${s.unit} | ratio to node:http | p50 ms | p99 ms | errors |`, '|---|---:|---:|---:|---:|---:|');
    for (const c of r.contenders) {
      const cell = s.cells[c.id];
      if (!cell) continue;
      out.push(
        `| ${c.label} | ${fmtNum(cell.value)} | ${fmtRatio(ratio(s, c.id))} | ${fmtMs(cell.p50Ms)} | ${fmtMs(cell.p99Ms)} | ${cell.errors + cell.non2xx} |`,
      );
    }
    out.push('');
  }
  out.push('## Start-up and memory', '', '| contender | process start to first 200 | RSS after the load |', '|---|---:|---:|');
  for (const c of r.contenders) out.push(`| ${c.label} | ${fmtMs(c.startMs)} ms | ${fmtMiB(c.rssAfterLoad)} |`);
  const m = r.memory;
  out.push(
    '',
    `- New guest instance in a running process (serve() to first 200, module already compiled): median ${fmtMs(median(r.instanceStartMs))} ms over ${r.instanceStartMs.length} (${r.instanceStartMs.map(fmtMs).join(', ')}).`,
    `- pythongoose RSS after a warm-up load: ${fmtMiB(m.rss1)} with 1 guest instance, ${fmtMiB(m.rss10)} with 10 (\`--workers 10\`): ${fmtMiB(m.perInstance)} per added instance.`,
    `- Guest wasm memory (Python heap included) after start: ${fmtMiB(m.guestMemory)}; \`pythongoose.wasm\`: ${(m.wasmBytes / 1024).toFixed(0)} KiB; native binary: ${(m.nativeBytes / 1024).toFixed(0)} KiB.`,
    '',
  );
  /** A pythongoose-only section: each row a value against a baseline measured in the same run. */
  const section = (title: string, rows: string[], after: string[] = []): void => {
    out.push(`## ${title}`, '', '| pythongoose | value | baseline in the same run | ratio |', '|---|---:|---:|---:|', ...rows, '', ...after);
  };
  if (r.files) {
    const f = r.files;
    section('Files', [
      `| GET: a 4 KiB template read from /app per request, 50 connections | ${fmtNum(f.templateFile)} req/s | the template in a constant: ${fmtNum(f.templateConst)} req/s | ${fmtRatio(f.templateFile / f.templateConst)} |`,
      `| POST: a 100-byte file written to /data and closed (durable), 1 connection | ${fmtNum(f.durableWrites)} writes/s | node:fs open+write+fsync+close: ${fmtNum(f.nodeFsWrites)}/s | ${fmtRatio(f.durableWrites / f.nodeFsWrites)} |`,
    ]);
  }
  if (r.operations) {
    const o = r.operations;
    section(
      'Operations',
      [`| GET / with \`--metrics\` and \`--log-format json\` (a line per response), 50 connections | ${fmtNum(o.observed)} req/s | \`--quiet\`: ${fmtNum(o.quiet)} req/s | ${fmtRatio(o.observed / o.quiet)} |`],
      [`The metrics' request count ${o.countsMatched ? 'matched' : 'did not match'} the responses wrk counted.`, ''],
    );
  }
  if (r.tls) {
    section(
      'HTTPS',
      r.tls.map((c) => `| GET / ${c.kind === 'keep-alive' ? 'keep-alive' : 'a new TLS connection per request'}, ${c.key}, 50 connections | ${fmtNum(c.pythongoose)} req/s | node:https: ${fmtNum(c.nodeHttps)} req/s | ${fmtRatio(c.pythongoose / c.nodeHttps)} |`),
      [`TLS terminated inside the guest (Mbed TLS), against node:https with the same certificate and key; socket errors and non-2xx: ${r.tls.reduce((n, c) => n + c.errors, 0)}.`, ''],
    );
  }
  out.push('![ratio to node:http](chart.svg)', '');
  return out.join('\n');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const COLORS = ['#d1495b', '#2e4057', '#8d96a3', '#edae49', '#66a182', '#00798c'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Horizontal bars: each contender's throughput over node:http's, per scenario. */
export function chart(r: Report): string {
  const left = 300;
  const width = 900;
  const barH = 13;
  const plotW = width - left - 70;
  const max = Math.max(1.2, ...r.scenarios.flatMap((s) => r.contenders.map((c) => ratio(s, c.id)).filter(Number.isFinite)));
  const x = (v: number): number => left + (Math.min(v, max) / max) * plotW;
  const rows: string[] = [];
  let y = 40;
  for (const s of r.scenarios) {
    rows.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(s.label)}</text>`);
    y += 20;
    r.contenders.forEach((c, i) => {
      const v = ratio(s, c.id);
      if (!Number.isFinite(v)) return;
      rows.push(
        `<text x="${left - 8}" y="${y + 10}" text-anchor="end">${esc(c.label)}</text>`,
        `<rect x="${left}" y="${y}" width="${Math.max(1, x(v) - left).toFixed(1)}" height="${barH}" fill="${COLORS[i % COLORS.length]}"/>`,
        `<text x="${(x(v) + 4).toFixed(1)}" y="${y + 10}">${v.toFixed(2)}×</text>`,
      );
      y += barH + 3;
    });
    y += 12;
  }
  const one = x(1).toFixed(1);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Throughput relative to node:http (same run, higher is better)</text>`,
    `<line x1="${one}" y1="30" x2="${one}" y2="${y}" stroke="#444" stroke-dasharray="4 3"/>`,
    `<text x="${one}" y="${y + 8}" text-anchor="middle">1.0× node:http</text>`,
    ...rows,
    '</svg>',
    '',
  ].join('\n');
}
