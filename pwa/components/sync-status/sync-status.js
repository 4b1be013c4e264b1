// <sync-status>: the sync state, always in sight — pending changes, pending photos with
// upload progress, the last successful sync, errors in plain words, and "Sync now".
// The text lives in an ARIA live region so screen readers hear what changed.

import { html, render } from '../../lib/html.js';
import { clock, t, when } from '../../i18n/index.js';
import { state } from '../../lib/sync-state.js';

const syncNow = (options) => import('../../lib/sync.js').then((m) => m.syncNow(options));

class SyncStatus extends HTMLElement {
  connectedCallback() {
    this.onChange = () => this.refresh();
    state.addEventListener('change', this.onChange);
    this.addEventListener('click', (e) => {
      const action = e.target.closest('[data-action]')?.dataset.action;
      if (action === 'sync') syncNow({ force: true });
      if (action === 'signin') location.hash = '#/signin';
    });
    this.refresh();
  }

  disconnectedCallback() {
    state.removeEventListener('change', this.onChange);
  }

  /** Build the parts once; later updates only change text and attributes (the button stays put). */
  build() {
    render(this, html`
      <div class="sync-row">
        <p class="sync-text" role="status" aria-live="polite" aria-atomic="true">
          <span data-testid="sync-pending"></span>
          <span class="sync-upload" hidden></span>
          <span class="sync-last" data-testid="sync-last"></span>
          <span class="sync-issues" hidden></span>
        </p>
        <button type="button" data-action="sync"></button>
      </div>
      <progress max="100" value="0" hidden></progress>
      <p class="sync-error" role="alert" data-testid="sync-error" hidden></p>
      <p class="sync-error" role="alert" data-testid="storage-low" hidden></p>`);
    this.parts = {
      pending: this.querySelector('[data-testid="sync-pending"]'),
      upload: this.querySelector('.sync-upload'),
      last: this.querySelector('.sync-last'),
      issues: this.querySelector('.sync-issues'),
      button: this.querySelector('button'),
      progress: this.querySelector('progress'),
      error: this.querySelector('[data-testid="sync-error"]'),
      storage: this.querySelector('[data-testid="storage-low"]'),
    };
  }

  refresh() {
    if (!this.parts) this.build();
    const s = state;
    const p = this.parts;
    const parts = [s.pending ? t('sync.pending', { n: s.pending }) : t('sync.pendingNone')];
    if (s.photosPending) parts.push(t('sync.photos', { n: s.photosPending }));
    const pct = s.upload && s.upload.total ? Math.round((100 * s.upload.loaded) / s.upload.total) : null;
    const offline = s.error?.key === 'sync.error.unreachable';
    this.dataset.level = s.error && !offline ? 'error' : (s.pending || s.photosPending || offline ? 'pending' : 'ok');
    p.pending.textContent = parts.join(' · ');
    p.upload.hidden = pct === null;
    p.upload.textContent = pct === null ? '' : t('sync.uploading', { pct });
    p.progress.hidden = pct === null;
    p.progress.value = pct ?? 0;
    p.progress.setAttribute('aria-label', p.upload.textContent);
    p.last.textContent = s.lastSync ? t('sync.last', { when: when(s.lastSync) }) : t('sync.never');
    const problems = s.issues + (s.photosFailed ?? 0);
    p.issues.hidden = !problems;
    p.issues.textContent = problems ? t('sync.issues', { n: problems }) : '';
    p.button.dataset.action = s.needsSignIn ? 'signin' : 'sync';
    p.button.textContent = s.needsSignIn ? t('sync.signin') : (s.running ? t('sync.running') : t('sync.now'));
    p.button.disabled = s.running && !s.needsSignIn;
    p.error.hidden = !s.error;
    p.error.textContent = s.error ? t(s.error.key, { detail: s.error.detail ?? '', since: s.error.since ? clock(s.error.since) : '' }) : '';
    p.storage.hidden = !s.storageLow;
    p.storage.textContent = s.storageLow ? t('settings.low') : '';
  }
}

customElements.define('sync-status', SyncStatus);
