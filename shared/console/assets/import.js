// User import: upload a file, check the preview and its mapping, remap a column
// (the preview recomputes), import with a progress bar, see each row's outcome by
// its row number in the file, download the users report.

import { api, seg } from './api.js';
import { h, fill, field, select, showError, table, say } from './dom.js';

const FIELDS = [
  ['', 'Unmapped'], ['first_name', 'First Name'], ['last_name', 'Last Name'], ['email', 'Email'],
  ['area_code', 'Desired Area Code'], ['role', 'Role'], ['country_code', 'Country Code'],
  ['team_name', 'Team Name'], ['team_id', 'Team Id'],
];

function outcomeCell(o) {
  const parts = [o.reason, o.changes?.length ? `changes: ${o.changes.join(', ')}` : null, ...(o.notes || [])];
  return parts.filter(Boolean).join('; ') || '—';
}

export async function render(root) {
  const status = h('div', { 'aria-live': 'polite' });
  const view = h('div');
  const upload = h('form', { 'aria-label': 'Upload a file', novalidate: true });
  const file = h('input', { name: 'file', type: 'file', accept: '.csv,.xlsx,.xls', required: true });
  fill(upload, field('Users file (CSV, XLSX or XLS)', file), h('button', { type: 'submit' }, 'Upload and preview'));
  upload.addEventListener('submit', async ev => {
    ev.preventDefault();
    const chosen = file.files[0];
    if (!chosen) return showError(upload, { field: 'file', message: 'file: choose a file to upload' });
    try {
      // The file goes to its upload URL first (on AWS a presigned S3 URL: a request
      // body through the API is capped), then the import reads it from there.
      const slot = (await api('POST', '/users/imports/uploads', { file_name: chosen.name, size: chosen.size })).body;
      const put = await fetch(slot.url, { method: 'PUT', headers: slot.headers, body: chosen });
      if (!put.ok) throw new Error(`the file could not be uploaded (HTTP ${put.status})`);
      const name = encodeURIComponent(chosen.name);
      const query = `file_name=${name}&upload=${encodeURIComponent(slot.upload)}&limit=1000`;
      const job = (await api('POST', `/users/imports?${query}`)).body;
      say(status, `${job.file_name}: ${job.rows} rows read.`);
      show(job);
    } catch (e) { showError(upload, e.field === 'file_name' ? { ...e, field: 'file', message: e.message } : e); }
  });

  const download = format => h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try {
      const blob = (await api('GET', `/users/report?format=${format}`, undefined, { blob: true })).body;
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `users.${format}` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { say(status, e.message, false); }
  } }, `Download the users report (${format.toUpperCase()})`);
  const report = h('div', { class: 'actions' }, download('csv'), download('xlsx'));

  function show(job) {
    const mapping = h('form', { 'aria-label': 'Column mapping', novalidate: true });
    const selects = job.columns.map(c => {
      const s = select(`column-${c.index}`, FIELDS, c.field || '');
      s.addEventListener('change', () => remap(job, selects, mapping));
      return s;
    });
    fill(mapping, table('Columns of the file and the field each fills', [
      ['Column in the file', c => c.header],
      ['Field', c => {
        // The row names the column; the label is for screen readers.
        const f = field(`Field of column “${c.header}”`, selects[c.index]);
        f.querySelector('label').classList.add('sr-only');
        return f;
      }],
    ], job.columns));
    const summary = Object.entries(job.summary || {}).map(([k, v]) => `${k}: ${v}`).join(' · ');
    const parts = [
      h('h2', {}, job.state === 'uploaded' ? 'Preview' : 'Outcome'),
      h('p', { id: 'import-summary' }, `${job.file_name} — ${job.rows} rows, state ${job.state}. ${summary}`),
    ];
    if (job.mapping_error) parts.push(h('p', { class: 'alert', role: 'alert' }, job.mapping_error));
    if (job.state === 'uploaded') parts.push(mapping);
    const progress = h('progress', { max: String(job.rows || 1), value: String(job.applied_rows), id: 'import-progress' });
    parts.push(field('Rows imported', progress));
    if (job.state !== 'done') {
      parts.push(h('button', { type: 'button', id: 'run-import', disabled: Boolean(job.mapping_error),
        onclick: ev => run(job, ev.currentTarget, progress) }, 'Import'));
    }
    parts.push(table(job.state === 'uploaded' ? 'What each row would do' : 'What each row did', [
      ['Row', o => String(o.line)],
      ['E-mail', o => o.email || '—'],
      ['Outcome', o => h('span', { class: `status-${o.action}` }, o.action)],
      ['Details', outcomeCell],
    ], job.outcomes || [], 'No rows.'));
    fill(view, parts);
  }

  async function remap(job, selects, mapping) {
    try {
      const body = { mapping: selects.map(s => s.value || null) };
      const next = (await api('PUT', `/users/imports/${seg(job.id)}/mapping?limit=1000`, body)).body;
      say(status, 'Mapping changed; the preview is up to date.');
      show(next);
    } catch (e) { showError(mapping, e); }
  }

  async function run(job, button, progress) {
    button.disabled = true;
    try {
      // The import runs as a background job: follow its progress until it is done.
      let done = (await api('POST', `/users/imports/${seg(job.id)}/run`)).body;
      while (done.state !== 'done') {
        progress.value = done.applied_rows;
        await new Promise(resolve => setTimeout(resolve, 500));
        done = (await api('GET', `/users/imports/${seg(job.id)}?limit=1000`)).body;
      }
      progress.value = done.applied_rows;
      say(status, `Import finished: ${done.applied_rows} of ${done.rows} rows applied.`);
      show(done);
    } catch (e) {
      button.disabled = false;
      say(status, e.message, false);
    }
  }

  fill(root, status, upload, view, h('h2', {}, 'Users report'), report);
}
