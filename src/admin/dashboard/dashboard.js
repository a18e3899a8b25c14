// Ballast's dashboard page: follows /dashboard/events (Server-Sent Events) and draws pools, backends,
// charts and changes. Read-only. Every string from a manifest goes into the page as text
// (textContent, attribute values), never as markup: this file never uses innerHTML.
/* global document, window, EventSource */
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const HISTORY_POINTS = 300;
/** Pools start expanded when there are this few; collapsed beyond. */
const EXPAND_UP_TO = 6;

const state = {
  pools: [],
  changes: [],
  /** key -> chart points, appended by each update. */
  history: new Map(),
  /** key -> true/false once the user toggled a pool. */
  open: new Map(),
  /** key -> the pool's element. */
  views: new Map(),
  filter: '',
  generatedAt: undefined,
};

/** `el('div', { class: 'x' }, 'text', child)`: children are nodes or strings (as text). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null && c !== false) node.append(c instanceof window.Node ? c : String(c));
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

const fmt = {
  rps: (v) => (v === null || v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2).replace(/\.?0+$/, '') || '0'),
  ms: (v) => (v === null || v === undefined ? '–' : v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)} s` : v >= 10 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`),
  pct: (v) => (v === null || v === undefined ? '–' : v === 0 ? '0%' : v < 0.001 ? '<0.1%' : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`),
  clock: (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : ''),
  ago(iso) {
    if (!iso) return '';
    const s = Math.max(0, Math.round((now() - Date.parse(iso)) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  },
  left(iso) {
    const s = Math.max(0, Math.round((Date.parse(iso) - now()) / 1000));
    return `${s} s left`;
  },
};

/** The server's clock as of the latest update, so "ago" does not depend on the viewer's clock. */
function now() {
  return state.generatedAt ? Date.parse(state.generatedAt) : Date.now();
}

/** The pool's headline: what an operator must look at first. */
function poolHealth(p) {
  if (p.ready?.status !== 'True') return { level: 'bad', label: 'Not ready' };
  if (p.panic) return { level: 'bad', label: 'Panic' };
  if (p.degraded?.status === 'True') return { level: 'warn', label: 'Degraded' };
  if (p.listener && p.backends.length > 0 && p.serving < p.backends.filter((b) => b.state !== 'draining').length) return { level: 'warn', label: 'Partly serving' };
  return { level: 'ok', label: 'Ready' };
}

/** A backend's state, in words, with its level for color. */
function backendState(b, pool) {
  const panic = pool.panic && (b.state === 'ejected' || b.state === 'unhealthy') ? ' · gets traffic (panic)' : '';
  switch (b.state) {
    case 'active':
      return { level: 'ok', label: b.endpoint === 'terminating' ? 'serving (terminating fallback)' : 'serving' };
    case 'ejected':
      return { level: 'bad', label: `ejected by passive health${b.ejectedUntil ? ` until ${fmt.clock(b.ejectedUntil)}` : ''}${panic}` };
    case 'unhealthy':
      return { level: 'warn', label: `failing active checks${panic}` };
    case 'draining':
      return { level: 'muted', label: b.drainDeadline ? `draining, cut at ${fmt.clock(b.drainDeadline)} (${fmt.left(b.drainDeadline)})` : 'draining' };
    case 'planned':
      return { level: 'muted', label: `planned (no listener: NGINX only)${b.endpoint === 'terminating' ? ', terminating fallback' : ''}` };
    default:
      return { level: 'muted', label: String(b.state) };
  }
}

const EXCLUDED_REASONS = {
  NotReady: 'not ready',
  Terminating: 'terminating',
  Duplicate: 'duplicate',
  UnsupportedAddressType: 'unsupported address type',
};

function matches(p, q) {
  if (!q) return true;
  const words = [p.key, p.listener, p.algorithm, p.source, p.origin, poolHealth(p).label, ...Object.entries(p.annotations).flat(), ...p.backends.flatMap((b) => [b.backend, backendState(b, p).label]), ...p.excluded.map((e) => e.backend)];
  return words.some((w) => w && String(w).toLowerCase().includes(q));
}

