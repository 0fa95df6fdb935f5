// strand's dashboard: plain JavaScript, no framework and no build step.
// Live data comes from the gateway's Server-Sent Events, read with fetch so
// that the bearer token (if the gateway asks for one) goes in a header:
//   /v1/events  every task's changes   /v1/stream  queues and workers, each second
//   /v1/tasks/{id}/events and /items  one task's states and streamed items
'use strict';

const MAX_TASKS = 300;            // rows kept in the live list
const RATE_WINDOW = 10_000;       // ms over which in/s and done/s are counted
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'dead']);

// The token: ?token=T once (kept in this tab's sessionStorage), or the
// "token" button; sent as Authorization: Bearer T on every /v1 call.
let token = (() => {
  const params = new URLSearchParams(location.search);
  const t = params.get('token');
  if (t !== null) {
    sessionStorage.setItem('strand-token', t);
    params.delete('token');
    const q = params.toString();
    history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + location.hash);
  }
  return sessionStorage.getItem('strand-token') || '';
})();

function askToken() {
  const t = prompt('Bearer token for this gateway (empty for none):', token);
  if (t === null) return;
  token = t.trim();
  sessionStorage.setItem('strand-token', token);
  location.reload();
}

function authHeaders(extra) {
  const h = Object.assign({}, extra);
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

async function api(method, path, body) {
  const init = { method, headers: authHeaders(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: { kind: 'bad_response', message: text } }; }
  if (resp.status === 401) setConn('error', 'token needed');
  if (!resp.ok) {
    const err = new Error((data && data.error && data.error.message) || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return data;
}

// sse reads one Server-Sent Events stream until it ends, calling onEvent
// with each event's name and parsed data (and onOpen once it is connected:
// the gateway answers once it has subscribed).
async function sse(path, onEvent, signal, onOpen) {
  const resp = await fetch(path, { headers: authHeaders({ Accept: 'text/event-stream' }), signal, cache: 'no-store' });
  if (!resp.ok) {
    const err = new Error(path + ': ' + resp.status);
    err.status = resp.status;
    throw err;
  }
  if (onOpen) onOpen();
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}

// follow keeps an endless stream open, reconnecting after a pause.
async function follow(path, onEvent, onUp) {
  for (let pause = 500, first = true; ; pause = Math.min(pause * 2, 10_000), first = false) {
    try {
      await sse(path, (n, d) => { pause = 500; onEvent(n, d); }, undefined, () => onUp(true, first));
    } catch (e) {
      if (e.status === 401) { setConn('error', 'token needed'); return; }
    }
    onUp(false);
    await new Promise(r => setTimeout(r, pause));
  }
}

// --- small DOM helpers ---
const $ = sel => document.querySelector(sel);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}
function badge(status) { return el('span', { class: 'badge', 'data-status': status, text: status }); }
function shortID(id) { return id.length > 14 ? '…' + id.slice(-12) : id; }
function clock(t) { return t ? new Date(t).toLocaleTimeString() : ''; }
function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? s + 's' : s < 3600 ? Math.round(s / 60) + 'm' : Math.round(s / 3600) + 'h';
}
function pretty(v) { return v === undefined ? '' : JSON.stringify(v, null, 2); }
function emptyRow(tbody, cols, text) { tbody.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: cols, text }))); }

const live = { events: false, stream: false };
function setConn(state, text) { const c = $('#conn'); c.dataset.state = state; c.textContent = text; }
function updateConn() {
  if (live.events && live.stream) setConn('live', 'live');
  else if ($('#conn').dataset.state !== 'error') setConn('connecting', 'reconnecting');
}

// --- the live task list ---
const tasks = new Map(); // id → task: {id, status, func, queue, attempt, worker, error, args, kwargs, timeline, row}
const seen = { in: [], done: [] }; // [time, queue] of submissions and ends, for the rates

function rankOf(s) { return TERMINAL.has(s) ? 2 : s === 'pending' ? 0 : 1; }

// taskEvent folds one event into the task list; a late event never moves a
// task back (a pending write seen after its running state, for example).
function taskEvent(e, fromPage) {
  let t = tasks.get(e.id);
  const isNew = !t;
  if (isNew) {
    t = { id: e.id, status: e.status, timeline: [] };
    tasks.set(e.id, t);
  }
  const was = isNew ? null : t.status;
  for (const k of ['func', 'queue', 'args', 'kwargs', 'worker']) if (e[k] !== undefined && e[k] !== '') t[k] = e[k];
  if (e.args === undefined && fromPage) t.args = [];
  if (rankOf(e.status) >= rankOf(t.status)) {
    t.status = e.status;
    if (e.attempt) t.attempt = e.attempt;
    t.error = e.error;
    if (e.progress) t.progress = e.progress;
  }
  const when = e.time ? Date.parse(e.time) : Date.now();
  t.changed = when;
  const last = t.timeline[t.timeline.length - 1];
  if (!last || last.status !== e.status || (e.attempt && last.attempt !== e.attempt)) {
    t.timeline.push({ status: e.status, attempt: e.attempt, time: when, error: e.error });
  }
  if (isNew) seen.in.push([when, t.queue || 'default']);
  if (TERMINAL.has(t.status) && !TERMINAL.has(was || '')) seen.done.push([when, t.queue || 'default']);
  renderTask(t, isNew);
  if (isNew) trimTasks();
  if (detail.id === t.id) renderDetail();
  if (t.status === 'dead') scheduleDLQ();
  if (isNew && !t.func) fillInfo(t);
}

