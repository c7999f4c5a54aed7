// The daihuo live player: the stream, its pinned products (flash sales with
// a countdown and the units left), chat, likes and checkout, all kept live
// by the stream's Server-Sent Events.
const $ = (id) => document.getElementById(id);
const streamId = decodeURIComponent(location.pathname.split('/').pop());
const state = { stream: null, pins: new Map(), lastRemaining: new Map() };

// Money is integer minor units; Intl knows each currency's decimals.
function formatMoney(m) {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency: m.currency }).resolvedOptions().maximumFractionDigits;
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: m.currency }).format(m.amount / 10 ** digits);
}

async function api(path, { method = 'GET', body, token, key } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  if (key) headers['Idempotency-Key'] = key;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const msg = data?.errors?.map((e) => `${e.field}: ${e.message}`).join('; ') || data?.detail || res.statusText;
    throw Object.assign(new Error(msg), { status: res.status, problem: data });
  }
  return data;
}

// A guest shopper is made on first use and remembered on this device.
async function shopperToken() {
  let tok = localStorage.getItem('daihuo.shopper');
  if (!tok) {
    const name = 'Guest ' + Math.floor(1000 + Math.random() * 9000);
    const s = await api('/v1/shoppers', { method: 'POST', body: { display_name: name } });
    tok = s.token;
    localStorage.setItem('daihuo.shopper', tok);
  }
  return tok;
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

function renderPins() {
  const box = $('pins');
  const now = Date.now();
  const cards = [...state.pins.values()].sort((a, b) => a.pinned_at.localeCompare(b.pinned_at));
  box.replaceChildren(...cards.map((pin) => {
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
    if (pin.flash) {
      price.textContent = formatMoney(pin.flash.price);
      if (regular) price.append(Object.assign(document.createElement('span'), { className: 'was', textContent: formatMoney(regular) }));
      const line = document.createElement('div');
      line.className = 'flashline';
      const left = Math.max(0, Math.floor((Date.parse(pin.flash.ends_at) - now) / 1000));
      line.textContent = `⚡ ${pin.flash.remaining} left · ${clock(left)}`;
      line.dataset.remaining = pin.flash.remaining;
      info.append(h, price, line);
    } else {
      if (regular) price.textContent = formatMoney(regular);
      info.append(h, price);
    }
    const buy = document.createElement('button');
    const over = pin.flash && (pin.flash.remaining <= 0 || Date.parse(pin.flash.ends_at) <= now);
    buy.textContent = over ? 'Sold out' : 'Buy';
    buy.disabled = over || state.stream?.status !== 'live';
    buy.addEventListener('click', () => openCheckout(pin));
    card.append(img, info, buy);
    return card;
  }));
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

function connect() {
  const es = new EventSource(`/v1/streams/${encodeURIComponent(streamId)}/events`);
  const on = (type, fn) => es.addEventListener(type, (e) => fn(JSON.parse(e.data)));
  on('snapshot', (s) => {
    renderStream(s);
    state.pins = new Map(s.pins.map((p) => [p.id, p]));
    renderPins();
  });
  on('stream.started', (s) => { renderStream({ ...state.stream, ...s }); renderPins(); });
  on('stream.ended', (s) => { renderStream({ ...state.stream, ...s }); state.pins.clear(); renderPins(); });
  on('pin.added', (p) => { state.pins.set(p.id, p); renderPins(); });
  on('pin.removed', (p) => { state.pins.delete(p.pin_id); renderPins(); });
  on('flash.stock', (f) => {
    const pin = state.pins.get(f.pin_id);
    if (pin?.flash) { pin.flash.remaining = f.remaining; renderPins(); }
  });
  on('viewers', (v) => { $('viewers').textContent = v.count; });
  on('likes', (l) => { $('likes').textContent = l.total; });
  on('chat.message', addChat);
  on('chat.deleted', (m) => document.querySelector(`[data-message="${CSS.escape(m.id)}"]`)?.remove());
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) setTimeout(connect, 2000); };
}

$('chat-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('chat-text').value.trim();
  if (!text) return;
  try {
    await api(`/v1/streams/${streamId}/chat`, { method: 'POST', token: await shopperToken(), body: { text } });
    $('chat-text').value = '';
  } catch (err) {
    notice(err.message);
  }
});

let pendingLikes = 0;
$('like').addEventListener('click', () => {
  pendingLikes++;
  if (pendingLikes === 1) {
    // Taps are sent together, a moment later, as the server batches them anyway.
    setTimeout(async () => {
      const count = Math.min(pendingLikes, 50);
      pendingLikes = 0;
      try {
        await api(`/v1/streams/${streamId}/likes`, { method: 'POST', token: await shopperToken(), body: { count } });
      } catch (err) {
        notice(err.message);
      }
    }, 400);
  }
});

