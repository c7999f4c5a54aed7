// The daihuo live player: the stream, its pinned products (flash sales with
// a countdown and the units left), chat, likes and checkout, all kept live
// by the stream's Server-Sent Events.
const $ = (id) => document.getElementById(id);
const streamId = (() => {
  try {
    return decodeURIComponent(location.pathname.split('/').pop());
  } catch {
    return ''; // a malformed %-escape names no stream
  }
})();
// validStream: only a well-formed stream id ever reaches an API path.
const validStream = /^str_[0-9A-Z]{26}$/.test(streamId);
const streamPath = '/v1/streams/' + encodeURIComponent(streamId);
const state = { stream: null, pins: new Map() };

// minorDigits are the server's ISO 4217 exponents that are not 2
// (domain/money/currency.go; web/web_test.go keeps the two equal). Intl's
// own decimals differ for some (IDR, HUF, COP, IQD…), and amounts are in
// the server's minor units.
const minorDigits = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0,
  UGX: 0, UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
};

// formatMoney shows integer minor units with the server's decimals.
function formatMoney(m) {
  const digits = minorDigits[m.currency] ?? 2;
  return new Intl.NumberFormat(undefined, {
    style: 'currency', currency: m.currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(m.amount / 10 ** digits);
}

// Countdowns run on the server's clock: a phone's may be minutes off, and a
// sale or a hold ends when the server says. serverOffset is the server's
// time less performance.now(), a clock the phone's settings cannot move,
// learnt from the Date header of every API answer (to the second; under two
// seconds from the phone's own clock counts as none). The Date header is
// stamped before the trip back and rounded down, and performance.now() may
// stand still while the phone sleeps: either way the largest sample is the
// truest, and a page shown again takes a fresh one.
let serverOffset = -Infinity;
function serverNow() {
  const phone = Date.now();
  if (serverOffset === -Infinity) return phone;
  const server = performance.now() + serverOffset;
  return Math.abs(server - phone) < 2000 ? phone : server;
}

async function api(path, { method = 'GET', body, token, key } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  if (key) headers['Idempotency-Key'] = key;
  const res = await fetch(path, { method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
  const date = Date.parse(res.headers.get('Date') || '');
  if (!Number.isNaN(date) && !res.headers.has('Age')) { // a cached answer's Date is old
    serverOffset = Math.max(serverOffset, date - performance.now());
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const msg = data?.errors?.map((e) => `${e.field}: ${e.message}`).join('; ') || data?.detail || res.statusText;
    throw Object.assign(new Error(msg), { status: res.status, problem: data });
  }
  return data;
}

// A guest shopper is made on first use and remembered on this device; the
// first uses at once (a chat line and a like) share the one sign-up.
let signingUp = null;
function shopperToken() {
  const tok = localStorage.getItem('daihuo.shopper');
  if (tok) return Promise.resolve(tok);
  signingUp ??= (async () => {
    const name = 'Guest ' + Math.floor(1000 + Math.random() * 9000);
    const s = await api('/v1/shoppers', { method: 'POST', body: { display_name: name } });
    localStorage.setItem('daihuo.shopper', s.token);
    return s.token;
  })().finally(() => { signingUp = null; });
  return signingUp;
}

// clock shows seconds as mm:ss (h:mm:ss from an hour).
function clock(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), sec = seconds % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
  return h ? `${h}:${mmss}` : mmss;
}

function notice(text) {
  $('notice').textContent = text;
  if (text) setTimeout(() => { if ($('notice').textContent === text) $('notice').textContent = ''; }, 5000);
}

function renderStream(s) {
  state.stream = s;
  document.title = s.title + ' · daihuo live';
  $('title').textContent = s.title;
  $('status').textContent = s.status;
  $('player').dataset.status = s.status;
  $('viewers').textContent = s.viewers ?? 0;
  const video = $('video');
  if (s.playback_url && video.getAttribute('src') !== s.playback_url) {
    video.src = s.playback_url;
    video.hidden = false;
  }
  $('poster').hidden = !!s.playback_url && s.status === 'live';
  $('poster-text').textContent = s.status === 'ended' ? 'This live has ended' : s.status === 'scheduled' ? 'Starting soon' : s.title;
}

// Pin cards are built once, when their pin arrives (snapshot or
// pin.added), and then only their changing parts are updated in place: the
// units left, the countdown and the Buy button's state. So a focused or
// pressed Buy button is never replaced under the viewer's finger.
const cards = new Map(); // pin id → { card, line, left, clock, buy }

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function buildCard(pin) {
  const p = pin.product;
  productTitles.set(p.id, p.title);
  const card = document.createElement('article');
  card.className = 'pin' + (pin.flash ? ' flash' : '');
  card.dataset.pin = pin.id;
  const img = p.image_url ? Object.assign(document.createElement('img'), { src: p.image_url, alt: '' }) : Object.assign(document.createElement('div'), { className: 'thumb' });
  const info = document.createElement('div');
  const h = document.createElement('h3');
  h.textContent = p.title;
  const price = document.createElement('div');
  price.className = 'price';
  const regular = p.variants[0]?.price;
  const parts = { card, line: null, left: null, clock: null, buy: null };
  if (pin.flash) {
    price.textContent = formatMoney(pin.flash.price);
    if (regular) price.append(Object.assign(document.createElement('span'), { className: 'was', textContent: formatMoney(regular) }));
    const line = document.createElement('div');
    line.className = 'flashline';
    parts.line = line;
    parts.left = Object.assign(document.createElement('span'), { className: 'left' });
    // A timer is not announced as it ticks (its implicit aria-live is off).
    parts.clock = Object.assign(document.createElement('span'), { className: 'clock' });
    parts.clock.setAttribute('role', 'timer');
    line.append('⚡ ', parts.left, ' · ', parts.clock);
    info.append(h, price, line);
  } else {
    if (regular) price.textContent = formatMoney(regular);
    info.append(h, price);
  }
  const buy = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Buy' });
  buy.addEventListener('click', () => {
    const current = state.pins.get(pin.id);
    if (current) openCheckout(current);
  });
  parts.buy = buy;
  card.append(img, info, buy);
  return parts;
}

// renderPins makes the cards follow state.pins: cards of gone pins are
// removed, new pins get a card, in pin order; then updatePins.
function renderPins() {
  const box = $('pins');
  for (const [id, c] of cards) {
    if (!state.pins.has(id)) {
      c.card.remove();
      cards.delete(id);
    }
  }
  const pins = [...state.pins.values()].sort((a, b) => a.pinned_at.localeCompare(b.pinned_at));
  pins.forEach((pin, i) => {
    let c = cards.get(pin.id);
    if (!c) {
      c = buildCard(pin);
      cards.set(pin.id, c);
    }
    // Moving a card would drop the focus inside it: only when out of place.
    if (box.children[i] !== c.card) box.insertBefore(c.card, box.children[i] ?? null);
  });
  updatePins();
}

// updatePins updates, in place, what changes on the cards: units left,
// countdown, and whether Buy can be pressed.
function updatePins() {
  const now = serverNow();
  const live = state.stream?.status === 'live';
  for (const [id, c] of cards) {
    const pin = state.pins.get(id);
    if (!pin) continue;
    let over = false;
    let label = 'Sold out';
    if (pin.flash && c.line) {
      const left = Math.max(0, Math.floor((Date.parse(pin.flash.ends_at) - now) / 1000));
      const ended = Date.parse(pin.flash.ends_at) <= now; // the server takes the pin down a moment later
      over = pin.flash.remaining <= 0 || ended;
      if (ended && pin.flash.remaining > 0) label = 'Sale ended';
      setText(c.left, `${pin.flash.remaining} left`);
      setText(c.clock, clock(left));
      const remaining = String(pin.flash.remaining);
      if (c.line.dataset.remaining !== remaining) c.line.dataset.remaining = remaining;
    }
    setText(c.buy, over ? label : 'Buy');
    const disabled = over || !live;
    if (c.buy.disabled !== disabled) c.buy.disabled = disabled;
  }
}

function addChat(m) {
  const li = document.createElement('li');
  li.dataset.message = m.id;
  const who = document.createElement('b');
  who.textContent = m.shopper.display_name;
  li.append(who, document.createTextNode(m.text));
  const list = $('chat');
  list.append(li);
  while (list.children.length > 200) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

// noSuchStream says the stream does not exist; nothing else happens then.
let gone = false;
function noSuchStream() {
  gone = true;
  document.title = 'No such stream · daihuo live';
  $('player').dataset.status = 'missing';
  $('status').textContent = 'not found';
  $('title').textContent = 'No such stream';
  $('poster').hidden = false;
  $('poster-text').textContent = 'No such stream';
  state.pins.clear();
  renderPins();
  for (const el of $('chat-form').elements) el.disabled = true;
}

// The event stream: the browser itself resumes a stream that was open
// once, with Last-Event-ID. When that fails too, or a connection fails
// before it opened, the player asks whether the stream exists (404: it
// stops) and otherwise connects again after an exponential, jittered
// backoff (about 1 s, doubling up to about 30 s).
let failures = 0; // connections that failed since one last opened
let lastEventId = ''; // the last numbered event seen, to resume from on a new connection

function backoff(n) {
  const base = Math.min(30000, 1000 * 2 ** n);
  return Math.round(base * (0.75 + Math.random() / 2));
}

async function reconnect() {
  const delay = backoff(failures++);
  try {
    await api(streamPath);
  } catch (err) {
    if (err.status === 404) {
      noSuchStream();
      return;
    }
  }
  if (!gone) setTimeout(connect, delay);
}

function connect() {
  if (gone) return;
  // A new connection resumes where the last one stopped (the browser only
  // resumes its own, once): the server replays what was missed, or sends a
  // fresh snapshot when it no longer can.
  const es = new EventSource(streamPath + '/events' + (lastEventId ? '?last_event_id=' + encodeURIComponent(lastEventId) : ''));
  let resumable = false; // open, so the browser may resume it once
  const on = (type, fn) => es.addEventListener(type, (e) => {
    if (e.lastEventId) lastEventId = e.lastEventId;
    fn(JSON.parse(e.data));
  });
  es.onopen = () => { resumable = true; failures = 0; };
  on('snapshot', (s) => {
    renderStream(s);
    $('likes').textContent = s.likes;
    state.pins = new Map(s.pins.map((p) => [p.id, p]));
    renderPins();
  });
  on('stream.started', (s) => { renderStream({ ...state.stream, ...s }); updatePins(); });
  on('stream.ended', (s) => { renderStream({ ...state.stream, ...s }); state.pins.clear(); renderPins(); });
  on('pin.added', (p) => {
    const known = state.pins.has(p.id);
    state.pins.set(p.id, p);
    renderPins();
    if (!known) notice((p.flash ? '⚡ Flash sale: ' : 'Pinned: ') + p.product.title);
  });
  on('pin.removed', (p) => { state.pins.delete(p.pin_id); renderPins(); });
  on('flash.stock', (f) => {
    const pin = state.pins.get(f.pin_id);
    if (pin?.flash) { pin.flash.remaining = f.remaining; updatePins(); }
  });
  on('viewers', (v) => { $('viewers').textContent = v.count; });
  on('likes', (l) => { $('likes').textContent = l.total; });
  on('chat.message', addChat);
  on('chat.deleted', (m) => document.querySelector(`[data-message="${CSS.escape(m.id)}"]`)?.remove());
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED && resumable) {
      resumable = false; // the browser resumes it now
      return;
    }
    es.close();
    reconnect();
  };
}

// Checkout: place the order (server prices, idempotent), then pay while its
// units are held. Closing the sheet keeps the hold (pay later from Orders);
// Cancel order gives the units back at once.
let checkout = null;
let holdTimer = 0;
// held: this page's orders still held, by the pin they were bought from, so
// Buy on that pin again goes back to the order instead of holding a second;
// placing: the checkouts whose order is on its way, by pin, for the same.
const held = new Map();
const placing = new Map();
// forget drops an order from held once it is paid or cancelled.
function forget(orderId) {
  for (const [pinId, o] of held) if (o.id === orderId) held.delete(pinId);
}

// shopperMessage says what went wrong in a shopper's words, about the
// checkout co when there is one.
function shopperMessage(err, co) {
  const left = co?.pin?.flash ? state.pins.get(co.pin.id)?.flash?.remaining : undefined;
  const wanted = Number($('co-qty').value);
  switch (err.problem?.code) {
    case 'sold_out': return left > 0 && wanted > left ? `Only ${left} left: lower the quantity.` : 'Sold out: every unit is taken.';
    case 'limit_exceeded': return 'That is more than this sale allows per buyer.';
    case 'payment_declined': return 'Your card was declined. Try another card.';
  }
  return err.message;
}

// showStep shows the order form, or with an order the payment and its hold.
function showStep(order) {
  const paying = !!order;
  $('co-details').hidden = $('co-details').disabled = paying;
  $('co-pay').hidden = !paying;
  $('co-cancel').hidden = !paying;
  $('co-submit').disabled = false;
  $('co-submit').textContent = paying ? 'Pay ' + formatMoney(order.total) : 'Place order';
  clearInterval(holdTimer);
  if (!paying) return;
  const tick = () => {
    const left = Math.floor((Date.parse(order.expires_at) - serverNow()) / 1000);
    if (left > 0) {
      $('co-hold').textContent = `Held for you: ${clock(left)} left to pay`;
      return;
    }
    clearInterval(holdTimer);
    $('co-hold').textContent = 'The hold has ended and the units went back on sale.';
    $('co-submit').disabled = true;
  };
  tick();
  holdTimer = setInterval(tick, 1000);
}

function openCheckout(pin) {
  if (placing.has(pin.id)) {
    notice('Your order is on its way: it will be held for you to pay.');
    return;
  }
  const order = held.get(pin.id);
  if (order && Date.parse(order.expires_at) > serverNow()) {
    resumeCheckout(order);
    notice('This order is still held for you: pay it, or cancel it.');
    return;
  }
  held.delete(pin.id);
  const p = pin.product;
  checkout = { pin, key: crypto.randomUUID(), order: null };
  $('co-title').textContent = p.title;
  const priceOf = (v) => (pin.flash ? pin.flash.price : v.price);
  const showPrice = () => {
    const v = p.variants.find((x) => x.id === $('co-variant').value) ?? p.variants[0];
    $('co-price').textContent = formatMoney(priceOf(v)) + (pin.flash ? ' ⚡ flash price' : '');
  };
  $('co-variant').replaceChildren(...p.variants.map((v) => new Option(`${v.title} — ${formatMoney(priceOf(v))}`, v.id)));
  $('co-variant').onchange = showPrice; // the heading follows the chosen option
  showPrice();
  // A flash sale caps what one buyer may take.
  const qty = $('co-qty');
  qty.max = pin.flash ? Math.max(1, Math.min(pin.flash.per_buyer_limit || 100, pin.flash.remaining)) : 100;
  qty.value = 1; // a new purchase starts at one unit, whatever the last one was
  $('co-error').textContent = '';
  showStep(null);
  const saved = JSON.parse(localStorage.getItem('daihuo.shipping') || '{}');
  for (const f of ['name', 'line1', 'city', 'postal', 'country']) if (saved[f]) $('co-' + f).value = saved[f];
  $('checkout').showModal();
}

// resumeCheckout reopens the payment of an order still held.
async function resumeCheckout(order) {
  checkout = { pin: null, key: null, order };
  $('co-variant').onchange = null;
  $('co-title').textContent = await orderTitle(order);
  $('co-price').textContent = formatMoney(order.total);
  $('co-error').textContent = '';
  showStep(order);
  $('checkout').showModal();
}

// submitCheckout handles the checkout sheet's submit: Place order or Pay,
// by button or by the keyboard's Enter (Close and Cancel order are plain
// buttons, so Enter never picks them).
async function submitCheckout(e) {
  e.preventDefault();
  await checkoutAction('submit');
}

// checkoutAction places or pays the sheet's order, or cancels it; a second
// tap while one runs does nothing. It works on the checkout it started
// with: the sheet may be closed, or show another purchase, by the time an
// answer comes, and is only touched while it still shows this one.
let checkoutBusy = false;
async function checkoutAction(action) {
  if (checkoutBusy) {
    notice('One moment: your last step is still on its way.');
    return;
  }
  if (!checkout) return;
  checkoutBusy = true;
  const co = checkout;
  // shown: the sheet still shows this purchase (reopened on the same order,
  // it does too).
  const shown = () => $('checkout').open && (checkout === co || (!!co.order && checkout?.order?.id === co.order.id));
  const err = $('co-error');
  err.textContent = '';
  try {
    const token = await shopperToken();
    if (action === 'cancel-order') {
      await api(`/v1/orders/${encodeURIComponent(co.order.id)}/cancel`, { method: 'POST', token });
      forget(co.order.id);
      if (shown()) $('checkout').close();
      notice('Order cancelled: the units are back on sale.');
      return;
    }
    if (!co.order) {
      const shipping = { name: $('co-name').value, line1: $('co-line1').value, city: $('co-city').value, postal_code: $('co-postal').value, country: $('co-country').value.toUpperCase() };
      localStorage.setItem('daihuo.shipping', JSON.stringify({ name: shipping.name, line1: shipping.line1, city: shipping.city, postal: shipping.postal_code, country: shipping.country }));
      const body = { stream_id: streamId, items: [{ variant_id: $('co-variant').value, quantity: Number($('co-qty').value) }], shipping };
      if (co.pin.flash) body.pin_id = co.pin.id;
      placing.set(co.pin.id, co);
      try {
        co.order = await api('/v1/orders', { method: 'POST', token, key: co.key, body });
      } finally {
        placing.delete(co.pin.id);
      }
      held.set(co.pin.id, co.order);
      if (!shown()) {
        notice('Order placed: it is held for you. Tap Buy on it again to pay.');
        return;
      }
      if (co.order.payment.provider !== 'local') {
        // Nothing to pay here: the local confirm route is not this provider's.
        $('co-details').disabled = true;
        $('co-submit').disabled = true;
        $('co-cancel').hidden = false;
        err.textContent = 'Order placed. Complete the payment with your card provider.';
        return;
      }
      showStep(co.order);
      return;
    }
    const pay = co.order.payment;
    if (pay.provider !== 'local') return;
    await api(`/v1/payments/local/${encodeURIComponent(pay.intent_id)}/confirm`, { method: 'POST', body: { client_secret: pay.client_secret, card_number: $('co-card').value.replace(/\s+/g, '') } });
    const paid = await api(`/v1/orders/${encodeURIComponent(co.order.id)}`, { token });
    if (paid.status !== 'pending_payment') forget(paid.id);
    if (shown()) $('checkout').close();
    notice(paid.status === 'paid' ? `Paid ${formatMoney(paid.total)} — thank you!` : `Order ${paid.status.replace('_', ' ')}`);
  } catch (e2) {
    if (shown()) err.textContent = shopperMessage(e2, co);
    else notice(shopperMessage(e2, co));
  } finally {
    checkoutBusy = false;
  }
}

// Orders: the shopper's latest orders on this device, newest first; one
// still held can be paid or cancelled from here.
const productTitles = new Map(); // product id → title (a promise while asked)

function orderTitle(o) {
  const id = o.items[0]?.product_id;
  if (!productTitles.has(id)) {
    productTitles.set(id, api(`/v1/products/${encodeURIComponent(id)}`).then((p) => p.title, () => 'Order'));
  }
  const units = o.items.reduce((n, it) => n + it.quantity, 0);
  return Promise.resolve(productTitles.get(id)).then((t) => (units > 1 ? `${t} × ${units}` : t));
}

async function orderRow(o) {
  const li = document.createElement('li');
  li.dataset.order = o.id;
  const what = Object.assign(document.createElement('span'), { textContent: await orderTitle(o) });
  const status = Object.assign(document.createElement('span'), { className: 'status', textContent: o.status.replace('_', ' ') });
  status.dataset.status = o.status;
  const when = Object.assign(document.createElement('span'), { className: 'when', textContent: `${formatMoney(o.total)} · ${new Date(o.created_at).toLocaleString()}` });
  li.append(what, status, when);
  if (o.status === 'pending_payment' && Date.parse(o.expires_at) > serverNow()) {
    const cancel = Object.assign(document.createElement('button'), { type: 'button', className: 'secondary', textContent: 'Cancel order' });
    cancel.addEventListener('click', async () => {
      try {
        await api(`/v1/orders/${encodeURIComponent(o.id)}/cancel`, { method: 'POST', token: await shopperToken() });
        forget(o.id);
        notice('Order cancelled: the units are back on sale.');
      } catch (err) {
        notice(shopperMessage(err));
      }
      showOrders();
    });
    const actions = Object.assign(document.createElement('div'), { className: 'actions' });
    actions.append(cancel);
    // Only the local simulator is paid from here; another provider's
    // payment is completed with that provider.
    if (o.payment?.provider === 'local') {
      const pay = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Pay' });
      pay.addEventListener('click', () => { $('orders').close(); resumeCheckout(o); });
      actions.append(pay);
    }
    li.append(actions);
  }
  return li;
}

async function showOrders() {
  const list = $('orders-list');
  const line = (text) => Object.assign(document.createElement('li'), { textContent: text });
  if (!$('orders').open) $('orders').showModal();
  const token = localStorage.getItem('daihuo.shopper');
  if (!token) {
    list.replaceChildren(line('No orders yet.'));
    return;
  }
  try {
    const page = await api('/v1/orders?limit=20', { token });
    list.replaceChildren(...(page.data.length ? await Promise.all(page.data.map(orderRow)) : [line('No orders yet.')]));
  } catch (err) {
    list.replaceChildren(line(shopperMessage(err)));
  }
}

async function sendChat(e) {
  e.preventDefault();
  const text = $('chat-text').value.trim();
  if (!text) return;
  try {
    await api(`${streamPath}/chat`, { method: 'POST', token: await shopperToken(), body: { text } });
    $('chat-text').value = '';
  } catch (err) {
    notice(err.message);
  }
}

let pendingLikes = 0;
function like() {
  pendingLikes++;
  if (pendingLikes === 1) {
    // Taps are sent together, a moment later, as the server batches them anyway.
    setTimeout(async () => {
      const count = Math.min(pendingLikes, 50);
      pendingLikes = 0;
      try {
        await api(`${streamPath}/likes`, { method: 'POST', token: await shopperToken(), body: { count } });
      } catch (err) {
        notice(err.message);
      }
    }, 400);
  }
}

function start() {
  $('chat-form').addEventListener('submit', sendChat);
  $('like').addEventListener('click', like);
  $('checkout').addEventListener('close', () => clearInterval(holdTimer));
  $('checkout-form').addEventListener('submit', submitCheckout);
  $('co-close').addEventListener('click', () => $('checkout').close()); // a placed order stays held
  $('co-cancel').addEventListener('click', () => checkoutAction('cancel-order'));
  $('my-orders').addEventListener('click', showOrders);
  // Learns the server's clock before the first countdown matters, and again
  // when the phone may have slept: the page shown again, back online, or a
  // tick that finds the phone's clock and the monotonic one moved apart
  // (performance.now() may stand still while the phone sleeps).
  const sampleClock = () => api('/healthz').then(updatePins, () => {});
  sampleClock();
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') sampleClock(); });
  window.addEventListener('pageshow', sampleClock);
  window.addEventListener('online', sampleClock);
  // The countdowns tick in place.
  let tick = { phone: Date.now(), mono: performance.now() };
  setInterval(() => {
    const now = { phone: Date.now(), mono: performance.now() };
    if (Math.abs((now.phone - tick.phone) - (now.mono - tick.mono)) > 2000) sampleClock();
    tick = now;
    if ([...state.pins.values()].some((p) => p.flash)) updatePins();
  }, 1000);
  connect();
}

// A link that does not name a stream shows so, and does nothing else.
if (validStream) start();
else noSuchStream();
