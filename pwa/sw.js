// Lineside service worker (a module worker): precache the app shell in a versioned cache,
// serve it offline, and sync on Background Sync (through an open page, or by itself).
// Bump VERSION with every release (the list below is checked by tests/pwa/test_static.py).

import { state as syncState, syncNow } from './app/lib/sync.js';

const VERSION = '2026.12.04-1';
const SHELL_CACHE = `lineside-shell-${VERSION}`;
const EXPECTED_CACHES = [SHELL_CACHE];
const SYNC_TAG = 'lineside-sync';

const APP_SHELL = [
  '/',
  '/manifest.webmanifest',
  '/data/aql_iso2859.json',
  '/data/defect_library.json',
  '/app/app.js',
  '/app/styles/app.css',
  '/app/icons/icon.svg',
  '/app/icons/icon-192.png',
  '/app/icons/icon-512.png',
  '/app/i18n/index.js',
  '/app/i18n/en.js',
  '/app/i18n/zh-CN.js',
  '/app/lib/api.js',
  '/app/lib/aql.js',
  '/app/lib/db.js',
  '/app/lib/html.js',
  '/app/lib/measure.js',
  '/app/lib/platform.js',
  '/app/lib/store.js',
  '/app/lib/sync.js',
  '/app/lib/sync-state.js',
  '/app/lib/tables.js',
  '/app/lib/verdict.js',
  '/app/lib/version.js',
  '/app/components/photo-capture/photo-capture.js',
  '/app/components/photo-capture/quality.js',
  '/app/components/photo-capture/resize.js',
  '/app/components/photo-capture/resize-worker.js',
  '/app/components/sync-status/sync-status.js',
  '/app/components/update-prompt/update-prompt.js',
  '/app/views/inspection-list.js',
  '/app/views/inspection-view.js',
  '/app/views/settings.js',
  '/app/views/sign-off.js',
  '/app/views/analysis.js',
  '/app/views/label-check.js',
  '/app/views/sign-in.js',
];

// Screens for brand reviewers and managers, who work online: not downloaded by every phone at
// install (an inspector's cheap phone on bad Wi-Fi never needs them), but kept in the same
// versioned cache the first time they are opened (cacheFirst), so they work offline after that.
const ON_DEMAND = [
  '/app/views/po-list.js',
  '/app/views/po-timeline.js',
  '/app/views/review-photo.js',
  '/app/views/review-queue.js',
  '/app/views/report-actions.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(APP_SHELL.map((u) => new Request(u, { cache: 'reload' })))));
  // No skipWaiting here: the page asks the user first (update-prompt).
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('lineside-') && !EXPECTED_CACHES.includes(name)) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data?.type === 'skip-waiting') self.skipWaiting();
});

/** App shell files: the cached copy, else the network (and keep it). */
async function cacheFirst(request) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match(request, { ignoreSearch: true });
  if (hit) return hit;
  const resp = await fetch(request);
  if (resp.ok) cache.put(request, resp.clone());
  return resp;
}

/** Page navigations: always the cached shell (routing happens in the page, by hash). */
async function appShellForNavigation(request) {
  const cache = await caches.open(SHELL_CACHE);
  const hit = await cache.match('/');
  if (hit) return hit;
  return fetch(request);
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/')) return;
  if (request.mode === 'navigate' && url.pathname === '/') {
    event.respondWith(appShellForNavigation(request));
    return;
  }
  if (url.pathname.startsWith('/app/') || url.pathname.startsWith('/data/') || url.pathname === '/manifest.webmanifest') {
    event.respondWith(cacheFirst(request));
  }
});

/**
 * Background Sync: an open page syncs (it shows progress); with no page open the worker runs
 * the same engine itself. The Web Lock in lib/sync.js keeps the two from overlapping.
 * Rejecting makes the browser try the tag again later.
 */
async function syncFromWorker() {
  const clients = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  if (clients.length) {
    for (const client of clients) client.postMessage({ type: 'sync' });
    return;
  }
  await syncNow();
  if (syncState.error || syncState.pending || syncState.photosPending) throw new Error('sync incomplete');
}

self.addEventListener('sync', (event) => {
  if (event.tag === SYNC_TAG) event.waitUntil(syncFromWorker());
});
