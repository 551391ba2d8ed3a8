// The files scenarios: a handler that reads a 4 KiB template from the app
// bundle (/app) per request, against the same handler with the template in
// a constant; and small durable writes to the data volume (/data), against a
// node:fs open+write+fsync+close loop on the same disk in the same run.
import { closeSync, fsyncSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { start, stop, type Contender, type SectionRun } from './contenders.js';
import { HOST, freePort, median, sleep } from './procs.js';
import { runWrk } from './wrk.js';

export interface FilesResult {
  /** req/s of GET /template-file and GET /template-const (50 keep-alive connections), medians. */
  templateFile: number;
  templateConst: number;
  /** Durable 100-byte file writes per second: POST /write over one connection, and node:fs's loop. */
  durableWrites: number;
  nodeFsWrites: number;
  runs: { templateFile: number[]; templateConst: number[]; durableWrites: number[]; nodeFsWrites: number[] };
}

const TEMPLATE = `<!doctype html><title>{{title}}</title>\n${'<p>a line of the template, the same each time</p>\n'.repeat(80)}`.slice(0, 4096);

const MAIN = `import mongoose

app = mongoose.App()
with open("page.html") as f:
    PAGE = f.read()


@app.get("/")
def index(req):
    return "ok"


@app.get("/template-file")
def template_file(req):
    with open("page.html") as f:
        return f.read()


@app.get("/template-const")
def template_const(req):
    return PAGE


@app.post("/write")
def write(req):
    with open("/data/note", "wb") as f:
        f.write(req.body)
    return "ok"


app.run()
`;

const BODY = 'd'.repeat(100);

export interface FilesRun extends SectionRun {
  /** A scratch directory: the bundle, the volume and node:fs's file go there (one disk). */
  dir: string;
}

/** node:fs doing what a durable small write takes: open, write, fsync, close, for `seconds`. */
function nodeFsLoop(file: string, seconds: number): number {
  const data = Buffer.from(BODY);
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    const fd = openSync(file, 'w');
    writeSync(fd, data);
    fsyncSync(fd);
    closeSync(fd);
    n++;
  }
  return n / seconds;
}

export async function benchFiles(run: FilesRun): Promise<FilesResult> {
  const bundle = join(run.dir, 'files-bundle');
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, 'main.py'), MAIN);
  writeFileSync(join(bundle, 'page.html'), TEMPLATE);
  const lua = join(run.dir, 'files-write.lua');
  writeFileSync(lua, `wrk.method = "POST"\nwrk.body = "${BODY}"\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  const volume = join(run.dir, 'files-volume.img');
  const c: Contender = {
    ...run.pythongoose,
    command: (port, app) => {
      const cmd = run.pythongoose.command(port, app);
      return { ...cmd, args: [...cmd.args, '--data', volume] };
    },
  };
  const server = await start(c, await freePort(), run.serverCpu, bundle);
  const runs: FilesResult['runs'] = { templateFile: [], templateConst: [], durableWrites: [], nodeFsWrites: [] };
  try {
    const load = async (path: string, connections: number, script?: string): Promise<number> =>
      (await runWrk({ url: `http://${HOST}:${server.port}${path}`, connections, seconds: run.seconds, lua: script, cpu: run.wrkCpu })).rps;
    if (run.warmup) {
      await load('/template-file', 50);
      await load('/template-const', 50);
    }
    for (let i = 0; i < run.runs; i++) {
      // Alternate which goes first, as the main scenarios rotate contenders.
      const pair = i % 2 === 0 ? (['templateFile', 'templateConst'] as const) : (['templateConst', 'templateFile'] as const);
      for (const which of pair) {
        runs[which].push(await load(which === 'templateFile' ? '/template-file' : '/template-const', 50));
        await sleep(200);
      }
      runs.durableWrites.push(await load('/write', 1, lua));
      runs.nodeFsWrites.push(nodeFsLoop(join(run.dir, 'files-node-note'), run.seconds));
      console.log(
        `  run ${i + 1}/${run.runs}: template from /app ${runs.templateFile[i].toFixed(0)} req/s, in a constant ${runs.templateConst[i].toFixed(0)} req/s; ` +
          `durable writes ${runs.durableWrites[i].toFixed(0)}/s, node:fs write+fsync ${runs.nodeFsWrites[i].toFixed(0)}/s`,
      );
    }
  } finally {
    await stop(server);
  }
  return {
    templateFile: median(runs.templateFile),
    templateConst: median(runs.templateConst),
    durableWrites: median(runs.durableWrites),
    nodeFsWrites: median(runs.nodeFsWrites),
    runs,
  };
}
