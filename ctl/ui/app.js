// The dashboard of cuttle's admin API.  Plain script, no library: the
// admin process serves these files from its binary.  The page polls the
// counters every second and follows /api/v1/events over a WebSocket to
// refresh the lists the moment something changes in them.
'use strict';

const $ = (id) => document.getElementById(id);
const TTLS = [['1h', '1 hour'], ['15m', '15 minutes'], ['1d', '1 day'], ['7d', '7 days'],
  ['0', 'until revoked']];
const SPARK = 60;

let ws = null;
let lastSeq = 0;
let running = false;
let prev = null;            // the counters of the last poll, to make rates
const history = {};         // listener -> connections/s over the last SPARK seconds
const timers = {};

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const kid of kids) e.append(kid instanceof Node ? kid : String(kid ?? ''));
  return e;
}

function td(label, content, cls) {
  return el('td', { 'data-label': label, class: cls }, content);
}

function say(msg) {
  $('message').textContent = msg || '';
}

// fetch() with the session cookie.  A 401 means the session has ended
// (its lifetime, its idle time, a logout elsewhere, a reload of cuttle):
// everything stops and the login comes back, saying so.
async function api(method, path, body) {
  const opt = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  if (r.status === 401) {
    if (running) showLogin('Your session has ended: log in again.');
    stop();
    throw new Error('not logged in');
  }
  const text = await r.text();
  let j = null;
  try { j = JSON.parse(text); } catch (e) { j = null; }
  if (!r.ok) throw new Error((j && j.error) || `${r.status} ${r.statusText}`);
  return j !== null ? j : text;
}

// Each action's answer goes to the message line; a list refreshes after it.
async function act(what, fn, then) {
  try {
    await fn();
    say('');
  } catch (e) {
    say(`${what}: ${e.message}`);
  }
  if (then) then();
}

/* ------------------------------------------------------------ overview */

function parseMetrics(text) {
  const m = {};
  for (const line of text.split('\n')) {
    const r = /^(cuttle_listener_(?:connections|requests|responses)_total)\{([^}]*)\} (\d+)/
      .exec(line);
    if (r === null) continue;
    const labels = {};
    for (const kv of r[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[kv[1]] = kv[2];
    const l = labels.listener;
    if (l === undefined) continue;
    m[l] = m[l] || { conns: 0, reqs: 0, err: 0 };
    const v = Number(r[3]);
    if (r[1] === 'cuttle_listener_connections_total') m[l].conns = v;
    else if (r[1] === 'cuttle_listener_requests_total') m[l].reqs = v;
    else if (labels.code === '5xx') m[l].err += v;
  }
  return m;
}

function spark(values) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', `0 0 ${SPARK - 1} 24`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${i + SPARK - values.length},${(23 - (v / max) * 22).toFixed(1)}`);
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', pts.join(' '));
  svg.append(line);
  return svg;
}

function rate(now, then, dt) {
  return then === undefined || now < then ? 0 : (now - then) / dt;
}

async function pollOverview() {
  const [st, text, ups] = await Promise.all([api('GET', '/api/v1/status'),
    api('GET', '/metrics'), api('GET', '/api/v1/upstreams')]);
  const m = parseMetrics(text);
  const t = performance.now() / 1000;
  let failures = 0;
  for (const u of ups.upstreams) for (const s of u.servers) failures += s.failures;
  const cur = { t, m, failures };
  $('version').textContent = `${st.version} · generation ${st.generation} · ` +
    `${st.workers.length} workers · up ${st.uptime_s} s`;
  const dt = prev ? Math.max(0.2, t - prev.t) : 1;
  let cps = 0, rps = 0, eps = 0, active = 0;
  const body = $('listeners').tBodies[0];
  body.replaceChildren();
  for (const l of st.listeners) {
    const c = m[l.name] || { conns: l.accepted || 0, reqs: l.requests || 0, err: 0 };
    const p = prev && prev.m[l.name];
    const lc = rate(c.conns, p && p.conns, dt), lr = rate(c.reqs, p && p.reqs, dt);
    const le = rate(c.err, p && p.err, dt);
    cps += lc; rps += lr; eps += le; active += l.active || 0;
    const h = history[l.name] = history[l.name] || [];
    if (prev) h.push(lc);
    if (h.length > SPARK) h.shift();
    body.append(el('tr', { 'data-listener': l.name },
      td('listener', l.name), td('mode', l.mode), td('address', l.listen),
      td('open', l.active ?? '-', 'num-cell'), td('conn/s', lc.toFixed(1), 'num-cell'),
      td('req/s', lr.toFixed(1), 'num-cell'), td('5xx/s', le.toFixed(1), 'num-cell'),
      td('last 60 s', spark(h))));
  }
  if (prev) eps += rate(failures, prev.failures, dt);
  prev = cur;
  $('t-cps').textContent = cps.toFixed(1);
  $('t-rps').textContent = rps.toFixed(1);
  $('t-err').textContent = eps.toFixed(1);
  $('t-active').textContent = active;
  renderServers(ups);
}

