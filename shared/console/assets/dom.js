// DOM helpers. Text always goes in as text nodes (never parsed as HTML), so a
// value such as "<script>" is shown as it is written.

let ids = 0;

/** A new element: `attrs` are attributes (`on…` functions become listeners). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'value') {
      el.value = value;
    } else if (name === 'checked') {
      el.defaultChecked = Boolean(value);
      el.checked = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces everything in `el` with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A unique element id. */
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form control with a slot for its error; `name` is the API field. */
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const error = h('span', { class: 'error', id: `${id}-error`, role: 'alert', hidden: true });
  const hintEl = hint ? h('span', { class: 'muted', id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  const check = control.type === 'checkbox';
  return h('div', { class: check ? 'field check' : 'field' },
    check ? [control, h('label', { for: id }, label)] : [h('label', { for: id }, label), control],
    hintEl, error);
}

/** A `<select>` of `[value, text]` options. */
export function select(name, options, selected) {
  return h('select', { name }, options.map(([value, text]) =>
    h('option', { value, selected: value === selected }, text)));
}

/** Clears the errors shown in `form`. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const error = document.getElementById(`${el.id}-error`);
    if (error) { error.hidden = true; error.textContent = ''; }
  }
  for (const el of form.querySelectorAll(':scope > .alert')) el.remove();
}

/**
 * Shows an API error in `form`: next to the control whose `name` is the error's
 * field (focused), else as an alert at the top of the form.
 */
export function showError(form, err) {
  clearErrors(form);
  const name = err.field ? err.field.split(/[.[]/)[0] : null;
  const control = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
  const slot = control ? document.getElementById(`${control.id}-error`) : null;
  if (control && slot) {
    control.setAttribute('aria-invalid', 'true');
    slot.textContent = err.message;
    slot.hidden = false;
    control.focus();
  } else {
    const alert = h('p', { class: 'alert', role: 'alert', tabindex: '-1' }, err.message);
    form.prepend(alert);
    alert.focus();
  }
}

/** A status line (success or failure) that screen readers announce. */
export function say(el, message, ok = true) {
  fill(el, h('p', { class: ok ? 'notice' : 'alert', role: ok ? 'status' : 'alert' }, message));
}

/** A table: `columns` are `[heading, row => cell]`; a cell may be text or nodes. */
export function table(caption, columns, rows, empty = 'Nothing to show.') {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, columns.map(([heading]) => h('th', { scope: 'col' }, heading)))),
      h('tbody', {}, rows.map(row => h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(row))))))));
}

/** Reads a form's named controls as an object; empty text becomes absent. */
export function values(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.value.trim() !== '') out[el.name] = el.value.trim();
  }
  return out;
}

/** A human time from an RFC 3339 text. */
export function when(text) {
  if (!text) return '';
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toLocaleString();
}