async function fillInfo(t) {
  try {
    const info = await api('GET', '/v1/tasks/' + encodeURIComponent(t.id));
    for (const k of ['func', 'queue', 'worker']) if (!t[k] && info[k]) t[k] = info[k];
    renderTask(t, false);
  } catch (e) { /* expired or gone: leave it */ }
}

async function refresh(t) {
  try {
    const info = await api('GET', '/v1/tasks/' + encodeURIComponent(t.id));
    taskEvent({ id: t.id, status: info.status, func: info.func, queue: info.queue, attempt: info.attempt, worker: info.worker, error: info.error });
  } catch (e) { /* expired or gone: leave it */ }
}

function renderTask(t, isNew) {
  const cells = [
    el('td', { class: 'id', title: t.id, text: shortID(t.id) }),
    el('td', {}, badge(t.status)),
    el('td', { text: t.func || '' }),
    el('td', { text: t.queue || '' }),
    el('td', { class: 'num', text: t.attempt || '' }),
    el('td', { class: 'id', text: t.worker || '' }),
    el('td', { title: new Date(t.changed).toISOString(), text: clock(t.changed) }),
  ];
  if (!t.row) {
    t.row = el('tr', { 'data-task-id': t.id });
    t.row.addEventListener('click', () => { location.hash = '#task/' + encodeURIComponent(t.id); });
    const tbody = $('#tasks tbody');
    const empty = tbody.querySelector('tr.empty');
    if (empty) empty.remove();
    tbody.prepend(t.row);
  }
  t.row.dataset.status = t.status;
  t.row.replaceChildren(...cells);
  if (isNew) t.row.classList.add('fresh');
  $('#tasks-count').textContent = tasks.size ? '(' + tasks.size + ')' : '';
}

function trimTasks() {
  if (tasks.size <= MAX_TASKS) return;
  for (const [id, t] of tasks) { // oldest first: the Map keeps insertion order
    if (tasks.size <= MAX_TASKS) break;
    if (id === detail.id) continue;
    t.row.remove();
    tasks.delete(id);
  }
}

// --- queues and workers, from /v1/stream ---
function rate(list, queue) {
  const since = Date.now() - RATE_WINDOW;
  while (list.length && list[0][0] < since) list.shift();
  const span = Math.min(RATE_WINDOW, Date.now() - started) / 1000;
  const n = list.filter(x => x[1] === queue).length;
  return span > 0 ? (n / Math.max(span, 1)).toFixed(1) : '0.0';
}
const started = Date.now();

function renderQueues(d) {
  const tbody = $('#queues tbody');
  const qs = d.queues || [];
  if (!qs.length) return emptyRow(tbody, 9, 'no queues yet');
  tbody.replaceChildren(...qs.map(q => el('tr', { 'data-queue': q.queue, 'data-paused': q.paused ? 'yes' : 'no', class: q.warning ? 'no-worker' : null, title: q.warning || null },
    el('td', { text: q.queue }),
    el('td', { class: 'num depth', text: q.depth }),
    el('td', { class: 'num', text: q.in_flight }),
    el('td', { class: 'num', text: q.redelivered }),
    el('td', { class: 'num', text: q.dead || 0 }),
    el('td', { class: 'num workers', text: q.workers || 0 }),
    el('td', { class: 'num', text: rate(seen.in, q.queue) }),
    el('td', { class: 'num', text: rate(seen.done, q.queue) }),
    el('td', { class: 'queue-actions' }, ...queueActions(q)),
  )));
}

// queueActions are the buttons of a queue's row.
function queueActions(q) { return [pauseButton(q)]; }

// pauseButton pauses or resumes a queue across the fleet.
function pauseButton(q) {
  const b = el('button', { class: 'pause', text: q.paused ? 'resume' : 'pause' });
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await api('POST', '/v1/queues/' + encodeURIComponent(q.queue) + (q.paused ? '/resume' : '/pause'));
      b.textContent = q.paused ? 'resuming…' : 'pausing…';
    } catch (e) {
      b.textContent = 'failed: ' + e.message;
    }
  });
  return b;
}

