// The sync engine: push the outbox in order, pull changes, then upload photos.
//
// Contract: docs/sync-protocol.md (push/pull) and docs/photo-upload.md (blobs).
//   push  POST /api/v1/sync/push {client_id, protocol, mutations[]} -> {results[]}
//   pull  GET  /api/v1/sync/pull?cursor=&limit= -> {changes[], cursor, has_more}
// An outbox entry leaves only when the server has answered for it (applied, duplicate,
// conflict or rejected). navigator.onLine is only a hint: we always try, and back off on
// network errors and 503s.

import { api, ApiError } from './api.js';
import { kvGet, kvSet, recordKey, req, tx } from './db.js';
import { checkStorage, emit, refreshCounts, state } from './sync-state.js';

export const PROTOCOL = 1;
export const PUSH_BATCH_MAX = 500;
export const PULL_LIMIT = 500;
const BACKOFF_MIN_MS = 2000;
const BACKOFF_MAX_MS = 5 * 60 * 1000;
const RETRY_AFTER_MAX_MS = 60 * 60 * 1000;
const ONLINE_RETRY_GAP_MS = 15 * 1000;

export { checkStorage, LOW_STORAGE_BYTES, LOW_STORAGE_SHARE, refreshCounts, state } from './sync-state.js';

/** This install's id, made once and kept in IndexedDB. */
export async function clientId() {
  let id = await kvGet('client_id');
  if (!id) {
    id = crypto.randomUUID();
    await kvSet('client_id', id);
  }
  return id;
}

// ---------------------------------------------------------------- push

async function takeBatch(limit) {
  return tx(['outbox'], 'readwrite', async (t) => {
    const store = t.objectStore('outbox');
    const batch = await req(store.getAll(null, limit)); // oldest first: keys are the queue order
    for (const entry of batch) {
      if (!entry.sent) {
        entry.sent = true; // from now on this mutation_id's fields never change
        store.put(entry);
      }
    }
    return batch;
  });
}

function resultStatus(r) {
  return r.status ?? (r.ok ? 'applied' : 'rejected');
}

async function applyResults(batch, results) {
  const bySeq = new Map(batch.map((m) => [m.mutation_id, m]));
  return tx(['outbox', 'records', 'issues', 'photos'], 'readwrite', async (t) => {
    const outbox = t.objectStore('outbox');
    const records = t.objectStore('records');
    const issues = t.objectStore('issues');
    const rest = await req(outbox.getAll());
    let answered = 0;
    for (const r of results) {
      const m = bySeq.get(r.mutation_id);
      if (!m) continue;
      answered += 1;
      outbox.delete(m.seq);
      const status = resultStatus(r);
      const key = recordKey(m.entity, m.id);
      const rec = await req(records.get(key));
      const later = rest.filter((e) => e.seq > m.seq && e.entity === m.entity && e.id === m.id);
      if (status === 'rejected') {
        // Show the server's truth again (plus any later local edits), and list the reason.
        if (rec && later.length === 0) {
          if (typeof rec.rev !== 'number') records.delete(key);
          else records.put({ ...rec, fields: { ...(rec.server ?? rec.fields) }, deleted: rec.server_deleted ?? false });
        }
        if (m.entity === 'photo' && typeof rec?.rev !== 'number') {
          // The server will never take this photo: stop offering it for upload.
          const photo = await req(t.objectStore('photos').get(m.id));
          if (photo) t.objectStore('photos').put({ ...photo, state: 'rejected' });
        }
        issues.put({ key: `mutation:${m.mutation_id}`, kind: 'rejected', entity: m.entity, id: m.id,
          inspection_id: rec?.inspection_id ?? m.fields?.inspection_id ?? null,
          errors: r.errors ?? null, reason: r.reason ?? null, detail: r.detail ?? null, fields: m.fields,
          at: Date.now() });
        continue;
      }
      if (status === 'conflict') {
        issues.put({ key: `mutation:${m.mutation_id}`, kind: 'conflict', entity: m.entity, id: m.id,
          inspection_id: rec?.inspection_id ?? m.fields?.inspection_id ?? null,
          errors: r.conflicts ?? r.errors ?? null, fields: m.fields, at: Date.now() });
      }
      if (rec && typeof r.rev === 'number') {
        // Later queued edits of the same record were made on top of this one.
        for (const e of later) {
          if (e.base_rev === m.base_rev) { e.base_rev = r.rev; outbox.put(e); }
        }
        if (rec.rev === null || rec.rev === undefined || r.rev > rec.rev) rec.rev = r.rev;
        const server = r.record?.fields ?? r.record;
        if (server && typeof server === 'object') {
          rec.server = { ...(rec.server ?? {}), ...stripMeta(server) };
          if (later.length === 0) rec.fields = { ...rec.fields, ...stripMeta(server) };
        } else if (status === 'applied' || status === 'duplicate') {
          rec.server = { ...(rec.server ?? {}), ...m.fields };
        }
        records.put(rec);
      }
    }
    return answered;
  });
}