/* ------------------------------------------------------------- servers */

function renderServers(ups) {
  const body = $('servers').tBodies[0];
  body.replaceChildren();
  for (const u of ups.upstreams) {
    for (const s of u.servers) {
      const path = `/api/v1/upstreams/${encodeURIComponent(u.name)}/servers/` +
        `${encodeURIComponent(s.address)}/`;
      const btn = (action, label, cls) => el('button', {
        type: 'button', class: cls, 'data-action': action, disabled: s.admin === action ||
          (action === 'enable' && s.admin === 'enabled') ? '' : null,
        onclick: () => act(`${action} ${s.address}`, () => api('POST', path + action),
          refreshSoon),
      }, label);
      body.append(el('tr', { 'data-upstream': u.name, 'data-server': s.address },
        td('upstream', u.name), td('server', s.address),
        td('health', s.health + (s.reason ? ` (${s.reason})` : ''), s.health),
        td('state', s.admin, `st-${s.admin}`),
        td('latency', s.latency_ms !== null ? `${s.latency_ms.toFixed(1)} ms` : '-', 'num-cell'),
        td('open', s.active, 'num-cell'), td('total', s.total, 'num-cell'),
        td('failures', s.failures, 'num-cell'),
        td('', el('span', { class: 'actions' }, btn('enable', 'Enable', 'plain'),
          btn('drain', 'Drain', 'plain'), btn('disable', 'Disable', 'danger')))));
    }
  }
}

/* --------------------------------------------------------- connections */

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

async function refreshConnections() {
  const j = await api('GET', '/api/v1/connections?limit=200');
  const body = $('connections').tBodies[0];
  body.replaceChildren();
  for (const c of j.connections) {
    body.append(el('tr', { 'data-id': c.id, 'data-client': c.client },
      td('id', c.id), td('listener', c.listener), td('client', c.client),
      td('server', c.server ?? c.destination ?? '-'),
      td('age', `${(c.age_ms / 1000).toFixed(0)} s`, 'num-cell'),
      td('in', bytes(c.from_client), 'num-cell'), td('out', bytes(c.to_client), 'num-cell'),
      td('', el('button', { type: 'button', class: 'danger kill',
        onclick: () => act(`kill ${c.id}`, () => api('DELETE', `/api/v1/connections/${c.id}`),
          refreshSoon) }, 'Kill'))));
  }
  $('connections-empty').classList.toggle('hidden', j.connections.length > 0);
}

/* ----------------------------------------------------- pending, decide */

// "192.0.2.7:5555" or "[2001:db8::7]:5555" -> the address alone.
function hostOf(client) {
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(client);
  if (v6) return v6[1];
  return client.replace(/:\d+$/, '');
}

// The /24 of an IPv4 address, the /64 of an IPv6 one.
function networkOf(addr) {
  if (!addr.includes(':')) {
    const p = addr.split('.');
    return `${p[0]}.${p[1]}.${p[2]}.0/24`;
  }
  let [head, tail] = addr.includes('::') ? addr.split('::') : [addr, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === null ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}

function ttlSelect() {
  return el('select', { class: 'ttl' }, ...TTLS.map(([v, l]) => el('option', { value: v }, l)));
}

async function decide(address, verdict, ttl, listener, destination) {
  const body = { address, verdict, ttl, operator: 'dashboard' };
  if (listener) body.listener = listener;
  if (destination) body.destination = destination;
  await api('POST', '/api/v1/approvals/decisions', body);
}

// "example.com:443" or "[2001:db8::1]:443" -> its host alone, for "every port".
function destHost(dest) {
  const v6 = /^\[([^\]]+)\]:\d+$/.exec(dest);
  if (v6) return v6[1];
  return dest.replace(/:\d+$/, '');
}

