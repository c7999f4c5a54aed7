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
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${BASE_URL}/watch/${STREAM_ID}`);

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

  // Chat as a guest: the message comes back through the stream's events.
  await page.fill('#chat-text', 'hello from the player');
  await page.click('#chat-form button[type=submit]');
  await page.locator('#chat li', { hasText: 'hello from the player' }).waitFor({ timeout });
  seen.chat = true;

  // Buy from the flash pin and pay with the local simulator's test card.
  await card.getByRole('button', { name: 'Buy' }).click();
  await page.fill('#co-name', 'Ada Lovelace');
  await page.fill('#co-line1', '12 Rue de la Paix');
  await page.fill('#co-city', 'Paris');
  await page.fill('#co-postal', '75002');
  await page.fill('#co-country', 'FR');
  await page.click('#co-submit');
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
  await page.getByRole('button', { name: 'Close' }).last().click();

  if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  console.log(JSON.stringify({ ok: true, seen }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err), seen }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
