// The 1:1 health dashboard in Debian's Chromium (playwright-core), signed in through a real
// OpenID provider. Run by tests/dashboard_browser.rs, which serves the dashboard over a store
// where ann~bob's last five 1:1s were held, held, cancelled, declined, cancelled.
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
const MANAGER = env('MANAGER');
const ADMIN = env('ADMIN');
const STREAK_PAIR = env('STREAK_PAIR');
const HEALTHY_PAIR = env('HEALTHY_PAIR');
const OTHER_MANAGER = env('OTHER_MANAGER');
const ARTIFACTS = env('ARTIFACTS');
const DASHBOARD = `${PUBLIC_URL}/dashboard`;
const WAIT = { timeout: 15000 };

let step = 0;
const log = (msg) => console.log(`[${++step}] ${msg}`);
const shot = async (page, name) => {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`    screenshot ${file}`);
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

// Open the dashboard, get sent to sign-in, sign in (login and consent), come back.
async function signIn(page, email) {
  await page.goto(DASHBOARD);
  await page.waitForSelector('input[name="login"]', WAIT);
  await page.fill('input[name="login"]', email);
  await page.fill('input[name="password"]', 'not checked');
  await page.click('button[type="submit"]');
  await page.waitForURL((u) => u.href.startsWith(PUBLIC_URL) || u.pathname.includes('/interaction/'), WAIT);
  if (!page.url().startsWith(PUBLIC_URL)) {
    await page.click('button[type="submit"]'); // consent: Continue
    await page.waitForURL((u) => u.href.startsWith(PUBLIC_URL), WAIT);
  }
  await page.locator('h1', { hasText: '1:1 health' }).waitFor(WAIT);
}

const card = (page, pair) => page.locator(`section.dash[data-pair="${pair}"]`);
const shownPairs = (page) => page.locator('section.dash').evaluateAll((s) => s.map((e) => e.dataset.pair));
const marks = (page, pair) => card(page, pair).locator('svg.timeline g.mark').evaluateAll((gs) => gs.map((g) => ({
  state: g.dataset.state,
  title: g.querySelector('title')?.textContent ?? '',
  shape: g.querySelector('.shape')?.tagName ?? '',
  x: g.querySelector('.shape')?.getBBox().x ?? 0,
  colour: getComputedStyle(g.querySelector('.shape')).stroke,
})));

async function filter(page, { manager = '', health = '' }) {
  await page.selectOption('#f-manager', manager);
  await page.selectOption('#f-health', health);
  await Promise.all([page.waitForNavigation(WAIT), page.click('form.filters button[type="submit"]')]);
}

// ---- 1. The manager signs in and sees her two pairs ------------------------------------------
const manager = await newPerson({ viewport: { width: 1100, height: 900 } });
const M = manager.page;
await signIn(M, MANAGER);
log(`manager signed in; on ${new URL(M.url()).pathname}`);
assert.equal(new URL(M.url()).pathname, '/dashboard');
assert.deepEqual(await shownPairs(M), [STREAK_PAIR, HEALTHY_PAIR], 'failing first, then healthy');
assert.match(await card(M, STREAK_PAIR).locator('.health').innerText(), /Failing/);
assert.match(await card(M, HEALTHY_PAIR).locator('.health').innerText(), /Healthy/);
assert.equal(await card(M, STREAK_PAIR).locator('dd.streak').innerText(), '3');
assert.match(await card(M, STREAK_PAIR).locator('dd.adherence').innerText(), /^15% \(2 of 13 slots held\)/);
assert.equal(await card(M, HEALTHY_PAIR).locator('dd.actions').innerText(), '2');

