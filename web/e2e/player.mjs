// Drives the live player in Debian's chromium, as a viewer on a phone would
// use it, against a running daihuo (BASE_URL) with a live stream (STREAM_ID)
// whose line-up holds PRODUCT_ID. The brand (BRAND_TOKEN) pins products
// through the API while the page is open. Prints one JSON line of what it
// saw and exits non-zero on the first thing that is not as expected.
import { chromium } from 'playwright-core';

const { BASE_URL, STREAM_ID, PRODUCT_ID, BRAND_TOKEN, SCREENSHOT } = process.env;
const timeout = 15000;

async function api(path, token, body) {
  const res = await fetch(BASE_URL + path, {
    method: body ? 'POST' : 'GET',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const seen = {};
const phone = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'en-US' };

// watch opens the player at path on a new page that records its errors:
// uncaught exceptions, console errors (the browser logs failed requests
// there too), and dialogs (an alert would mean injected script ran). A
// failed request is expected only when allowed(url, status) says so.
async function watch(path, allowed = () => false, clockAheadMs = 0) {
  const page = await browser.newPage(phone);
  if (clockAheadMs) await page.clock.setSystemTime(Date.now() + clockAheadMs); // a phone whose clock is off
  const errors = [];
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const status = /status of (\d+)/.exec(m.text())?.[1];
    if (!allowed(m.location().url, Number(status))) errors.push(`console error: ${m.text()} (${m.location().url})`);
  });
  page.on('dialog', (d) => { errors.push('dialog: ' + d.message()); d.dismiss().catch(() => {}); });
  const requests = [];
  page.on('request', (r) => requests.push(new URL(r.url()).pathname));
  await page.goto(BASE_URL + path);
  return { page, errors, requests };
}

