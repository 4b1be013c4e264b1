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
    this.retryAfterMs = null; // from a Retry-After header, when the server sent one
  }

  get retryable() {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

/** Milliseconds a Retry-After header asks us to wait (seconds or an HTTP date), or null. */
export function retryAfterMs(value, now = Date.now()) {
  if (!value) return null;
  const s = String(value).trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

/** A request that has had no answer for this long counts as a network failure. */
export const REQUEST_TIMEOUT_MS = 30_000;

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
export async function api(path, { method = 'GET', body, headers = {}, signal, auth = true, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (auth) {
    const t = await token();
    if (t) h.Authorization = `Bearer ${t}`;
  }
  // A server that accepts the connection and never answers must not leave "Syncing…" up forever.
  const timeout = AbortSignal.timeout ? AbortSignal.timeout(timeoutMs) : undefined;
  const both = signal && timeout && AbortSignal.any ? AbortSignal.any([signal, timeout]) : (signal ?? timeout);
  let resp;
  let text;
  try {
    resp = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
      signal: both, cache: 'no-store' });
    text = await resp.text();
  } catch (err) {
    if (err.name === 'AbortError' && signal?.aborted) throw err;
    throw new ApiError(0, { detail: err.message });
  }
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; }
  }
  if (!resp.ok) {
    const err = new ApiError(resp.status, data ?? {});
    err.retryAfterMs = retryAfterMs(resp.headers.get('Retry-After'));
    throw err;
  }
  return data;
}