// ---- 2. The timeline of the streak: the right marks, in order, each with a tooltip ----------
const m = await marks(M, STREAK_PAIR);
const states = m.map((x) => x.state);
assert.deepEqual(states.slice(-5), ['held', 'held', 'cancelled', 'declined', 'cancelled'], states.join(' '));
assert.deepEqual(states.slice(0, -5), Array(8).fill('missing'), 'the empty slots before them are missing');
for (let i = 1; i < m.length; i++) { assert.ok(m[i].x > m[i - 1].x, `mark ${i} is right of mark ${i - 1}`); }
for (const x of m) { assert.ok(x.title.length > 10, `a tooltip on every mark: ${JSON.stringify(x)}`); }
assert.match(m.at(-2).title, /declined by bob@x\.org/);
assert.match(m.at(-1).title, /cancelled by ann@x\.org/);
assert.match(m[0].title, /missing/);
// Shape and colour both tell the states apart.
const byState = Object.fromEntries(m.map((x) => [x.state, x]));
assert.equal(byState.held.shape, 'circle');
assert.equal(byState.cancelled.shape, 'path');
assert.equal(byState.declined.shape, 'polygon');
assert.notEqual(byState.held.colour, byState.cancelled.colour, 'held and cancelled differ in colour');
assert.notEqual(byState.cancelled.colour, byState.declined.colour, 'cancelled and declined differ in colour');
const svgTitle = await card(M, STREAK_PAIR).locator('svg.timeline > title').textContent();
assert.match(svgTitle, /2 held, 2 cancelled, 1 declined, 8 missing slot/);
assert.equal(await M.locator('ul.marks-legend li').count(), 6, 'a legend of the six states');
log(`the streak's timeline: ${states.join(' ')}`);
await shot(M, 'dashboard-manager');

// ---- 3. The health filter, without JavaScript's help (a GET form) -----------------------------
await filter(M, { health: 'healthy' });
assert.equal(new URL(M.url()).searchParams.get('health'), 'healthy');
assert.deepEqual(await shownPairs(M), [HEALTHY_PAIR]);
assert.equal(await M.locator('#f-health').inputValue(), 'healthy', 'the form keeps the choice');
assert.match(await M.locator('p.exports a', { hasText: 'CSV' }).getAttribute('href'), /dashboard\.csv\?health=healthy$/);
await filter(M, { health: 'failing' });
assert.deepEqual(await shownPairs(M), [STREAK_PAIR]);
await filter(M, { health: 'at_risk' });
assert.deepEqual(await shownPairs(M), []);
assert.match(await M.locator('p.empty').innerText(), /No pair matches/);
log('the health filter: healthy, failing, at risk');

// ---- 4. An admin sees every pair; the manager filter -----------------------------------------
const admin = await newPerson({ viewport: { width: 1100, height: 900 } });
const A = admin.page;
await signIn(A, ADMIN);
const all = await shownPairs(A);
assert.equal(all.length, 3, all.join(' '));
const options = await A.locator('#f-manager option').evaluateAll((os) => os.map((o) => o.value));
assert.deepEqual(options, ['', MANAGER, OTHER_MANAGER]);
await filter(A, { manager: OTHER_MANAGER });
const others = await shownPairs(A);
assert.equal(others.length, 1);
assert.ok(others[0].startsWith(`${OTHER_MANAGER}~`), others[0]);
await filter(A, { manager: MANAGER, health: 'failing' });
assert.deepEqual(await shownPairs(A), [STREAK_PAIR]);
await filter(A, { manager: MANAGER });
assert.deepEqual(await shownPairs(A), [STREAK_PAIR, HEALTHY_PAIR]);
assert.equal(await A.locator('section.dash h2 a').count(), 0, 'no pair page links for an admin');
await filter(A, {});
await shot(A, 'dashboard-admin');
log('an admin sees all three; the manager filter narrows them');

// ---- 5. On a phone, in dark mode: no sideways scrolling, dark colours -------------------------
const phone = await newPerson({
  viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark',
});
const P = phone.page;
await signIn(P, MANAGER);
const widths = await P.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
assert.ok(widths[0] <= widths[1], `no sideways scrolling on a phone (${widths})`);
const svgWidth = await card(P, STREAK_PAIR).locator('svg.timeline').evaluate((s) => s.getBoundingClientRect().width);
assert.ok(svgWidth > 250 && svgWidth <= 390, `the timeline fits the phone (${svgWidth}px)`);
const bg = await P.evaluate(() => getComputedStyle(document.body).backgroundColor);
assert.notEqual(bg, 'rgb(246, 247, 249)', 'dark mode changes the background');
await shot(P, 'dashboard-manager-phone-dark');
log(`a phone in dark mode (background ${bg}, timeline ${Math.round(svgWidth)}px wide)`);

assert.deepEqual(dialogs, [], 'no script ran');
assert.deepEqual(problems, [], 'no page errors or CSP violations');
await browser.close();
console.log('all dashboard checks passed');