function pill(level, text) {
  return el('span', { class: `pill ${level}` }, text);
}

function stat(label, value, cls) {
  return el('span', { class: `stat ${cls ?? ''}` }, el('span', { class: 'stat-label' }, label), el('span', { class: 'stat-value' }, value));
}

function summaryRow(p) {
  const h = poolHealth(p);
  const t = p.traffic;
  return [
    pill(h.level, h.label),
    el('span', { class: 'pool-name' }, el('span', { class: 'ns' }, `${p.namespace}/`), p.name),
    el('span', { class: 'chip' }, p.algorithm),
    el('span', { class: `listener ${p.listenerProblem ? 'bad-text' : ''}` }, p.listener ? `:${p.listener.split(':').pop()}` : 'no listener'),
    el(
      'span',
      { class: 'stats' },
      stat('backends', `${p.backendsReady}/${p.backendsTotal} ready${p.listener ? ` · ${p.serving} serving` : ''}`),
      stat('req/s', t ? fmt.rps(t.rps) : '–'),
      stat('errors', t ? fmt.pct(t.errorRate) : '–', t && t.errorRate > 0 ? 'bad-text' : ''),
      stat('p50', t ? fmt.ms(t.p50) : '–'),
      stat('p99', t ? fmt.ms(t.p99) : '–'),
      stat('changed', fmt.ago(p.lastChange)),
    ),
  ];
}

function conditionLine(type, c, good) {
  if (!c) return null;
  const ok = c.status === good;
  return el(
    'div',
    { class: 'condition' },
    pill(ok ? 'ok' : type === 'Degraded' ? 'warn' : 'bad', `${type}: ${c.status}`),
    el('span', { class: 'reason' }, c.reason),
    el('span', { class: 'message' }, c.message),
    el('span', { class: 'since' }, c.since ? `since ${fmt.clock(c.since)}` : ''),
  );
}

/** A small line chart of `series` over the last five minutes. */
function chart(title, points, series, unit) {
  const W = 300;
  const H = 70;
  const end = now();
  const start = end - HISTORY_POINTS * 1000;
  let max = 0;
  for (const p of points) for (const s of series) if (p[s.key] !== null && p[s.key] !== undefined) max = Math.max(max, p[s.key]);
  const top = max > 0 ? max * 1.15 : 1;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'chart-svg', role: 'img', 'aria-label': title });
  for (const f of [0.25, 0.5, 0.75]) root.append(svg('line', { x1: 0, x2: W, y1: H * f, y2: H * f, class: 'grid' }));
  for (const s of series) {
    let d = '';
    let pen = false;
    for (const p of points) {
      const v = p[s.key];
      if (v === null || v === undefined || p.t < start) {
        pen = false;
        continue;
      }
      const x = ((p.t - start) / (end - start)) * W;
      const y = H - (v / top) * (H - 2) - 1;
      d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
      pen = true;
    }
    if (d) root.append(svg('path', { d, class: `line ${s.cls}`, 'vector-effect': 'non-scaling-stroke' }));
  }
  const legend = el('div', { class: 'legend' }, ...series.map((s) => el('span', { class: `key ${s.cls}` }, s.label)));
  return el(
    'figure',
    { class: 'chart' },
    el('figcaption', {}, el('span', {}, title), el('span', { class: 'max' }, max > 0 ? `max ${unit(max)}` : 'no traffic')),
    root,
    el('div', { class: 'axis' }, el('span', {}, '−5 min'), legend, el('span', {}, 'now')),
  );
}

