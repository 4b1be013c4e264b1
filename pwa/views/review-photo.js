// Reviewer: one flagged photo side by side with the golden sample and the analysis overlay,
// its measurements against tolerance, earlier decisions, and a decision with a comment.
// Online, the decision goes to POST /api/v1/review/photos/{id}/decisions (which also sets the
// photo's review state and writes the comment). Without a connection it is queued as a
// "decision" mutation and pushed by sync, so a reviewer on a train loses nothing.

import { api, ApiError } from '../lib/api.js';
import { getRecord } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { newId, saveRecord } from '../lib/store.js';
import { t, when } from '../i18n/index.js';
import { optional, reasonText } from './review-queue.js';
import { analysisHtml } from './analysis.js';

const fmt = (x) => (typeof x === 'number' ? String(Math.round(x * 100) / 100) : '—');

/** Show one photo for review. */
export async function show(root, ctx, photoId) {
  const route = root.dataset.route;
  const detail = await optional(`/api/v1/review/photos/${photoId}`);
  const local = await getRecord('photo', photoId);
  if (root.dataset.route !== route) return; // the user has moved on
  const inspectionId = detail?.inspection_id ?? local?.fields?.inspection_id ?? null;
  const goldenUrl = detail?.golden_sample?.reference_urls?.[0] ?? null;
  const img = (src, label, testid) => html`<figure>${src
    ? html`<img src="${src}" alt="${label}" data-testid="${testid}">`
    : html`<div class="placeholder">${t('review.noImage')}</div>`}<figcaption>${label}</figcaption></figure>`;
  render(root, html`
    <a class="back" href="#/review">← ${t('nav.back')}</a>
    <h1>${t('review.compare')}</h1>
    ${detail === null ? html`<p class="notice" data-testid="review-unavailable">${t('review.unavailable')}</p>` : html`
      <p class="muted">${detail.purchase_order?.po_number ?? ''} · ${detail.product?.name ?? ''} · ${(detail.flag_reasons ?? []).map(reasonText).join(', ')}</p>`}
    <div class="compare">${img(goldenUrl, t('review.golden'), 'golden')}${img(detail?.photo_url, t('review.photo'), 'photo')}${img(detail?.overlay_url, t('review.overlay'), 'overlay')}</div>
    ${analysisHtml(detail?.analysis, 'review-analysis')}
    ${detail?.measurements?.length ? html`<table class="plan"><thead><tr><th scope="col">${t('review.measure')}</th>
        <th scope="col">${t('review.value')}</th><th scope="col">${t('review.nominal')}</th><th scope="col">${t('review.result')}</th></tr></thead>
      <tbody>${detail.measurements.map((m) => html`<tr class="${m.within === false ? 'cls-rejected' : ''}"><th scope="row">${m.name}</th>
        <td>${fmt(m.value)} ${m.unit ?? ''}</td><td>${fmt(m.nominal)} ± ${fmt(m.tolerance)}</td>
        <td>${m.within === null || m.within === undefined ? '—' : (m.within ? t('insp.inTol') : t('insp.outTol'))}</td></tr>`)}</tbody></table>` : ''}
    ${detail?.decisions?.length ? html`<ul class="plain">${detail.decisions.map((d) => html`<li>
      <span class="badge decision-${d.decision}">${t(`insp.decision.${d.decision}`)}</span> ${d.comment ?? ''}
      <span class="muted">${d.created_at ? when(Date.parse(d.created_at)) : ''}</span></li>`)}</ul>` : ''}
    ${inspectionId ? html`<section id="report" class="card" aria-labelledby="report-h"></section>` : ''}
    <form id="decide" class="card" novalidate>
      <label for="comment">${t('review.comment')}</label>
      <textarea id="comment" name="comment" rows="3" maxlength="5000"></textarea>
      <div class="choices">
        <button type="submit" value="accept" class="primary">${t('review.accept')}</button>
        <button type="submit" value="reject">${t('review.reject')}</button>
        <button type="submit" value="retake">${t('review.retake')}</button>
      </div>
      <p class="saved" role="status" aria-live="polite" data-testid="decision-status"></p>
    </form>`);
  if (inspectionId) (await import('./report-actions.js')).showReportActions(root.querySelector('#report'), inspectionId);
  const form = root.querySelector('#decide');
  const status = form.querySelector('.saved');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const decision = e.submitter?.value ?? 'accept';
    const comment = form.comment.value.trim();
    if (decision !== 'accept' && !comment) {
      status.textContent = t('review.commentRequired');
      status.dataset.level = 'error';
      form.comment.focus();
      return;
    }
    try {
      await api(`/api/v1/review/photos/${photoId}/decisions`, { method: 'POST', body: { decision, comment } });
      status.textContent = t('review.decided');
      status.dataset.level = 'ok';
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 0 || !inspectionId) {
        status.textContent = err.message;
        status.dataset.level = 'error';
        return;
      }
      await saveRecord('decision', newId(), { inspection_id: inspectionId, photo_id: photoId, decision, comment });
      status.textContent = t('review.queued');
      status.dataset.level = 'ok';
      ctx.syncSoon();
    }
  });
}
