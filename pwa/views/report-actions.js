// The inspection report from the app (brand reviewers and admins): open it, download the CSV
// exports, share it through a revocable link. All online: the buttons say so when offline.

import { api, ApiError, token } from '../lib/api.js';
import { html, render } from '../lib/html.js';
import { t } from '../i18n/index.js';

const SHARE_FOR_SECONDS = 7 * 24 * 3600;

async function fetchBlob(path) {
  const resp = await fetch(path, { headers: { Authorization: `Bearer ${await token()}` }, cache: 'no-store' });
  if (!resp.ok) throw new ApiError(resp.status, { detail: `HTTP ${resp.status}` });
  return resp.blob();
}

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

/** Report, CSV and share-link buttons for one inspection, in `el`. */
export function showReportActions(el, inspectionId) {
  const base = `/api/v1/inspections/${inspectionId}`;
  render(el, html`<h2 id="report-h">${t('report.title')}</h2>
    <div class="choices">
      <button type="button" data-report="open">${t('report.open')}</button>
      <button type="button" data-report="measurements">${t('report.csvMeasurements')}</button>
      <button type="button" data-report="defects">${t('report.csvDefects')}</button>
      <button type="button" data-report="share">${t('report.share')}</button>
    </div>
    <p class="saved" role="status" aria-live="polite" data-testid="report-status"></p>
    <div data-testid="share-link"></div>`);
  const status = el.querySelector('[data-testid="report-status"]');
  const shared = el.querySelector('[data-testid="share-link"]');
  const say = (text, level) => { status.textContent = text; status.dataset.level = level; };
  el.addEventListener('click', async (e) => {
    const b = e.target.closest('[data-report]');
    if (!b) return;
    const what = b.dataset.report;
    b.disabled = true;
    say('', 'ok');
    try {
      if (what === 'open') {
        // The report needs the sign-in: fetched with it, shown from a local copy.
        const blob = await fetchBlob(`${base}/report`);
        window.open(URL.createObjectURL(new Blob([blob], { type: 'text/html' })), '_blank', 'noopener');
      } else if (what === 'measurements' || what === 'defects') {
        save(await fetchBlob(`${base}/${what}.csv`), `inspection-${inspectionId}-${what}.csv`);
        say(t('report.downloaded'), 'ok');
      } else if (what === 'share') {
        const link = await api(`${base}/share-links`, { method: 'POST', body: { expires_in_seconds: SHARE_FOR_SECONDS } });
        render(shared, html`<p>${t('report.shared')}</p>
          <p><a href="${link.url}" target="_blank" rel="noopener noreferrer" data-testid="share-url">${link.url}</a></p>
          <div class="choices"><button type="button" data-report="copy" data-url="${link.url}">${t('report.copy')}</button>
            <button type="button" class="danger" data-report="revoke" data-id="${link.id}">${t('report.revoke')}</button></div>`);
      } else if (what === 'copy') {
        await navigator.clipboard?.writeText(b.dataset.url);
        say(t('report.copied'), 'ok');
      } else if (what === 'revoke') {
        await api(`${base}/share-links/${b.dataset.id}`, { method: 'DELETE' });
        render(shared, html``);
        say(t('report.revoked'), 'ok');
      }
    } catch (err) {
      say(err instanceof ApiError && err.status === 0 ? t('review.offline') : err.message, 'error');
    } finally {
      b.disabled = false;
    }
  });
}
