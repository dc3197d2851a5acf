// Renders: the list with live status and progress, a player for finished
// videos (through their short-lived download link), and cancel.
import { h, clear, table, when, say, sayError, confirm } from './ui.js';

const live = new Set(['queued', 'rendering']);

export function rendersPage(main, ctx) {
  const list = h('div');
  const player = h('section', { class: 'player', 'aria-labelledby': 'player-title', hidden: true });
  const filter = h('select', { id: 'status-filter', onchange: () => load() },
    ['', 'queued', 'rendering', 'succeeded', 'failed', 'cancelled'].map((s) => h('option', { value: s }, s || 'Any status')));
  let timer = null;
  let stopped = false;
  let next = null;
  let videos = [];

  async function load(more) {
    const q = more ? next.replace(/^\/v1/, '') : `/videos?limit=25${filter.value ? `&status=${filter.value}` : ''}`;
    try {
      const page = await ctx.api('GET', q);
      videos = more ? videos.concat(page.data) : page.data;
      next = page.pagination.next;
      clear(list).append(videoTable(videos), next ? h('button', { type: 'button', onclick: () => load(true) }, 'Load more') : '');
    } catch (e) {
      clear(list).append(h('p', { class: 'error-text' }, `Could not load the renders: ${e.message}`));
    }
    schedule();
  }

  // While a render is queued or rendering, the list refreshes itself.
  function schedule() {
    clearTimeout(timer);
    if (!stopped && videos.some((v) => live.has(v.status))) timer = setTimeout(() => load(), 2000);
  }

  function videoTable(vs) {
    return table('Renders', ['Video', 'Status', 'Progress', 'Length', 'Created', 'Finished', 'Actions'],
      vs.map((v) => [
        h('code', {}, v.id),
        h('span', { class: `badge ${v.status}`, 'data-video-status': v.id }, v.status),
        h('progress', { max: 100, value: v.progress, 'aria-label': `Progress of ${v.id}` }, `${v.progress}%`),
        `${v.durationSeconds} s`,
        when(v.createdAt),
        when(v.finishedAt),
        h('div', { class: 'row-actions' },
          v.status === 'succeeded' ? h('button', { type: 'button', onclick: () => play(v) }, 'Play') : '',
          live.has(v.status) ? h('button', { type: 'button', class: 'danger', onclick: () => cancel(v) }, 'Cancel') : '',
          v.status === 'failed' && v.error ? h('span', { class: 'error-text' }, v.error.message) : ''),
      ]), filter.value ? `No ${filter.value} renders.` : 'No renders yet: create one with POST /v1/videos.');
  }

  async function play(v) {
    try {
      const d = await ctx.api('GET', `/videos/${encodeURIComponent(v.id)}/download?redirect=false`);
      const video = h('video', { controls: true, preload: 'metadata', src: d.url, 'aria-label': `Video ${v.id}` });
      video.addEventListener('error', () => say(`The video ${v.id} could not be played (its link may have expired: press Play again).`, 'error'));
      clear(player).append(h('h2', { id: 'player-title', tabindex: '-1' }, `Video ${v.id}`), video,
        h('p', {}, h('a', { href: d.url, download: `${v.id}.mp4` }, 'Download the MP4'), ` · link valid until ${when(d.expiresAt)}`));
      player.hidden = false;
      player.querySelector('h2').focus();
    } catch (e) {
      sayError(e, `Opening ${v.id}`);
    }
  }

  async function cancel(v) {
    if (!await confirm(`Cancel ${v.id}?`, 'The render stops and its slot is freed. This cannot be undone.', 'Cancel render')) return;
    try {
      await ctx.api('DELETE', `/videos/${encodeURIComponent(v.id)}`);
      say(`Cancelled ${v.id}.`);
    } catch (e) {
      sayError(e, `Cancelling ${v.id}`);
    }
    load();
  }

  main.append(
    h('p', { class: 'lede' }, `Renders of the ${ctx.env} environment, newest first. The list follows renders in progress by itself.`),
    h('div', { class: 'toolbar' },
      h('label', { class: 'inline', for: 'status-filter' }, 'Status ', filter),
      h('button', { type: 'button', onclick: () => load() }, 'Refresh')),
    list, player);
  load();
  return () => { stopped = true; clearTimeout(timer); };
}