function stripMeta(fields) {
  const { id, rev, deleted, updated_at: u, created_at: c, field_revs: f, ...rest } = fields;
  return rest;
}

async function dropUnsendable(entry, error) {
  await tx(['outbox', 'issues'], 'readwrite', (t) => {
    t.objectStore('outbox').delete(entry.seq);
    t.objectStore('issues').put({ key: `mutation:${entry.mutation_id}`, kind: 'rejected', entity: entry.entity,
      id: entry.id, inspection_id: entry.fields?.inspection_id ?? null,
      errors: { detail: error.message, code: error.code }, fields: entry.fields, at: Date.now() });
  });
}

/** Push the whole outbox, oldest first, in batches of at most 500; halves a batch on 413. */
export async function push() {
  const cid = await clientId();
  let limit = PUSH_BATCH_MAX;
  for (;;) {
    const batch = await takeBatch(limit);
    if (batch.length === 0) return;
    const mutations = batch.map(({ mutation_id, entity, id, op, base_rev, fields }) => ({
      mutation_id, entity, id, op, base_rev, fields }));
    let answer;
    try {
      answer = await api('/api/v1/sync/push', { method: 'POST', body: { client_id: cid, protocol: PROTOCOL, mutations } });
    } catch (err) {
      if (err instanceof ApiError && err.status === 413) {
        if (batch.length === 1) { await dropUnsendable(batch[0], err); continue; }
        limit = Math.max(1, Math.ceil(batch.length / 2));
        continue;
      }
      throw err;
    }
    const answered = await applyResults(batch, answer?.results ?? []);
    await refreshCounts();
    if (answered === 0) throw new ApiError(500, { detail: 'the server answered for none of the changes' });
  }
}

// ---------------------------------------------------------------- pull

function inspectionIdOf(change) {
  if (change.entity === 'inspection') return change.id;
  return change.fields?.inspection_id ?? null;
}

async function applyChanges(changes, cursor, generation = null) {
  return tx(['records', 'outbox', 'kv'], 'readwrite', async (t) => {
    const records = t.objectStore('records');
    const pendingFields = new Map();
    for (const e of await req(t.objectStore('outbox').getAll())) {
      const k = recordKey(e.entity, e.id);
      pendingFields.set(k, { ...(pendingFields.get(k) ?? {}), ...e.fields, __op: e.op });
    }
    for (const c of changes) {
      const key = recordKey(c.entity, c.id);
      const existing = await req(records.get(key));
      if (existing && typeof existing.rev === 'number' && c.rev < existing.rev && !generation) continue;
      const local = pendingFields.get(key);
      const fields = { ...(existing?.fields ?? {}), ...(c.fields ?? {}) };
      let deleted = Boolean(c.deleted);
      if (local) {
        // Unsynced local edits win on this phone until the server has answered for them.
        const { __op: op, ...mine } = local;
        Object.assign(fields, mine);
        deleted = op === 'delete';
      }
      const server = { ...(existing?.server ?? {}), ...(c.fields ?? {}) }; // the server's own values
      records.put({ key, entity: c.entity, id: c.id, rev: c.rev, deleted, fields, server,
        server_deleted: Boolean(c.deleted),
        inspection_id: c.entity === 'inspection' ? c.id : (fields.inspection_id ?? inspectionIdOf(c)),
        local_at: existing?.local_at ?? null, generation: generation ?? existing?.generation ?? null });
    }
    t.objectStore('kv').put(cursor, 'cursor');
  });
}

/**
 * After a full pull that replaced the local store (410 must_resync): drop server-known rows
 * that did not come again (an inspection taken away), keeping anything still unsynced.
 */
