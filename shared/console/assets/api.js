// The JSON API client. The token lives in this module's memory only; when it is
// refused (expired), the sign-in gives a new one once and the call is repeated.

let token = null;
let renew = async () => null;

/** An API error in the common shape: `{ error: { code, message, field } }`. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

/** Sets the token and how to get a new one. */
export function useToken(value, renewer) {
  token = value;
  if (renewer) renew = renewer;
}

/** Forgets the token. */
export function forget() {
  token = null;
}

async function send(method, path, body, headers) {
  const init = { method, headers: { ...headers }, credentials: 'omit', cache: 'no-store' };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
    init.headers['Content-Type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  return fetch(path, init);
}

/** Calls the API; resolves to `{ status, body }` (a Blob with `blob`), throws ApiError. */
export async function api(method, path, body, { headers = {}, blob = false } = {}) {
  let response = await send(method, path, body, headers);
  if (response.status === 401 && token) {
    token = await renew();
    if (token) response = await send(method, path, body, headers);
  }
  if (response.ok) {
    if (blob) return { status: response.status, body: await response.blob() };
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }
  let error = null;
  try {
    error = (await response.json()).error;
  } catch {
    error = null;
  }
  throw new ApiError(response.status, error?.code || 'unknown',
    error?.message || `the server answered ${response.status}`, error?.field);
}

/** A path segment, encoded. */
export function seg(value) {
  return encodeURIComponent(value);
}
