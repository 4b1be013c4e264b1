// Sign in: email and password; the token and user land in IndexedDB.

import { api, ApiError } from '../lib/api.js';
import { clearUserData, kvGet } from '../lib/db.js';
import { refreshCounts } from '../lib/sync.js';
import { html, render } from '../lib/html.js';
import { t } from '../i18n/index.js';

/** Show the sign-in form. */
export async function show(root, ctx) {
  const again = ctx.syncState.needsSignIn || Boolean(ctx.session);
  const email = ctx.session?.user?.email ?? '';
  render(root, html`
    <section class="card narrow">
      <h1>${t('signin.title')}</h1>
      ${again ? html`<p class="notice">${t('signin.again')}</p>` : ''}
      <form id="signin" novalidate>
        <label for="email">${t('signin.email')}</label>
        <input id="email" name="email" type="email" autocomplete="username" inputmode="email" required value="${email}">
        <label for="password">${t('signin.password')}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required>
        <button type="submit" class="primary">${t('signin.submit')}</button>
        <p class="form-error" role="alert" aria-live="assertive"></p>
      </form>
    </section>`);
  const form = root.querySelector('#signin');
  const error = root.querySelector('.form-error');
  form.querySelector(email ? '#password' : '#email').focus();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    button.textContent = t('signin.working');
    error.textContent = '';
    try {
      const data = await api('/api/v1/auth/login', { method: 'POST', auth: false,
        body: { email: form.email.value.trim(), password: form.password.value, device: 'Lineside PWA' } });
      // Another person on this phone: the previous user's unsynced work must not be pushed
      // under the new name, and their synced data must not be shown to them.
      const previous = (await kvGet('session'))?.user?.id ?? (await kvGet('last_user_id'));
      if (previous && previous !== data.user.id) {
        const counts = await refreshCounts();
        if (counts.pending + counts.photosPending + counts.photosFailed) {
          error.textContent = t('signin.otherUser', { changes: t('count.changes', { n: counts.pending }),
            photos: t('count.photos', { n: counts.photosPending + counts.photosFailed }) });
          api('/api/v1/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${data.token}` }, auth: false }).catch(() => {});
          button.disabled = false;
          button.textContent = t('signin.submit');
          return;
        }
        await clearUserData();
      }
      await ctx.signedIn({ token: data.token, user: data.user });
    } catch (err) {
      if (err instanceof ApiError && err.status === 0) error.textContent = t('signin.offline');
      else if (err instanceof ApiError && err.status === 429) error.textContent = t('signin.rate');
      else if (err instanceof ApiError && (err.status === 401 || err.status === 422)) error.textContent = t('signin.failed');
      else error.textContent = err.message;
      button.disabled = false;
      button.textContent = t('signin.submit');
    }
  });
}
