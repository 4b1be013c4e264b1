// Settings: language, storage use and persistence, install hint for iPhones, sign out and
// clear data — both refused while changes or photos are unsynced (saying how many).

import { api } from '../lib/api.js';
import { clearUserData, kvSet } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { LOW_STORAGE_BYTES, LOW_STORAGE_SHARE, refreshCounts } from '../lib/sync.js';
import { bytes, lang, LANGUAGES, t } from '../i18n/index.js';
import { APP_VERSION } from '../lib/version.js';
import { isIos, isStandalone } from '../lib/platform.js';


async function storageInfo() {
  const out = { estimate: null, persisted: null };
  try { out.estimate = await navigator.storage?.estimate?.(); } catch { /* unsupported */ }
  try { out.persisted = await navigator.storage?.persisted?.(); } catch { /* unsupported */ }
  return out;
}

/** Show settings. */
export async function show(root, ctx) {
  const { estimate, persisted } = await storageInfo();
  await refreshCounts();
  const used = estimate?.usage ?? null;
  const quota = estimate?.quota ?? null;
  const low = used !== null && quota ? (used / quota > LOW_STORAGE_SHARE || quota - used < LOW_STORAGE_BYTES) : false;
  const user = ctx.session?.user ?? {};
  render(root, html`
    <h1>${t('settings.title')}</h1>
    <section class="card">
      <p>${t('settings.signedInAs', { name: user.name ?? '', email: user.email ?? '' })}</p>
      <label for="lang">${t('lang.label')}</label>
      <select id="lang">${Object.entries(LANGUAGES).map(([code, name]) => html`<option value="${code}" ${code === lang() ? 'selected' : ''}>${name}</option>`)}</select>
    </section>
    <section class="card" aria-labelledby="st-h">
      <h2 id="st-h">${t('settings.storage')}</h2>
      ${used !== null && quota ? html`<p data-testid="storage-use">${t('settings.used', { used: bytes(used), quota: bytes(quota) })}</p>
        <progress max="${quota}" value="${used}" aria-label="${t('settings.storage')}"></progress>` : html`<p>${t('settings.unknown')}</p>`}
      ${low ? html`<p class="notice" role="alert">${t('settings.low')}</p>` : ''}
      <p>${persisted ? t('settings.persisted') : t('settings.notPersisted')}</p>
      ${isIos() && !isStandalone() ? html`<p class="notice" data-testid="ios-hint">${t('settings.ios')}</p>` : ''}
    </section>
    <section class="card">
      <button type="button" data-action="signout">${t('settings.signout')}</button>
      <button type="button" data-action="clear" class="danger">${t('settings.clear')}</button>
      <p class="form-error" role="alert" aria-live="assertive" data-testid="settings-message"></p>
      <p class="muted">${t('settings.version', { version: APP_VERSION })}</p>
    </section>`);
  root.querySelector('#lang').addEventListener('change', (e) => {
    document.dispatchEvent(new CustomEvent('lang-change', { detail: e.target.value }));
  });
  const message = root.querySelector('[data-testid="settings-message"]');
  root.querySelectorAll('[data-action]').forEach((b) => b.addEventListener('click', async () => {
    const counts = await refreshCounts();
    const unsynced = counts.pending + counts.photosPending + counts.photosFailed;
    const action = b.dataset.action;
    if (unsynced) {
      message.textContent = t(action === 'signout' ? 'settings.signoutBlocked' : 'settings.clearBlocked',
        { changes: t('count.changes', { n: counts.pending }), photos: t('count.photos', { n: counts.photosPending + counts.photosFailed }) });
      return;
    }
    if (action === 'signout') {
      try { await api('/api/v1/auth/logout', { method: 'POST' }); } catch { /* the token dies with the data anyway */ }
    }
    await clearUserData();
    await kvSet('session', null);
    message.textContent = t('settings.cleared');
    await ctx.signedOut();
  }));
  return () => {};
}
