// Operations: dead letters and their replay, the last ATS sync run and the
// conflicts it left to resolve, the queues' depths (staff).

import { api, seg } from './api.js';
import { h, fill, field, showError, values, table, when, say } from './dom.js';

export async function render(root) {
  const status = h('div', { 'aria-live': 'polite' });
  const dead = h('div');
  const report = h('div');
  const conflicts = h('div');
  const queues = h('div');

  async function loadQueues() {
    try {
      const d = (await api('GET', '/admin/queues')).body;
      fill(queues, h('p', { id: 'queue-depths' },
        `Waiting: ${d.visible} · being handled: ${d.in_flight} · dead letters: ${d.dead} (every tenant)` +
        (d.oldest_age_secs == null ? '.' : ` · oldest message: ${d.oldest_age_secs} s ago.`)));
    } catch (e) {
      fill(queues, h('p', { class: 'muted' }, e.status === 403
        ? 'Queue depths count every tenant\'s messages; Textbridge staff see them.' : e.message));
    }
  }

  async function loadDead() {
    const letters = (await api('GET', '/admin/dead-letters')).body;
    const all = h('button', { type: 'button', class: 'secondary', disabled: letters.length === 0,
      onclick: () => replay(null) }, 'Replay all');
    const count = letters.length ? h('p', {}, `${letters.length} dead letter${letters.length === 1 ? '' : 's'}.`) : null;
    fill(dead, count, table('Dead letters', [
      ['Id', l => l.id],
      ['Kind', l => l.kind || 'unreadable'],
      ['Last failure', l => (l.failure ? `${l.failure.reason} (${when(l.failure.at)})` : '—')],
      ['Replay', l => h('button', { type: 'button', 'aria-label': `Replay dead letter ${l.id}`, onclick: () => replay([l.id]) }, 'Replay')],
    ], letters, 'No dead letters.'), all);
  }

  async function replay(ids) {
    try {
      const r = (await api('POST', '/admin/dead-letters/replay', ids ? { ids } : {})).body;
      say(status, `${r.replayed} dead letter${r.replayed === 1 ? '' : 's'} sent back to the queue.`);
      await Promise.all([loadDead(), loadQueues()]);
    } catch (e) { say(status, e.message, false); }
  }

  async function loadReport() {
    try {
      const r = (await api('GET', '/admin/ats-sync/report')).body;
      const rows = Object.entries(r).filter(([k, v]) => k !== 'tenant' && v !== null && (typeof v !== 'object' || v.length))
        .map(([k, v]) => [k, Array.isArray(v) ? v.join('; ') : v]);
      fill(report, table('The last sync run that changed something', [['What', ([k]) => k.replaceAll('_', ' ')],
        ['Value', ([, v]) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? when(v) : String(v))]], rows));
    } catch (e) {
      fill(report, h('p', { class: 'muted' }, e.status === 404 ? 'No sync run has changed anything yet.' : e.message));
    }
  }

  async function loadConflicts() {
    const list = (await api('GET', '/admin/ats-sync/conflicts')).body;
    fill(conflicts, table('Conflicts to resolve', [
      ['ATS user', c => `${c.ats_name} (${c.ats_user_id})${c.ats_email ? ` ${c.ats_email}` : ''}`],
      ['Texting user', c => c.texting_email || c.texting_user_id || '—'],
      ['Why', c => c.reason],
      ['Resolve', c => resolver(c)],
    ], list, 'No conflicts.'));
  }

  function resolver(c) {
    const form = h('form', { 'aria-label': `Resolve ATS user ${c.ats_user_id}`, novalidate: true });
    fill(form, field('Map to user id', h('input', { name: 'user_id', autocomplete: 'off' })),
      h('button', { type: 'submit' }, 'Map'),
      h('button', { type: 'button', class: 'secondary', onclick: () => resolve(form, c, { action: 'dismiss' }) }, 'Dismiss'));
    form.addEventListener('submit', ev => {
      ev.preventDefault();
      resolve(form, c, { action: 'map', user_id: values(form).user_id || '' });
    });
    return form;
  }

  async function resolve(form, c, body) {
    try {
      await api('POST', `/admin/ats-sync/conflicts/${seg(c.ats_user_id)}/resolve`, body);
      say(status, `Conflict of ATS user ${c.ats_user_id} resolved.`);
      await loadConflicts();
    } catch (e) { showError(form, e); }
  }

  fill(root, status, h('h2', {}, 'Dead letters'), dead, h('h2', {}, 'ATS sync'), report,
    h('h2', {}, 'Sync conflicts'), conflicts, h('h2', {}, 'Queues'), queues);
  await Promise.all([loadDead(), loadReport(), loadConflicts(), loadQueues()]);
}
