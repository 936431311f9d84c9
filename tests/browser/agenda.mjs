// The agenda pages as two people use them, in Debian's Chromium (playwright-core), signed in
// through a real OpenID provider. Run by tests/web_browser.rs, which serves the pages, the
// provider and a control endpoint (hold the meeting: advance the clock and run a sync cycle).
// Exits non-zero on the first failed check; screenshots go to $ARTIFACTS.
import assert from 'node:assert/strict';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) { throw new Error(`${name} is not set`); }
  return v;
};
const PUBLIC_URL = env('PUBLIC_URL');
const PAIR_URL = env('PAIR_URL');
const PAIR_ID = env('PAIR_ID');
const ADMIN_URL = env('ADMIN_URL');
const CONTROL_URL = env('CONTROL_URL');
const HOLD_UNTIL = env('HOLD_UNTIL');
const MANAGER = env('MANAGER');
const REPORT = env('REPORT');
const ARTIFACTS = env('ARTIFACTS');
const THIRD = 'eve@x.org';

const TALKING_POINT = 'Roadmap worries <script>alert("xss")</script>';
const ACTION = '"><img src=x onerror=alert(1)> Draft the promo packet';
const ACTION_EDITED = `${ACTION} for the committee`;
const PRIVATE = 'Thinking about asking for a transfer';
const WAIT = { timeout: 15000 };

let step = 0;
const log = (msg) => console.log(`[${++step}] ${msg}`);
const shot = async (page, name) => {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`    screenshot ${file}`);
};
// What a phone shows: the screen at the top, and scrolled to each of `anchors`.
const phoneShots = async (page, name, anchors) => {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}-top.png`) });
  for (const a of anchors) {
    await page.locator(a).first().scrollIntoViewIfNeeded();
    await page.evaluate((sel) => document.querySelector(sel).scrollIntoView({ block: 'start' }), a);
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${a.replace(/[^a-z_]/g, '')}.png`) });
  }
  console.log(`    phone screenshots ${name}-*.png`);
};

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});

