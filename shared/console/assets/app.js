// The console's shell: sign-in, navigation between pages, the signed-in user.

import { api } from './api.js';
import { signIn, signOut, startOidc } from './auth.js';
import { h, fill } from './dom.js';
import * as integrations from './integrations.js';
import * as users from './users.js';
import * as imports from './import.js';
import * as messages from './messages.js';
import * as operations from './operations.js';

const pages = {
  '#/integrations': ['Integrations', integrations],
  '#/users': ['Users', users],
  '#/import': ['Import users', imports],
  '#/messages': ['Messages', messages],
  '#/operations': ['Operations', operations],
};

const main = document.getElementById('main');
let config = null;
let me = null;

function signInPage(message) {
  document.title = 'Sign in — Textbridge console';
  const parts = [h('h1', {}, 'Sign in')];
  if (message) parts.push(h('p', { class: 'alert', role: 'alert' }, message));
  if (config?.sign_in === 'oidc') {
    parts.push(h('p', {}, 'Sign in with your organisation\'s account.'),
      h('button', { type: 'button', id: 'oidc-sign-in', onclick: () => startOidc(config).catch(e => signInPage(e.message)) },
        'Sign in'));
  } else {
    parts.push(h('p', {}, 'Open the one-time sign-in link that ',
      h('code', {}, 'textbridge serve --console-admin TENANT'), ' printed when it started. Each link works once.'));
  }
  fill(main, h('section', { class: 'signin' }, parts));
  main.focus();
}

async function show() {
  const hash = pages[location.hash] ? location.hash : '#/integrations';
  const [title, page] = pages[hash];
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === hash) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${title} — Textbridge console`;
  const heading = h('h1', { tabindex: '-1' }, title);
  const body = h('div');
  fill(main, heading, body);
  heading.focus();
  try {
    await page.render(body, me);
  } catch (e) {
    if (e.status === 401) return signInPage('Your sign-in has ended; sign in again.');
    fill(body, h('p', { class: 'alert', role: 'alert' }, e.message));
  }
}

async function start() {
  const response = await fetch('/console/config', { credentials: 'omit' });
  config = await response.json();
  let signedIn = false;
  try {
    signedIn = await signIn(config);
  } catch (e) {
    return signInPage(e.message);
  }
  if (!signedIn) return signInPage();
  me = (await api('GET', '/users/me')).body;
  document.getElementById('nav').hidden = false;
  document.getElementById('who').textContent = `${me.username} · ${me.tenant}`;
  const out = document.getElementById('sign-out');
  out.hidden = false;
  out.addEventListener('click', async () => {
    await signOut(config);
    me = null;
    document.getElementById('nav').hidden = true;
    document.getElementById('who').textContent = '';
    out.hidden = true;
    signInPage('You are signed out.');
  });
  window.addEventListener('hashchange', () => { if (me) show(); });
  await show();
}

start().catch(e => fill(main, h('p', { class: 'alert', role: 'alert' }, e.message)));
