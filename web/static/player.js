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
      const mm = String(Math.floor(left / 60)).padStart(2, '0'), ss = String(left % 60).padStart(2, '0');
      line.textContent = `⚡ ${pin.flash.remaining} left · ${mm}:${ss}`;
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

// Checkout: place the order (server prices, idempotent), then pay.
let checkout = null;
function openCheckout(pin) {
  const p = pin.product;
  checkout = { pin, key: crypto.randomUUID(), order: null };
  $('co-title').textContent = p.title;
  $('co-price').textContent = formatMoney(pin.flash ? pin.flash.price : p.variants[0].price) + (pin.flash ? ' ⚡ flash price' : '');
  $('co-variant').replaceChildren(...p.variants.map((v) => new Option(`${v.title} — ${formatMoney(pin.flash ? pin.flash.price : v.price)}`, v.id)));
  $('co-pay').hidden = true;
  $('co-error').textContent = '';
  $('co-submit').textContent = 'Place order';
  const saved = JSON.parse(localStorage.getItem('daihuo.shipping') || '{}');
  for (const f of ['name', 'line1', 'city', 'postal', 'country']) if (saved[f]) $('co-' + f).value = saved[f];
  $('checkout').showModal();
}

$('checkout-form').addEventListener('submit', async (e) => {
  if (e.submitter?.value === 'cancel') return;
  e.preventDefault();
  const err = $('co-error');
  err.textContent = '';
  try {
    const token = await shopperToken();
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
      $('co-pay').hidden = false;
      $('co-submit').textContent = 'Pay ' + formatMoney(checkout.order.total);
      return;
    }
    const pay = checkout.order.payment;
    await api(`/v1/payments/local/${encodeURIComponent(pay.intent_id)}/confirm`, { method: 'POST', body: { client_secret: pay.client_secret, card_number: $('co-card').value.replace(/\s+/g, '') } });
    const paid = await api(`/v1/orders/${checkout.order.id}`, { token });
    $('checkout').close();
    notice(paid.status === 'paid' ? `Paid ${formatMoney(paid.total)} — thank you!` : `Order ${paid.status}`);
  } catch (e2) {
    err.textContent = e2.message;
  }
});

setInterval(() => { if ([...state.pins.values()].some((p) => p.flash)) renderPins(); }, 1000);
connect();