function renderWorkers(d) {
  const ws = d.workers || [];
  const tbody = $('#workers tbody');
  $('#workers-count').textContent = ws.length ? '(' + ws.length + ')' : '';
  const funcs = new Set();
  ws.forEach(w => (w.functions || []).forEach(f => funcs.add(f)));
  const dl = $('#funcs');
  if (dl.children.length !== funcs.size) dl.replaceChildren(...[...funcs].sort().map(f => el('option', { value: f })));
  if (!ws.length) return emptyRow(tbody, 5, 'no workers');
  tbody.replaceChildren(...ws.map(w => el('tr', { 'data-worker': w.id },
    el('td', { class: 'id', title: (w.host || '') + ' pid ' + (w.pid || ''), text: w.id }),
    el('td', { text: (w.queues || []).join(', ') }),
    el('td', { class: 'num', text: (w.in_flight || 0) + '/' + (w.concurrency || 0) }),
    el('td', { text: (w.functions || []).join(', ') }),
    el('td', { text: w.started ? ago(w.started) : '' }),
  )));
}

// --- dead letters ---
let dlqTimer = null;
const replayedDead = new Set(); // dead letters replayed from this page: their button stays 'replayed'
function scheduleDLQ() { clearTimeout(dlqTimer); dlqTimer = setTimeout(loadDLQ, 300); }
async function loadDLQ() {
  let d;
  try { d = await api('GET', '/v1/dlq'); } catch (e) { return; }
  const dead = d.tasks || [];
  $('#dlq-count').textContent = dead.length ? '(' + dead.length + ')' : '';
  const tbody = $('#dlq tbody');
  if (!dead.length) return emptyRow(tbody, 7, 'no dead tasks');
  tbody.replaceChildren(...dead.map(t => {
    const done = replayedDead.has(t.id);
    const btn = el('button', { class: 'replay', type: 'button', text: done ? 'replayed' : 'Replay' });
    btn.disabled = done;
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try {
        const ref = await api('POST', '/v1/dlq/' + encodeURIComponent(t.id) + '/replay');
        replayedDead.add(t.id);
        taskEvent({ id: ref.id, status: 'pending', func: t.func, queue: ref.queue }, true);
        btn.textContent = 'replayed';
        scheduleDLQ(); // a reload that ran meanwhile drew this row afresh
      } catch (e) { btn.textContent = e.message; btn.disabled = false; }
    });
    return el('tr', { 'data-dead-id': t.id },
      el('td', { class: 'id', title: t.id, text: shortID(t.id) }),
      el('td', { text: t.func }), el('td', { text: t.queue }),
      el('td', { class: 'num', text: t.attempts }),
      el('td', { text: (t.kind ? t.kind + ': ' : '') + t.error }),
      el('td', { text: clock(t.failed) }),
      el('td', {}, btn));
  }));
}

// --- schedules: each firing is one task, <name>-<unix second> ---
async function loadSchedules() {
  let d;
  try { d = await api('GET', '/v1/schedules'); } catch (e) { return; }
  const ss = d.schedules || [];
  $('#schedules-count').textContent = ss.length ? '(' + ss.length + ')' : '';
  const tbody = $('#schedules tbody');
  if (!ss.length) return emptyRow(tbody, 8, 'no schedules (strand schedule add NAME --every 30s FUNC …)');
  tbody.replaceChildren(...ss.map(s => {
    // The firings seen live since the page opened, then the last one the server keeps.
    const ids = [...tasks.keys()].filter(id => id.startsWith(s.name + '-') && /^\d+$/.test(id.slice(s.name.length + 1)));
    if (s.last_task && !ids.includes(s.last_task)) ids.push(s.last_task);
    ids.sort().reverse();
    const links = ids.slice(0, 5).map(id => {
      const t = tasks.get(id);
      return el('a', { href: '#task/' + encodeURIComponent(id), class: 'firing', title: t ? t.status : '', text: id.slice(s.name.length + 1) });
    });
    const btn = el('button', { type: 'button', class: 'pause', text: s.paused ? 'Resume' : 'Pause' });
    btn.addEventListener('click', async () => {
      btn.disabled = true;
      try { await api('POST', '/v1/schedules/' + encodeURIComponent(s.name) + (s.paused ? '/resume' : '/pause')); } catch (e) { btn.textContent = e.message; }
      loadSchedules();
    });
    return el('tr', { 'data-schedule': s.name },
      el('td', { text: s.name }),
      el('td', { text: s.spec + (s.tz ? ' (' + s.tz + ')' : '') }),
      el('td', { text: s.queue }), el('td', { text: s.func }),
      el('td', { class: 'next-run', text: s.paused ? 'paused' : clock(s.next_run) }),
      el('td', { text: clock(s.last_run) }),
      el('td', { class: 'firings' }, ...links),
      el('td', {}, btn));
  }));
}