const dialogs = [];
const problems = [];
async function newPerson(options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => problems.push(`page error: ${e}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) {
      problems.push(`CSP violation: ${m.text()}`);
    }
  });
  return { context, page };
}

// Sign in through the provider's login and consent pages; ends on the pair's page (or wherever
// the agenda server sends the person).
async function signIn(page, email, url = PAIR_URL) {
  await page.goto(url);
  await page.waitForSelector('input[name="login"]', WAIT);
  await page.fill('input[name="login"]', email);
  await page.fill('input[name="password"]', 'not checked');
  await page.click('button[type="submit"]');
  await page.waitForURL((u) => u.href.startsWith(PUBLIC_URL) || u.pathname.includes('/interaction/'), WAIT);
  if (!page.url().startsWith(PUBLIC_URL)) {
    await page.click('button[type="submit"]'); // consent: Continue
    await page.waitForURL((u) => u.href.startsWith(PUBLIC_URL), WAIT);
  }
}

const itemLi = (page, text) => page.locator('li.item', { hasText: text });
const markNoReload = (page) => page.evaluate(() => { window.__stillTheSamePage = 42; });
const stillNoReload = async (page) => assert.equal(await page.evaluate(() => window.__stillTheSamePage), 42, 'the page was not reloaded');

async function submitAndWait(page, button) {
  await Promise.all([page.waitForNavigation(WAIT), button.click()]);
}

// ---- 1. The report signs in and adds a talking point and an action item --------------------
const report = await newPerson({ viewport: { width: 1100, height: 900 } });
const R = report.page;
await signIn(R, REPORT);
log(`report signed in; on ${new URL(R.url()).pathname}`);
assert.ok(R.url().startsWith(PAIR_URL), `back on the pair's page, not ${R.url()}`);
await R.locator('h1').first().waitFor(WAIT);
assert.match(await R.locator('.signedin').innerText(), /bob@x\.org/);
const session = (await report.context.cookies(PUBLIC_URL)).find((c) => c.name === 'oneonone_session');
assert.ok(session, 'a session cookie');
assert.equal(session.httpOnly, true, 'HttpOnly');
assert.equal(session.sameSite, 'Lax', 'SameSite=Lax');
assert.ok(session.expires > Date.now() / 1000 + 3600, 'with an expiry');
assert.equal(session.secure, false, 'not Secure on an http:// public_url (Secure on https)');
assert.match(session.value, /^[0-9a-f]{64}\.[0-9a-f]{64}$/, 'an id and its signature');

// ---- 2. The manager signs in on a phone, page open before the report writes ----------------
const manager = await newPerson({
  viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
});
const M = manager.page;
await signIn(M, MANAGER);
log('manager signed in (phone)');
await markNoReload(M);

await R.selectOption('#tp-section', 'report_topics');
await R.fill('#tp-text', TALKING_POINT);
await submitAndWait(R, R.locator('button', { hasText: 'Add talking point' }));
await R.fill('#ai-text', ACTION);
await R.fill('#ai-owner', REPORT);
await submitAndWait(R, R.locator('button', { hasText: 'Add action item' }));
await itemLi(R, 'Draft the promo packet').waitFor(WAIT);
log('report added a talking point and an action item');

// ---- 3. They appear on the manager's page without a reload ---------------------------------
await itemLi(M, 'Roadmap worries').waitFor(WAIT);
await itemLi(M, 'Draft the promo packet').waitFor(WAIT);
await stillNoReload(M);
log("the report's items appeared on the manager's page without a reload");

// User text is text: the <script> and the "><img onerror> show as typed, run nothing.
for (const page of [R, M]) {
  assert.equal(await itemLi(page, 'Roadmap worries').locator('.text').innerText(), TALKING_POINT);
  assert.equal(await itemLi(page, 'Draft the promo packet').locator('.text').innerText(), ACTION);
  assert.equal(await page.locator('img').count(), 0, 'no <img> element was injected');
  assert.equal(await page.evaluate(() => document.querySelectorAll('script:not([src])').length), 0, 'no inline script');
}
assert.deepEqual(dialogs, [], 'no script ran');
log('<script> and "><img onerror> render as text; nothing ran');
await shot(M, 'pair-page-manager-phone');
await phoneShots(M, 'phone', ['#action_items', '#goals', '#history']);

// ---- 4. The manager ticks one; the report sees it without a reload -------------------------
await markNoReload(R);
await submitAndWait(M, itemLi(M, 'Roadmap worries').locator('form.tick button'));
await M.locator('li.item.done', { hasText: 'Roadmap worries' }).waitFor(WAIT);
await R.locator('li.item.done', { hasText: 'Roadmap worries' }).waitFor(WAIT);
await stillNoReload(R);
log('the manager ticked the talking point; the report saw it without a reload');

// ---- 5. Both edit the action item at once: different fields merge -------------------------
const openEdit = async (page) => {
  const li = itemLi(page, 'Draft the promo packet');
  await li.locator('details.more > summary').click();
  return li.locator('form.edit');
};
const mForm = await openEdit(M);
const rForm = await openEdit(R);
await mForm.locator('textarea[name="text"]').fill(ACTION_EDITED);
await rForm.locator('input[name="owner"]').fill(MANAGER);
await rForm.locator('input[name="due"]').fill('2026-11-20');
await submitAndWait(M, mForm.locator('button', { hasText: 'Save' }));
await submitAndWait(R, rForm.locator('button', { hasText: 'Save' }));
for (const page of [M, R]) {
  await page.reload();
  const li = itemLi(page, 'for the committee');
  await li.waitFor(WAIT);
  assert.equal(await li.locator('.text').innerText(), ACTION_EDITED, "the manager's text survived");
  assert.match(await li.locator('.owner').innerText(), /ann@x\.org/, "the report's owner survived");
  assert.match(await li.locator('.due').innerText(), /20 Nov 2026/, "the report's due date survived");
}
log('concurrent edits of different fields both survived');

// Both change the text: the second save is refused with both versions shown, nothing lost.
const mForm2 = await openEdit(M);
const rForm2 = await openEdit(R);
await mForm2.locator('textarea[name="text"]').fill(`${ACTION_EDITED} (manager's words)`);
await rForm2.locator('textarea[name="text"]').fill(`${ACTION_EDITED} (report's words)`);
await submitAndWait(M, mForm2.locator('button', { hasText: 'Save' }));
const conflict = await Promise.all([R.waitForNavigation(WAIT), rForm2.locator('button', { hasText: 'Save' }).click()]);
assert.equal(conflict[0].status(), 409, 'the stale edit is refused');
const page409 = await R.locator('main').innerText();
assert.ok(page409.includes("(manager's words)") && page409.includes("(report's words)"), 'both versions are shown');
await shot(R, 'conflict-page');
await submitAndWait(R, R.locator('a', { hasText: 'Go back without saving' }));
assert.ok((await itemLi(R, 'for the committee').locator('.text').innerText()).endsWith("(manager's words)"));
// Put the text back for what follows (a plain edit, now at the current version).
await M.reload();
const mForm3 = await openEdit(M);
await mForm3.locator('textarea[name="text"]').fill(ACTION_EDITED);
await submitAndWait(M, mForm3.locator('button', { hasText: 'Save' }));
log('a real conflict was refused with both texts shown; the stored text was kept');

// ---- 6. A private note of the report: nobody else sees it, anywhere ------------------------
await R.goto(PAIR_URL);
await R.fill('#private-text', PRIVATE);
await submitAndWait(R, R.locator('button', { hasText: 'Save private note' }));
assert.equal(await R.locator('#private-text').inputValue(), PRIVATE);
await M.goto(PAIR_URL);
assert.ok(!(await M.content()).includes('transfer'), "not on the manager's pair page");
const docUrl = await M.locator('p.doclink a').first().getAttribute('href');
await M.goto(new URL(docUrl, PUBLIC_URL).href);
assert.ok(!(await M.content()).includes('transfer'), "not on the manager's doc page");
const mExport = await manager.context.request.get(`${PAIR_URL}/export.md`);
assert.equal(mExport.status(), 200);
assert.ok(!(await mExport.text()).includes('transfer'), "not in the manager's export");
const rExport = await report.context.request.get(`${PAIR_URL}/export.md`);
assert.ok((await rExport.text()).includes(PRIVATE), "in the report's own export");
const api = await manager.context.request.get(`${new URL(docUrl, PUBLIC_URL).href}/api/items`);
assert.equal(api.status(), 200);
assert.ok(!(await api.text()).includes('transfer'), 'not in the JSON API');
for (const p of ['/', '/api/status', '/api/meetings', `/api/agenda/export?pair=${encodeURIComponent(PAIR_ID)}`]) {
  const r = await fetch(`${ADMIN_URL}${p}`);
  assert.equal(r.status, 200, `admin ${p}`);
  assert.ok(!(await r.text()).includes('transfer'), `not in the admin listener's ${p}`);
}
assert.ok(!(await (await fetch(`${CONTROL_URL}/invite`)).text()).includes('transfer'), 'not in the invite');
log("the report's private note is on no page, export, API or invite of anyone else");

// ---- 7. Hold the meeting: the open action item carries into the next doc and the invite -----
const held = await (await fetch(`${CONTROL_URL}/advance`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: HOLD_UNTIL }),
})).json();
assert.match(held.report, /failed=0/, held.report);
const nextEvent = held.invite.split('BEGIN:VEVENT').find((e) => e.includes(`RECURRENCE-ID:${env('NEXT_OCCURRENCE')}`));
assert.ok(nextEvent, `the next occurrence has its own event: ${held.invite}`);
const block = nextEvent.split('-- oneonone agenda --')[1];
assert.ok(block && block.includes('Agenda for this 1:1'), `the next occurrence has its block: ${nextEvent}`);
assert.ok(block.includes(`[action] ${ACTION_EDITED} (owner: ann@x.org)`), `carried in the invite: ${block}`);
assert.ok(!block.includes('Roadmap worries'), 'the ticked item is not carried');
await R.goto(PAIR_URL);
assert.match(await R.locator('header.doc .when').innerText(), /Monday 16 November 2026/);
const carried = itemLi(R, 'for the committee');
assert.match(await carried.locator('.carried').innerText(), /carried over from Mon 9 Nov 2026 · carried 1×/);
const past = R.locator('article.past', { hasText: 'Mon 9 Nov 2026' });
assert.match(await past.innerText(), /Roadmap worries/);
assert.equal(await past.locator('li.item.done', { hasText: 'Roadmap worries' }).count(), 1);
log('after the meeting: the open action item is carried into the next doc and its invite');
await shot(R, 'pair-page-after-meeting');
await R.goto(new URL(await past.locator('p.doclink a').getAttribute('href'), PUBLIC_URL).href);
await R.locator('h1').first().waitFor(WAIT);
await shot(R, 'doc-page-held-meeting');

