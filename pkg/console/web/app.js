// The console: sign-in, the environment switch, the page router.
import { h, clear, say } from './ui.js';
import { call, signIn, ApiError } from './api.js';
import { keysPage } from './keys.js';
import { rendersPage } from './renders.js';
import { webhooksPage } from './webhooks.js';
import { usagePage, auditPage } from './insights.js';

const pages = {
  keys: { title: 'API keys', render: keysPage },
  renders: { title: 'Renders', render: rendersPage },
  webhooks: { title: 'Webhooks', render: webhooksPage },
  usage: { title: 'Usage', render: usagePage },
  audit: { title: 'Audit log', render: auditPage },
};

const state = { env: null, who: { live: null, test: null }, stop: null };
const main = document.getElementById('main');

function ctx() {
  const env = state.env;
  return {
    env,
    who: state.who[env],
    api: (method, path, body) => call(env, method, path, body),
    signedOut: () => refresh(),
  };
}

// whoami asks the API which environments this browser is signed in to.
async function whoami(env) {
  try {
    return await call(env, 'GET', '/auth');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

async function refresh() {
  const [live, test] = await Promise.all([whoami('live'), whoami('test')]);
  state.who = { live, test };
  if (!state.env || !state.who[state.env]) {
    const saved = sessionStorage.getItem('fg-env');
    state.env = state.who[saved] ? saved : test ? 'test' : live ? 'live' : saved || 'test';
  }
  chrome();
  route();
}

function chrome() {
  const signedIn = Boolean(state.who[state.env]);
  document.body.classList.toggle('signed-in', signedIn);
  for (const b of document.querySelectorAll('[data-env]')) {
    b.setAttribute('aria-pressed', String(b.dataset.env === state.env));
    b.title = state.who[b.dataset.env] ? `Signed in to ${b.dataset.env}` : `Not signed in to ${b.dataset.env}`;
  }
  const ws = document.getElementById('workspace');
  ws.textContent = signedIn ? state.who[state.env].workspace.id : '';
  document.documentElement.dataset.env = state.env;
}

function route() {
  if (state.stop) state.stop();
  state.stop = null;
  clear(main);
  const name = (location.hash.match(/^#\/(\w+)/) || [])[1] || 'keys';
  const page = pages[name] || pages.keys;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!state.who[state.env]) {
    main.append(signedOutPanel());
    return;
  }
  document.title = `${page.title} · ${state.env} · framegate console`;
  main.append(h('h1', {}, page.title));
  state.stop = page.render(main, ctx()) || null;
}

function signedOutPanel(reason) {
  return h('section', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, reason ? 'This link does not work' : `Not signed in to the ${state.env} environment`),
    reason ? h('p', { class: 'error-text', role: 'alert' }, reason) : null,
    h('p', {}, 'The console opens with a one-time link. Ask for one with a key of this workspace:'),
    h('pre', {}, `curl -X POST -H "Authorization: Bearer $KEY" ${location.origin}${location.pathname.replace(/\/console.*$/, '')}/console/sessions`),
    h('p', {}, 'or, as an operator: framegate console --workspace ID --env live|test. A link works once, for 15 minutes; the session lasts up to 12 hours.'));
}

async function start() {
  for (const b of document.querySelectorAll('[data-env]')) {
    b.addEventListener('click', () => {
      state.env = b.dataset.env;
      sessionStorage.setItem('fg-env', state.env);
      chrome();
      route();
    });
  }
  document.getElementById('signout').addEventListener('click', async () => {
    const who = state.who[state.env];
    if (!who) return;
    try {
      await call(state.env, 'DELETE', `/console/sessions/${encodeURIComponent(who.key.id)}`);
      say(`Signed out of the ${state.env} environment.`);
    } catch (e) {
      say(`Sign out failed: ${e.message}`, 'error');
    }
    refresh().catch(fatal);
  });
  window.addEventListener('hashchange', () => {
    if (location.hash.startsWith('#signin=')) useLink().catch(fatal);
    else if (location.hash.startsWith('#/')) {
      route();
      main.focus(); // a screen reader starts at the new page
    }
  });
  if (location.hash.startsWith('#signin=')) await useLink();
  else await refresh();
}

// useLink signs in with the one-time link in the address bar. A used,
// expired or revoked link shows nothing of any workspace, even in a
// browser that is signed in.
async function useLink() {
  const token = decodeURIComponent(location.hash.slice('#signin='.length));
  // The token leaves the address bar and the history at once.
  history.replaceState(null, '', location.pathname + '#/keys');
  if (state.stop) state.stop();
  state.stop = null;
  try {
    const s = await signIn(token);
    state.env = s.environment;
    sessionStorage.setItem('fg-env', state.env);
    say(`Signed in to the ${s.environment} environment of ${s.workspace.id} until ${new Date(s.expiresAt).toLocaleString()}.`);
  } catch (e) {
    state.who = { live: null, test: null };
    document.body.classList.remove('signed-in');
    document.getElementById('workspace').textContent = '';
    clear(main).append(signedOutPanel(e.message));
    return;
  }
  await refresh();
}

function fatal(e) {
  say(`The console could not load: ${e.message}`, 'error');
}

start().catch(fatal);
