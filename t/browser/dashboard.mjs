// Drives cuttle's dashboard in the system chromium, headless, for
// t/86-dashboard-browser.t, which started cuttle and talks to this
// script over stdin and stdout, one line each way:
//
//   node dashboard.mjs URL TOKEN SERVER SCREENSHOT
//
// It prints "STEP name" as each step is done and "WAIT name" when the
// Perl side must act (open a client, reload cuttle), and reads "GO" back.  Any failure
// prints "FAIL why" and exits 1.
import { chromium } from 'playwright-core';
import readline from 'node:readline';

const [url, token, server, shot] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const T = 10000;

function step(name) {
  console.log(`STEP ${name}`);
}

async function ask(name) {
  console.log(`WAIT ${name}`);
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'GO') throw new Error(`the test said ${value} to ${name}`);
}

const args = ['--headless=new', '--disable-gpu', '--disable-dev-shm-usage'];
// Chromium's sandbox needs user namespaces it cannot have as root.
if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args,
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The 401s of the probe before the login and of the wrong token are expected.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text());
  });
  let reloads = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) reloads++; });

  await page.goto(url);
  await page.waitForSelector('#login:not(.hidden)', { timeout: T });
  step('login form');
  await page.fill('#token', 'not-the-token');
  await page.click('#login-form button[type=submit]');
  // Selectors, not waitForFunction: the page's CSP forbids the eval that needs.
  await page.locator('#login-error', { hasText: 'Wrong token' }).waitFor({ timeout: T });
  step('wrong token refused');
  await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#app:not(.hidden)', { timeout: T });
  await page.waitForSelector('#live.on', { timeout: T });
  step('logged in, events live');
  const cookies = await page.context().cookies();
  const sess = cookies.find((c) => c.name === 'cuttle_session');
  if (!sess || !sess.httpOnly || sess.sameSite !== 'Strict') {
    throw new Error(`session cookie: ${JSON.stringify(sess)}`);
  }
  if (await page.evaluate(() => document.cookie.includes('cuttle_session'))) {
    throw new Error('the script can read the session cookie');
  }
  step('cookie HttpOnly SameSite=Strict');
  await page.waitForSelector(`#servers tr[data-server="${server}"]`, { timeout: T });

  // A client appears while the page is open; the page is not reloaded.
  const before = reloads;
  await ask('client');
  const row = '#pending tbody tr';
  await page.waitForSelector(row, { timeout: T });
  const client = await page.getAttribute(row, 'data-client');
  step(`pending ${client}`);
  await page.screenshot({ path: shot, fullPage: true });
  await page.click(`${row} button.approve`);
  await page.waitForSelector('#pending tbody tr', { state: 'detached', timeout: T });
  await page.waitForSelector(`#decisions tr[data-address="${client.replace(/:\d+$/, '')}"]`,
    { timeout: T });
  step('approved');
  await ask('echo');

  // A SOCKS client held at its destination: approved for that destination only.
  await ask('socks');
  await page.waitForSelector(`${row} select.dest`, { timeout: T });
  const wants = (await page.textContent(`${row} td[data-label=wants]`)) || '';
  step(`pending socks ${wants.replace(/^→ /, '')}`);
  await page.click(`${row} button.approve`);
  await page.waitForSelector('#pending tbody tr', { state: 'detached', timeout: T });
  const dest = wants.replace(/^→ /, '');
  await page.locator('#decisions tr', { hasText: dest }).waitFor({ timeout: T });
  step('approved for the destination');
  await ask('socks reply');

  // The approved client's connection, now open, listed and killed.
  const conn = `#connections tr[data-client="${client}"]`;
  await page.waitForSelector(conn, { timeout: T });
  const id = await page.getAttribute(conn, 'data-id');
  step(`connection ${id} listed`);

  await page.click(`#servers tr[data-server="${server}"] button[data-action=disable]`);
  await page.waitForSelector(`#servers tr[data-server="${server}"] td.st-disabled`,
    { timeout: T });
  step('server disabled');

  await page.click(`${conn} button.kill`);
  await page.waitForSelector(conn, { state: 'detached', timeout: T });
  step(`connection ${id} killed`);
  if (reloads !== before) throw new Error(`the page was reloaded ${reloads - before} times`);
  if (errors.length) throw new Error(`errors in the page: ${errors.join('; ')}`);

  // A phone-sized screen: the tables become blocks, nothing wider than it.
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > 390) throw new Error(`at 390 px wide the page is ${wide} px wide`);
  step('phone width');

  // A reload of cuttle ends every session: the page's next request is a
  // 401, and the login comes back saying why.
  await ask('reload');
  await page.locator('#login-error', { hasText: 'session has ended' }).waitFor({ timeout: T });
  step('session ended, login shown');
  await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#app:not(.hidden)', { timeout: T });
  step('logged in again');

  await page.click('#logout');
  await page.waitForSelector('#login:not(.hidden)', { timeout: T });
  const st = await page.evaluate(async () => (await fetch('/api/v1/status')).status);
  if (st !== 401) throw new Error(`after logout the API answers ${st}`);
  step('logged out');
} catch (e) {
  console.log(`FAIL ${e.message.split('\n')[0]}`);
  failed = true;
} finally {
  await browser.close();
}
console.log(failed ? 'END fail' : 'END ok');
process.exit(failed ? 1 : 0);
