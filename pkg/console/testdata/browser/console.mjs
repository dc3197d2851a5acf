// Drives Debian's chromium through the console on a local stack that
// pkg/console/browser_test.go started and seeded. Every step checks what a
// person would see; any failure exits non-zero with the step's name.
//
// Environment: LINK (a one-time console link), API (the stack's /v1 URL),
// SHOTS (where screenshots go), CHROMIUM (the browser binary), KEY (the
// workspace's test key, for what a client outside the browser does).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const { LINK, API, SHOTS, CHROMIUM, KEY } = process.env;
if (!LINK || !API || !SHOTS || !KEY) throw new Error('LINK, API, SHOTS and KEY are required');
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: CHROMIUM || '/usr/bin/chromium',
  // playwright-core adds --headless and a fresh --user-data-dir itself.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const timeout = 30_000;
let step = 'start';
const problems = [];

async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${path}`);
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

// The API as a client outside the browser sees it.
async function apiStatus(key, path) {
  const r = await fetch(API + path, { headers: { Authorization: `Bearer ${key}` } });
  return r.status;
}

async function apiGet(key, path) {
  const r = await fetch(API + path, { headers: { Authorization: `Bearer ${key}` } });
  expect(r.status === 200, `GET ${path}: ${r.status}`);
  return r.json();
}

async function newPage(width, height) {
  const ctx = await browser.newContext({ viewport: { width, height } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(timeout);
  // The strict CSP must never block anything the console itself needs.
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource.*40[14]/.test(m.text())) problems.push(`console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { ctx, page };
}

