// API keys: the primary and the secondary keys with their role, preview,
// expiry and last use; create (the key is shown once), rotate with a grace
// period, revoke, reset the primary; and the console's own sessions.
import { h, clear, table, when, ago, say, sayError, dialog, confirm, showSecret } from './ui.js';

const roles = [
  ['read_only', 'Read only: every *:read scope'],
  ['render', 'Render: videos and templates:read'],
  ['editor', 'Editor: render + templates:write'],
  ['manager', 'Manager: every scope, including keys'],
];

const expiries = [['', 'Never'], ['7', 'In 7 days'], ['30', 'In 30 days'], ['90', 'In 90 days'], ['365', 'In a year']];
const graces = [['0', 'None: the old key stops now'], ['3600', '1 hour'], ['86400', '24 hours']];

export function keysPage(main, ctx) {
  const list = h('div', { 'aria-live': 'polite' });
  const sessions = h('div');
  let showRevoked = false;
  const revokedBox = h('input', {
    type: 'checkbox', id: 'show-revoked',
    onchange: (e) => { showRevoked = e.target.checked; load(); },
  });

  async function load() {
    try {
      const page = await ctx.api('GET', `/keys?limit=100${showRevoked ? '&status=all' : ''}`);
      clear(list).append(keyTable(page.data));
    } catch (e) {
      clear(list).append(h('p', { class: 'error-text' }, `Could not load the keys: ${e.message}`));
    }
    try {
      const s = await ctx.api('GET', '/console/sessions');
      clear(sessions).append(sessionTable(s.data));
    } catch (e) {
      clear(sessions).append(h('p', { class: 'error-text' }, `Could not load the console sessions: ${e.message}`));
    }
  }

  function keyTable(keys) {
    return table('API keys', ['Name', 'Kind', 'Role', 'Key', 'Status', 'Expires', 'Last used', 'Actions'],
      keys.map((k) => [
        k.name, k.kind, k.role, h('code', {}, k.preview),
        h('span', { class: `badge ${k.status}` }, k.status),
        k.expiresAt ? when(k.expiresAt) : 'never',
        ago(k.lastUsedAt),
        h('div', { class: 'row-actions' }, actions(k)),
      ]), 'No keys.');
  }

  function actions(k) {
    if (k.status !== 'active') return [];
    const out = [h('button', { type: 'button', onclick: () => rotate(k) }, 'Rotate')];
    if (k.kind === 'primary') out.push(h('button', { type: 'button', class: 'danger', onclick: () => resetPrimary() }, 'Reset'));
    else out.push(h('button', { type: 'button', class: 'danger', onclick: () => revoke(k) }, 'Revoke'));
    return out;
  }

  async function create() {
    const input = await dialog('Create an API key', (close) => {
      const err = h('p', { class: 'error-text', role: 'alert' });
      const form = h('form', {
        onsubmit: (e) => {
          e.preventDefault();
          const f = new FormData(form);
          const name = String(f.get('name')).trim();
          if (!name) { err.textContent = 'Give the key a name.'; return; }
          close({ name, role: f.get('role'), days: f.get('expires') });
        },
      },
      h('label', { for: 'key-name' }, 'Name'),
      h('input', { id: 'key-name', name: 'name', maxlength: 100, required: true, autocomplete: 'off' }),
      h('label', { for: 'key-role' }, 'Role'),
      h('select', { id: 'key-role', name: 'role' }, roles.map(([v, t]) => h('option', { value: v }, t))),
      h('label', { for: 'key-expires' }, 'Expires'),
      h('select', { id: 'key-expires', name: 'expires' }, expiries.map(([v, t]) => h('option', { value: v }, t))),
      err,
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, 'Create key')));
      return form;
    });
    if (!input) return;
    const body = { name: input.name, role: input.role };
    if (input.days) body.expiresAt = new Date(Date.now() + Number(input.days) * 86400e3).toISOString();
    try {
      const k = await ctx.api('POST', '/keys', body);
      await showSecret('Your new API key', `Key "${k.name}" (${k.role})`, k.key,
        'Copy it now: this is the only time it is shown. Later you see only its preview.');
      say(`Created key ${k.name} (${k.preview}).`);
    } catch (e) {
      sayError(e, 'Creating the key');
    }
    load();
  }

  async function revoke(k) {
    if (!await confirm(`Revoke "${k.name}"?`, `${k.preview} stops working on its next request. This cannot be undone.`, 'Revoke key')) return;
    try {
      await ctx.api('DELETE', `/keys/${encodeURIComponent(k.id)}`);
      say(`Revoked key ${k.name} (${k.preview}).`);
    } catch (e) {
      sayError(e, 'Revoking the key');
    }
    load();
  }

  async function rotate(k) {
    const grace = await dialog(`Rotate "${k.name}"`, (close) => {
      const form = h('form', { onsubmit: (e) => { e.preventDefault(); close(new FormData(form).get('grace')); } },
        h('p', {}, 'A new key replaces this one, with the same role, expiry and limits. The old one keeps working for the grace period you choose, so you can deploy the new one.'),
        h('label', { for: 'grace' }, 'Grace period'),
        h('select', { id: 'grace', name: 'grace' }, graces.map(([v, t]) => h('option', { value: v }, t))),
        h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: () => close() }, 'Cancel'),
          h('button', { type: 'submit', class: 'primary' }, 'Rotate key')));
      return form;
    });
    if (grace === undefined) return;
    try {
      const nk = await ctx.api('POST', `/keys/${encodeURIComponent(k.id)}/rotate`, { gracePeriodSeconds: Number(grace) });
      await showSecret('The replacement key', `Replaces ${k.preview}`, nk.key, 'Copy it now: this is the only time it is shown.');
      say(`Rotated ${k.name}: ${k.preview} → ${nk.preview}.`);
    } catch (e) {
      sayError(e, 'Rotating the key');
    }
    load();
  }

  async function resetPrimary() {
    const ok = await dialog('Reset the primary API key?', (close) => {
      const word = h('input', { id: 'reset-confirm', autocomplete: 'off' });
      const err = h('p', { class: 'error-text', role: 'alert' });
      const form = h('form', {
        onsubmit: (e) => {
          e.preventDefault();
          if (word.value.trim() !== 'reset') { err.textContent = 'Type reset to confirm.'; return; }
          close(true);
        },
      },
      h('p', {}, `The current primary key of the ${ctx.env} environment stops working at once, everywhere it is used. A new one is shown once.`),
      h('label', { for: 'reset-confirm' }, 'Type reset to confirm'), word, err,
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
        h('button', { type: 'submit', class: 'danger' }, 'Reset primary key')));
      return form;
    });
    if (!ok) return;
    try {
      const k = await ctx.api('POST', '/keys/primary/reset', {});
      await showSecret('The new primary key', 'Primary key', k.key, 'Copy it now: this is the only time it is shown. The old primary key no longer works.');
      say(`Reset the primary key: the new one is ${k.preview}.`);
    } catch (e) {
      sayError(e, 'Resetting the primary key');
    }
    load();
  }

  function sessionTable(list) {
    return table('Console sessions', ['Session', 'Status', 'Opened by', 'Signed in', 'Ends', 'Actions'],
      list.map((s) => [
        h('code', {}, s.id + (s.id === ctx.who.key.id ? ' (this one)' : '')),
        h('span', { class: `badge ${s.status}` }, s.status),
        s.createdBy,
        when(s.signedInAt),
        when(s.expiresAt || s.linkExpiresAt),
        s.status === 'active' || s.status === 'pending'
          ? h('button', { type: 'button', class: 'danger', onclick: () => endSession(s) }, s.status === 'pending' ? 'Cancel link' : 'End session')
          : '',
      ]), 'No console sessions.');
  }

  async function endSession(s) {
    try {
      await ctx.api('DELETE', `/console/sessions/${encodeURIComponent(s.id)}`);
      say(`Ended console session ${s.id}.`);
      if (s.id === ctx.who.key.id) { ctx.signedOut(); return; }
    } catch (e) {
      sayError(e, 'Ending the session');
    }
    load();
  }

  main.append(
    h('p', { class: 'lede' }, `Keys of the ${ctx.env} environment. A key is shown once, when it is created; afterwards only its preview.`),
    h('div', { class: 'toolbar' },
      h('button', { type: 'button', class: 'primary', onclick: create }, 'Create key'),
      h('label', { class: 'inline', for: 'show-revoked' }, revokedBox, ' Show revoked and expired keys')),
    list,
    h('h2', {}, 'Console sessions'),
    h('p', { class: 'lede' }, 'Sign-in links and the sessions they opened. Ending one signs that browser out at once.'),
    sessions);
  load();
}