// --- submit ---
async function submit(ev) {
  ev.preventDefault();
  const msg = $('#submit-msg');
  msg.className = 'msg';
  const body = { func: $('#f-func').value.trim() };
  try {
    const args = $('#f-args').value.trim();
    body.args = args ? JSON.parse(args) : [];
    if (!Array.isArray(body.args)) throw new Error('args: want a JSON array');
    const kwargs = $('#f-kwargs').value.trim();
    if (kwargs) body.kwargs = JSON.parse(kwargs);
  } catch (e) {
    msg.className = 'msg error';
    msg.textContent = e.message;
    return;
  }
  const queue = $('#f-queue').value.trim();
  const timeout = $('#f-timeout').value.trim();
  if (queue) body.queue = queue;
  if (timeout) body.timeout = timeout;
  try {
    const ref = await api('POST', '/v1/tasks', body);
    taskEvent({ id: ref.id, status: 'pending', func: body.func, queue: ref.queue, args: body.args, kwargs: body.kwargs }, true);
    msg.replaceChildren('submitted ', el('a', { href: '#task/' + encodeURIComponent(ref.id), 'data-task-id': ref.id, text: ref.id }));
  } catch (e) {
    msg.className = 'msg error';
    msg.textContent = e.message;
  }
}

// --- a task's detail: #task/<id> ---
const detail = { id: null, abort: null, info: null, outcome: null, items: [] };

function openDetail(id) {
  if (detail.abort) detail.abort.abort();
  Object.assign(detail, { id, abort: new AbortController(), info: null, outcome: null, items: [] });
  $('#detail').hidden = false;
  $('#d-items').replaceChildren();
  $('#d-items-count').textContent = '';
  $('#d-result').textContent = '…';
  renderDetail();
  const signal = detail.abort.signal;
  const path = '/v1/tasks/' + encodeURIComponent(id);
  sse(path + '/events', (name, d) => {
    if (detail.id !== id) return;
    if (name === 'status') {
      detail.info = Object.assign(detail.info || {}, d);
      taskEvent({ id, status: d.status, func: d.func, queue: d.queue, attempt: d.attempt, worker: d.worker, error: d.error, progress: d.progress });
    } else if (name === 'outcome') {
      detail.outcome = d;
      taskEvent({ id, status: d.status, attempt: d.attempt, worker: d.worker, error: d.error, time: d.finished });
    }
    renderDetail();
  }, signal).catch(e => { if (!signal.aborted) showDetailError(e); });
  sse(path + '/items', (name, d) => {
    if (detail.id !== id) return;
    if (name === 'item') {
      detail.items.push(d);
      $('#d-items').append(el('li', { 'data-item': d.n, text: JSON.stringify(d.value) }));
      $('#d-items-count').textContent = '(' + detail.items.length + ')';
    } else if (name === 'end' && !detail.outcome) {
      detail.outcome = d;
      renderDetail();
    }
  }, signal).catch(() => {});
}

function showDetailError(e) {
  $('#d-result').textContent = e.status === 404 ? 'no such task (never submitted, or expired)' : String(e.message);
}

function closeDetail() {
  if (detail.abort) detail.abort.abort();
  detail.id = null;
  $('#detail').hidden = true;
}

function renderDetail() {
  const id = detail.id;
  if (!id) return;
  const t = tasks.get(id) || { id, timeline: [] };
  const info = detail.info || {};
  const status = t.status || info.status || 'unknown';
  $('#d-id').textContent = id;
  const b = $('#d-status');
  b.dataset.status = status;
  b.textContent = status;
  $('#detail').dataset.status = status;
  $('#d-cancel').hidden = TERMINAL.has(status);
  const fields = [
    ['func', t.func || info.func], ['queue', t.queue || info.queue],
    ['args', t.args !== undefined ? JSON.stringify(t.args) : '(not seen by this page)'],
    ['kwargs', t.kwargs !== undefined ? JSON.stringify(t.kwargs) : ''],
    ['attempt', t.attempt || info.attempt], ['worker', t.worker || info.worker],
    ['created', info.created], ['started', info.started], ['finished', (detail.outcome || {}).finished || info.finished],
  ];
  if (info.meta) fields.push(['meta', JSON.stringify(info.meta)]);
  $('#d-fields').replaceChildren(...fields.filter(f => f[1]).flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: String(v) })]));
  const p = t.progress || info.progress;
  const bar = $('#d-progress');
  bar.hidden = !p;
  if (p) {
    const pct = p.total ? Math.min(100, Math.round(100 * p.done / p.total)) : 0;
    if (TERMINAL.has(status) && status === 'completed') bar.querySelector('.bar').style.width = '100%';
    else bar.querySelector('.bar').style.width = pct + '%';
    bar.querySelector('.label').textContent = p.done + (p.total ? ' / ' + p.total : '') + (p.note ? ' · ' + p.note : '');
  }
  $('#d-timeline').replaceChildren(...t.timeline.map(s => el('li', { 'data-status': s.status },
    badge(s.status), s.attempt ? ' attempt ' + s.attempt : '', s.error ? ' — ' + s.error.kind + ': ' + s.error.message : '',
    el('time', { text: clock(s.time) }))));
  const o = detail.outcome;
  if (o) {
    $('#d-result').textContent = o.error ? o.error.kind + ': ' + o.error.message : pretty(o.result === undefined ? null : o.result);
  } else if (!TERMINAL.has(status)) {
    $('#d-result').textContent = 'waiting for the outcome…';
  }
}