// What a decision may name of a client's destination: that one, its host, or none.
function destSelect(dest) {
  if (!dest) return el('span', {}, 'every destination');
  return el('select', { class: 'dest' },
    el('option', { value: dest }, dest),
    el('option', { value: destHost(dest) }, `${destHost(dest)}, any port`),
    el('option', { value: '' }, 'every destination'));
}

async function refreshPending() {
  const j = await api('GET', '/api/v1/approvals/pending?limit=200');
  $('t-pending').textContent = j.total;
  const body = $('pending').tBodies[0];
  // A row being edited stays: only the rows of clients gone go, new ones come.
  const keep = new Map();
  for (const tr of [...body.rows]) keep.set(tr.dataset.id, tr);
  const seen = new Set();
  for (const c of j.pending) {
    const id = String(c.id);
    seen.add(id);
    if (keep.has(id)) {
      keep.get(id).querySelector('.age').textContent = `${(c.age_ms / 1000).toFixed(0)} s`;
      continue;
    }
    const addr = hostOf(c.client);
    const scope = el('select', { class: 'scope' },
      el('option', { value: addr }, addr),
      el('option', { value: networkOf(addr) }, networkOf(addr)),
      el('option', { value: '' }, 'CIDR…'));
    const cidr = el('input', { class: 'cidr hidden', placeholder: 'CIDR' });
    scope.addEventListener('change', () => cidr.classList.toggle('hidden', scope.value !== ''));
    const ttl = ttlSelect();
    const to = destSelect(c.destination);
    const go = (verdict) => act(`${verdict} ${addr}`,
      () => decide(scope.value || cidr.value.trim(), verdict, ttl.value, c.listener,
        to.tagName === 'SELECT' ? to.value : ''),
      refreshSoon);
    body.append(el('tr', { 'data-id': id, 'data-client': c.client },
      td('listener', c.listener), td('client', c.client),
      td('wants', c.destination ? `→ ${c.destination}` : (c.request ?? '')),
      td('waiting', `${(c.age_ms / 1000).toFixed(0)} s`, 'age num-cell'),
      td('scope', el('span', { class: 'actions' }, scope, cidr)), td('to', to), td('for', ttl),
      td('', el('span', { class: 'actions' },
        el('button', { type: 'button', class: 'approve', onclick: () => go('allow') }, 'Approve'),
        el('button', { type: 'button', class: 'danger deny', onclick: () => go('deny') },
          'Deny')))));
  }
  for (const [id, tr] of keep) if (!seen.has(id)) tr.remove();
  $('pending-empty').classList.toggle('hidden', j.pending.length > 0);
}

function when(epoch) {
  return epoch === null ? 'never' : new Date(epoch * 1000).toLocaleString();
}

async function refreshDecisions() {
  const j = await api('GET', '/api/v1/approvals/decisions');
  const body = $('decisions').tBodies[0];
  body.replaceChildren();
  for (const d of j.decisions) {
    const target = d.address.includes('/') ? d.address : `${d.address}/${d.prefix}`;
    const params = new URLSearchParams();
    if (d.listener !== null) params.set('listener', d.listener);
    params.set('destination', d.destination ?? '*');
    const q = params.toString() ? `?${params}` : '';
    body.append(el('tr', { 'data-address': d.address },
      td('address', d.address), td('verdict', d.verdict, d.verdict),
      td('listener', d.listener ?? 'all'), td('destination', d.destination ?? 'all'),
      td('expires', when(d.expires)),
      td('by', d.by ?? d.origin), td('note', d.note ?? ''),
      td('', el('button', { type: 'button', class: 'plain revoke',
        onclick: () => act(`revoke ${d.address}`,
          () => api('DELETE', `/api/v1/approvals/decisions/${target}${q}`), refreshSoon) },
        'Revoke'))));
  }
  $('decisions-empty').classList.toggle('hidden', j.decisions.length > 0);
}

/* -------------------------------------------------------------- events */

