// Provider credentials per provider and level: save, test, replace the secret,
// remove. Secret inputs are write-only: never filled in, never shown back.

import { api, seg } from './api.js';
import { h, fill, field, select, showError, clearErrors, values, table, when, say } from './dom.js';

const PROVIDERS = [['textus', 'TextUs'], ['zipwhip', 'Zipwhip'], ['twilio', 'Twilio']];
const LEVELS = {
  textus: [['system', 'System'], ['user', 'User']],
  zipwhip: [['system', 'System'], ['branch', 'Branch'], ['user', 'User']],
  twilio: [['system', 'System'], ['branch', 'Branch']],
};
// [name, label, secret]
const FIELDS = {
  'textus/system': [['account_slug', 'Account slug'], ['username', 'Username'], ['api_key', 'API key', true]],
  'textus/user': [['username', 'TextUs username'], ['api_key', 'API key', true]],
  zipwhip: [['username', 'Username (e.g. alex@6512345678)'], ['password', 'Password', true]],
  twilio: [['account_sid', 'Account SID'], ['auth_token', 'Auth token', true]],
};
const NAMES = Object.fromEntries(PROVIDERS);

function fieldsOf(provider, level) {
  return FIELDS[`${provider}/${level}`] || FIELDS[provider] || [];
}

function path(c) {
  return `/credentials/${seg(c.provider)}/${seg(c.level)}${c.scope ? `/${seg(c.scope)}` : ''}`;
}

function secretInput(name) {
  return h('input', { name, type: 'password', autocomplete: 'new-password', required: true, spellcheck: 'false' });
}

export async function render(root) {
  const status = h('div', { 'aria-live': 'polite' });
  const list = h('div');
  const form = h('form', { 'aria-label': 'Save credentials', novalidate: true });

  async function reload() {
    const creds = (await api('GET', '/credentials')).body;
    fill(list, table('Saved credentials', [
      ['Provider', c => NAMES[c.provider] || c.provider],
      ['Level', c => (c.scope ? `${c.level} ${c.scope}` : c.level)],
      ['Username', c => c.username],
      ['Status', c => h('span', { class: `status-${c.status}` }, c.status_message)],
      ['Since', c => when(c.status_at)],
      ['Last test', c => (c.last_test ? `${c.last_test.message} (${when(c.last_test.at)})` : '—')],
      ['Actions', c => actions(c)],
    ], creds, 'No credentials saved yet.'));
  }

  function actions(c) {
    const label = `${NAMES[c.provider] || c.provider} ${c.level}${c.scope ? ` ${c.scope}` : ''}`;
    const secret = fieldsOf(c.provider, c.level).find(f => f[2]);
    const box = h('div', { class: 'actions' });
    const test = h('button', { type: 'button', class: 'secondary', 'aria-label': `Test ${label}`, onclick: async () => {
      try {
        const r = (await api('POST', `${path(c)}/test`)).body;
        const test = r.last_test || r;
        say(status, `${label}: ${test.message || r.status_message}`, test.ok ?? r.status === 'connected');
        await reload();
      } catch (e) { say(status, e.message, false); }
    } }, 'Test');
    const replace = h('form', { 'aria-label': `Replace the secret of ${label}`, novalidate: true });
    const input = secretInput(secret[0]);
    fill(replace, field(`New ${secret[1]}`, input),
      h('button', { type: 'submit' }, 'Replace secret'));
    replace.addEventListener('submit', async ev => {
      ev.preventDefault();
      try {
        await api('PUT', `${path(c)}/secret`, { [secret[0]]: input.value });
        say(status, `${label}: secret replaced.`);
        await reload();
      } catch (e) { showError(replace, e); }
    });
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${label}`, onclick: async () => {
      if (!confirm(`Remove the ${label} credentials? Texts stop flowing through them.`)) return;
      try {
        await api('DELETE', path(c));
        say(status, `${label}: removed.`);
        await reload();
      } catch (e) { say(status, e.message, false); }
    } }, 'Remove');
    box.append(test, remove, replace);
    return box;
  }

  const provider = select('provider', PROVIDERS, 'textus');
  const level = select('level', LEVELS.textus, 'system');
  const scope = h('input', { name: 'scope', autocomplete: 'off' });
  const scopeField = field('Branch or user id', scope);
  const inputs = h('div', { class: 'actions' });

  function layout() {
    const chosen = level.value;
    fill(level, LEVELS[provider.value].map(([v, t]) => h('option', { value: v, selected: v === chosen }, t)));
    scopeField.hidden = level.value === 'system';
    fill(inputs, fieldsOf(provider.value, level.value).map(([name, label, secret]) =>
      field(label, secret ? secretInput(name) : h('input', { name, autocomplete: 'off', required: true }))));
  }
  provider.addEventListener('change', layout);
  level.addEventListener('change', layout);
  fill(form, field('Provider', provider), field('Level', level), scopeField, inputs,
    h('button', { type: 'submit' }, 'Save credentials'));
  layout();
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(form);
    const { provider: p, level: l, scope: s, ...body } = values(form);
    const target = { provider: p, level: l, scope: l === 'system' ? null : s || '' };
    if (target.scope === '') {
      return showError(form, { field: 'scope', message: 'scope: a branch or user id is needed at this level' });
    }
    try {
      const saved = (await api('POST', path(target), body)).body;
      for (const el of form.querySelectorAll('input[type=password]')) el.value = '';
      say(status, `${NAMES[saved.provider]} ${saved.level}: ${saved.status_message}`, saved.status === 'connected');
      await reload();
    } catch (e) { showError(form, e); }
  });

  fill(root, status, h('h2', {}, 'Saved credentials'), list, h('h2', {}, 'Add credentials'), form);
  await reload();
}
