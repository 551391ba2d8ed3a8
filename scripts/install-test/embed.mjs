// Embeds the installed package (Node, Deno or Bun): serve an inline app,
// check real responses, close. Exits non-zero on any mismatch.
import { serve } from 'pythongoose';

const source = `
from mongoose import App
app = App()

@app.get('/hello/<name>')
def hello(request, name):
    return {'hello': name, 'method': request.method}

app.run()
`;

const runtime = globalThis.Deno ? `deno ${Deno.version.deno}` : globalThis.Bun ? `bun ${Bun.version}` : `node ${process.versions.node}`;
const server = await serve({ source, app: 'embed.py', port: 0, accessLog: false });
try {
  const r = await fetch(`${server.url}/hello/world`);
  const body = await r.json();
  if (r.status !== 200 || body.hello !== 'world' || body.method !== 'GET') throw new Error(`unexpected ${r.status} ${JSON.stringify(body)}`);
  const h = await fetch(`${server.url}/healthz`);
  if (h.status !== 200) throw new Error(`health ${h.status}`);
  const missing = await fetch(`${server.url}/nope`);
  await missing.text();
  if (missing.status !== 404) throw new Error(`404 expected, got ${missing.status}`);
  console.log(`install-test: embedding API under ${runtime}: ok`);
} finally {
  await server.close();
}
process.exit(0);
