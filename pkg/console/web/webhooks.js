// Webhooks: endpoints, each one's delivery log with every attempt,
// redeliver, send a test event, rotate the signing secret.
import { h, clear, table, when, say, sayError, confirm, showSecret } from './ui.js';

export function webhooksPage(main, ctx) {
  const list = h('div');
  const log = h('section', { class: 'deliveries', 'aria-labelledby': 'log-title', hidden: true });
  let current = null;

  async function load() {
    try {
      const page = await ctx.api('GET', '/webhooks?limit=100');
      clear(list).append(endpointTable(page.data));
    } catch (e) {
      clear(list).append(h('p', { class: 'error-text' }, `Could not load the endpoints: ${e.message}`));
    }
  }

  function endpointTable(eps) {
    return table('Webhook endpoints', ['Endpoint', 'Events', 'State', 'Secret', 'Actions'],
      eps.map((e) => [
        h('span', { class: 'url' }, e.url || 'each video\'s webhookUrl', e.description ? h('small', {}, e.description) : ''),
        e.events.join(', '),
        e.enabled ? h('span', { class: 'badge active' }, 'enabled') : h('span', { class: 'badge failed' }, `disabled${e.disabledReason ? `: ${e.disabledReason}` : ''}`),
        h('code', {}, e.secretPreview),
        h('div', { class: 'row-actions' },
          h('button', { type: 'button', onclick: () => openLog(e) }, 'Deliveries'),
          e.kind === 'endpoint' ? h('button', { type: 'button', onclick: () => sendTest(e) }, 'Send test') : '',
          h('button', { type: 'button', onclick: () => rotate(e) }, 'Rotate secret')),
      ]), 'No webhook endpoints: add one with POST /v1/webhooks.');
  }

  async function sendTest(e) {
    try {
      const t = await ctx.api('POST', `/webhooks/${encodeURIComponent(e.id)}/test`, {});
      say(`Sent a webhook.test event (${t.eventId}) to ${e.url}.`);
      if (current && current.id === e.id) setTimeout(loadLog, 1500);
    } catch (err) {
      sayError(err, 'Sending the test event');
    }
  }

  async function rotate(e) {
    if (!await confirm('Rotate the signing secret?', 'A new secret signs every delivery from now on; for 24 hours deliveries also carry a signature with the old one, so receivers can switch over.', 'Rotate secret')) return;
    try {
      const r = await ctx.api('POST', `/webhooks/${encodeURIComponent(e.id)}/rotate-secret`, {});
      await showSecret('The new signing secret', `Secret of ${r.url || r.id}`, r.secret, 'Copy it now: this is the only time it is shown.');
      say(`Rotated the secret of ${r.url || r.id}.`);
    } catch (err) {
      sayError(err, 'Rotating the secret');
    }
    load();
  }

  async function openLog(e) {
    current = e;
    log.hidden = false;
    await loadLog();
    log.querySelector('h2').focus();
  }

  async function loadLog() {
    const e = current;
    const title = h('h2', { id: 'log-title', tabindex: '-1' }, `Deliveries to ${e.url || e.id}`);
    try {
      const page = await ctx.api('GET', `/webhooks/${encodeURIComponent(e.id)}/deliveries?limit=50`);
      clear(log).append(title, h('button', { type: 'button', onclick: loadLog }, 'Refresh'), deliveryTable(page.data));
    } catch (err) {
      clear(log).append(title, h('p', { class: 'error-text' }, `Could not load the deliveries: ${err.message}`));
    }
  }

  function deliveryTable(ds) {
    return table('Deliveries', ['Event', 'Status', 'Attempts', 'Created', 'Next attempt', 'Actions'],
      ds.map((d) => [
        h('span', {}, d.eventType, h('small', {}, d.eventId)),
        h('span', { class: `badge ${d.status}` }, d.status),
        h('details', {}, h('summary', {}, `${d.attemptCount} attempt${d.attemptCount === 1 ? '' : 's'}`),
          h('ol', {}, d.attempts.map((a) => h('li', {},
            `${when(a.at)}: ${a.statusCode === null ? 'no answer' : `HTTP ${a.statusCode}`} in ${a.latencyMs} ms`,
            a.manual ? ' (redelivered)' : '', a.error ? ` — ${a.error}` : '')))),
        when(d.createdAt),
        when(d.nextAttemptAt),
        h('button', { type: 'button', onclick: () => redeliver(d) }, 'Redeliver'),
      ]), 'No deliveries yet. Send a test event to see one.');
  }

  async function redeliver(d) {
    try {
      await ctx.api('POST', `/webhooks/${encodeURIComponent(current.id)}/deliveries/${encodeURIComponent(d.id)}/redeliver`, {});
      say(`Redelivery of ${d.eventType} (${d.id}) queued.`);
      setTimeout(loadLog, 1500);
    } catch (err) {
      sayError(err, 'Redelivering');
    }
  }

  main.append(
    h('p', { class: 'lede' }, `Webhook endpoints of the ${ctx.env} environment. Every delivery is signed (Standard Webhooks) and logged with its attempts.`),
    list, log);
  load();
}
