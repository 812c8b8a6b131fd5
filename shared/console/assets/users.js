// Texting users: list with search, filters and paging; add; the Manage actions;
// licence seats; teams; ATS user ids.

import { api, seg } from './api.js';
import { h, fill, field, select, showError, clearErrors, values, table, say } from './dom.js';

const ROLES = [['user', 'User'], ['reporter', 'Reporter'], ['manager', 'Manager'], ['customer_admin', 'Customer admin']];

export async function render(root) {
  const status = h('div', { 'aria-live': 'polite' });
  const seats = h('p');
  const list = h('div');
  const pager = h('div', { class: 'actions' });
  const teamsBox = h('div');
  const panel = h('section', { id: 'user-panel', 'aria-live': 'polite' });
  let teams = [];
  let cursors = [null];

  const filters = h('form', { role: 'search', 'aria-label': 'Find users', novalidate: true });
  fill(filters,
    field('Search name or e-mail', h('input', { name: 'q', type: 'search' })),
    field('Role', select('role', [['', 'Any role'], ...ROLES], '')),
    field('Status', select('status', [['', 'Active and disabled'], ['active', 'Active'], ['disabled', 'Disabled'], ['deleted', 'Deleted']], '')),
    field('Licence', select('licensed', [['', 'Any'], ['true', 'Licensed'], ['false', 'Not licensed']], '')),
    field('Team', h('select', { name: 'team' })),
    h('button', { type: 'submit' }, 'Search'));
  filters.addEventListener('submit', ev => { ev.preventDefault(); cursors = [null]; load().catch(e => showError(filters, e)); });

  async function loadSeats() {
    const s = (await api('GET', '/licences')).body;
    fill(seats, `Licence seats: ${s.free} of ${s.total} free.`);
  }

  async function loadTeams() {
    teams = (await api('GET', '/teams')).body;
    const chosen = filters.elements.team.value;
    fill(filters.elements.team, [['', 'Any team'], ['none', 'No team'], ...teams.map(t => [t.id, t.name])]
      .map(([v, t]) => h('option', { value: v, selected: v === chosen }, t)));
    fill(teamsBox, table('Teams', [['Id', t => t.id], ['Name', t => t.name]], teams, 'No teams yet.'));
  }

  async function load() {
    clearErrors(filters);
    const query = new URLSearchParams(values(filters));
    const cursor = cursors[cursors.length - 1];
    if (cursor) query.set('cursor', cursor);
    query.set('limit', '25');
    const page = (await api('GET', `/users?${query}`)).body;
    fill(list, table('Texting users', [
      ['Name', u => `${u.first_name} ${u.last_name}`],
      ['E-mail', u => u.email],
      ['Role', u => u.role],
      ['Status', u => u.status + (u.password_expired ? ' (password expired)' : '')],
      ['Licence', u => u.licence || '—'],
      ['Team', u => teams.find(t => t.id === u.team_id)?.name || '—'],
      ['ATS ids', u => (u.ats_ids.length ? u.ats_ids.join(', ') : '—')],
      ['Manage', u => manage(u)],
    ], page.users, 'No users match.'));
    const prev = h('button', { type: 'button', class: 'secondary', disabled: cursors.length === 1,
      onclick: () => { cursors.pop(); load(); } }, 'Previous page');
    const next = h('button', { type: 'button', class: 'secondary', disabled: !page.next,
      onclick: () => { cursors.push(page.next); load(); } }, 'Next page');
    fill(pager, prev, next);
  }

  async function act(label, method, path, body) {
    try {
      await api(method, path, body);
      say(status, label);
      await Promise.all([load(), loadSeats()]);
    } catch (e) { say(status, e.message, false); }
  }

  function manage(u) {
    const who = u.email;
    const base = `/users/${seg(u.id)}`;
    const choose = select('action', [
      ['', 'Choose…'],
      u.status === 'disabled' ? ['enable', 'Enable'] : ['disable', 'Disable'],
      ['forgot-password', 'Send forgot-password e-mail'],
      ['expire-password', 'Expire password'],
      ...(u.licence ? [['licence-remove', 'Take the licence back']] : [['licence', 'Assign a licence']]),
      ...ROLES.filter(([r]) => r !== u.role).map(([r, t]) => [`role:${r}`, `Convert to ${t}`]),
      ['details', 'Team, group, inboxes, ATS ids…'],
      ['delete', 'Delete…'],
    ], '');
    choose.setAttribute('aria-label', `Action for ${who}`);
    const go = h('button', { type: 'button', class: 'secondary', 'aria-label': `Apply the action to ${who}`, onclick: () => {
      const action = choose.value;
      if (!action) return;
      if (action === 'details') return details(u);
      if (action === 'delete') {
        if (!confirm(`Delete ${who}? The username ${who} can never be used again in this account.`)) return;
        return act(`${who} deleted.`, 'DELETE', base);
      }
      if (action.startsWith('role:')) return act(`${who} converted.`, 'PUT', `${base}/role`, { role: action.slice(5) });
      if (action === 'licence') return act(`Licence assigned to ${who}.`, 'POST', `${base}/licence`, {});
      if (action === 'licence-remove') return act(`Licence taken from ${who}.`, 'DELETE', `${base}/licence`);
      return act(`${who}: done.`, 'POST', `${base}/${action}`);
    } }, 'Apply');
    return h('div', { class: 'actions' }, choose, go);
  }

  // One user's team, permission group, inboxes and ATS user ids.
  function details(u) {
    const base = `/users/${seg(u.id)}`;
    const heading = h('h2', { tabindex: '-1' }, `Manage ${u.first_name} ${u.last_name} (${u.email})`);
    const change = async (form, method, path, body) => {
      try {
        const updated = (await api(method, path, body)).body;
        say(status, `${updated.email}: saved.`);
        details(updated);
        await load();
      } catch (e) { showError(form, e); }
    };

    const team = h('form', { 'aria-label': 'Team', novalidate: true });
    const teamSelect = select('team_id', [['', 'No team'], ...teams.map(t => [t.id, t.name])], u.team_id || '');
    fill(team, field('Team', teamSelect), h('button', { type: 'submit' }, 'Move'));
    team.addEventListener('submit', ev => {
      ev.preventDefault();
      change(team, 'PUT', `${base}/team`, { team_id: teamSelect.value || null });
    });

    const group = h('form', { 'aria-label': 'Permission group', novalidate: true });
    fill(group, field('Permission group', h('input', { name: 'permission_group', value: u.permission_group, required: true })),
      h('button', { type: 'submit' }, 'Set group'));
    group.addEventListener('submit', ev => {
      ev.preventDefault();
      change(group, 'PUT', `${base}/permission-group`, { permission_group: values(group).permission_group || '' });
    });

    const ats = h('form', { 'aria-label': 'Add an ATS user id', novalidate: true });
    fill(ats, field('ATS user id', h('input', { name: 'ats_id', required: true, autocomplete: 'off' })),
      h('button', { type: 'submit' }, 'Add ATS id'));
    ats.addEventListener('submit', ev => {
      ev.preventDefault();
      change(ats, 'PUT', `${base}/ats-ids/${seg(values(ats).ats_id || '')}`);
    });
    const atsList = h('ul', {}, u.ats_ids.map(id => h('li', {}, `${id} `,
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ATS id ${id}`,
        onclick: () => change(ats, 'DELETE', `${base}/ats-ids/${seg(id)}`) }, 'Remove'))));

    const inbox = h('form', { 'aria-label': 'Add an inbox', novalidate: true });
    fill(inbox, field('Inbox owner (username)', h('input', { name: 'source_username', type: 'email', required: true })),
      field('Name shown', h('input', { name: 'name', required: true })), h('button', { type: 'submit' }, 'Add inbox'));
    inbox.addEventListener('submit', ev => {
      ev.preventDefault();
      const v = values(inbox);
      change(inbox, 'POST', `${base}/inboxes`, { source_username: v.source_username || '', name: v.name || '' });
    });
    const inboxList = h('ul', {}, u.inboxes.map(i => {
      const source = i.source_username || i.source || '';
      return h('li', {}, `${i.name || source} (${source}) `,
        h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove inbox ${source}`,
          onclick: () => change(inbox, 'DELETE', `${base}/inboxes/${seg(source)}`) }, 'Remove'));
    }));

    fill(panel, heading, team, group, h('h3', {}, 'ATS user ids'),
      u.ats_ids.length ? atsList : h('p', { class: 'muted' }, 'None.'), ats,
      h('h3', {}, 'Inboxes'), u.inboxes.length ? inboxList : h('p', { class: 'muted' }, 'None.'), inbox,
      h('button', { type: 'button', class: 'secondary', onclick: () => panel.replaceChildren() }, 'Close'));
    heading.focus();
  }

  const add = h('form', { 'aria-label': 'Add a user', novalidate: true });
  fill(add,
    field('First name', h('input', { name: 'first_name', required: true, autocomplete: 'off' })),
    field('Last name', h('input', { name: 'last_name', required: true, autocomplete: 'off' })),
    field('E-mail (username)', h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off' })),
    field('Role', select('role', ROLES.slice(0, 3), 'user')),
    field('Desired area code', h('input', { name: 'area_code', inputmode: 'numeric', autocomplete: 'off' })),
    field('Send the invitation e-mail', h('input', { name: 'send_invitation', type: 'checkbox', checked: true })),
    h('button', { type: 'submit' }, 'Add user'));
  add.addEventListener('submit', async ev => {
    ev.preventDefault();
    clearErrors(add);
    try {
      const r = (await api('POST', '/users', values(add))).body;
      add.reset();
      say(status, `${r.user.email} added${r.licence_note ? ` (${r.licence_note})` : ''}${r.invitation_sent ? '; invitation sent' : ''}.`);
      await Promise.all([load(), loadSeats()]);
    } catch (e) { showError(add, e); }
  });

  const team = h('form', { 'aria-label': 'Add a team', novalidate: true });
  fill(team, field('Team name', h('input', { name: 'name', required: true })), h('button', { type: 'submit' }, 'Add team'));
  team.addEventListener('submit', async ev => {
    ev.preventDefault();
    try {
      await api('POST', '/teams', values(team));
      team.reset();
      await loadTeams();
    } catch (e) { showError(team, e); }
  });

  fill(root, status, seats, filters, list, pager, panel, h('h2', {}, 'Add a user'), add,
    h('h2', {}, 'Teams'), teamsBox, team);
  await Promise.all([loadSeats(), loadTeams()]);
  await load();
}