// Checkout: place the order (server prices, idempotent), then pay while its
// units are held. Closing the sheet keeps the hold (pay later from Orders);
// Cancel order gives the units back at once.
let checkout = null;
let holdTimer = 0;

// shopperMessage says what went wrong in a shopper's words.
function shopperMessage(err) {
  switch (err.problem?.code) {
    case 'sold_out': return 'Sold out: every unit is taken.';
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
    const left = Math.floor((Date.parse(order.expires_at) - Date.now()) / 1000);
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
  const p = pin.product;
  checkout = { pin, key: crypto.randomUUID(), order: null };
  $('co-title').textContent = p.title;
  $('co-price').textContent = formatMoney(pin.flash ? pin.flash.price : p.variants[0].price) + (pin.flash ? ' ⚡ flash price' : '');
  $('co-variant').replaceChildren(...p.variants.map((v) => new Option(`${v.title} — ${formatMoney(pin.flash ? pin.flash.price : v.price)}`, v.id)));
  // A flash sale caps what one buyer may take.
  const qty = $('co-qty');
  qty.max = pin.flash ? Math.max(1, Math.min(pin.flash.per_buyer_limit || 100, pin.flash.remaining)) : 100;
  qty.value = Math.min(Number(qty.value) || 1, Number(qty.max));
  $('co-error').textContent = '';
  showStep(null);
  const saved = JSON.parse(localStorage.getItem('daihuo.shipping') || '{}');
  for (const f of ['name', 'line1', 'city', 'postal', 'country']) if (saved[f]) $('co-' + f).value = saved[f];
  $('checkout').showModal();
}

// resumeCheckout reopens the payment of an order still held.
async function resumeCheckout(order) {
  checkout = { pin: null, key: null, order };
  $('co-title').textContent = await orderTitle(order);
  $('co-price').textContent = formatMoney(order.total);
  $('co-error').textContent = '';
  showStep(order);
  $('checkout').showModal();
}

$('checkout').addEventListener('close', () => clearInterval(holdTimer));

$('checkout-form').addEventListener('submit', async (e) => {
  const action = e.submitter?.value;
  if (action === 'close') return; // the sheet closes; a placed order stays held
  e.preventDefault();
  const err = $('co-error');
  err.textContent = '';
  try {
    const token = await shopperToken();
    if (action === 'cancel-order') {
      await api(`/v1/orders/${checkout.order.id}/cancel`, { method: 'POST', token });
      $('checkout').close();
      notice('Order cancelled: the units are back on sale.');
      return;
    }
    if (!checkout.order) {
      const shipping = { name: $('co-name').value, line1: $('co-line1').value, city: $('co-city').value, postal_code: $('co-postal').value, country: $('co-country').value.toUpperCase() };
      localStorage.setItem('daihuo.shipping', JSON.stringify({ name: shipping.name, line1: shipping.line1, city: shipping.city, postal: shipping.postal_code, country: shipping.country }));
      const body = { stream_id: streamId, items: [{ variant_id: $('co-variant').value, quantity: Number($('co-qty').value) }], shipping };
      if (checkout.pin.flash) body.pin_id = checkout.pin.id;
      checkout.order = await api('/v1/orders', { method: 'POST', token, key: checkout.key, body });
      if (checkout.order.payment.provider !== 'local') {
        err.textContent = 'Order placed. Complete the payment with your card provider.';
        return;
      }
      showStep(checkout.order);
      return;
    }
    const pay = checkout.order.payment;
    await api(`/v1/payments/local/${encodeURIComponent(pay.intent_id)}/confirm`, { method: 'POST', body: { client_secret: pay.client_secret, card_number: $('co-card').value.replace(/\s+/g, '') } });
    const paid = await api(`/v1/orders/${checkout.order.id}`, { token });
    $('checkout').close();
    notice(paid.status === 'paid' ? `Paid ${formatMoney(paid.total)} — thank you!` : `Order ${paid.status.replace('_', ' ')}`);
  } catch (e2) {
    err.textContent = shopperMessage(e2);
  }
});

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
  if (o.status === 'pending_payment' && Date.parse(o.expires_at) > Date.now()) {
    const pay = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Pay' });
    pay.addEventListener('click', () => { $('orders').close(); resumeCheckout(o); });
    const cancel = Object.assign(document.createElement('button'), { type: 'button', className: 'secondary', textContent: 'Cancel order' });
    cancel.addEventListener('click', async () => {
      try {
        await api(`/v1/orders/${o.id}/cancel`, { method: 'POST', token: await shopperToken() });
        notice('Order cancelled: the units are back on sale.');
      } catch (err) {
        notice(shopperMessage(err));
      }
      showOrders();
    });
    const actions = Object.assign(document.createElement('div'), { className: 'actions' });
    actions.append(cancel, pay);
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
$('my-orders').addEventListener('click', showOrders);

setInterval(() => { if ([...state.pins.values()].some((p) => p.flash)) renderPins(); }, 1000);
connect();
