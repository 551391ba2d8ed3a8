// The server's Prometheus metrics (prom-client's registry and text format),
// answered by the host: responses counted from the guest's access records,
// everything else read from the pool's stats at scrape time. Labels are
// bounded: status class, request kind, instance number, fixed reasons.
import { createRequire } from 'node:module';
import type { Counter, Histogram, Registry } from 'prom-client';
import type { InstanceStats } from '../host/instance.js';
import type { AccessRecord } from '../host/records.js';
import type { PoolStats } from './pool.js';

/** Request-duration buckets, seconds: a callback's budget is 1 s by default. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the metrics read at scrape time. */
export interface MetricsSource {
  stats(): PoolStats;
  /** The Python heap's maximum (--heap-max), bytes. */
  heapMax: number;
}

/** Client connections being served, a reload's old version's included. */
export type ConnectionCount = () => number;

/** The counters of instances that were replaced (crash, reload): counters must not go back. */
type Retired = Pick<InstanceStats, 'bytesIn' | 'bytesOut' | 'python' | 'outputDropped' | 'tls'> & {
  outbound: Pick<InstanceStats['outbound'], 'opened' | 'failed' | 'deniedBy' | 'dns'>;
};

const ZERO: Retired = {
  bytesIn: 0,
  bytesOut: 0,
  python: { budgetInterruptions: 0, memoryErrors: 0, heapUsed: 0, heapTotal: 0 },
  outputDropped: { stdout: 0, stderr: 0, access: 0 },
  tls: { ok: 0, failed: 0, nomem: 0 },
  outbound: { opened: 0, failed: 0, deniedBy: { link: 0, policy: 0, limit: 0 }, dns: { queries: 0, answered: 0, nxdomain: 0, servfail: 0, malformed: 0 } },
};

/**
 * What must count from the start whether or not metrics are read: replaced
 * instances' counters, restarts, refusals and reloads. Plain numbers: loading
 * prom-client costs ~35 ms of a process's start.
 */
export class MetricsLedger {
  retired: Retired = structuredClone(ZERO);
  restartsBefore = 0; // guest restarts counted by pools a reload replaced
  refused = 0;
  readonly reloads = { ok: 0, failed: 0 };

  constructor(public source: MetricsSource) {}

  connectionRefused(): void {
    this.refused++;
  }

  /** An instance is gone (crashed, or its pool was replaced): its counts stay counted. */
  retire(s: InstanceStats): void {
    const r = this.retired;
    r.bytesIn += s.bytesIn;
    r.bytesOut += s.bytesOut;
    r.python.budgetInterruptions += s.python.budgetInterruptions;
    r.python.memoryErrors += s.python.memoryErrors;
    for (const k of ['stdout', 'stderr', 'access'] as const) r.outputDropped[k] += s.outputDropped[k];
    for (const k of ['ok', 'failed', 'nomem'] as const) r.tls[k] += s.tls[k];
    r.outbound.opened += s.outbound.opened;
    r.outbound.failed += s.outbound.failed;
    for (const k of ['link', 'policy', 'limit'] as const) r.outbound.deniedBy[k] += s.outbound.deniedBy[k];
    for (const k of ['queries', 'answered', 'nxdomain', 'servfail', 'malformed'] as const) r.outbound.dns[k] += s.outbound.dns[k];
  }

  /** A reload: the new pool is the source from now on; the old one's restarts stay counted. */
  reloaded(ok: boolean, next?: MetricsSource): void {
    this.reloads[ok ? 'ok' : 'failed']++;
    if (ok && next !== undefined) {
      this.restartsBefore += this.source.stats().restarts.count;
      this.source = next;
    }
  }
}

/** The registry over a ledger; responses count from when it is made. */
export class ServerMetrics {
  readonly registry: Registry;
  private readonly requests: Counter<'code' | 'kind'>;
  private readonly duration: Histogram<'kind'>;
  private readonly responseBytes: Counter<'kind'>;
  private readonly cutShort: Counter<'kind'>;
  /** The label-bound series per status class and kind: prom-client hashes a label object on every call otherwise. */
  private readonly series = new Map<string, { requests: Counter.Internal; duration: Histogram.Internal<'kind'>; bytes: Counter.Internal; cut: Counter.Internal }>();

