// Wires the app: language, session, service worker, sync triggers and the router.
// Views and components are imported lazily, when first needed.

import { getAll, kvGet, kvSet } from './lib/db.js';
import { html, render } from './lib/html.js';
import { setLang, preferredLang, t } from './i18n/index.js';
import { checkStorage, refreshCounts, state as syncState } from './lib/sync-state.js';

/** Run a sync (the engine module loads on first use, after the first screen is up). */
const syncNow = (options) => import('./lib/sync.js').then((m) => m.syncNow(options));

export { APP_VERSION } from './lib/version.js';
const SYNC_INTERVAL_MS = 60 * 1000;

/** Shared context handed to every view. */
export const ctx = {
  session: null, // {token, user}
  navigate(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  async rerender() { await route(); },
  roles() {
    return new Set((ctx.session?.user?.memberships ?? []).map((m) => m.role));
  },
  isReviewer() { const r = ctx.roles(); return r.has('brand_reviewer') || (r.has('admin') && !r.has('inspector')); },
  isInspector() { const r = ctx.roles(); return r.has('inspector') || r.has('factory_manager'); },
  /** Brand users and factory managers/admins get the "Purchase orders" list (docs/timeline.md). */
  seesPurchaseOrders() {
    return (ctx.session?.user?.memberships ?? []).some((m) => m.organisation_kind === 'brand' || ['factory_manager', 'admin'].includes(m.role));
  },
  syncNow,
  syncState,
};

const ROUTES = [
  [/^#\/signin$/, () => import('./views/sign-in.js')],
  [/^#\/inspections$/, () => import('./views/inspection-list.js')],
  [/^#\/inspection\/([\w-]+)$/, () => import('./views/inspection-view.js')],
  [/^#\/review$/, () => import('./views/review-queue.js')],
  [/^#\/review\/([\w-]+)$/, () => import('./views/review-photo.js')],
  [/^#\/pos$/, () => import('./views/po-list.js')],
  [/^#\/timeline\/([\w-]+)$/, () => import('./views/po-timeline.js')],
  [/^#\/settings$/, () => import('./views/settings.js')],
];

let cleanup = null;
let routing = 0;

function homeHash() {
  if (!ctx.session) return '#/signin';
  return ctx.isInspector() || !ctx.isReviewer() ? '#/inspections' : '#/review';
}

function renderChrome() {
  document.title = t('app.name');
  document.querySelector('.skip').textContent = t('app.skip');
  document.getElementById('nav').setAttribute('aria-label', t('nav.label'));
}

function renderNav() {
  // Before anyone signs in there is nothing to sync: no sync bar (unless work is waiting).
  document.getElementById('sync').hidden = !ctx.session && !syncState.pending && !syncState.photosPending;
  const nav = document.getElementById('nav');
  if (!ctx.session) { render(nav, html``); return; }
  const links = [];
  if (ctx.isInspector()) links.push(['#/inspections', t('nav.inspections')]);
  if (ctx.isReviewer()) links.push(['#/review', t('nav.review')]);
  if (ctx.seesPurchaseOrders()) links.push(['#/pos', t('nav.pos')]);
  links.push(['#/settings', t('nav.settings')]);
  const here = location.hash;
  render(nav, html`${links.map(([href, label]) => html`<a href="${href}" ${here.startsWith(href) ? html`aria-current="page"` : ''}>${label}</a>`)}`);
  document.getElementById('brand').textContent = t('app.name');
}

/** Show the view for the current hash. */
export async function route() {
  const my = ++routing;
  let hash = location.hash || '#/';
  if (hash === '#/' || (!ctx.session && hash !== '#/signin')) hash = homeHash();
  if (hash !== location.hash) history.replaceState(null, '', hash);
  const main = document.getElementById('view');
  for (const [re, load] of ROUTES) {
    const m = hash.match(re);
    if (!m) continue;
    const view = await load();
    if (my !== routing) return;
    if (typeof cleanup === 'function') cleanup();
    cleanup = null;
    renderChrome();
    renderNav();
    main.dataset.route = String(my); // views that await the network check it before painting
    cleanup = await view.show(main, ctx, ...m.slice(1));
    if (my === routing && document.activeElement === document.body) main.focus({ preventScroll: true });
    return;
  }
  ctx.navigate(homeHash());
}

async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await import('./components/update-prompt/update-prompt.js'); // not needed for the first screen
    const reg = await navigator.serviceWorker.register('/sw.js', { scope: '/', type: 'module' });
    const prompt = document.querySelector('update-prompt');
    const offer = (worker) => { if (prompt) prompt.worker = worker; };
    if (reg.waiting && navigator.serviceWorker.controller) offer(reg.waiting);
    reg.addEventListener('updatefound', () => {
      const worker = reg.installing;
      worker?.addEventListener('statechange', () => {
        if (worker.state === 'installed' && navigator.serviceWorker.controller) offer(worker);
      });
    });
    let reloaded = false;
    navigator.serviceWorker.addEventListener('controllerchange', () => {
      if (prompt?.accepted && !reloaded) { reloaded = true; location.reload(); }
    });
    navigator.serviceWorker.addEventListener('message', (e) => {
      if (e.data?.type === 'sync') syncNow();
    });
    // Background Sync where the browser has it: the worker asks open pages to sync (or syncs
    // itself when none is open). The tag is registered when new work is queued and when the page
    // is hidden with work pending; never on every state change, which made an unreachable server
    // fire the sync event again and again.
    if ('sync' in reg) {
      const register = () => reg.sync.register('lineside-sync').catch(() => {});
      let queued = syncState.pending + syncState.photosPending;
      syncState.addEventListener('change', () => {
        const now = syncState.pending + syncState.photosPending;
        if (now > queued) register();
        queued = now;
      });
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'hidden' && syncState.pending + syncState.photosPending) register();
      });
    }
  } catch (err) {
    console.warn('service worker not registered', err);
  }
}

async function askPersistence() {
  try {
    if (navigator.storage?.persist && !(await navigator.storage.persisted())) await navigator.storage.persist();
  } catch { /* not offered by this browser */ }
}

function startSyncTriggers() {
  window.addEventListener('online', () => { import('./lib/sync.js').then((m) => m.networkBack()); });
  setInterval(() => { if (document.visibilityState === 'visible' && ctx.session) syncNow(); }, SYNC_INTERVAL_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && ctx.session) syncNow();
  });
  syncState.addEventListener('change', () => {
    if (syncState.needsSignIn && location.hash !== '#/signin') ctx.navigate('#/signin');
  });
}

let saveTimer = null;
/** Views call this after a local save: sync soon, once the inspector pauses. */
export function syncSoon() {
  clearTimeout(saveTimer);
  saveTimer = setTimeout(() => { if (ctx.session) syncNow(); }, 2500);
}
ctx.syncSoon = syncSoon;

/** Sign in succeeded (or a session was found): remember it and go home. */
ctx.signedIn = async (session) => {
  ctx.session = session;
  await kvSet('session', session);
  await kvSet('last_user_id', session.user?.id ?? null);
  const { setTokenCache } = await import('./lib/api.js');
  setTokenCache(session.token);
  const { resume } = await import('./lib/sync.js');
  resume();
  ctx.navigate(homeHash());
};

ctx.signedOut = async () => {
  ctx.session = null;
  const { setTokenCache } = await import('./lib/api.js');
  setTokenCache(null);
  ctx.navigate('#/signin');
};

async function main() {
  const [lang, session] = await Promise.all([kvGet('lang'), kvGet('session'),
    import('./components/sync-status/sync-status.js')]);
  await setLang(lang ?? preferredLang());
  document.getElementById('sync').refresh?.(); // it was drawn as its module arrived, maybe in English
  ctx.session = session ?? null;
  window.addEventListener('hashchange', () => route());
  document.addEventListener('lang-change', async (e) => {
    await setLang(e.detail);
    await kvSet('lang', e.detail);
    document.getElementById('sync').refresh?.();
    route();
  });
  await Promise.all([route(), refreshCounts()]);
  performance.mark?.('lineside-ready'); // the list is on screen and works (bench/pwa.py reads this)
  registerServiceWorker();
  askPersistence();
  checkStorage();
  startSyncTriggers();
  if (ctx.session) syncNow();
  window.lineside = { ctx, syncNow, syncState, getAll, ready: true };
  document.documentElement.dataset.ready = 'true';
}

main().catch((err) => {
  console.error(err);
  const view = document.getElementById('view');
  view.textContent = `Lineside could not start: ${err.message}`;
});