try {
  // 1. Sign in with the one-time link and see the keys.
  step = 'sign in with the link';
  const { ctx, page } = await newPage(1280, 900);
  await page.goto(LINK);
  await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
  expect(!page.url().includes('signin='), 'the link token stays in the address bar');
  const primary = page.getByRole('row').filter({ hasText: 'Primary key' });
  await primary.waitFor();
  expect(/fg_test_\w{4}…\w{4}/.test(await primary.innerText()), 'the primary key row shows no preview');
  await shot(page, 'keys');

  // 2. Create a key and read it once.
  step = 'create a key';
  await page.getByRole('button', { name: 'Create key' }).click();
  const create = page.getByRole('dialog', { name: 'Create an API key' });
  await create.getByLabel('Name').fill('browser-test');
  await create.getByLabel('Role').selectOption('render');
  await create.getByRole('button', { name: 'Create key' }).click();
  const shown = page.getByRole('dialog', { name: 'Your new API key' });
  const key = await shown.locator('input').inputValue();
  expect(/^fg_test_[0-9A-Za-z]{36}$/.test(key), `the dialog shows ${key}, not a key`);
  await shown.getByRole('button', { name: 'Copy' }).click();
  await shown.getByText(/Copied|Selected/).waitFor();
  await shot(page, 'key-created');
  await shown.getByRole('button', { name: 'Done' }).click();
  const row = page.getByRole('row').filter({ hasText: 'browser-test' });
  await row.waitFor();
  expect((await row.innerText()).includes(`${key.slice(0, 12)}…${key.slice(-4)}`), 'the new row shows no preview of the key');
  expect(!(await page.content()).includes(key), 'the key is still in the page after the dialog closed');
  // Its one admitted request, which the usage page counts below.
  const keyId = (await apiGet(key, '/auth')).key.id;

  // 3. Revoke it and see it fail in the API.
  step = 'revoke the key';
  await row.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
  await page.getByText('Revoked key browser-test').waitFor();
  expect(await apiStatus(key, '/auth') === 401, 'the revoked key still works in the API');

  // 4. Keyboard: reach "Create key" with Tab, open it with Enter, leave with Escape.
  step = 'keyboard';
  await page.locator('body').click({ position: { x: 5, y: 400 } });
  let reached = false;
  for (let i = 0; i < 25 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement && document.activeElement.textContent === 'Create key');
  }
  expect(reached, 'Tab never reaches "Create key"');
  await page.keyboard.press('Enter');
  await page.getByRole('dialog', { name: 'Create an API key' }).waitFor();
  expect(await page.evaluate(() => document.activeElement.id) === 'key-name', 'the dialog does not take the focus');
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });

  // 5. Watch a render finish, and play it: a client starts one, the page
  // follows it without being reloaded.
  step = 'watch a render finish';
  const created = await fetch(`${API}/videos`, {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ spec: { resolution: 'sd', scenes: [{ duration: 2, background: { color: '#1f3a8a' }, elements: [{ type: 'text', text: 'framegate console', fontSize: 40 }] }] } }),
  });
  expect(created.status === 202, `POST /videos answered ${created.status}`);
  const vid = (await created.json()).id;
  await page.getByRole('link', { name: 'Renders' }).click();
  const badge = page.locator(`[data-video-status="${vid}"]`);
  const before = await badge.innerText();
  expect(before === 'queued' || before === 'rendering', `the render was ${before} when the page opened`);
  await page.locator(`[data-video-status="${vid}"]`, { hasText: 'succeeded' }).waitFor({ timeout: 90_000 });
  console.log(`render ${vid}: ${before} → succeeded without reloading`);
  await shot(page, 'renders');
  step = 'play the render';
  await page.getByRole('row').filter({ hasText: vid }).getByRole('button', { name: 'Play' }).click();
  const video = page.locator('video');
  try {
    await video.waitFor();
  } catch (e) {
    console.error(await page.locator('#status').innerText(), await page.locator('section.player').evaluate((p) => p.outerHTML));
    throw e;
  }
  const played = await video.evaluate(async (v) => {
    v.muted = true;
    await v.play();
    await new Promise((r) => setTimeout(r, 700));
    return { t: v.currentTime, d: v.duration, w: v.videoWidth, err: v.error && v.error.code };
  });
  expect(played.t > 0 && played.w > 0 && !played.err, `the video did not play: ${JSON.stringify(played)}`);
  console.log(`played ${played.t.toFixed(2)} s of ${played.d} s (${played.w} px wide)`);
  await video.evaluate((v) => v.pause());
  await shot(page, 'render-player');

  // 6. Webhooks: send a test event, see its delivery and attempts, redeliver it.
  step = 'webhooks';
  await page.getByRole('link', { name: 'Webhooks' }).click();
  const endpoint = page.getByRole('row').filter({ hasText: '127.0.0.1' });
  await endpoint.getByRole('button', { name: 'Send test' }).click();
  await page.getByText(/Sent a webhook.test event/).waitFor();
  await endpoint.getByRole('button', { name: 'Deliveries' }).click();
  const log = page.locator('section.deliveries');
  const testRow = log.getByRole('row').filter({ hasText: 'webhook.test' }).filter({ hasText: 'succeeded' });
  for (let i = 0; i < 40 && await testRow.count() === 0; i++) {
    await page.waitForTimeout(500);
    await log.getByRole('button', { name: 'Refresh' }).click();
  }
  await testRow.first().waitFor();
  step = 'redeliver';
  await testRow.first().getByRole('button', { name: 'Redeliver' }).click();
  await page.getByText(/Redelivery of webhook.test/).waitFor();
  const twice = log.getByRole('row').filter({ hasText: 'webhook.test' }).filter({ hasText: '2 attempts' });
  for (let i = 0; i < 40 && await twice.count() === 0; i++) {
    await page.waitForTimeout(500);
    await log.getByRole('button', { name: 'Refresh' }).click();
  }
  await twice.filter({ hasText: '(redelivered)' }).first().waitFor({ state: 'attached' });
  await page.waitForTimeout(1600); // the log's own refresh after the redelivery
  await twice.first().locator('summary').click();
  await twice.first().getByText('(redelivered)').waitFor();
  await shot(page, 'webhooks');

  // 7. Usage and the audit log, with what the steps above did.
  step = 'usage';
  await page.getByRole('link', { name: 'Usage' }).click();
  await page.getByRole('heading', { name: 'Requests by outcome' }).waitFor();
  const used = page.getByRole('row').filter({ hasText: keyId });
  await used.waitFor();
  const admitted = await used.locator('td[data-label="Admitted"]').innerText();
  expect(admitted === '1', `usage shows ${admitted} admitted requests for the revoked key, want its 1`);
  expect((await used.locator('td[data-label="Last used"]').innerText()) !== 'never', 'usage shows no last use for the key');
  expect(await page.locator('svg.chart').count() >= 1, 'usage draws no chart');
  await shot(page, 'usage');
  step = 'audit log';
  await page.getByRole('link', { name: 'Audit log' }).click();
  const revoked = page.getByRole('row').filter({ hasText: 'key.revoked' }).filter({ hasText: keyId });
  await revoked.waitFor();
  await page.getByRole('row').filter({ hasText: 'key.created' }).filter({ hasText: keyId }).waitFor();
  await page.getByRole('row').filter({ hasText: 'webhook_endpoint.created' }).first().waitFor();
  await page.getByLabel('Action').fill('key.revoked');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('row').filter({ hasText: 'key.created' }).waitFor({ state: 'detached' });
  expect(await revoked.count() === 1, 'the filtered audit log lost the revocation');
  await shot(page, 'audit');

  // 8. The other environment needs its own sign-in.
  step = 'switch environment';
  await page.getByRole('button', { name: 'Live' }).click();
  await page.getByRole('heading', { name: 'Not signed in to the live environment' }).waitFor();
  await shot(page, 'live-not-signed-in');
  await page.getByRole('button', { name: 'Test' }).click();
  await page.getByRole('heading', { level: 1 }).filter({ hasText: 'Audit log' }).waitFor();

  // 9. 375 px wide: nothing wider than the screen.
  step = 'narrow screen';
  const phone = await newPage(375, 740);
  await phone.ctx.addCookies(await ctx.cookies());
  await phone.page.goto(API + '/console#/keys');
  await phone.page.locator('tr').filter({ hasText: 'Primary key' }).waitFor();
  await shot(phone.page, 'keys-375px');
  const overflow = await phone.page.evaluate(() => document.documentElement.scrollWidth);
  expect(overflow <= 375, `the page is ${overflow} px wide at 375 px`);
  await phone.page.getByRole('link', { name: 'Renders' }).click();
  await phone.page.locator('[data-video-status]').first().waitFor();
  await shot(phone.page, 'renders-375px');
  expect(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 375, 'renders are wider than 375 px');
  await phone.ctx.close();

  // 10. The same link again, in a fresh browser: no workspace data.
  step = 'the link a second time';
  const again = await newPage(1280, 900);
  await again.page.goto(LINK);
  await again.page.getByRole('heading', { name: 'This link does not work' }).waitFor();
  const text = await again.page.locator('body').innerText();
  expect(!/ws_|key_|Primary key|fg_test_/.test(text), `the page shows workspace data: ${text}`);
  expect(await again.page.locator('table').count() === 0, 'the page shows a table');
  const status = await again.page.evaluate(async (api) => (await fetch(`${api}/keys`, { headers: { 'X-Framegate-Console': 'test' } })).status, API);
  expect(status === 401, `the API answers ${status} to that browser`);
  await shot(again.page, 'link-used-again');
  // And in the browser that used it: the link still shows nothing.
  await page.goto(LINK);
  await page.getByRole('heading', { name: 'This link does not work' }).waitFor();
  expect(!/Primary key|browser-test/.test(await page.locator('body').innerText()), 'the used link shows data in the signed-in browser');
  await again.ctx.close();

  // 11. Sign out.
  step = 'sign out';
  await page.goto(API + '/console');
  await page.getByRole('row').filter({ hasText: 'Primary key' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Not signed in to the test environment' }).waitFor();
  expect((await ctx.cookies()).every((c) => c.name !== 'fg_console_test'), 'the cookie outlived the sign-out');

  expect(problems.length === 0, problems.join('\n'));
  console.log('console: all steps passed');
} catch (e) {
  console.error(`console: step "${step}" failed: ${e.message}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}
