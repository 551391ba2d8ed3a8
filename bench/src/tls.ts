// The HTTPS scenarios: pythongoose serving bench/app.py with --tls-cert and
// --tls-key (TLS inside the guest) against node:https on the same certificate
// and key, alternating in the same run; for an RSA-2048 and a P-256 key, GET /
// over kept-alive connections and a new TLS connection per request.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { start, stop, type Contender, type SectionRun } from './contenders.js';
import { HOST, die, freePort, median, sleep } from './procs.js';
import { runWrk } from './wrk.js';

export interface TlsCase {
  key: string; // "RSA-2048", "P-256"
  kind: 'keep-alive' | 'new connection';
  /** Median req/s of each. */
  pythongoose: number;
  nodeHttps: number;
  runs: { pythongoose: number[]; nodeHttps: number[] };
  errors: number;
}

export interface TlsRun extends SectionRun {
  root: string;
  app: string;
  /** Where the bench's certificates are written. */
  dir: string;
}

/** A self-signed certificate for 127.0.0.1 with a key of this kind, written to dir. */
function certificate(dir: string, name: string, keyOpts: string[]): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', ...keyOpts, '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) die(`openssl could not make the bench's ${name} certificate: ${r.stderr || r.error?.message}`);
  return { cert, key };
}

export async function benchTls(run: TlsRun): Promise<TlsCase[]> {
  const keys = [
    { name: 'RSA-2048', files: certificate(run.dir, 'rsa', ['rsa:2048']) },
    { name: 'P-256', files: certificate(run.dir, 'p256', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']) },
  ];
  const cases: TlsCase[] = [];
  for (const { name, files } of keys) {
    const flags = ['--tls-cert', files.cert, '--tls-key', files.key];
    const ours: Contender = {
      ...run.pythongoose,
      tls: true,
      command: (port, app) => {
        const cmd = run.pythongoose.command(port, app);
        return { ...cmd, args: [...cmd.args, ...flags] };
      },
    };
    const theirs: Contender = {
      id: 'node-https',
      label: 'node:https',
      getOnly: true,
      tls: true,
      command: (port) => ({ cmd: process.execPath, args: [join(run.root, 'bench', 'contenders', 'node-https.mjs'), '--port', String(port), '--host', HOST, ...flags] }),
    };
    const servers = [await start(ours, await freePort(), run.serverCpu, run.app), await start(theirs, await freePort(), run.serverCpu, run.app)];
    try {
      for (const kind of ['keep-alive', 'new connection'] as const) {
        const headers = kind === 'new connection' ? ['Connection: close'] : [];
        const c: TlsCase = { key: name, kind, pythongoose: 0, nodeHttps: 0, runs: { pythongoose: [], nodeHttps: [] }, errors: 0 };
        const load = (port: number, seconds: number) => runWrk({ url: `https://${HOST}:${port}/`, connections: 50, seconds, headers, cpu: run.wrkCpu });
        if (run.warmup) for (const s of servers) await load(s.port, 1);
        for (let i = 0; i < run.runs; i++) {
          for (let k = 0; k < servers.length; k++) {
            const s = servers[(k + i) % servers.length];
            const w = await load(s.port, run.seconds);
            c.errors += w.errors + w.non2xx;
            (s.contender.id === 'node-https' ? c.runs.nodeHttps : c.runs.pythongoose).push(w.rps);
            await sleep(200);
          }
          console.log(`  ${name} ${kind} run ${i + 1}/${run.runs}: pythongoose ${c.runs.pythongoose[i].toFixed(0)} req/s, node:https ${c.runs.nodeHttps[i].toFixed(0)} req/s`);
        }
        c.pythongoose = median(c.runs.pythongoose);
        c.nodeHttps = median(c.runs.nodeHttps);
        cases.push(c);
      }
    } finally {
      await Promise.all(servers.map(stop));
    }
  }
  return cases;
}