  constructor(
    ledger: MetricsLedger,
    connections: ConnectionCount,
  ) {
    // Loaded here, not imported: a server whose metrics nobody reads never loads it.
    const { Counter, Gauge, Histogram, Registry } = createRequire(import.meta.url)('prom-client') as typeof import('prom-client');
    this.registry = new Registry();
    const registers = [this.registry];
    this.requests = new Counter({ name: 'pythongoose_http_requests_total', help: 'Responses, by status class and what answered (app, static, websocket, refused by the guest).', labelNames: ['code', 'kind'], registers });
    this.duration = new Histogram({ name: 'pythongoose_http_request_duration_seconds', help: 'From the complete request to the queued response.', labelNames: ['kind'], buckets: DURATION_BUCKETS, registers });
    this.responseBytes = new Counter({ name: 'pythongoose_http_response_body_bytes_total', help: 'Response body bytes.', labelNames: ['kind'], registers });
    this.cutShort = new Counter({ name: 'pythongoose_http_responses_cut_short_total', help: 'Responses whose connection closed before they were complete.', labelNames: ['kind'], registers });
    const total = <T>(get: (s: Retired) => T, sum: (a: T, b: T) => T): T => {
      const { workers } = ledger.source.stats();
      return workers.reduce((acc, w) => sum(acc, get(w)), get(ledger.retired));
    };
    const add = (a: number, b: number): number => a + b;
    const counter = (name: string, help: string, value: () => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(value()); } });
    };
    counter('pythongoose_connections_refused_total', 'Client connections refused over --max-connections.', () => ledger.refused);
    counter('pythongoose_python_budget_interruptions_total', 'Python callbacks interrupted for running over --cpu-budget.', () => total((s) => s.python.budgetInterruptions, add));
    counter('pythongoose_python_memory_errors_total', 'MemoryErrors raised in Python (heap over --heap-max).', () => total((s) => s.python.memoryErrors, add));
    counter('pythongoose_guest_restarts_total', 'Crashed or stuck guest instances replaced.', () => ledger.restartsBefore + ledger.source.stats().restarts.count);
    counter('pythongoose_client_received_bytes_total', 'Bytes read from clients.', () => total((s) => s.bytesIn, add));
    counter('pythongoose_client_sent_bytes_total', 'Bytes written to clients.', () => total((s) => s.bytesOut, add));
    new Gauge({ name: 'pythongoose_connections_open', help: "Client connections being served (a reload's old version's too).", registers, collect() { this.set(connections()); } });
    /** A counter with one label, a value per label value. */
    const labelledBy = (name: string, help: string, label: string, values: Record<string, () => number>): void => {
      new Counter({
        name, help, labelNames: [label], registers,
        collect() {
          this.reset();
          for (const [value, get] of Object.entries(values)) this.inc({ [label]: value }, get());
        },
      });
    };
    labelledBy('pythongoose_reloads_total', 'Reloads of the app (--watch, SIGHUP, reload()), by result.', 'result', { ok: () => ledger.reloads.ok, failed: () => ledger.reloads.failed });
    /** Each value summed over the instances and the retired ones. */
    const labelled = (name: string, help: string, label: string, values: Record<string, (s: Retired) => number>): void =>
      labelledBy(name, help, label, Object.fromEntries(Object.entries(values).map(([value, get]) => [value, () => total(get, add)])));
    labelled('pythongoose_egress_connections_total', 'Outbound connections from Python, by result (opened, failed, denied).', 'result', {
      opened: (s) => s.outbound.opened,
      failed: (s) => s.outbound.failed,
      denied: (s) => s.outbound.deniedBy.link + s.outbound.deniedBy.policy + s.outbound.deniedBy.limit,
    });
    labelled('pythongoose_egress_denied_total', 'Outbound connections denied, by reason (policy: no --allow rule; limit: --max-outbound; link: the virtual link itself).', 'reason', {
      policy: (s) => s.outbound.deniedBy.policy,
      limit: (s) => s.outbound.deniedBy.limit,
      link: (s) => s.outbound.deniedBy.link,
    });
    labelled('pythongoose_dns_answers_total', 'DNS answers the host gave the guest, by result (ok, nxdomain, servfail).', 'result', {
      ok: (s) => s.outbound.dns.answered,
      nxdomain: (s) => s.outbound.dns.nxdomain,
      servfail: (s) => s.outbound.dns.servfail,
    });
    labelled('pythongoose_tls_handshakes_total', "Clients' TLS handshakes, by result (ok; failed: a bad or slow client, or plain HTTP; no_memory: refused for want of guest memory).", 'result', {
      ok: (s) => s.tls.ok,
      failed: (s) => s.tls.failed,
      no_memory: (s) => s.tls.nomem,
    });
    labelled('pythongoose_output_dropped_bytes_total', "Bytes of the app's output dropped while its stream was not being read, by stream.", 'stream', {
      stdout: (s) => s.outputDropped.stdout,
      stderr: (s) => s.outputDropped.stderr,
      access: (s) => s.outputDropped.access,
    });
    const perInstance = (name: string, help: string, value: (w: InstanceStats) => number): void => {
      new Gauge({
        name, help, labelNames: ['instance'], registers,
        collect() {
          this.reset();
          ledger.source.stats().workers.forEach((w, i) => this.set({ instance: String(i) }, value(w)));
        },
      });
    };
    perInstance('pythongoose_guest_memory_bytes', "The guest's wasm memory (the Python heap lives in it).", (w) => w.guestMemory);
    perInstance('pythongoose_connections_waiting', 'Connections the guest has set aside until their client sends more (idle, or a request still arriving).', (w) => w.connectionsWaiting);
    perInstance('pythongoose_python_heap_used_bytes', 'Python heap in use, as of its last collection.', (w) => w.python.heapUsed);
    perInstance('pythongoose_python_heap_max_bytes', 'The most the Python heap may grow to (--heap-max).', () => ledger.source.heapMax);
  }

  /** One response, from the guest's access record. */
  record(r: AccessRecord): void {
    const code = r.status >= 100 && r.status < 600 ? `${Math.floor(r.status / 100)}xx` : 'other';
    const key = `${code} ${r.kind}`;
    let s = this.series.get(key);
    if (s === undefined) {
      const kind = { kind: r.kind };
      s = { requests: this.requests.labels({ code, kind: r.kind }), duration: this.duration.labels(kind), bytes: this.responseBytes.labels(kind), cut: this.cutShort.labels(kind) };
      this.series.set(key, s);
    }
    s.requests.inc();
    s.duration.observe(r.ms / 1000);
    s.bytes.inc(r.bytes);
    if (r.cutShort) s.cut.inc();
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
