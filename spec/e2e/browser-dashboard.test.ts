// A real browser against the dashboard example: headless Chromium (Debian's
// chromium, driven by playwright-core) loads the static page, signs in to the
// Basic-auth API, and watches the WebSocket reading change.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { ROOT, startServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = process.env.PYTHONGOOSE_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = `${ROOT}test-artifacts`;

const browser = suite<{ srv: TestServer; browser: Browser }>('dashboard in Chromium');

browser.before(async (ctx) => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  ctx.srv = await startServer({
    app: `${ROOT}examples/dashboard/app.py`,
    staticDir: `${ROOT}examples/dashboard/public`,
    accessLog: false,
  });
  // --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start.
  ctx.browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

browser.after(async (ctx) => {
  await ctx.browser?.close();
  await ctx.srv?.handle.close();
});

browser('the page loads, signs in, sees live readings change, and renames the device', async (ctx) => {
  const page = await ctx.browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(ctx.srv.handle.url);
  await page.waitForFunction(() => document.getElementById('link')?.textContent === 'live', null, { timeout: 10000 });

  // Wrong password: the API's 401 reaches the page as an error message.
  await page.fill('#user', 'admin');
  await page.fill('#password', 'nope');
  await page.click('#login button');
  await page.waitForFunction(() => document.getElementById('error')?.textContent === 'wrong user or password');

  await page.fill('#password', 'admin');
  await page.click('#login button');
  await page.waitForSelector('#device:not([hidden])', { timeout: 10000 });
  assert.is(await page.textContent('#device-label'), 'Boiler room');
  assert.ok(Number(await page.textContent('#device-clients')) >= 1, 'the page is a live client');

  // Two different sequence numbers: the timer pushes over the WebSocket.
  await page.waitForFunction(() => /^\d+$/.test(document.getElementById('seq')?.textContent ?? ''), null, { timeout: 10000 });
  const first = await page.textContent('#seq');
  await page.waitForFunction((s) => document.getElementById('seq')?.textContent !== s, first, { timeout: 10000 });
  const temperature = Number(await page.textContent('#temperature'));
  assert.ok(temperature > 10 && temperature < 30, `temperature ${temperature}`);

  // A rename goes through the API and comes back to every page by broadcast.
  await page.fill('#new-label', 'Lab 2');
  await page.click('#config button');
  await page.waitForFunction(() => document.getElementById('label')?.textContent === 'Lab 2', null, { timeout: 10000 });

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}/dashboard.png`, fullPage: true });
  assert.ok(existsSync(`${ARTIFACTS}/dashboard.png`));
  assert.equal(errors, []);
});

browser.run();
