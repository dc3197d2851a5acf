// Usage (GET /v1/usage) and the audit log (GET /v1/audit-events). A
// deployment older than these routes answers 404, and the page says so.
import { h, svg, clear, table, when, notAvailable } from './ui.js';

const outcomes = [['admitted', 'Admitted'], ['rateLimited', 'Rate limited'], ['forbidden', 'Forbidden']];

// bars draws stacked bars: one per bucket, one segment per series, with a
// text alternative (the table under it).
function bars(title, buckets, series) {
  const W = 640, H = 180, pad = 24;
  const max = Math.max(1, ...buckets.map((b) => series.reduce((s, [k]) => s + b[k], 0)));
  const w = (W - pad) / Math.max(1, buckets.length);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H + 20}`, role: 'img', 'aria-label': title, class: 'chart' });
  g.append(svg('text', { x: 0, y: 12, class: 'axis' }, String(max)));
  buckets.forEach((b, i) => {
    let y = H;
    series.forEach(([k], j) => {
      const hgt = (b[k] / max) * (H - 16);
      if (hgt > 0) {
        y -= hgt;
        g.append(svg('rect', { x: pad + i * w + 1, y, width: Math.max(1, w - 2), height: hgt, class: `s${j}` },
          svg('title', {}, `${when(b.start)}: ${b[k]} ${series[j][1].toLowerCase()}`)));
      }
    });
  });
  if (buckets.length) g.append(svg('text', { x: pad, y: H + 16, class: 'axis' }, when(buckets[0].start)));
  return h('figure', {}, g,
    h('figcaption', {}, title, ' ', series.map(([, label], j) => h('span', { class: `key s${j}` }, label))));
}

export function usagePage(main, ctx) {
  const body = h('div');
  const gran = h('select', { id: 'granularity', onchange: () => load() },
    [['minute', 'Per minute (last hours)'], ['hour', 'Per hour (30 days)'], ['day', 'Per day (a year)']].map(([v, t]) => h('option', { value: v }, t)));
  gran.value = 'hour';
  const keySel = h('select', { id: 'usage-key', onchange: () => load() }, h('option', { value: '' }, 'All keys'));

  async function load() {
    let u;
    try {
      u = await ctx.api('GET', `/usage?granularity=${gran.value}${keySel.value ? `&keyId=${encodeURIComponent(keySel.value)}` : ''}`);
    } catch (e) {
      clear(body).append(e.status === 404 ? notAvailable('Usage', 'GET /v1/usage') : h('p', { class: 'error-text' }, `Could not load usage: ${e.message}`));
      return;
    }
    // Series hold one number per bucket, from u.from, u.stepSeconds apart.
    const t0 = Date.parse(u.from), step = u.stepSeconds * 1000;
    const at = (i) => new Date(t0 + i * step).toISOString();
    const s = u.series;
    const buckets = s.admitted.map((_, i) => ({ start: at(i), admitted: s.admitted[i], rateLimited: s.rateLimited[i], forbidden: s.forbidden[i] }));
    if (keySel.options.length === 1) for (const k of u.keys) keySel.append(h('option', { value: k.keyId }, k.keyId));
    const renders = u.renderSeconds.series.map((v, i) => ({ start: at(i), seconds: v }));
    clear(body).append(
      h('h2', {}, 'Requests by outcome'),
      buckets.length ? bars(`Requests per ${gran.value}${keySel.value ? ` of ${keySel.value}` : ''}`, buckets, outcomes) : h('p', { class: 'empty' }, 'No requests in this period.'),
      table('Requests by outcome', ['From', ...outcomes.map(([, t]) => t)],
        buckets.filter((b) => b.admitted + b.rateLimited + b.forbidden > 0).slice(-24).reverse().map((b) => [when(b.start), b.admitted, b.rateLimited, b.forbidden]), 'No requests in this period.'),
      h('h2', {}, 'Keys'),
      table('Usage by key', ['Key', 'Last used', ...outcomes.map(([, t]) => t)],
        u.keys.map((k) => [h('code', {}, k.keyId), k.lastUsedAt ? when(k.lastUsedAt) : 'never', k.requests.admitted, k.requests.rateLimited, k.requests.forbidden]), 'No key was used in this period.'),
      h('h2', {}, `Render seconds (${u.renderSeconds.total} in this period)`),
      u.renderSeconds.total > 0 ? bars(`Render seconds per ${gran.value}`, renders, [['seconds', 'Seconds']]) : h('p', { class: 'empty' }, 'No renders in this period.'));
  }

  main.append(
    h('p', { class: 'lede' }, `How the keys of the ${ctx.env} environment are used.`),
    h('div', { class: 'toolbar' },
      h('label', { class: 'inline', for: 'granularity' }, 'Period ', gran),
      h('label', { class: 'inline', for: 'usage-key' }, 'Key ', keySel)),
    body);
  load();
}

function who(v) {
  if (!v) return '—';
  if (typeof v === 'string') return v;
  return [v.type, v.id].filter(Boolean).join(' ') || JSON.stringify(v);
}

export function auditPage(main, ctx) {
  const body = h('div');
  const fields = ['action', 'actor', 'target'];
  const inputs = Object.fromEntries(fields.map((f) => [f, h('input', { id: `audit-${f}`, name: f, autocomplete: 'off' })]));
  let next = null;
  let events = [];

  async function load(more) {
    const q = new URLSearchParams({ limit: '50' });
    for (const f of fields) if (inputs[f].value.trim()) q.set(f, inputs[f].value.trim());
    let page;
    try {
      page = await ctx.api('GET', more ? next.replace(/^\/v1/, '') : `/audit-events?${q}`);
    } catch (e) {
      clear(body).append(e.status === 404 ? notAvailable('The audit log', 'GET /v1/audit-events') : h('p', { class: 'error-text' }, `Could not load the audit log: ${e.message}`));
      return;
    }
    events = more ? events.concat(page.data) : page.data;
    next = page.pagination && page.pagination.next;
    clear(body).append(
      table('Audit events', ['Time', 'Actor', 'Action', 'Target', 'Source'],
        events.map((e) => [when(e.occurredAt), who(e.actor), h('code', {}, e.action), who(e.target), e.sourceIp || '']),
        'No audit events match.'),
      next ? h('button', { type: 'button', onclick: () => load(true) }, 'Load more') : '');
  }

  main.append(
    h('p', { class: 'lede' }, `Every change in the ${ctx.env} environment: who did what, to what, when and from where.`),
    h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); load(); } },
      fields.map((f) => h('label', { class: 'inline', for: `audit-${f}` }, `${f[0].toUpperCase()}${f.slice(1)} `, inputs[f])),
      h('button', { type: 'submit' }, 'Filter')),
    body);
  load();
}