// --- browse and search: #browse?status=failed&queue=… ---
const browse = { query: null, cursors: [], cursor: '', next: '', page: [], selected: new Map() };
const FILTERS = [['status', '#b-status'], ['queue', '#b-queue'], ['func', '#b-func'], ['id', '#b-id'], ['meta', '#b-meta'], ['error', '#b-error']];

function filterParams() {
  const p = new URLSearchParams();
  for (const [k, sel] of FILTERS) { const v = $(sel).value.trim(); if (v) p.set(k, v); }
  return p;
}

function filterBody(p) {
  const f = {};
  for (const [k] of FILTERS) {
    const v = p.get(k);
    if (!v) continue;
    if (k === 'meta') { const i = v.indexOf('='); f.meta = { [v.slice(0, i)]: v.slice(i + 1) }; } else f[k] = v;
  }
  return f;
}

async function loadBrowse() {
  const p = new URLSearchParams(browse.query);
  p.set('limit', '50');
  if (browse.cursor) p.set('cursor', browse.cursor);
  const msg = $('#b-msg');
  msg.className = 'msg';
  let page;
  try { page = await api('GET', '/v1/tasks?' + p.toString()); } catch (e) {
    msg.className = 'msg error';
    msg.textContent = e.message;
    return;
  }
  browse.next = page.next || '';
  browse.page = page.tasks || [];
  $('#b-info').textContent = '(' + browse.page.length + ' shown, ' + page.scanned + ' records read' + (page.partial ? '; the scan bound stopped this page: older ones may match' : '') + ')';
  $('#b-older').disabled = !browse.next;
  $('#b-newer').disabled = !browse.cursors.length;
  renderBrowse();
}

function renderBrowse() {
  const tbody = $('#browse tbody');
  if (!browse.page.length) return emptyRow(tbody, 8, 'no tasks match');
  tbody.replaceChildren(...browse.page.map(t => {
    const box = el('input', { type: 'checkbox', class: 'pick' });
    box.checked = browse.selected.has(t.id);
    box.addEventListener('click', ev => {
      ev.stopPropagation();
      if (box.checked) browse.selected.set(t.id, t.queue); else browse.selected.delete(t.id);
      updateSelected();
    });
    const tr = el('tr', { 'data-task-id': t.id, 'data-status': t.status },
      el('td', {}, box),
      el('td', { class: 'id', title: t.id, text: shortID(t.id) }),
      el('td', {}, badge(t.status)),
      el('td', { text: t.func || '' }),
      el('td', { text: t.queue }),
      el('td', { class: 'num', text: t.attempt || '' }),
      el('td', { title: t.at, text: t.at ? ago(Date.parse(t.at)) + ' ago' : '' }),
      el('td', { class: 'err', text: t.error ? t.error.kind + ': ' + t.error.message : '' }));
    tr.addEventListener('click', () => { location.hash = '#task/' + encodeURIComponent(t.id); });
    return tr;
  }));
  updateSelected();
}

function updateSelected() {
  const n = browse.selected.size;
  $('#b-selected').textContent = n ? n + ' selected' : 'none selected';
  for (const b of document.querySelectorAll('.bulk .act[data-scope="selected"]')) b.disabled = !n;
  $('#b-all').checked = browse.page.length > 0 && browse.page.every(t => browse.selected.has(t.id));
}