try {
  // The pages may not be framed, and are never served as assets.
  const res = await fetch(`${BASE_URL}/watch/${STREAM_ID}`);
  seen.csp = res.headers.get('content-security-policy');
  if (!seen.csp?.includes("frame-ancestors 'none'")) throw new Error('watch page CSP: ' + seen.csp);
  if (res.headers.get('x-frame-options') !== 'DENY') throw new Error('watch page X-Frame-Options: ' + res.headers.get('x-frame-options'));
  const asHTML = await fetch(`${BASE_URL}/assets/watch.html`);
  if (asHTML.status !== 404) throw new Error('/assets/watch.html answered ' + asHTML.status);

  // The declined card is answered 402, which the browser logs.
  const { page, errors } = await watch(`/watch/${STREAM_ID}`, (url, status) => url.includes('/confirm') && status === 402);

  // The snapshot shows the stream as live.
  await page.locator('#status', { hasText: 'live' }).waitFor({ timeout });
  seen.title = await page.locator('#title').textContent();

  // A flash pin made by the brand appears on the player with its price and units.
  const endsAt = new Date(Date.now() + 10 * 60 * 1000).toISOString();
  const pin = await api(`/v1/streams/${STREAM_ID}/pins`, BRAND_TOKEN, {
    product_id: PRODUCT_ID, flash: { price: { amount: 990, currency: 'EUR' }, quantity: 7, ends_at: endsAt },
  });
  const card = page.locator(`[data-pin="${pin.id}"]`);
  await card.waitFor({ timeout });
  seen.pinCard = (await card.textContent()).replace(/\s+/g, ' ').trim();
  if (!seen.pinCard.includes('7 left')) throw new Error('flash card lacks the units left: ' + seen.pinCard);
  seen.flashPrice = await card.locator('.price').evaluate((el) => el.firstChild.textContent);
  if (seen.flashPrice !== '€9.90') throw new Error('flash price shows ' + seen.flashPrice + ', want €9.90');

  // The countdown ticks without taking the focus away from Buy.
  const buy = card.getByRole('button', { name: 'Buy' });
  await buy.focus();
  const before = await card.locator('.flashline').textContent();
  await page.waitForTimeout(1200);
  seen.buyKeepsFocus = await buy.evaluate((el) => el === document.activeElement);
  if (!seen.buyKeepsFocus) throw new Error('Buy lost the focus as the countdown ticked');
  await page.waitForFunction(([id, text]) => document.querySelector(`[data-pin="${id}"] .flashline`).textContent !== text, [pin.id, before], { timeout });
  if (!(await buy.evaluate((el) => el === document.activeElement))) throw new Error('Buy lost the focus when the countdown changed');

  // A phone whose clock runs three minutes fast counts the sale down on the
  // server's clock: about ten minutes left, not seven.
  const fast = await watch(`/watch/${STREAM_ID}`, () => false, 3 * 60 * 1000);
  const fastLine = fast.page.locator(`[data-pin="${pin.id}"] .flashline`);
  await fastLine.waitFor({ timeout });
  await fast.page.waitForFunction((id) => / 09:\d\d/.test(document.querySelector(`[data-pin="${id}"] .flashline`)?.textContent ?? ''), pin.id, { timeout });
  seen.fastPhoneCountdown = (await fastLine.textContent()).replace(/\s+/g, ' ').trim();
  if (fast.errors.length) throw new Error('errors on the fast phone: ' + fast.errors.join('; '));
  await fast.page.close();

  // Chat as a guest: the message comes back through the stream's events.
  await page.fill('#chat-text', 'hello from the player');
  await page.click('#chat-form button[type=submit]');
  await page.locator('#chat li', { hasText: 'hello from the player' }).waitFor({ timeout });
  seen.chat = true;

  // Likes tapped here reach the count on every player, and a viewer who
  // comes later starts from the stream's total, not from zero.
  for (let i = 0; i < 3; i++) await page.click('#like');
  await page.locator('#likes', { hasText: /^3$/ }).waitFor({ timeout });
  const later = await watch(`/watch/${STREAM_ID}`);
  await later.page.locator('#status', { hasText: 'live' }).waitFor({ timeout });
  seen.likesForLaterViewer = await later.page.locator('#likes').textContent();
  if (seen.likesForLaterViewer !== '3') throw new Error('a later viewer sees ' + seen.likesForLaterViewer + ' likes, want 3');
  if (later.errors.length) throw new Error('errors on the later viewer: ' + later.errors.join('; '));
  await later.page.close();

  // Markup in a message is shown as text, never run.
  const markup = '<img src=x onerror=alert(1)>';
  await page.fill('#chat-text', markup);
  await page.click('#chat-form button[type=submit]');
  await page.locator('#chat li', { hasText: markup }).waitFor({ timeout });
  if (await page.locator('#chat img').count()) throw new Error('a chat message made an <img>');
  seen.chatMarkupIsText = true;

  // A sheet closed without ordering leaves nothing behind: the next
  // purchase starts at one unit.
  await buy.click();
  await page.fill('#co-qty', '3');
  await page.click('#co-close');
  // Buy from the flash pin, with a long press, and pay with the local
  // simulator's test card. The keyboard's Enter places the order.
  await buy.click({ delay: 1200 });
  seen.qtyAfterClose = await page.inputValue('#co-qty');
  if (seen.qtyAfterClose !== '1') throw new Error('the quantity carried over: ' + seen.qtyAfterClose);
  await page.fill('#co-name', 'Ada Lovelace');
  await page.fill('#co-line1', '12 Rue de la Paix');
  await page.fill('#co-city', 'Paris');
  await page.fill('#co-postal', '75002');
  await page.fill('#co-country', 'FR');
  await page.press('#co-country', 'Enter');
  await page.locator('#co-submit', { hasText: 'Pay' }).waitFor({ timeout });
  seen.hold = await page.locator('#co-hold').textContent();
  if (!/Held for you: \d\d:\d\d left to pay/.test(seen.hold)) throw new Error('no hold countdown: ' + seen.hold);

  // A declined card keeps the sheet open and says so; another card pays.
  await page.fill('#co-card', '4000 0000 0000 0002');
  await page.click('#co-submit');
  await page.locator('#co-error', { hasText: 'declined' }).waitFor({ timeout });
  seen.declined = await page.locator('#co-error').textContent();
  await page.fill('#co-card', '4242 4242 4242 4242');
  await page.click('#co-submit');
  await page.locator('#notice', { hasText: 'Paid' }).waitFor({ timeout });
  seen.paid = await page.locator('#notice').textContent();

  // The units left on the card follow the sale.
  await card.locator('.flashline[data-remaining="6"]').waitFor({ timeout });
  seen.remainingAfterSale = 6;

  // A second order holds a unit until the shopper cancels it, which puts the
  // unit back on sale at once. The quantity is capped by the units left.
  await card.getByRole('button', { name: 'Buy' }).click();
  seen.qtyMax = await page.locator('#co-qty').getAttribute('max');
  if (seen.qtyMax !== '6') throw new Error('quantity max is ' + seen.qtyMax + ', want the 6 units left');
  await page.click('#co-submit');
  await page.locator('#co-submit', { hasText: 'Pay' }).waitFor({ timeout });
  await card.locator('.flashline[data-remaining="5"]').waitFor({ timeout });
  // Closed, the sheet keeps the hold; Buy on the pin again goes back to that
  // order instead of holding a second one.
  await page.click('#co-close');
  await card.getByRole('button', { name: 'Buy' }).click();
  await page.locator('#co-submit', { hasText: 'Pay' }).waitFor({ timeout });
  seen.buyAgainResumes = true;
  await page.click('#co-cancel');
  await page.locator('#notice', { hasText: 'cancelled' }).waitFor({ timeout });
  await card.locator('.flashline[data-remaining="6"]').waitFor({ timeout });
  seen.remainingAfterCancel = 6;

  // Orders lists both, newest first: the cancelled one, then the paid one.
  await page.click('#my-orders');
  const rows = page.locator('#orders-list li[data-order]');
  await rows.nth(1).waitFor({ timeout });
  seen.orders = await page.locator('#orders-list li[data-order] .status').allTextContents();
  if (seen.orders.join() !== 'cancelled,paid') throw new Error('orders: ' + seen.orders.join());
  seen.orderTitle = await rows.first().locator('span').first().textContent();
  const product = await api(`/v1/products/${PRODUCT_ID}`, BRAND_TOKEN);
  if (seen.orderTitle !== product.title) throw new Error(`first order titled ${seen.orderTitle}, want ${product.title}`);
  await page.getByRole('button', { name: 'Close' }).last().click();

  // Options priced differently: the sheet's price follows the chosen one.
  const sizes = await api('/v1/products', BRAND_TOKEN, {
    title: 'Rose hydrating serum, in the travel size or the one for the bathroom shelf at home',
    variants: [{ sku: 'E2E-30', title: '30 ml', price: { amount: 4500, currency: 'EUR' }, stock: 10 },
      { sku: 'E2E-50', title: '50 ml', price: { amount: 6900, currency: 'EUR' }, stock: 10 }],
  });
  await api(`/v1/streams/${STREAM_ID}/lineup`, BRAND_TOKEN, { product_id: sizes.id, commission_bps: 1000 });
  const plain = await api(`/v1/streams/${STREAM_ID}/pins`, BRAND_TOKEN, { product_id: sizes.id });
  const plainCard = page.locator(`[data-pin="${plain.id}"]`);
  await plainCard.waitFor({ timeout });
  await plainCard.getByRole('button', { name: 'Buy' }).click();
  await page.selectOption('#co-variant', sizes.variants[1].id);
  seen.priceOfOption = await page.locator('#co-price').textContent();
  if (seen.priceOfOption !== '€69.00') throw new Error('the 50 ml option shows ' + seen.priceOfOption + ', want €69.00');
  await page.click('#co-close');

  // A phone whose clock is set back five minutes while the page is open
  // keeps counting on the server's clock. (Playwright's clock, taking over,
  // also restarts performance.now(), which costs the page's few seconds of
  // age: far from the five minutes a countdown on the phone's clock moves.)
  const reset = await watch(`/watch/${STREAM_ID}`);
  const line = reset.page.locator(`[data-pin="${pin.id}"] .flashline`);
  await line.waitFor({ timeout });
  await reset.page.waitForTimeout(500); // the clock sample at load
  const left = async () => { const [m, sec] = / (\d\d):(\d\d)/.exec(await line.textContent()).slice(1).map(Number); return m * 60 + sec; };
  const leftBefore = await left();
  await reset.page.clock.setSystemTime(Date.now() - 5 * 60 * 1000);
  await reset.page.waitForTimeout(1500);
  seen.countdownAfterClockChange = [leftBefore, await left()];
  if (Math.abs(seen.countdownAfterClockChange[1] - leftBefore) > 30) throw new Error('the countdown moved with the phone clock: ' + seen.countdownAfterClockChange);
  if (reset.errors.length) throw new Error('errors on the reset phone: ' + reset.errors.join('; '));
  await reset.page.close();

  if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
  if (errors.length) throw new Error('errors: ' + errors.join('; '));

  // A sheet closed while its order is on its way (a slow network), then Buy
  // again: one order, held to pay, not a second one.
  const slow = await watch(`/watch/${STREAM_ID}`);
  await slow.page.route('**/v1/orders', async (route) => {
    if (route.request().method() === 'POST') await new Promise((r) => setTimeout(r, 1500));
    return route.continue();
  });
  const slowBuy = slow.page.locator(`[data-pin="${pin.id}"]`).getByRole('button', { name: 'Buy' });
  await slowBuy.click();
  for (const [f, v] of [['name', 'Grace Hopper'], ['line1', '1 Navy Way'], ['city', 'Lyon'], ['postal', '69001'], ['country', 'FR']]) await slow.page.fill('#co-' + f, v);
  await slow.page.press('#co-country', 'Enter');
  await slow.page.waitForTimeout(300);
  await slow.page.keyboard.press('Escape');
  await slowBuy.click();
  await slow.page.locator('#notice', { hasText: 'on its way' }).waitFor({ timeout });
  await slow.page.locator('#notice', { hasText: 'Order placed' }).waitFor({ timeout });
  const slowToken = await slow.page.evaluate(() => localStorage.getItem('daihuo.shopper'));
  seen.ordersAfterSlowBuyAgain = (await api('/v1/orders', slowToken)).data.length;
  if (seen.ordersAfterSlowBuyAgain !== 1) throw new Error(`a slow order and Buy again made ${seen.ordersAfterSlowBuyAgain} orders`);
  await slowBuy.click();
  await slow.page.locator('#co-submit', { hasText: 'Pay' }).waitFor({ timeout });
  await slow.page.click('#co-cancel');
  await slow.page.locator('#notice', { hasText: 'cancelled' }).waitFor({ timeout });
  if (slow.errors.length) throw new Error('errors on the slow phone: ' + slow.errors.join('; '));
  await slow.page.close();

  // A new guest's first chat line and like, at once: one sign-up.
  const guest = await watch(`/watch/${STREAM_ID}`);
  await guest.page.route('**/v1/shoppers', async (route) => { await new Promise((r) => setTimeout(r, 800)); return route.continue(); });
  await guest.page.locator('#status', { hasText: 'live' }).waitFor({ timeout });
  await guest.page.fill('#chat-text', 'first words');
  await guest.page.click('#chat-form button[type=submit]');
  await guest.page.click('#like');
  await guest.page.locator('#chat li', { hasText: 'first words' }).waitFor({ timeout });
  await guest.page.waitForTimeout(800); // the like is sent a moment later
  seen.guestSignUps = guest.requests.filter((p) => p === '/v1/shoppers').length;
  if (seen.guestSignUps !== 1) throw new Error(`a new guest signed up ${seen.guestSignUps} times`);
  if (guest.errors.length) throw new Error('errors on the guest phone: ' + guest.errors.join('; '));
  await guest.page.close();

  // Three pins with long titles on a 320 px phone: the header and Orders
  // stay in reach, and the pins scroll.
  const third = await api(`/v1/streams/${STREAM_ID}/pins`, BRAND_TOKEN, { product_id: PRODUCT_ID });
  const small = await browser.newPage({ ...phone, viewport: { width: 320, height: 568 } });
  await small.goto(`${BASE_URL}/watch/${STREAM_ID}`);
  await small.locator(`[data-pin="${third.id}"]`).waitFor({ timeout });
  seen.smallScreen = await small.evaluate(() => {
    const orders = document.getElementById('my-orders').getBoundingClientRect();
    const hit = document.elementFromPoint(orders.x + orders.width / 2, orders.y + orders.height / 2);
    const pins = document.querySelector('.pins').getBoundingClientRect();
    return { ordersReachable: !!hit?.closest('#my-orders'), pinsTop: Math.round(pins.top), headerBottom: Math.round(document.querySelector('.top').getBoundingClientRect().bottom) };
  });
  if (!seen.smallScreen.ordersReachable || seen.smallScreen.pinsTop < seen.smallScreen.headerBottom) throw new Error('on a 320 px phone: ' + JSON.stringify(seen.smallScreen));
  await small.close();

  // A link whose id is no stream id shows so and calls no API at all. This
  // one, put in an API path unencoded, would make it /v1/orders/…/cancel
  // (%2e%2e is a dot-dot segment, and a backslash a slash, to a URL).
  const crafted = await watch('/watch/' + encodeURIComponent('%2e%2e\\orders\\ord_01JABCDEFGHJKMNPQRSTVWXYZ0\\cancel?'));
  await crafted.page.locator('#poster-text', { hasText: 'No such stream' }).waitFor({ timeout });
  seen.craftedCalls = crafted.requests.filter((p) => p.startsWith('/v1/'));
  if (seen.craftedCalls.length) throw new Error('a crafted link called ' + seen.craftedCalls.join());
  if (crafted.errors.length) throw new Error('errors: ' + crafted.errors.join('; '));

  // A well-formed id of no stream: its events and the stream answer 404
  // (which the browser logs), the player says so and stops asking.
  const unknown = await watch('/watch/str_00000000000000000000000000', (url, status) => status === 404 && url.includes('/v1/streams/str_00000000000000000000000000'));
  await unknown.page.locator('#poster-text', { hasText: 'No such stream' }).waitFor({ timeout });
  const asked = unknown.requests.filter((p) => p.endsWith('/events')).length;
  await unknown.page.waitForTimeout(2500); // the old player tried again every 2 s
  seen.unknownEventRequests = unknown.requests.filter((p) => p.endsWith('/events')).length;
  if (seen.unknownEventRequests !== asked) throw new Error(`the player asked for an unknown stream's events ${seen.unknownEventRequests} times`);
  if (unknown.errors.length) throw new Error('errors: ' + unknown.errors.join('; '));
  console.log(JSON.stringify({ ok: true, seen }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err), seen }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
