// The API, called from the page with the console session's cookie. The
// X-Framegate-Console header names the environment whose session to use and
// is what makes the cookie count (the authorizer refuses it otherwise), so
// a page of another site cannot act with it.

export const base = location.pathname.replace(/\/console\/?.*$/, '');

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const e = (body && body.error) || {};
    let msg = e.message || `The API answered ${status}.`;
    if (e.field) msg += ` (field ${e.field})`;
    if (retryAfter) msg += ` Try again in ${retryAfter} s.`;
    if (e.requestId && status >= 500) msg += ` Request id ${e.requestId}.`;
    super(msg);
    this.status = status;
    this.code = e.code || '';
  }
}

export async function call(env, method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { 'X-Framegate-Console': env, Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(base + path, opts);
  } catch {
    throw new ApiError(0, { error: { message: 'Could not reach the API. Check your connection and try again.' } });
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) throw new ApiError(res.status, data, res.headers.get('Retry-After'));
  return data;
}

// signIn uses a one-time link's token and sets the session cookie.
export function signIn(token) {
  return call('any', 'POST', '/console/signin', { token });
}