// act asks for a confirmation (with a dry run: what a filter selects), then
// does the action and shows what it did.
async function act(action, scope) {
  const msg = $('#b-msg');
  msg.className = 'msg';
  const body = { action };
  if (scope === 'selected') body.tasks = [...browse.selected].map(([id, queue]) => ({ id, queue }));
  else body.filter = filterBody(new URLSearchParams(browse.query));
  let n = body.tasks ? body.tasks.length : 0;
  if (!body.tasks) {
    try { n = (await api('POST', '/v1/tasks/actions', Object.assign({ dry_run: true }, body))).matched; } catch (e) {
      msg.className = 'msg error';
      msg.textContent = e.message;
      return;
    }
  }
  if (!n) { msg.textContent = 'no task to ' + action; return; }
  $('#confirm-text').textContent = action[0].toUpperCase() + action.slice(1) + ' ' + n + ' task' + (n === 1 ? '' : 's') + '?';
  const box = $('#confirm');
  box.dataset.action = action;
  box.hidden = false;
  const ok = await new Promise(resolve => {
    $('#confirm-yes').onclick = () => resolve(true);
    $('#confirm-no').onclick = () => resolve(false);
  });
  box.hidden = true;
  if (!ok) return;
  try {
    const rep = await api('POST', '/v1/tasks/actions', body);
    msg.dataset.done = rep.done;
    msg.textContent = action + ': ' + rep.done + ' done' + (rep.failed ? ', ' + rep.failed + ' refused (' + rep.results.filter(r => !r.ok).map(r => r.error.message)[0] + ')' : '');
    for (const r of rep.results) if (r.new_id) taskEvent({ id: r.new_id, status: 'pending', queue: r.queue }, true);
    browse.selected.clear();
    setTimeout(loadBrowse, 300);
  } catch (e) {
    msg.className = 'msg error';
    msg.textContent = e.message;
  }
}

function showBrowse(query) {
  if (query === browse.query && browse.page.length) return;
  browse.query = query;
  browse.cursors = [];
  browse.cursor = '';
  browse.selected.clear();
  const p = new URLSearchParams(query);
  for (const [k, sel] of FILTERS) $(sel).value = p.get(k) || '';
  loadBrowse();
}

// --- charts: #charts ---
const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// chart draws series (arrays of numbers, one per minute) as bars (the
// first ones, stacked) or lines, scaled to their largest value.
function chart(title, minutes, series, kind) {
  const W = 300, H = 90, n = minutes.length;
  const sums = minutes.map((_, i) => series.reduce((a, s) => a + s.values[i], 0));
  const top = Math.max(1, ...(kind === 'bars' ? sums : series.flatMap(s => s.values)));
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': title });
  const x = i => (i / n) * W, y = v => H - (v / top) * (H - 4);
  const base = minutes.map(() => 0); // bars stack: each series on the ones before
  series.forEach(s => {
    if (kind === 'bars') {
      s.values.forEach((v, i) => {
        if (!v) return;
        g.append(svg('rect', { x: x(i) + 0.5, y: y(base[i] + v), width: Math.max(1, W / n - 1), height: y(base[i]) - y(base[i] + v), fill: s.color, class: 'bar' }));
        base[i] += v;
      });
    } else {
      const pts = s.values.map((v, i) => `${x(i) + W / n / 2},${y(v)}`).join(' ');
      g.append(svg('polyline', { points: pts, fill: 'none', stroke: s.color, 'stroke-width': 1.5 }));
    }
  });
  const fmt = v => kind === 'bars' ? String(v) : v >= 1000 ? (v / 1000).toFixed(1) + 's' : v.toFixed(v < 10 ? 1 : 0) + 'ms';
  return el('div', { class: 'chart', 'data-chart': title },
    el('div', { class: 'title', text: title + ' · max ' + fmt(top) }), g,
    el('div', { class: 'legend' }, ...series.flatMap(s => [el('span', { class: s.cls, text: '■ ' + s.name }), ' '])));
}

async function loadCharts() {
  let d;
  try { d = await api('GET', '/v1/stats?minutes=60'); } catch (e) { $('#c-info').textContent = e.message; return; }
  $('#c-info').textContent = '(' + d.scanned + ' outcomes read' + (d.partial ? '; bound reached: the oldest minutes are short' : '') + ')';
  const box = $('#charts');
  const qs = (d.queues || []).filter(q => q.minutes.some(m => m.processed));
  if (!qs.length) return box.replaceChildren(el('p', { class: 'empty', text: 'no outcomes in the last hour' }));
  box.replaceChildren(...qs.map(q => {
    const m = q.minutes;
    const done = m.map(x => x.processed - x.failed), failed = m.map(x => x.failed);
    const total = m.reduce((a, x) => a + x.processed, 0);
    return el('div', { class: 'charts-queue', 'data-queue': q.queue },
      el('h3', { text: q.queue + ' · ' + total + ' processed in the hour' }),
      el('div', { class: 'chart-row' },
        chart('processed per minute', m, [{ name: 'ok', values: done, color: '#1f9d55', cls: 'ok' }, { name: 'failed', values: failed, color: '#d33a2c', cls: 'bad' }], 'bars'),
        chart('queue wait', m, [{ name: 'p50', values: m.map(x => x.wait_p50_ms || 0), color: '#2f6fdb', cls: 'p50' }, { name: 'p99', values: m.map(x => x.wait_p99_ms || 0), color: '#c98a00', cls: 'p99' }], 'lines'),
        chart('run time', m, [{ name: 'p50', values: m.map(x => x.run_p50_ms || 0), color: '#2f6fdb', cls: 'p50' }, { name: 'p99', values: m.map(x => x.run_p99_ms || 0), color: '#c98a00', cls: 'p99' }], 'lines')));
  }));
}