// ---- 8. A third person, signed in, is refused ---------------------------------------------
const third = await newPerson();
await signIn(third.page, THIRD);
const refused = await third.page.goto(PAIR_URL);
assert.equal(refused.status(), 403);
assert.match(await third.page.locator('main').innerText(), /not yours/i);
assert.ok(!(await third.page.content()).includes('promo packet'));
await shot(third.page, 'third-person-refused');
log('a third person, signed in, is refused');

// ---- 9. Without JavaScript every basic operation still works ------------------------------
const nojs = await newPerson({ javaScriptEnabled: false });
await signIn(nojs.page, REPORT);
const N = nojs.page;
await N.fill('#tp-text', 'Added without JavaScript');
await submitAndWait(N, N.locator('button', { hasText: 'Add talking point' }));
await submitAndWait(N, itemLi(N, 'Added without JavaScript').locator('form.tick button'));
assert.equal(await N.locator('li.item.done', { hasText: 'Added without JavaScript' }).count(), 1);
await submitAndWait(N, itemLi(N, 'Added without JavaScript').locator('form.tick button'));
assert.equal(await N.locator('li.item.done', { hasText: 'Added without JavaScript' }).count(), 0, 'reopened');
await itemLi(N, 'Added without JavaScript').locator('details.more > summary').click();
await submitAndWait(N, itemLi(N, 'Added without JavaScript').locator('button', { hasText: 'Defer to next 1:1' }));
assert.equal(await N.locator('li.item.deferred', { hasText: 'Added without JavaScript' }).count(), 1, 'deferred');
log('without JavaScript: add, tick, reopen and defer work (forms post and come back)');

