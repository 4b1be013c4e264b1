// <update-prompt>: "An update is available — Reload". The new service worker takes over
// (skipWaiting) only when the inspector agrees, so a form is never reloaded under them.

import { html, render } from '../../lib/html.js';
import { t } from '../../i18n/index.js';

class UpdatePrompt extends HTMLElement {
  set worker(w) {
    this.waiting = w;
    this.show();
  }

  connectedCallback() {
    this.addEventListener('click', (e) => {
      if (!e.target.closest('[data-action="reload"]') || !this.waiting) return;
      this.accepted = true;
      this.waiting.postMessage({ type: 'skip-waiting' });
    });
    this.show();
  }

  show() {
    if (!this.isConnected) return;
    if (!this.waiting) { render(this, html``); this.hidden = true; return; }
    this.hidden = false;
    render(this, html`<div class="update" role="alert"><span>${t('update.available')}</span>
      <button type="button" data-action="reload">${t('update.reload')}</button></div>`);
  }
}

customElements.define('update-prompt', UpdatePrompt);
