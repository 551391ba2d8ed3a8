// The seed's HTTP API, end to end over real sockets through the wasm guest.
import * as assert from 'uvu/assert';
import { SEED_LOGIN, appPath, request, settled, serverSuite, sleep } from '../helpers/server.js';

const seed = serverSuite('seed app');

seed('GET / is 200 with an HTML page that says OK', async ({ srv }) => {
  const r = await request(srv.port, '/');
  assert.is(r.status, 200);
  assert.match(String(r.headers['content-type']), /text\/html/);
  assert.match(r.body.toString(), /OK/);
});

seed('any other non-API path is the OK page too', async ({ srv }) => {
  const r = await request(srv.port, '/some/where?x=1');
  assert.is(r.status, 200);
  assert.match(r.body.toString(), /OK/);
});

seed('/api/epname without credentials is 401 with a Basic challenge', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname');
  assert.is(r.status, 401);
  assert.match(String(r.headers['www-authenticate']), /^Basic realm=/);
  assert.is(r.body.toString().trim(), 'Auth required');
});

seed('wrong credentials are 401', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname', { auth: 'admin:wrong' });
  assert.is(r.status, 401);
});

seed('right credentials get what api_cb returned, as text/plain', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN });
  assert.is(r.status, 200);
  assert.match(String(r.headers['content-type']), /text\/plain/);
  assert.is(r.body.toString(), 'epname: pythongoose');
});

seed('api_cb gets the body as str; print() goes to the server stdout', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: 'r u there ?' });
  assert.is(r.status, 200);
  await sleep(50);
  assert.ok(srv.stdout.join('').includes('f1 r u there ?\n'), `stdout was ${JSON.stringify(srv.stdout.join(''))}`);
});

seed('other /api/ paths are 404 once authorised, 401 before', async ({ srv }) => {
  assert.is((await request(srv.port, '/api/other', { auth: SEED_LOGIN })).status, 404);
  assert.is((await request(srv.port, '/api/other')).status, 401);
});

seed('nothing is left behind', async ({ srv }) => {
  assert.is(await settled(srv), 0);
});

seed.run();

const echo = serverSuite('echo app: credentials, bodies, errors', { app: appPath('echo.py') });

for (const [user, pwd] of [
  ['we ird', 'p:a:ss w'],
  ['ünï', 'pässwörd✓'],
  ['long', 'y'.repeat(3000)],
]) {
  echo(`credentials reach auth_cb intact: ${JSON.stringify(user)} / ${pwd.length} chars`, async ({ srv }) => {
    const r = await request(srv.port, '/api/epname', { auth: `${user}:${pwd}`, body: 'whoami' });
    assert.is(r.status, 200);
    assert.is(r.body.toString('utf8'), `${user}\n${pwd}`);
  });
}

echo('a lowercase "basic" scheme is accepted', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname', {
    headers: { authorization: `basic ${Buffer.from(SEED_LOGIN).toString('base64')}` },
    body: 'ping',
  });
  assert.is(r.status, 200);
  assert.is(r.body.toString(), 'ping');
});

echo('credentials that are not UTF-8 reach auth_cb as bytes', async ({ srv }) => {
  const login = Buffer.concat([Buffer.from('raw:'), Buffer.from([0xff, 0x41])]);
  const r = await request(srv.port, '/api/epname', { headers: { authorization: `Basic ${login.toString('base64')}` }, body: 'ping' });
  assert.is(r.status, 200); // auth_cb admits "raw" only with the password b"\xffA"
});

echo('blanks around the Basic token are allowed', async ({ srv }) => {
  const token = Buffer.from(SEED_LOGIN).toString('base64');
  const r = await request(srv.port, '/api/epname', { headers: { authorization: `Basic  \t${token} ` }, body: 'ping' });
  assert.is(r.status, 200);
});

echo('malformed Basic credentials are 401, not a crash', async ({ srv }) => {
  const unpadded = Buffer.from('admin:istrator').toString('base64').replace(/=+$/, '');
  for (const value of ['Basic', 'Basic ', 'Basic !!!!', 'Basic ====', `Basic ${unpadded}`, `Basic ${Buffer.from('nocolon').toString('base64')}`, 'Bearer abc']) {
    const r = await request(srv.port, '/api/epname', { headers: { authorization: value } });
    assert.is(r.status, 401, value);
  }
});

echo('a body that is not UTF-8 reaches api_cb as bytes, intact', async ({ srv }) => {
  const body = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x80]);
  const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body });
  assert.is(r.status, 200);
  assert.equal(r.body, Buffer.concat([Buffer.from('bytes:'), body]));
});

echo('strings built at run time compare and key dicts alike, short or long', async ({ srv }) => {
  for (const n of [3, 254, 255, 256, 4000]) {
    const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: `strings:${n}` });
    assert.is(r.body.toString(), `ok ${n + 1}`, `length ${n + 1}`);
  }
});

echo('an exception in api_cb is a 500, the traceback goes to stderr, serving goes on', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: 'raise' });
  assert.is(r.status, 500);
  await sleep(50);
  const err = srv.stderr.join('');
  assert.match(err, /Traceback/);
  assert.match(err, /ValueError: handler failed on purpose/);
  const again = await request(srv.port, '/api/epname', { auth: SEED_LOGIN, body: 'still here' });
  assert.is(again.status, 200);
  assert.is(again.body.toString(), 'still here');
});

echo('an exception in auth_cb denies (401) and is logged', async ({ srv }) => {
  const r = await request(srv.port, '/api/epname', { auth: 'boom:x' });
  assert.is(r.status, 401);
  await sleep(50);
  assert.match(srv.stderr.join(''), /RuntimeError: auth exploded/);
});

echo('nothing is left behind', async ({ srv }) => {
  assert.is(await settled(srv), 0);
});

echo.run();
