// Talking to the server: bearer token, JSON, problem+json errors as ApiError.

import { kvGet } from './db.js';

/** An HTTP error answer (or a network failure: status 0). */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || (status ? `HTTP ${status}` : 'network error'));
    this.status = status;
    this.code = problem.code || (status ? `http_${status}` : 'network');
    this.problem = problem;
    this.errors = problem.errors;
  }

  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

let tokenCache;

/** The current session token (cached after the first read). */
export async function token() {
  if (tokenCache === undefined) tokenCache = (await kvGet('session'))?.token ?? null;
  return tokenCache;
}

export function setTokenCache(value) {
  tokenCache = value;
}

/**
 * fetch() the API with the bearer token and JSON body; returns the parsed JSON (or null).
 * @throws {ApiError} non-2xx answers (status, code from problem+json) and network errors (status 0)
 */
export async function api(path, { method = 'GET', body, headers = {}, signal, auth = true } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (auth) {
    const t = await token();
    if (t) h.Authorization = `Bearer ${t}`;
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      signal, cache: 'no-store' });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { detail: err.message });
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; }
  }
  if (!resp.ok) throw new ApiError(resp.status, data ?? {});
  return data;
}
