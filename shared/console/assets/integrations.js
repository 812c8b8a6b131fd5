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

  // The ATS directory connection (the token is write-only too).
  const ats = h('div');
  async function loadAts() {
    let current = null;
    try {
      current = (await api('GET', '/credentials/ats')).body;
    } catch (e) {
      if (e.status !== 404) throw e;
    }
    const atsForm = h('form', { 'aria-label': 'ATS connection', novalidate: true });
    const kinds = ['candidate', 'employee', 'contact'];
    fill(atsForm,
      field('ATS base URL', h('input', { name: 'base_url', type: 'url', required: true, value: current?.base_url || '' })),
      field('ATS token', secretInput('token')),
      kinds.map(k => field(`Sync ${k}s`, h('input', { name: `kind_${k}`, type: 'checkbox',
        checked: current ? current.record_kinds.includes(k) : true }))),
      field('Role of full-access ATS users', select('full_access_role',
        [['user', 'User'], ['reporter', 'Reporter'], ['manager', 'Manager']], current?.full_access_role || 'user')),
      h('button', { type: 'submit' }, current ? 'Replace connection' : 'Connect'));
    atsForm.addEventListener('submit', async ev => {
      ev.preventDefault();
      const v = values(atsForm);
      const body = { base_url: v.base_url || '', token: v.token || '', full_access_role: v.full_access_role,
        record_kinds: kinds.filter(k => v[`kind_${k}`]) };
      try {
        const saved = (await api('PUT', '/credentials/ats', body)).body;
        say(status, `ATS: ${saved.status_message}`, saved.status === 'connected');
        await loadAts();
      } catch (e) { showError(atsForm, e); }
    });
    const parts = [];
    if (current) {
      parts.push(h('p', {}, `Connected to ${current.base_url}: `,
        h('span', { class: `status-${current.status}` }, current.status_message), ` (${when(current.status_at)}).`),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: async () => {
          try {
            const r = (await api('POST', '/credentials/ats/test')).body;
            say(status, `ATS: ${r.status_message}`, r.status === 'connected');
            await loadAts();
          } catch (e) { say(status, e.message, false); }
        } }, 'Test ATS connection'),
        h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!confirm('Remove the ATS connection? The sync stops.')) return;
          try {
            await api('DELETE', '/credentials/ats');
            say(status, 'ATS connection removed.');
            await loadAts();
          } catch (e) { say(status, e.message, false); }
        } }, 'Remove ATS connection')));
    } else {
      parts.push(h('p', { class: 'muted' }, 'No ATS connected.'));
    }
    fill(ats, parts, atsForm);
  }

  fill(root, status, h('h2', {}, 'Saved credentials'), list, h('h2', {}, 'Add credentials'), form,
    h('h2', {}, 'ATS connection'), ats);
  await Promise.all([reload(), loadAts()]);
}