function backendsTable(p) {
  if (p.backends.length === 0) return el('p', { class: 'muted' }, 'No backend in rotation.');
  const head = el('tr', {}, ...['backend', 'weight', 'state', 'in-flight', 'req/s', 'errors', 'p50', 'p99'].map((h) => el('th', { scope: 'col' }, h)));
  const rows = p.backends.map((b) => {
    const s = backendState(b, p);
    const t = b.traffic;
    return el(
      'tr',
      { 'data-backend': b.backend, 'data-state': b.state },
      el('td', { class: 'mono' }, b.backend),
      el('td', { class: 'num' }, b.weight),
      el('td', {}, pill(s.level, s.label)),
      el('td', { class: 'num' }, b.state === 'planned' ? '–' : b.inFlight),
      el('td', { class: 'num' }, t ? fmt.rps(t.rps) : '–'),
      el(
        'td',
        { class: `num ${t && t.errors + t.failures > 0 ? 'bad-text' : ''}`, title: '5xx answers (recent share) + failed exchanges: connect failures, resets, timeouts, retried elsewhere or not' },
        t ? `${t.errors}${t.errorRate ? ` (${fmt.pct(t.errorRate)})` : ''}${t.failures ? ` + ${t.failures} failed` : ''}` : '–',
      ),
      el('td', { class: 'num' }, t ? fmt.ms(t.p50) : '–'),
      el('td', { class: 'num' }, t ? fmt.ms(t.p99) : '–'),
    );
  });
  return el('div', { class: 'table-wrap' }, el('table', { class: 'backends' }, el('thead', {}, head), el('tbody', {}, ...rows)));
}

function excludedList(p) {
  if (p.excluded.length === 0) return null;
  return el(
    'div',
    { class: 'excluded' },
    el('h4', {}, `Left out (${p.excluded.length})`),
    el('ul', {}, ...p.excluded.map((e) => el('li', { 'data-backend': e.backend }, el('span', { class: 'mono' }, e.backend), ' ', pill('muted', EXCLUDED_REASONS[e.reason] ?? e.reason)))),
  );
}

function poolBody(p) {
  const points = state.history.get(p.key) ?? [];
  const meta = el(
    'div',
    { class: 'meta' },
    el('span', {}, 'source ', el('b', {}, p.source), p.origin ? ` · ${p.origin}` : ''),
    el('span', {}, 'algorithm ', el('b', {}, p.algorithm)),
    el('span', {}, 'listener ', el('b', { class: 'mono' }, p.listener ?? 'none'), p.listener && !p.listening ? ' (not open)' : ''),
    p.generation !== undefined ? el('span', {}, 'generation ', el('b', {}, p.generation)) : null,
    el('span', {}, 'last change ', el('b', {}, fmt.clock(p.lastChange)), ` (${fmt.ago(p.lastChange)})`),
  );
  const annotations = Object.entries(p.annotations);
  return [
    meta,
    annotations.length > 0 ? el('dl', { class: 'annotations' }, ...annotations.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])) : null,
    p.listenerProblem ? el('div', { class: 'alert' }, el('b', {}, p.listenerProblem.reason), ' ', p.listenerProblem.message) : null,
    p.panic ? el('div', { class: 'alert' }, el('b', {}, 'Panic mode'), ' fewer than half of the backends are available (the others are ejected or failing their checks), so every backend gets traffic.') : null,
    el('div', { class: 'conditions' }, conditionLine('Ready', p.ready, 'True'), conditionLine('Degraded', p.degraded, 'False')),
    p.listener
      ? el(
          'div',
          { class: 'charts' },
          chart('Requests per second', points, [{ key: 'rps', label: 'req/s', cls: 's1' }], fmt.rps),
          chart('Latency', points, [
            { key: 'p50', label: 'p50', cls: 's1' },
            { key: 'p99', label: 'p99', cls: 's2' },
          ], fmt.ms),
        )
      : null,
    backendsTable(p),
    excludedList(p),
  ];
}

