// <sync-status>: the sync state, always in sight — pending changes, pending photos with
// upload progress, the last successful sync, errors in plain words, and "Sync now".
// The text lives in an ARIA live region so screen readers hear what changed.

import { html, render } from '../../lib/html.js';
import { t, when } from '../../i18n/index.js';
import { state, syncNow } from '../../lib/sync.js';

class SyncStatus extends HTMLElement {
  connectedCallback() {
    this.onChange = () => this.refresh();
    state.addEventListener('change', this.onChange);
    this.addEventListener('click', (e) => {
      const action = e.target.closest('[data-action]')?.dataset.action;
      if (action === 'sync') syncNow();
      if (action === 'signin') location.hash = '#/signin';
    });
    this.refresh();
  }

  disconnectedCallback() {
    state.removeEventListener('change', this.onChange);
  }

  refresh() {
    const s = state;
    const parts = [];
    parts.push(s.pending ? t('sync.pending', { n: s.pending }) : t('sync.pendingNone'));
    if (s.photosPending) parts.push(t('sync.photos', { n: s.photosPending }));
    const pct = s.upload && s.upload.total ? Math.round((100 * s.upload.loaded) / s.upload.total) : null;
    const level = s.error ? 'error' : (s.pending || s.photosPending ? 'pending' : 'ok');
    this.dataset.level = level;
    render(this, html`
      <div class="sync-row">
        <p class="sync-text" role="status" aria-live="polite" aria-atomic="true">
          <span data-testid="sync-pending">${parts.join(' · ')}</span>
          ${pct !== null ? html`<span class="sync-upload">${t('sync.uploading', { pct })}</span>` : ''}
          <span class="sync-last" data-testid="sync-last">${s.lastSync ? t('sync.last', { when: when(s.lastSync) }) : t('sync.never')}</span>
          ${s.issues ? html`<span class="sync-issues">${t('sync.issues', { n: s.issues })}</span>` : ''}
        </p>
        ${s.needsSignIn
          ? html`<button type="button" data-action="signin">${t('sync.signin')}</button>`
          : html`<button type="button" data-action="sync" ${s.running ? 'disabled' : ''}>${s.running ? t('sync.running') : t('sync.now')}</button>`}
      </div>
      ${pct !== null ? html`<progress max="100" value="${pct}" aria-label="${t('sync.uploading', { pct })}"></progress>` : ''}
      ${s.error ? html`<p class="sync-error" role="alert" data-testid="sync-error">${t(s.error.key, { detail: s.error.detail ?? '' })}</p>` : ''}`);
  }
}

customElements.define('sync-status', SyncStatus);