// --- a workflow's graph, #flow/<id>: steps in columns by depth, edges from
// each step to those that run after it, each node coloured by its status,
// updated live from the task events of its steps (ids <flow id>=<step>)
// and reread every second until the workflow ends.
const flow = { id: null, nodes: new Map(), timer: null, status: null };
const FLOW_END = new Set(['completed', 'failed', 'cancelled']);

async function openFlow(id) {
  closeFlow();
  flow.id = id;
  $('#flow').hidden = false;
  $('#w-id').textContent = id;
  $('#w-msg').textContent = '';
  $('#w-graph').replaceChildren();
  await loadFlow();
  flow.timer = setInterval(() => { if (!FLOW_END.has(flow.status)) loadFlow(); }, 1000);
}

function closeFlow() {
  if (flow.timer) clearInterval(flow.timer);
  Object.assign(flow, { id: null, nodes: new Map(), timer: null, status: null });
  $('#flow').hidden = true;
}

async function loadFlow() {
  const id = flow.id;
  let st;
  try { st = await api('GET', '/v1/flows/' + encodeURIComponent(id)); } catch (e) {
    if (flow.id === id) $('#w-msg').textContent = e.status === 404 ? 'no workflow ' + id : e.message;
    return;
  }
  if (flow.id !== id) return;
  flow.status = st.status;
  $('#flow').dataset.status = st.status;
  $('#w-status').replaceWith(Object.assign(badge(st.status), { id: 'w-status' }));
  $('#w-failed').textContent = st.failed_step ? 'at step ' + st.failed_step + (st.error ? ': ' + st.error.message : '') : '';
  if (flow.nodes.size !== st.steps.length) drawFlow(st.steps);
  for (const s of st.steps) setStep(s.name, s.status, s.result);
}

