// Small DOM helpers: every node is built with createElement and text nodes,
// never from HTML strings, so nothing the API returns can become markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function when(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : dateFmt.format(d);
}

export function ago(ts) {
  if (!ts) return 'never';
  const s = Math.round((Date.now() - new Date(ts).getTime()) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return when(ts);
}

// A table whose cells carry their column's name, so that narrow screens
// can show each row as a card (console.css).
export function table(caption, columns, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table' },
    h('table', {},
      h('caption', { class: 'sr' }, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => h('td', { 'data-label': columns[i] }, c)))))));
}

// The message line: every action says what happened, errors in words.
export function say(text, kind = 'ok') {
  const el = document.getElementById('status');
  clear(el);
  el.className = `status ${kind}`;
  el.append(h('span', {}, text));
  if (kind === 'error') el.setAttribute('role', 'alert');
  else el.setAttribute('role', 'status');
}

export function sayError(err, doing) {
  say(`${doing} failed: ${err.message}`, 'error');
}

// dialog shows a modal <dialog> (focus moves into it, Escape closes it,
// the page behind is inert) built by body(close), and resolves with what
// close was given.
export function dialog(title, body) {
  return new Promise((resolve) => {
    const d = h('dialog', { 'aria-labelledby': 'dlg-title' });
    let result;
    const close = (v) => { result = v; d.close(); };
    d.append(h('h2', { id: 'dlg-title' }, title), body(close));
    d.addEventListener('close', () => { d.remove(); resolve(result); });
    document.body.append(d);
    d.showModal();
  });
}

// confirm asks before something that cannot be undone.
export function confirm(title, text, action) {
  return dialog(title, (close) => h('div', {},
    h('p', {}, text),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: 'danger', onclick: () => close(true) }, action))));
}

// showSecret shows a secret once, with a copy button.
export function showSecret(title, label, secret, note) {
  return dialog(title, (close) => {
    const input = h('input', { id: 'secret', readonly: true, value: secret, class: 'mono', 'aria-describedby': 'secret-note' });
    const copied = h('span', { class: 'copied', role: 'status' });
    return h('div', {},
      h('p', { id: 'secret-note', class: 'warn' }, note),
      h('label', { for: 'secret' }, label),
      h('div', { class: 'copy' }, input,
        h('button', {
          type: 'button', class: 'primary',
          onclick: async () => {
            try {
              await navigator.clipboard.writeText(secret);
              copied.textContent = 'Copied.';
            } catch {
              input.select();
              copied.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
            }
          },
        }, 'Copy')),
      copied,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close() }, 'Done')));
  });
}

// notAvailable is what a page shows when its API is not on this deployment.
export function notAvailable(what, route) {
  return h('div', { class: 'notice' },
    h('p', {}, `${what} is not available on this deployment yet: ${route} answered 404.`),
    h('p', {}, 'It appears here as soon as the API serves it.'));
}