function renderPool(p, total) {
  let view = state.views.get(p.key);
  if (!view) {
    const summary = el('summary', {});
    const body = el('div', { class: 'body' });
    const details = el('details', { class: 'pool', 'data-pool': p.key }, summary, body);
    details.open = state.open.get(p.key) ?? total <= EXPAND_UP_TO;
    const created = { details, summary, body, pool: p };
    details.addEventListener('toggle', () => {
      state.open.set(p.key, details.open);
      if (details.open) body.replaceChildren(...poolBody(created.pool).filter(Boolean));
    });
    view = created;
    state.views.set(p.key, view);
  }
  view.pool = p;
  view.details.dataset.health = poolHealth(p).level;
  view.summary.replaceChildren(...summaryRow(p));
  view.details.hidden = !matches(p, state.filter);
  if (view.details.open && !view.details.hidden) view.body.replaceChildren(...poolBody(p).filter(Boolean));
  return view.details;
}

function render() {
  const list = document.getElementById('pools');
  const seen = new Set();
  const nodes = state.pools.map((p) => {
    seen.add(p.key);
    return renderPool(p, state.pools.length);
  });
  for (const key of [...state.views.keys()]) if (!seen.has(key)) state.views.delete(key);
  // Re-appending keeps each element (and its open state); only the order is applied.
  list.replaceChildren(...nodes);
  document.getElementById('empty').hidden = state.pools.length > 0;

  const counts = { ok: 0, warn: 0, bad: 0 };
  for (const p of state.pools) counts[poolHealth(p).level]++;
  const visible = state.pools.filter((p) => matches(p, state.filter)).length;
  document
    .getElementById('summary')
    .replaceChildren(
      el('span', {}, `${state.pools.length} pool${state.pools.length === 1 ? '' : 's'}`),
      pill('ok', `${counts.ok} ready`),
      counts.warn ? pill('warn', `${counts.warn} warning`) : '',
      counts.bad ? pill('bad', `${counts.bad} failing`) : '',
      state.filter ? el('span', { class: 'muted' }, `${visible} shown`) : '',
    );

  document.getElementById('changes').replaceChildren(
    ...state.changes.map((c) =>
      el(
        'li',
        { class: `change ${c.type === 'Warning' ? 'warning' : ''}` },
        el('div', { class: 'change-head' }, el('span', { class: 'reason' }, c.reason), el('time', { datetime: c.time, title: c.time }, fmt.clock(c.time))),
        el('div', { class: 'object mono' }, c.object),
        el('div', { class: 'message' }, c.message),
      ),
    ),
  );
}

function apply(view) {
  state.generatedAt = view.generatedAt;
  state.pools = view.pools;
  state.changes = view.changes;
  for (const p of view.pools) {
    const points = view.full ? [] : (state.history.get(p.key) ?? []);
    points.push(...p.history);
    if (points.length > HISTORY_POINTS) points.splice(0, points.length - HISTORY_POINTS);
    state.history.set(p.key, points);
  }
  for (const key of [...state.history.keys()]) if (!view.pools.some((p) => p.key === key)) state.history.delete(key);
  render();
}

function connect() {
  const conn = document.getElementById('conn');
  const text = document.getElementById('conn-text');
  const status = (s, label) => {
    conn.dataset.state = s;
    text.textContent = label;
  };
  const source = new EventSource('/dashboard/events');
  source.addEventListener('open', () => status('live', 'live'));
  source.addEventListener('error', () => status('down', 'reconnecting…'));
  source.addEventListener('snapshot', (e) => apply(JSON.parse(e.data)));
  source.addEventListener('update', (e) => {
    status('live', 'live');
    apply(JSON.parse(e.data));
  });
}

function init() {
  const filter = document.getElementById('filter');
  filter.addEventListener('input', () => {
    state.filter = filter.value.trim().toLowerCase();
    render();
  });
  const setAll = (open) => {
    for (const [key, view] of state.views) {
      if (view.details.hidden) continue;
      state.open.set(key, open);
      view.details.open = open;
    }
  };
  document.getElementById('expand').addEventListener('click', () => setAll(true));
  document.getElementById('collapse').addEventListener('click', () => setAll(false));
  connect();
}

document.addEventListener('DOMContentLoaded', init);
