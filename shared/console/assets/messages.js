// Messages: a record's conversation (only the action types the caller may read),
// sending a text, unmatched texts, a number's opt-out status.

import { api, seg } from './api.js';
import { h, fill, field, select, showError, clearErrors, values, table, when, say } from './dom.js';

const KINDS = [['candidate', 'Candidate'], ['employee', 'Employee'], ['contact', 'Contact']];

function bubble(m) {
  if (m.event) {
    return h('div', { class: 'bubble' }, h('div', { class: 'meta' }, `${when(m.occurred_at)} · ${m.event.replaceAll('_', ' ')}`));
  }
  return h('div', { class: `bubble ${m.direction}` },
    h('div', { class: 'meta' },
      `${when(m.occurred_at)} · ${m.direction} · ${m.their_number} · ${m.action_type} · ${m.status}`),
    h('div', { class: 'body-text' }, m.body));
}

export async function render(root) {
  const status = h('div', { 'aria-live': 'polite' });
  const conversation = h('div', { id: 'conversation', 'aria-live': 'polite' });
  let current = null;

  const find = h('form', { 'aria-label': 'Open a record', novalidate: true });
  fill(find, field('Record kind', select('kind', KINDS, 'employee')),
    field('Record id', h('input', { name: 'id', required: true, autocomplete: 'off' })),
    h('button', { type: 'submit' }, 'Show conversation'));
  find.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(find);
    const { kind, id } = values(find);
    if (!id) return showError(find, { field: 'id', message: 'id: enter the record id' });
    current = { kind, id };
    try { await loadConversation(); } catch (e) { showError(find, e); }
  });

  async function loadConversation() {
    const { kind, id } = current;
    const page = (await api('GET', `/records/${seg(kind)}/${seg(id)}/messages?limit=50`)).body;
    fill(conversation, h('h2', {}, `Conversation of ${kind} ${id}`),
      page.messages.length ? page.messages.map(bubble) : h('p', { class: 'muted' }, 'No texts yet.'));
  }

  const send = h('form', { 'aria-label': 'Send a text', novalidate: true });
  fill(send,
    field('Provider', select('provider', [['textus', 'TextUs'], ['zipwhip', 'Zipwhip'], ['twilio', 'Twilio']], 'textus')),
    field('To a number', h('input', { name: 'to', type: 'tel', autocomplete: 'off' }), 'Or leave empty to text the record shown'),
    field('Text', h('textarea', { name: 'body', required: true, maxlength: '1600' })),
    h('button', { type: 'submit' }, 'Send'));
  send.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(send);
    const { provider, to, body } = values(send);
    const request = { provider, body: body || '' };
    if (to) request.to = to;
    else if (current) request.record = current;
    else return showError(send, { field: 'to', message: 'to: enter a number, or open a record first' });
    try {
      const sent = (await api('POST', '/messages/send', request, { headers: { 'Idempotency-Key': crypto.randomUUID() } })).body;
      send.elements.body.value = '';
      say(status, `Sent to ${sent.to} (${sent.segments} segment${sent.segments === 1 ? '' : 's'}).`);
      if (current) await waitForArchive(sent.provider_message_id);
    } catch (e) { showError(send, e); }
  });

  // A sent text reaches the conversation once it is archived (a moment later).
  async function waitForArchive(id) {
    for (let i = 0; i < 20; i += 1) {
      const page = (await api('GET', `/records/${seg(current.kind)}/${seg(current.id)}/messages?limit=50`)).body;
      if (page.messages.some(m => m.provider_message_id === id)) break;
      await new Promise(r => setTimeout(r, 500));
    }
    await loadConversation();
  }

  const unmatched = h('div');
  async function loadUnmatched() {
    try {
      const page = (await api('GET', '/messages/unmatched?limit=50')).body;
      fill(unmatched, table('Texts whose number matches no record', [
        ['Received', m => when(m.received_at)],
        ['Number', m => m.number],
        ['Text', m => h('span', { class: 'body-text' }, m.message?.body ?? '')],
      ], page.messages, 'No unmatched texts.'));
    } catch (e) { fill(unmatched, h('p', { class: 'muted' }, e.message)); }
  }

  const optOut = h('form', { 'aria-label': 'Opt-out status of a number', novalidate: true });
  const optOutResult = h('div', { 'aria-live': 'polite' });
  fill(optOut, field('Phone number', h('input', { name: 'number', type: 'tel', required: true })),
    h('button', { type: 'submit' }, 'Check'));
  optOut.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(optOut);
    try {
      const r = (await api('GET', `/admin/opt-outs/${seg(values(optOut).number || '')}`)).body;
      fill(optOutResult, h('p', {}, `${r.number} is ${r.opted_out ? 'opted out' : 'not opted out'}.`),
        table('History', [['When', e => when(e.at)], ['Opted out', e => (e.opted_out ? 'yes' : 'no')],
          ['Source', e => e.source]], r.history, 'No changes recorded.'));
    } catch (e) { showError(optOut, e); }
  });

  fill(root, status, find, conversation, h('h2', {}, 'Send a text'), send,
    h('h2', {}, 'Unmatched texts'), unmatched, h('h2', {}, 'Opt-out status'), optOut, optOutResult);
  await loadUnmatched();
}