async function sweepStale(generation) {
  return tx(['records', 'outbox'], 'readwrite', async (t) => {
    const queued = new Set((await req(t.objectStore('outbox').getAll())).map((e) => recordKey(e.entity, e.id)));
    const records = t.objectStore('records');
    let dropped = 0;
    for (const r of await req(records.getAll())) {
      if (r.generation !== generation && typeof r.rev === 'number' && !queued.has(r.key)) {
        records.delete(r.key);
        dropped += 1;
      }
    }
    return dropped;
  });
}

// Creations before what refers to them; deletes last.
const REOFFER_ORDER = ['inspection', 'response', 'defect', 'photo', 'measurement', 'comment', 'decision', 'progress'];

/**
 * After 410 history_diverged (the server was restored from a backup and lost changes it had
 * confirmed): offer again every record this phone changed (local_at), as it holds it. The
 * server creates what it lost and takes newer copies, and changes nothing else. Photos whose
 * bytes are still here upload again once their record is back; the server adopts the others'
 * bytes from storage. The answers need no handling: the full pull that follows shows the result.
 */
export async function reoffer() {
  const cid = await clientId();
  const held = await tx(['records', 'outbox'], 'readonly', async (t) => {
    const queued = new Set((await req(t.objectStore('outbox').getAll())).map((e) => recordKey(e.entity, e.id)));
    return (await req(t.objectStore('records').getAll()))
      .filter((r) => r.local_at && !queued.has(r.key) && REOFFER_ORDER.includes(r.entity));
  });
  const rank = (r) => (r.deleted ? REOFFER_ORDER.length : 0) + REOFFER_ORDER.indexOf(r.entity);
  held.sort((x, y) => rank(x) - rank(y));
  for (let i = 0; i < held.length; i += PUSH_BATCH_MAX) {
    const mutations = held.slice(i, i + PUSH_BATCH_MAX).map((r) => ({
      mutation_id: crypto.randomUUID(), entity: r.entity, id: r.id, op: r.deleted ? 'delete' : 'upsert',
      base_rev: typeof r.rev === 'number' ? r.rev : null, fields: r.deleted ? {} : stripMeta(r.fields ?? {}),
      reoffer: true }));
    await api('/api/v1/sync/push', { method: 'POST', body: { client_id: cid, protocol: PROTOCOL, mutations } });
  }
  return held.length;
}

/**
 * Pull every change after the stored cursor, page by page. On 410 (must_resync) pull again
 * from no cursor and replace the local store, keeping local rows the server has not seen.
 */
