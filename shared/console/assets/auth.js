// Sign-in. Locally: a one-time link opens a session (an HttpOnly cookie the page
// never reads) and `POST /console/session` hands out short-lived tokens. In AWS:
// authorization code + PKCE at the OIDC issuer; the token is kept in memory only.

import { useToken, forget } from './api.js';

const GUARD = { 'X-Textbridge-Console': '1', 'Content-Type': 'application/json' };

async function localToken(body) {
  const response = await fetch('/console/session', {
    method: 'POST', headers: GUARD, body: JSON.stringify(body), credentials: 'same-origin', cache: 'no-store',
  });
  if (response.ok) return (await response.json()).token;
  let message = `the server answered ${response.status}`;
  try { message = (await response.json()).error.message; } catch { /* keep the status */ }
  const error = new Error(message);
  error.status = response.status;
  throw error;
}

async function renewLocal() {
  try { return await localToken({}); } catch { return null; }
}

function b64url(bytes) {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText() {
  return b64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function discovery(config) {
  const response = await fetch(`${config.issuer}/.well-known/openid-configuration`, { credentials: 'omit' });
  if (!response.ok) throw new Error(`the sign-in service answered ${response.status}`);
  return response.json();
}

function redirectUri() {
  return `${location.origin}/console/callback`;
}

/** Starts the OIDC sign-in (a redirect to the issuer). */
export async function startOidc(config) {
  const meta = await discovery(config);
  const verifier = randomText();
  const state = randomText();
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  // The verifier and state only live until the issuer sends the browser back.
  sessionStorage.setItem('textbridge.pkce', JSON.stringify({ verifier, state }));
  const url = new URL(meta.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: config.client_id, redirect_uri: redirectUri(), scope: 'openid',
    state, code_challenge: challenge, code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

async function finishOidc(config) {
  const params = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem('textbridge.pkce') || 'null');
  sessionStorage.removeItem('textbridge.pkce');
  history.replaceState(null, '', '/#/integrations');
  if (params.get('error')) throw new Error(params.get('error_description') || params.get('error'));
  if (!saved || params.get('state') !== saved.state) throw new Error('the sign-in answer does not match this page; sign in again');
  const meta = await discovery(config);
  const response = await fetch(meta.token_endpoint, {
    method: 'POST', credentials: 'omit',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code') || '', redirect_uri: redirectUri(),
      client_id: config.client_id, code_verifier: saved.verifier,
    }).toString(),
  });
  if (!response.ok) throw new Error(`the sign-in service refused the code (${response.status})`);
  const tokens = await response.json();
  return tokens.access_token;
}

/**
 * Signs in from what the address holds: a local link's code, an OIDC answer, or
 * the session cookie. Resolves to true when a token is in hand.
 */
export async function signIn(config) {
  if (config.sign_in === 'local') {
    let token;
    if (location.pathname === '/console/sign-in' && location.hash.length > 1) {
      const code = location.hash.slice(1);
      history.replaceState(null, '', '/#/integrations');
      token = await localToken({ code });
    } else {
      token = await renewLocal();
    }
    if (!token) return false;
    useToken(token, renewLocal);
    return true;
  }
  if (location.pathname === '/console/callback') {
    const token = await finishOidc(config);
    useToken(token, async () => null);
    return Boolean(token);
  }
  return false;
}

/** Signs out: ends the local session, or forgets the token. */
export async function signOut(config) {
  forget();
  if (config.sign_in === 'local') {
    await fetch('/console/sign-out', { method: 'POST', headers: GUARD, credentials: 'same-origin' });
  }
}