// ---- 10. Keyboard only: reach the talking point field, type, submit -----------------------
await R.goto(PAIR_URL);
let found = false;
for (let i = 0; i < 200 && !found; i++) {
  await R.keyboard.press('Tab');
  found = await R.evaluate(() => document.activeElement && document.activeElement.id === 'tp-text');
}
assert.ok(found, 'the talking point field is reachable with Tab');
await R.keyboard.type('Typed with the keyboard only');
let onButton = false;
for (let i = 0; i < 10 && !onButton; i++) {
  await R.keyboard.press('Tab');
  onButton = await R.evaluate(() => document.activeElement && document.activeElement.textContent === 'Add talking point');
}
assert.ok(onButton, 'the submit button is reachable with Tab');
await Promise.all([R.waitForNavigation(WAIT), R.keyboard.press('Enter')]);
await itemLi(R, 'Typed with the keyboard only').waitFor(WAIT);
log('keyboard only: added a talking point');

// ---- 11. Dark mode on a phone ---------------------------------------------------------------
const dark = await newPerson({
  viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark',
});
await signIn(dark.page, MANAGER);
const bg = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
assert.notEqual(bg, 'rgb(246, 247, 249)', 'dark mode changes the background');
await shot(dark.page, 'pair-page-manager-phone-dark');
await phoneShots(dark.page, 'phone-dark', ['#action_items', '#history']);
log(`dark mode on a phone (background ${bg})`);

assert.deepEqual(dialogs, [], 'no script ran at any point');
assert.deepEqual(problems, [], 'no page errors or CSP violations');
await browser.close();
console.log('all browser checks passed');