export async function pull() {
  let cursor = (await kvGet('cursor')) ?? null;
  let generation = null;
  for (;;) {
    const qs = new URLSearchParams({ limit: String(PULL_LIMIT) });
    if (cursor !== null && cursor !== undefined) qs.set('cursor', String(cursor));
    let page;
    try {
      page = await api(`/api/v1/sync/pull?${qs}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 410 && generation === null) {
        // runOnce pushed the outbox just before; now start again from scratch.
        if (err.problem?.reason === 'history_diverged') await reoffer();
        generation = Date.now();
        cursor = null;
        await kvSet('cursor', null);
        continue;
      }
      throw err;
    }
    await applyChanges(page.changes ?? [], page.cursor ?? cursor, generation);
    cursor = page.cursor ?? cursor;
    if (!page.has_more) break;
  }
  if (generation !== null) await sweepStale(generation);
}

// ---------------------------------------------------------------- photos

async function putWithFetch(url, blob, headers, onProgress) {
  let resp;
  try {
    resp = await fetch(url, { method: 'PUT', body: blob, headers: headers ?? {} });
  } catch (err) {
    throw new ApiError(0, { detail: 'upload interrupted' });
  }
  if (!resp.ok) throw new ApiError(resp.status, { detail: (await resp.text()).slice(0, 200) });
  onProgress(blob.size, blob.size);
  return resp.headers.get('ETag');
}

function putWithProgress(url, blob, headers, onProgress) {
  // A service worker has no XMLHttpRequest: there we upload with fetch (no progress events).
  if (typeof XMLHttpRequest === 'undefined') return putWithFetch(url, blob, headers, onProgress);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [k, v] of Object.entries(headers ?? {})) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.total || blob.size);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300
      ? resolve(xhr.getResponseHeader('ETag'))
      : reject(new ApiError(xhr.status, { detail: xhr.responseText.slice(0, 200) })));
    xhr.onerror = () => reject(new ApiError(0, { detail: 'upload interrupted' }));
    xhr.ontimeout = xhr.onerror;
    xhr.send(blob);
  });
}

async function uploadOne(photo) {
  // Asking again for a target resumes: multipart answers list only the parts still to upload.
  const target = await api(`/api/v1/blobs/${photo.id}/upload`, { method: 'POST' });
  const report = (loaded, total) => { state.upload = { id: photo.id, loaded, total }; emit(); };
  if (target?.already_stored || target?.stored) {
    // the server has these bytes already (an earlier attempt got through)
  } else if (target?.method === 'multipart' || Array.isArray(target?.parts)) {
    const partSize = target.part_size_bytes;
    let sent = (target.parts_done ?? []).length * partSize;
    for (const p of target.parts ?? []) {
      const start = (p.part_number - 1) * partSize;
      const chunk = photo.blob.slice(start, start + p.size_bytes);
      const base = sent;
      await putWithProgress(p.url, chunk, target.headers, (l) => report(Math.min(photo.size, base + l), photo.size));
      sent += p.size_bytes;
    }
  } else {
    if (!target?.url) throw new ApiError(500, { detail: 'no upload address from the server' });
    await putWithProgress(target.url, photo.blob, target.headers, report);
  }
  const done = await api(`/api/v1/blobs/${photo.id}/complete`, { method: 'POST' });
  if (!done || (done.sha256 && done.sha256 !== photo.sha256)) {
    throw new ApiError(422, { detail: 'the server stored different bytes' });
  }
  // The server has confirmed size and hash: the full-size bytes may leave the phone.
  await tx(['photos'], 'readwrite', async (t) => {
    const store = t.objectStore('photos');
    const p = await req(store.get(photo.id));
    if (p) store.put({ ...p, blob: null, original: null, state: 'done', confirmed_at: Date.now() });
  });
  state.upload = null;
  emit();
}

/** Upload photos whose metadata the server has, one at a time, oldest first. */
export async function uploadPhotos() {
  // Photos deleted on the phone keep their bytes only until the delete has left the outbox (undo).
  await tx(['photos', 'outbox'], 'readwrite', async (t) => {
    const queued = new Set((await req(t.objectStore('outbox').getAll())).map((e) => `${e.entity}:${e.id}`));
    for (const p of await req(t.objectStore('photos').getAll())) {
      if (p.state === 'deleted' && !queued.has(`photo:${p.id}`)) t.objectStore('photos').delete(p.id);
    }
  });
  const { photos, ready } = await tx(['photos', 'outbox', 'records'], 'readonly', async (t) => {
    const all = (await req(t.objectStore('photos').getAll())).filter((p) => p.state === 'pending' && p.blob);
    const queued = new Set((await req(t.objectStore('outbox').getAll())).map((e) => `${e.entity}:${e.id}`));
    const ok = [];
    for (const p of all) {
      const rec = await req(t.objectStore('records').get(recordKey('photo', p.id)));
      if (rec && typeof rec.rev === 'number' && !queued.has(`photo:${p.id}`)) ok.push(p);
    }
    return { photos: all, ready: ok };
  });
  ready.sort((a, b) => a.created_at - b.created_at);
  for (const photo of ready) {
    try {
      await uploadOne(photo);
    } catch (err) {
      state.upload = null;
      if (err instanceof ApiError && !err.retryable && err.status !== 401 && err.status !== 409) {
        // The server answered on purpose: asking again would get the same answer. Keep the photo,
        // show why next to it, and retry only when the inspector asks (retryPhoto).
        await tx(['photos'], 'readwrite', (t) => t.objectStore('photos').put({ ...photo, state: 'failed',
          last_error: err.message, failed_status: err.status, failed_at: Date.now() }));
        await refreshCounts();
        continue;
      }
      throw err;
    }
    await refreshCounts();
  }
  return photos.length;
}

/** The inspector fixed what the server refused (or wants to try again): offer the photo again. */
export async function retryPhoto(id) {
  await tx(['photos'], 'readwrite', async (t) => {
    const store = t.objectStore('photos');
    const p = await req(store.get(id));
    if (p?.state === 'failed') store.put({ ...p, state: 'pending', last_error: null, failed_status: null });
  });
  await refreshCounts();
  return syncNow({ force: true });
}

// ---------------------------------------------------------------- the loop
//
// One back-off for every trigger (start, online, visibility, timer, saves, Background Sync,
// the worker): after a failure the next automatic attempt waits 2 s, 4 s, 8 s … 5 min (half of it
// jittered), or longer when the server said Retry-After. The state lives in IndexedDB (kv
// `sync_backoff`) so the page and the service worker wait out the same delay; only the
// inspector's "Sync now" tries at once. Answers the server gave on purpose (4xx other than
// 401/408/409/429) are not retried at all: they are shown as problems to fix.

let running = null;
let retryTimer = null;

async function readBackoff() {
  try { return (await kvGet('sync_backoff')) ?? null; } catch { return null; }
}

/** Delay before attempt number `failures + 1`: exponential, half jittered, at least Retry-After. */
export function backoffDelay(failures, retryAfter = null, random = Math.random) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, failures - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return retryAfter ? Math.max(jittered, Math.min(retryAfter, RETRY_AFTER_MAX_MS)) : jittered;
}

function describe(err, since) {
  if (!(err instanceof ApiError)) return { key: 'sync.error.unknown', detail: String(err?.message ?? err) };
  if (err.status === 0) return { key: 'sync.error.unreachable', since };
  if (err.status === 401) return { key: 'sync.error.signin' };
  if (err.status === 409 && err.code === 'protocol_outdated') return { key: 'sync.error.update' };
  if (err.status === 503 || err.status === 502 || err.status === 504 || err.status === 429) return { key: 'sync.error.busy', since };
  if (err.status === 404) return { key: 'sync.error.unavailable' };
  return { key: 'sync.error.server', detail: err.message };
}

function armTimer(at) {
  clearTimeout(retryTimer);
  state.retryAt = at;
  retryTimer = setTimeout(() => { syncNow(); }, Math.max(0, at - Date.now()));
}

async function runOnce(previous) {
  const startedAt = Date.now();
  state.running = true; // the last error stays in sight until an attempt succeeds
  emit();
  try {
    await push();
    await pull();
    await uploadPhotos();
    await push(); // anything queued while we pulled
    state.lastSync = Date.now();
    await kvSet('last_sync', state.lastSync);
    await kvSet('sync_backoff', null);
    await checkStorage();
    state.error = null;
    state.needsSignIn = false;
    state.retryAt = null;
  } catch (err) {
    const since = previous?.since ?? startedAt;
    state.error = describe(err, since);
    if (err instanceof ApiError && err.status === 401) state.needsSignIn = true;
    else if (err instanceof ApiError && err.code === 'protocol_outdated') state.needsUpdate = true;
    else if (!(err instanceof ApiError) || err.retryable || err.status === 404) {
      const failures = (previous?.failures ?? 0) + 1;
      const nextAt = Date.now() + backoffDelay(failures, err.retryAfterMs ?? null);
      await kvSet('sync_backoff', { failures, nextAt, since, at: Date.now(), error: state.error }).catch(() => {});
      armTimer(nextAt);
    }
  } finally {
    state.running = false;
    await refreshCounts().catch(() => {});
    emit();
  }
}

/**
 * Run one sync (push, pull, photos) unless one is already running or the shared back-off says
 * to wait (then the retry timer is armed and the last error stays shown); resolves when done.
 * `force` (the "Sync now" button) tries at once. Never throws: failures land in state.error.
 */
export function syncNow({ force = false } = {}) {
  if (running) return running;
  if (state.needsSignIn || state.needsUpdate) return Promise.resolve(state);
  running = (async () => {
    const previous = await readBackoff();
    if (!force && previous && previous.nextAt > Date.now()) {
      if (!state.error && previous.error) { state.error = previous.error; emit(); }
      armTimer(previous.nextAt);
      await refreshCounts().catch(() => {});
      return state;
    }
    clearTimeout(retryTimer);
    const work = () => runOnce(previous);
    return navigator.locks ? navigator.locks.request('lineside-sync', work) : work();
  })().finally(() => { running = null; });
  return running;
}

/** The network came back ('online'): no need to wait out a long back-off, but never more than one
 * attempt per ONLINE_RETRY_GAP_MS however often the event fires (flapping Wi-Fi). */
export async function networkBack() {
  const b = await readBackoff();
  if (b && b.nextAt > Date.now() && b.error?.key === 'sync.error.unreachable') { // a Retry-After stands
    const soon = Math.max(Date.now(), (b.at ?? 0) + ONLINE_RETRY_GAP_MS);
    if (soon < b.nextAt) await kvSet('sync_backoff', { ...b, nextAt: soon }).catch(() => {});
  }
  return syncNow();
}

/** After signing in again: clear the sign-in flag and sync. */
export function resume() {
  state.needsSignIn = false;
  return syncNow({ force: true });
}