const REFRESH = {
  conn_open: ['connections'], conn_close: ['connections'], connections: ['connections'],
  pending: ['pending', 'connections'], decision: ['decisions', 'pending'],
  health: ['overview'], admin_state: ['overview'], reload: ['overview', 'decisions'],
  worker_exit: ['overview', 'connections'],
};
const LISTS = { connections: refreshConnections, pending: refreshPending,
  decisions: refreshDecisions, overview: pollOverview };

// Many events in a burst make one refresh of each list they touch.
function refresh(name, delay) {
  if (timers[name] || !running) return;
  timers[name] = setTimeout(() => {
    timers[name] = null;
    LISTS[name]().catch((e) => say(e.message));
  }, delay);
}

function refreshSoon() {
  for (const n of Object.keys(LISTS)) refresh(n, 50);
}

function logEvent(ev) {
  const li = el('li', {}, `${ev.time ? ev.time.slice(11, 23) : ''} ${ev.kind} ` +
    JSON.stringify(Object.fromEntries(Object.entries(ev)
      .filter(([k]) => !['seq', 'time', 'kind'].includes(k)))));
  const list = $('events');
  list.prepend(li);
  while (list.children.length > 100) list.lastChild.remove();
}

function connectEvents() {
  if (!running) return;
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const q = lastSeq > 0 ? `?since=${lastSeq}` : '';
  ws = new WebSocket(`${proto}://${location.host}/api/v1/events${q}`);
  ws.onopen = () => {
    $('live').textContent = 'live';
    $('live').className = 'badge on';
  };
  ws.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (e) { return; }
    if (ev.seq !== undefined && ev.kind !== 'restart' && ev.kind !== 'shutdown') lastSeq = ev.seq;
    if (ev.kind === 'restart') lastSeq = ev.seq;
    if (ev.kind !== 'hello') logEvent(ev);
    for (const name of REFRESH[ev.kind] || []) refresh(name, 100);
  };
  ws.onclose = () => {
    ws = null;
    $('live').textContent = 'offline';
    $('live').className = 'badge off';
    if (running) setTimeout(connectEvents, 1000);
  };
}

/* ------------------------------------------------------- login, start */

function showLogin(err) {
  $('app').classList.add('hidden');
  $('logout').classList.add('hidden');
  $('login').classList.remove('hidden');
  $('login-error').textContent = err;
  $('token').focus();
}

// What the login form says of a refused login.
function loginError(r) {
  if (r.status === 401) return 'Wrong token.';
  if (r.status === 429) {
    const after = Number(r.headers.get('Retry-After'));
    const when = after > 0 ? ` in ${after} s` : ' later';
    return `Too many wrong tokens from this address: try again${when}.`;
  }
  return `Login failed: ${r.status}`;
}

function stop() {
  running = false;
  if (ws) ws.close();
  for (const t of Object.values(timers)) clearTimeout(t);
}

async function start() {
  running = true;
  $('login').classList.add('hidden');
  $('app').classList.remove('hidden');
  $('logout').classList.remove('hidden');
  connectEvents();
  const tick = async () => {
    if (!running) return;
    try {
      await Promise.all([pollOverview(), refreshPending(), refreshConnections()]);
    } catch (e) {
      if (running) say(e.message);
    }
    // A safety net under the events: the lists are never more than 2 s old.
    if (running) setTimeout(tick, 1000);
  };
  await refreshDecisions().catch((e) => say(e.message));
  tick();
}

async function probe() {
  const r = await fetch('/api/v1/status', { credentials: 'same-origin' });
  if (r.status === 401) showLogin('');
  else start();
}

document.addEventListener('DOMContentLoaded', () => {
  $('decide-ttl').append(...TTLS.map(([v, l]) => el('option', { value: v }, l)));
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    let r;
    try {
      r = await fetch('/ui/login', { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token: $('token').value }) });
    } catch (err) {
      showLogin(`Login failed: ${err.message}`);
      return;
    }
    $('token').value = '';
    if (r.ok) start();
    else showLogin(loginError(r));
  });
  $('logout').addEventListener('click', async () => {
    stop();
    await fetch('/ui/logout', { method: 'POST', credentials: 'same-origin' });
    showLogin('Logged out.');
  });
  $('decide-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const verdict = e.submitter ? e.submitter.dataset.verdict : 'allow';
    act('decision', () => decide($('decide-address').value.trim(), verdict,
      $('decide-ttl').value, null), refreshSoon);
  });
  probe().catch((e) => showLogin(e.message));
});
