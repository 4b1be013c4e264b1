// The sync state the app shows from its first frame (pending changes, photos, errors, storage),
// apart from the engine (sync.js), which is loaded only when a sync starts: the list appears
// without parsing push, pull and uploads first.

import { kvGet, req, tx } from './db.js';

/** Sync state, observable through 'change' events. */
export const state = Object.assign(new EventTarget(), {
  running: false,
  pending: 0, // outbox entries
  photosPending: 0,
  photosFailed: 0, // photos the server refused (4xx): not retried until the inspector says so
  upload: null, // {id, loaded, total}
  lastSync: null, // ms since epoch of the last complete sync
  error: null, // {key, detail} in plain words via i18n
  needsSignIn: false,
  needsUpdate: false,
  issues: 0,
  retryAt: null,
  storageLow: false,
});

export const LOW_STORAGE_SHARE = 0.8; // warn when 80 % of the quota is used
export const LOW_STORAGE_BYTES = 200 * 1024 * 1024; // or when less than 200 MB remain

/** Check storage use and warn (state.storageLow) before the phone runs out. */
export async function checkStorage() {
  try {
    const { usage, quota } = (await navigator.storage?.estimate?.()) ?? {};
    state.storageLow = Boolean(quota) && (usage / quota > LOW_STORAGE_SHARE || quota - usage < LOW_STORAGE_BYTES);
  } catch { state.storageLow = false; }
  emit();
  return state.storageLow;
}

export function emit() {
  state.dispatchEvent(new Event('change'));
}

/** Refresh the counters shown in the sync bar from IndexedDB. */
export async function refreshCounts() {
  const [pending, photos, issues] = await tx(['outbox', 'photos', 'issues'], 'readonly', async (t) => [
    await req(t.objectStore('outbox').count()),
    await req(t.objectStore('photos').getAll()),
    await req(t.objectStore('issues').count()),
  ]);
  Object.assign(state, { pending, issues, photosPending: photos.filter((p) => p.state === 'pending').length,
    photosFailed: photos.filter((p) => p.state === 'failed').length });
  state.lastSync = (await kvGet('last_sync')) ?? null;
  emit();
  return state;
}