function drawFlow(steps) {
  const depth = new Map();
  const byName = new Map(steps.map(s => [s.name, s]));
  const d = name => {
    if (depth.has(name)) return depth.get(name);
    depth.set(name, 0); // a cycle cannot be submitted; this only guards the walk
    const s = byName.get(name);
    const v = s && s.after && s.after.length ? 1 + Math.max(...s.after.map(d)) : 0;
    depth.set(name, v);
    return v;
  };
  const cols = [];
  for (const s of steps) (cols[d(s.name)] ||= []).push(s);
  const W = 150, H = 44, GX = 60, GY = 14, PAD = 10;
  const pos = new Map();
  cols.forEach((col, x) => col.forEach((s, y) => pos.set(s.name, { x: PAD + x * (W + GX), y: PAD + y * (H + GY) })));
  const width = PAD * 2 + cols.length * (W + GX) - GX;
  const height = PAD * 2 + Math.max(...cols.map(c => c.length)) * (H + GY) - GY;
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  const mk = (tag, attrs) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };
  for (const s of steps) for (const p of s.after || []) {
    const a = pos.get(p), b = pos.get(s.name);
    if (!a || !b) continue;
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
    svg.append(mk('path', { class: 'edge', d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
  }
  flow.nodes = new Map();
  for (const s of steps) {
    const p = pos.get(s.name);
    const g = mk('g', { class: 'node', 'data-step': s.name, 'data-task-id': s.task_id, 'data-status': s.status, transform: `translate(${p.x},${p.y})` });
    const title = mk('title', {});
    title.textContent = s.task_id;
    const label = mk('text', { x: 8, y: 18 });
    label.textContent = s.name + ' · ' + s.func;
    const st = mk('text', { x: 8, y: 35, class: 'st' });
    g.append(title, mk('rect', { width: W, height: H }), label, st);
    g.addEventListener('click', () => { location.hash = '#task/' + encodeURIComponent(s.task_id); });
    svg.append(g);
    flow.nodes.set(s.name, { g, st });
  }
  $('#w-graph').replaceChildren(svg);
}

function setStep(name, status, result) {
  const n = flow.nodes.get(name);
  if (!n) return;
  n.g.setAttribute('data-status', status);
  let text = status;
  if (status === 'completed' && result !== undefined) {
    const r = JSON.stringify(result);
    text += ' → ' + (r.length > 14 ? r.slice(0, 13) + '…' : r);
  }
  n.st.textContent = text;
}

// flowTaskEvent moves a step of the open workflow as its task changes.
function flowTaskEvent(ev) {
  if (!flow.id || !ev.id || !ev.id.startsWith(flow.id + '=')) return;
  setStep(ev.id.slice(flow.id.length + 1), ev.status);
  if (TERMINAL.has(ev.status)) loadFlow(); // its result, and the steps it released
}

// --- routing by hash: #tasks, #browse?…, #charts, #dlq, #task/<id>, #flow/<id> ---
function route() {
  const h = location.hash;
  $('#dlq-section').hidden = h !== '#dlq';
  if (h === '#dlq') loadDLQ();
  if (h.startsWith('#flow/')) {
    const id = decodeURIComponent(h.slice(6));
    if (id !== flow.id) openFlow(id);
    $('#flow').scrollIntoView({ block: 'nearest' });
  } else if (flow.id && !h.startsWith('#task/')) {
    closeFlow();
  }
  const inBrowse = h === '#browse' || h.startsWith('#browse?');
  $('#browse-section').hidden = !inBrowse;
  if (inBrowse) showBrowse(h.slice(8).replace(/^\?/, ''));
  $('#charts-section').hidden = h !== '#charts';
  if (h === '#charts') loadCharts();
  $('#schedules-section').hidden = h !== '#schedules';
  if (h === '#schedules') loadSchedules();
  if (h.startsWith('#task/')) {
    const id = decodeURIComponent(h.slice(6));
    if (id !== detail.id) openDetail(id);
    $('#detail').scrollIntoView({ block: 'nearest' });
  } else if (detail.id) {
    closeDetail();
  }
}

function main() {
  $('#token-btn').addEventListener('click', askToken);
  $('#submit-form').addEventListener('submit', submit);
  $('#d-cancel').addEventListener('click', async () => {
    try { await api('DELETE', '/v1/tasks/' + encodeURIComponent(detail.id)); } catch (e) { $('#d-result').textContent = e.message; }
  });
  window.addEventListener('hashchange', route);
  $('#flow-open').addEventListener('submit', e => {
    e.preventDefault();
    const id = $('#flow-id').value.trim();
    if (id) location.hash = '#flow/' + encodeURIComponent(id);
  });
  $('#w-cancel').addEventListener('click', async () => {
    try { await api('DELETE', '/v1/flows/' + encodeURIComponent(flow.id)); loadFlow(); } catch (e) { $('#w-msg').textContent = e.message; }
  });
  $('#browse-form').addEventListener('submit', ev => {
    ev.preventDefault();
    browse.query = null; // search again even when the filter is the same
    const q = filterParams().toString();
    if (location.hash === '#browse?' + q || (!q && location.hash === '#browse')) route();
    else location.hash = '#browse' + (q ? '?' + q : '');
  });
  $('#b-older').addEventListener('click', () => { browse.cursors.push(browse.cursor); browse.cursor = browse.next; loadBrowse(); });
  $('#b-newer').addEventListener('click', () => { browse.cursor = browse.cursors.pop() || ''; loadBrowse(); });
  $('#b-all').addEventListener('change', () => {
    for (const t of browse.page) if ($('#b-all').checked) browse.selected.set(t.id, t.queue); else browse.selected.delete(t.id);
    renderBrowse();
  });
  for (const b of document.querySelectorAll('.bulk .act')) b.addEventListener('click', () => act(b.dataset.action, b.dataset.scope));
  $('#dlq-replay-all').addEventListener('click', async () => {
    try {
      const rep = await api('POST', '/v1/dlq/replay');
      for (const r of rep.results) if (r.new_id) taskEvent({ id: r.new_id, status: 'pending', queue: r.queue }, true);
    } catch (e) { /* shown by the reload */ }
    loadDLQ();
  });
  setInterval(() => { if (location.hash === '#charts') loadCharts(); }, 15_000);
  follow('/v1/events', (name, d) => { if (name === 'task') { taskEvent(d); flowTaskEvent(d); } },
    (up, first) => {
      live.events = up;
      updateConn();
      // Changes made while the stream was down were not sent: reread the tasks still going.
      if (up && !first) for (const t of tasks.values()) if (!TERMINAL.has(t.status)) refresh(t);
    });
  follow('/v1/stream', (name, d) => {
    if (name === 'queues') renderQueues(d);
    else if (name === 'workers') renderWorkers(d);
  }, up => { live.stream = up; updateConn(); });
  loadDLQ();
  setInterval(loadDLQ, 10_000);
  loadSchedules();
  setInterval(() => { if (location.hash === '#schedules') loadSchedules(); }, 2_000);
  route();
}

main();
